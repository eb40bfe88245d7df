import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DecisionOutcome } from "../../src/decide.js";
import type { Decision, DecisionReason, RuleRef } from "../../src/engine/decision.js";
import type { Identity } from "../../src/engine/input.js";
import {
  answerHttpStatus,
  CHECK_RESPONSE_LAYOUT,
  createCheckResponseEncoder,
  genericDenyReason,
  sanitizeHeaderValue,
  type AnswerOptions,
} from "../../src/ext-authz/check-response.js";
import { verifyWireLayout } from "../../src/ext-authz/protos.js";
import { answerHeaders, answerMetadata, decodeCheckResponse } from "./envoy.js";

const OPTIONS: AnswerOptions = {
  callerHeader: "x-ward-caller",
  wouldDenyHeader: "x-ward-would-deny",
  decisionIdHeader: "x-ward-decision-id",
  exposeDenyReason: false,
};

const CHECKOUT = "spiffe://prod.example.com/ns/checkout/sa/checkout";
const caller: Identity = { authenticated: true, spiffeId: CHECKOUT, trustDomain: "prod.example.com", path: "/ns/checkout/sa/checkout", source: "principal" };
const anonymous: Identity = { authenticated: false, unauthenticatedReason: "no_identity" };
const rule = (policy: string, name: string, effect: "allow" | "deny" = "allow", mode: "enforce" | "audit" = "enforce"): RuleRef => ({ policy, rule: name, effect, mode });

function decision(partial: Partial<Decision> & Pick<Decision, "allowed" | "outcome" | "reason">): Decision {
  return { enforced: true, determining: [], revision: "rev1", ...partial };
}

function encode(outcome: DecisionOutcome, id = "dec-1", options = OPTIONS) {
  return decodeCheckResponse(createCheckResponseEncoder(options).encode(outcome, id));
}

