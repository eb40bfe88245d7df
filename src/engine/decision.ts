/**
 * The decision: a plain value that every shell renders (gRPC answer, audit
 * record, CLI JSON, HTTP JSON). Built by `evaluate`, or by `denyBeforeEvaluation`
 * when the request is refused before the policies run (malformed path,
 * oversized input, internal error).
 */
import type { Span } from "../diagnostics.js";
import type { Effect, PolicyMode } from "../dsl/checked.js";

/** A rule that determined the outcome. */
export interface RuleRef {
  readonly policy: string;
  readonly rule: string;
  readonly effect: Effect;
  readonly mode: PolicyMode;
}

/**
 * Stable reason codes. `allowed`: an allow rule matched and no deny did;
 * `denied_by_rule`: a deny rule matched; `no_matching_allow`: applicable
 * policies exist but none of their allow rules matched; `no_applicable_policy`:
 * no policy applies to the request; the others come from before evaluation.
 */
export type DecisionReason =
  | "allowed"
  | "denied_by_rule"
  | "no_matching_allow"
  | "no_applicable_policy"
  | "malformed_path"
  | "malformed_request"
  | "request_too_large"
  | "unauthenticated"
  | "no_policies_loaded"
  | "overloaded"
  | "timeout"
  | "audit_unavailable"
  | "internal_error";

/** Why one rule or applicability condition did not match: the first condition that was false. */
export interface FailedCondition {
  /** The condition's source text, e.g. `request.method == "POST"`. */
  readonly text: string;
  readonly span: Span;
  /** The value the attribute had (undefined when it was missing). */
  readonly actual?: unknown;
}

/** Per-rule explanation. */
export interface RuleExplanation {
  readonly rule: string;
  readonly effect: Effect;
  readonly matched: boolean;
  readonly span: Span;
  /** For a rule that did not match: the first condition that failed. */
  readonly failed?: FailedCondition;
}

/** Per-policy explanation. */
export interface PolicyExplanation {
  readonly policy: string;
  readonly file: string;
  readonly mode: PolicyMode;
  readonly applicable: boolean;
  /** For a policy that did not apply: the part of `applies when` that failed. */
  readonly notApplicableBecause?: FailedCondition;
  /** Every rule of an applicable policy, in source order. */
  readonly rules: readonly RuleExplanation[];
}

/** Why a decision came out as it did, rule by rule. Built only on request (it costs time). */
export interface Explanation {
  readonly policies: readonly PolicyExplanation[];
}

/** The result of deciding one request. */
export interface Decision {
  /** The answer Envoy gets: true lets the request through. */
  readonly allowed: boolean;
  /** The policies' verdict, before audit mode is applied. */
  readonly outcome: "allow" | "deny";
  /** False when audit mode (global or per policy) let through a request the policies denied. */
  readonly enforced: boolean;
  /** Every matching deny rule when denied by rule; otherwise the matching allow rules. */
  readonly determining: readonly RuleRef[];
  readonly reason: DecisionReason;
  /** Extra words for the audit record (never sent to the caller by default). */
  readonly detail?: string;
  /** Content hash of the policy set that decided. */
  readonly revision: string;
  readonly explanation?: Explanation;
}

const WARD_ERROR_REASONS: ReadonlySet<string> = new Set<DecisionReason>(["internal_error", "timeout", "overloaded", "no_policies_loaded", "audit_unavailable"]);

/**
 * True for denials that are Ward's own failures rather than a verdict about the
 * request. They deny even in audit mode (fail closed), answer 403 rather than
 * 401, and replay never counts them as flips. The one list every module uses.
 */
export function isWardError(reason: string): boolean {
  return WARD_ERROR_REASONS.has(reason);
}

/** Options every evaluation takes. */
export interface EvaluateOptions {
  /** The global audit switch: every policy counts as `mode audit`. */
  readonly auditAll?: boolean;
  /** Build an `Explanation` (slower; for the CLI, tests and `/v1/check?explain`). */
  readonly explain?: boolean;
}

/**
 * A decision for a request refused before the policies ran. Errors
 * (`internal_error`, `timeout`, `overloaded`, `no_policies_loaded`,
 * `audit_unavailable`) always deny,
 * even in audit mode: Ward fails closed. Input problems (`malformed_path`,
 * `malformed_request`, `request_too_large`) follow the audit switch like a
 * policy denial would, so an audit-mode rollout shows them without blocking.
 */
export function denyBeforeEvaluation(
  reason: DecisionReason,
  revision: string,
  detail?: string,
  options: EvaluateOptions = {},
): Decision {
  const allowed = !isWardError(reason) && options.auditAll === true;
  const base = { allowed, outcome: "deny" as const, enforced: !allowed, determining: [], reason, revision };
  return detail === undefined ? base : { ...base, detail };
}
