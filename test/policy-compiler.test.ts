// The compiler `ward serve` reloads with: checks on a worker thread, compiles in slices,
// and must give exactly what the CLI's in-thread `compileSources` gives.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runTests, summarize } from "../src/cli/test-runner.js";
import { renderDiagnostics } from "../src/diagnostics.js";
import { createIdentityResolver } from "../src/identity/resolve.js";
import { createInputBuilder } from "../src/input/build.js";
import { createPolicyCompiler, type PolicyCompiler } from "../src/policy-compiler.js";
import { compileSources, findPolicyFiles, type LoadResult } from "../src/policy-loader.js";
import { createPolicyStore } from "../src/policy-store.js";
import type { PolicySource } from "../src/dsl/index.js";
import { generatedPolicyText } from "./generated-policies.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function compilerForTest(options: Parameters<typeof createPolicyCompiler>[0] = {}): PolicyCompiler & { unavailable: Error[] } {
  const unavailable: Error[] = [];
  // Every set through the worker, however small, unless a test says otherwise.
  const compiler = createPolicyCompiler({ threadMinBytes: 0, ...options, onWorkerUnavailable: (err) => unavailable.push(err) });
  cleanups.push(() => compiler.close());
  return Object.assign(compiler, { unavailable });
}

async function shippedSources(): Promise<PolicySource[]> {
  const files = await findPolicyFiles(["policies"]);
  return files.map((file) => ({ file, text: readFileSync(file, "utf8") }));
}

function loaded(result: LoadResult): Extract<LoadResult, { ok: true }> {
  if (!result.ok) throw new Error(`the set did not load:\n${renderDiagnostics(result.diagnostics, (f) => result.sources.get(f))}`);
  return result;
}

/** A valid set of `policies` policies with ten rules each. */
function largeSet(policies: number): PolicySource[] {
  return [{ file: "large.ward", text: generatedPolicyText(policies) }];
}

