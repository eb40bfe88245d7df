// Table-driven tests of every operator on every attribute type, including
// missing attributes and list attributes. Each row compiles `allow "r" when
// <condition>` and checks whether the rule matched, on the indexed path and on
// the explain path (which must agree).
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.js";
import { evaluate } from "../../src/engine/evaluate.js";
import type { RequestInput } from "../../src/engine/input.js";
import {
  absent,
  allow,
  anonymous,
  attr,
  bool,
  caller,
  cidrs,
  cmp,
  dur,
  glob,
  not,
  num,
  nums,
  policy,
  policySet,
  present,
  regex,
  request,
  str,
  strs,
  truthy,
  ts,
  type Ex,
  type RequestOverrides,
} from "./builders.js";

function holds(cond: Ex, input: RequestInput): boolean {
  const program = compile(policySet(policy("p", [allow("r", cond)])), { revision: "t" });
  const fast = evaluate(program, input);
  const slow = evaluate(program, input, { explain: true });
  expect(fast.reason).not.toBe("internal_error");
  expect({ ...slow, explanation: undefined }).toEqual({ ...fast, explanation: undefined });
  return fast.outcome === "allow";
}

type Row = [name: string, cond: Ex, input: RequestOverrides, expected: boolean];

const payments = "spiffe://prod.example.com/ns/payments/sa/payment-api";
const checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout";
const withCert = (c: Parameters<typeof caller>[1]): RequestOverrides => ({ caller: caller(checkout, c) });

