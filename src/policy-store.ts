/**
 * Holds the policy set the server decides with. A reload compiles the whole
 * set first and swaps it in only when it compiled, in one assignment, so each
 * request sees exactly one revision and a broken edit never replaces a good set.
 *
 * Reloads are triggered by `reload(trigger)` (startup, SIGHUP from `main.ts`)
 * and, with `watch: true`, by changes under the policy paths: every directory
 * is watched non-recursively (Node 20's recursive watch on Linux loses files
 * that an editor renames over), bursts of events are debounced, and a reload
 * reads the files only once they have been quiet for a moment and reads them
 * consistently (same list, sizes and mtimes before and after), so a file caught
 * half-written is not loaded; if one is caught anyway it fails to compile and is
 * rejected, and the change that completes it triggers the next reload.
 * An empty set (no `.ward` files, or files without policies) is rejected like
 * a broken one: deleting the policies never turns into "nothing to enforce".
 * See docs/http.md, "Policy reload".
 */
import { watch as watchDirectory, type FSWatcher } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatLocation, renderDiagnostic, type Diagnostic } from "./diagnostics.js";
import type { PolicySource } from "./dsl/index.js";
import { compileSources, findPolicyFiles, PolicyEntryVanished, revisionOf, type LoadedPolicies, type LoadResult } from "./policy-loader.js";

/** A loaded set with the time it was swapped in. */
export interface PolicySnapshot extends LoadedPolicies {
  /** Epoch ms. */
  readonly loadedAt: number;
}

/** What one reload did. */
export interface ReloadOutcome {
  readonly ok: boolean;
  /** True when a new revision was swapped in. */
  readonly changed: boolean;
  readonly revision?: string;
  readonly diagnostics: readonly Diagnostic[];
  readonly sources: ReadonlyMap<string, string>;
  readonly trigger: string;
}

/** State for `/v1/policies` and metrics. */
export interface PolicyStoreStatus {
  readonly current?: PolicySnapshot;
  readonly lastReload?: ReloadOutcome & { readonly at: number };
  /** The last failed reload, kept until a later reload succeeds. */
  readonly lastError?: ReloadOutcome & { readonly at: number };
  /** Directories watched for changes (empty when not watching). */
  readonly watching?: readonly string[];
}

/** The policy store. */
export interface PolicyStore {
  /** The set to decide with; undefined until the first successful load. */
  current(): PolicySnapshot | undefined;
  /** Loads and compiles the paths again; swaps only on success. Never rejects. */
  reload(trigger: string): Promise<ReloadOutcome>;
  status(): PolicyStoreStatus;
  /** Called after every reload attempt. */
  onReload(listener: (outcome: ReloadOutcome) => void): void;
  /** Stops watching; reloads already running finish. */
  close(): void;
}

/** The operational log the store reports reloads to (pino's `(object, message)` form). */
export interface PolicyStoreLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Options for `createPolicyStore`. */
export interface PolicyStoreOptions {
  readonly paths: readonly string[];
  readonly now?: () => number;
  /** Reload when files under `paths` change. Default false. */
  readonly watch?: boolean;
  /** Quiet time after the last change event before a watch-triggered reload, in ms. Default 200. */
  readonly debounceMs?: number;
  /**
   * How long the newest policy file must have been unmodified before a reload
   * reads the set, in ms (guards SIGHUP and slow writers too). Default `debounceMs`.
   */
  readonly settleMs?: number;
  /** Where reload results go; silent by default. */
  readonly logger?: PolicyStoreLogger;
  /**
   * Checks and compiles the sources; `compileSources` by default. Once it
   * listens, `ward serve` uses a `PolicyCompiler` (policy-compiler.ts), which
   * keeps the event loop free; tests inject slow or counting compilers.
   */
  readonly compile?: (sources: readonly PolicySource[]) => LoadResult | Promise<LoadResult>;
}

const DEFAULT_DEBOUNCE_MS = 200;
// A burst of events never delays a reload longer than this many debounce periods.
const MAX_WAIT_PERIODS = 10;
// Consistent-read attempts before a reload gives up on files that keep changing.
const SETTLE_ATTEMPTS = 10;
// How often to look for a policy path that does not exist (yet).
const MISSING_PATH_POLL_MS = 1000;

