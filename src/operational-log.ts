/**
 * Where Ward's operational log goes (pino's JSON lines on stderr: startup,
 * reloads, errors, shutdown). Writing it must never stop Ward deciding.
 *
 * - stderr a pipe or a socket (how container runtimes and supervisors take
 *   it): lines are written through the process's stderr stream, which libuv
 *   writes without blocking. While the reader is behind they wait in memory,
 *   up to a bound; past it they are dropped whole and counted. Once the reader
 *   has caught up, `onRecovered` is told how many were lost (Ward logs one line
 *   about it). A synchronous write here would wait for room in the pipe: a log
 *   agent that stops reading (Docker's blocking log mode, a container
 *   runtime's logger on a full disk) would then stop Ward's event loop at its
 *   next log line, and every Check call behind it would time out.
 * - anything else (a file, a terminal, /dev/null): written synchronously, so
 *   no line is lost to a crash.
 */
import type { Writable } from "node:stream";
import { pino } from "pino";
import { isPipeOrSocket } from "./fd.js";

/** Bytes of log lines that may wait for a slow stderr reader before lines are dropped. */
export const OPERATIONAL_LOG_MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** How often a destination that has dropped lines looks whether its reader has caught up. */
const RECOVERY_CHECK_MS = 100;

/** How often `drain` looks whether everything was written. */
const DRAIN_CHECK_MS = 10;

/** What a destination dropped while its reader was behind. */
export interface DroppedLogLines {
  readonly lines: number;
  readonly bytes: number;
}

export interface OperationalLogStats {
  /** Lines dropped since start: the reader was behind by more than the bound, or had gone. */
  readonly droppedLines: number;
  /** Bytes accepted and not yet written (always 0 for a synchronous destination). */
  readonly pendingBytes: number;
}

/** pino's destination interface, plus what shutdown and metrics need. */
export interface OperationalLogDestination {
  write(line: string): void;
  /**
   * Resolves true once nothing waits any more (every accepted line written, or the reader gone
   * so that none can be), writing the report of dropped lines first if one is due; false when
   * `ms` passes first.
   */
  drain(ms: number): Promise<boolean>;
  stats(): OperationalLogStats;
}

export interface OperationalLogOptions {
  /** The stream to write when stderr is a pipe or socket; default `process.stderr` (tests pass their own). */
  readonly stream?: Writable;
  /** Default `OPERATIONAL_LOG_MAX_PENDING_BYTES`. */
  readonly maxPendingBytes?: number;
  /** Called once the reader has caught up after lines were dropped, never from inside `write`. */
  readonly onRecovered?: (dropped: DroppedLogLines) => void;
}

const STDERR_FD = 2;

/** The destination for stderr: a bounded stream when it is a pipe or socket (or `options.stream` is given), else synchronous. */
export function createOperationalLogDestination(options: OperationalLogOptions = {}): OperationalLogDestination {
  if (options.stream === undefined && !isPipeOrSocket(STDERR_FD)) return synchronousDestination(STDERR_FD);
  return streamDestination(options.stream ?? process.stderr, options);
}

function synchronousDestination(fd: number): OperationalLogDestination {
  const destination = pino.destination({ dest: fd, sync: true });
  return {
    write: (line) => void destination.write(line),
    drain: () => Promise.resolve(true),
    stats: () => ({ droppedLines: 0, pendingBytes: 0 }),
  };
}

function streamDestination(stream: Writable, options: OperationalLogOptions): OperationalLogDestination {
  const maxPendingBytes = Math.max(1, options.maxPendingBytes ?? OPERATIONAL_LOG_MAX_PENDING_BYTES);
  let droppedLines = 0;
  let unreported = { lines: 0, bytes: 0 };
  let recoveryCheck: NodeJS.Timeout | undefined;
  // The reader has gone (EPIPE) or the stream was closed: nothing can be written any more.
  let gone = false;

  // Without a listener an EPIPE on stderr would be thrown as an uncaught exception and end Ward.
  stream.on("error", () => {
    gone = true;
  });
  stream.on("close", () => {
    gone = true;
  });

  function reportIfCaughtUp(): void {
    if (gone) {
      // No report can be written any more; the metric keeps the count.
      clearInterval(recoveryCheck);
      recoveryCheck = undefined;
      return;
    }
    if (stream.writableLength > 0) return;
    clearInterval(recoveryCheck);
    recoveryCheck = undefined;
    const dropped = unreported;
    unreported = { lines: 0, bytes: 0 };
    try {
      options.onRecovered?.(dropped);
    } catch {
      // A failing reporter must not break logging.
    }
  }

  function drop(bytes: number): void {
    droppedLines++;
    unreported.lines++;
    unreported.bytes += bytes;
    if (recoveryCheck === undefined && !gone) {
      recoveryCheck = setInterval(reportIfCaughtUp, RECOVERY_CHECK_MS);
      recoveryCheck.unref();
    }
  }

  return {
    write(line) {
      const bytes = Buffer.byteLength(line);
      if (gone || stream.destroyed) {
        gone = true;
        drop(bytes);
        return;
      }
      // One line always goes when nothing waits, however long.
      const pending = stream.writableLength;
      if (pending > 0 && pending + bytes > maxPendingBytes) {
        drop(bytes);
        return;
      }
      stream.write(line);
    },
    async drain(ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        if (gone) return true;
        if (stream.writableLength === 0) {
          if (unreported.lines === 0) return true;
          // The reader caught up just now: its report is the last line (and is drained in turn).
          reportIfCaughtUp();
          continue;
        }
        if (Date.now() >= deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_MS));
      }
    },
    stats: () => ({ droppedLines, pendingBytes: gone ? 0 : stream.writableLength }),
  };
}
