import { afterEach, describe, expect, it, vi } from "vitest";
import { createLoopDelayMonitor } from "../../src/ext-authz/overload.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("the event loop delay monitor", () => {
  it("raises the flag on a tick later than the threshold, bounds how long a call may have waited, and clears on time", () => {
    vi.useFakeTimers();
    let clock = 1000;
    const monitor = createLoopDelayMonitor({ thresholdMs: 100, intervalMs: 50, monotonic: () => clock });
    try {
      clock += 50;
      vi.advanceTimersByTime(50);
      expect(monitor.overloaded()).toBe(false);
      // A 160 ms stall that began right after that tick: the next one, due 50 ms later, runs 110 ms late.
      clock += 160;
      vi.advanceTimersByTime(50);
      expect(monitor.overloaded()).toBe(true);
      expect(monitor.lastDelayMs()).toBe(110);
      // The stall lasted between 110 and 160 ms; a call read now may have waited up to the latter.
      expect(monitor.longestWaitMs()).toBe(160);
      clock += 50;
      vi.advanceTimersByTime(50);
      expect(monitor.overloaded()).toBe(false);
      expect(monitor.lastDelayMs()).toBe(0);
    } finally {
      monitor.close();
    }
  });
});
