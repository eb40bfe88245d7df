import { appendFileSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { PolicySource } from "../../src/dsl/index.js";
import { compileSources, revisionOf } from "../../src/policy-loader.js";
import { createPolicyStore, type PolicyStore, type PolicyStoreLogger } from "../../src/policy-store.js";
import { BROKEN, decideMethod, decisionDeps, READS, READS_AND_WRITES, recordingLogger, recordReloads, sleep, tempPolicyDir, waitFor } from "./helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(files: Record<string, string>, options: { watch?: boolean; settleMs?: number; debounceMs?: number; compile?: (s: readonly PolicySource[]) => ReturnType<typeof compileSources> } = {}) {
  const tmp = tempPolicyDir(files);
  const logger = recordingLogger();
  const store = createPolicyStore({ paths: [tmp.dir], logger, debounceMs: options.debounceMs ?? 50, settleMs: options.settleMs ?? 0, ...options });
  cleanups.push(() => store.close(), tmp.cleanup);
  const outcomes = recordReloads(store);
  return { ...tmp, store, logger, outcomes };
}

/** The revision the store computes for these files in `dir`. */
function revisionFor(dir: string, files: Record<string, string>): string {
  return revisionOf(Object.entries(files).map(([name, text]) => ({ file: join(dir, name), text })));
}

const deps = decisionDeps();
const post = (store: PolicyStore) => decideMethod(store, deps, "POST").decision;

