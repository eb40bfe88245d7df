/**
 * How `ward serve` checks and compiles a policy set without stopping its
 * decisions. Node.js decides on one thread, and parsing, checking and
 * compiling a large set takes long: a 2,000-rule set takes over 200 ms cold
 * (bench/reload.ts). Done in one piece, a reload stops every decision for
 * that long, and the calls that waited are denied `overloaded` or `timeout`:
 * a burst of denies on every reload.
 *
 * So the set is parsed and checked on a worker thread
 * (policy-check-worker.ts), which sends the checked policies back in small
 * messages, one each time the main thread asks. The main thread compiles
 * them (closures cannot cross threads) in slices of `sliceMs`, handing the
 * event loop back between slices. The program is the same as
 * `compileSources` makes, which the CLI keeps using.
 *
 * Small sets (under `threadMinBytes` of source) are still loaded in one piece
 * on the main thread: they stall it for tens of milliseconds at most, and the
 * worker would add about 40 MiB to the process while it runs. The worker
 * starts on first use and stops after `idleMs` without work, as reloads are
 * rare. It is unref'd, so it never holds the process open either. When it
 * cannot start (or does not say it is ready within `checkTimeoutMs`), that
 * load is checked on the main thread, and `onWorkerUnavailable` says so; the
 * next load tries again. A check that has
 * not finished after `checkTimeoutMs` stops the worker and fails the load, so
 * the last good set keeps serving; the next load starts a new worker.
 */
import { Worker } from "node:worker_threads";
import type { Diagnostic, Result } from "./diagnostics.js";
import type { CheckedPolicy, CheckedPolicySet, CheckedTest } from "./dsl/checked.js";
import { checkPolicySources, type PolicySource } from "./dsl/index.js";
import { compileInSlices } from "./engine/compile.js";
import { compileSources, loadedSet, rejectedLoad, revisionOf, type LoadResult } from "./policy-loader.js";

/**
 * What the main thread sends the checker thread: a set to `check`, then a
 * `next` for each further piece of the answer. The main thread asks for each
 * piece once it has taken the last: a port delivers every message waiting in
 * it in one event-loop task, so pieces sent all at once would be decoded in
 * one long stall after all.
 */
export type CheckRequest =
  | { readonly kind: "check"; readonly id: number; readonly sources: readonly PolicySource[] }
  | { readonly kind: "next"; readonly id: number };

/** What the checker thread answers: `ready` once, then per request `policies` (one per `next`)… and one of `checked`, `rejected`, `failed`. */
export type CheckReply =
  | { readonly id: 0; readonly kind: "ready" }
  | { readonly id: number; readonly kind: "policies"; readonly policies: readonly CheckedPolicy[] }
  | { readonly id: number; readonly kind: "checked"; readonly tests: readonly CheckedTest[]; readonly warnings: readonly Diagnostic[] }
  | { readonly id: number; readonly kind: "rejected"; readonly diagnostics: readonly Diagnostic[] }
  | { readonly id: number; readonly kind: "failed"; readonly message: string };

/** Options for `createPolicyCompiler`. */
export interface PolicyCompilerOptions {
  /** The checker thread's module; `policy-check-worker` beside this module by default. */
  readonly workerUrl?: URL;
  /** Longest a check may take before the worker is stopped and the load fails; also the longest a new worker may take to start. Default 60 s. */
  readonly checkTimeoutMs?: number;
  /** Longest the main thread compiles before handing the event loop back. Default 4 ms. */
  readonly sliceMs?: number;
  /** How long the worker waits for the next check before it stops. Default 10 s. */
  readonly idleMs?: number;
  /** Sets with less source text than this (UTF-16 code units, about bytes) load in one piece on the main thread. Default 64 KiB. */
  readonly threadMinBytes?: number;
  /** Called for each load checked on the main thread because the worker could not start. */
  readonly onWorkerUnavailable?: (err: Error) => void;
}

/** Checks and compiles policy sets off the hot path (see the module comment). */
export interface PolicyCompiler {
  /** The same result as `compileSources(sources)` (small sets: by it); rejects only when the check failed or took too long. */
  compile(sources: readonly PolicySource[]): Promise<LoadResult>;
  /** `compileSources(sources)`, in one piece on this thread (for loads nothing waits on), counted in `stats`. */
  compileInOnePiece(sources: readonly PolicySource[]): LoadResult;
  /** Whether the worker thread is up now (it stops when idle). */
  readonly checkerRunning: boolean;
  /** Counters, for metrics and tests. */
  stats(): PolicyCompilerStats;
  /** Stops the worker; a check in progress fails. Later loads check on the main thread. */
  close(): Promise<void>;
}

