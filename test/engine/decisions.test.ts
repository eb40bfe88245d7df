// Decision semantics: default deny, deny overrides allow, applicability,
// per-policy and global audit mode, determining rules, reasons, fail-closed
// errors, and the Program's public fields.
import { describe, expect, it } from "vitest";
import type { PolicyMode } from "../../src/dsl/checked.js";
import { compile } from "../../src/engine/compile.js";
import type { Decision } from "../../src/engine/decision.js";
import { evaluate } from "../../src/engine/evaluate.js";
import type { RequestInput } from "../../src/engine/input.js";
import type { Program } from "../../src/engine/program.js";
import {
  allow,
  and,
  attr,
  caller,
  cmp,
  deny,
  glob,
  konst,
  not,
  policy,
  policySet,
  present,
  request,
  str,
  type PolicySpec,
} from "./builders.js";

const payments = "spiffe://prod.example.com/ns/payments/sa/payment-api";
const orders = "spiffe://prod.example.com/ns/orders/sa/orders";
const toPayments = cmp("destination.spiffe_id", "==", str(payments));
const isGet = cmp("request.method", "==", str("GET"));
const isPost = cmp("request.method", "==", str("POST"));

function run(specs: PolicySpec[], input: RequestInput = request(), auditAll = false): Decision {
  const program = compile(policySet(...specs), { revision: "rev1" });
  const fast = evaluate(program, input, { auditAll });
  const full = evaluate(program, input, { auditAll, explain: true });
  const { explanation: _e, ...same } = full;
  expect(fast).toEqual(same);
  return fast;
}

const summary = (d: Decision) => ({
  allowed: d.allowed,
  outcome: d.outcome,
  enforced: d.enforced,
  reason: d.reason,
  determining: d.determining.map((r) => `${r.policy}/${r.rule}:${r.effect}:${r.mode}`),
});

describe("default deny and deny overrides", () => {
  it("allows when an allow rule matches and no deny does", () => {
    expect(summary(run([policy("p", [allow("get", isGet), deny("post", isPost)])]))).toEqual({
      allowed: true,
      outcome: "allow",
      enforced: true,
      reason: "allowed",
      determining: ["p/get:allow:enforce"],
    });
  });

  it("denies when no allow rule matches", () => {
    expect(summary(run([policy("p", [allow("post", isPost)])]))).toEqual({
      allowed: false,
      outcome: "deny",
      enforced: true,
      reason: "no_matching_allow",
      determining: [],
    });
  });

  it("a policy with only deny rules never allows", () => {
    expect(run([policy("p", [deny("post", isPost)])]).reason).toBe("no_matching_allow");
  });

  it("deny overrides allow, and every matching deny rule is determining, in source order", () => {
    const d = run([
      policy("a", [allow("get", isGet), deny("d1", isGet)]),
      policy("b", [deny("d2", konst(true)), allow("all", konst(true)), deny("d3", isPost)]),
    ]);
    expect(summary(d)).toEqual({
      allowed: false,
      outcome: "deny",
      enforced: true,
      reason: "denied_by_rule",
      determining: ["a/d1:deny:enforce", "b/d2:deny:enforce"],
    });
  });

  it("all matching allow rules are determining", () => {
    const d = run([policy("a", [allow("x", isGet), allow("y", konst(true))]), policy("b", [allow("z", isGet)])]);
    expect(d.determining.map((r) => r.rule)).toEqual(["x", "y", "z"]);
  });

  it("carries the revision", () => {
    expect(run([policy("p", [allow("get", isGet)])]).revision).toBe("rev1");
  });
});