describe("CheckResponse encoder", () => {
  it("uses the field numbers of the official protos", () => {
    expect(verifyWireLayout(CHECK_RESPONSE_LAYOUT)).toEqual([]);
  });

  it("allows with OK, sets the decision id and caller upstream, and removes the would-deny header", () => {
    const r = encode({ decision: decision({ allowed: true, outcome: "allow", reason: "allowed", determining: [rule("payments-api", "checkout may charge")] }), identity: caller });
    expect(r.status?.code ?? 0).toBe(0);
    expect(r.http_response).toBe("ok_response");
    expect(answerHeaders(r)).toEqual({ "x-ward-decision-id": "dec-1", "x-ward-caller": CHECKOUT });
    for (const h of r.ok_response!.headers!) {
      // `append: false` (an empty BoolValue) replaces a client copy in every Envoy version; append_action says the same.
      expect(h.append).toEqual({});
      expect(h.append_action).toBe("OVERWRITE_IF_EXISTS_OR_ADD");
    }
    expect(r.ok_response!.headers_to_remove).toEqual(["x-ward-would-deny"]);
    expect(answerMetadata(r)).toEqual({
      decision_id: "dec-1",
      caller: CHECKOUT,
      allowed: true,
      outcome: "allow",
      enforced: true,
      would_deny: false,
      reason: "allowed",
      revision: "rev1",
      policy: "payments-api",
      rule: "checkout may charge",
    });
  });

  it("removes the caller header when an allowed caller has no identity, so a client-supplied one cannot pass", () => {
    const r = encode({ decision: decision({ allowed: true, outcome: "allow", reason: "allowed" }), identity: anonymous });
    expect(answerHeaders(r)).toEqual({ "x-ward-decision-id": "dec-1" });
    expect(r.ok_response!.headers_to_remove!.sort()).toEqual(["x-ward-caller", "x-ward-would-deny"]);
    expect(answerMetadata(r)["caller"]).toBeUndefined();
  });

  it("marks an audit-mode would-deny upstream and keeps the decision visible in metadata", () => {
    const d = decision({ allowed: true, outcome: "deny", enforced: false, reason: "denied_by_rule", determining: [rule("payments-api", "only checkout may charge", "deny", "audit")] });
    const r = encode({ decision: d, identity: caller });
    expect(r.http_response).toBe("ok_response");
    expect(answerHeaders(r)).toEqual({
      "x-ward-decision-id": "dec-1",
      "x-ward-caller": CHECKOUT,
      "x-ward-would-deny": "denied_by_rule payments-api/only checkout may charge",
    });
    expect(r.ok_response!.headers_to_remove ?? []).toEqual([]);
    expect(answerMetadata(r)).toMatchObject({ allowed: true, outcome: "deny", enforced: false, would_deny: true, reason: "denied_by_rule" });
  });

  it("denies with PERMISSION_DENIED, HTTP 403, the decision id header and a generic JSON body", () => {
    const d = decision({ allowed: false, outcome: "deny", reason: "denied_by_rule", detail: "secret detail", determining: [rule("admin", "ops only", "deny")] });
    const r = encode({ decision: d, identity: caller }, "w-abc-1");
    expect(r.status?.code).toBe(7);
    expect(r.http_response).toBe("denied_response");
    expect(r.denied_response!.status?.code).toBe("Forbidden");
    expect(answerHeaders(r)).toEqual({ "content-type": "application/json", "x-ward-decision-id": "w-abc-1" });
    expect(JSON.parse(r.denied_response!.body!)).toEqual({ decision_id: "w-abc-1", reason: "forbidden" });
    expect(answerMetadata(r)).toMatchObject({ decision_id: "w-abc-1", allowed: false, outcome: "deny", policy: "admin", rule: "ops only" });
  });

  it("answers 401 when the caller has no valid identity", () => {
    const r = encode({ decision: decision({ allowed: false, outcome: "deny", reason: "no_matching_allow" }), identity: anonymous });
    expect(r.status?.code).toBe(7);
    expect(r.denied_response!.status?.code).toBe("Unauthorized");
    expect(JSON.parse(r.denied_response!.body!)).toEqual({ decision_id: "dec-1", reason: "unauthenticated" });
  });

  it("denies errors with PERMISSION_DENIED and 403 (never another gRPC code), whatever the identity", () => {
    for (const reason of ["internal_error", "timeout", "overloaded", "no_policies_loaded", "audit_unavailable"] as const) {
      const r = encode({ decision: decision({ allowed: false, outcome: "deny", reason, detail: "boom at x.ts:1" }), identity: anonymous, error: "boom" });
      expect(r.status?.code).toBe(7);
      expect(r.denied_response!.status?.code).toBe("Forbidden");
      expect(JSON.parse(r.denied_response!.body!)).toEqual({ decision_id: "dec-1", reason: "authorization unavailable" });
    }
  });

  it("exposes the reason code, rule and detail only when configured, and never an internal error's message", () => {
    const options = { ...OPTIONS, exposeDenyReason: true };
    const byRule = encode({ decision: decision({ allowed: false, outcome: "deny", reason: "malformed_path", detail: "encoded slash `%2F`" }), identity: caller }, "id", options);
    expect(JSON.parse(byRule.denied_response!.body!)).toEqual({ decision_id: "id", reason: "malformed_path", detail: "encoded slash `%2F`" });
    const denied = encode({ decision: decision({ allowed: false, outcome: "deny", reason: "denied_by_rule", determining: [rule("p", "r \"q\"", "deny")] }), identity: caller }, "id", options);
    expect(JSON.parse(denied.denied_response!.body!)).toEqual({ decision_id: "id", reason: "denied_by_rule", policy: "p", rule: 'r "q"' });
    const internal = encode({ decision: decision({ allowed: false, outcome: "deny", reason: "internal_error", detail: "TypeError at evaluate.ts:12" }), identity: caller }, "id", options);
    expect(JSON.parse(internal.denied_response!.body!)).toEqual({ decision_id: "id", reason: "internal_error" });
  });

  it("uses the configured header names", () => {
    const options = { ...OPTIONS, callerHeader: "x-peer-identity", wouldDenyHeader: "x-authz-audit" };
    const r = encode({ decision: decision({ allowed: true, outcome: "allow", reason: "allowed" }), identity: caller }, "i", options);
    expect(answerHeaders(r)).toEqual({ "x-ward-decision-id": "i", "x-peer-identity": CHECKOUT });
    expect(r.ok_response!.headers_to_remove).toEqual(["x-authz-audit"]);
  });

  it("keeps header values Envoy accepts (no control characters)", () => {
    expect(sanitizeHeaderValue("a\r\nb\u0000c\td")).toBe("a??b?c\td");
  });

  it("answers exactly as a fresh encoder when consecutive decisions differ in one field only", () => {
    const base: Decision = decision({ allowed: true, outcome: "allow", reason: "allowed", determining: [rule("payments", "checkout may charge")], detail: "d1" });
    const variants: DecisionOutcome[] = [
      { decision: base, identity: caller },
      { decision: { ...base, revision: "rev2" }, identity: caller },
      { decision: { ...base, determining: [rule("payments", "checkout may refund")] }, identity: caller },
      { decision: { ...base, determining: [rule("orders", "checkout may charge")] }, identity: caller },
      { decision: { ...base, determining: [] }, identity: caller },
      { decision: { ...base, enforced: false }, identity: caller },
      { decision: { ...base, outcome: "deny", reason: "no_matching_allow" }, identity: caller },
      { decision: { ...base, allowed: false, outcome: "deny", reason: "denied_by_rule" }, identity: caller },
      { decision: { ...base, allowed: false, outcome: "deny", reason: "denied_by_rule", detail: "d2" }, identity: caller },
      { decision: { ...base, allowed: false, outcome: "deny", reason: "denied_by_rule" }, identity: anonymous },
      { decision: base, identity: anonymous },
      { decision: base, identity: caller },
    ];
    for (const options of [OPTIONS, { ...OPTIONS, exposeDenyReason: true }]) {
      const shared = createCheckResponseEncoder(options);
      for (const outcome of [...variants, ...variants.slice().reverse()]) {
        expect(shared.encode(outcome, "dec-1")).toEqual(createCheckResponseEncoder(options).encode(outcome, "dec-1"));
      }
    }
  });

  it("encodes every field correctly for generated decisions, reusing cached shapes (property)", () => {
    const reasons: DecisionReason[] = ["allowed", "denied_by_rule", "no_matching_allow", "no_applicable_policy", "malformed_path", "malformed_request", "request_too_large", "unauthenticated", "no_policies_loaded", "overloaded", "timeout", "internal_error", "audit_unavailable"];
    const name = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 8 }), fc.constant("x".repeat(200)));
    const arbitrary = fc.record({
      allowed: fc.boolean(),
      outcome: fc.constantFrom("allow" as const, "deny" as const),
      enforced: fc.boolean(),
      reason: fc.constantFrom(...reasons),
      determining: fc.array(fc.record({ policy: name, rule: name, effect: fc.constantFrom("allow" as const, "deny" as const), mode: fc.constantFrom("enforce" as const, "audit" as const) }), { maxLength: 2 }),
      revision: fc.stringMatching(/^[0-9a-f]{16}$/),
      detail: fc.option(name, { nil: undefined }),
      authenticated: fc.boolean(),
      id: fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/), fc.constant("r".repeat(128))),
      expose: fc.boolean(),
    });
    const encoders = { false: createCheckResponseEncoder(OPTIONS), true: createCheckResponseEncoder({ ...OPTIONS, exposeDenyReason: true }) };
    fc.assert(
      fc.property(fc.array(arbitrary, { minLength: 1, maxLength: 4 }), (cases) => {
        for (const c of cases) {
          const d: Decision = { allowed: c.allowed, outcome: c.outcome, enforced: c.enforced, reason: c.reason, determining: c.determining, revision: c.revision, ...(c.detail !== undefined ? { detail: c.detail } : {}) };
          const identity = c.authenticated ? caller : anonymous;
          const outcome: DecisionOutcome = { decision: d, identity };
          const r = decodeCheckResponse(encoders[String(c.expose) as "true" | "false"].encode(outcome, c.id));
          const meta = answerMetadata(r);
          expect(meta["decision_id"]).toBe(c.id);
          expect(meta["allowed"]).toBe(c.allowed);
          expect(meta["outcome"]).toBe(c.outcome);
          expect(meta["enforced"]).toBe(c.enforced);
          expect(meta["reason"]).toBe(c.reason);
          expect(meta["revision"]).toBe(c.revision);
          expect(meta["policy"]).toBe(c.determining[0]?.policy);
          expect(meta["rule"]).toBe(c.determining[0]?.rule);
          expect(meta["caller"]).toBe(c.authenticated ? CHECKOUT : undefined);
          const headers = answerHeaders(r);
          expect(headers["x-ward-decision-id"]).toBe(c.id);
          if (c.allowed) {
            expect(r.status?.code ?? 0).toBe(0);
            expect(r.http_response).toBe("ok_response");
            const removed = r.ok_response!.headers_to_remove ?? [];
            // Envoy removes after it adds: a header Ward sets must never be in the removal list.
            for (const set of Object.keys(headers)) expect(removed).not.toContain(set);
            expect(new Set([...Object.keys(headers), ...removed])).toEqual(new Set(["x-ward-decision-id", "x-ward-caller", "x-ward-would-deny"]));
            expect(headers["x-ward-caller"]).toBe(c.authenticated ? CHECKOUT : undefined);
            expect(headers["x-ward-would-deny"] !== undefined).toBe(c.outcome === "deny");
          } else {
            const status = answerHttpStatus(outcome);
            expect(r.status?.code).toBe(7);
            expect(r.denied_response!.status?.code).toBe(status === 401 ? "Unauthorized" : "Forbidden");
            const body = JSON.parse(r.denied_response!.body!) as Record<string, string>;
            expect(body["decision_id"]).toBe(c.id);
            expect(body["reason"]).toBe(c.expose ? c.reason : genericDenyReason(c.reason, status));
            if (!c.expose) expect(Object.keys(body).sort()).toEqual(["decision_id", "reason"]);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
