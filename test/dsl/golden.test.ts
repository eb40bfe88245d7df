// Golden tests of the diagnostics users read: each bad policy under golden/
// has its rendered output (`file:line:col: error: …`, the source line, a
// caret and help) in a `.errors.txt` beside it. A change to a message shows
// up as a diff of that file; review it, then run `npx vitest run test/dsl -u`.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderDiagnostics } from "../../src/diagnostics.js";
import { checkPolicySources } from "../../src/dsl/index.js";

const dir = join(import.meta.dirname, "golden");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".ward"))
  .sort();

describe("golden diagnostics", () => {
  it("has golden files", () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it.each(files)("%s", async (name) => {
    const text = readFileSync(join(dir, name), "utf8");
    // The file name as a user would type it, so the snapshot does not depend on the checkout's location.
    const file = `golden/${name}`;
    const result = checkPolicySources([{ file, text }]);
    expect(result.diagnostics.length).toBeGreaterThan(0);
    // Every golden file but warnings.ward is there to show errors.
    expect(result.ok).toBe(name === "warnings.ward");
    const rendered = renderDiagnostics(result.diagnostics, (f) => (f === file ? text : undefined));
    await expect(`${rendered}\n`).toMatchFileSnapshot(join(dir, name.replace(/\.ward$/, ".errors.txt")));
  });
});
