/**
 * Loads policy files from disk into a compiled program: the only place that
 * reads `.ward` files for the server and the CLI alike. The revision is a
 * content hash, so the same files always give the same revision.
 */
import { createHash } from "node:crypto";
import type { Dirent, Stats } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import type { Diagnostic } from "./diagnostics.js";
import type { CheckedPolicySet } from "./dsl/checked.js";
import { checkPolicySources, type PolicySource } from "./dsl/index.js";
import { compile } from "./engine/compile.js";
import type { Program } from "./engine/program.js";

/** A policy set that compiled. */
export interface LoadedPolicies {
  readonly revision: string;
  readonly program: Program;
  readonly checked: CheckedPolicySet;
  /** Files as named in diagnostics (relative to the working directory when below it). */
  readonly files: readonly string[];
  /** Warnings (errors make the load fail). */
  readonly warnings: readonly Diagnostic[];
  readonly sources: ReadonlyMap<string, string>;
}

/** The outcome of a load: the compiled set, or every diagnostic with the sources to render them. */
export type LoadResult =
  | ({ readonly ok: true } & LoadedPolicies)
  | {
      readonly ok: false;
      readonly diagnostics: readonly Diagnostic[];
      readonly sources: ReadonlyMap<string, string>;
      readonly files: readonly string[];
    };

/** File name suffix of policy files. */
export const POLICY_EXTENSION = ".ward";

/**
 * A directory entry that was listed but was gone when looked at (or a symlink
 * to nothing): the directory is changing, so a reader should list it again.
 */
export class PolicyEntryVanished extends Error {
  readonly code = "policy_entry_vanished";
  constructor(readonly path: string) {
    super("listed, then gone: removed or renamed while being read, or a symlink to nothing");
    this.name = "PolicyEntryVanished";
  }
}

/**
 * Lists `.ward` files under the given files or directories (recursively, sorted, hidden entries skipped).
 * A missing given path throws the file system's error; an entry found below one that is gone when
 * looked at throws `PolicyEntryVanished` if it could hold policies (listed as a directory, or named
 * `.ward`), and is skipped otherwise: a temporary file renamed over a policy file is not a policy file.
 */
export async function findPolicyFiles(paths: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  async function walk(path: string, explicit: boolean, listedAsDirectory = false): Promise<void> {
    let info: Stats;
    try {
      info = await stat(path);
    } catch (err) {
      if (explicit || !isGone(err)) throw err;
      if (listedAsDirectory || path.endsWith(POLICY_EXTENSION)) throw new PolicyEntryVanished(path);
      return;
    }
    if (info.isDirectory()) {
      let entries: Dirent[];
      try {
        entries = await readdir(path, { withFileTypes: true });
      } catch (err) {
        throw !explicit && isGone(err) ? new PolicyEntryVanished(path) : err;
      }
      for (const entry of entries) {
        if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
        await walk(join(path, entry.name), false, entry.isDirectory());
      }
    } else if (explicit || path.endsWith(POLICY_EXTENSION)) {
      found.add(displayName(path));
    }
  }
  for (const p of paths) await walk(p, true);
  return [...found].sort();
}

function isGone(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function displayName(path: string): string {
  const rel = relative(process.cwd(), resolve(path));
  return rel.startsWith("..") ? resolve(path) : rel;
}

/** The content hash of a set of sources: sha256 over sorted (name, text) pairs, first 16 hex digits. */
export function revisionOf(sources: readonly PolicySource[]): string {
  const hash = createHash("sha256");
  for (const s of [...sources].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
    hash.update(s.file).update("\0").update(s.text).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** Checks and compiles sources already in memory. */
export function compileSources(sources: readonly PolicySource[]): LoadResult {
  const checked = checkPolicySources(sources);
  if (!checked.ok) return rejectedLoad(sources, checked.diagnostics);
  const revision = revisionOf(sources);
  return loadedSet(sources, checked.value, checked.diagnostics, revision, compile(checked.value, { revision }));
}

/** The result of a load whose check found errors. */
export function rejectedLoad(sources: readonly PolicySource[], diagnostics: readonly Diagnostic[]): LoadResult {
  return { ok: false, diagnostics, sources: sourceMapOf(sources), files: sources.map((s) => s.file) };
}

/** The result of a load that compiled: `program` compiled from `checked` with `revision` (`revisionOf(sources)`). */
export function loadedSet(
  sources: readonly PolicySource[],
  checked: CheckedPolicySet,
  warnings: readonly Diagnostic[],
  revision: string,
  program: Program,
): LoadResult {
  return { ok: true, revision, program, checked, files: sources.map((s) => s.file), warnings, sources: sourceMapOf(sources) };
}

function sourceMapOf(sources: readonly PolicySource[]): Map<string, string> {
  return new Map(sources.map((s) => [s.file, s.text]));
}

/** Reads, checks and compiles every policy file under `paths`. */
export async function loadPolicies(paths: readonly string[]): Promise<LoadResult> {
  const files = await findPolicyFiles(paths);
  const sources: PolicySource[] = [];
  for (const file of files) sources.push({ file, text: await readFile(file, "utf8") });
  return compileSources(sources);
}
