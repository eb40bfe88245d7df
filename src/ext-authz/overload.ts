/**
 * Overload detection for a single-threaded server. Ward decides each call
 * synchronously as soon as grpc-js has read it (measured: a decoded request
 * never waits for another inside the process), so when Ward falls behind,
 * requests wait outside it — in socket buffers — and the only symptom inside
 * is an event loop that runs late. A timer measures how late it fires; while
 * the loop has recently been late by more than the decision budget, calls that
 * may have waited through that lateness longer than their gRPC timeout (or
 * that carry none) are answered `overloaded` at once (a cheap, fail-closed
 * deny) instead of being decided after Envoy has likely given up on them; the
 * comparison is the Check service's (service.ts).
 */
import type { OverloadSignal } from "./service.js";

/** A running monitor; `close` stops its timer. */
export interface LoopDelayMonitor extends OverloadSignal {
  /** The last measured lateness, in ms. */
  lastDelayMs(): number;
  close(): void;
}

/** Options for `createLoopDelayMonitor`. */
export interface LoopDelayOptions {
  /** Lateness above which the server counts as overloaded (the decision budget). */
  readonly thresholdMs: number;
  /** How often to measure (default 50 ms). */
  readonly intervalMs?: number;
  /** Monotonic clock in ms (injectable for tests). */
  readonly monotonic?: () => number;
}

/**
 * Starts a monitor. The overload flag is raised by a late tick and cleared by
 * the next tick that is on time, so one stall sheds at most one interval's
 * worth of calls after it. The timer is unref'd: it never keeps the process alive.
 */
export function createLoopDelayMonitor(options: LoopDelayOptions): LoopDelayMonitor {
  const interval = options.intervalMs ?? 50;
  const monotonic = options.monotonic ?? (() => performance.now());
  let expected = monotonic() + interval;
  let delay = 0;
  let overloaded = false;
  const timer = setInterval(() => {
    const at = monotonic();
    delay = Math.max(0, at - expected);
    overloaded = delay > options.thresholdMs;
    expected = at + interval;
  }, interval);
  timer.unref();
  return {
    overloaded: () => overloaded,
    lastDelayMs: () => delay,
    // The stall began at most one interval before the tick that was due: it lasted from `delay` to `delay + interval`.
    longestWaitMs: () => delay + interval,
    close: () => clearInterval(timer),
  };
}
