/**
 * Shadow policies (`ward serve --shadow DIR`): a candidate policy set decides
 * every live request too, after the live answer is sent and off the hot path,
 * and a `shadow` record is written when the two disagree. The candidate never
 * affects an answer: jobs wait in a bounded queue drained on `setImmediate`
 * in small batches (so serving goes on between batches), a full queue drops
 * jobs and counts them, and any error while shadowing is caught and counted.
 */
import { decide as realDecide, type DecisionDeps, type DecisionOutcome } from "../decide.js";
import type { Decision } from "../engine/decision.js";
import type { Program } from "../engine/program.js";
import type { RawRequest } from "../input/raw.js";
import { compareDecisions, DEFAULT_REDACTED_HEADERS, toShadowRecord, type AuditMode, type AuditRecord } from "./record.js";

/** One live decision to shadow. */
export interface ShadowJob {
  /** The live decision, as the server answered. */
  readonly live: DecisionOutcome;
  /** The raw request the live decision was made from; the candidate decides from it. */
  readonly raw: RawRequest;
  readonly decisionId: string;
  /** Epoch ms: the live decision's clock reading, reused so time-based rules agree. */
  readonly time: number;
}

/** Counters for metrics and `/v1/policies`. */
export interface ShadowStats {
  /** Jobs accepted into the queue. */
  readonly submitted: number;
  /** Jobs the candidate decided. */
  readonly evaluated: number;
  /** Shadow records written. */
  readonly disagreements: number;
  /** Jobs refused because the queue was full. */
  readonly dropped: number;
  /** Jobs skipped because no candidate was loaded. */
  readonly noCandidate: number;
  /** Errors caught while shadowing (never seen by the server). */
  readonly errors: number;
  /** Candidate decisions that ended in `internal_error` (recorded as disagreements when the live verdict was allow). */
  readonly candidateErrors: number;
  /** Jobs waiting now. */
  readonly queued: number;
}

/** Options for `createShadowEvaluator`. */
export interface ShadowOptions {
  /** The candidate program now, e.g. `() => shadowStore.current()?.program`; undefined skips shadowing. */
  readonly candidate: () => Program | undefined;
  /** The same resolver and input builder the live path uses. */
  readonly deps: DecisionDeps;
  readonly sink: { write(record: AuditRecord): void };
  /** The global mode, recorded in shadow records and passed to the candidate as the audit switch. */
  readonly mode: AuditMode;
  /** Also write a record when both verdicts agree but the determining rules differ; default false. */
  readonly compareRules?: boolean;
  /** Most jobs waiting at once; default 1024. */
  readonly maxQueue?: number;
  /** Jobs decided per turn of the event loop; default 32. */
  readonly batchSize?: number;
  /** Record the input in shadow records (the `--audit-input` setting); default true. */
  readonly includeInput?: boolean;
  readonly redactHeaders?: ReadonlySet<string>;
  readonly redactQuery?: ReadonlySet<string>;
  /** Called after every candidate decision, agreeing or not (for metrics); its errors are caught and counted. */
  readonly onCompared?: (live: Decision, candidate: Decision) => void;
  /** Called with each error caught while shadowing (for the operational log). */
  readonly onError?: (error: unknown) => void;
  /** Schedules a drain; default `setImmediate` (after pending I/O, so answers go out first). */
  readonly schedule?: (run: () => void) => void;
  /** The decision path; default `decide` from src/decide.ts (injectable for tests). */
  readonly decide?: typeof realDecide;
}

/** The shadow evaluator the server hands each live decision to. */
export interface ShadowEvaluator {
  /** Queues a live decision; false when it was dropped (queue full or closed). Never throws. */
  submit(job: ShadowJob): boolean;
  /** Resolves when the queue is empty. */
  drain(): Promise<void>;
  /** Stops accepting jobs and drains the queue. */
  close(): Promise<void>;
  stats(): ShadowStats;
}

/** Creates the shadow evaluator. */
export function createShadowEvaluator(options: ShadowOptions): ShadowEvaluator {
  const maxQueue = options.maxQueue ?? 1024;
  const batchSize = Math.max(1, options.batchSize ?? 32);
  const schedule = options.schedule ?? ((run: () => void) => void setImmediate(run));
  const decide = options.decide ?? realDecide;
  const redactHeaders = options.redactHeaders ?? DEFAULT_REDACTED_HEADERS;
  const includeInput = options.includeInput ?? true;
  const compareRules = options.compareRules ?? false;

  const queue: ShadowJob[] = [];
  let head = 0;
  let scheduled = false;
  let closing = false;
  let waiters: (() => void)[] = [];
  let submitted = 0;
  let evaluated = 0;
  let disagreements = 0;
  let dropped = 0;
  let noCandidate = 0;
  let errors = 0;
  let candidateErrors = 0;

  function fail(err: unknown): void {
    errors++;
    try {
      options.onError?.(err);
    } catch {
      // The error reporter failing must not reach the server either.
    }
  }

  function shadow(job: ShadowJob): void {
    const program = options.candidate();
    if (!program) {
      noCandidate++;
      return;
    }
    const candidate = decide(program, job.raw, options.deps, { now: job.time, auditAll: options.mode === "audit" });
    evaluated++;
    if (candidate.error !== undefined) candidateErrors++;
    options.onCompared?.(job.live.decision, candidate.decision);
    const disagreement = compareDecisions(job.live.decision, candidate.decision, compareRules);
    if (!disagreement) return;
    disagreements++;
    options.sink.write(
      toShadowRecord(job.live, candidate, disagreement, {
        decisionId: job.decisionId,
        time: job.time,
        mode: options.mode,
        raw: job.raw,
        includeInput,
        redactHeaders,
        ...(options.redactQuery && { redactQuery: options.redactQuery }),
      }),
    );
  }

  function run(): void {
    scheduled = false;
    const end = Math.min(queue.length, head + batchSize);
    while (head < end) {
      const job = queue[head]!;
      head++;
      try {
        shadow(job);
      } catch (err) {
        fail(err);
      }
    }
    if (head >= 1024 && head < queue.length) {
      // Under steady load the queue may never empty: drop the consumed prefix now and then so it cannot grow.
      queue.splice(0, head);
      head = 0;
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
      const done = waiters;
      waiters = [];
      for (const w of done) w();
    } else {
      kick();
    }
  }

  function kick(): void {
    if (scheduled) return;
    scheduled = true;
    try {
      schedule(run);
    } catch (err) {
      scheduled = false;
      fail(err);
    }
  }

  function pending(): number {
    return queue.length - head;
  }

  function drain(): Promise<void> {
    if (pending() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      waiters.push(resolve);
      kick();
    });
  }

  return {
    submit(job) {
      if (closing || pending() >= maxQueue) {
        dropped++;
        return false;
      }
      queue.push(job);
      submitted++;
      kick();
      return true;
    },
    drain,
    close() {
      closing = true;
      return drain();
    },
    stats: () => ({ submitted, evaluated, disagreements, dropped, noCandidate, errors, candidateErrors, queued: pending() }),
  };
}