/** How many checks ran where, and how many worker threads were started. */
export interface PolicyCompilerStats {
  readonly checkedOnWorker: number;
  readonly checkedOnMainThread: number;
  readonly workersStarted: number;
}

/** Default `checkTimeoutMs`: checking 10,000 rules takes about a second; a minute means something is wrong. */
export const DEFAULT_CHECK_TIMEOUT_MS = 60_000;

/** Default `sliceMs`: far below any decision budget, long enough that handing back costs little. */
export const DEFAULT_COMPILE_SLICE_MS = 4;

/** Default `idleMs`: keeps the worker through a burst of edits (each save reloads), not for good. */
export const DEFAULT_CHECKER_IDLE_MS = 10_000;

/**
 * Default `threadMinBytes`. Loading in one piece, after the startup load has
 * warmed the code, took 15-45 ms for 17-69 KiB of generated policies and
 * 40-60 ms for 139 KiB; the decision budget that turns a stall into
 * `overloaded` denies is 100 ms by default.
 */
export const DEFAULT_THREAD_MIN_BYTES = 64 * 1024;

interface PendingCheck {
  readonly id: number;
  readonly sources: readonly PolicySource[];
  readonly policies: CheckedPolicy[];
  settle(result: Result<CheckedPolicySet> | Error): void;
}

interface CheckerThread {
  readonly worker: Worker;
  /** Takes the thread out of use, fails whatever waits on it with `err`, and terminates it. */
  stop(err: Error): void;
  /** Settles when the worker has loaded its module, or failed to. */
  readonly ready: Promise<void>;
  alive: boolean;
  pending: PendingCheck | undefined;
  /** Stops the idle worker; set while no check runs. */
  idleTimer: NodeJS.Timeout | undefined;
}

