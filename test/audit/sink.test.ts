import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import fs, { createReadStream, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_REDACTED_HEADERS, toAuditRecord, type AuditRecord, type DecisionRecord, type ShadowRecord } from "../../src/audit/record.js";
import { createAuditSink, type AuditDropReport, type AuditSink } from "../../src/audit/sink.js";
import { compile, decideWith, FRONTEND, LIVE, request, T0, tempDir } from "./helpers.js";

function decision(id: string, outcome: "allow" | "deny", allowed: boolean): DecisionRecord {
  return {
    version: 1,
    type: "decision",
    time: "2027-01-06T09:00:00.000Z",
    decision_id: id,
    revision: "r1",
    mode: allowed && outcome === "deny" ? "audit" : "enforce",
    outcome,
    allowed,
    enforced: !(allowed && outcome === "deny"),
    would_deny: allowed && outcome === "deny",
    determining: [],
    reason: outcome === "allow" ? "allowed" : "no_matching_allow",
    caller: { authenticated: true, spiffe_id: "spiffe://example.org/a" },
    decision_us: 3.2,
  };
}

const shadow: ShadowRecord = {
  version: 1,
  type: "shadow",
  time: "2027-01-06T09:00:00.000Z",
  decision_id: "s1",
  mode: "enforce",
  disagreement: "outcome",
  live: { revision: "a", outcome: "allow", allowed: true, reason: "allowed", determining: [] },
  candidate: { revision: "b", outcome: "deny", reason: "no_matching_allow", determining: [] },
  caller: { authenticated: true, spiffe_id: "spiffe://example.org/a" },
};

function open(file: string, options: { sampleAllowed?: number; random?: () => number; minLength?: number } = {}): AuditSink {
  const created = createAuditSink({ destination: { file }, ...options });
  if (!created.ok) throw new Error(JSON.stringify(created.diagnostics));
  return created.value;
}

function lines(file: string): AuditRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as AuditRecord);
}

