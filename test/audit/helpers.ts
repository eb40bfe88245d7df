// Shared pieces of the audit tests: small policy sets (a live one and candidates
// that tighten or loosen it), the real decision path, records made the way the
// server makes them, and a CliIo that captures output.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { toAuditRecord, DEFAULT_REDACTED_HEADERS, type AuditMode, type DecisionRecord } from "../../src/audit/record.js";
import type { CliIo } from "../../src/cli/io.js";
import { decide, type DecisionDeps, type DecisionOutcome } from "../../src/decide.js";
import type { Program } from "../../src/engine/program.js";
import { createIdentityResolver } from "../../src/identity/resolve.js";
import { createInputBuilder } from "../../src/input/build.js";
import { fromCompactInput } from "../../src/input/documents.js";
import type { RawRequest } from "../../src/input/raw.js";
import { compileSources } from "../../src/policy-loader.js";

export const ORDERS_API = "spiffe://prod.example.com/ns/orders/sa/api";
export const FRONTEND = "spiffe://prod.example.com/ns/web/sa/frontend";
export const BATCH = "spiffe://prod.example.com/ns/batch/sa/worker";
export const REPORTS = "spiffe://prod.example.com/ns/reports/sa/reporter";

/** The live policy: the frontend reads, the batch worker writes, reports read exports. */
export const LIVE = `policy "orders" {
  applies when destination.spiffe_id == "${ORDERS_API}"

  allow "frontend reads orders" when
    caller.spiffe_id == "${FRONTEND}"
    and request.method == "GET"

  allow "batch writes orders" when
    caller.spiffe_id == "${BATCH}"
    and request.method == "POST"

  allow "reports read exports" when
    caller.spiffe_id == "${REPORTS}"
    and request.path starts_with "/exports/"
}
`;

/** Tightened: the batch worker may no longer write, and exports are denied outright to reports. */
export const TIGHTENED = `policy "orders" {
  applies when destination.spiffe_id == "${ORDERS_API}"

  allow "frontend reads orders" when
    caller.spiffe_id == "${FRONTEND}"
    and request.method == "GET"

  allow "reports read exports" when
    caller.spiffe_id == "${REPORTS}"
    and request.path starts_with "/exports/"

  deny "no exports of archived orders" when
    request.path starts_with "/exports/archive/"
}
`;

/** Loosened: the frontend may also write. */
export const LOOSENED = `${LIVE.replace('request.method == "GET"', '(request.method == "GET" or request.method == "POST")')}`;

/** Compiles policy text (one file) or fails the test. */
export function compile(text: string, file = "orders.ward"): Program {
  const loaded = compileSources([{ file, text }]);
  if (!loaded.ok) throw new Error(`test policy does not compile: ${JSON.stringify(loaded.diagnostics)}`);
  return loaded.program;
}

/** The real resolver and input builder, with the server's defaults. */
export function deps(): DecisionDeps {
  return { resolver: createIdentityResolver(), inputBuilder: createInputBuilder() };
}

/** A raw request to the orders API from `caller`. */
export function request(caller: string | undefined, method: string, path: string, headers: Record<string, string> = {}): RawRequest {
  const raw = fromCompactInput({
    ...(caller !== undefined && { caller: { spiffe_id: caller } }),
    request: { method, path, host: "orders.internal", headers },
    source: { ip: "10.1.2.3", port: 40000 },
    destination: { spiffe_id: ORDERS_API },
  });
  if (!raw.ok) throw new Error(`bad test request: ${JSON.stringify(raw.diagnostics)}`);
  return raw.value;
}

export const T0 = Date.UTC(2027, 0, 6, 9, 0, 0);

/** Decides `raw` with `program` through the one decision path. */
export function decideWith(program: Program, raw: RawRequest, options: { auditAll?: boolean; now?: number } = {}): DecisionOutcome {
  return decide(program, raw, deps(), { now: options.now ?? T0, auditAll: options.auditAll ?? false });
}

let counter = 0;

/** A decision record exactly as the server writes it for `raw` decided by `program`. */
export function recordOf(
  program: Program,
  raw: RawRequest,
  options: { mode?: AuditMode; includeInput?: boolean; time?: number; decisionId?: string } = {},
): DecisionRecord {
  const mode = options.mode ?? "audit";
  const time = options.time ?? T0 + counter * 1000;
  const outcome = decideWith(program, raw, { auditAll: mode === "audit", now: time });
  counter++;
  return toAuditRecord(outcome, {
    decisionId: options.decisionId ?? `d-${counter}`,
    time,
    mode,
    micros: 12.345,
    raw,
    includeInput: options.includeInput ?? true,
    redactHeaders: DEFAULT_REDACTED_HEADERS,
  });
}

/** JSON lines of the given records or raw lines. */
export function jsonl(items: readonly (object | string)[]): string {
  return items.map((i) => (typeof i === "string" ? i : JSON.stringify(i))).join("\n") + "\n";
}

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory with files (path → text), removed after the test. */
export function tempDir(files: Readonly<Record<string, string>> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "ward-audit-"));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return dir;
}

/** A captured command run. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a CLI command in-process in `cwd`. */
export async function run(
  command: (argv: readonly string[], io: CliIo) => Promise<number>,
  argv: readonly string[],
  options: { cwd: string; stdin?: string },
): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await command(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readStdin: async () => options.stdin ?? "",
    cwd: options.cwd,
    now: () => T0,
  });
  return { code, stdout, stderr };
}
