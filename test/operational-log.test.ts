import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createOperationalLogDestination, type DroppedLogLines } from "../src/operational-log.js";

/** A stream whose writes complete only when `release` is called: a reader that has stopped, then resumes. */
function stalledStream(): { stream: Writable; written: string[]; release(): void } {
  const written: string[] = [];
  let waiting: (() => void)[] = [];
  let stalled = true;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString());
      if (stalled) waiting.push(() => callback());
      else callback();
    },
  });
  return {
    stream,
    written,
    release() {
      stalled = false;
      const callbacks = waiting;
      waiting = [];
      for (const callback of callbacks) callback();
    },
  };
}

const until = async (condition: () => boolean, ms = 5000) => {
  const start = Date.now();
  while (!condition() && Date.now() - start < ms) await new Promise((r) => setTimeout(r, 10));
};

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("the operational log destination", () => {
  it("on a pipe whose reader stops, holds lines up to the bound, drops the rest whole, and says how many once the reader is back", async () => {
    const { stream, written, release } = stalledStream();
    const reports: DroppedLogLines[] = [];
    const log = createOperationalLogDestination({ stream, maxPendingBytes: 1000, onRecovered: (d) => reports.push(d) });
    const line = (k: number) => `${String(k).padStart(3, "0")}${"x".repeat(96)}\n`; // 100 bytes
    for (let k = 0; k < 50; k++) log.write(line(k));
    // The first ten lines fill the 1000 bytes; the rest are dropped.
    expect(log.stats()).toEqual({ droppedLines: 40, pendingBytes: 10 * line(0).length });
    expect(await log.drain(50)).toBe(false);
    await new Promise((r) => setTimeout(r, 250));
    expect(reports).toEqual([]);

    release();
    await until(() => reports.length > 0);
    expect(reports).toEqual([{ lines: 40, bytes: 40 * line(0).length }]);
    expect(await log.drain(1000)).toBe(true);
    // The lines kept arrive whole and in order.
    expect(written).toEqual(Array.from({ length: 10 }, (_, k) => line(k)));
    // Writing goes on, and the count of dropped lines stays.
    log.write(line(99));
    expect(written.at(-1)).toBe(line(99));
    expect(log.stats()).toEqual({ droppedLines: 40, pendingBytes: 0 });
  });

  it("at exit, drain writes the report of dropped lines when the reader has just caught up", async () => {
    const { stream, release } = stalledStream();
    const reports: DroppedLogLines[] = [];
    const log = createOperationalLogDestination({ stream, maxPendingBytes: 10, onRecovered: (d) => reports.push(d) });
    log.write("0123456789\n");
    log.write("dropped\n");
    release();
    // No waiting for the periodic check: drain itself reports.
    expect(await log.drain(1000)).toBe(true);
    expect(reports).toEqual([{ lines: 1, bytes: 8 }]);
  });

  it("takes one line larger than the bound when nothing waits", () => {
    const { stream, written } = stalledStream();
    const log = createOperationalLogDestination({ stream, maxPendingBytes: 100 });
    log.write(`${"y".repeat(500)}\n`);
    log.write("next\n");
    expect(written).toEqual([`${"y".repeat(500)}\n`]);
    expect(log.stats().droppedLines).toBe(1);
  });

  it("survives a reader that has gone (EPIPE): the error is not thrown, later lines are counted as dropped", async () => {
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
      },
    });
    const log = createOperationalLogDestination({ stream });
    log.write("first\n");
    await new Promise((r) => setImmediate(r));
    log.write("second\n");
    log.write("third\n");
    expect(log.stats().droppedLines).toBe(2);
    expect(await log.drain(100)).toBe(true);
  });

  it("writes a file synchronously: every line is there at once", () => {
    dir = mkdtempSync(join(tmpdir(), "ward-oplog-"));
    const file = join(dir, "stderr.log");
    // A child whose stderr is the file, so the destination sees a regular file on descriptor 2.
    const script = `
      const { createOperationalLogDestination } = await import(${JSON.stringify(join(import.meta.dirname, "../dist/operational-log.js"))});
      const log = createOperationalLogDestination();
      for (let k = 0; k < 100; k++) log.write(JSON.stringify({ k }) + "\\n");
      process.stdout.write(JSON.stringify(log.stats()));
      process.exit(0);
    `;
    const fd = openSync(file, "w");
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", fd], encoding: "utf8" });
    closeSync(fd);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ droppedLines: 0, pendingBytes: 0 });
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(100);
  });
});
