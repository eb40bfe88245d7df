/**
 * The audit-rollout summary (`ward audit summary`): the would-deny decisions
 * of an audit log (and, on request, every deny) grouped by caller, method and
 * path pattern, largest group first: the list a service owner works through
 * before switching a policy from audit to enforce. Pure; the CLI reads files.
 */
import { parseLogLine, renderSkipped, type SkipReason, type SkippedLine, type SkippedLines } from "./decode.js";
import type { DecisionRecord, RecordedCaller } from "./record.js";
import type { LineRef } from "./replay.js";

/** Options for `createSummary`. */
export interface SummaryOptions {
  /** Also count enforced denials, not only would-denials; default false. */
  readonly allDenies?: boolean;
  /** Distinct example paths kept per group; default 3. */
  readonly examples?: number;
  /** Skipped lines listed individually (all are counted); default 50. */
  readonly maxSkippedListed?: number;
}

/** Why requests of a group were (or would have been) denied: the rules, or the reason. */
export interface SummaryCause {
  /** `"rule" (policy "p")`, or `(reason)` when no rule decided. */
  readonly cause: string;
  readonly count: number;
}

/** Requests with the same caller, method and path pattern. */
export interface SummaryGroup {
  /** The caller's SPIFFE ID, or `unauthenticated (reason)`. */
  readonly caller: string;
  readonly method: string;
  /** The path with variable segments (numbers, UUIDs, long hex or opaque ids) replaced by `*`. */
  readonly path_pattern: string;
  readonly count: number;
  /** How many of them were would-denials (the rest were enforced denials, with `allDenies`). */
  readonly would_deny: number;
  readonly causes: readonly SummaryCause[];
  /** RFC 3339, as recorded. */
  readonly first_seen: string;
  readonly last_seen: string;
  /** Distinct concrete paths, first seen first. */
  readonly example_paths: readonly string[];
}

/** The summary; also the `--format json` document. */
export interface SummaryReport {
  /** Decision records read. */
  readonly records: number;
  readonly would_deny: number;
  /** Enforced denials (counted always; grouped only with `allDenies`). */
  readonly denied: number;
  readonly all_denies: boolean;
  readonly groups: readonly SummaryGroup[];
  readonly skipped: SkippedLines;
}

/** An incremental summary: feed it lines, then ask for the report. */
export interface Summary {
  add(text: string, where: LineRef): void;
  report(): SummaryReport;
}

