/**
 * The `envoy.service.auth.v3.Authorization/Check` handler: bytes in, decision,
 * bytes out. It is registered with custom (de)serializers, so grpc-js hands it
 * the decoded `RawRequest` (check-request.ts) and sends the bytes built by
 * check-response.ts as they are: no generic protobuf work on the hot path.
 *
 * Fail closed, always: an unreadable message, a missing `attributes`, an
 * exception, a decision over its time budget, an expired Envoy deadline, an
 * overloaded event loop or (under `--audit-backlog-full deny`) an audit log
 * that cannot take more records all end in a `PERMISSION_DENIED` answer with a reason;
 * the handler never throws to grpc-js (which would answer with another code,
 * and Envoy's `failure_mode_allow` lets other codes through).
 *
 * After the answer is handed to grpc-js, the decision is reported to the
 * `onDecision` hook (audit record, metrics, shadow evaluation) in one batch
 * per turn of the tick queue (`process.nextTick`), so the hook cannot change
 * an answer. It runs after every call that arrived in the same read from the
 * socket has been answered, and before Node writes those answers out (which
 * happens when the read's JavaScript is done): encoding the batch's records
 * (a few µs each) adds to its latency. Deferring the hook to the next turn of
 * the event loop (`setImmediate`) instead sent the answers first, but the
 * extra turn cost more CPU per call than that saved, at 1 call in flight as
 * at 16 (alternating runs of the built server under h2load; docs/serve.md).
 */
import type { ServiceDefinition, ServerUnaryCall, sendUnaryData, UntypedServiceImplementation } from "@grpc/grpc-js";
import { AUDIT_UNAVAILABLE_DETAIL, decide, NO_REVISION, type AuditGate, type DecisionDeps, type DecisionOutcome } from "../decide.js";
import { denyBeforeEvaluation, isWardError, type Decision, type DecisionReason } from "../engine/decision.js";
import { unauthenticated } from "../engine/input.js";
import type { Program } from "../engine/program.js";
import type { RawRequest } from "../input/raw.js";
import { createDecodeMemo, decodeCheckRequest, type DecodedCheckRequest } from "./check-request.js";
import { answerHttpStatus, createCheckResponseEncoder, type AnswerOptions } from "./check-response.js";
import { createDecisionIdSource, type DecisionIdSource } from "./decision-id.js";
import { CHECK_METHOD_PATH } from "./protos.js";

/** One decision, as reported to the hook after its answer was handed to grpc-js. */
export interface DecisionEvent {
  /** The id in the answer's `x-ward-decision-id` header and metadata. */
  readonly decisionId: string;
  /** The decision, the resolved caller and (when evaluation ran) the engine input. */
  readonly outcome: DecisionOutcome;
  /** The request as decoded; absent when the message could not be read. */
  readonly raw?: RawRequest;
  /** Epoch ms when the decision was made. */
  readonly time: number;
  /** Microseconds from the decoded request to the encoded answer. */
  readonly decisionMicros: number;
  /** The HTTP status Envoy returns to the client when denied (200 when allowed). */
  readonly httpStatus: 200 | 401 | 403;
  /** Why the decision is an error deny (internal error message, decode problem, timeout, overload). */
  readonly error?: string;
}

/** Where the service gets the program to decide with (a `PolicyStore` fits). */
export interface ProgramSource {
  current(): { readonly program: Program } | undefined;
}

/** Signals that the process is too busy to answer within its budget (see `createLoopDelayMonitor`). */
export interface OverloadSignal {
  overloaded(): boolean;
  /** The longest a call read now may have waited unread through the last stall of the event loop (ms). */
  longestWaitMs(): number;
}

/** Everything the Check service needs, built once at startup. */
export interface CheckServiceOptions {
  readonly policies: ProgramSource;
  readonly deps: DecisionDeps;
  readonly answer: AnswerOptions;
  /** The global audit switch (`--mode audit`). */
  readonly auditAll: boolean;
  /** Largest CheckRequest decoded; larger ones are denied `request_too_large`. */
  readonly maxMessageBytes: number;
  /** Budget from decoded request to answer; a decision that overran it is denied `timeout`. */
  readonly decisionTimeoutMs: number;
  readonly overload?: OverloadSignal;
  /** Given under `--audit-backlog-full deny`: no request is let through while its record could not be kept. */
  readonly auditGate?: AuditGate;
  /** Called after each answer is sent, never on the hot path; exceptions are caught and reported to `onHookError`. */
  readonly onDecision?: (event: DecisionEvent) => void;
  readonly onHookError?: (err: unknown) => void;
  /** Wall clock (epoch ms). */
  readonly now?: () => number;
  /** Monotonic clock (ms, fractional). */
  readonly monotonic?: () => number;
  readonly decisionIds?: DecisionIdSource;
}