describe("the audit sink", () => {
  it("writes each record as one JSON line, nothing added, and flush() puts them in the file", async () => {
    const file = join(tempDir(), "logs", "audit.log");
    const sink = open(file);
    const records = [decision("a", "allow", true), decision("b", "deny", false), shadow];
    for (const r of records) sink.write(r);
    // Buffered (256 KiB by default) until flushed: the decision path never waits for the disk.
    expect(lines(file)).toEqual([]);
    await sink.flush();
    expect(lines(file)).toEqual(records);
    expect(sink.stats()).toEqual({ written: 3, sampledOut: 0, dropped: 0, errors: 0, pendingBytes: 0 });
    await sink.close();
  });

  it("appends to an existing file, drops writes after close, and closes idempotently", async () => {
    const dir = tempDir();
    const file = join(dir, "audit.log");
    writeFileSync(file, `${JSON.stringify(decision("old", "deny", false))}\n`);
    const sink = open(file);
    sink.write(decision("new", "deny", false));
    await sink.close();
    await sink.close();
    sink.write(decision("late", "deny", false));
    await sink.flush();
    expect(lines(file).map((r) => r.decision_id)).toEqual(["old", "new"]);
  });

  it("samples allowed decisions only: never a denial, a would-deny or a shadow record", async () => {
    const file = join(tempDir(), "audit.log");
    const sink = open(file, { sampleAllowed: 0, random: () => 0 });
    sink.write(decision("allowed", "allow", true));
    sink.write(decision("denied", "deny", false));
    sink.write(decision("would-deny", "deny", true));
    sink.write(shadow);
    await sink.close();
    expect(lines(file).map((r) => r.decision_id)).toEqual(["denied", "would-deny", "s1"]);
    expect(sink.stats()).toMatchObject({ written: 3, sampledOut: 1 });
  });

  it("writes a decision straight from its outcome exactly as the record, sampling only allowed ones", async () => {
    const live = compile(LIVE);
    const outcomes = [
      decideWith(live, request(FRONTEND, "GET", "/orders/1")),
      decideWith(live, request(FRONTEND, "DELETE", "/orders/1")),
      decideWith(live, request(FRONTEND, "DELETE", "/orders/1"), { auditAll: true }),
    ];
    expect(outcomes.map((o) => [o.decision.outcome, o.decision.allowed])).toEqual([["allow", true], ["deny", false], ["deny", true]]);
    const meta = (i: number) => ({ decisionId: `d${i}`, time: T0, mode: "enforce" as const, micros: 12.5, includeInput: true, redactHeaders: DEFAULT_REDACTED_HEADERS });
    const all = join(tempDir(), "all.log");
    const sink = open(all);
    outcomes.forEach((o, i) => sink.writeDecision(o, meta(i)));
    await sink.close();
    expect(readFileSync(all, "utf8")).toBe(outcomes.map((o, i) => `${JSON.stringify(toAuditRecord(o, meta(i)))}\n`).join(""));
    const sampled = join(tempDir(), "sampled.log");
    const sampling = open(sampled, { sampleAllowed: 0, random: () => 0 });
    outcomes.forEach((o, i) => sampling.writeDecision(o, meta(i)));
    await sampling.close();
    expect(lines(sampled).map((r) => r.decision_id)).toEqual(["d1", "d2"]);
    expect(sampling.stats()).toMatchObject({ written: 2, sampledOut: 1 });
  });

  it("keeps the configured fraction of allowed decisions, by the random source", async () => {
    const file = join(tempDir(), "audit.log");
    const draws = [0.05, 0.5, 0.24, 0.99, 0.25, 0.1];
    let i = 0;
    const sink = open(file, { sampleAllowed: 0.25, random: () => draws[i++ % draws.length]! });
    for (let n = 0; n < 6; n++) sink.write(decision(`a${n}`, "allow", true));
    for (let n = 0; n < 50; n++) sink.write(decision(`d${n}`, "deny", n % 2 === 0));
    await sink.close();
    const ids = lines(file).map((r) => r.decision_id);
    // Draws below 0.25 keep the record: 0.05, 0.24, 0.1.
    expect(ids.filter((id) => id.startsWith("a"))).toEqual(["a0", "a2", "a5"]);
    expect(ids.filter((id) => id.startsWith("d"))).toHaveLength(50);
  });

  it("refuses a destination it cannot open, and a sample rate outside 0..1, as diagnostics", () => {
    const dir = tempDir({ "plain-file": "x" });
    const bad = createAuditSink({ destination: { file: join(dir, "plain-file", "audit.log") } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.diagnostics[0]?.code).toBe("audit_log_unwritable");
      expect(bad.diagnostics[0]?.message).toContain("plain-file/audit.log`");
    }
    for (const rate of [-0.1, 1.5, Number.NaN]) {
      const r = createAuditSink({ destination: { file: join(dir, "a.log") }, sampleAllowed: rate });
      expect(r.ok ? "ok" : r.diagnostics[0]?.code).toBe("audit_sample_out_of_range");
    }
  });

  it("issues a write once `minLength` characters wait, and otherwise on the flush interval", async () => {
    const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const file = join(tempDir(), "audit.log");
    const sink = open(file, { minLength: 600 });
    sink.write(decision("first", "deny", false));
    await settle(60);
    expect(lines(file)).toEqual([]);
    for (let n = 0; n < 5; n++) sink.write(decision(`more-${n}`, "deny", false));
    await settle(60);
    expect(lines(file).map((r) => r.decision_id)).toEqual(["first", "more-0", "more-1", "more-2", "more-3", "more-4"]);
    await sink.close();

    const quiet = join(tempDir(), "audit.log");
    const timed = createAuditSink({ destination: { file: quiet }, flushIntervalMs: 40 });
    if (!timed.ok) throw new Error("sink");
    timed.value.write(decision("late", "deny", false));
    expect(lines(quiet)).toEqual([]);
    await settle(250);
    expect(lines(quiet).map((r) => r.decision_id)).toEqual(["late"]);
    await timed.value.close();
  });

  it("keeps order and every byte for non-ASCII lines and for lines larger than a whole buffer", async () => {
    const file = join(tempDir(), "audit.log");
    const sink = open(file, { minLength: 100 });
    const records = [
      decision("é€😀-first", "deny", false),
      { ...decision("huge", "deny", false), detail: "ü".repeat(20_000) },
      decision("after-\u2028-huge", "deny", false),
    ];
    for (const r of records) sink.write(r);
    await sink.flush();
    expect(lines(file)).toEqual(records);
    await sink.close();
  });

  it("reuses written buffers, and never one whose bytes wait to be written, across bursts and a rotation", async () => {
    const dir = tempDir();
    const file = join(dir, "audit.log");
    const minLength = 4096;
    const chunkBytes = minLength + 16 * 1024;
    const allocate = vi.spyOn(Buffer, "allocUnsafe");
    const chunksAllocated = () => allocate.mock.calls.filter(([size]) => size === chunkBytes).length;
    try {
      const sink = open(file, { minLength });
      const expected: string[] = [];
      let n = 0;
      const write = (count: number) => {
        for (let k = 0; k < count; k++, n++) {
          const record = { ...decision(`line-${n}`, "deny", false), detail: `${n}:`.padEnd(100 + ((n * 37) % 400), String.fromCharCode(97 + (n % 26))) };
          expected.push(JSON.stringify(record));
          sink.write(record);
        }
      };
      // Bursts of many buffers' worth at once, while earlier ones are still being written:
      // a buffer handed back too early would be overwritten before its bytes reach the file.
      for (let round = 0; round < 30; round++) {
        write(30 + (round % 7) * 20);
        await new Promise((r) => (round % 3 === 0 ? setImmediate(r) : setTimeout(r, round % 5)));
      }
      renameSync(file, join(dir, "audit.log.1"));
      expect(sink.reopen().ok).toBe(true);
      // Then a steady trickle, a buffer's worth at a time: each one written is reused.
      const beforeSteady = chunksAllocated();
      const steadyFrom = n;
      for (let round = 0; round < 60; round++) {
        write(12);
        await new Promise((r) => setTimeout(r, 2));
      }
      const steadyBytes = expected.slice(steadyFrom).join("\n").length;
      const steadyChunks = chunksAllocated() - beforeSteady;
      await sink.close();
      await new Promise((r) => setTimeout(r, 50));
      const written = readFileSync(join(dir, "audit.log.1"), "utf8") + readFileSync(file, "utf8");
      expect(written).toBe(expected.map((l) => `${l}\n`).join(""));
      // Some 50 buffers' worth went through while only a handful were ever allocated.
      expect(steadyBytes / minLength).toBeGreaterThan(40);
      expect(steadyChunks).toBeLessThanOrEqual(5);
    } finally {
      allocate.mockRestore();
    }
  });

  it("reuses its default-sized buffers too, each written in one piece straight from its memory", async () => {
    const file = join(tempDir(), "audit.log");
    const chunkBytes = 256 * 1024 + 16 * 1024;
    const allocate = vi.spyOn(Buffer, "allocUnsafe");
    try {
      const sink = open(file);
      const expected: string[] = [];
      for (let n = 0; n < 3000; n++) {
        const record = { ...decision(`big-${n}`, "deny", false), detail: `${n}:`.padEnd(1500 + ((n * 53) % 1500), String.fromCharCode(97 + (n % 26))) };
        expected.push(JSON.stringify(record));
        sink.write(record);
        // About one buffer's worth (256 KiB) at a time, then the event loop turns and the write completes.
        if (n % 100 === 99) await new Promise((r) => setTimeout(r, 5));
      }
      await sink.close();
      expect(readFileSync(file, "utf8")).toBe(expected.map((l) => `${l}\n`).join(""));
      expect(expected.join("\n").length / (256 * 1024)).toBeGreaterThan(25);
      expect(allocate.mock.calls.filter(([size]) => size === chunkBytes).length).toBeLessThanOrEqual(5);
    } finally {
      allocate.mockRestore();
    }
  });

  it("holds at most `maxPendingBytes` for a destination that falls behind, and drops whole records past it, counted and reported", async () => {
    const file = join(tempDir(), "audit.log");
    const reports: AuditDropReport[] = [];
    const created = createAuditSink({ destination: { file }, minLength: 4096, maxPendingBytes: 64 * 1024, onDropped: (r) => reports.push(r) });
    if (!created.ok) throw new Error("sink");
    const sink = created.value;
    // About 1 MB in one synchronous burst: no write can complete (nor report) before it ends,
    // so the file is, for the sink, a destination 64 KiB behind after the first few buffers.
    const padded = (n: number) => ({ ...decision(`burst-${n}`, "deny", false), detail: "x".repeat(700) });
    for (let n = 0; n < 1000; n++) sink.write(padded(n));
    const during = sink.stats();
    expect(during.pendingBytes).toBeLessThanOrEqual(64 * 1024);
    expect(during.dropped).toBeGreaterThan(800);
    // The first drop is reported at once; later ones wait for the report interval (or the close).
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ maxPendingBytes: 64 * 1024 });
    // Once the destination has caught up, the same sink writes records again.
    await sink.flush();
    expect(sink.stats().pendingBytes).toBe(0);
    const droppedBeforeCatchUp = sink.stats().dropped;
    sink.write(decision("after-catch-up", "deny", false));
    await sink.close();
    const after = sink.stats();
    expect(after.dropped).toBe(droppedBeforeCatchUp);
    expect(after.written + after.dropped).toBe(1001);
    expect(reports.reduce((sum, r) => sum + r.records, 0)).toBe(after.dropped);
    // What was written is whole records, in order, and exactly the ones counted.
    const written = lines(file).map((r) => r.decision_id);
    expect(written).toHaveLength(after.written);
    expect(written.at(-1)).toBe("after-catch-up");
    const ids = written.slice(0, -1).map((id) => Number(id.slice("burst-".length)));
    expect(ids[0]).toBe(0);
    for (let k = 1; k < ids.length; k++) expect(ids[k]).toBeGreaterThan(ids[k - 1]!);
    expect(after.pendingBytes).toBe(0);
  });

  it("with backlogFull deny, says when it stops accepting and never drops the record of an allowed decision", async () => {
    const file = join(tempDir(), "audit.log");
    const bound = 64 * 1024;
    const created = createAuditSink({ destination: { file }, minLength: 4096, maxPendingBytes: bound, backlogFull: "deny" });
    if (!created.ok) throw new Error("sink");
    const sink = created.value;
    expect(sink.accepting()).toBe(true);
    const padded = (id: string, allowed: boolean) => ({ ...decision(id, allowed ? "allow" : "deny", allowed), detail: "x".repeat(700) });
    // As the server does: a call is decided (here: allowed) only while the sink accepts, otherwise denied.
    // One synchronous burst, so no write completes before it ends: the file is a destination that stopped.
    let refusedAt = -1;
    for (let n = 0; n < 1000; n++) {
      const accepting = sink.accepting();
      if (!accepting && refusedAt < 0) refusedAt = n;
      sink.write(padded(`call-${n}`, accepting));
      expect(sink.stats().pendingBytes).toBeLessThanOrEqual(bound);
    }
    expect(refusedAt).toBeGreaterThan(0);
    // Calls decided before the backlog filled, recorded after it did: kept past the bound.
    for (let n = 0; n < 20; n++) sink.write(padded(`late-${n}`, true));
    const during = sink.stats();
    expect(during.dropped).toBeGreaterThan(800);
    expect(during.pendingBytes).toBeGreaterThan(bound);
    expect(sink.accepting()).toBe(false);
    await sink.flush();
    expect(sink.accepting()).toBe(true);
    await sink.close();
    expect(sink.accepting()).toBe(false);
    const allowedIds = lines(file).filter((r) => r.type === "decision" && r.allowed).map((r) => r.decision_id);
    const expected = [...Array.from({ length: refusedAt }, (_, n) => `call-${n}`), ...Array.from({ length: 20 }, (_, n) => `late-${n}`)];
    expect(allowedIds).toEqual(expected);
    // Only records of denied calls were dropped.
    expect(sink.stats().written + sink.stats().dropped).toBe(1020);
    expect(lines(file)).toHaveLength(sink.stats().written);
  });

  for (const backlogFull of ["drop", "deny"] as const) {
    it(`with backlogFull ${backlogFull}, writes again once a full disk has room, though the backlog reached its bound`, async () => {
      const file = join(tempDir(), "audit.log");
      const failures: string[] = [];
      const created = createAuditSink({ destination: { file }, minLength: 4096, maxPendingBytes: 2 * 1024 * 1024, backlogFull, flushIntervalMs: 50, onError: (e) => failures.push(e.message) });
      if (!created.ok) throw new Error("sink");
      const sink = created.value;
      // SonicBoom calls fs.write through the module object: a disk that is full until `full` is cleared.
      const realWrite = fs.write;
      let full = true;
      const diskFull = vi.spyOn(fs, "write").mockImplementation(((...args: unknown[]) => {
        const callback = args[args.length - 1] as (err: Error | null) => void;
        if (!full) return (realWrite as (...a: unknown[]) => void)(...args);
        setImmediate(() => callback(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })));
      }) as typeof fs.write);
      try {
        // As the server does: a call is decided (allowed) only while the sink accepts under `deny`, otherwise denied.
        const padded = (id: string, size = 500) => {
          const allowed = backlogFull === "drop" || sink.accepting();
          return { ...decision(id, allowed ? "allow" : "deny", allowed), detail: "x".repeat(size) };
        };
        for (let n = 0; n < 6000; n++) {
          sink.write(padded(`full-${n}`));
          if (n % 50 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        expect(failures.length).toBeGreaterThan(0);
        expect(failures[0]).toContain("ENOSPC");
        expect(sink.accepting()).toBe(false);
        expect(sink.stats().dropped).toBeGreaterThan(0);
        full = false;
        // Records larger than the room left below the bound: none is handed to the destination, so
        // nothing would make it write again; the sink itself must try again.
        let n = 0;
        for (const started = Date.now(); sink.stats().pendingBytes > 0 && Date.now() - started < 5000; n++) {
          sink.write(padded(`back-${n}`, 8192));
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(sink.stats().pendingBytes).toBe(0);
        expect(sink.accepting()).toBe(true);
        sink.write(decision("after", "allow", true));
        await sink.flush();
      } finally {
        diskFull.mockRestore();
      }
      await sink.close();
      const ids = lines(file).map((r) => r.decision_id);
      expect(ids.at(-1)).toBe("after");
      expect(ids).toHaveLength(sink.stats().written);
      // Whole records, in order, with gaps only where records were dropped.
      expect(ids.filter((id) => id.startsWith("full-")).map((id) => Number(id.slice(5)))).toEqual(
        [...ids.filter((id) => id.startsWith("full-")).map((id) => Number(id.slice(5)))].sort((a, b) => a - b),
      );
    });
  }

  it("with backlogFull drop (the default), drops allowed decisions' records like any others", async () => {
    const file = join(tempDir(), "audit.log");
    const created = createAuditSink({ destination: { file }, minLength: 4096, maxPendingBytes: 64 * 1024 });
    if (!created.ok) throw new Error("sink");
    const sink = created.value;
    for (let n = 0; n < 1000; n++) sink.write({ ...decision(`call-${n}`, "allow", true), detail: "x".repeat(700) });
    expect(sink.accepting()).toBe(false);
    expect(sink.stats().pendingBytes).toBeLessThanOrEqual(64 * 1024);
    expect(sink.stats().dropped).toBeGreaterThan(800);
    await sink.close();
    expect(lines(file)).toHaveLength(sink.stats().written);
  });

  it("reopens the file by name after rotation", async () => {
    const dir = tempDir();
    const file = join(dir, "audit.log");
    const sink = open(file);
    sink.write(decision("before", "deny", false));
    await sink.flush();
    renameSync(file, join(dir, "audit.log.1"));
    sink.write(decision("buffered", "deny", false));
    const reopened = sink.reopen();
    expect(reopened.ok).toBe(true);
    sink.write(decision("after", "deny", false));
    await sink.close();
    // Give the old destination's flush-and-end a moment (it runs in the background).
    await new Promise((r) => setTimeout(r, 50));
    expect(lines(join(dir, "audit.log.1")).map((r) => r.decision_id)).toEqual(["before", "buffered"]);
    expect(lines(file).map((r) => r.decision_id)).toEqual(["after"]);
  });
});

