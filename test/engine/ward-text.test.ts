// The engine driven from `.ward` text, as users write it: the language front
// end (checkPolicySources) then compile and evaluate. Conditions, precedence,
// the example policy, modes and explanations.
import { describe, expect, it } from "vitest";
import { renderDiagnostics } from "../../src/diagnostics.js";
import { checkPolicySources } from "../../src/dsl/index.js";
import { compile } from "../../src/engine/compile.js";
import type { Decision, EvaluateOptions } from "../../src/engine/decision.js";
import { evaluate } from "../../src/engine/evaluate.js";
import type { RequestInput } from "../../src/engine/input.js";
import type { Program } from "../../src/engine/program.js";
import { anonymous, caller, request, type RequestOverrides } from "./builders.js";

function programOf(files: Record<string, string>): Program {
  const sources = Object.entries(files).map(([file, text]) => ({ file, text }));
  const checked = checkPolicySources(sources);
  if (!checked.ok) throw new Error(renderDiagnostics(checked.diagnostics, (f) => files[f]));
  return compile(checked.value, { revision: "rev" });
}

function decide(program: Program, input: RequestInput, options: EvaluateOptions = {}): Decision {
  const fast = evaluate(program, input, options);
  const { explanation: _e, ...full } = evaluate(program, input, { ...options, explain: true });
  expect(fast).toEqual(full);
  return fast;
}

function holds(condition: string, input: RequestInput): boolean {
  const program = programOf({ "t.ward": `policy "t" {\n  allow "r" when ${condition}\n}\n` });
  const d = decide(program, input);
  expect(d.reason).not.toBe("internal_error");
  return d.outcome === "allow";
}

const checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout";
const withCert = (c: Parameters<typeof caller>[1]): RequestOverrides => ({ caller: caller(checkout, c) });

type Row = [condition: string, input: RequestOverrides, expected: boolean];

const rows: Row[] = [
  [`request.method == "GET"`, {}, true],
  [`request.method != "GET"`, {}, false],
  [`request.method in ["POST", "GET"]`, {}, true],
  [`request.path matches "/api/v1/*"`, {}, true],
  [`request.path matches "/api/*"`, {}, false],
  [`request.path matches "/api/**"`, {}, true],
  [`request.path starts_with "/api/"`, {}, true],
  [`request.path ends_with "/orders"`, {}, true],
  [`request.host contains "ments"`, {}, true],
  [`request.path matches_regex "^/api/v[0-9]+/"`, {}, true],
  [`caller.spiffe_id matches "spiffe://prod.example.com/ns/*/sa/checkout"`, {}, true],
  [`caller.spiffe_id matches "spiffe://prod.example.com/*/sa/checkout"`, {}, false],
  [`caller.spiffe_id matches ["spiffe://prod.example.com/ns/ops/sa/*", "spiffe://prod.example.com/ns/checkout/**"]`, {}, true],
  [`caller.trust_domain != "prod.example.com"`, { caller: anonymous }, true],
  [`caller.spiffe_id == "${checkout}"`, { caller: anonymous }, false],
  [`caller.authenticated`, {}, true],
  [`not caller.authenticated`, { caller: anonymous }, true],
  [`source.ip in ["10.0.0.0/8"]`, {}, true],
  [`source.ip in ["2001:db8::/32"]`, { source: { ip: "2001:db8::1" } }, true],
  [`source.ip in ["10.0.0.0/8"]`, { source: { ip: "::ffff:10.0.0.7" } }, true],
  [`source.port >= 1024`, {}, true],
  [`destination.port in [443, 8443]`, {}, true],
  [`time.hour >= 9 and time.hour < 17`, {}, true],
  [`time.weekday in ["saturday", "sunday"]`, {}, false],
  [`cert.expires_in < 7d`, withCert({ notAfter: Date.parse("2025-06-12T00:00:00Z") }), true],
  [`cert.expires_in < 7d`, withCert({}), false],
  [`cert.expires_in < 7d`, {}, false],
  [`cert.not_after > "2025-06-01T00:00:00Z"`, withCert({}), true],
  [`cert.subject.organizational_unit contains "payments"`, withCert({ subject: { organization: [], organizationalUnit: ["payments"] } }), true],
  [`cert.subject.organizational_unit contains "payments"`, withCert({ subject: { organization: [], organizationalUnit: ["payments-contractors"] } }), false],
  [`cert.san.dns matches "*.example.com"`, withCert({ san: { dns: ["x.test", "api.example.com"], uri: [], email: [] } }), true],
  [`request.headers["x-env"] == "prod"`, { headers: { "x-env": "prod" } }, true],
  [`request.headers["x-env"] is present`, {}, false],
  [`request.headers["x-env"] is absent`, {}, true],
  [`request.query["page"] == "2"`, { query: { page: "2" } }, true],
  [`context["route"] == "charge"`, { context: { route: "charge" } }, true],
  [`not (cert.extension["1.3.6.1.4.1.99999.1"] == "pci")`, withCert({}), true],
  // precedence: comparison > not > and > or
  [`request.method == "POST" and request.method == "PUT" or request.method == "GET"`, {}, true],
  [`request.method == "GET" or request.method == "PUT" and request.method == "POST"`, {}, true],
  [`request.method == "POST" and (request.method == "PUT" or request.method == "GET")`, {}, false],
  [`not request.method == "POST" and request.path == "/api/v1/orders"`, {}, true],
  [`not request.method == "GET" or request.path == "/api/v1/orders"`, {}, true],
  [`not (request.method == "GET" or request.path == "/x")`, {}, false],
];

