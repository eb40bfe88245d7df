// The README is the front door: its example policy must check clean and its test must pass.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { project, ward } from "./helpers.js";

function readmeBlockAfter(heading: string): string {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf(heading));
  const block = section.split("```")[1];
  if (block === undefined) throw new Error(`no code block after ${heading}`);
  return block;
}

describe("README", () => {
  it("shows a policy that checks without warnings and whose test passes", async () => {
    const dir = project({ "payments.ward": readmeBlockAfter("## A policy") });
    const checked = await ward(["check", "."], { cwd: dir });
    expect(checked.code, checked.stderr + checked.stdout).toBe(0);
    expect(checked.stdout + checked.stderr).toContain("0 errors, 0 warnings");
    const tested = await ward(["test", "."], { cwd: dir });
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout + tested.stderr).toContain("1 passed, 0 failed");
  });
});