/** A worker module written for the test (plain JavaScript, so it runs as any worker does). */
function workerModule(body: string): URL {
  const dir = mkdtempSync(join(tmpdir(), "ward-worker-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "worker.mjs");
  writeFileSync(file, `import { parentPort } from "node:worker_threads";\n${body}\n`);
  return new URL(`file://${file}`);
}

describe("the off-thread policy compiler", () => {
  it("checks on the worker and gives the set compileSources gives: same revision, same checked set, the shipped tests all pass", async () => {
    const compiler = compilerForTest();
    const sources = await shippedSources();
    const offThread = loaded(await compiler.compile(sources));
    const inThread = loaded(compileSources(sources));

    expect(compiler.unavailable).toEqual([]);
    expect(compiler.stats()).toEqual({ checkedOnWorker: 1, checkedOnMainThread: 0, workersStarted: 1 });
    expect(offThread.revision).toBe(inThread.revision);
    expect(offThread.checked).toEqual(inThread.checked);
    expect(offThread.warnings).toEqual(inThread.warnings);
    expect(offThread.program.policies).toEqual(inThread.program.policies);
    expect(offThread.program.ruleCount).toBe(inThread.program.ruleCount);

    // Every shipped policy test (`ward test policies/`) decides the same through the program compiled here.
    const deps = { resolver: createIdentityResolver(), inputBuilder: createInputBuilder() };
    const results = await runTests(offThread.checked.tests, { program: offThread.program, deps, absolutePath: (file) => resolve(file) });
    expect(results.length).toBeGreaterThan(50);
    expect(results.filter((r) => r.status !== "pass").map((r) => `${r.test.name}: ${r.problems.join("; ")}`)).toEqual([]);
    expect(summarize(results).failed).toBe(0);
  });

  it("rejects a broken set with the same diagnostics (file:line:col) as the CLI, then loads a good one on the same worker", async () => {
    const compiler = compilerForTest();
    const broken = [{ file: "api.ward", text: `policy "api" {\n  allow "reads" when request.methd == "GET"\n}\n` }];
    const rejected = await compiler.compile(broken);
    expect(rejected.ok).toBe(false);
    expect(rejected).toEqual(compileSources(broken));
    if (rejected.ok) return;
    expect(renderDiagnostics(rejected.diagnostics, (f) => rejected.sources.get(f))).toContain("api.ward:2:22");

    const good = loaded(await compiler.compile([{ file: "api.ward", text: `policy "api" {\n  allow "reads" when request.method == "GET"\n}\n` }]));
    expect(good.program.ruleCount).toBe(1);
    expect(compiler.unavailable).toEqual([]);
  });

  it("loads a set under threadMinBytes in one piece on the main thread, and a larger one on the worker", async () => {
    const compiler = compilerForTest({ threadMinBytes: 64 * 1024 });
    const small = await shippedSources();
    expect(small.reduce((n, s) => n + s.text.length, 0)).toBeLessThan(64 * 1024);
    expect(loaded(await compiler.compile(small)).revision).toBe(loaded(compileSources(small)).revision);
    expect(compiler.stats()).toEqual({ checkedOnWorker: 0, checkedOnMainThread: 1, workersStarted: 0 });
    const large = largeSet(400);
    expect(large[0]!.text.length).toBeGreaterThan(64 * 1024);
    expect(loaded(await compiler.compile(large)).program.ruleCount).toBe(4000);
    expect(compiler.stats()).toEqual({ checkedOnWorker: 1, checkedOnMainThread: 1, workersStarted: 1 });
  });

  it("sends a large set back in pieces and keeps policy order", async () => {
    const compiler = compilerForTest();
    const sources = largeSet(120);
    const offThread = loaded(await compiler.compile(sources));
    expect(offThread.checked.policies.map((p) => p.name)).toEqual(loaded(compileSources(sources)).checked.policies.map((p) => p.name));
    expect(offThread.program.ruleCount).toBe(1200);
  });

  it("stops the worker when idle and starts a new one for the next load", async () => {
    const compiler = compilerForTest({ idleMs: 50 });
    const sources = await shippedSources();
    const first = loaded(await compiler.compile(sources));
    expect(compiler.checkerRunning).toBe(true);
    const deadline = Date.now() + 5000;
    while (compiler.checkerRunning && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(compiler.checkerRunning).toBe(false);
    expect(loaded(await compiler.compile(sources)).checked).toEqual(first.checked);
    expect(compiler.checkerRunning).toBe(true);
    expect(compiler.unavailable).toEqual([]);
    expect(compiler.stats()).toEqual({ checkedOnWorker: 2, checkedOnMainThread: 0, workersStarted: 2 });
  });

  it("checks a load on the main thread, and says so, when the worker cannot start; the next load tries again", async () => {
    const compiler = compilerForTest({ workerUrl: new URL("file:///nonexistent/ward-policy-check-worker.js") });
    const sources = await shippedSources();
    expect(loaded(await compiler.compile(sources)).revision).toBe(loaded(compileSources(sources)).revision);
    expect(loaded(await compiler.compile(sources)).program.ruleCount).toBeGreaterThan(0);
    expect(compiler.unavailable).toHaveLength(2);
    expect(compiler.unavailable[0]!.message).toContain("ward-policy-check-worker.js");
    expect(compiler.stats()).toEqual({ checkedOnWorker: 0, checkedOnMainThread: 2, workersStarted: 2 });
  });

  it("does not wait forever for a worker that never says it is ready: that load is checked on the main thread", async () => {
    const url = workerModule(`parentPort.on("message", () => {});`);
    const compiler = compilerForTest({ workerUrl: url, checkTimeoutMs: 100 });
    const sources = [{ file: "api.ward", text: `policy "api" {\n  allow "reads" when request.method == "GET"\n}\n` }];
    expect(loaded(await compiler.compile(sources)).revision).toBe(loaded(compileSources(sources)).revision);
    expect(compiler.unavailable.map((e) => e.message)).toEqual(["the checker thread did not start within 100 ms"]);
    expect(compiler.checkerRunning).toBe(false);
    // The next load is not stuck behind it.
    expect(loaded(await compiler.compile(sources)).program.ruleCount).toBe(1);
    expect(compiler.stats()).toEqual({ checkedOnWorker: 0, checkedOnMainThread: 2, workersStarted: 2 });
  });

  it("fails the load when a check outlasts its timeout, and starts a new worker for the next load", async () => {
    // A checker that loads, then never answers.
    const url = workerModule(`parentPort.postMessage({ id: 0, kind: "ready" });\nparentPort.on("message", () => {});`);
    const compiler = compilerForTest({ workerUrl: url, checkTimeoutMs: 50 });
    const sources = [{ file: "api.ward", text: `policy "api" {\n  allow "reads" when request.method == "GET"\n}\n` }];
    await expect(compiler.compile(sources)).rejects.toThrow(/took longer than 50 ms; the checker thread was stopped/);
    await expect(compiler.compile(sources)).rejects.toThrow(/took longer than 50 ms/);
    // Timeouts are not "cannot start": the checks stay off the main thread, each on a new worker.
    expect(compiler.unavailable).toEqual([]);
    expect(compiler.stats()).toEqual({ checkedOnWorker: 0, checkedOnMainThread: 0, workersStarted: 2 });
  });

  it.each([
    ["while the worker starts", `parentPort.on("message", () => {});`],
    // Ready, then one piece of the answer, then nothing: closed while the main thread waits for the next piece.
    [
      "while a check is under way",
      `parentPort.postMessage({ id: 0, kind: "ready" });
parentPort.on("message", (m) => {
  if (m.kind !== "check") return;
  parentPort.postMessage({ id: m.id, kind: "policies", policies: [] });
  new BroadcastChannel("ward-test-close").postMessage("piece sent");
});`,
    ],
  ])("close stops a load %s, and later loads check on the main thread", async (stage, body) => {
    const compiler = compilerForTest({ workerUrl: workerModule(body) });
    const sources = [{ file: "api.ward", text: `policy "api" {\n  allow "reads" when request.method == "GET"\n}\n` }];
    const pieceSent = new Promise<void>((done) => {
      const channel = new BroadcastChannel("ward-test-close");
      channel.onmessage = () => {
        channel.close();
        done();
      };
      cleanups.push(() => channel.close());
    });
    const stopped = expect(compiler.compile(sources)).rejects.toThrow(/the compiler was closed/);
    if (stage === "while a check is under way") await pieceSent;
    else while (!compiler.checkerRunning) await new Promise((r) => setTimeout(r, 5));
    await compiler.close();
    await stopped;
    expect(compiler.checkerRunning).toBe(false);
    expect(loaded(await compiler.compile(sources)).revision).toBe(loaded(compileSources(sources)).revision);
    expect(compiler.stats()).toMatchObject({ checkedOnWorker: 0, checkedOnMainThread: 1 });
  });

  it("fails the load when the worker dies mid-check", async () => {
    const url = workerModule(`parentPort.postMessage({ id: 0, kind: "ready" });\nparentPort.on("message", () => process.exit(3));`);
    const compiler = compilerForTest({ workerUrl: url });
    const sources = [{ file: "api.ward", text: `policy "api" {\n  allow "reads" when request.method == "GET"\n}\n` }];
    await expect(compiler.compile(sources)).rejects.toThrow(/checking the policies failed: the policy checker thread exited with code 3/);
    expect(compiler.unavailable).toEqual([]);
  });

  it("keeps serving the last good set when a reload's check fails", async () => {
    const url = workerModule(`parentPort.postMessage({ id: 0, kind: "ready" });\nparentPort.on("message", () => process.exit(3));`);
    const failing = compilerForTest({ workerUrl: url });
    const dir = mkdtempSync(join(tmpdir(), "ward-compiler-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "api.ward"), `policy "api" {\n  allow "reads" when request.method == "GET"\n}\n`);
    let useFailing = false;
    const good = compilerForTest();
    const store = createPolicyStore({ paths: [dir], settleMs: 0, compile: (s) => (useFailing ? failing : good).compile(s) });
    cleanups.push(() => store.close());
    expect((await store.reload("startup")).ok).toBe(true);
    const serving = store.current()!.revision;

    writeFileSync(join(dir, "api.ward"), `policy "api" {\n  allow "writes" when request.method == "POST"\n}\n`);
    useFailing = true;
    const outcome = await store.reload("test");
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.diagnostics[0]).toMatchObject({ code: "policy_load_failed" });
    expect(store.current()!.revision).toBe(serving);
  });
});