/** Creates a compiler; its worker starts with the first `compile`. */
export function createPolicyCompiler(options: PolicyCompilerOptions = {}): PolicyCompiler {
  const checkTimeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const sliceMs = options.sliceMs ?? DEFAULT_COMPILE_SLICE_MS;
  const idleMs = options.idleMs ?? DEFAULT_CHECKER_IDLE_MS;
  const threadMinBytes = options.threadMinBytes ?? DEFAULT_THREAD_MIN_BYTES;
  let thread: CheckerThread | undefined;
  let closed = false;
  const counts = { checkedOnWorker: 0, checkedOnMainThread: 0, workersStarted: 0 };
  let nextId = 1;
  // One check at a time: the worker answers in order, but a stopped check must not mix with the next.
  let queue: Promise<unknown> = Promise.resolve();

  function startThread(): CheckerThread {
    const worker = options.workerUrl !== undefined ? new Worker(options.workerUrl) : startDefaultWorker();
    worker.unref();
    counts.workersStarted++;
    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    // Awaited by the check that started the thread; a thread that dies later must not leave an unhandled rejection.
    ready.catch(() => undefined);
    const t: CheckerThread = {
      worker,
      ready,
      alive: true,
      pending: undefined,
      idleTimer: undefined,
      stop(err) {
        died(err);
        void worker.terminate();
      },
    };

    // Also after `retire` (a timeout, an idle stop, `close`): whoever still waits must hear of it.
    function died(err: Error): void {
      retire(t);
      rejectReady(err);
      t.pending?.settle(new Error(`checking the policies failed: ${err.message}`));
    }

    worker.on("message", (reply: CheckReply) => {
      if (reply.kind === "ready") {
        resolveReady();
        return;
      }
      const p = t.pending;
      if (p === undefined || p.id !== reply.id) return;
      switch (reply.kind) {
        case "policies":
          for (const policy of reply.policies) p.policies.push(policy);
          setImmediate(() => {
            if (t.pending === p) worker.postMessage({ kind: "next", id: p.id } satisfies CheckRequest);
          });
          return;
        case "checked":
          p.settle({
            ok: true,
            value: { policies: p.policies, tests: reply.tests, sources: new Map(p.sources.map((s) => [s.file, s.text])) },
            diagnostics: reply.warnings,
          });
          return;
        case "rejected":
          p.settle({ ok: false, diagnostics: reply.diagnostics });
          return;
        case "failed":
          p.settle(new Error(`checking the policies failed: ${reply.message}`));
          return;
      }
    });
    worker.on("error", (err) => died(err));
    // A reply that cannot be decoded is lost: fail its check now rather than wait for the timeout.
    worker.on("messageerror", (err) => t.stop(new Error(`a reply could not be decoded: ${err.message}`)));
    worker.on("exit", (code) => died(new Error(`the policy checker thread exited with code ${code}`)));
    return t;
  }

  /** Takes a thread out of use at once (its `exit` comes later and is then ignored). */
  function retire(t: CheckerThread): void {
    t.alive = false;
    clearTimeout(t.idleTimer);
    if (thread === t) thread = undefined;
  }

  /** Stops `t` unless another check comes within `idleMs`. */
  function stopWhenIdle(t: CheckerThread): void {
    clearTimeout(t.idleTimer);
    t.idleTimer = setTimeout(() => {
      if (t.pending === undefined && t.alive) t.stop(new Error("stopped when idle"));
    }, idleMs);
    t.idleTimer.unref();
  }

  function checkOnMainThread(sources: readonly PolicySource[], why?: unknown): Result<CheckedPolicySet> {
    if (why !== undefined) options.onWorkerUnavailable?.(why instanceof Error ? why : new Error(String(why)));
    counts.checkedOnMainThread++;
    return checkPolicySources(sources);
  }

  async function checkOnce(sources: readonly PolicySource[]): Promise<Result<CheckedPolicySet>> {
    if (closed) return checkOnMainThread(sources);
    let t = thread;
    if (t === undefined) {
      try {
        t = thread = startThread();
      } catch (err) {
        return checkOnMainThread(sources, err);
      }
      const starting = t;
      const startTimer = setTimeout(() => starting.stop(new Error(`the checker thread did not start within ${checkTimeoutMs} ms`)), checkTimeoutMs);
      try {
        await t.ready;
      } catch (err) {
        if (closed) throw new Error("checking the policies stopped: the compiler was closed");
        // It did not start: this load is checked here (the same check gives the same result); the next one tries again.
        return checkOnMainThread(sources, err);
      } finally {
        clearTimeout(startTimer);
      }
    }
    const running = t;
    clearTimeout(running.idleTimer);
    return new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(
        () => running.stop(new Error(`checking the policies took longer than ${checkTimeoutMs} ms; the checker thread was stopped`)),
        checkTimeoutMs,
      );
      running.pending = {
        id,
        sources,
        policies: [],
        settle(result) {
          clearTimeout(timer);
          running.pending = undefined;
          if (running.alive) stopWhenIdle(running);
          if (result instanceof Error) {
            reject(result);
          } else {
            counts.checkedOnWorker++;
            resolve(result);
          }
        },
      };
      running.worker.postMessage({ kind: "check", id, sources: sources.map((s) => ({ file: s.file, text: s.text })) } satisfies CheckRequest);
    });
  }

  function check(sources: readonly PolicySource[]): Promise<Result<CheckedPolicySet>> {
    const run = queue.then(() => checkOnce(sources));
    queue = run.catch(() => undefined);
    return run;
  }

  function compileInOnePiece(sources: readonly PolicySource[]): LoadResult {
    counts.checkedOnMainThread++;
    return compileSources(sources);
  }

  return {
    async compile(sources) {
      let size = 0;
      for (const s of sources) size += s.text.length;
      if (size < threadMinBytes) return compileInOnePiece(sources);
      const checked = await check(sources);
      if (!checked.ok) return rejectedLoad(sources, checked.diagnostics);
      const revision = revisionOf(sources);
      const program = await compileInSlices(checked.value, { revision, sliceMs });
      return loadedSet(sources, checked.value, checked.diagnostics, revision, program);
    },
    compileInOnePiece,
    stats: () => ({ ...counts }),
    get checkerRunning() {
      return thread?.alive === true;
    },
    async close() {
      closed = true;
      const t = thread;
      if (t === undefined) return;
      retire(t);
      t.pending?.settle(new Error("checking the policies stopped: the compiler was closed"));
      await t.worker.terminate();
    },
  };
}

/**
 * The checker thread from the module beside this one. Run from TypeScript
 * sources (vitest, tsx), that module is TypeScript too, and a worker does not
 * inherit tsx's loader: it registers it first (tsx is a development dependency).
 */
function startDefaultWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./policy-check-worker.js", here));
  const source = JSON.stringify(new URL("./policy-check-worker.ts", here).href);
  // `tsx` is found from the working directory (the project's, for tests and benchmarks).
  return new Worker(`import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${source}); });`, { eval: true });
}
