import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { heapGrowthFlag, nodeSetsHeapGrowth } from "../src/heap-growth.js";

const ROOT = join(import.meta.dirname, "..");

/** Full collections in the fixture's workload under `setting` ("node" or a percentage). */
function majorsUnder(setting: string): number {
  const run = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "test/fixtures/heap-growth-majors.ts"), setting], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) throw new Error(`the fixture failed (${run.status}): ${run.stderr}`);
  return (JSON.parse(run.stdout.trim()) as { majors: number }).majors;
}

describe("--heap-growing-percent", () => {
  it("sets V8's flag from Ward's setting, and leaves a value given to Node itself alone unless told", () => {
    expect(heapGrowthFlag({ percent: 50, explicit: false }, [])).toBe("--heap-growing-percent=50");
    expect(heapGrowthFlag({ percent: 50, explicit: false }, ["--heap-growing-percent=30"])).toBeUndefined();
    expect(heapGrowthFlag({ percent: 50, explicit: false }, ["--heap_growing_percent=30"])).toBeUndefined();
    expect(heapGrowthFlag({ percent: 70, explicit: true }, ["--heap-growing-percent=30"])).toBe("--heap-growing-percent=70");
    expect(heapGrowthFlag("node", [])).toBeUndefined();
    expect(nodeSetsHeapGrowth(["--max-old-space-size=512", "--heap-growing-percent-x"])).toBe(false);
  });

  it("takes effect when set after start-up: the same workload runs full collections several times as often", () => {
    // Measured: 3 full collections with V8's own heuristics, 11 at 50%.
    const own = majorsUnder("node");
    const half = majorsUnder("50");
    expect(own).toBeGreaterThanOrEqual(1);
    expect(half).toBeGreaterThanOrEqual(2 * own);
  });
});
