/**
 * The decision semantics in one function (docs/language.md, "Decision
 * semantics"; the shape follows Cedar's authorizer): given the matching rules
 * of the applicable policies, produce the `Decision`.
 *
 * - Default deny; deny overrides allow.
 * - `outcome` is the verdict over ALL applicable policies (audit-mode ones
 *   included, as if they were enforced): `deny` when any deny rule matched
 *   (`denied_by_rule`, determining = every matching deny rule), else `allow`
 *   when any allow rule matched (`allowed`, determining = the matching allow
 *   rules), else `deny` (`no_matching_allow`, no determining rules).
 * - `allowed` (the answer Envoy gets): under the global audit switch always
 *   true; otherwise the same verdict over the applicable ENFORCE-mode policies
 *   only; when no enforce-mode policy applies but audit-mode ones do, true
 *   (audit never blocks). No applicable policy at all: deny with
 *   `no_applicable_policy` (let through only under the global audit switch).
 * - `enforced` is `allowed === (outcome === "allow")`: false exactly when audit
 *   mode changed the answer. (Normally that is audit mode letting a denial
 *   through; the one other case is an enforce-mode policy denying for lack of
 *   an allow while only an audit-mode policy's allow rule matched: `outcome`
 *   is then `allow`, `allowed` false.)
 * - `reason` and `determining` describe `outcome`. Each `RuleRef.mode` is the
 *   rule's policy mode, or `audit` for every rule under the global switch.
 */
import type { Decision, DecisionReason, Explanation, RuleRef } from "./decision.js";
import type { CompiledRule } from "./internal.js";

/** What the evaluation found: matching rules (sorted by id) of applicable policies, and which modes applied. */
export interface Findings {
  readonly matched: readonly CompiledRule[];
  readonly anyEnforceApplies: boolean;
  readonly anyAuditApplies: boolean;
}

const NONE: readonly RuleRef[] = Object.freeze([]);

/** Turns findings into a decision. */
export function decideVerdict(f: Findings, revision: string, auditAll: boolean, explanation?: Explanation): Decision {
  let allowed: boolean;
  let outcome: "allow" | "deny";
  let reason: DecisionReason;
  let determining: readonly RuleRef[] = NONE;
  if (!f.anyEnforceApplies && !f.anyAuditApplies) {
    outcome = "deny";
    reason = "no_applicable_policy";
    allowed = auditAll;
  } else {
    let denies = 0;
    let allows = 0;
    let enforceDeny = false;
    let enforceAllow = false;
    for (const r of f.matched) {
      if (r.effect === "deny") {
        denies++;
        if (r.enforced) enforceDeny = true;
      } else {
        allows++;
        if (r.enforced) enforceAllow = true;
      }
    }
    if (denies > 0) {
      outcome = "deny";
      reason = "denied_by_rule";
    } else if (allows > 0) {
      outcome = "allow";
      reason = "allowed";
    } else {
      outcome = "deny";
      reason = "no_matching_allow";
    }
    if (denies > 0 || allows > 0) {
      const effect = denies > 0 ? "deny" : "allow";
      const refs: RuleRef[] = [];
      for (const r of f.matched) {
        if (r.effect !== effect) continue;
        refs.push(auditAll ? r.auditRef : r.ref);
      }
      determining = refs;
    }
    if (auditAll) allowed = true;
    else if (f.anyEnforceApplies) allowed = !enforceDeny && enforceAllow;
    else allowed = true;
  }
  const enforced = allowed === (outcome === "allow");
  return explanation === undefined
    ? { allowed, outcome, enforced, determining, reason, revision }
    : { allowed, outcome, enforced, determining, reason, revision, explanation };
}