/** Counters for health checks, tests and metrics. */
export interface CheckServiceStats {
  readonly calls: number;
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  readonly hookErrors: number;
  /** Decision events waiting for the hook. */
  readonly pendingEvents: number;
}

/** The Check service: its gRPC definition and handlers, plus hook plumbing. */
export interface CheckService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  stats(): CheckServiceStats;
  /** Delivers every pending decision event to the hook now (used at shutdown). */
  flushEvents(): void;
}

/**
 * What the custom deserializer hands the handler: the decoded request and
 * when it was decoded. The handler takes `decoded` out (`takeDecoded`):
 * grpc-js keeps its call objects, and the message with them, for a while after
 * the answer; under load V8 often promotes them to the old generation, and the
 * decoded request would be promoted with them.
 */
interface ReceivedCheck {
  decoded: DecodedCheckRequest | undefined;
  readonly receivedAt: number;
}

/** The decoded request, detached from grpc-js's message; a second take finds none (and denies). */
function takeDecoded(received: ReceivedCheck): DecodedCheckRequest {
  const decoded = received.decoded;
  received.decoded = undefined;
  return decoded ?? { ok: false, reason: "malformed_request", detail: "the request message was already handled" };
}


/** Why a call was shed: the stall it may have waited through, against its budget. */
function overloadDetail(waitMs: number, leftMs: number): string {
  const stall = `the event loop stalled for up to ${waitMs.toFixed(0)} ms`;
  return Number.isFinite(leftMs)
    ? `${stall}, at least the ${Math.max(0, leftMs).toFixed(0)} ms the caller's gRPC timeout gave the call`
    : `${stall}, over the decision budget, and the call carries no gRPC timeout`;
}

