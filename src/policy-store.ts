/**
 * Holds the policy set the server decides with. A reload compiles the whole
 * set first and swaps it in only when it compiled, in one assignment, so each
 * request sees exactly one revision and a broken edit never replaces a good set.
 * (Watching the directory and SIGHUP are wired on top of `reload`.)
 */
import type { Diagnostic } from "./diagnostics.js";
import { loadPolicies, type LoadedPolicies } from "./policy-loader.js";

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
  close(): void;
}

/** Options for `createPolicyStore`. */
export interface PolicyStoreOptions {
  readonly paths: readonly string[];
  readonly now?: () => number;
}

/** Creates a store; call `reload("startup")` to load the first set. */
export function createPolicyStore(options: PolicyStoreOptions): PolicyStore {
  const now = options.now ?? Date.now;
  let current: PolicySnapshot | undefined;
  let lastReload: (ReloadOutcome & { at: number }) | undefined;
  let lastError: (ReloadOutcome & { at: number }) | undefined;
  const listeners: ((outcome: ReloadOutcome) => void)[] = [];
  // Reloads run one at a time, in order, so an older load can never overwrite a newer one.
  let queue: Promise<unknown> = Promise.resolve();

  async function load(trigger: string): Promise<ReloadOutcome> {
    let outcome: ReloadOutcome;
    try {
      const result = await loadPolicies(options.paths);
      if (result.ok) {
        const changed = current?.revision !== result.revision;
        if (changed) current = { ...result, loadedAt: now() };
        outcome = { ok: true, changed, revision: result.revision, diagnostics: result.warnings, sources: result.sources, trigger };
      } else {
        outcome = { ok: false, changed: false, diagnostics: result.diagnostics, sources: result.sources, trigger };
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      outcome = {
        ok: false,
        changed: false,
        diagnostics: [{ code: "policy_load_failed", severity: "error", message }],
        sources: new Map(),
        trigger,
      };
    }
    lastReload = { ...outcome, at: now() };
    if (outcome.ok) lastError = undefined;
    else lastError = lastReload;
    for (const listener of listeners) listener(outcome);
    return outcome;
  }

  return {
    current: () => current,
    reload(trigger) {
      const next = queue.then(() => load(trigger));
      queue = next.catch(() => undefined);
      return next;
    },
    status: () => ({ current, lastReload, lastError }),
    onReload: (listener) => void listeners.push(listener),
    close: () => undefined,
  };
}
