import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createPolicyCompiler } from "../../src/policy-compiler.js";
import { revisionOf } from "../../src/policy-loader.js";
import { createPolicyStore } from "../../src/policy-store.js";
import { BROKEN, decideMethod, decisionDeps, READS, READS_AND_WRITES, tempPolicyDir } from "./helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("reloading while deciding", () => {
  it.each([
    ["compiling in-thread (the CLI's loader)", false],
    ["checking on a worker thread and compiling in slices (`ward serve`)", true],
  ])("never fails a decision and attributes each to the old or the new revision, consistently with that revision: %s", async (_, offThread) => {
    const tmp = tempPolicyDir({ "api.ward": READS });
    cleanups.push(tmp.cleanup);
    const compiler = offThread ? createPolicyCompiler({ sliceMs: 0, threadMinBytes: 0 }) : undefined;
    if (compiler) cleanups.push(() => void compiler.close());
    const store = createPolicyStore({ paths: [tmp.dir], settleMs: 0, ...(compiler ? { compile: compiler.compile } : {}) });
    cleanups.push(() => store.close());
    await store.reload("startup");
    const file = join(tmp.dir, "api.ward");
    const readsOnly = revisionOf([{ file, text: READS }]);
    const readsAndWrites = revisionOf([{ file, text: READS_AND_WRITES }]);
    const deps = decisionDeps();

    // Reloads flip the file between the two sets (and through a broken edit that must change nothing)
    // while decisions run in the same process, interleaved at every await.
    let deciding = true;
    let reloads = 0;
    const reloader = (async () => {
      const texts = [READS_AND_WRITES, BROKEN, READS];
      while (deciding && reloads < 300) {
        tmp.write("api.ward", texts[reloads % texts.length]!);
        await store.reload("test");
        reloads++;
      }
    })();

    const DECISIONS = 20_000;
    const seen = new Map<string, number>();
    let failures = 0;
    for (let i = 0; i < DECISIONS; i++) {
      const { decision } = decideMethod(store, deps, "POST");
      seen.set(decision.revision, (seen.get(decision.revision) ?? 0) + 1);
      // The answer must be the one the named revision gives: POST is allowed only by READS_AND_WRITES.
      const expected = decision.revision === readsAndWrites;
      if (decision.allowed !== expected || (decision.reason !== "allowed" && decision.reason !== "no_matching_allow")) failures++;
      if (i % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    deciding = false;
    await reloader;

    expect(failures).toBe(0);
    if (compiler) expect(compiler.stats()).toMatchObject({ checkedOnWorker: reloads + 1, checkedOnMainThread: 0 });
    expect([...seen.keys()].sort()).toEqual([readsAndWrites, readsOnly].sort());
    expect(reloads).toBeGreaterThan(3);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(DECISIONS);
  });
});
