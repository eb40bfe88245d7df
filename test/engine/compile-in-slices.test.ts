// compileInSlices: the compile `ward serve` runs while it keeps answering calls.
import { describe, expect, it } from "vitest";
import { compile, compileInSlices } from "../../src/engine/compile.js";
import { internalsOf } from "../../src/engine/internal.js";
import { compileSources } from "../../src/policy-loader.js";

/** A checked set of `policies` policies with ten rules each. */
function largeCheckedSet(policies: number) {
  let text = "";
  for (let p = 0; p < policies; p++) {
    text += `policy "svc${p}" {\n  applies when destination.spiffe_id == "spiffe://prod.example.com/ns/n${p % 12}/sa/svc${p}"\n`;
    for (let r = 0; r < 10; r++) {
      text += `  allow "r${r}" when caller.spiffe_id == "spiffe://prod.example.com/ns/c${r}/sa/client${(p * 7 + r) % 50}" and request.path starts_with "/api/v1/res${p}-${r}/"\n`;
    }
    text += "}\n";
  }
  const loaded = compileSources([{ file: "large.ward", text }]);
  if (!loaded.ok) throw new Error("the generated set does not compile");
  return loaded.checked;
}

describe("compileInSlices", () => {
  it("pauses inside a policy of many rules too", async () => {
    const rules = Array.from({ length: 1000 }, (_, k) => `  allow "r${k}" when request.path == "/api/v1/r${k}"\n`).join("");
    const loaded = compileSources([{ file: "one.ward", text: `policy "one" {\n${rules}}\n` }]);
    if (!loaded.ok) throw new Error("the generated set does not compile");
    let ticks = 0;
    let compiling = true;
    const tick = (): void => {
      ticks++;
      if (compiling) setImmediate(tick);
    };
    setImmediate(tick);
    const sliced = await compileInSlices(loaded.checked, { revision: "r", sliceMs: 0 });
    compiling = false;
    // Pauses: 3 inside the policy (every 256 rules), 1 after it, 3 + 3 in the rule index's two passes
    // (every 256 entries), 1 after it, 1 after the policy index. Without the first 3 this is 9.
    expect(ticks).toBeGreaterThanOrEqual(3 + 1 + 3 + 3 + 1 + 1);
    expect(sliced.ruleCount).toBe(1000);
  });

  it("hands the event loop back between policies and builds the program compile builds", async () => {
    const set = largeCheckedSet(40);
    let ticks = 0;
    let compiling = true;
    const tick = (): void => {
      ticks++;
      if (compiling) setImmediate(tick);
    };
    setImmediate(tick);
    const sliced = await compileInSlices(set, { revision: "r", sliceMs: 0 });
    compiling = false;
    // With a zero slice, every policy (and every 256 entries of an index build) ends a slice.
    expect(ticks).toBeGreaterThanOrEqual(40 + 1);

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
