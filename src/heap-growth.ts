/**
 * How much V8 lets the old generation grow between full garbage collections
 * (`--heap-growing-percent`), which `ward serve` sets to 50 by default.
 *
 * Under load, the HTTP/2 and gRPC layers leave a few hundred bytes of garbage
 * per call in the old generation (bench:grpc's floor server as much as Ward;
 * among it, the external strings Node makes for header values); only a full
 * collection frees it, and its pause grows with the garbage. V8's
 * own heuristics let Ward's heap (about 28 MB live) grow to 100 MB or more
 * before collecting, so a full collection came every 8 to 10 s and paused the
 * process for 160 to 240 ms (measured with `ward serve` at 16 calls in flight,
 * audit records to a file, one core): more than the decision budget, close to
 * Envoy's usual 250 ms timeout, and calls without a gRPC timeout were shed
 * (`overloaded`) after it. Growing by half instead, a full collection comes
 * about once a second and pauses 22 to 40 ms, for about the same CPU per call
 * (docs/serve.md, "Garbage collection pauses"; `npm run bench:open-loop`).
 *
 * V8 reads the value each time it sets the next limit, so setting it with
 * `v8.setFlagsFromString` after start-up takes effect (tested in
 * test/heap-growth.test.ts).
 */
import { setFlagsFromString } from "node:v8";

/** The default of `--heap-growing-percent`. */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/** `--heap-growing-percent` as configured: a percentage (and whether it was given), or `node` (V8's own). */
export type HeapGrowingSetting = { readonly percent: number; readonly explicit: boolean } | "node";

/**
 * Whether Node was started with V8's `--heap-growing-percent` (`node
 * --heap-growing-percent=N …`; Node refuses the flag in NODE_OPTIONS).
 */
export function nodeSetsHeapGrowth(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
}

/**
 * The V8 flag to set for `setting`, or undefined to leave V8 as it is: with
 * `node`, and when Ward's default would override a value given to Node itself.
 */
export function heapGrowthFlag(setting: HeapGrowingSetting, execArgv: readonly string[]): string | undefined {
  if (setting === "node") return undefined;
  if (!setting.explicit && nodeSetsHeapGrowth(execArgv)) return undefined;
  return `--heap-growing-percent=${setting.percent}`;
}

/** Applies `setting` to this process; returns the percentage Ward set, or undefined when it left V8 as it was. */
export function applyHeapGrowth(setting: HeapGrowingSetting, execArgv: readonly string[] = process.execArgv): number | undefined {
  if (setting === "node") return undefined;
  const flag = heapGrowthFlag(setting, execArgv);
  if (flag === undefined) return undefined;
  setFlagsFromString(flag);
  return setting.percent;
}
