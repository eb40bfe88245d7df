/**
 * The JSON bodies of the HTTP API: a decision (the shape `ward eval` prints,
 * plus the decision id), diagnostics with `file:line:col`, the policy store's
 * state for `GET /v1/policies`, and error bodies. Plain functions of plain
 * values, so tests pin the shapes without a server.
 */
import { formatLocation, renderDiagnostic, sortDiagnostics, type Diagnostic } from "../diagnostics.js";
import { decisionToJson, type DecisionJson } from "../decision-json.js";
import type { Decision } from "../engine/decision.js";
import type { Identity } from "../engine/input.js";
import type { PolicyStoreStatus, ReloadOutcome } from "../policy-store.js";

/** The body of a `POST /v1/check` answer: the decision as `ward eval` prints it, plus its decision id. */
export type CheckResponseJson = { readonly decision_id: string } & DecisionJson;

/**
 * Renders a decision as `ward eval` does (same fields and names), plus its
 * decision id. `detail` and `explanation` are included only when `explain` is
 * set: the detail may quote request contents.
 */
export function checkResponseToJson(decision: Decision, identity: Identity, decisionId: string, explain: boolean): CheckResponseJson {
  const { detail: _detail, explanation: _explanation, ...withoutDetails } = decisionToJson(decision, identity);
  return { decision_id: decisionId, ...(explain ? decisionToJson(decision, identity) : withoutDetails) };
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