const rows: Row[] = [
  // strings: == != in
  ["string == equal", cmp("request.method", "==", str("GET")), {}, true],
  ["string == is case-sensitive", cmp("request.method", "==", str("get")), {}, false],
  ["string != different", cmp("request.method", "!=", str("POST")), {}, true],
  ["string != same", cmp("request.method", "!=", str("GET")), {}, false],
  ["string in member", cmp("request.method", "in", strs("GET", "HEAD")), {}, true],
  ["string in non-member", cmp("request.method", "in", strs("POST", "PUT")), {}, false],
  ["string starts_with", cmp("request.host", "starts_with", str("pay")), {}, true],
  ["string starts_with no", cmp("request.host", "starts_with", str("ments")), {}, false],
  ["string ends_with", cmp("request.host", "ends_with", str(".internal")), {}, true],
  ["string ends_with no", cmp("request.host", "ends_with", str(".external")), {}, false],
  ["string contains substring", cmp("request.host", "contains", str("ments.int")), {}, true],
  ["string contains no", cmp("request.host", "contains", str("xyz")), {}, false],
  ["string matches glob", cmp("request.host", "matches", glob("*.internal")), {}, true],
  ["string matches glob no", cmp("request.host", "matches", glob("*.external")), {}, false],
  ["regex is unanchored", cmp("request.host", "matches_regex", regex("ments\\.")), {}, true],
  ["regex anchored no", cmp("request.host", "matches_regex", regex("^ments")), {}, false],
  ["regex anchored whole", cmp("request.host", "matches_regex", regex("^[a-z]+\\.internal$")), {}, true],
  ["keyed header ==", cmp(attr("request.headers", "x-env"), "==", str("prod")), { headers: { "x-env": "prod" } }, true],
  ["keyed header missing ==", cmp(attr("request.headers", "x-env"), "==", str("prod")), {}, false],
  ["keyed header missing !=", cmp(attr("request.headers", "x-env"), "!=", str("prod")), {}, true],
  ["keyed header regex", cmp(attr("request.headers", "x-req"), "matches_regex", regex("^\\d{3}-[[:alpha:]]+$")), { headers: { "x-req": "123-abc" } }, true],
  ["query param", cmp(attr("request.query", "page"), "==", str("2")), { query: { page: "2" } }, true],
  ["context value", cmp(attr("context", "route"), "in", strs("a", "b")), { context: { route: "b" } }, true],
  ["scheme", cmp("request.scheme", "==", str("https")), {}, true],
  // spiffe ids and paths
  ["spiffe ==", cmp("caller.spiffe_id", "==", str(checkout)), {}, true],
  ["spiffe glob * one segment", cmp("caller.spiffe_id", "matches", glob("spiffe://prod.example.com/ns/*/sa/checkout")), {}, true],
  ["spiffe glob * does not cross /", cmp("caller.spiffe_id", "matches", glob("spiffe://prod.example.com/*/sa/checkout")), {}, false],
  ["spiffe glob **", cmp("caller.spiffe_id", "matches", glob("spiffe://prod.example.com/**")), {}, true],
  ["spiffe glob list", cmp("caller.spiffe_id", "matches", glob("spiffe://prod.example.com/ns/ops/sa/*", "spiffe://prod.example.com/ns/*/sa/checkout")), {}, true],
  ["spiffe glob other trust domain", cmp("caller.spiffe_id", "matches", glob("spiffe://staging.example.com/**")), {}, false],
  ["spiffe starts_with", cmp("caller.spiffe_id", "starts_with", str("spiffe://prod.example.com/ns/check")), {}, true],
  ["trust domain ==", cmp("caller.trust_domain", "==", str("prod.example.com")), {}, true],
  ["trust domain !=", cmp("caller.trust_domain", "!=", str("prod.example.com")), {}, false],
  ["caller.path glob", cmp("caller.path", "matches", glob("/ns/*/sa/*")), {}, true],
  ["destination spiffe ==", cmp("destination.spiffe_id", "==", str(payments)), {}, true],
  ["path ==", cmp("request.path", "==", str("/api/v1/orders")), {}, true],
  ["path glob **", cmp("request.path", "matches", glob("/api/v1/**")), { path: "/api/v1/orders/42/items" }, true],
  ["path glob ** zero segments", cmp("request.path", "matches", glob("/api/v1/**")), { path: "/api/v1" }, true],
  ["path glob ** not a partial segment", cmp("request.path", "matches", glob("/api/v1/**")), { path: "/api/v10/x" }, false],
  ["path glob * one segment", cmp("request.path", "matches", glob("/api/v1/*")), { path: "/api/v1/orders" }, true],
  ["path glob * not across /", cmp("request.path", "matches", glob("/api/v1/*")), { path: "/api/v1/orders/42" }, false],
  ["path glob * inside a segment", cmp("request.path", "matches", glob("/api/v1/ord*s")), {}, true],
  ["path glob ** in the middle", cmp("request.path", "matches", glob("/api/**/items")), { path: "/api/v1/orders/42/items" }, true],
  ["path glob ** in the middle no", cmp("request.path", "matches", glob("/api/**/items")), { path: "/api/v1/orders/42/item" }, false],
  ["path in glob list", cmp("request.path", "in", glob("/health", "/api/*/orders")), {}, true],
  ["path starts_with", cmp("request.path", "starts_with", str("/api/v1/")), {}, true],
  // numbers
  ["number ==", cmp("source.port", "==", num(51234)), {}, true],
  ["number !=", cmp("source.port", "!=", num(51234)), {}, false],
  ["number in", cmp("destination.port", "in", nums(443, 8443)), {}, true],
  ["number <", cmp("destination.port", "<", num(8443)), {}, false],
  ["number <=", cmp("destination.port", "<=", num(8443)), {}, true],
  ["number >", cmp("destination.port", ">", num(1024)), {}, true],
  ["number >=", cmp("destination.port", ">=", num(8444)), {}, false],
  ["number missing <", cmp("source.port", "<", num(100000)), { source: { ip: "10.1.2.3" } }, false],
  ["number missing >=", cmp("source.port", ">=", num(0)), { source: { ip: "10.1.2.3" } }, false],
  ["number missing !=", cmp("source.port", "!=", num(1)), { source: {} }, true],
  // bool
  ["authenticated truthy", truthy("caller.authenticated"), {}, true],
  ["unauthenticated truthy", truthy("caller.authenticated"), { caller: anonymous }, false],
  ["authenticated == false", cmp("caller.authenticated", "==", bool(false)), { caller: anonymous }, true],
  ["authenticated != true", cmp("caller.authenticated", "!=", bool(true)), {}, false],
  // time
  ["time.hour ==", cmp("time.hour", "==", num(14)), {}, true],
  ["time.hour < 9", cmp("time.hour", "<", num(9)), { time: "2025-06-11T08:59:59Z" }, true],
  ["time.hour at midnight", cmp("time.hour", "==", num(0)), { time: "2025-06-12T00:00:00Z" }, true],
  ["time.weekday", cmp("time.weekday", "==", str("wednesday")), {}, true],
  ["time.weekday in", cmp("time.weekday", "in", strs("saturday", "sunday")), { time: "2025-06-15T23:59:59Z" }, true],
  ["time.weekday before 1970", cmp("time.weekday", "==", str("wednesday")), { time: "1969-12-31T12:00:00Z" }, true],
  ["time not finite is missing", cmp("time.hour", ">=", num(0)), { time: Number.NaN }, false],
  // durations and timestamps
  ["expires_in < 30d", cmp("cert.expires_in", "<", dur(30 * 86_400_000)), { ...withCert({ notAfter: Date.parse("2025-06-20T00:00:00Z") }) }, true],
  ["expires_in > 30d", cmp("cert.expires_in", ">", dur(30 * 86_400_000)), { ...withCert({ notAfter: Date.parse("2025-06-20T00:00:00Z") }) }, false],
  ["expires_in negative after expiry", cmp("cert.expires_in", "<", dur(0)), { ...withCert({ notAfter: Date.parse("2025-06-01T00:00:00Z") }) }, true],
  ["expires_in without cert", cmp("cert.expires_in", "<", dur(86_400_000)), {}, false],
  ["not_after timestamp >", cmp("cert.not_after", ">", ts("2025-06-01T00:00:00Z")), withCert({}), true],
  ["not_before timestamp <=", cmp("cert.not_before", "<=", ts("2024-12-31T00:00:00Z")), withCert({}), false],
  ["not_before ==", cmp("cert.not_before", "==", ts("2025-01-01T00:00:00Z")), withCert({}), true],
  // certificate strings and lists
  ["cert cn ==", cmp("cert.subject.common_name", "==", str("api")), withCert({ subject: { commonName: "api", organization: [], organizationalUnit: [] } }), true],
  ["cert extension ==", cmp(attr("cert.extension", "1.3.6.1.4.1.99999.1"), "==", str("pci")), withCert({ extensions: { "1.3.6.1.4.1.99999.1": "pci" } }), true],
  ["cert extension missing !=", cmp(attr("cert.extension", "1.3.6.1.4.1.99999.1"), "!=", str("pci")), withCert({}), true],
  ["cert serial", cmp("cert.serial", "==", str("0a1b")), withCert({ serial: "0a1b" }), true],
  ["cert fingerprint starts_with", cmp("cert.fingerprint", "starts_with", str("abab")), withCert({}), true],
  ["list contains is membership", cmp("cert.subject.organizational_unit", "contains", str("payments")), withCert({ subject: { organization: [], organizationalUnit: ["ops", "payments"] } }), true],
  ["list contains is not substring", cmp("cert.subject.organizational_unit", "contains", str("payments")), withCert({ subject: { organization: [], organizationalUnit: ["payments-contractors"] } }), false],
  ["list == any element", cmp("cert.subject.organization", "==", str("Example")), withCert({ subject: { organization: ["Other", "Example"], organizationalUnit: [] } }), true],
  ["list != none equal", cmp("cert.subject.organization", "!=", str("Example")), withCert({ subject: { organization: ["Other"], organizationalUnit: [] } }), true],
  ["list != some equal", cmp("cert.subject.organization", "!=", str("Example")), withCert({ subject: { organization: ["Other", "Example"], organizationalUnit: [] } }), false],
  ["list in any element", cmp("cert.issuer.organization", "in", strs("CA1", "CA2")), withCert({ issuer: { organization: ["CA2"] } }), true],
  ["list matches any element", cmp("cert.san.dns", "matches", glob("*.example.com")), withCert({ san: { dns: ["a.test", "api.example.com"], uri: [], email: [] } }), true],
  ["list matches none", cmp("cert.san.dns", "matches", glob("*.example.com")), withCert({ san: { dns: ["a.test"], uri: [], email: [] } }), false],
  ["list ends_with", cmp("cert.san.email", "ends_with", str("@example.com")), withCert({ san: { dns: [], uri: [], email: ["x@example.com"] } }), true],
  ["list regex", cmp("cert.san.uri", "matches_regex", regex("^spiffe://")), withCert({ san: { dns: [], uri: ["spiffe://x/y"], email: [] } }), true],
  ["empty list is absent", absent("cert.san.dns"), withCert({}), true],
  ["empty list contains", cmp("cert.san.dns", "contains", str("x")), withCert({}), false],
  // addresses
  ["ipv4 in cidr", cmp("source.ip", "in", cidrs("10.0.0.0/8")), {}, true],
  ["ipv4 not in cidr", cmp("source.ip", "in", cidrs("192.168.0.0/16")), {}, false],
  ["ipv4 /32", cmp("source.ip", "in", cidrs("10.1.2.3/32")), {}, true],
  ["ipv4 /0", cmp("source.ip", "in", cidrs("0.0.0.0/0")), {}, true],
  ["ipv4 == address", cmp("source.ip", "==", cidrs("10.1.2.3")), {}, true],
  ["ipv4 != address", cmp("source.ip", "!=", cidrs("10.1.2.3")), {}, false],
  ["ipv6 in cidr", cmp("source.ip", "in", cidrs("2001:db8::/32")), { source: { ip: "2001:db8::5" } }, true],
  ["ipv6 not in cidr", cmp("source.ip", "in", cidrs("2001:db9::/32")), { source: { ip: "2001:db8::5" } }, false],
  ["ipv6 loopback", cmp("source.ip", "in", cidrs("::1/128")), { source: { ip: "::1" } }, true],
  ["ipv6 with zone", cmp("source.ip", "in", cidrs("fe80::/10")), { source: { ip: "fe80::1%eth0" } }, true],
  ["mapped ipv6 input matches ipv4 cidr", cmp("source.ip", "in", cidrs("10.0.0.0/8")), { source: { ip: "::ffff:10.9.9.9" } }, true],
  ["mapped cidr matches ipv4 input", cmp("source.ip", "in", cidrs("::ffff:10.0.0.0/104")), {}, true],
  ["mapped cidr excludes other ipv4", cmp("source.ip", "in", cidrs("::ffff:10.0.0.0/104")), { source: { ip: "11.0.0.1" } }, false],
  ["::/0 does not contain ipv4", cmp("source.ip", "in", cidrs("::/0")), {}, false],
  ["::/0 contains ipv6", cmp("source.ip", "in", cidrs("::/0")), { source: { ip: "2001:db8::5" } }, true],
  ["ipv4 cidr does not contain ipv6", cmp("source.ip", "in", cidrs("0.0.0.0/0")), { source: { ip: "2001:db8::5" } }, false],
  ["missing ip in", cmp("destination.ip", "in", cidrs("0.0.0.0/0")), { destination: {} }, false],
  ["missing ip !=", cmp("destination.ip", "!=", cidrs("10.0.0.1")), { destination: {} }, true],
  // presence
  ["present header", present(attr("request.headers", "x-env")), { headers: { "x-env": "" } }, true],
  ["absent header", absent(attr("request.headers", "x-env")), {}, true],
  ["present spiffe id", present("caller.spiffe_id"), {}, true],
  ["absent spiffe id when unauthenticated", absent("caller.spiffe_id"), { caller: anonymous }, true],
  ["present cert", present("cert.fingerprint"), withCert({}), true],
  ["absent cert", absent("cert.fingerprint"), {}, true],
  ["absent destination id", absent("destination.spiffe_id"), { destination: { ip: "10.0.0.1" } }, true],
  // missing attributes: every comparison false, `!=` (= not ==) true
  ["missing == ", cmp("caller.spiffe_id", "==", str(checkout)), { caller: anonymous }, false],
  ["missing !=", cmp("caller.trust_domain", "!=", str("prod.example.com")), { caller: anonymous }, true],
  ["missing in", cmp("caller.trust_domain", "in", strs("prod.example.com")), { caller: anonymous }, false],
  ["missing matches", cmp("caller.spiffe_id", "matches", glob("**")), { caller: anonymous }, false],
  ["missing starts_with", cmp("caller.spiffe_id", "starts_with", str("")), { caller: anonymous }, false],
  ["missing ends_with", cmp("caller.spiffe_id", "ends_with", str("")), { caller: anonymous }, false],
  ["missing contains", cmp("caller.spiffe_id", "contains", str("")), { caller: anonymous }, false],
  ["missing regex", cmp("caller.spiffe_id", "matches_regex", regex("")), { caller: anonymous }, false],
  ["not (missing == x)", not(cmp(attr("cert.extension", "1.2.3"), "==", str("pci"))), withCert({}), true],
];