const silentLogger: PolicyStoreLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Creates a store; call `reload("startup")` to load the first set. With `watch: true` it starts watching at once. */
export function createPolicyStore(options: PolicyStoreOptions): PolicyStore {
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const compile = options.compile ?? compileSources;
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const settleMs = options.settleMs ?? debounceMs;
  let current: PolicySnapshot | undefined;
  let lastReload: (ReloadOutcome & { at: number }) | undefined;
  let lastError: (ReloadOutcome & { at: number }) | undefined;
  const listeners: ((outcome: ReloadOutcome) => void)[] = [];
  // Reloads run one at a time, in order, so an older load can never overwrite a newer one.
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function load(trigger: string): Promise<ReloadOutcome> {
    let outcome: ReloadOutcome;
    try {
      const read = await readSettled(options.paths, settleMs);
      if (!read.ok) {
        outcome = { ok: false, changed: false, diagnostics: read.diagnostics, sources: new Map(), trigger };
      } else if (read.sources.length === 0) {
        outcome = failure(trigger, "no_policy_files", `no \`.ward\` files found under ${options.paths.map((p) => `\`${p}\``).join(", ")}`, read.sources);
      } else if (current !== undefined && current.revision === revisionOf(read.sources)) {
        // Same content as the serving set: nothing to compile (watch events from editors' swap files end here).
        outcome = { ok: true, changed: false, revision: current.revision, diagnostics: current.warnings, sources: current.sources, trigger };
      } else {
        const result = await compile(read.sources);
        if (!result.ok) {
          outcome = { ok: false, changed: false, diagnostics: result.diagnostics, sources: result.sources, trigger };
        } else if (result.program.policies.length === 0) {
          outcome = failure(trigger, "no_policies", "the policy files define no policies", read.sources);
        } else {
          current = { ...result, loadedAt: now() };
          outcome = { ok: true, changed: true, revision: result.revision, diagnostics: result.warnings, sources: result.sources, trigger };
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      outcome = failure(trigger, "policy_load_failed", `policy load failed: ${message}`, []);
    }
    lastReload = { ...outcome, at: now() };
    if (outcome.ok) lastError = undefined;
    else lastError = lastReload;
    report(outcome);
    for (const listener of listeners) {
      try {
        listener(outcome);
      } catch (err) {
        logger.error({ err }, "policy reload listener failed");
      }
    }
    return outcome;
  }

  function report(outcome: ReloadOutcome): void {
    const serving = current?.revision ?? "none";
    if (!outcome.ok) {
      const errors = outcome.diagnostics.map((d) => renderDiagnostic(d));
      const first = outcome.diagnostics[0];
      const headline = first ? `${first.span ? `${formatLocation(first.span)}: ` : ""}${first.message}` : "unknown error";
      const more = outcome.diagnostics.length > 1 ? ` (and ${outcome.diagnostics.length - 1} more)` : "";
      logger.error(
        { trigger: outcome.trigger, errors, servingRevision: serving },
        `policy reload rejected, still serving revision ${serving}: ${headline}${more}`,
      );
      return;
    }
    if (!outcome.changed) {
      logger.debug({ trigger: outcome.trigger, revision: outcome.revision }, "policy set unchanged");
      return;
    }
    const program = current?.program;
    logger.info(
      { trigger: outcome.trigger, revision: outcome.revision, policies: program?.policies.length, rules: program?.ruleCount, files: current?.files },
      `policy set loaded: revision ${outcome.revision}`,
    );
    for (const d of outcome.diagnostics) logger.warn({ trigger: outcome.trigger, warning: renderDiagnostic(d) }, `policy warning: ${d.message}`);
  }

  function reload(trigger: string): Promise<ReloadOutcome> {
    const next = queue.then(() => load(trigger));
    queue = next.catch(() => undefined);
    return next;
  }

  // --- watching ---------------------------------------------------------------
  const watchers = new Map<string, { readonly watcher: FSWatcher; readonly ino: number }>();
  let debounceTimer: NodeJS.Timeout | undefined;
  let burstStart: number | undefined;
  let missingPoll: NodeJS.Timeout | undefined;
  let syncing: Promise<number> | undefined;
  let lastMissing: number | undefined;

  function schedule(): void {
    if (closed) return;
    const t = Date.now();
    burstStart ??= t;
    if (debounceTimer !== undefined) clearTimeout(debounceTimer);
    const delay = Math.max(0, Math.min(debounceMs, burstStart + debounceMs * MAX_WAIT_PERIODS - t));
    debounceTimer = setTimeout(fire, delay);
    debounceTimer.unref();
  }

  function fire(): void {
    debounceTimer = undefined;
    burstStart = undefined;
    if (closed) return;
    // New or replaced directories get watchers before the files are read, so no later write goes unseen.
    void syncWatchers()
      .catch((err: unknown) => logger.warn({ err }, "cannot watch policy paths"))
      .then(() => (closed ? undefined : reload("watch")));
  }

  /** Watches every directory the set can come from; returns how many policy paths are missing. */
  function syncWatchers(): Promise<number> {
    syncing ??= doSync().finally(() => (syncing = undefined));
    return syncing;
  }

  async function doSync(): Promise<number> {
    const wanted = new Map<string, number>();
    let missing = 0;
    for (const path of options.paths) {
      try {
        const info = await stat(path);
        if (info.isDirectory()) await collectDirectories(path, wanted, new Set());
        else {
          const parent = dirname(path);
          wanted.set(parent, (await stat(parent)).ino);
        }
      } catch {
        missing++;
      }
    }
    if (closed) return missing;
    for (const [dir, entry] of watchers) {
      if (wanted.get(dir) !== entry.ino) {
        entry.watcher.close();
        watchers.delete(dir);
      }
    }
    for (const [dir, ino] of wanted) {
      if (watchers.has(dir)) continue;
      try {
        // Non-persistent: the servers keep the process alive, the watch never does.
        const watcher = watchDirectory(dir, { persistent: false }, () => schedule());
        watcher.on("error", (err) => {
          logger.warn({ err, dir }, "policy directory watch failed; watching again");
          watcher.close();
          if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
          schedule();
        });
        watchers.set(dir, { watcher, ino });
      } catch (err) {
        logger.warn({ err, dir }, "cannot watch policy directory");
      }
    }
    updateMissingPoll(missing);
    return missing;
  }

  function updateMissingPoll(missing: number): void {
    // A path that appeared since the last look has files to load.
    if (lastMissing !== undefined && missing < lastMissing) schedule();
    lastMissing = missing;
    if (missing > 0 && missingPoll === undefined && !closed) {
      // A path that does not exist cannot be watched: look for it until it appears.
      missingPoll = setInterval(() => {
        void syncWatchers().catch((err: unknown) => logger.warn({ err }, "cannot watch policy paths"));
      }, MISSING_PATH_POLL_MS);
      missingPoll.unref();
    } else if (missing === 0 && missingPoll !== undefined) {
      clearInterval(missingPoll);
      missingPoll = undefined;
    }
  }

  if (options.watch === true) void syncWatchers().catch((err: unknown) => logger.warn({ err }, "cannot watch policy paths"));

  return {
    current: () => current,
    reload,
    status: () => ({ current, lastReload, lastError, watching: [...watchers.keys()].sort() }),
    onReload: (listener) => void listeners.push(listener),
    close() {
      closed = true;
      if (debounceTimer !== undefined) clearTimeout(debounceTimer);
      if (missingPoll !== undefined) clearInterval(missingPoll);
      for (const { watcher } of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

function failure(trigger: string, code: string, message: string, sources: readonly PolicySource[]): ReloadOutcome {
  return {
    ok: false,
    changed: false,
    diagnostics: [{ code, severity: "error", message }],
    sources: new Map(sources.map((s) => [s.file, s.text])),
    trigger,
  };
}

// The same directories `findPolicyFiles` descends into: hidden entries and node_modules are skipped.
async function collectDirectories(dir: string, into: Map<string, number>, seen: Set<number>): Promise<void> {
  const info = await stat(dir);
  if (seen.has(info.ino)) return; // a symlink loop
  seen.add(info.ino);
  into.set(dir, info.ino);
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    const child = join(dir, entry.name);
    try {
      if ((await stat(child)).isDirectory()) await collectDirectories(child, into, seen);
    } catch {
      // A dangling symlink or an entry deleted meanwhile: nothing to watch.
    }
  }
}

type SettledRead = { readonly ok: true; readonly sources: readonly PolicySource[] } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

interface FileState {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

/**
 * Reads every policy file once the set is quiet (no file modified, and no
 * directory holding one changed by a create, rename or delete, within
 * `settleMs`) and consistent (the same files and directories with the same
 * size and mtime before and after reading), retrying while a writer is still
 * at work. Directories count because an editor that renames over a file
 * briefly leaves the directory without it.
 */
async function readSettled(paths: readonly string[], settleMs: number): Promise<SettledRead> {
  let lastProblem = "";
  for (let attempt = 1; attempt <= SETTLE_ATTEMPTS; attempt++) {
    let files: string[];
    try {
      files = await findPolicyFiles(paths);
    } catch (err) {
      // A missing or unreadable policy path is a setup problem, not a race: report it at once.
      if (!(err instanceof PolicyEntryVanished)) {
        return { ok: false, diagnostics: [{ code: pathErrorCode(err), severity: "error", message: describeFsError(err) }] };
      }
      // Something below it went away while it was listed: the directory is changing; list it again.
      lastProblem = describeFsError(err);
      if (attempt < SETTLE_ATTEMPTS) await sleep(settleMs);
      continue;
    }
    const watched = [...new Set([...files.map((f) => dirname(f)), ...paths])];
    try {
      const before = await Promise.all(files.map(fileState));
      const dirsBefore = await Promise.all(watched.map(fileState));
      const newest = [...before, ...dirsBefore].reduce((max, s) => (s.mtimeNs > max ? s.mtimeNs : max), 0n);
      const quietFor = Date.now() - Number(newest / 1_000_000n);
      // An mtime in the future (clock skew) cannot be waited out; after the attempts run out, read anyway.
      if (quietFor < settleMs && attempt < SETTLE_ATTEMPTS) {
        await sleep(Math.min(settleMs, settleMs - quietFor));
        continue;
      }
      const texts = await Promise.all(files.map((f) => readFile(f)));
      const after = await Promise.all(files.map(fileState));
      const dirsAfter = await Promise.all(watched.map(fileState));
      const again = await findPolicyFiles(paths);
      const consistent =
        sameList(files, again) &&
        before.every((s, i) => sameState(s, after[i]) && BigInt(texts[i]?.length ?? -1) === s.size) &&
        dirsBefore.every((s, i) => sameState(s, dirsAfter[i]));
      if (consistent) return { ok: true, sources: files.map((file, i) => ({ file, text: texts[i]!.toString("utf8") })) };
      lastProblem = "policy files changed while being read";
    } catch (err) {
      // A file deleted or renamed between listing and reading: the directory is changing; read again.
      lastProblem = describeFsError(err);
    }
    if (attempt < SETTLE_ATTEMPTS) await sleep(settleMs);
  }
  return { ok: false, diagnostics: [{ code: "policy_files_unsettled", severity: "error", message: `policy files kept changing: ${lastProblem}` }] };
}

async function fileState(file: string): Promise<FileState> {
  const s = await stat(file, { bigint: true });
  return { ino: s.ino, size: s.size, mtimeNs: s.mtimeNs };
}

function sameState(a: FileState, b: FileState | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function pathErrorCode(err: unknown): string {
  return (err as { code?: string }).code === "ENOENT" ? "policy_path_not_found" : "policy_path_unreadable";
}

function describeFsError(err: unknown): string {
  const e = err as { code?: string; path?: string; message?: string };
  const path = e.path !== undefined ? ` \`${e.path}\`` : "";
  const reason =
    e.code === "ENOENT" ? "no such file or directory" : e.code === "EACCES" || e.code === "EPERM" ? "permission denied" : (e.message ?? String(err));
  return `cannot read${path}: ${reason}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
