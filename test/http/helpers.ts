/** Shared pieces of the HTTP and reload tests: temporary policy directories, policies, a recording logger, waiting. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decide, type DecisionOutcome } from "../../src/decide.js";
import { createIdentityResolver } from "../../src/identity/resolve.js";
import { createInputBuilder } from "../../src/input/build.js";
import { fromCompactInput } from "../../src/input/documents.js";
import type { PolicyStore, PolicyStoreLogger, ReloadOutcome } from "../../src/policy-store.js";

/** Allows GET only. */
export const READS = `policy "api" {
  allow "reads" when request.method == "GET"
}
`;

/** Allows GET and POST. */
export const READS_AND_WRITES = `policy "api" {
  allow "reads" when request.method == "GET"
  allow "writes" when request.method == "POST"
}
`;

/** Misspells an attribute on line 2, column 22. */
export const BROKEN = `policy "api" {
  allow "reads" when request.methd == "GET"
}
`;

/** A temporary policy directory, removed by `cleanup`. */
export function tempPolicyDir(files: Record<string, string> = {}): { dir: string; write(name: string, text: string): void; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "ward-http-"));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  for (const [name, text] of Object.entries(files)) write(name, text);
  return { dir, write, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger that keeps every call. */
export function recordingLogger(): PolicyStoreLogger & { readonly lines: { level: string; fields: object; message: string }[] } {
  const lines: { level: string; fields: object; message: string }[] = [];
  const at = (level: string) => (fields: object, message: string) => void lines.push({ level, fields, message });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Keeps every reload outcome of a store, in order. */
export function recordReloads(store: PolicyStore): ReloadOutcome[] {
  const outcomes: ReloadOutcome[] = [];
  store.onReload((o) => outcomes.push(o));
  return outcomes;
}

/** Polls `predicate` every 10 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The real decision collaborators, as the servers build them. */
export function decisionDeps() {
  return { resolver: createIdentityResolver(), inputBuilder: createInputBuilder() };
}

/** Decides a request with `method` against whatever the store serves now. */
export function decideMethod(store: Pick<PolicyStore, "current">, deps: ReturnType<typeof decisionDeps>, method: string): DecisionOutcome {
  const raw = fromCompactInput({
    caller: { spiffe_id: "spiffe://prod.example.com/ns/web/sa/frontend" },
    request: { method, path: "/api/v1/items", host: "api.prod.example.com" },
  });
  if (!raw.ok) throw new Error(`bad test input: ${JSON.stringify(raw.diagnostics)}`);
  return decide(store.current()?.program, raw.value, deps, { now: Date.UTC(2024, 4, 1) });
}