describe("operators", () => {
  it.each(rows)("%s", (_name, cond, overrides, expected) => {
    expect(holds(cond, request(overrides))).toBe(expected);
  });

  it("`!=` is exactly `not ==` on every row with `==`", () => {
    for (const [, cond, overrides] of rows) {
      if (cond.kind !== "compare" || cond.op !== "==") continue;
      const input = request(overrides);
      expect(holds({ ...cond, op: "!=" }, input)).toBe(!holds(cond, input));
    }
  });
});

describe("attribute edge cases", () => {
  it("keyed lookups never read the prototype (`constructor`, `__proto__`, `toString`)", () => {
    for (const key of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      expect(holds(present(attr("request.headers", key)), request())).toBe(false);
      expect(holds(present(attr("request.query", key)), request())).toBe(false);
      expect(holds(present(attr("context", key)), request())).toBe(false);
      expect(holds(present(attr("cert.extension", key)), request(withCert({})))).toBe(false);
    }
    expect(holds(present(attr("request.headers", "constructor")), request({ headers: { constructor: "x" } }))).toBe(true);
  });

  it("an unauthenticated identity that still carries an id and certificate exposes neither", () => {
    const sneaky = { ...caller(checkout, {}), authenticated: false };
    expect(holds(cmp("caller.spiffe_id", "==", str(checkout)), request({ caller: sneaky }))).toBe(false);
    expect(holds(cmp("caller.trust_domain", "==", str("prod.example.com")), request({ caller: sneaky }))).toBe(false);
    expect(holds(present("cert.fingerprint"), request({ caller: sneaky }))).toBe(false);
  });

  it("legacy IPv4 spellings are not addresses: the decision fails closed", () => {
    const program = compile(policySet(policy("p", [allow("r", not(cmp("source.ip", "in", cidrs("127.0.0.0/8"))))])), { revision: "t" });
    for (const ip of ["0177.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "127.0.0.1 ", "127.0.0.01", "::ffff:0177.0.0.1", "[::1]"]) {
      const d = evaluate(program, request({ source: { ip } }));
      expect(d.allowed, ip).toBe(false);
      expect(d.reason, ip).toBe("internal_error");
    }
    expect(evaluate(program, request({ source: { ip: "127.0.0.1" } })).reason).toBe("no_matching_allow");
    expect(evaluate(program, request({ source: { ip: "10.0.0.1" } })).reason).toBe("allowed");
  });

  it("regexes run on RE2: a catastrophic-backtracking pattern is fast and correct", () => {
    const program = compile(policySet(policy("p", [allow("r", cmp("request.path", "matches_regex", regex("^(a+)+$")))])), { revision: "t" });
    const d = evaluate(program, request({ path: "a".repeat(5000) + "!" }));
    expect(d.reason).toBe("no_matching_allow");
    expect(evaluate(program, request({ path: "aaaa" })).reason).toBe("allowed");
  });
});
