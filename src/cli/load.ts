/**
 * Reads policy files for a CLI command: paths are resolved against the
 * command's working directory (`CliIo.cwd`, so tests can run commands in a
 * temporary directory without `chdir`), files are named relative to it in
 * every diagnostic, and checking and compiling go through the same
 * `compileSources` the server's loader uses.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { renderDiagnostics, type Diagnostic } from "../diagnostics.js";
import type { PolicySource } from "../dsl/index.js";
import { compileSources, findPolicyFiles, type LoadResult } from "../policy-loader.js";
import type { CliIo } from "./io.js";

/** The directory commands read when no path is given. */
export const DEFAULT_POLICY_PATHS: readonly string[] = ["policies/"];

/** Policy sources read from disk, with the absolute path behind each display name. */
export interface CliSources {
  readonly sources: readonly PolicySource[];
  /** Display name → absolute path. */
  readonly absolute: ReadonlyMap<string, string>;
}

/** A read that failed before any checking: a missing path or an unreadable file. */
export interface ReadFailure {
  readonly message: string;
}

/** Names `absolutePath` for output: relative to `cwd` when it lies below it, else absolute. */
export function displayPath(cwd: string, absolutePath: string): string {
  const rel = relative(cwd, absolutePath);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? absolutePath : rel;
}

/** Lists and reads the `.ward` files under `paths` (relative to `io.cwd`). */
export async function readPolicySources(
  paths: readonly string[],
  io: CliIo,
): Promise<{ readonly ok: true; readonly value: CliSources } | { readonly ok: false; readonly failure: ReadFailure }> {
  const roots = paths.map((p) => resolve(io.cwd, p));
  let names: string[];
  try {
    names = await findPolicyFiles(roots);
  } catch (err) {
    return { ok: false, failure: { message: describeFsError(err) } };
  }
  const sources: PolicySource[] = [];
  const absolute = new Map<string, string>();
  for (const name of names) {
    // findPolicyFiles names files relative to the process's directory; re-anchor them on the command's.
    const abs = resolve(name);
    const file = displayPath(io.cwd, abs);
    try {
      sources.push({ file, text: await readFile(abs, "utf8") });
    } catch (err) {
      return { ok: false, failure: { message: describeFsError(err) } };
    }
    absolute.set(file, abs);
  }
  return { ok: true, value: { sources, absolute } };
}

/** Turns a file-system error into a lower-case message that names the path in backticks. */
export function describeFsError(err: unknown): string {
  const e = err as { path?: string };
  const path = e.path !== undefined ? ` \`${e.path}\`` : "";
  return `cannot read${path}: ${fsReason(err)}`;
}

/** The reason part of a file-system error: `no such file or directory`. */
export function fsReason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "not a directory";
    default:
      return e.message ?? String(err);
  }
}

/** A compiled set for a command, or the exit code after the problem was reported. */
export type CliLoad = { readonly ok: true; readonly load: Extract<LoadResult, { ok: true }>; readonly files: CliSources } | { readonly ok: false; readonly exitCode: number };

/**
 * Reads, checks and compiles for commands that need a working policy set
 * (`eval`, `test`). Diagnostics go to stderr rendered with the source line and
 * a caret; warnings are printed only when `showWarnings` is set. Any failure
 * here is a setup error: exit 2.
 */
export async function loadForCommand(paths: readonly string[], io: CliIo, options: { readonly showWarnings: boolean }): Promise<CliLoad> {
  const read = await readPolicySources(paths, io);
  if (!read.ok) {
    io.stderr(`error: ${read.failure.message}\n`);
    return { ok: false, exitCode: 2 };
  }
  if (read.value.sources.length === 0) {
    io.stderr(`error: no \`.ward\` files found in ${paths.map((p) => `\`${p}\``).join(", ")}\n`);
    return { ok: false, exitCode: 2 };
  }
  const load = compileSources(read.value.sources);
  if (!load.ok) {
    io.stderr(`${renderWithSources(load.diagnostics, load.sources)}\n\n${summarizeDiagnostics(load.diagnostics)}\n`);
    return { ok: false, exitCode: 2 };
  }
  if (options.showWarnings && load.warnings.length > 0) io.stderr(`${renderWithSources(load.warnings, load.sources)}\n\n`);
  return { ok: true, load, files: read.value };
}

/** Renders diagnostics with the source line and caret from `sources`. */
export function renderWithSources(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, string>): string {
  return renderDiagnostics(diagnostics, (file) => sources.get(file));
}

/** `2 errors, 1 warning`, for the end of a diagnostic listing. */
export function summarizeDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  return `${plural(errors, "error")}, ${plural(warnings, "warning")}`;
}

/** `1 file`, `3 files`; `pluralNoun` for irregular plurals (`policies`). */
export function plural(n: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : pluralNoun}`;
}
