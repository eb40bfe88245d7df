/**
 * The gate `--audit-backlog-full deny` puts in front of every decision: the
 * audit sink's `accepting()`, plus the operational log lines that tell an
 * operator why calls are being denied and when that stopped.
 *
 * A backlog at its bound fills and drains a buffer at a time, so the gate can
 * close and open many times a second. The log gets one line when calls start
 * being denied and one when they stop, and after that no new pair for
 * `GATE_REPORT_INTERVAL_MS` (a spell that starts sooner is reported when the
 * interval is over, if it still lasts). The line that says denying stopped
 * counts the calls denied since the last such line, those of unreported
 * spells included (`ward_decisions_total{reason="audit_unavailable"}` counts
 * them all).
 */
import type { AuditGate } from "../decide.js";
import { DROP_REPORT_INTERVAL_MS } from "./sink.js";

/** Least time between two "denying" reports: the same as for dropped records. */
export const GATE_REPORT_INTERVAL_MS = DROP_REPORT_INTERVAL_MS;

/** Where the gate reports (the operational log). */
export interface AuditGateLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Wraps `sink` (anything with `accepting`) into a gate that reports its closing and opening to `log`. */
export function createAuditGate(sink: AuditGate, log: AuditGateLog, now: () => number = Date.now): AuditGate {
  let closed = false;
  // Whether the current closed spell was reported (so its end is reported too).
  let reported = false;
  let lastReport = -Infinity;
  let denied = 0;
  return {
    accepting() {
      const open = sink.accepting();
      if (!open) {
        denied++;
        closed = true;
        // A spell that starts too soon after the last report is reported once the interval has passed,
        // if it lasts that long: a destination that went for good is never left unreported.
        if (!reported) {
          const at = now();
          if (at - lastReport >= GATE_REPORT_INTERVAL_MS) {
            lastReport = at;
            reported = true;
            log.error({}, "audit log backlog full: calls are denied (audit_unavailable) until it takes records again (--audit-backlog-full deny)");
          }
        }
      } else if (closed) {
        closed = false;
        if (reported) {
          reported = false;
          log.warn({ denied_calls: denied }, "audit log takes records again: deciding calls again");
          denied = 0;
        }
      }
      return open;
    },
  };
}
