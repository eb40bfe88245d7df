// Explanations (the first failing condition per rule, with source text, span
// and actual value) and coverage recording.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.js";
import { createCoverageRecorder, summarizeCoverage } from "../../src/engine/coverage.js";
import { evaluate } from "../../src/engine/evaluate.js";
import {
  allow,
  and,
  anonymous,
  attr,
  caller,
  cmp,
  deny,
  glob,
  not,
  or,
  policy,
  policySet,
  request,
  str,
  strs,
  ts,
} from "./builders.js";

const payments = "spiffe://prod.example.com/ns/payments/sa/payment-api";
const orders = "spiffe://prod.example.com/ns/orders/sa/orders";
const checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout";

const set = policySet(
  policy(
    "payments-api",
    [
      allow("checkout may charge", and(cmp("caller.spiffe_id", "==", str(checkout)), cmp("request.method", "==", str("POST")), cmp("request.path", "==", str("/api/v1/charge")))),
      allow("readers may read", and(cmp("caller.spiffe_id", "matches", glob("spiffe://prod.example.com/ns/*/sa/reporting")), cmp("request.method", "in", strs("GET", "HEAD")))),
      deny("no cross-environment calls", cmp("caller.trust_domain", "!=", str("prod.example.com"))),
      deny("cards need a pci workload", and(cmp("request.path", "starts_with", str("/api/v1/cards/")), not(cmp(attr("cert.extension", "1.3.6.1.4.1.99999.1"), "==", str("pci"))))),
      allow("either", or(cmp("request.method", "==", str("PUT")), cmp("request.method", "==", str("PATCH")))),
      allow("old cert", cmp("cert.not_after", "<", ts("2020-01-01T00:00:00Z"))),
    ],
    { applies: cmp("destination.spiffe_id", "==", str(payments)), file: "policies/payments.ward" },
  ),
  policy("orders-api", [allow("all", cmp("request.method", "==", str("GET")))], {
    applies: and(cmp("destination.spiffe_id", "==", str(orders)), cmp("request.method", "==", str("GET"))),
    file: "policies/orders.ward",
  }),
);
const program = compile(set, { revision: "r" });
const source = set.sources.get("policies/payments.ward")!;

