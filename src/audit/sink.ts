/**
 * The audit sink: writes audit records as JSON lines through pino's
 * asynchronous destination (`pino.destination({ sync: false })`, SonicBoom),
 * so writing a record only appends to a buffer and never waits for the disk on
 * the decision path. The only module that imports pino for decision records.
 *
 * The record is the whole line: no pino `level`, `time`, `pid` or `hostname`
 * decoration (the record carries its own `time`), so lines are written by
 * `createAuditLineWriter` (line.ts) and handed to the destination; decision
 * records straight from the decision (`writeDecision`), without building the
 * record object.
 *
 * The sink buffers lines itself, encoded to UTF-8 in a Buffer, and hands
 * SonicBoom (in its `buffer` content mode) chunks of at least `minLength`
 * bytes (256 KiB by default). Handed records of a few KiB one by one, SonicBoom
 * would measure (and so flatten) its whole pending string on every write, copy
 * it again to encode it, and issue a write system call every 16 KiB at most;
 * with 4 KiB that cost more CPU than deciding (bench/grpc.ts).
 *
 * When the destination is a pipe or a socket (standard output as a container
 * runtime's log pipe, `ward serve | tee`; a named pipe given as the file),
 * records go through a libuv stream instead (`process.stdout`, or a socket of
 * the sink's own on the file's descriptor): it writes on the event loop's
 * thread as soon as the pipe has room and waits for room with epoll, where SonicBoom hands every
 * write to libuv's thread pool and, when the pipe is full (EAGAIN), waits
 * 100 ms before retrying, while the sink keeps allocating new buffers. Under
 * load that cost more than a file (bench/grpc.ts, "audit to stdout").
 *
 * What the destination has been handed and not yet written is bounded
 * (`maxPendingBytes`): a log collector that stops reading or a hung disk
 * would otherwise make the process grow until it runs out of memory, and a
 * decision point that dies of it denies everything. Past the bound a buffer
 * is dropped whole (never part of a record), counted, and reported at most
 * every `DROP_REPORT_INTERVAL_MS`, as OPA's decision logger drops what does
 * not fit its buffer: records are evidence, but availability is the decision
 * point's first duty, and the drop counter makes every gap visible.
 *
 * With `backlogFull: "deny"` (`--audit-backlog-full deny`) the sink never
 * drops a buffer that holds the record of a request that was let through: it
 * hands it over past the bound instead. It cannot refuse a call itself, so
 * `accepting()` tells the server, which denies calls (`audit_unavailable`)
 * while it is false. Only the records of calls already decided when the
 * backlog filled can then pass the bound. Records of the denied calls are
 * dropped and counted like any others.
 *
 * Records reach the destination when the buffer passes `minLength`, every
 * `flushIntervalMs`, on `flush()`/`close()`/`reopen()`, and synchronously if
 * the process exits without closing the sink (an exit hook of the sink's own,
 * beside pino's for its asynchronous destinations). A signal's default action
 * skips exit hooks, so the server's SIGTERM/SIGINT handler must
 * `await sink.close()` (docs/audit.md).
 */
import { mkdirSync, openSync, writeSync } from "node:fs";
import type { Writable } from "node:stream";
import { Socket } from "node:net";
import { dirname } from "node:path";
import { pino } from "pino";
import type { Result } from "../diagnostics.js";
import type { DecisionOutcome } from "../decide.js";
import { isPipeOrSocket } from "../fd.js";
import { DEFAULT_AUDIT_BUFFER_BYTES, DEFAULT_AUDIT_MAX_PENDING_BYTES, MAX_AUDIT_BUFFER_BYTES, type AuditBacklogFull } from "./buffering.js";
import { createAuditLineWriter } from "./line.js";
import type { AuditMeta, AuditRecord } from "./record.js";

/** Where records go. */
export type AuditDestination = "stdout" | { readonly file: string };