/**
 * Runs test/audit/fixtures/sink-child.ts with `args`; `watch` sees the process
 * as it starts. Resolves once it has ended (with what it wrote to stderr);
 * rejects if it cannot start the sink (exit code 3) or takes over 20 s.
 */
function runSinkChild(args: string[], watch: (proc: ChildProcessByStdio<null, Readable, Readable>) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", join("test", "audit", "fixtures", "sink-child.ts"), ...args], { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error("the child did not finish in time"));
    }, 20_000);
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => void (stderr += d.toString()));
    watch(proc);
    // `close`, not `exit`: everything the child wrote has been read by then.
    proc.on("close", (code, sig) => {
      clearTimeout(timer);
      if (code === 3) reject(new Error(stderr));
      else resolve({ code, signal: sig, stderr });
    });
  });
}

/** sink-child.ts writing `count` records to `file`, sent `signal` once it reports ready. */
function child(how: "sigterm" | "exit" | "hang", file: string, count: number, signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return runSinkChild([how, file, String(count)], (proc) => {
    proc.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("ready") && signal) proc.kill(signal);
    });
  });
}

/** sink-child.ts writing its records to stdout, a pipe this process reads only after `holdMs`. */
async function childToPipe(how: "sigterm" | "exit", count: number, padding: number, holdMs: number, maxPendingBytes?: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  const args = [how, "-", String(count), String(padding), ...(maxPendingBytes !== undefined ? [String(maxPendingBytes)] : [])];
  const ended = await runSinkChild(args, (proc) => {
    let signalled = false;
    // Nothing is read for a while: the pipe (64 KiB) fills and the child's writes must wait for room.
    proc.stdout.pause();
    setTimeout(() => {
      proc.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (how === "sigterm" && !signalled && stdout.includes("ready\n")) {
          signalled = true;
          proc.kill("SIGTERM");
        }
      });
      proc.stdout.resume();
    }, holdMs);
  });
  return { code: ended.code, stdout, stderr: ended.stderr };
}