describe("applicability", () => {
  it("no policy at all: deny no_applicable_policy", () => {
    expect(summary(run([]))).toEqual({ allowed: false, outcome: "deny", enforced: true, reason: "no_applicable_policy", determining: [] });
  });

  it("no policy applies: deny no_applicable_policy", () => {
    const d = run([policy("p", [allow("all", konst(true))], { applies: cmp("destination.spiffe_id", "==", str(orders)) })]);
    expect(summary(d)).toEqual({ allowed: false, outcome: "deny", enforced: true, reason: "no_applicable_policy", determining: [] });
  });

  it("rules of a policy that does not apply never count, not even its deny rules", () => {
    const d = run([
      policy("orders", [deny("everything", konst(true))], { applies: cmp("destination.spiffe_id", "==", str(orders)) }),
      policy("payments", [allow("get", isGet)], { applies: toPayments }),
    ]);
    expect(summary(d).determining).toEqual(["payments/get:allow:enforce"]);
    expect(d.allowed).toBe(true);
  });

  it("a deny rule of an applicable policy overrides an allow of another applicable policy", () => {
    const d = run([policy("global", [deny("no-staging", cmp("caller.trust_domain", "!=", str("prod.example.com")))]), policy("payments", [allow("get", isGet)], { applies: toPayments })], request({ caller: caller("spiffe://staging.example.com/ns/x/sa/y") }));
    expect(summary(d).determining).toEqual(["global/no-staging:deny:enforce"]);
    expect(d.allowed).toBe(false);
  });

  it("an applicable policy with no matching rule still makes the request governed (no_matching_allow)", () => {
    const d = run([policy("payments", [allow("post", isPost)], { applies: toPayments })]);
    expect(d.reason).toBe("no_matching_allow");
  });

  it("`applies when` that reads a missing attribute is false", () => {
    const d = run([policy("p", [allow("all", konst(true))], { applies: cmp(attr("request.headers", "x-tenant"), "==", str("a")) })]);
    expect(d.reason).toBe("no_applicable_policy");
  });
});

describe("modes", () => {
  const denying = (mode: PolicyMode, name = "p") => policy(name, [deny("no-get", isGet), allow("all", konst(true))], { mode });
  const allowing = (mode: PolicyMode, name = "p") => policy(name, [allow("get", isGet)], { mode });
  const silent = (mode: PolicyMode, name = "p") => policy(name, [allow("post", isPost)], { mode });

  it.each([
    ["enforce deny", [denying("enforce")], false, { allowed: false, outcome: "deny", enforced: true, reason: "denied_by_rule", determining: ["p/no-get:deny:enforce"] }],
    ["audit-only deny is let through", [denying("audit")], false, { allowed: true, outcome: "deny", enforced: false, reason: "denied_by_rule", determining: ["p/no-get:deny:audit"] }],
    ["audit-only no matching allow is let through", [silent("audit")], false, { allowed: true, outcome: "deny", enforced: false, reason: "no_matching_allow", determining: [] }],
    ["audit-only allow", [allowing("audit")], false, { allowed: true, outcome: "allow", enforced: true, reason: "allowed", determining: ["p/get:allow:audit"] }],
    [
      "enforce allow + audit deny: allowed, recorded as not enforced",
      [allowing("enforce", "e"), denying("audit", "a")],
      false,
      { allowed: true, outcome: "deny", enforced: false, reason: "denied_by_rule", determining: ["a/no-get:deny:audit"] },
    ],
    [
      "enforce deny + audit allow: denied",
      [denying("enforce", "e"), allowing("audit", "a")],
      false,
      { allowed: false, outcome: "deny", enforced: true, reason: "denied_by_rule", determining: ["e/no-get:deny:enforce"] },
    ],
    [
      "enforce without a matching allow + audit allow: denied, outcome allow, not enforced",
      [silent("enforce", "e"), allowing("audit", "a")],
      false,
      { allowed: false, outcome: "allow", enforced: false, reason: "allowed", determining: ["a/get:allow:audit"] },
    ],
    [
      "global audit: enforce deny is let through and every rule reports audit",
      [denying("enforce")],
      true,
      { allowed: true, outcome: "deny", enforced: false, reason: "denied_by_rule", determining: ["p/no-get:deny:audit"] },
    ],
    ["global audit: allow", [allowing("enforce")], true, { allowed: true, outcome: "allow", enforced: true, reason: "allowed", determining: ["p/get:allow:audit"] }],
    ["global audit: no applicable policy is let through", [], true, { allowed: true, outcome: "deny", enforced: false, reason: "no_applicable_policy", determining: [] }],
  ] as const)("%s", (_name, specs, auditAll, expected) => {
    expect(summary(run([...specs], request(), auditAll))).toEqual(expected);
  });

  it("audit mode of one policy does not soften another policy's enforced deny", () => {
    const d = run([denying("enforce", "e"), denying("audit", "a")]);
    expect(summary(d)).toEqual({
      allowed: false,
      outcome: "deny",
      enforced: true,
      reason: "denied_by_rule",
      determining: ["e/no-get:deny:enforce", "a/no-get:deny:audit"],
    });
  });
});