describe("conditions written in .ward", () => {
  it.each(rows)("%s  (%#)", (condition, overrides, expected) => {
    expect(holds(condition, request(overrides))).toBe(expected);
  });
});

const payments = `# The issue's example policy.
policy "payments-api" {
  applies when destination.spiffe_id == "spiffe://prod.example.com/ns/payments/sa/payment-api"

  let checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout"
  let readers  = ["spiffe://prod.example.com/ns/*/sa/reporting", "spiffe://prod.example.com/ns/ops/sa/*"]

  allow "checkout may charge" when
    caller.spiffe_id == checkout
    and request.method == "POST"
    and request.path == "/api/v1/charge"

  allow "readers may read" when
    caller.spiffe_id matches readers
    and request.method in ["GET", "HEAD"]
    and request.path matches "/api/v1/**"

  deny "no cross-environment calls" when
    caller.trust_domain != "prod.example.com"

  deny "cards need a pci workload" when
    request.path starts_with "/api/v1/cards/"
    and not (cert.extension["1.3.6.1.4.1.99999.1"] == "pci")
}
`;

describe("the payments policy", () => {
  const program = programOf({ "policies/payments.ward": payments });
  const rule = (d: Decision) => d.determining.map((r) => r.rule);

  it.each([
    ["checkout charges", { method: "POST", path: "/api/v1/charge" }, true, "allowed", ["checkout may charge"]],
    ["checkout cannot GET", { method: "GET", path: "/api/v1/charge" }, false, "no_matching_allow", []],
    ["reporting reads", { caller: caller("spiffe://prod.example.com/ns/billing/sa/reporting"), path: "/api/v1/invoices/3" }, true, "allowed", ["readers may read"]],
    ["ops reads with HEAD", { caller: caller("spiffe://prod.example.com/ns/ops/sa/oncall"), method: "HEAD", path: "/api/v1" }, true, "allowed", ["readers may read"]],
    ["ops cannot read a nested sa", { caller: caller("spiffe://prod.example.com/ns/ops/sa/x/y"), path: "/api/v1/a" }, false, "no_matching_allow", []],
    ["staging checkout is denied", { caller: caller("spiffe://staging.example.com/ns/checkout/sa/checkout"), method: "POST", path: "/api/v1/charge" }, false, "denied_by_rule", ["no cross-environment calls"]],
    ["anonymous is denied by rule", { caller: anonymous }, false, "denied_by_rule", ["no cross-environment calls"]],
    ["cards without pci", { caller: caller("spiffe://prod.example.com/ns/b/sa/reporting", {}), path: "/api/v1/cards/7" }, false, "denied_by_rule", ["cards need a pci workload"]],
    [
      "cards with pci",
      { caller: caller("spiffe://prod.example.com/ns/b/sa/reporting", { extensions: { "1.3.6.1.4.1.99999.1": "pci" } }), path: "/api/v1/cards/7" },
      true,
      "allowed",
      ["readers may read"],
    ],
    ["other destination", { destination: { spiffeId: "spiffe://prod.example.com/ns/x/sa/y" } }, false, "no_applicable_policy", []],
  ] as [string, RequestOverrides, boolean, string, string[]][])("%s", (_name, overrides, allowed, reason, determining) => {
    const d = decide(program, request(overrides));
    expect(d.allowed).toBe(allowed);
    expect(d.reason).toBe(reason);
    expect(rule(d)).toEqual(determining);
  });

  it("in audit mode the same denial is let through and recorded", () => {
    const audited = programOf({ "policies/payments.ward": payments.replace('\n\n  let checkout', "\n  mode audit\n\n  let checkout") });
    const d = decide(audited, request({ caller: anonymous }));
    expect(d).toMatchObject({ allowed: true, outcome: "deny", enforced: false, reason: "denied_by_rule" });
    expect(d.determining[0]?.mode).toBe("audit");
    expect(decide(program, request({ caller: anonymous }), { auditAll: true })).toMatchObject({ allowed: true, enforced: false });
  });

  it("explains a denial with the source text and location of the failing condition", () => {
    const d = evaluate(program, request({ method: "DELETE", path: "/api/v1/charge" }), { explain: true });
    const charge = d.explanation!.policies[0]!.rules[0]!;
    expect(charge).toMatchObject({ rule: "checkout may charge", matched: false, failed: { text: 'request.method == "POST"', actual: "DELETE" } });
    expect(charge.failed!.span).toMatchObject({ file: "policies/payments.ward", start: { line: 10, column: 9 } });
    expect(charge.span.start.line).toBe(8);
  });
});

