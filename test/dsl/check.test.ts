import { describe, expect, it } from "vitest";
import { checkPolicySources } from "../../src/dsl/index.js";
import { canonicalKey, isUnsatisfiable } from "../../src/dsl/analysis.js";
import { checkOk, checkText, conditionOf, ISSUE_EXAMPLE, ISSUE_TESTS, rule, where, withoutSpans } from "./helpers.js";

describe("checkPolicySources: the issue 2 example", () => {
  it("checks into the contract of checked.ts", () => {
    const { set, warnings } = checkOk(ISSUE_EXAMPLE);
    expect(warnings).toEqual([]);
    expect(set.sources.get("t.ward")).toBe(ISSUE_EXAMPLE);
    const [policy] = set.policies;
    expect(policy?.name).toBe("payments-api");
    expect(policy?.mode).toBe("audit");
    expect(policy?.file).toBe("t.ward");
    expect(withoutSpans(policy?.appliesWhen)).toEqual({
      kind: "compare",
      attribute: { name: "destination.spiffe_id", type: "spiffe_id" },
      op: "==",
      value: { kind: "string", value: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
    });
    expect(withoutSpans(policy?.rules)).toEqual([
      {
        name: "checkout may charge",
        effect: "allow",
        condition: {
          kind: "and",
          operands: [
            { kind: "compare", attribute: { name: "caller.spiffe_id", type: "spiffe_id" }, op: "==", value: { kind: "string", value: "spiffe://prod.example.com/ns/checkout/sa/checkout" } },
            { kind: "compare", attribute: { name: "request.method", type: "string" }, op: "==", value: { kind: "string", value: "POST" } },
            { kind: "compare", attribute: { name: "request.path", type: "path" }, op: "==", value: { kind: "string", value: "/api/v1/charge" } },
          ],
        },
      },
      {
        name: "readers may read",
        effect: "allow",
        condition: {
          kind: "and",
          operands: [
            {
              kind: "compare",
              attribute: { name: "caller.spiffe_id", type: "spiffe_id" },
              op: "matches",
              value: { kind: "glob", patterns: ["spiffe://prod.example.com/ns/*/sa/reporting", "spiffe://prod.example.com/ns/ops/sa/*"] },
            },
            { kind: "compare", attribute: { name: "request.method", type: "string" }, op: "in", value: { kind: "string_set", values: ["GET", "HEAD"] } },
            { kind: "compare", attribute: { name: "request.path", type: "path" }, op: "matches", value: { kind: "glob", patterns: ["/api/v1/**"] } },
          ],
        },
      },
      {
        name: "no cross-environment calls",
        effect: "deny",
        condition: { kind: "compare", attribute: { name: "caller.trust_domain", type: "string" }, op: "!=", value: { kind: "string", value: "prod.example.com" } },
      },
      {
        name: "cards need a pci workload",
        effect: "deny",
        condition: {
          kind: "and",
          operands: [
            { kind: "compare", attribute: { name: "request.path", type: "path" }, op: "starts_with", value: { kind: "string", value: "/api/v1/cards/" } },
            {
              kind: "not",
              operand: { kind: "compare", attribute: { name: "cert.extension", key: "1.3.6.1.4.1.99999.1", type: "string" }, op: "==", value: { kind: "string", value: "pci" } },
            },
          ],
        },
      },
    ]);
  });

  it("gives checked nodes the spans of their source text", () => {
    const { set } = checkOk(ISSUE_EXAMPLE);
    const rule0 = set.policies[0]!.rules[0]!;
    expect(ISSUE_EXAMPLE.slice(rule0.span.start.offset, rule0.span.end.offset)).toMatch(/^allow "checkout may charge" when[\s\S]*"\/api\/v1\/charge"$/);
    const and = rule0.condition;
    if (and.kind !== "and") throw new Error("and");
    const first = and.operands[0]!;
    expect(ISSUE_EXAMPLE.slice(first.span.start.offset, first.span.end.offset)).toBe("caller.spiffe_id == checkout");
    const pci = set.policies[0]!.rules[3]!.condition;
    if (pci.kind !== "and") throw new Error("and");
    expect(ISSUE_EXAMPLE.slice(pci.operands[1]!.span.start.offset, pci.operands[1]!.span.end.offset)).toBe('not (cert.extension["1.3.6.1.4.1.99999.1"] == "pci")');
  });

  it("checks the issue 6 tests against the example's rules", () => {
    const { set } = checkOk(`${ISSUE_EXAMPLE}\n${ISSUE_TESTS}`);
    expect(withoutSpans(set.tests)).toEqual([
      {
        name: "checkout can charge",
        file: "t.ward",
        headers: [],
        context: [],
        caller: "spiffe://prod.example.com/ns/checkout/sa/checkout",
        request: { method: "POST", path: "/api/v1/charge" },
        expect: { effect: "allow", by: ["checkout may charge"] },
      },
      {
        name: "staging cannot reach prod payments",
        file: "t.ward",
        cert: "testdata/staging-checkout.pem",
        request: { method: "POST", path: "/api/v1/charge?amount=10" },
        headers: [{ name: "x-request-id", value: "abc" }],
        source: "10.1.2.3",
        destination: "spiffe://prod.example.com/ns/payments/sa/payment-api",
        context: [{ key: "route", value: "payments" }],
        at: "2026-11-22T10:00:00Z",
        expect: { effect: "deny", by: ["no cross-environment calls"] },
      },
    ]);
  });
});

describe("checked conditions: every attribute type and operator", () => {
  it.each([
    ['caller.spiffe_id == "spiffe://td/ns/a/sa/b"', "caller.spiffe_id", "==", { kind: "string", value: "spiffe://td/ns/a/sa/b" }],
    ['caller.spiffe_id != "spiffe://td"', "caller.spiffe_id", "!=", { kind: "string", value: "spiffe://td" }],
    ['caller.spiffe_id in ["spiffe://td/a", "spiffe://td/b", "spiffe://td/a"]', "caller.spiffe_id", "in", { kind: "string_set", values: ["spiffe://td/a", "spiffe://td/b"] }],
    ['caller.spiffe_id matches "spiffe://td/ns/*/sa/x"', "caller.spiffe_id", "matches", { kind: "glob", patterns: ["spiffe://td/ns/*/sa/x"] }],
    ['caller.spiffe_id matches ["spiffe://*.example.com/**", "spiffe://td/ns-*/x"]', "caller.spiffe_id", "matches", { kind: "glob", patterns: ["spiffe://*.example.com/**", "spiffe://td/ns-*/x"] }],
    ['caller.spiffe_id matches_regex "^spiffe://td/.*$"', "caller.spiffe_id", "matches_regex", { kind: "regex", pattern: "^spiffe://td/.*$" }],
    ['caller.trust_domain == "prod.example.com"', "caller.trust_domain", "==", { kind: "string", value: "prod.example.com" }],
    ['caller.path matches "/ns/*/sa/api"', "caller.path", "matches", { kind: "glob", patterns: ["/ns/*/sa/api"] }],
    ['caller.path == "/ns/a/sa/b"', "caller.path", "==", { kind: "string", value: "/ns/a/sa/b" }],
    ["caller.authenticated == false", "caller.authenticated", "==", { kind: "bool", value: false }],
    ['cert.subject.common_name == "api"', "cert.subject.common_name", "==", { kind: "string", value: "api" }],
    ['cert.subject.organizational_unit contains "pci"', "cert.subject.organizational_unit", "contains", { kind: "string", value: "pci" }],
    ['cert.subject.organization in ["Acme", "Beta"]', "cert.subject.organization", "in", { kind: "string_set", values: ["Acme", "Beta"] }],
    ['cert.san.dns matches "*.example.com"', "cert.san.dns", "matches", { kind: "glob", patterns: ["*.example.com"] }],
    ['cert.san.email matches_regex "@example\\\\.com$"', "cert.san.email", "matches_regex", { kind: "regex", pattern: "@example\\.com$" }],
    ['cert.serial == "0a1b"', "cert.serial", "==", { kind: "string", value: "0a1b" }],
    ['cert.not_after < "2026-01-01T00:00:00Z"', "cert.not_after", "<", { kind: "timestamp", ms: Date.UTC(2026, 0, 1) }],
    ['cert.not_before >= "2025-06-01T12:00:00+02:00"', "cert.not_before", ">=", { kind: "timestamp", ms: Date.UTC(2025, 5, 1, 10) }],
    ["cert.expires_in < 7d", "cert.expires_in", "<", { kind: "duration", ms: 7 * 86_400_000 }],
    ["cert.expires_in >= 1h30m", "cert.expires_in", ">=", { kind: "duration", ms: 5_400_000 }],
    ["cert.expires_in > 250ms", "cert.expires_in", ">", { kind: "duration", ms: 250 }],
    ['request.method in ["GET", "HEAD"]', "request.method", "in", { kind: "string_set", values: ["GET", "HEAD"] }],
    ['request.path starts_with "/api/"', "request.path", "starts_with", { kind: "string", value: "/api/" }],
    ['request.path ends_with ".json"', "request.path", "ends_with", { kind: "string", value: ".json" }],
    ['request.path contains "/admin/"', "request.path", "contains", { kind: "string", value: "/admin/" }],
    ['request.path in ["/a", "/b"]', "request.path", "in", { kind: "string_set", values: ["/a", "/b"] }],
    ['request.host matches "*.example.com"', "request.host", "matches", { kind: "glob", patterns: ["*.example.com"] }],
    ['request.scheme == "https"', "request.scheme", "==", { kind: "string", value: "https" }],
    ['source.ip in ["10.0.0.0/8", "2001:DB8::/32", "192.168.1.7"]', "source.ip", "in", { kind: "cidr_set", cidrs: ["10.0.0.0/8", "2001:db8::/32", "192.168.1.7/32"] }],
    ['destination.ip == "2001:DB8:0::1"', "destination.ip", "==", { kind: "string", value: "2001:db8::1" }],
    ['source.ip != "10.0.0.1"', "source.ip", "!=", { kind: "string", value: "10.0.0.1" }],
    ["source.port in [80, 443, 80]", "source.port", "in", { kind: "number_set", values: [80, 443] }],
    ["destination.port >= 1024", "destination.port", ">=", { kind: "number", value: 1024 }],
    ['destination.spiffe_id == "spiffe://td/api"', "destination.spiffe_id", "==", { kind: "string", value: "spiffe://td/api" }],
    ["time.hour >= 9", "time.hour", ">=", { kind: "number", value: 9 }],
    ["time.hour < 23", "time.hour", "<", { kind: "number", value: 23 }],
    ['time.weekday in ["saturday", "sunday"]', "time.weekday", "in", { kind: "string_set", values: ["saturday", "sunday"] }],
  ])("%s", (condition, attribute, op, value) => {
    const c = conditionOf(checkOk(rule(condition)).set);
    expect(c.kind).toBe("compare");
    if (c.kind !== "compare") return;
    expect(c.attribute.name).toBe(attribute);
    expect(c.op).toBe(op);
    expect(c.value).toEqual(value);
  });

  it.each([
    ['request.headers["x-env"] == "prod"', "request.headers", "x-env"],
    ['request.query["page"] == "2"', "request.query", "page"],
    ['context["route"] == "payments"', "context", "route"],
    ['cert.extension["1.3.6.1.4.1.99999.1"] == "pci"', "cert.extension", "1.3.6.1.4.1.99999.1"],
  ])("keyed attribute %s", (condition, name, key) => {
    const c = conditionOf(checkOk(rule(condition)).set);
    expect(c.kind === "compare" && [c.attribute.name, c.attribute.key, c.attribute.type]).toEqual([name, key, "string"]);
  });

  it.each([
    ["caller.authenticated", { kind: "truthy", attribute: { name: "caller.authenticated", type: "bool" } }],
    ["true", { kind: "const", value: true }],
    ['request.headers["x-id"] is present', { kind: "presence", attribute: { name: "request.headers", key: "x-id", type: "string" }, present: true }],
    ["cert.san.uri is absent", { kind: "presence", attribute: { name: "cert.san.uri", type: "string_list" }, present: false }],
    ["not caller.authenticated", { kind: "not", operand: { kind: "truthy", attribute: { name: "caller.authenticated", type: "bool" } } }],
    [
      "(caller.authenticated or false) and true",
      { kind: "and", operands: [{ kind: "or", operands: [{ kind: "truthy", attribute: { name: "caller.authenticated", type: "bool" } }, { kind: "const", value: false }] }, { kind: "const", value: true }] },
    ],
  ])("%s", (condition, expected) => {
    expect(withoutSpans(conditionOf(checkOk(rule(condition)).set))).toEqual(expected);
  });

  it("keeps `!=` as `!=` and `not` as a `not` node", () => {
    const c = withoutSpans(conditionOf(checkOk(rule('request.method != "GET" and not (request.method == "PUT")')).set));
    expect(c).toEqual({
      kind: "and",
      operands: [
        { kind: "compare", attribute: { name: "request.method", type: "string" }, op: "!=", value: { kind: "string", value: "GET" } },
        { kind: "not", operand: { kind: "compare", attribute: { name: "request.method", type: "string" }, op: "==", value: { kind: "string", value: "PUT" } } },
      ],
    });
  });

  it("resolves lets: scalars, lists, and scalar lets inside lists, declared anywhere in the policy", () => {
    const text = `policy "p" {
  allow "r" when caller.spiffe_id in [ops, "spiffe://td/b"] and request.method in reads and request.path matches paths and destination.port == port
  let ops = "spiffe://td/ops"
  let reads = ["GET", "HEAD"]
  let paths = ["/a/**", "/b/*"]
  let port = 443
}`;
    const c = withoutSpans(conditionOf(checkOk(text).set));
    expect(c.kind === "and" && c.operands.map((o) => (o.kind === "compare" ? o.value : o))).toEqual([
      { kind: "string_set", values: ["spiffe://td/ops", "spiffe://td/b"] },
      { kind: "string_set", values: ["GET", "HEAD"] },
      { kind: "glob", patterns: ["/a/**", "/b/*"] },
      { kind: "number", value: 443 },
    ]);
  });

  it("defaults to enforce mode and no applicability condition", () => {
    const { set } = checkOk(rule("true"));
    expect(set.policies[0]?.mode).toBe("enforce");
    expect(set.policies[0]?.appliesWhen).toBeUndefined();
  });

  it("keeps policies and rules in source order across files", () => {
    const r = checkPolicySources([
      { file: "b.ward", text: 'policy "b" { allow "b1" when true  allow "b2" when true }' },
      { file: "a.ward", text: 'policy "a" { allow "a1" when true }' },
    ]);
    expect(r.ok && r.value.policies.map((p) => [p.file, p.name, p.rules.map((x) => x.name)])).toEqual([
      ["b.ward", "b", ["b1", "b2"]],
      ["a.ward", "a", ["a1"]],
    ]);
  });
});

describe("checker errors", () => {
  it.each([
    // Names.
    ['request.paht == "/x"', "unknown_attribute", "did you mean `request.path`?"],
    ['caller.spiffeid == "spiffe://td/x"', "unknown_attribute", "did you mean `caller.spiffe_id`?"],
    ['request.header["x"] == "y"', "unknown_attribute", "did you mean `request.headers`?"],
    ['request.headers.x_env == "a"', "unknown_attribute", 'write `request.headers["x_env"]`'],
    ['request.method == GET', "undefined_name", 'no `let GET` in this policy; if you meant text, quote it: `"GET"`'],
    ['request.method in [GET]', "undefined_name", 'no `let GET` in this policy; if you meant text, quote it: `"GET"`'],
    ['request.headers == "prod"', "missing_key", 'write `request.headers["x-request-id"]`'],
    ['context == "prod"', "missing_key", 'write `context["name"]`'],
    ['request.method["x"] == "prod"', "unexpected_key", "write `request.method`"],
    ['request.headers["X-Env"] == "prod"', "invalid_header_name", 'write `request.headers["x-env"]`'],
    ['request.headers[":path"] == "/x"', "invalid_header_name", "use `request.path`, `request.method`, `request.host` or `request.scheme`, which are normalized"],
    ['request.headers["a b"] == "x"', "invalid_header_name", undefined],
    ['request.query[""] == "x"', "empty_key", undefined],
    ['cert.extension["pci"] == "x"', "invalid_oid", undefined],
    // Types and operators.
    ["request.method > 3", "type_mismatch", "ordering compares numbers"],
    ['request.method == 3', "type_mismatch", 'write it in quotes: `"3"`'],
    ['destination.port == "443"', "type_mismatch", "write the number without quotes: `443`"],
    ["cert.expires_in < 30", "type_mismatch", "give a unit: `30s`, `30m`, `30h` or `30d`"],
    ["cert.not_after < 7d", "type_mismatch", "write an RFC 3339 timestamp in quotes"],
    ['cert.san.dns == "x"', "type_mismatch", "`cert.san.dns` is a list: use `contains` to test for an element"],
    ['source.ip matches "10.*"', "type_mismatch", 'to test an address range, write `source.ip in ["10.0.0.0/8"]`'],
    ['source.ip starts_with "10."', "type_mismatch", undefined],
    ['caller.authenticated == "yes"', "type_mismatch", undefined],
    ['caller.authenticated contains "x"', "type_mismatch", undefined],
    ['time.weekday matches "s*"', "type_mismatch", undefined],
    ['request.method in "GET"', "type_mismatch", 'write `request.method in ["GET"]` or `request.method == "GET"`'],
    ['request.method == ["GET"]', "type_mismatch", "to test membership, write `request.method in [...]`"],
    ['request.method starts_with ["G"]', "type_mismatch", undefined],
    ['request.method in ["GET", 3]', "type_mismatch", undefined],
    ['request.method', "not_a_condition", "compare it with a value (`request.method == …`) or test it with `request.method is present`"],
    ['"GET"', "not_a_condition", undefined],
    ['[1]', "not_a_condition", undefined],
    ['"GET" == request.method', "invalid_comparison", 'put the attribute on the left, e.g. `request.method == "GET"`'],
    ['request.method == request.host', "invalid_comparison", undefined],
    ['caller.spiffe_id starts_with "spiffe://prod"', "unsafe_operator", undefined],
    ['caller.spiffe_id contains "payments"', "unsafe_operator", undefined],
    // Literals.
    ['caller.spiffe_id == "spiffe://Prod.example.com/x"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://td/a//b"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://td/a/../b"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://td/a?x=1"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://td:443/a"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://user@td/a"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://td/a/"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "https://td/a"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id == "spiffe://td/ns/*/sa/x"', "invalid_spiffe_id", "to match a pattern, use `matches`"],
    ['caller.spiffe_id in ["spiffe://td/a", "spiffe://td/%41"]', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id matches "spiffe://td/a**"', "invalid_glob", undefined],
    ['caller.spiffe_id matches "spiffe://**/a"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id matches "spiffe://TD/*"', "invalid_spiffe_id", undefined],
    ['caller.spiffe_id matches "prod/*"', "invalid_spiffe_id", undefined],
    ['caller.trust_domain == "spiffe://td"', "invalid_trust_domain", 'write the trust domain alone: `"td"`'],
    ['caller.trust_domain == "Prod.example.com"', "invalid_trust_domain", undefined],
    ['caller.path == "ns/a"', "invalid_path", undefined],
    ['request.path == "api/v1"', "invalid_path", 'write `"/api/v1"`'],
    ['request.path == "/api?x=1"', "invalid_path", 'test query parameters with `request.query["name"]`'],
    ['request.path == "/a/../b"', "invalid_path", undefined],
    ['request.path matches "api/**"', "invalid_path", 'write `"/api/**"`'],
    ['request.path starts_with "api"', "invalid_path", 'write `"/api"`'],
    ['request.path matches "/api/**x"', "invalid_glob", undefined],
    ['request.path matches "/**a/b"', "invalid_glob", undefined],
    ['request.path matches ""', "invalid_glob", undefined],
    ['request.path matches_regex "(a"', "invalid_regex", undefined],
    ['request.path matches_regex "^(a)\\\\1$"', "invalid_regex", undefined],
    ['request.path matches_regex "^(?=a)"', "invalid_regex", undefined],
    ['source.ip in ["10.0.0.0/33"]', "invalid_cidr", undefined],
    ['source.ip in ["10.1/8"]', "invalid_cidr", undefined],
    ['source.ip in ["0x0a.0.0.1"]', "invalid_cidr", undefined],
    ['source.ip in ["010.0.0.1"]', "invalid_cidr", undefined],
    ['source.ip in ["fe80::1%eth0"]', "invalid_cidr", undefined],
    ['source.ip in ["10.0.0.0/08"]', "invalid_cidr", undefined],
    ['source.ip == "10.0.0.0/8"', "invalid_ip", 'to test a range, write `source.ip in ["10.0.0.0/8"]`'],
    ['source.ip == "localhost"', "invalid_ip", undefined],
    ["cert.expires_in < 30x", "invalid_duration", undefined],
    ["cert.expires_in < 1.5h", "invalid_duration", undefined],
    ["cert.expires_in < 30m1h", "invalid_duration", undefined],
    ['cert.not_after < "2026-02-30T00:00:00Z"', "invalid_timestamp", undefined],
    ['cert.not_after < "2026-01-01"', "invalid_timestamp", undefined],
    ['cert.not_after < "2026-01-01T00:00:00"', "invalid_timestamp", undefined],
    ['time.weekday == "Monday"', "invalid_weekday", 'did you mean `"monday"`? (weekdays are lower-case English names)'],
    ['time.weekday in ["mon"]', "invalid_weekday", 'did you mean `"monday"`? (weekdays are lower-case English names)'],
    ['time.weekday == "someday"', "invalid_weekday", undefined],
    ["time.hour < 24", "hour_out_of_range", undefined],
    ["time.hour == 7.5", "hour_out_of_range", undefined],
    ["time.hour in [1, 99]", "hour_out_of_range", undefined],
    ["source.port == 70000", "port_out_of_range", undefined],
    ['request.host == "API.example.com"', "literal_never_matches", 'write `"api.example.com"`'],
    ['request.host == "api.example.com:443"', "literal_never_matches", undefined],
    ['request.scheme == "HTTPS"', "literal_never_matches", undefined],
    ['cert.fingerprint == "AB:CD"', "literal_never_matches", 'write `"abcd"`'],
    ['request.host == "api.example.com."', "literal_never_matches", 'write `"api.example.com"`'],
    ['request.host == "[::1]:443"', "literal_never_matches", undefined],
    // request.path is canonical (docs/paths.md): other spellings never match.
    ['request.path == "/api/café"', "literal_never_matches", 'write `"/api/caf%C3%A9"`'],
    ['request.path == "/a%2fb"', "literal_never_matches", 'write `"/a%2Fb"`'],
    ['request.path == "/%61dmin"', "literal_never_matches", 'write `"/admin"`'],
    ['request.path == "/a%zz"', "literal_never_matches", 'write `"/a%25zz"`'],
    ['request.path starts_with "/api//x"', "literal_never_matches", 'write `"/api/x"`'],
    ['request.path matches "/a b/*"', "literal_never_matches", 'write `"/a%20b/*"`'],
    ['request.path in ["/ok", "/a|b"]', "literal_never_matches", 'write `"/a%7Cb"`'],
    ['request.path contains "é"', "literal_never_matches", undefined],
  ])("%s → %s", (condition, code, help) => {
    const r = checkText(rule(condition));
    expect(r.ok).toBe(false);
    const errors = r.diagnostics.filter((d) => d.severity === "error");
    expect(errors.map((d) => d.code)).toEqual([code]);
    const d = errors[0]!;
    expect(d.span?.start.line).toBe(2);
    expect(d.message).toMatch(/^[a-z`"0-9]/);
    if (help !== undefined) expect(d.help).toContain(help);
  });

  it.each([
    ['policy "p" {\n  mode enforced\n  allow "r" when true\n}', ["invalid_mode@2:8"]],
    ['policy "p" {\n  mode audit\n  mode enforce\n  allow "r" when true\n}', ["duplicate_clause@3:3"]],
    ['policy "p" {\n  applies when true\n  applies when true\n  allow "r" when true\n}', ["duplicate_clause@3:3"]],
    ['policy "p" {\n  let a = 1\n  allow "r" when true\n}', ["unused_let@2:7"]],
    ['policy "p" {\n  let a = 1\n  let a = 2\n  allow "r" when destination.port == a\n}', ["duplicate_let@3:7"]],
    ['policy "p" {\n  let caller = "x"\n  allow "r" when request.method == caller\n}', ["reserved_name@2:7"]],
    ['policy "p" {\n  let a = ["x"]\n  let b = [a]\n  allow "r" when request.method in b\n}', ["invalid_let@3:12"]],
    ['policy "p" {\n  let a = ["x"]\n  allow "r" when request.method in [a]\n}', ["type_mismatch@3:37"]],
    ['policy "p" {\n  let a = "x"\n  allow "r" when a == "x"\n}', ["invalid_comparison@3:18"]],
    ['policy "p" {\n  let a = true\n  allow "r" when a\n}', ["not_a_condition@3:18"]],
    ['policy "p" {\n  let readers = ["x"]\n  allow "r" when request.method in raeders\n}', ["undefined_name@3:36"]],
    ['policy "p" {\n  allow "r" when true\n  allow "r" when false\n}', ["duplicate_rule@3:9"]],
    ['policy "" {\n  allow "" when true\n}', ["empty_name@1:8", "empty_name@2:9"]],
  ])("policy-level: %j", (text, expected) => {
    const r = checkText(text);
    expect(where(r.diagnostics.filter((d) => d.severity === "error"))).toEqual(expected);
  });

  it("suggests the nearest `let` for a misspelled name", () => {
    const r = checkText('policy "p" {\n  let readers = ["x"]\n  allow "r" when request.method in raeders\n}');
    expect(r.diagnostics.find((d) => d.code === "undefined_name")?.help).toBe("did you mean `readers`?");
  });

  it("reports every error of a file, not just the first", () => {
    const text = [
      'policy "p" {',
      '  allow "a" when request.paht == "/x"',
      "  allow \"b\" when request.method > 3 and time.hour == 25",
      '  allow "c" when caller.spiffe_id == "spiffe://Bad/x" or source.ip in ["10.0.0.0/99"]',
      "}",
      'policy "q" {',
      "  allow \"d\" when cert.expires_in < 5q",
      "}",
    ].join("\n");
    const r = checkText(text);
    expect(where(r.diagnostics)).toEqual([
      "unknown_attribute@2:18",
      "type_mismatch@3:33",
      "hour_out_of_range@3:54",
      "invalid_spiffe_id@4:38",
      "invalid_cidr@4:72",
      "invalid_duration@7:36",
    ]);
  });

  it("reports syntax and semantic errors of one file together", () => {
    const text = 'policy "p" {\n  allow "a" when x = 1\n  allow "b" when request.paht == "/x"\n}';
    expect(where(checkText(text).diagnostics)).toEqual(["syntax_error@2:20", "unknown_attribute@3:18"]);
  });

  it("rejects duplicate policy names across files, pointing at the later one", () => {
    const r = checkPolicySources([
      { file: "a.ward", text: 'policy "p" { allow "r" when true }' },
      { file: "b.ward", text: '\npolicy "p" { allow "r" when true }' },
    ]);
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => [d.code, d.span?.file, d.span?.start.line, d.help])).toEqual([
      ["duplicate_policy", "b.ward", 2, "the first policy with this name is at a.ward:1"],
    ]);
  });

  it("sorts diagnostics by file and position", () => {
    const r = checkPolicySources([
      { file: "b.ward", text: 'policy "b" { allow "r" when nope }' },
      { file: "a.ward", text: 'policy "a" {\n allow "r" when nope2 == 1\n allow "s" when nope }' },
    ]);
    expect(r.diagnostics.map((d) => `${d.span?.file}:${d.span?.start.line}`)).toEqual(["a.ward:2", "a.ward:3", "b.ward:1"]);
  });
});

describe("checker warnings", () => {
  it.each([
    ['request.method == "GET" and request.method == "POST"', "unreachable_rule"],
    ['request.method == "GET" and not (request.method == "GET")', "unreachable_rule"],
    ['request.method == "GET" and request.method != "GET"', "unreachable_rule"],
    ['request.method in ["GET", "HEAD"] and request.method == "PUT"', "unreachable_rule"],
    ['request.method in ["GET"] and request.method in ["PUT"]', "unreachable_rule"],
    ['request.method in ["GET", "PUT"] and request.method != "GET" and request.method != "PUT"', "unreachable_rule"],
    ['request.headers["x"] is absent and request.headers["x"] == "a"', "unreachable_rule"],
    ['request.headers["x"] is absent and request.headers["x"] is present', "unreachable_rule"],
    ['request.headers["x"] is absent and request.headers["x"] starts_with "a"', "unreachable_rule"],
    ["time.hour > 20 and time.hour < 5", "unreachable_rule"],
    ["time.hour >= 9 and time.hour < 9", "unreachable_rule"],
    ["time.hour == 3 and time.hour > 3", "unreachable_rule"],
    ["cert.expires_in < 1h and cert.expires_in > 2h", "unreachable_rule"],
    ["caller.authenticated and not caller.authenticated", "unreachable_rule"],
    ["false", "unreachable_rule"],
    ["not true", "unreachable_rule"],
    ['(request.method == "GET" or false) and request.method == "PUT"', "unreachable_rule"],
    ['(request.method == "GET" or request.method == "HEAD") and request.method == "PUT"', "unreachable_rule"],
    ['not (request.method == "GET" or request.method != "GET")', "unreachable_rule"],
  ])("%s can never match", (condition, code) => {
    const { warnings } = checkOk(rule(condition));
    expect(where(warnings)).toEqual([`${code}@2:9`]);
    expect(warnings[0]?.severity).toBe("warning");
  });

  it.each([
    ['request.method == "GET" or request.method == "POST"'],
    ['request.headers["x"] is absent and request.headers["x"] != "a"'],
    ['request.method != "GET" and request.method != "POST"'],
    ["time.hour >= 9 and time.hour <= 9"],
    ['request.method == "GET" and request.path == "/x"'],
    ['cert.san.dns contains "a" and cert.san.dns contains "b"'],
    ['request.headers["a"] == "x" and request.headers["b"] == "y"'],
    ['not (request.method == "GET" and request.method == "PUT")'],
  ])("%s is satisfiable: no warning", (condition) => {
    expect(checkOk(rule(condition)).warnings).toEqual([]);
  });

  it("warns about `in []` and says why the rule never matches", () => {
    const { warnings } = checkOk(rule("source.port in []"));
    expect(where(warnings)).toEqual(["unreachable_rule@2:9", "empty_list@2:33"]);
  });

  it("warns about a rule shadowed by an earlier equivalent one, whatever the spelling", () => {
    const text = `policy "p" {
  allow "a" when request.method == "GET" and (request.path == "/x")
  allow "b" when request.path == "/x" and request.method in ["GET"]
  allow "c" when not (request.method != "GET") and request.path == "/x"
  deny "d" when request.method == "GET" and request.path == "/x"
  allow "e" when request.method == "GET"
}`;
    const { warnings } = checkOk(text);
    expect(warnings.map((d) => [d.code, d.span?.start.line, d.message])).toEqual([
      ["shadowed_rule", 2, "allow rule `a` can never allow a request"],
      ["shadowed_rule", 3, "rule `b` is shadowed by rule `a`"],
      ["shadowed_rule", 4, "rule `c` is shadowed by rule `a`"],
    ]);
  });

  it("warns about a policy without an allow rule, an unanchored regex, lower-case methods and CIDR host bits", () => {
    expect(where(checkOk('policy "p" {\n  deny "r" when true\n}').warnings)).toEqual(["no_allow_rule@1:8"]);
    expect(where(checkOk('policy "p" {\n  mode audit\n  allow "r" when request.method == "GET"\n}').warnings)).toEqual(["unscoped_audit_policy@1:8"]);
    expect(where(checkOk('policy "p" {\n  applies when request.host == "a.internal"\n  mode audit\n  allow "r" when request.method == "GET"\n}').warnings)).toEqual([]);
    expect(where(checkOk('policy "p" {\n  allow "r" when request.method == "GET"\n}').warnings)).toEqual([]);
    expect(where(checkOk(rule('request.host matches_regex "example\\\\.com"')).warnings)).toEqual(["unanchored_regex@2:45"]);
    expect(where(checkOk(rule('request.method == "get"')).warnings)).toEqual(["lowercase_method@2:36"]);
    const cidr = checkOk(rule('source.ip in ["10.0.0.1/8"]'));
    expect(where(cidr.warnings)).toEqual(["cidr_host_bits@2:32"]);
    const c = conditionOf(cidr.set);
    expect(c.kind === "compare" && c.value).toEqual({ kind: "cidr_set", cidrs: ["10.0.0.0/8"] });
  });

  it("warns about an `applies when` that can never hold", () => {
    const { warnings } = checkOk('policy "p" {\n  applies when time.hour > 5 and time.hour < 2\n  allow "r" when true\n}');
    expect(where(warnings)).toEqual(["unreachable_policy@2:3"]);
  });
});

describe("test blocks", () => {
  const policy = 'policy "p" {\n  allow "ok" when true\n  deny "no" when false or request.method == "PUT"\n}\n';

  it.each([
    ['test "t" {\n  expect allow by "ok"\n}', []],
    ['test "t" {\n  expect allow\n  header ":authority" "api"\n  header "x-id" "1"\n  header "x-id" "2"\n  context "a" "b"\n  context "c" "d"\n}', []],
    ['test "t" {\n  caller "spiffe://td/x"\n  cert "x.pem"\n  expect allow\n}', ["conflicting_test_statements@3:3"]],
    ['test "t" {\n  caller "spiffe://TD/x"\n  expect allow\n}', ["invalid_spiffe_id@2:10"]],
    ['test "t" {\n  destination "nope"\n  expect allow\n}', ["invalid_spiffe_id@2:15"]],
    ['test "t" {\n  source "10.1"\n  expect allow\n}', ["invalid_ip@2:10"]],
    ['test "t" {\n  at "tomorrow"\n  expect allow\n}', ["invalid_timestamp@2:6"]],
    ['test "t" {\n  request "GET"\n  expect allow\n}', ["invalid_test_statement@2:3"]],
    ['test "t" {\n  request "/x" "GET"\n  expect allow\n}', ["invalid_test_statement@2:11"]],
    ['test "t" {\n  request "GET" 3\n  expect allow\n}', ["invalid_test_statement@2:3"]],
    ['test "t" {\n  header "a b" "c"\n  expect allow\n}', ["invalid_header_name@2:10"]],
    ['test "t" {\n  sauce "1.2.3.4"\n  expect allow\n}', ["unknown_test_statement@2:3"]],
    ['test "t" {\n  caller "spiffe://td/a"\n  caller "spiffe://td/b"\n  expect allow\n}', ["duplicate_clause@3:3"]],
    ['test "t" {\n  expect allow\n  expect deny\n}', ["duplicate_clause@3:3"]],
    ['test "t" {\n  caller "spiffe://td/a"\n}', ["missing_expect@1:6"]],
    ['test "t" {\n  expect deny status 700\n}', ["invalid_status@2:22"]],
    ['test "t" {\n  expect allow by "nope"\n}', ["unknown_rule@2:19"]],
    ['test "t" {\n  expect deny by "ok"\n}', ["expect_effect_mismatch@2:18"]],
    ['test "t" {\n  expect allow\n}\ntest "t" {\n  expect deny\n}', ["duplicate_test@4:6"]],
  ])("%j", (tests, expected) => {
    const r = checkText(policy + tests);
    const shift = policy.split("\n").length - 1;
    expect(where(r.diagnostics.filter((d) => d.severity === "error")).map((w) => w.replace(/@(\d+)/, (_, l: string) => `@${Number(l) - shift}`))).toEqual(expected);
  });

  it("suggests the nearest rule and statement names", () => {
    const r = checkText(`${policy}test "t" {\n  sauce "x"\n  expect allow by "okk"\n}`);
    expect(r.diagnostics.map((d) => d.help)).toEqual(["did you mean `source`?", 'did you mean `"ok"`?']);
  });

  it("finds rules named by tests in any file of the set", () => {
    const r = checkPolicySources([
      { file: "p.ward", text: policy },
      { file: "p_test.ward", text: 'test "t" { expect deny by "no" status 403 }' },
    ]);
    expect(r.ok && r.value.tests.map((t) => [t.file, t.expect.effect, t.expect.by, t.expect.status])).toEqual([["p_test.ward", "deny", ["no"], 403]]);
  });
});

describe("analysis helpers", () => {
  it("canonicalKey ignores order, grouping, double negation and the spelling of `!=`", () => {
    const key = (c: string) => canonicalKey(conditionOf(checkOk(rule(c)).set));
    expect(key('request.method == "GET" and (request.path == "/x" and true)')).toBe(key('true and request.path == "/x" and request.method == "GET"'));
    expect(key('not (request.method == "GET")')).toBe(key('request.method != "GET"'));
    expect(key("not not caller.authenticated")).toBe(key("caller.authenticated"));
    expect(key('request.method in ["A", "B"]')).toBe(key('request.method in ["B", "A"]'));
    expect(key('request.method == "GET"')).not.toBe(key('request.method == "PUT"'));
    expect(key('request.method == "GET" and request.path == "/x"')).not.toBe(key('request.method == "GET" or request.path == "/x"'));
  });

  it("isUnsatisfiable gives up (answers false) on conditions too big to expand", () => {
    const big = Array.from({ length: 12 }, (_, i) => `(request.method == "A${i}" or request.method == "B${i}")`).join(" and ");
    expect(isUnsatisfiable(conditionOf(checkOk(rule(big)).set))).toBe(false);
  });
});
