/**
 * Preloaded into every server `npm run bench:grpc` starts (`--import`): adds
 * up the garbage collector's pauses on the main thread, as Node's `gc`
 * performance entries report them, and keeps the running totals in the file
 * BENCH_GC_FILE (rewritten every 100 ms), so the bench can tell what share of
 * a server's CPU per call went to collecting garbage during one load.
 *
 * The floor gets the probe too, so it costs every server the same.
 *
 * It also runs one full collection when the bench asks (the file
 * BENCH_GC_FILE.collect appears; looked for every 100 ms), for the bench's
 * steady-state rounds (see bench/grpc.ts).
 */
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const file = process.env["BENCH_GC_FILE"];
if (file !== undefined) {
  const totals = { minorMs: 0, majorMs: 0, otherMs: 0, minor: 0, major: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // `detail.kind` says which collector ran; older @types/node do not declare `detail`.
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        totals.minorMs += entry.duration;
        totals.minor++;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        totals.majorMs += entry.duration;
        totals.major++;
      } else totals.otherMs += entry.duration;
    }
  }).observe({ entryTypes: ["gc"] });
  // Written beside and renamed over, so the bench never reads a half-written file.
  const write = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify(totals));
    renameSync(`${file}.tmp`, file);
  };
  // `gc` without starting node with --expose-gc: set the flag, then take the function from a new context.
  setFlagsFromString("--expose-gc");
  const collect = runInNewContext("gc") as () => void;
  const trigger = `${file}.collect`;
  write();
  setInterval(() => {
    if (existsSync(trigger)) {
      rmSync(trigger, { force: true });
      collect();
    }
    write();
  }, 100).unref();
}
