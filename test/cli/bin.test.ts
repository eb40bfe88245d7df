// The built `ward` binary (`node dist/main.js`, what `npm test` and users run):
// exit codes, stdout/stderr and standard input through a real process (each
// spawn loads the whole binary, so there are few; in-process tests cover the rest).
// `npm test` builds before vitest runs; run `npm run build` first when running this file alone.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PAYMENTS_POLICY, project, ROOT } from "./helpers.js";

const BIN = join(ROOT, "dist", "main.js");

function run(args: readonly string[], options: { cwd?: string; input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, input: options.input ?? "", encoding: "utf8", timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("node dist/main.js", () => {
  it("`test policies/` passes the shipped suite and ends with the summary line CI reads", () => {
    const r = run(["test", "policies/"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
  });

  it("exits 1 on a failing test and 2 on policies that do not compile", () => {
    const failing = project({
      "policies/p.ward": PAYMENTS_POLICY,
      "policies/p_test.ward": 'test "wrong" {\n  request "GET" "/"\n  expect allow\n}\n',
    });
    const fail = run(["test"], { cwd: failing });
    expect(fail.status).toBe(1);
    expect(fail.stdout.trimEnd().split("\n").pop()).toBe("0 passed, 1 failed");
    const broken = project({ "policies/p.ward": 'policy "p" {\n  allow "r" when\n}\n' });
    const r = run(["test"], { cwd: broken });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^policies\/p\.ward:3:1: error: /m);
  });

  it("`eval --input -` reads the request from standard input", () => {
    const input = JSON.stringify({
      caller: { spiffe_id: "spiffe://prod.example.com/ns/checkout/sa/checkout" },
      request: { method: "POST", path: "/api/v1/charge" },
      destination: { spiffe_id: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
    });
    const r = run(["eval", "policies/", "--input", "-"], { input });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ allowed: true, outcome: "allow", determining: [{ rule: "checkout may charge" }] });
  });

  it("exits 2 with the usage on an unknown command", () => {
    const unknown = run(["bogus"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown command `bogus`");
    expect(unknown.stderr).toContain("usage: ward <command>");
  });
});