describe("several files", () => {
  it("deny in one file overrides allow in another; applies-when selects", () => {
    const program = programOf({
      "a.ward": `policy "base" {\n  deny "no staging" when caller.trust_domain == "staging.example.com"\n  allow "health" when request.path == "/health"\n}\n`,
      "b.ward": `policy "orders" {\n  applies when request.path starts_with "/api/"\n  allow "get" when request.method == "GET"\n}\n`,
    });
    expect(decide(program, request()).determining.map((r) => r.rule)).toEqual(["get"]);
    expect(decide(program, request({ path: "/health" })).determining.map((r) => r.rule)).toEqual(["health"]);
    expect(decide(program, request({ caller: caller("spiffe://staging.example.com/ns/a/sa/b") })).reason).toBe("denied_by_rule");
  });
});

describe("every condition the checker accepts compiles and evaluates", () => {
  // Sample literals per attribute type; the checker decides which combinations are valid.
  const samples: Record<string, string[]> = {
    string: [`"x"`, `["x", "y"]`, `"a*"`, `["a*", "b"]`, `"^x$"`],
    spiffe_id: [`"spiffe://prod.example.com/ns/a/sa/b"`, `["spiffe://prod.example.com/ns/a/sa/b"]`, `"spiffe://prod.example.com/**"`, `"spiffe://prod.example.com/ns/*/sa/b"`],
    path: [`"/api/v1/x"`, `["/a", "/b"]`, `"/api/**"`, `"/api/*/x"`, `"^/api"`],
    string_list: [`"x"`, `["x", "y"]`, `"*.example.com"`, `"^x"`],
    number: [`3`, `[1, 2]`],
    bool: [`true`, `false`],
    duration: [`30m`, `7d`],
    timestamp: [`"2025-01-01T00:00:00Z"`],
    ip: [`["10.0.0.0/8", "::1"]`, `"10.0.0.1"`, `["::ffff:10.0.0.0/104"]`],
  };
  const ops = ["==", "!=", "in", "matches", "starts_with", "ends_with", "contains", "matches_regex", "<", "<=", ">", ">="];
  const attrs: [string, string][] = [
    ["caller.spiffe_id", "spiffe_id"],
    ["caller.trust_domain", "string"],
    ["caller.path", "path"],
    ["caller.authenticated", "bool"],
    ["cert.subject.common_name", "string"],
    ["cert.subject.organizational_unit", "string_list"],
    ["cert.san.dns", "string_list"],
    ["cert.serial", "string"],
    ["cert.not_after", "timestamp"],
    ["cert.expires_in", "duration"],
    [`cert.extension["1.2.3"]`, "string"],
    ["request.method", "string"],
    ["request.path", "path"],
    [`request.query["q"]`, "string"],
    [`request.headers["x-a"]`, "string"],
    ["request.host", "string"],
    ["source.ip", "ip"],
    ["source.port", "number"],
    ["destination.spiffe_id", "spiffe_id"],
    ["destination.ip", "ip"],
    [`context["k"]`, "string"],
    ["time.hour", "number"],
    ["time.weekday", "string"],
  ];
  const inputs = [
    request(),
    request({ caller: anonymous, source: {}, destination: {} }),
    request({
      caller: caller(checkout, { subject: { commonName: "x", organization: [], organizationalUnit: ["x"] }, san: { dns: ["a.example.com"], uri: [], email: [] }, extensions: { "1.2.3": "x" } }),
      headers: { "x-a": "x" },
      query: { q: "x" },
      context: { k: "y" },
      source: { ip: "::1", port: 3 },
    }),
  ];

  it("covers the operator × type matrix without a compile error or an internal error", () => {
    let accepted = 0;
    for (const [attribute, type] of attrs) {
      for (const op of ops) {
        for (const literal of samples[type] ?? []) {
          const condition = `${attribute} ${op} ${literal}`;
          const text = `policy "t" {\n  allow "r" when ${condition}\n  deny "d" when not (${condition})\n}\n`;
          const checked = checkPolicySources([{ file: "t.ward", text }]);
          if (!checked.ok) continue;
          accepted++;
          const program = compile(checked.value, { revision: "r" });
          for (const input of inputs) {
            const d = decide(program, input);
            expect(d.reason, `${condition}: ${d.detail ?? ""}`).not.toBe("internal_error");
            // Exactly one of the rule and its negation matches.
            expect(d.determining.length, condition).toBe(1);
          }
        }
      }
      for (const presence of ["is present", "is absent"]) {
        const checked = checkPolicySources([{ file: "t.ward", text: `policy "t" {\n  allow "r" when ${attribute} ${presence}\n}\n` }]);
        expect(checked.ok, `${attribute} ${presence}`).toBe(true);
        if (checked.ok) for (const input of inputs) expect(decide(compile(checked.value, { revision: "r" }), input).reason).not.toBe("internal_error");
      }
    }
    // The checker accepts a good part of the matrix (a guard against testing nothing).
    expect(accepted).toBeGreaterThan(150);
  });
});
