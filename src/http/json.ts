/**
 * The JSON bodies of the HTTP API: a decision (the shape `ward eval` prints,
 * plus the decision id), diagnostics with `file:line:col`, the policy store's
 * state for `GET /v1/policies`, and error bodies. Plain functions of plain
 * values, so tests pin the shapes without a server.
 */
import { formatLocation, renderDiagnostic, sortDiagnostics, type Diagnostic } from "../diagnostics.js";
import type { Decision, Explanation, FailedCondition } from "../engine/decision.js";
import type { Identity } from "../engine/input.js";
import type { PolicyStoreStatus, ReloadOutcome } from "../policy-store.js";

/** A determining rule. */
export interface RuleRefJson {
  readonly policy: string;
  readonly rule: string;
  readonly effect: string;
  readonly mode: string;
}

/** The caller the decision was made for. */
export interface CallerJson {
  readonly authenticated: boolean;
  readonly spiffe_id?: string;
  readonly source?: string;
  readonly unauthenticated_reason?: string;
  readonly detail?: string;
}

/** A condition that was false, located by `file:line:col`. */
export interface FailedConditionJson {
  readonly condition: string;
  readonly at: string;
  readonly actual?: unknown;
}

/** The explanation, rule by rule (`?explain=true`). */
export interface ExplanationJson {
  readonly policies: readonly {
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
  }[];
}

/** The body of a `POST /v1/check` answer. */
export interface CheckResponseJson {
  readonly decision_id: string;
  readonly allowed: boolean;
  readonly outcome: "allow" | "deny";
  readonly enforced: boolean;
  /** The HTTP status Envoy would send the downstream caller (200, 401 or 403). */
  readonly status: number;
  readonly determining: readonly RuleRefJson[];
  readonly reason: string;
  /** Only with `?explain=true`: the decision's detail may quote request contents. */
  readonly detail?: string;
  readonly revision: string;
  readonly caller: CallerJson;
  readonly explanation?: ExplanationJson;
}

/**
 * Renders a decision as `ward eval` does (same fields and names), plus its
 * decision id. `detail` and `explanation` are included only when `explain` is set.
 */
export function checkResponseToJson(decision: Decision, identity: Identity, decisionId: string, explain: boolean): CheckResponseJson {
  return {
    decision_id: decisionId,
    allowed: decision.allowed,
    outcome: decision.outcome,
    enforced: decision.enforced,
    status: envoyStatus(decision, identity),
    determining: decision.determining.map((r) => ({ policy: r.policy, rule: r.rule, effect: r.effect, mode: r.mode })),
    reason: decision.reason,
    ...(explain && decision.detail !== undefined ? { detail: decision.detail } : {}),
    revision: decision.revision,
    caller: callerToJson(identity),
    ...(explain && decision.explanation ? { explanation: explanationToJson(decision.explanation) } : {}),
  };
}

// The same rule as the gRPC answer and `ward test`'s `status`: 401 for an unauthenticated caller, else 403.
function envoyStatus(decision: Decision, identity: Identity): number {
  if (decision.allowed) return 200;
  return identity.authenticated ? 403 : 401;
}

function callerToJson(identity: Identity): CallerJson {
  return {
    authenticated: identity.authenticated,
    ...(identity.spiffeId !== undefined ? { spiffe_id: identity.spiffeId } : {}),
    ...(identity.source !== undefined ? { source: identity.source } : {}),
    ...(identity.unauthenticatedReason !== undefined ? { unauthenticated_reason: identity.unauthenticatedReason } : {}),
    ...(identity.detail !== undefined ? { detail: identity.detail } : {}),
  };
}

function failedToJson(failed: FailedCondition): FailedConditionJson {
  return { condition: failed.text, at: formatLocation(failed.span), ...(failed.actual !== undefined ? { actual: failed.actual } : {}) };
}

