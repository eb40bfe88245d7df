/**
 * The one decision path. The gRPC server, `POST /v1/check`, `ward eval`,
 * `ward test` and `ward replay` all call `decide`, so a test shows exactly what
 * the server would do: raw request pieces → caller identity → engine input →
 * evaluation. It never throws; any failure is a deny whose reason says so.
 */
import { denyBeforeEvaluation, type Decision } from "./engine/decision.js";
import { evaluate, type EngineEvaluateOptions } from "./engine/evaluate.js";
import { unauthenticated, type Identity, type RequestInput } from "./engine/input.js";
import type { Program } from "./engine/program.js";
import type { IdentityResolver, InputBuilder, RawRequest } from "./input/raw.js";

/** The collaborators a decision needs, built once at startup. */
export interface DecisionDeps {
  readonly resolver: IdentityResolver;
  readonly inputBuilder: InputBuilder;
}

/** Per-call options: the clock reading and the evaluation switches (audit, explain, coverage), handed to `evaluate` as they are. */
export interface DecideOptions extends EngineEvaluateOptions {
  /** Decision time (epoch ms) when the request does not carry its own. */
  readonly now: number;
}

/** A decision with what it was made from, for the answer, the audit record and replay. */
export interface DecisionOutcome {
  readonly decision: Decision;
  /** The caller as resolved (unauthenticated with a reason when it could not be established). */
  readonly identity: Identity;
  /** The engine input; absent when the request was refused before evaluation. */
  readonly input?: RequestInput;
  /** The internal error message when the decision is `internal_error`. */
  readonly error?: string;
}

/**
 * Whether decision records can still be kept (the audit sink's `accepting`).
 * Under `--audit-backlog-full deny` both front ends deny calls while it says
 * no, before deciding: `audit_unavailable`.
 */
export interface AuditGate {
  accepting(): boolean;
}

/** Why a call was denied `audit_unavailable` (the record's `detail`; the caller is told "authorization unavailable"). */
export const AUDIT_UNAVAILABLE_DETAIL =
  "the audit log cannot take more records (its destination is behind by --audit-max-pending-bytes, or gone) and --audit-backlog-full is deny";

/** The revision recorded when no policy set is loaded at all. */
export const NO_REVISION = "none";

/** Decides one raw request against a program (or denies, fail-closed, when there is none). */
export function decide(program: Program | undefined, raw: RawRequest, deps: DecisionDeps, options: DecideOptions): DecisionOutcome {
  let identity: Identity = unauthenticated("not_resolved");
  try {
    if (!program) {
      return { decision: denyBeforeEvaluation("no_policies_loaded", NO_REVISION, undefined, options), identity };
    }
    const now = raw.time ?? options.now;
    identity = deps.resolver.resolve(raw.identity, { needCertificate: program.needsCertificate, now });
    const built = deps.inputBuilder.build(raw, identity, now);
    if (!built.ok) {
      return { decision: denyBeforeEvaluation(built.reason, program.revision, built.detail, options), identity };
    }
    return { decision: evaluate(program, built.input, options), identity, input: built.input };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return {
      decision: denyBeforeEvaluation("internal_error", program?.revision ?? NO_REVISION, error, options),
      identity,
      error,
    };
  }
}
