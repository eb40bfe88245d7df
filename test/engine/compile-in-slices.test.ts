// compileInSlices: the compile `ward serve` runs while it keeps answering calls.
import { describe, expect, it } from "vitest";
import { compile, compileInSlices } from "../../src/engine/compile.js";
import { internalsOf } from "../../src/engine/internal.js";
import { compileSources } from "../../src/policy-loader.js";
import { generatedPolicyText } from "../generated-policies.js";

/** The checked set of `text`. */
function checkedSet(text: string) {
  const loaded = compileSources([{ file: "generated.ward", text }]);
  if (!loaded.ok) throw new Error("the generated set does not compile");
  return loaded.checked;
}

/** Runs `work`, counting the event-loop turns (setImmediate callbacks) that ran while it did. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let working = true;
  const turn = (): void => {
    turns++;
    if (working) setImmediate(turn);
  };
  setImmediate(turn);
  const result = await work();
  working = false;
  return { result, turns };
}

describe("compileInSlices", () => {
  it("pauses inside a policy of many rules too", async () => {
    const rules = Array.from({ length: 1000 }, (_, k) => `  allow "r${k}" when request.path == "/api/v1/r${k}"\n`).join("");
    const { result: sliced, turns } = await turnsDuring(() => compileInSlices(checkedSet(`policy "one" {\n${rules}}\n`), { revision: "r", sliceMs: 0 }));
    // Pauses: 3 inside the policy (every 256 rules), 1 after it, 3 + 3 in the rule index's two passes
    // (every 256 entries), 1 after it, 1 after the policy index. Without the first 3 this is 9.
    expect(turns).toBeGreaterThanOrEqual(3 + 1 + 3 + 3 + 1 + 1);
    expect(sliced.ruleCount).toBe(1000);
  });

  it("hands the event loop back between policies and builds the program compile builds", async () => {
    const set = checkedSet(generatedPolicyText(40));
    const { result: sliced, turns } = await turnsDuring(() => compileInSlices(set, { revision: "r", sliceMs: 0 }));
    // With a zero slice, every policy (and every 256 entries of an index build) ends a slice.
    expect(turns).toBeGreaterThanOrEqual(40 + 1);

    const whole = compile(set, { revision: "r" });
    expect(sliced.policies).toEqual(whole.policies);
    expect(sliced.ruleCount).toBe(whole.ruleCount);
    expect(sliced.needsCertificate).toBe(whole.needsCertificate);
    // The same index: the same buckets, filed the same way.
    for (const index of ["ruleIndex", "policyIndex"] as const) {
      const a = internalsOf(sliced)[index];
      const b = internalsOf(whole)[index];
      expect(a.stats).toEqual(b.stats);
      expect([...a.ids]).toEqual([...b.ids]);
      expect([...a.bucketStart]).toEqual([...b.bucketStart]);
      expect(a.bound).toEqual(b.bound);
    }
    expect([...internalsOf(sliced).plans.start]).toEqual([...internalsOf(whole).plans.start]);
  });
});