/** Options for `createAuditSink`. */
export interface AuditSinkOptions {
  readonly destination: AuditDestination;
  /**
   * Fraction (0..1) of *allowed* decisions to write; default 1. Denials,
   * would-denials (audit mode) and shadow records are always written.
   */
  readonly sampleAllowed?: number;
  /** Random source in [0, 1) for sampling; injectable for tests. */
  readonly random?: () => number;
  /**
   * Bytes (UTF-8) buffered before a write is issued; default 262144
   * (`DEFAULT_AUDIT_BUFFER_BYTES`), at most 1 MiB. 1 issues every record at
   * once (still asynchronously).
   */
  readonly minLength?: number;
  /** Longest a record waits in the buffer, ms; default 1000. */
  readonly flushIntervalMs?: number;
  /**
   * Most bytes handed to the destination and not yet written; a buffer that
   * would pass it is dropped. Default 64 MiB (`DEFAULT_AUDIT_MAX_PENDING_BYTES`);
   * one buffer is always let through when nothing is pending.
   */
  readonly maxPendingBytes?: number;
  /**
   * At `maxPendingBytes`: `drop` (default) drops buffers whole; `deny` still
   * drops them, except buffers that hold the record of an allowed decision
   * (the server denies calls while `accepting()` is false, so none are lost).
   */
  readonly backlogFull?: AuditBacklogFull;
  /** Called for destination errors (a failed write); the sink keeps running and counts them. */
  readonly onError?: (error: Error) => void;
  /**
   * Called when records were dropped because the destination fell behind:
   * at the first drop, then at most every `DROP_REPORT_INTERVAL_MS` while
   * drops go on (checked with the flush interval), and at close.
   */
  readonly onDropped?: (report: AuditDropReport) => void;
}

/** Records dropped since the last report, and the backlog that caused it. */
export interface AuditDropReport {
  readonly records: number;
  readonly bytes: number;
  /** Bytes handed to the destination and not yet written, when reported. */
  readonly pendingBytes: number;
  readonly maxPendingBytes: number;
}

/** Counters for metrics. */
export interface AuditSinkStats {
  /** Records handed to the destination (counted when their buffer is; records still being buffered are in no counter yet). */
  readonly written: number;
  /** Allowed decisions left out by sampling. */
  readonly sampledOut: number;
  /** Records dropped because the destination's backlog was at `maxPendingBytes`. */
  readonly dropped: number;
  /** Destination errors seen. */
  readonly errors: number;
  /** Bytes handed to the destination and not yet written. */
  readonly pendingBytes: number;
}

/** The sink the server writes decision and shadow records to. */
export interface AuditSink {
  /** Queues one record; never blocks and never throws. */
  write(record: AuditRecord): void;
  /**
   * Queues the decision record of `outcome` (what `write(toAuditRecord(outcome, meta))`
   * writes, without building the record); never blocks and never throws.
   */
  writeDecision(outcome: DecisionOutcome, meta: AuditMeta): void;
  /**
   * False while a buffer handed over now might not fit under
   * `maxPendingBytes`, and once the destination is gone (a pipe whose reader
   * closed it, a destroyed stream) or the sink is closed: the server then
   * denies calls under `--audit-backlog-full deny`. Cheap: a few comparisons.
   */
  accepting(): boolean;
  /** Resolves once every record written so far has reached the destination (the OS; no fsync). */
  flush(): Promise<void>;
  /** Flushes and closes the destination; later writes are dropped. Idempotent. */
  close(): Promise<void>;
  /**
   * Reopens the file by name, for log rotation (e.g. on SIGUSR2 after
   * `logrotate` moved it); records buffered so far go to the old file. No-op
   * for stdout and for a pipe or socket (nothing to rotate).
   */
  reopen(): Result<void>;
  stats(): AuditSinkStats;
}

type Destination = ReturnType<typeof pino.destination>;


/** Room above `minLength` in a chunk, so that the line that crosses it usually still fits. */
const CHUNK_HEADROOM = 16 * 1024;

/** Written chunks kept for reuse: a busy sink has one being filled and one or two being written; bursts need a few more. */
const MAX_SPARE_CHUNKS = 4;

/**
 * Most handed-over pieces one destination may have unreported. Past it the
 * destination is no longer followed and its buffers are never reused: writes
 * that never report (pino turns a destination's `write` into a no-op after
 * EPIPE) would otherwise keep every buffer queued for good.
 */
const MAX_UNREPORTED = 64;

/** Least time between two reports of dropped records (`onDropped`), so a stalled destination does not flood the operational log. */
export const DROP_REPORT_INTERVAL_MS = 10_000;

/**
 * A destination that is a pipe or a socket, as a stream: its file descriptor,
 * how many handed-over pieces it has not yet called back for, and who waits
 * for none.
 */
interface PipeDestination {
  readonly stream: Writable;
  readonly fd: number;
  /** Whether the stream is the sink's own (closed with it), not `process.stdout`. */
  readonly owned: boolean;
  inFlight: number;
  idle: (() => void)[];
}