describe("records to stdout when it is a pipe (a container runtime's log pipe)", () => {
  const ids = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
  const counters = (stderr: string) => JSON.parse(stderr.trim().split("\n").pop()!) as { written: number; errors: number };

  it("all arrive, whole and in order, through a reader that falls behind; closing reports no error", async () => {
    // About 3 MiB of records, handed over 16 KiB at a time while nothing reads the pipe.
    const ended = await childToPipe("sigterm", 3000, 1000, 300);
    expect(ended.code).toBe(0);
    expect(ids(ended.stdout)).toEqual(Array.from({ length: 3000 }, (_, i) => `child-${i}`));
    // A pipe cannot be fsynced: a flush that tried (SonicBoom's does) would count EINVAL as a failed write.
    expect(counters(ended.stderr)).toEqual({ written: 3000, sampledOut: 0, dropped: 0, errors: 0, pendingBytes: 0 });
  }, 30_000);

  it("hold at most the bound for a reader that stops: whole records are dropped past it, counted and reported, and the rest arrive in order", async () => {
    // About 3 MiB of records while the pipe is not read, with 256 KiB allowed to wait.
    const bound = 256 * 1024;
    const ended = await childToPipe("sigterm", 3000, 1000, 300, bound);
    expect(ended.code).toBe(0);
    const stderrLines = ended.stderr.trim().split("\n").map((l) => JSON.parse(l) as { dropReport?: AuditDropReport });
    const stats = stderrLines.at(-1) as unknown as { written: number; dropped: number; errors: number; pendingBytes: number };
    expect(stats.dropped).toBeGreaterThan(2000);
    expect(stats.written + stats.dropped).toBe(3000);
    expect(stats.errors).toBe(0);
    const reports = stderrLines.flatMap((l) => (l.dropReport ? [l.dropReport] : []));
    expect(reports.reduce((sum, r) => sum + r.records, 0)).toBe(stats.dropped);
    for (const r of reports) expect(r.pendingBytes).toBeLessThanOrEqual(bound);
    // Every line that arrived is a whole record (ids() parses each), in order, and all that were counted written.
    const arrived = ids(ended.stdout).map((id) => Number(id.slice("child-".length)));
    expect(arrived).toHaveLength(stats.written);
    expect(arrived.slice(0, 100)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (let k = 1; k < arrived.length; k++) expect(arrived[k]).toBeGreaterThan(arrived[k - 1]!);
    expect(ended.stdout.split("\n").filter((l) => l !== "" && l !== "ready")).toHaveLength(stats.written);
  }, 30_000);

  it("and to a file that is a named pipe alike: all arrive in order, and closing reports no error", async () => {
    const fifo = join(tempDir(), "audit.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // Opening a named pipe waits for the other end: the reader opens (in the thread pool) while the child does.
    const reader = createReadStream(fifo);
    reader.pause();
    let received = "";
    setTimeout(() => {
      reader.on("data", (d) => void (received += d.toString()));
      reader.resume();
    }, 300);
    const readAll = new Promise<void>((resolve) => reader.on("end", () => resolve()));
    const ended = await runSinkChild(["sigterm", fifo, "3000", "1000"], (proc) => {
      proc.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("ready")) proc.kill("SIGTERM");
      });
    });
    await readAll;
    expect(ended.code).toBe(0);
    expect(ids(received)).toEqual(Array.from({ length: 3000 }, (_, i) => `child-${i}`));
    // Written as a regular file is, the flush at close would fsync the pipe and count EINVAL as a failed write.
    expect(counters(ended.stderr)).toEqual({ written: 3000, sampledOut: 0, dropped: 0, errors: 0, pendingBytes: 0 });
  }, 30_000);

  it("are all written by the exit hook after process.exit() without a close", async () => {
    const ended = await childToPipe("exit", 40, 0, 100);
    expect(ended.code).toBe(0);
    expect(ids(ended.stdout)).toEqual(Array.from({ length: 40 }, (_, i) => `child-${i}`));
    expect(counters(ended.stderr).errors).toBe(0);
  }, 30_000);
});