describe("explanation", () => {
  it("explains every rule of an applicable policy and why others do not apply", () => {
    const d = evaluate(program, request({ method: "POST", path: "/api/v1/cards/1", caller: caller(checkout, {}) }), { explain: true });
    expect(d.outcome).toBe("deny");
    const [pay, ord] = d.explanation!.policies;
    expect(pay).toMatchObject({ policy: "payments-api", file: "policies/payments.ward", mode: "enforce", applicable: true });
    expect(ord).toMatchObject({
      policy: "orders-api",
      applicable: false,
      rules: [],
      notApplicableBecause: { text: `destination.spiffe_id == "${orders}"`, actual: payments },
    });
    const byName = Object.fromEntries(pay!.rules.map((r) => [r.rule, r]));
    expect(byName["checkout may charge"]).toMatchObject({ matched: false, failed: { text: 'request.path == "/api/v1/charge"', actual: "/api/v1/cards/1" } });
    expect(byName["readers may read"]).toMatchObject({
      matched: false,
      failed: { text: 'caller.spiffe_id matches "spiffe://prod.example.com/ns/*/sa/reporting"', actual: checkout },
    });
    expect(byName["no cross-environment calls"]).toMatchObject({ matched: false, failed: { text: 'caller.trust_domain != "prod.example.com"', actual: "prod.example.com" } });
    expect(byName["cards need a pci workload"]).toEqual({ rule: "cards need a pci workload", effect: "deny", matched: true, span: expect.any(Object) });
    // `or`: all operands false; the first one is reported.
    expect(byName["either"]).toMatchObject({ matched: false, failed: { text: 'request.method == "PUT"', actual: "POST" } });
    // Timestamps are shown in RFC 3339.
    expect(byName["old cert"]).toMatchObject({ failed: { actual: "2025-12-31T00:00:00.000Z" } });
  });

  it("spans point at the condition in the source", () => {
    const d = evaluate(program, request({ method: "DELETE" }), { explain: true });
    for (const r of d.explanation!.policies[0]!.rules) {
      expect(source.slice(r.span.start.offset, r.span.end.offset)).toMatch(/^(allow|deny) "/);
      if (r.failed) {
        expect(source.slice(r.failed.span.start.offset, r.failed.span.end.offset)).toBe(r.failed.text);
        const line = source.split("\n")[r.failed.span.start.line - 1]!;
        expect(line.slice(r.failed.span.start.column - 1)).toContain(r.failed.text);
      }
    }
  });

  it("a missing attribute has no actual value; `not` reports itself with the value inside", () => {
    const d = evaluate(program, request({ caller: anonymous, path: "/api/v1/cards/1" }), { explain: true });
    const rules = Object.fromEntries(d.explanation!.policies[0]!.rules.map((r) => [r.rule, r]));
    expect(rules["checkout may charge"]!.failed).toEqual({ text: `caller.spiffe_id == "${checkout}"`, span: expect.any(Object) });
    const pci = evaluate(program, request({ path: "/api/v1/cards/1", caller: caller(checkout, { extensions: { "1.3.6.1.4.1.99999.1": "pci" } }) }), { explain: true });
    const rule = pci.explanation!.policies[0]!.rules.find((r) => r.rule === "cards need a pci workload")!;
    expect(rule.failed).toEqual({ text: 'not (cert.extension["1.3.6.1.4.1.99999.1"] == "pci")', span: expect.any(Object), actual: "pci" });
  });

  it("the applies-when leaf that failed is the first false one", () => {
    const d = evaluate(program, request({ method: "POST", destination: { spiffeId: orders } }), { explain: true });
    expect(d.explanation!.policies[1]).toMatchObject({ applicable: false, notApplicableBecause: { text: 'request.method == "GET"', actual: "POST" } });
  });

  it("global audit reports every policy in audit mode", () => {
    const d = evaluate(program, request(), { explain: true, auditAll: true });
    expect(d.explanation!.policies.map((p) => p.mode)).toEqual(["audit", "audit"]);
  });

  it("is absent unless asked for", () => {
    expect(evaluate(program, request()).explanation).toBeUndefined();
  });
});

describe("coverage", () => {
  it("records matched rules and both outcomes of each condition, per file", () => {
    const coverage = createCoverageRecorder(program);
    evaluate(program, request({ method: "POST", path: "/api/v1/charge" }), { coverage });
    evaluate(program, request({ method: "GET", destination: { spiffeId: orders } }), { coverage });
    const s = summarizeCoverage(coverage);
    expect(s.decisions).toBe(2);
    expect(s.files.map((f) => f.file)).toEqual(["policies/orders.ward", "policies/payments.ward"]);
    const [ord, pay] = s.files;
    expect(ord!.rules).toEqual({ covered: 1, total: 1, percent: 100 });
    expect(ord!.unmatchedRules).toEqual([]);
    expect(ord!.neverAppliedPolicies).toEqual([]);
    // orders: dest== seen true and false; method== (applies) seen true only (short-circuit skipped it on the other request); rule's GET seen true only.
    expect(ord!.partialConditions.map((c) => [c.text, c.seenTrue, c.seenFalse, c.rule ?? null])).toEqual([
      ['request.method == "GET"', true, false, null],
      ['request.method == "GET"', true, false, "all"],
    ]);
    expect(ord!.conditions).toEqual({ covered: 4, total: 6, percent: 66.7 });
    expect(pay!.rules.covered).toBe(1);
    expect(pay!.unmatchedRules.map((r) => r.rule)).toEqual([
      "readers may read",
      "no cross-environment calls",
      "cards need a pci workload",
      "either",
      "old cert",
    ]);
    const charge = pay!.partialConditions.find((c) => c.text === 'request.path == "/api/v1/charge"')!;
    expect(charge).toMatchObject({ rule: "checkout may charge", seenTrue: true, seenFalse: false });
    expect(source.slice(charge.span.start.offset, charge.span.end.offset)).toBe(charge.text);
    expect(s.rules).toEqual({ covered: 2, total: 7, percent: 28.6 });
  });

  it("reaches 100% when every rule matched and every condition went both ways", () => {
    const small = compile(policySet(policy("p", [allow("get", cmp("request.method", "==", str("GET")))])), { revision: "r" });
    const coverage = createCoverageRecorder(small);
    evaluate(small, request({ method: "GET" }), { coverage });
    expect(summarizeCoverage(coverage).conditions.percent).toBe(50);
    evaluate(small, request({ method: "POST" }), { coverage });
    const s = summarizeCoverage(coverage);
    expect(s.rules.percent).toBe(100);
    expect(s.conditions.percent).toBe(100);
    expect(s.files[0]!.partialConditions).toEqual([]);
  });

  it("recording does not change decisions", () => {
    const coverage = createCoverageRecorder(program);
    for (const input of [request(), request({ method: "POST", path: "/api/v1/charge" }), request({ caller: caller("spiffe://staging.example.com/a") })]) {
      expect(evaluate(program, input, { coverage })).toEqual(evaluate(program, input));
    }
  });

  it("lists policies that never applied", () => {
    const coverage = createCoverageRecorder(program);
    evaluate(program, request(), { coverage });
    expect(summarizeCoverage(coverage).files[0]!.neverAppliedPolicies).toEqual(["orders-api"]);
  });

  it("a recorder of another program fails the decision closed", () => {
    const other = compile(set, { revision: "r" });
    const d = evaluate(program, request(), { coverage: createCoverageRecorder(other) });
    expect(d.reason).toBe("internal_error");
  });
});