describe("fail closed", () => {
  const program = compile(policySet(policy("p", [allow("all", cmp(attr("request.headers", "x-a"), "!=", str("z")))])), { revision: "rev1" });

  function throwingInput(): RequestInput {
    const base = request();
    return { ...base, request: Object.defineProperty({ ...base.request }, "headers", { get: () => { throw new Error("boom"); } }) };
  }

  it("a throwing input yields internal_error, never an allow", () => {
    for (const options of [{}, { explain: true }, { auditAll: true }, { auditAll: true, explain: true }]) {
      const d = evaluate(program, throwingInput(), options);
      expect(d).toMatchObject({ allowed: false, outcome: "deny", reason: "internal_error", revision: "rev1", determining: [] });
      expect(d.detail).toContain("boom");
    }
  });

  it("a malformed input (missing request object) yields internal_error", () => {
    const broken = { ...request(), request: undefined } as unknown as RequestInput;
    expect(evaluate(program, broken).reason).toBe("internal_error");
  });

  it("a program not built by compile yields internal_error", () => {
    const fake: Program = { revision: "x", needsCertificate: false, policies: [], ruleCount: 0 };
    const d = evaluate(fake, request());
    expect(d).toMatchObject({ allowed: false, reason: "internal_error", revision: "x" });
  });

  it("a later decision is unaffected by an earlier failure", () => {
    evaluate(program, throwingInput());
    expect(evaluate(program, request()).reason).toBe("allowed");
  });

  it("a wrong-typed input value fails closed on the indexed and the explain path alike", () => {
    const p = compile(policySet(policy("p", [deny("admin", cmp("request.path", "matches", glob("/admin/**"))), allow("all", konst(true))])), { revision: "rev1" });
    const base = request();
    const odd = { ...base, request: { ...base.request, path: 42 } } as unknown as RequestInput;
    for (const options of [{}, { explain: true }]) {
      const d = evaluate(p, odd, options);
      expect(d).toMatchObject({ allowed: false, reason: "internal_error" });
      expect(d.detail).toContain("request.path");
    }
  });

  it("a thrown non-Error is reported too", () => {
    const base = request();
    const input = { ...base, request: Object.defineProperty({ ...base.request }, "headers", { get: () => { throw "plain"; } }) };
    expect(evaluate(program, input).detail).toContain("plain");
  });
});

describe("program", () => {
  it("exposes revision, policies, rule count and whether certificates are needed", () => {
    const withCert = compile(
      policySet(
        policy("a", [allow("x", isGet), deny("y", isPost)], { file: "a.ward" }),
        policy("b", [allow("z", isGet)], { mode: "audit", file: "b.ward", applies: present(attr("cert.extension", "1.2.3")) }),
      ),
      { revision: "abc" },
    );
    expect(withCert.revision).toBe("abc");
    expect(withCert.ruleCount).toBe(3);
    expect(withCert.policies).toEqual([
      { name: "a", file: "a.ward", mode: "enforce", ruleCount: 2 },
      { name: "b", file: "b.ward", mode: "audit", ruleCount: 1 },
    ]);
    expect(withCert.needsCertificate).toBe(true);
    const without = compile(policySet(policy("a", [allow("x", and(isGet, not(cmp("caller.spiffe_id", "matches", glob("spiffe://x/**")))))])), { revision: "abc" });
    expect(without.needsCertificate).toBe(false);
  });

  it("is immutable", () => {
    const p = compile(policySet(policy("a", [allow("x", isGet)])), { revision: "abc" });
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.policies)).toBe(true);
  });

  it("compiling does not depend on evaluation history (two programs, same answers)", () => {
    const set = policySet(policy("a", [allow("x", isGet)]));
    const p1 = compile(set, { revision: "1" });
    const p2 = compile(set, { revision: "1" });
    for (let k = 0; k < 5; k++) evaluate(p1, request());
    expect(evaluate(p1, request({ method: "POST" }))).toEqual(evaluate(p2, request({ method: "POST" })));
  });
});
