// Helpers for running `ward` commands in-process: a fake CliIo that captures
// output, and temporary policy directories.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/main.js";

/** What a command printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `ward <argv>` in-process in `cwd`, with `stdin` as standard input. */
export async function ward(argv: readonly string[], options: { cwd: string; stdin?: string; now?: number }): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readStdin: async () => options.stdin ?? "",
    cwd: options.cwd,
    now: () => options.now ?? Date.parse("2027-03-03T12:00:00Z"),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Creates a temporary directory with the given files (path → text); removed after the test. */
export function project(files: Readonly<Record<string, string>>): string {
  const dir = mkdtempSync(join(tmpdir(), "ward-cli-"));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return dir;
}

/** The repository root (tests run from it). */
export const ROOT = process.cwd();

/** The last non-empty line of a text. */
export function lastLine(text: string): string {
  const lines = text.trimEnd().split("\n");
  return lines[lines.length - 1] ?? "";
}

/** A small policy set used across the CLI tests. */
export const PAYMENTS_POLICY = `# payments
policy "payments-api" {
  applies when destination.spiffe_id == "spiffe://prod.example.com/ns/payments/sa/payment-api"

  let checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout"

  allow "checkout may charge" when
    caller.spiffe_id == checkout
    and request.method == "POST"
    and request.path == "/api/v1/charge"

  allow "anyone may read" when
    caller.trust_domain == "prod.example.com"
    and request.method == "GET"

  deny "no cross-environment calls" when caller.trust_domain != "prod.example.com"
}
`;
