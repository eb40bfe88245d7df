/**
 * Counts the garbage collections V8 reports (Node's `gc` performance entries),
 * by kind, from now until `stop`: the ground truth the tests hold Ward's own
 * full-collection detector and heap growth setting against. The entries come a
 * little after each collection, so let a few milliseconds pass before `stop`.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";

export interface CollectionCounts {
  readonly counts: { majors: number; minors: number };
  stop(): void;
}

export function countCollections(): CollectionCounts {
  const counts = { majors: 0, minors: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) counts.majors++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) counts.minors++;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return { counts, stop: () => observer.disconnect() };
}
