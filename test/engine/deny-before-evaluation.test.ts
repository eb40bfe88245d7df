import { describe, expect, it } from "vitest";
import { denyBeforeEvaluation, isWardError, type DecisionReason } from "../../src/engine/decision.js";

// Ward's own failures deny even in audit mode (fail closed); input refusals follow the audit switch.
describe("denyBeforeEvaluation", () => {
  const errors: DecisionReason[] = ["internal_error", "timeout", "overloaded", "no_policies_loaded", "audit_unavailable"];
  const inputRefusals: DecisionReason[] = ["malformed_path", "malformed_request", "request_too_large"];

  it.each(errors)("denies `%s` even under the global audit switch", (reason) => {
    expect(isWardError(reason)).toBe(true);
    const d = denyBeforeEvaluation(reason, "r", "detail", { auditAll: true });
    expect(d).toMatchObject({ allowed: false, outcome: "deny", enforced: true, reason, detail: "detail" });
  });

  it.each(inputRefusals)("lets `%s` through only in audit mode, recorded as a would-deny", (reason) => {
    expect(isWardError(reason)).toBe(false);
    expect(denyBeforeEvaluation(reason, "r")).toMatchObject({ allowed: false, enforced: true });
    expect(denyBeforeEvaluation(reason, "r", undefined, { auditAll: true })).toMatchObject({ allowed: true, outcome: "deny", enforced: false });
  });

  it("does not count policy verdicts as Ward errors", () => {
    for (const reason of ["allowed", "denied_by_rule", "no_matching_allow", "no_applicable_policy", "unauthenticated"]) {
      expect(isWardError(reason)).toBe(false);
    }
  });
});
