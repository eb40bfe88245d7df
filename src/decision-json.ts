/**
 * A decision as JSON, the one shape every shell prints (`ward eval`, `ward test
 * --format json`, `POST /v1/check`), and the HTTP status Envoy sends for it.
 * Pure: shells may not import each other, so what they share lives here.
 * Locations are rendered as `file:line:col` so editors and terminals can jump to them.
 */
import { formatLocation } from "./diagnostics.js";
import { isWardError, type Decision, type Explanation, type FailedCondition, type RuleRef } from "./engine/decision.js";
import type { Identity } from "./engine/input.js";

/**
 * The HTTP status Envoy's ext_authz filter sends the caller for a decision:
 * 200 when the request passes, 401 when it is denied and the caller has no
 * valid identity (unless the denial is an error of Ward's), 403 otherwise.
 * The gRPC answer, `ward test`'s `status N` and `POST /v1/check` all use it.
 */
export function envoyStatus(decision: Decision, identity: Identity): 200 | 401 | 403 {
  if (decision.allowed) return 200;
  if (isWardError(decision.reason)) return 403;
  // `not_resolved`: the request never reached identity resolution.
  if (!identity.authenticated && identity.unauthenticatedReason !== "not_resolved") return 401;
  return 403;
}

/** A determining rule as JSON. */
export interface RuleRefJson {
  readonly policy: string;
  readonly rule: string;
  readonly effect: string;
  readonly mode: string;
}

/** The caller as JSON: what identity the decision was made for. */
export interface CallerJson {
  readonly authenticated: boolean;
  readonly spiffe_id?: string;
  readonly source?: string;
  readonly unauthenticated_reason?: string;
  readonly detail?: string;
}

/** A failed condition as JSON. */
export interface FailedConditionJson {
  readonly condition: string;
  /** `file:line:col`. */
  readonly at: string;
  readonly actual?: unknown;
}

/** One policy of an explanation as JSON. */
export interface PolicyExplanationJson {
  readonly policy: string;
  readonly file: string;
  readonly mode: string;
  readonly applicable: boolean;
  readonly not_applicable_because?: FailedConditionJson;
  readonly rules: readonly {
    readonly rule: string;
    readonly effect: string;
    readonly matched: boolean;
    readonly at: string;
    readonly failed?: FailedConditionJson;
  }[];
}

/** A decision as the CLI prints it (`ward eval`). */
export interface DecisionJson {
  readonly allowed: boolean;
  readonly outcome: "allow" | "deny";
  readonly enforced: boolean;
  readonly status: number;
  readonly determining: readonly RuleRefJson[];
  readonly reason: string;
  readonly detail?: string;
  readonly revision: string;
  readonly caller: CallerJson;
  readonly explanation?: { readonly policies: readonly PolicyExplanationJson[] };
}

/** Converts a determining rule reference. */
export function ruleRefToJson(ref: RuleRef): RuleRefJson {
  return { policy: ref.policy, rule: ref.rule, effect: ref.effect, mode: ref.mode };
}

/** Converts the resolved caller. */
export function callerToJson(identity: Identity): CallerJson {
  return {
    authenticated: identity.authenticated,
    ...(identity.spiffeId !== undefined ? { spiffe_id: identity.spiffeId } : {}),
    ...(identity.source !== undefined ? { source: identity.source } : {}),
    ...(identity.unauthenticatedReason !== undefined ? { unauthenticated_reason: identity.unauthenticatedReason } : {}),
    ...(identity.detail !== undefined ? { detail: identity.detail } : {}),
  };
}

function failedToJson(failed: FailedCondition): FailedConditionJson {
  return {
    condition: failed.text,
    at: formatLocation(failed.span),
    ...(failed.actual !== undefined ? { actual: failed.actual } : {}),
  };
}

/** Converts an explanation, replacing spans by `file:line:col`. */
export function explanationToJson(explanation: Explanation): { readonly policies: readonly PolicyExplanationJson[] } {
  return {
    policies: explanation.policies.map((p) => ({
      policy: p.policy,
      file: p.file,
      mode: p.mode,
      applicable: p.applicable,
      ...(p.notApplicableBecause ? { not_applicable_because: failedToJson(p.notApplicableBecause) } : {}),
      rules: p.rules.map((r) => ({
        rule: r.rule,
        effect: r.effect,
        matched: r.matched,
        at: formatLocation(r.span),
        ...(r.failed ? { failed: failedToJson(r.failed) } : {}),
      })),
    })),
  };
}

/** Converts a decision (with the caller it was made for). The explanation is included when the decision has one. */
export function decisionToJson(decision: Decision, identity: Identity): DecisionJson {
  return {
    allowed: decision.allowed,
    outcome: decision.outcome,
    enforced: decision.enforced,
    status: envoyStatus(decision, identity),
    determining: decision.determining.map(ruleRefToJson),
    reason: decision.reason,
    ...(decision.detail !== undefined ? { detail: decision.detail } : {}),
    revision: decision.revision,
    caller: callerToJson(identity),
    ...(decision.explanation ? { explanation: explanationToJson(decision.explanation) } : {}),
  };
}
