import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// The lint rule that enforces module boundaries must itself be able to fail.
describe("module boundary lint rule", () => {
  it("rejects an import from the pure engine into a shell", () => {
    const dir = mkdtempSync(join("src", "engine", ".lint-probe-"));
    const file = join(dir, "probe.ts");
    try {
      writeFileSync(file, 'import { readFileSync } from "node:fs";\nexport const x = readFileSync;\n');
      let output = "";
      try {
        execFileSync("npx", ["eslint", "--no-warn-ignored", file], { encoding: "utf8", stdio: "pipe" });
      } catch (e) {
        output = String((e as { stdout?: string }).stdout);
      }
      expect(output).toContain("no-restricted-imports");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