function explanationToJson(explanation: Explanation): ExplanationJson {
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

/** A diagnostic: its location as `file:line:col`, and the compiler-style rendering with the source line and caret. */
export interface DiagnosticJson {
  readonly code: string;
  readonly severity: string;
  readonly message: string;
  readonly location?: string;
  readonly help?: string;
  readonly rendered: string;
}

/** Renders diagnostics sorted by location; `sources` (file → text) adds the source line and caret. */
export function diagnosticsToJson(diagnostics: readonly Diagnostic[], sources?: ReadonlyMap<string, string>): DiagnosticJson[] {
  const lookup = sources ? (file: string) => sources.get(file) : undefined;
  return sortDiagnostics(diagnostics).map((d) => ({
    code: d.code,
    severity: d.severity,
    message: d.message,
    ...(d.span ? { location: formatLocation(d.span) } : {}),
    ...(d.help !== undefined ? { help: d.help } : {}),
    rendered: renderDiagnostic(d, lookup),
  }));
}

/** A reload attempt, as `/v1/policies` shows it. */
export interface ReloadJson {
  /** RFC 3339. */
  readonly at: string;
  readonly trigger: string;
  /** `success`: a new revision was swapped in; `unchanged`: same content; `failure`: rejected. */
  readonly result: "success" | "unchanged" | "failure";
  readonly revision?: string;
  /** Errors of a failed reload, warnings of a successful one. */
  readonly diagnostics: readonly DiagnosticJson[];
}

/** The body of `GET /v1/policies`. */
export interface PoliciesJson {
  /** The serving revision, or null when no set is loaded (every request is denied: `no_policies_loaded`). */
  readonly revision: string | null;
  readonly loaded_at: string | null;
  readonly files: readonly string[];
  readonly policy_count: number;
  readonly rule_count: number;
  readonly policies: readonly { readonly name: string; readonly file: string; readonly mode: string; readonly rules: number }[];
  readonly warnings: readonly DiagnosticJson[];
  /** Directories watched for changes. */
  readonly watching: readonly string[];
  readonly last_reload: ReloadJson | null;
  /** The last rejected reload, until a later reload succeeds. */
  readonly last_error: ReloadJson | null;
}

/** Renders the store's state. */
export function policiesToJson(status: PolicyStoreStatus): PoliciesJson {
  const current = status.current;
  return {
    revision: current?.revision ?? null,
    loaded_at: current ? new Date(current.loadedAt).toISOString() : null,
    files: current?.files ?? [],
    policy_count: current?.program.policies.length ?? 0,
    rule_count: current?.program.ruleCount ?? 0,
    policies: (current?.program.policies ?? []).map((p) => ({ name: p.name, file: p.file, mode: p.mode, rules: p.ruleCount })),
    warnings: current ? diagnosticsToJson(current.warnings, current.sources) : [],
    watching: status.watching ?? [],
    last_reload: status.lastReload ? reloadToJson(status.lastReload) : null,
    last_error: status.lastError ? reloadToJson(status.lastError) : null,
  };
}

function reloadToJson(reload: ReloadOutcome & { readonly at: number }): ReloadJson {
  return {
    at: new Date(reload.at).toISOString(),
    trigger: reload.trigger,
    result: !reload.ok ? "failure" : reload.changed ? "success" : "unchanged",
    ...(reload.revision !== undefined ? { revision: reload.revision } : {}),
    diagnostics: diagnosticsToJson(reload.diagnostics, reload.sources),
  };
}

/** Every error answer: a stable snake_case code, a lower-case message, and diagnostics when there are some. */
export interface ErrorJson {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly diagnostics?: readonly DiagnosticJson[];
  };
}

/** Builds an error body. */
export function errorJson(code: string, message: string, diagnostics?: readonly Diagnostic[]): ErrorJson {
  return { error: { code, message, ...(diagnostics && diagnostics.length > 0 ? { diagnostics: diagnosticsToJson(diagnostics) } : {}) } };
}