interface GroupAcc {
  caller: string;
  method: string;
  pattern: string;
  count: number;
  wouldDeny: number;
  causes: Map<string, number>;
  first: string;
  last: string;
  paths: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^\d+$/;
const HEX = /^[0-9a-f]{16,}$/i;
const OPAQUE = /^[A-Za-z0-9_-]{20,}$/;

/**
 * Collapses variable path segments into `*`: decimal numbers, UUIDs, hex
 * strings of 16 or more digits, and opaque ids (20 or more letters, digits,
 * `-` or `_`, with at least one digit): `/orders/8812` becomes `/orders/*`.
 * Words and short versions (`/api/v1/charge`) stay as they are.
 */
export function pathPattern(path: string): string {
  return path
    .split("/")
    .map((segment) => (isVariableSegment(segment) ? "*" : segment))
    .join("/");
}

function isVariableSegment(s: string): boolean {
  if (s === "") return false;
  if (NUMBER.test(s) || UUID.test(s)) return true;
  if (HEX.test(s) && /\d/.test(s)) return true;
  return OPAQUE.test(s) && /\d/.test(s);
}

function callerLabel(caller: RecordedCaller): string {
  if (caller.authenticated && caller.spiffe_id !== undefined) return caller.spiffe_id;
  return `unauthenticated (${caller.unauthenticated_reason ?? "unknown"})`;
}

function causeOf(record: DecisionRecord): string {
  if (record.determining.length === 0) return `(${record.reason})`;
  return record.determining.map((r) => `${JSON.stringify(r.rule)} (policy ${JSON.stringify(r.policy)})`).join(", ");
}

/** Creates a summary. */
export function createSummary(options: SummaryOptions = {}): Summary {
  const allDenies = options.allDenies ?? false;
  const maxExamples = Math.max(0, options.examples ?? 3);
  const maxSkippedListed = Math.max(0, options.maxSkippedListed ?? 50);
  const groups = new Map<string, GroupAcc>();
  const skippedLines: SkippedLine[] = [];
  const byReason: Partial<Record<SkipReason, number>> = {};
  let skippedTotal = 0;
  let records = 0;
  let wouldDeny = 0;
  let denied = 0;

  function skip(where: LineRef, reason: SkipReason, message: string): void {
    skippedTotal++;
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    if (skippedLines.length < maxSkippedListed) skippedLines.push({ source: where.source, line: where.line, reason, message });
  }

  function addRecord(record: DecisionRecord): void {
    records++;
    if (record.would_deny) wouldDeny++;
    else if (record.outcome === "deny") denied++;
    if (!(record.would_deny || (allDenies && record.outcome === "deny"))) return;
    const caller = callerLabel(record.caller);
    const method = record.request?.method ?? "";
    const path = record.request?.path ?? "";
    const pattern = pathPattern(path);
    const id = `${caller}\u0000${method}\u0000${pattern}`;
    let g = groups.get(id);
    if (!g) {
      g = { caller, method, pattern, count: 0, wouldDeny: 0, causes: new Map(), first: record.time, last: record.time, paths: [] };
      groups.set(id, g);
    }
    g.count++;
    if (record.would_deny) g.wouldDeny++;
    const cause = causeOf(record);
    g.causes.set(cause, (g.causes.get(cause) ?? 0) + 1);
    // RFC 3339 UTC times with the same precision compare correctly as text.
    if (record.time < g.first) g.first = record.time;
    if (record.time > g.last) g.last = record.time;
    if (g.paths.length < maxExamples && !g.paths.includes(path)) g.paths.push(path);
  }

  return {
    add(text, where) {
      const entry = parseLogLine(text);
      switch (entry.kind) {
        case "blank":
          return;
        case "skip":
          return skip(where, entry.reason, entry.message);
        case "shadow":
          return skip(where, "not_a_decision", "shadow record (not counted in the summary)");
        case "check_request":
          return skip(where, "unrecognized_line", "an Envoy CheckRequest carries no decision; the summary reads decision records");
        case "decision":
          return addRecord(entry.record);
      }
    },
    report() {
      const sorted = [...groups.values()].sort(
        (a, b) => b.count - a.count || cmp(a.caller, b.caller) || cmp(a.method, b.method) || cmp(a.pattern, b.pattern),
      );
      return {
        records,
        would_deny: wouldDeny,
        denied,
        all_denies: allDenies,
        groups: sorted.map((g) => ({
          caller: g.caller,
          method: g.method,
          path_pattern: g.pattern,
          count: g.count,
          would_deny: g.wouldDeny,
          causes: [...g.causes.entries()].map(([cause, count]) => ({ cause, count })).sort((a, b) => b.count - a.count || cmp(a.cause, b.cause)),
          first_seen: g.first,
          last_seen: g.last,
          example_paths: [...g.paths],
        })),
        skipped: { total: skippedTotal, by_reason: { ...byReason }, lines: [...skippedLines] },
      };
    },
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The summary as text, for people. */
export function renderSummaryText(report: SummaryReport, limit?: number): string {
  const out: string[] = [];
  const what = report.all_denies ? "denied or would-deny" : "would-deny";
  out.push(
    `${report.records} decision record${report.records === 1 ? "" : "s"}: ${report.would_deny} would-deny (audit mode), ${report.denied} denied (enforced)`,
  );
  if (report.groups.length === 0) {
    out.push(`no ${what} decisions`);
  } else {
    const shown = limit === undefined ? report.groups : report.groups.slice(0, limit);
    out.push("", `${what} decisions by caller, method and path pattern (${report.groups.length} group${report.groups.length === 1 ? "" : "s"}):`);
    for (const g of shown) {
      out.push(`  ${String(g.count).padStart(6)}  ${g.caller}  ${g.method} ${g.path_pattern}`);
      for (const c of g.causes) out.push(`          ${String(c.count).padStart(6)} × ${c.cause}`);
      out.push(`          seen ${g.first_seen} … ${g.last_seen}; e.g. ${g.example_paths.join(", ")}`);
    }
    const hidden = report.groups.length - shown.length;
    if (hidden > 0) out.push(`  … and ${hidden} more group${hidden === 1 ? "" : "s"} (raise --limit)`);
  }
  out.push(...renderSkipped(report.skipped));
  return `${out.join("\n")}\n`;
}