describe("a destination that stops reporting writes", () => {
  it("keeps no buffers for it: records to stdout after its reader has gone hold no memory", async () => {
    const proc = spawn(process.execPath, ["--expose-gc", "--import", "tsx", join("test", "audit", "fixtures", "sink-broken-pipe.ts")], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    // The reader goes away at once: the child's writes to stdout fail with EPIPE.
    proc.stdout.destroy();
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => void (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on("exit", resolve));
    expect(code).toBe(0);
    const report = JSON.parse(stderr.trim().split("\n").pop()!) as { records: number; arrayBufferBytes: number; gc: boolean };
    expect(report).toMatchObject({ records: 20_000, gc: true });
    // About 40 MiB of records went nowhere; what stays is the buffer being filled and a few spares.
    expect(report.arrayBufferBytes).toBeLessThan(4 * 1024 * 1024);
  }, 30_000);
});

describe("records at shutdown", () => {
  it("are all in the file after SIGTERM when the handler closes the sink (as `ward serve` does)", async () => {
    const file = join(tempDir(), "audit.log");
    const ended = await child("sigterm", file, 40, "SIGTERM");
    expect(ended.code).toBe(0);
    const records = lines(file);
    expect(records).toHaveLength(40);
    expect(records[39]?.decision_id).toBe("child-39");
  }, 30_000);

  it("are all in the file after process.exit() without a close (pino's exit hook flushes)", async () => {
    const file = join(tempDir(), "audit.log");
    const ended = await child("exit", file, 40);
    expect(ended.code).toBe(0);
    expect(lines(file)).toHaveLength(40);
  }, 30_000);

  it("are lost only when the process is killed outright (the control: nothing else flushed them)", async () => {
    const file = join(tempDir(), "audit.log");
    const ended = await child("hang", file, 40, "SIGKILL");
    expect(ended.signal).toBe("SIGKILL");
    expect(lines(file)).toHaveLength(0);
  }, 30_000);
});