/** What was handed to one destination and not yet reported written, oldest first (`handedOver` drops it once it is no longer followed). */
type HandedOver = { unwritten: number; readonly chunk: Buffer | undefined }[];

/**
 * Creates the sink. A file is opened here, synchronously (in append mode,
 * creating missing directories), so a bad `--audit-log` path fails at startup
 * as a diagnostic (`audit_log_unwritable`) rather than later in the background.
 */
export function createAuditSink(options: AuditSinkOptions): Result<AuditSink> {
  const sampleAllowed = options.sampleAllowed ?? 1;
  if (!(sampleAllowed >= 0 && sampleAllowed <= 1)) {
    return failed("audit_sample_out_of_range", `allowed-decision sample rate must be within 0..1, got \`${String(sampleAllowed)}\``);
  }
  const random = options.random ?? Math.random;
  const file = options.destination === "stdout" ? undefined : options.destination.file;

  const opened = open(file);
  if (!opened.ok) return opened;
  const pipe: PipeDestination | undefined = isPipeOrSocket(opened.value) ? pipeDestination(opened.value) : undefined;

  // Chunks whose bytes SonicBoom has written, kept for the next lines: a fresh
  // 272 KiB buffer per chunk is fresh memory the kernel must fault in and zero,
  // which costs about a third as much as writing the chunk to the file.
  const spareChunks: Buffer[] = [];
  // What each destination was handed and has not yet reported written (see `trackWrites`).
  const handedOver = new WeakMap<Destination, HandedOver>();
  // Whether the file destination's last write failed (a full disk, an I/O error). SonicBoom keeps the
  // bytes and tries them again only when it is handed more; past the bound nothing more is handed to
  // it, so the flush interval asks it to try again (see the interval below).
  let writeFailed = false;
  // SonicBoom is not used (nor created: it would write to the same file descriptor) when the destination is written as a pipe.
  let stream: Destination | undefined = pipe === undefined ? destinationFor(opened.value) : undefined;
  let written = 0;
  let sampledOut = 0;
  let errors = 0;
  let closed: Promise<void> | undefined;
  // Bytes handed to a destination that it has not reported written (SonicBoom's `write` events, the pipe's callbacks).
  let pendingBytes = 0;
  const maxPendingBytes = Math.max(1, Math.floor(options.maxPendingBytes ?? DEFAULT_AUDIT_MAX_PENDING_BYTES));
  const keepAllowed = options.backlogFull === "deny";
  let dropped = 0;
  let unreportedDrops = { records: 0, bytes: 0 };
  let lastDropReport = -Infinity;

  function reportDrops(now: number): void {
    if (unreportedDrops.records === 0) return;
    const report: AuditDropReport = { ...unreportedDrops, pendingBytes, maxPendingBytes };
    unreportedDrops = { records: 0, bytes: 0 };
    lastDropReport = now;
    try {
      options.onDropped?.(report);
    } catch {
      // A failing reporter must not break the sink.
    }
  }

  /** Reports the drops not yet reported, unless a report went out within `DROP_REPORT_INTERVAL_MS`. */
  function reportDropsIfDue(): void {
    const now = Date.now();
    if (now - lastDropReport >= DROP_REPORT_INTERVAL_MS) reportDrops(now);
  }

  /** Counts a buffer the destination had no room for; reported at once unless a report went out recently. */
  function drop(records: number, bytes: number): void {
    dropped += records;
    unreportedDrops.records += records;
    unreportedDrops.bytes += bytes;
    reportDropsIfDue();
  }

  function onError(err: Error): void {
    errors++;
    options.onError?.(err);
  }

  function pipeCalledBack(): void {
    if (pipe === undefined || pipe.inFlight > 0) return;
    const waiting = pipe.idle;
    pipe.idle = [];
    for (const resolve of waiting) resolve();
  }

  // A pipe whose reader has gone fails with EPIPE: counted and reported once, then the stream is
  // destroyed and later records go nowhere (as with SonicBoom); a closed stream answers no more writes.
  function onPipeClose(): void {
    if (pipe === undefined) return;
    pipe.inFlight = 0;
    pendingBytes = 0;
    pipeCalledBack();
  }
  pipe?.stream.on("error", onError);
  pipe?.stream.on("close", onPipeClose);

  /** Resolves once the pipe has called back for every piece handed to it. */
  function pipeIdle(p: PipeDestination): Promise<void> {
    return new Promise((resolve) => {
      if (p.inFlight === 0 || p.stream.destroyed) resolve();
      else p.idle.push(resolve);
    });
  }

  function destinationFor(fd: number): Destination {
    const s = pino.destination({
      dest: fd,
      sync: false,
      // The sink buffers (`chunk` below); SonicBoom writes what it is handed at once, or right after
      // the write in flight. 1, not 0: with 0, SonicBoom's flush() returns at once without waiting
      // for an in-flight write.
      minLength: 1,
      // The sink hands over UTF-8 bytes it has already encoded (see `append`).
      contentMode: "buffer",
    });
    s.on("error", (err: Error) => {
      if (s === stream) writeFailed = true;
      onError(err);
    });
    handedOver.set(s, trackWrites(s));
    return s;
  }

  /**
   * Follows what a destination has written, to learn when a handed-over chunk
   * is SonicBoom's no more. SonicBoom writes what it is handed in order and,
   * writing asynchronously, reports every completed write (`write`, with its
   * byte count), partial ones included; a chunk is free once every one of its
   * bytes was reported. Bytes never reported (a failed write, a destroyed
   * stream, the exit hook's synchronous flush) keep their chunk from ever
   * coming back, which is safe.
   */
  function trackWrites(s: Destination): HandedOver {
    const queue: HandedOver = [];
    s.on("write", (n: number) => {
      pendingBytes = Math.max(0, pendingBytes - n);
      if (s === stream) writeFailed = false;
      if (!handedOver.has(s)) return; // no longer followed: counts would not line up with anything
      let left = n;
      while (left > 0 && queue.length > 0) {
        const head = queue[0]!;
        if (head.unwritten > left) {
          head.unwritten -= left;
          return;
        }
        left -= head.unwritten;
        queue.shift();
        recycle(head.chunk);
      }
    });
    return queue;
  }

  // Lines are encoded straight into `chunk` (decision lines are encoded by the writer and copied in) and wait there until `minLength`
  // bytes are waiting, the flush interval passes, or the sink is flushed,
  // closed or reopened; then the chunk goes to SonicBoom as it is and another
  // one is started (the handed-over one stays SonicBoom's until written, then
  // comes back as a spare). One
  // copy per line, outside the JavaScript heap (see the module comment).
  const lines = createAuditLineWriter();
  const minLength = Math.min(MAX_AUDIT_BUFFER_BYTES, Math.max(1, Math.floor(options.minLength ?? DEFAULT_AUDIT_BUFFER_BYTES)));
  const chunkBytes = minLength + CHUNK_HEADROOM;
  let chunk: Buffer | undefined;
  let used = 0;
  // Records in `chunk`, and how many of them are of allowed decisions.
  let chunkRecords = 0;
  let chunkAllowed = 0;
  const interval = setInterval(() => {
    handOver();
    retryFailedWrite();
    reportDropsIfDue();
  }, options.flushIntervalMs ?? 1000);
  interval.unref();

  /**
   * After a failed write, asks SonicBoom to write what it holds again (once per flush interval):
   * otherwise a backlog at its bound would never be written, and records would be dropped (or,
   * under `--audit-backlog-full deny`, calls denied) long after the disk is back.
   */
  function retryFailedWrite(): void {
    if (!writeFailed || stream === undefined || isDestroyed(stream)) return;
    writeFailed = false;
    try {
      stream.flush();
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  function handOver(): void {
    if (chunk === undefined || used === 0) return;
    const full = chunk.subarray(0, used);
    const whole = chunk;
    const records = chunkRecords;
    const allowed = chunkAllowed;
    chunk = undefined;
    used = 0;
    chunkRecords = 0;
    chunkAllowed = 0;
    toStream(full, whole, records, allowed);
  }

  /** Keeps a chunk no destination holds any more for the next lines (a few at most). */
  function recycle(c: Buffer | undefined): void {
    if (c !== undefined && spareChunks.length < MAX_SPARE_CHUNKS) spareChunks.push(c);
  }

  function freshChunk(): Buffer {
    return spareChunks.pop() ?? Buffer.allocUnsafe(chunkBytes);
  }

  /**
   * Hands `bytes` (`records` whole records, `allowed` of them of allowed
   * decisions) to the destination, or drops them when its backlog has no room
   * (unless `keepAllowed` and some request they record was let through);
   * `chunk` is the sink's buffer they are a view of, reused once they are written.
   */
  function toStream(bytes: Buffer, chunk: Buffer | undefined, records: number, allowed: number): void {
    if (pendingBytes > 0 && pendingBytes + bytes.length > maxPendingBytes && !(keepAllowed && allowed > 0)) {
      drop(records, bytes.length);
      // Never handed over: free for the next lines at once.
      recycle(chunk);
      return;
    }
    if (pipe?.stream.destroyed) {
      // The reader has gone (EPIPE, counted as an error): nothing is written any more, nor counted written.
      recycle(chunk);
      return;
    }
    written += records;
    if (pipe !== undefined) {
      toPipe(pipe, bytes, chunk);
      return;
    }
    if (stream === undefined) return;
    pendingBytes += bytes.length;
    const queue = handedOver.get(stream);
    if (queue !== undefined) {
      if (queue.length < MAX_UNREPORTED) queue.push({ unwritten: bytes.length, chunk });
      else {
        // Let go of the buffers queued so far (SonicBoom keeps what it still needs).
        queue.length = 0;
        handedOver.delete(stream);
      }
    }
    try {
      // In `contentMode: "buffer"` SonicBoom takes Buffers; its type declarations only know strings.
      (stream as unknown as { write(data: Buffer): boolean }).write(bytes);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  function toPipe(p: PipeDestination, bytes: Buffer, chunk: Buffer | undefined): void {
    p.inFlight++;
    pendingBytes += bytes.length;
    try {
      p.stream.write(bytes, (err) => {
        p.inFlight = Math.max(0, p.inFlight - 1);
        pendingBytes = Math.max(0, pendingBytes - bytes.length);
        // The stream holds the bytes until it calls back; after an error they may still be referenced: not reused.
        if (!err) recycle(chunk);
        pipeCalledBack();
      });
    } catch (err) {
      p.inFlight = Math.max(0, p.inFlight - 1);
      pendingBytes = Math.max(0, pendingBytes - bytes.length);
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  function append(line: string, allowed: boolean): void {
    // At most 3 UTF-8 bytes per UTF-16 code unit: a line this long surely fits in the room left.
    const worst = line.length * 3;
    if (chunk !== undefined && used + worst > chunk.length) handOver();
    if (worst > chunkBytes) {
      // A line larger than a whole chunk goes on its own.
      toStream(Buffer.from(line, "utf8"), undefined, 1, allowed ? 1 : 0);
      return;
    }
    chunk ??= freshChunk();
    used += chunk.write(line, used, "utf8");
    chunkRecords++;
    if (allowed) chunkAllowed++;
    if (used >= minLength) handOver();
  }

  /** `append` for a line already encoded (a view the writer reuses: copied here). */
  function appendBytes(line: Uint8Array, allowed: boolean): void {
    if (chunk !== undefined && used + line.length > chunk.length) handOver();
    if (line.length > chunkBytes) {
      toStream(Buffer.from(line), undefined, 1, allowed ? 1 : 0);
      return;
    }
    chunk ??= freshChunk();
    chunk.set(line, used);
    used += line.length;
    chunkRecords++;
    if (allowed) chunkAllowed++;
    if (used >= minLength) handOver();
  }

  // pino's own exit hook flushes SonicBoom synchronously, but it runs before
  // this one (registered first): hand over what waits here, then flush again.
  // A pipe is written synchronously, and only when it has nothing of ours in
  // flight: bytes written beside a half-done write would split a line.
  function onExit(): void {
    if (pipe !== undefined) {
      if (chunk !== undefined && used > 0 && pipe.inFlight === 0 && !pipe.stream.destroyed) {
        writeAllSync(pipe.fd, chunk.subarray(0, used), onError);
        written += chunkRecords;
      }
      chunk = undefined;
      used = 0;
      chunkRecords = 0;
      chunkAllowed = 0;
      return;
    }
    handOver();
    if (stream === undefined) return;
    try {
      if (!isDestroyed(stream)) stream.flushSync();
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
  process.on("exit", onExit);

  /** Only allowed decisions are ever sampled: a deny or a would-deny (outcome deny, let through by audit mode) is always kept. */
  function sampledOutAllow(outcome: "allow" | "deny"): boolean {
    if (outcome === "allow" && sampleAllowed < 1 && random() >= sampleAllowed) {
      sampledOut++;
      return true;
    }
    return false;
  }

  function failedLine(err: unknown): void {
    onError(err instanceof Error ? err : new Error(String(err)));
  }

  function write(record: AuditRecord): void {
    if (closed) return;
    if (record.type === "decision" && sampledOutAllow(record.outcome)) return;
    let text: string;
    try {
      text = lines.record(record);
    } catch (err) {
      failedLine(err);
      return;
    }
    append(text, record.type === "decision" && record.allowed);
  }

  function writeDecision(outcome: DecisionOutcome, meta: AuditMeta): void {
    if (closed) return;
    if (sampledOutAllow(outcome.decision.outcome)) return;
    let bytes: Uint8Array;
    try {
      bytes = lines.decisionBytes(outcome, meta);
    } catch (err) {
      failedLine(err);
      return;
    }
    appendBytes(bytes, outcome.decision.allowed);
  }

  function flushStream(s: Destination): Promise<void> {
    return new Promise((resolve) => {
      if (isDestroyed(s)) return resolve();
      s.flush((err?: Error | null) => {
        if (err) onError(err);
        resolve();
      });
    });
  }

  function endStream(s: Destination): Promise<void> {
    return new Promise((resolve) => {
      if (isDestroyed(s)) return resolve();
      s.once("close", () => resolve());
      s.once("error", () => resolve());
      s.end();
    });
  }

  return {
    ok: true,
    diagnostics: [],
    value: {
      write,
      writeDecision,
      accepting() {
        if (closed !== undefined) return false;
        if (pipe !== undefined) {
          if (pipe.stream.destroyed) return false;
        } else if (stream === undefined || isDestroyed(stream)) return false;
        return pendingBytes === 0 || pendingBytes + chunkBytes <= maxPendingBytes;
      },
      flush() {
        handOver();
        if (pipe !== undefined) return pipeIdle(pipe);
        return stream === undefined ? Promise.resolve() : flushStream(stream);
      },
      close() {
        if (!closed) {
          handOver();
          reportDrops(Date.now());
          process.off("exit", onExit);
          clearInterval(interval);
          if (pipe !== undefined) {
            // Standard output stays open (the process may still write to it): the sink just stops listening. A socket of its own is closed.
            closed = pipeIdle(pipe).then(() => {
              pipe.stream.off("error", onError);
              pipe.stream.off("close", onPipeClose);
              if (pipe.owned) pipe.stream.destroy();
            });
          } else {
            const s = stream!;
            closed = flushStream(s).then(() => endStream(s));
          }
        }
        return closed;
      },
      reopen() {
        if (file === undefined || pipe !== undefined || closed) return { ok: true, value: undefined, diagnostics: [] };
        const next = open(file);
        if (!next.ok) return next;
        handOver();
        const old = stream!;
        stream = destinationFor(next.value);
        void flushStream(old).then(() => endStream(old));
        return { ok: true, value: undefined, diagnostics: [] };
      },
      stats: () => ({ written, sampledOut, dropped, errors, pendingBytes }),
    },
  };
}

const STDOUT_FD = 1;

/** `fd` as a stream: standard output's own, or a socket on a descriptor the sink opened (libuv makes it non-blocking). */
function pipeDestination(fd: number): PipeDestination {
  if (fd === STDOUT_FD) return { stream: process.stdout, fd, owned: false, inFlight: 0, idle: [] };
  return { stream: new Socket({ fd, readable: false, writable: true }), fd, owned: true, inFlight: 0, idle: [] };
}

/** Writes all of `bytes` to `fd` synchronously (at exit), waiting out a full non-blocking pipe for up to about a second. */
function writeAllSync(fd: number, bytes: Buffer, onError: (err: Error) => void): void {
  let offset = 0;
  let waits = 0;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN" && waits++ < 1000) {
        Atomics.wait(sleeper, 0, 0, 1);
        continue;
      }
      onError(err instanceof Error ? err : new Error(String(err)));
      return;
    }
  }
}

function open(file: string | undefined): Result<number> {
  if (file === undefined) return { ok: true, value: 1, diagnostics: [] };
  try {
    mkdirSync(dirname(file), { recursive: true });
    return { ok: true, value: openSync(file, "a"), diagnostics: [] };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return failed("audit_log_unwritable", `cannot open audit log \`${file}\`: ${reason}`);
  }
}

function failed<T>(code: string, message: string): Result<T> {
  return { ok: false, diagnostics: [{ code, severity: "error", message }] };
}

// `destroyed` is set by SonicBoom at runtime but missing from its type declarations.
function isDestroyed(s: Destination): boolean {
  return (s as unknown as { destroyed?: boolean }).destroyed === true;
}