/** Creates the Check service. */
export function createCheckService(options: CheckServiceOptions): CheckService {
  const now = options.now ?? Date.now;
  const monotonic = options.monotonic ?? (() => performance.now());
  const ids = options.decisionIds ?? createDecisionIdSource();
  const encoder = createCheckResponseEncoder(options.answer);
  // Encoded once at startup: the answer of last resort when encoding a decision fails,
  // so even a bug in the encoder ends in PERMISSION_DENIED rather than a gRPC error Envoy might let through.
  const LAST_RESORT_ID = "ward-encode-failure";
  const lastResortDeny = encoder.encode(
    {
      decision: denyBeforeEvaluation("internal_error", NO_REVISION, "encoding the answer failed"),
      identity: unauthenticated("not_resolved"),
      error: "encoding the answer failed",
    },
    LAST_RESORT_ID,
  );
  const limits = { maxMessageBytes: options.maxMessageBytes, memo: createDecodeMemo() };
  const evaluateOptions = { auditAll: options.auditAll };
  const counters = { calls: 0, allowed: 0, denied: 0, errors: 0, hookErrors: 0 };

  let pending: DecisionEvent[] = [];
  let flushScheduled = false;

  function deliver(): void {
    flushScheduled = false;
    const batch = pending;
    pending = [];
    const hook = options.onDecision;
    if (!hook) return;
    for (const event of batch) {
      try {
        hook(event);
      } catch (err) {
        counters.hookErrors++;
        try {
          options.onHookError?.(err);
        } catch {
          // A failing error reporter must not stop the batch either.
        }
      }
    }
  }

  function report(event: DecisionEvent): void {
    if (!options.onDecision) return;
    pending.push(event);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(deliver);
    }
  }

  function refuse(reason: DecisionReason, revision: string, detail: string): DecisionOutcome {
    // Errors always deny (denyBeforeEvaluation ignores the audit switch for them).
    return { decision: denyBeforeEvaluation(reason, revision, detail, evaluateOptions), identity: unauthenticated("not_resolved"), error: detail };
  }

  /** A message Ward cannot read is no request at all: denied even in audit mode. */
  function unreadable(reason: "malformed_request" | "request_too_large", revision: string, detail: string): DecisionOutcome {
    const decision: Decision = { allowed: false, outcome: "deny", enforced: true, determining: [], reason, revision, detail };
    return { decision, identity: unauthenticated("not_resolved"), error: detail };
  }

  function handle(call: ServerUnaryCall<ReceivedCheck, Buffer>, callback: sendUnaryData<Buffer>): void {
    counters.calls++;
    const time = now();
    let received: ReceivedCheck | undefined;
    let outcome: DecisionOutcome;
    let raw: RawRequest | undefined;
    let started = monotonic();
    let revision = NO_REVISION;
    try {
      received = call.request;
      started = received.receivedAt;
      const program = options.policies.current()?.program;
      revision = program?.revision ?? NO_REVISION;
      const decoded = takeDecoded(received);
      if (!decoded.ok) {
        outcome = unreadable(decoded.reason, revision, decoded.detail);
      } else {
        raw = decoded.raw;
        const deadline = call.getDeadline();
        // grpc-js sets the deadline from `grpc-timeout` when it reads the call, so `left` is about
        // the caller's whole timeout even if the call waited unread through a stall (Infinity without one).
        const left = (deadline instanceof Date ? deadline.getTime() : typeof deadline === "number" ? deadline : Infinity) - time;
        // Shed after a stall only a call that may have waited unread longer than its caller waits for
        // it; without a timeout, any stall over the decision budget (the monitor's threshold) sheds it.
        if (options.overload?.overloaded() && !(options.overload.longestWaitMs() < (Number.isFinite(left) ? left : 0))) {
          outcome = refuse("overloaded", revision, overloadDetail(options.overload.longestWaitMs(), left));
        } else if (left <= 0) {
          outcome = refuse("timeout", revision, "the caller's gRPC deadline had passed before the decision started");
        } else if (options.auditGate?.accepting() === false) {
          outcome = refuse("audit_unavailable", revision, AUDIT_UNAVAILABLE_DETAIL);
        } else {
          outcome = decide(program, raw, options.deps, { now: time, auditAll: options.auditAll });
          const elapsed = monotonic() - started;
          if (elapsed > options.decisionTimeoutMs) {
            outcome = refuse("timeout", revision, `the decision took ${elapsed.toFixed(1)} ms, over the budget of ${options.decisionTimeoutMs} ms`);
          }
        }
      }
    } catch (err) {
      // decide() never throws; this guards the shell itself (a bug here must still deny).
      const message = err instanceof Error ? err.message : String(err);
      outcome = refuse("internal_error", revision, message);
    }

    let decisionId: string;
    let answer: Buffer;
    try {
      decisionId = ids.next(raw?.requestId);
      answer = encoder.encode(outcome, decisionId);
    } catch (err) {
      // Last resort: the deny encoded at startup, which needs nothing from this decision.
      decisionId = LAST_RESORT_ID;
      const message = err instanceof Error ? err.message : String(err);
      outcome = refuse("internal_error", revision, `encoding the answer failed: ${message}`);
      answer = lastResortDeny;
    }
    callback(null, answer);

    const d = outcome.decision;
    if (d.allowed) counters.allowed++;
    else counters.denied++;
    if (isWardError(d.reason)) counters.errors++;
    if (options.onDecision) {
      const event: { -readonly [K in keyof DecisionEvent]: DecisionEvent[K] } = {
        decisionId,
        outcome,
        time,
        decisionMicros: Math.round((monotonic() - started) * 1000),
        httpStatus: answerHttpStatus(outcome),
      };
      if (raw !== undefined) event.raw = raw;
      if (outcome.error !== undefined) event.error = outcome.error;
      report(event);
    }
  }

  const definition: ServiceDefinition = {
    Check: {
      path: CHECK_METHOD_PATH,
      requestStream: false,
      responseStream: false,
      // Never throws: decoding problems travel in the value and become a deny in the handler.
      requestDeserialize: (bytes: Buffer): ReceivedCheck => {
        const receivedAt = monotonic();
        return { decoded: decodeCheckRequest(bytes, limits), receivedAt };
      },
      requestSerialize: () => {
        throw new Error("the Check service only decodes requests");
      },
      responseSerialize: (value: Buffer) => value,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  };

  return {
    definition,
    implementation: { Check: handle as UntypedServiceImplementation[string] },
    stats: () => ({ ...counters, pendingEvents: pending.length }),
    flushEvents: deliver,
  };
}