describe("policy store reloads", () => {
  it("loads at startup and swaps in a good edit", async () => {
    const { dir, write, store } = setup({ "api.ward": READS });
    const first = await store.reload("startup");
    expect(first).toMatchObject({ ok: true, changed: true, revision: revisionFor(dir, { "api.ward": READS }) });
    expect(post(store)).toMatchObject({ allowed: false, reason: "no_matching_allow", revision: first.revision });

    write("api.ward", READS_AND_WRITES);
    const second = await store.reload("sighup");
    expect(second).toMatchObject({ ok: true, changed: true, trigger: "sighup", revision: revisionFor(dir, { "api.ward": READS_AND_WRITES }) });
    expect(post(store)).toMatchObject({ allowed: true, reason: "allowed", revision: second.revision });
    expect(store.status().lastError).toBeUndefined();
  });

  it("rejects a broken edit with file:line:col, keeps serving the last good set, and recovers", async () => {
    const { dir, write, store, logger } = setup({ "api.ward": READS_AND_WRITES });
    const good = await store.reload("startup");

    write("api.ward", BROKEN);
    const bad = await store.reload("sighup");
    expect(bad.ok).toBe(false);
    expect(bad.changed).toBe(false);
    const error = bad.diagnostics.find((d) => d.severity === "error");
    expect(error?.span).toMatchObject({ file: join(dir, "api.ward"), start: { line: 2, column: 22 } });
    // Decisions are unchanged: the old revision still allows POST.
    expect(store.current()?.revision).toBe(good.revision);
    expect(post(store)).toMatchObject({ allowed: true, revision: good.revision });
    // The log says where, and which revision keeps serving.
    const logged = logger.lines.find((l) => l.level === "error");
    expect(logged?.message).toContain(`${join(dir, "api.ward")}:2:22`);
    expect(logged?.message).toContain(`still serving revision ${good.revision}`);
    expect(store.status().lastError).toMatchObject({ ok: false, trigger: "sighup" });

    write("api.ward", READS);
    const fixed = await store.reload("sighup");
    expect(fixed).toMatchObject({ ok: true, changed: true });
    expect(store.status().lastError).toBeUndefined();
    expect(post(store)).toMatchObject({ allowed: false, revision: fixed.revision });
  });

  it("takes pino as its logger", async () => {
    const logger: PolicyStoreLogger = pino({ level: "silent" });
    const tmp = tempPolicyDir({ "api.ward": READS });
    cleanups.push(tmp.cleanup);
    const store = createPolicyStore({ paths: [tmp.dir], logger, settleMs: 0 });
    cleanups.push(() => store.close());
    expect((await store.reload("startup")).ok).toBe(true);
  });

  it("does not recompile unchanged files", async () => {
    let compiles = 0;
    const { store } = setup({ "api.ward": READS }, {
      compile: (s) => {
        compiles++;
        return compileSources(s);
      },
    });
    await store.reload("startup");
    const again = await store.reload("sighup");
    expect(again).toMatchObject({ ok: true, changed: false });
    expect(compiles).toBe(1);
  });

  it("refuses to serve an empty set: deleting every file keeps the last good set", async () => {
    const { dir, store } = setup({ "api.ward": READS_AND_WRITES, "other.ward": READS.replace('"api"', '"other"') });
    const good = await store.reload("startup");
    unlinkSync(join(dir, "api.ward"));
    unlinkSync(join(dir, "other.ward"));
    const outcome = await store.reload("sighup");
    expect(outcome).toMatchObject({ ok: false, diagnostics: [{ code: "no_policy_files" }] });
    expect(store.current()?.revision).toBe(good.revision);
    expect(post(store)).toMatchObject({ allowed: true, revision: good.revision });
  });

  it("refuses files that define no policies", async () => {
    const { store } = setup({ "only-tests.ward": '# nothing but a comment\n' });
    const outcome = await store.reload("startup");
    expect(outcome).toMatchObject({ ok: false, diagnostics: [{ code: "no_policies" }] });
    expect(store.current()).toBeUndefined();
  });

  it("denies everything, with a reason, when nothing was ever loaded", async () => {
    const { store } = setup({});
    const outcome = await store.reload("startup");
    expect(outcome).toMatchObject({ ok: false, diagnostics: [{ code: "no_policy_files" }] });
    expect(store.current()).toBeUndefined();
    expect(decideMethod(store, deps, "GET").decision).toMatchObject({ allowed: false, reason: "no_policies_loaded", revision: "none" });
  });

  it("reports a missing policy path", async () => {
    const store = createPolicyStore({ paths: ["/nonexistent/ward-policies"] });
    cleanups.push(() => store.close());
    const outcome = await store.reload("startup");
    expect(outcome).toMatchObject({ ok: false, diagnostics: [{ code: "policy_path_not_found" }] });
    expect(outcome.diagnostics[0]?.message).toContain("`/nonexistent/ward-policies`");
  });

  it("waits for a file being written before reading it", async () => {
    // The first half of READS_AND_WRITES compiles on its own (a set that allows GET only):
    // a reload that read it mid-write would swap in a set nobody wrote.
    const prefix = READS_AND_WRITES.slice(0, READS_AND_WRITES.indexOf('  allow "writes"')) + "}\n";
    expect(compileSources([{ file: "x.ward", text: prefix }]).ok).toBe(true);
    const { dir, write, store, outcomes } = setup({ "api.ward": READS }, { settleMs: 400 });
    await store.reload("startup");

    write("api.ward", READS_AND_WRITES.slice(0, 20));
    const reloading = store.reload("sighup"); // arrives mid-write
    await sleep(30);
    write("api.ward", READS_AND_WRITES);
    const outcome = await reloading;
    expect(outcome).toMatchObject({ ok: true, changed: true, revision: revisionFor(dir, { "api.ward": READS_AND_WRITES }) });
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
  });

  it("waits out an editor's rename dance instead of loading the set without the file", async () => {
    // vim's default save: rename the file to a backup, write the new one, delete the backup.
    // A reload in between would see a set without `deny.ward`, and one rule fewer to deny with.
    const DENY = 'policy "guard" {\n  deny "no deletes" when request.method == "DELETE"\n}\n';
    const { dir, store, outcomes } = setup({ "api.ward": READS, "deny.ward": DENY }, { settleMs: 400 });
    await store.reload("startup");
    renameSync(join(dir, "deny.ward"), join(dir, "deny.ward~"));
    const reloading = store.reload("sighup");
    await sleep(30);
    writeFileSync(join(dir, "deny.ward"), DENY + "# saved again\n");
    unlinkSync(join(dir, "deny.ward~"));
    const outcome = await reloading;
    expect(outcome).toMatchObject({ ok: true, changed: true });
    expect(store.current()?.program.policies.map((p) => p.name).sort()).toEqual(["api", "guard"]);
    expect(outcomes.every((o) => !o.ok || o.revision !== revisionFor(dir, { "api.ward": READS }))).toBe(true);
  });

  it("is not put off by a temporary file that is gone by the time it is looked at", async () => {
    // Writing a set beside the real file and renaming it over: a reload can list `api.ward.tmp`
    // and find it gone a moment later. A symlink to nothing is listed and gone every time.
    const { dir, store, outcomes } = setup({ "api.ward": READS });
    symlinkSync(join(dir, "renamed-away"), join(dir, "api.ward.tmp"));
    const outcome = await store.reload("startup");
    expect(outcome).toMatchObject({ ok: true, changed: true, revision: revisionFor(dir, { "api.ward": READS }) });
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
  });

  it("lists again when a policy file is gone by the time it is looked at, and names it if it stays gone", async () => {
    const DENY = 'policy "guard" {\n  deny "no deletes" when request.method == "DELETE"\n}\n';
    const { dir, store } = setup({ "api.ward": READS }, { settleMs: 100 });
    // Never the set without `deny.ward`: that would be one rule fewer to deny with.
    symlinkSync(join(dir, "deny.ward.real"), join(dir, "deny.ward"));
    const reloading = store.reload("startup");
    await sleep(150);
    writeFileSync(join(dir, "deny.ward.real"), DENY);
    expect(await reloading).toMatchObject({ ok: true, changed: true });
    expect(store.current()?.program.policies.map((p) => p.name).sort()).toEqual(["api", "guard"]);

    unlinkSync(join(dir, "deny.ward.real"));
    const stuck = await store.reload("sighup");
    expect(stuck).toMatchObject({ ok: false, diagnostics: [{ code: "policy_files_unsettled" }] });
    expect(stuck.diagnostics[0]?.message).toBe(
      `policy files kept changing: cannot read \`${join(dir, "deny.ward")}\`: listed, then gone: removed or renamed while being read, or a symlink to nothing`,
    );
    expect(store.current()?.program.policies.map((p) => p.name).sort()).toEqual(["api", "guard"]);
  });

  it("rejects a half-written file that does not compile, then loads it once complete", async () => {
    const { dir, write, store, outcomes } = setup({ "api.ward": READS }, { watch: true });
    const good = await store.reload("startup");
    write("api.ward", READS_AND_WRITES.slice(0, 40)); // the writer stalls here
    await waitFor(() => outcomes.some((o) => !o.ok), 5000, "the half-written file to be rejected");
    expect(store.current()?.revision).toBe(good.revision);
    expect(post(store).allowed).toBe(false);

    write("api.ward", READS_AND_WRITES);
    const complete = revisionFor(dir, { "api.ward": READS_AND_WRITES });
    await waitFor(() => store.current()?.revision === complete, 5000, "the completed file to load");
    expect(post(store)).toMatchObject({ allowed: true, revision: complete });
  });
});

describe("policy store watching", () => {
  it("reloads once for a burst of writes", async () => {
    let compiles = 0;
    const { dir, write, store, outcomes } = setup({ "api.ward": READS }, {
      watch: true,
      debounceMs: 250,
      compile: (s) => {
        compiles++;
        return compileSources(s);
      },
    });
    await store.reload("startup");
    await waitFor(() => (store.status().watching ?? []).length === 1, 2000, "the watch");
    for (let i = 0; i < 10; i++) {
      write("api.ward", READS_AND_WRITES + `# edit ${i}\n`);
      await sleep(5);
    }
    const last = revisionFor(dir, { "api.ward": READS_AND_WRITES + "# edit 9\n" });
    await waitFor(() => store.current()?.revision === last, 5000, "the last edit");
    await sleep(400);
    // Startup + one for the whole burst; a stalled test machine may split the burst once.
    // Without the debounce, each of the ten writes would be compiled.
    expect(compiles).toBeLessThanOrEqual(3);
    expect(outcomes.filter((o) => o.trigger === "watch" && o.changed).length).toBeLessThanOrEqual(2);
  });

  it("follows a file that an editor renames over, and later writes to it", async () => {
    const { dir, write, store } = setup({ "api.ward": READS }, { watch: true });
    await store.reload("startup");
    await waitFor(() => (store.status().watching ?? []).length === 1, 2000, "the watch");

    writeFileSync(join(dir, ".api.ward.swp"), READS_AND_WRITES);
    renameSync(join(dir, ".api.ward.swp"), join(dir, "api.ward"));
    const renamed = revisionFor(dir, { "api.ward": READS_AND_WRITES });
    await waitFor(() => store.current()?.revision === renamed, 5000, "the renamed-over file");

    // Node 20's recursive watch on Linux stops seeing a file after it was renamed over; ours must not.
    write("api.ward", READS);
    const rewritten = revisionFor(dir, { "api.ward": READS });
    await waitFor(() => store.current()?.revision === rewritten, 5000, "the write after the rename");
  });

  it("watches subdirectories created after startup", async () => {
    const { dir, store } = setup({ "api.ward": READS }, { watch: true });
    await store.reload("startup");
    mkdirSync(join(dir, "team"));
    writeFileSync(join(dir, "team", "team.ward"), READS.replace('"api"', '"team"'));
    await waitFor(() => store.current()?.program.policies.length === 2, 5000, "the new subdirectory's policy");
    await waitFor(() => (store.status().watching ?? []).length === 2, 2000, "a watch on the subdirectory");
    appendFileSync(join(dir, "team", "team.ward"), "# a later edit\n");
    const edited = revisionFor(dir, { "api.ward": READS, "team/team.ward": READS.replace('"api"', '"team"') + "# a later edit\n" });
    await waitFor(() => store.current()?.revision === edited, 5000, "the edit in the subdirectory");
  });

  it("keeps serving when every file is deleted, and loads files that come back", async () => {
    const { dir, write, store, outcomes } = setup({ "api.ward": READS_AND_WRITES }, { watch: true });
    const good = await store.reload("startup");
    unlinkSync(join(dir, "api.ward"));
    await waitFor(() => outcomes.some((o) => !o.ok && o.diagnostics[0]?.code === "no_policy_files"), 5000, "the empty set to be rejected");
    expect(store.current()?.revision).toBe(good.revision);
    expect(post(store)).toMatchObject({ allowed: true, revision: good.revision });

    write("api.ward", READS);
    const back = revisionFor(dir, { "api.ward": READS });
    await waitFor(() => store.current()?.revision === back, 5000, "the restored file");
  });

  it("starts with no policies, not ready to allow anything, and loads them when they appear", async () => {
    const { dir, write, store } = setup({}, { watch: true });
    await store.reload("startup");
    expect(store.current()).toBeUndefined();
    write("api.ward", READS);
    await waitFor(() => store.current()?.revision === revisionFor(dir, { "api.ward": READS }), 5000, "the first policy file");
  });

  it("picks up a policy directory that appears, disappears and comes back", async () => {
    const tmp = tempPolicyDir();
    cleanups.push(tmp.cleanup);
    const dir = join(tmp.dir, "policies");
    const store = createPolicyStore({ paths: [dir], watch: true, debounceMs: 50, settleMs: 0 });
    cleanups.push(() => store.close());
    const outcomes = recordReloads(store);
    expect((await store.reload("startup")).ok).toBe(false);
    mkdirSync(dir);
    writeFileSync(join(dir, "api.ward"), READS);
    await waitFor(() => store.current() !== undefined, 5000, "the new directory's policies");
    const good = store.current()!.revision;
    // The directory disappears: rejected, the last good set keeps serving.
    rmSync(dir, { recursive: true });
    await waitFor(() => outcomes.some((o) => o.trigger === "watch" && o.diagnostics[0]?.code === "policy_path_not_found"), 5000, "the missing directory to be reported");
    expect(store.current()?.revision).toBe(good);
    // It comes back with new contents (as a deploy tool might do it): the new directory is watched.
    mkdirSync(dir);
    writeFileSync(join(dir, "api.ward"), READS_AND_WRITES);
    await waitFor(() => store.current()?.revision === revisionFor(dir, { "api.ward": READS_AND_WRITES }), 5000, "the replaced directory");
  });

  it("stops watching when closed", async () => {
    const { write, store, outcomes } = setup({ "api.ward": READS }, { watch: true });
    await store.reload("startup");
    store.close();
    expect(store.status().watching).toEqual([]);
    write("api.ward", READS_AND_WRITES);
    await sleep(300);
    expect(outcomes).toHaveLength(1);
  });
});
