/**
 * Dry-run replay (`ward replay`): decides recorded traffic again with a
 * candidate policy set and reports what would change. Two kinds of lines:
 *
 * - decision records: the recorded `input` is decided by the candidate and its
 *   verdict compared with the recorded `outcome` (the policies' verdict before
 *   audit mode let anything through): allow→deny and deny→allow flips;
 * - Envoy `CheckRequest`s (proto3 JSON): translated by the input module and
 *   decided through the one decision path. With no recorded verdict they
 *   cannot flip; they are counted as candidate allows and denies, and the
 *   denials grouped like flips.
 *
 * Lines that cannot be replayed are skipped with their line number and a
 * stable reason; nothing a log contains crashes the replay. The core here is
 * pure: the CLI (src/cli/replay.ts) reads files, loads policies and prints.
 */
import { decide, type DecisionDeps, type DecisionOutcome } from "../decide.js";
import type { Result } from "../diagnostics.js";
import type { Decision, DecisionReason, RuleRef } from "../engine/decision.js";
import type { RequestInput } from "../engine/input.js";
import type { Program } from "../engine/program.js";
import type { RawRequest } from "../input/raw.js";
import { isWardError } from "../engine/decision.js";
import { decodeInput, isPreEvaluationReason, parseLogLine, renderSkipped, type SkipReason, type SkippedLine, type SkippedLines } from "./decode.js";
import type { DecisionRecord, RecordedRule } from "./record.js";

/** Where a line came from: a file name (or `-` for stdin) and its 1-based line number. */
export interface LineRef {
  readonly source: string;
  readonly line: number;
}

/** The candidate policies, as replay needs them. */
export interface ReplayCandidate {
  readonly revision: string;
  /** True when the candidate reads `cert.*` (recorded inputs may lack certificate attributes). */
  readonly needsCertificate: boolean;
  /** Decides a recorded input as recorded (caller and time included). */
  decideRecorded(input: RequestInput): DecisionOutcome;
  /** Translates and decides an Envoy CheckRequest; a translation failure is a lower-case message. */
  decideCheckRequest(json: unknown): { readonly ok: true; readonly outcome: DecisionOutcome } | { readonly ok: false; readonly message: string };
}

/** What `candidateFromProgram` needs besides the program. */
export interface CandidateDeps {
  /** Resolver and input builder for CheckRequests (the server's defaults, or its configuration). */
  readonly deps: DecisionDeps;
  /** The input module's CheckRequest reader (`fromCheckRequestJson`). */
  readonly fromCheckRequest: (json: unknown) => Result<RawRequest>;
  /** The clock for CheckRequests that carry no `time`, epoch ms. */
  readonly now: () => number;
}

/**
 * The candidate as a compiled program. Both kinds of lines go through
 * `decide`, the one decision path; for a record, the resolver and builder
 * simply hand back the recorded caller and input.
 */
export function candidateFromProgram(program: Program, c: CandidateDeps): ReplayCandidate {
  return {
    revision: program.revision,
    needsCertificate: program.needsCertificate,
    decideRecorded(input) {
      const deps: DecisionDeps = {
        resolver: { resolve: () => input.caller },
        inputBuilder: { build: () => ({ ok: true, input }) },
      };
      return decide(program, rawOfRecorded(input), deps, { now: input.time });
    },
    decideCheckRequest(json) {
      const raw = c.fromCheckRequest(json);
      if (!raw.ok) return { ok: false, message: raw.diagnostics.map((d) => d.message).join("; ") };
      return { ok: true, outcome: decide(program, raw.value, c.deps, { now: c.now() }) };
    },
  };
}

/** A raw request standing for a recorded input (only its `time` is read: the recorded deps ignore the rest). */
function rawOfRecorded(input: RequestInput): RawRequest {
  return {
    method: input.request.method,
    path: input.request.path,
    host: input.request.host,
    scheme: input.request.scheme,
    headers: [],
    source: {},
    destination: {},
    identity: {},
    contextExtensions: {},
    time: input.time,
  };
}

/** A change between the recorded verdict and the candidate's, or a candidate denial of an unrecorded request. */
export type ReplayChange = "allow_to_deny" | "deny_to_allow" | "candidate_deny";

/** One example request of a group. */
export interface ReplayExample {
  readonly source: string;
  readonly line: number;
  readonly decision_id?: string;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  /** The caller's SPIFFE ID, or `unauthenticated (reason)`. */
  readonly caller: string;
  /** The recorded verdict's reason and rules (records only). */
  readonly recorded?: { readonly reason: string; readonly determining: readonly RecordedRule[] };
}

/** Requests with the same change and the same candidate determining rules (or reason, when no rule decided). */
export interface ReplayGroup {
  readonly change: ReplayChange;
  /** Human-readable group name: the rules, or the reason in parentheses. */
  readonly key: string;
  readonly reason: DecisionReason;
  readonly rules: readonly RecordedRule[];
  readonly count: number;
  readonly examples: readonly ReplayExample[];
}

/** The replay report; also the `--format json` document, so its keys are snake_case. */
export interface ReplayReport {
  readonly candidate_revision: string;
  /** Non-blank lines read. */
  readonly lines: number;
  /** Decisions replayed: records plus CheckRequests. */
  readonly total: number;
  readonly records: number;
  readonly check_requests: number;
  /** Records whose verdict the candidate kept. */
  readonly unchanged: number;
  readonly allow_to_deny: number;
  readonly deny_to_allow: number;
  /** The candidate's verdicts over everything replayed. */
  readonly candidate: { readonly allow: number; readonly deny: number };
  /** The candidate's verdicts on the CheckRequests alone. */
  readonly check_request_outcomes: { readonly allow: number; readonly deny: number };
  /** Flips (and candidate denials of CheckRequests), largest group first within each change. */
  readonly groups: readonly ReplayGroup[];
  /**
   * Records whose caller was authenticated but carries no certificate attributes
   * while the candidate reads `cert.*`: those rules saw no certificate.
   */
  readonly certificate_not_recorded: number;
  readonly skipped: SkippedLines;
}

/** Options for `createReplay`. */
export interface ReplayOptions {
  /** Example requests kept per group; default 3. */
  readonly examples?: number;
  /** Skipped lines listed individually (all are counted); default 50. */
  readonly maxSkippedListed?: number;
}

/** An incremental replay: feed it lines, then ask for the report. */
export interface Replay {
  /** Replays one line (without its newline). Never throws on bad input. */
  add(text: string, where: LineRef): void;
  report(): ReplayReport;
}

interface GroupAcc {
  change: ReplayChange;
  key: string;
  reason: DecisionReason;
  rules: RecordedRule[];
  count: number;
  examples: ReplayExample[];
}

/** Creates a replay against a candidate. */
export function createReplay(candidate: ReplayCandidate, options: ReplayOptions = {}): Replay {
  const maxExamples = Math.max(0, options.examples ?? 3);
  const maxSkippedListed = Math.max(0, options.maxSkippedListed ?? 50);
  const groups = new Map<string, GroupAcc>();
  const skippedLines: SkippedLine[] = [];
  const byReason: Partial<Record<SkipReason, number>> = {};
  let lines = 0;
  let records = 0;
  let checkRequests = 0;
  let unchanged = 0;
  let allowToDeny = 0;
  let denyToAllow = 0;
  let candidateAllow = 0;
  let candidateDeny = 0;
  let checkAllow = 0;
  let checkDeny = 0;
  let certificateNotRecorded = 0;
  let skippedTotal = 0;

  function skipLine(where: LineRef, reason: SkipReason, message: string): void {
    skippedTotal++;
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    if (skippedLines.length < maxSkippedListed) skippedLines.push({ source: where.source, line: where.line, reason, message });
  }

  function group(change: ReplayChange, decision: Decision, example: ReplayExample): void {
    const rules = decision.determining.map(toRecordedRule);
    const key = groupKey(decision.reason, decision.determining);
    const id = `${change}\u0000${key}`;
    let g = groups.get(id);
    if (!g) {
      g = { change, key, reason: decision.reason, rules, count: 0, examples: [] };
      groups.set(id, g);
    }
    g.count++;
    if (g.examples.length < maxExamples) g.examples.push(example);
  }

  function count(decision: Decision): void {
    if (decision.outcome === "allow") candidateAllow++;
    else candidateDeny++;
  }

  function replayRecord(record: DecisionRecord, where: LineRef): void {
    if (isWardError(record.reason)) {
      return skipLine(where, "recorded_error", `recorded verdict came from \`${record.reason}\`, not from the policies`);
    }
    if (record.input === undefined) {
      if (isPreEvaluationReason(record.reason)) {
        return skipLine(where, "not_evaluated", `request was refused before evaluation (\`${record.reason}\`); no policy change can flip it`);
      }
      return skipLine(where, "missing_input", "record has no `input` (written with `--audit-input none`?)");
    }
    const decoded = decodeInput(record.input);
    if (!decoded.ok) return skipLine(where, "invalid_record", decoded.message);
    const input = decoded.input;
    if (candidate.needsCertificate && input.caller.authenticated && input.caller.certificate === undefined) certificateNotRecorded++;
    const outcome = candidate.decideRecorded(input);
    records++;
    count(outcome.decision);
    const before = record.outcome;
    const after = outcome.decision.outcome;
    if (before === after) {
      unchanged++;
      return;
    }
    const change: ReplayChange = before === "allow" ? "allow_to_deny" : "deny_to_allow";
    if (change === "allow_to_deny") allowToDeny++;
    else denyToAllow++;
    group(change, outcome.decision, {
      ...exampleOf(input, where),
      decision_id: record.decision_id,
      recorded: { reason: record.reason, determining: record.determining },
    });
  }

  function replayCheckRequest(json: unknown, where: LineRef): void {
    const result = candidate.decideCheckRequest(json);
    if (!result.ok) return skipLine(where, "invalid_check_request", result.message);
    checkRequests++;
    const { decision, input, identity } = result.outcome;
    count(decision);
    if (decision.outcome === "allow") checkAllow++;
    else checkDeny++;
    if (decision.outcome === "deny") {
      const example = input ? exampleOf(input, where) : { source: where.source, line: where.line, method: "", path: "", host: "", caller: callerLabel(identity) };
      group("candidate_deny", decision, example);
    }
  }

  return {
    add(text, where) {
      const entry = parseLogLine(text);
      if (entry.kind === "blank") return;
      lines++;
      switch (entry.kind) {
        case "skip":
          return skipLine(where, entry.reason, entry.message);
        case "shadow":
          return skipLine(where, "not_a_decision", "shadow record: it compares two policy sets and holds no single recorded verdict");
        case "decision":
          return replayRecord(entry.record, where);
        case "check_request":
          return replayCheckRequest(entry.json, where);
      }
    },
    report() {
      const order: Record<ReplayChange, number> = { allow_to_deny: 0, deny_to_allow: 1, candidate_deny: 2 };
      const sorted = [...groups.values()].sort(
        (a, b) => order[a.change] - order[b.change] || b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
      );
      return {
        candidate_revision: candidate.revision,
        lines,
        total: records + checkRequests,
        records,
        check_requests: checkRequests,
        unchanged,
        allow_to_deny: allowToDeny,
        deny_to_allow: denyToAllow,
        candidate: { allow: candidateAllow, deny: candidateDeny },
        check_request_outcomes: { allow: checkAllow, deny: checkDeny },
        groups: sorted.map((g) => ({ change: g.change, key: g.key, reason: g.reason, rules: g.rules, count: g.count, examples: [...g.examples] })),
        certificate_not_recorded: certificateNotRecorded,
        skipped: { total: skippedTotal, by_reason: { ...byReason }, lines: [...skippedLines] },
      };
    },
  };
}

function toRecordedRule(r: RuleRef): RecordedRule {
  return { policy: r.policy, rule: r.rule, effect: r.effect, mode: r.mode };
}

/** `"rule" (policy "p")`, several joined by `, `; or `(reason)` when no rule decided. */
export function groupKey(reason: DecisionReason, rules: readonly RuleRef[]): string {
  if (rules.length === 0) return `(${reason})`;
  return rules.map((r) => `${JSON.stringify(r.rule)} (policy ${JSON.stringify(r.policy)})`).join(", ");
}

function callerLabel(caller: { readonly authenticated: boolean; readonly spiffeId?: string; readonly unauthenticatedReason?: string }): string {
  if (caller.authenticated && caller.spiffeId !== undefined) return caller.spiffeId;
  return `unauthenticated (${caller.unauthenticatedReason ?? "unknown"})`;
}

function exampleOf(input: RequestInput, where: LineRef): ReplayExample {
  return {
    source: where.source,
    line: where.line,
    method: input.request.method,
    path: input.request.path,
    host: input.request.host,
    caller: callerLabel(input.caller),
  };
}

/** What makes `ward replay` fail: any flip (default), only allow→deny, only deny→allow, or nothing. */
export type FailOn = "any" | "allow-to-deny" | "deny-to-allow" | "none";

/** True when the report has a flip `failOn` counts. */
export function hasFailingFlips(report: ReplayReport, failOn: FailOn): boolean {
  switch (failOn) {
    case "any":
      return report.allow_to_deny + report.deny_to_allow > 0;
    case "allow-to-deny":
      return report.allow_to_deny > 0;
    case "deny-to-allow":
      return report.deny_to_allow > 0;
    case "none":
      return false;
  }
}

const CHANGE_TITLES: Record<ReplayChange, string> = {
  allow_to_deny: "allow → deny",
  deny_to_allow: "deny → allow",
  candidate_deny: "denied by the candidate (CheckRequests, no recorded verdict)",
};

/** The report as text, for people. */
export function renderReplayText(report: ReplayReport): string {
  const out: string[] = [];
  const n = (x: number): string => String(x).padStart(6);
  const s = (x: number, noun: string): string => `${x} ${noun}${x === 1 ? "" : "s"}`;
  out.push(
    `replayed ${s(report.total, "decision")} against candidate revision ${report.candidate_revision}: ` +
      `${s(report.records, "record")}, ${s(report.check_requests, "CheckRequest")}`,
  );
  if (report.records > 0) {
    out.push("  records, compared with the recorded verdict:");
    out.push(`    unchanged     ${n(report.unchanged)}`);
    out.push(`    allow → deny  ${n(report.allow_to_deny)}`);
    out.push(`    deny → allow  ${n(report.deny_to_allow)}`);
  }
  if (report.check_requests > 0) {
    out.push(
      `  CheckRequests (no recorded verdict): ${report.check_request_outcomes.allow} allowed, ${report.check_request_outcomes.deny} denied by the candidate`,
    );
  }
  if (report.skipped.total > 0) out.push(`  skipped lines   ${n(report.skipped.total)}`);

  let current: ReplayChange | undefined;
  for (const g of report.groups) {
    if (g.change !== current) {
      current = g.change;
      const total = report.groups.filter((x) => x.change === g.change).reduce((s, x) => s + x.count, 0);
      out.push("", `${CHANGE_TITLES[g.change]}: ${total}`);
    }
    out.push(`  ${String(g.count).padStart(5)}  ${g.key}`);
    for (const e of g.examples) {
      const was = e.recorded ? `  was ${groupKey(e.recorded.reason as DecisionReason, e.recorded.determining)}` : "";
      out.push(`           ${e.method} ${e.host}${e.path}  caller ${e.caller}  (${e.source}:${e.line})${was}`);
    }
  }

  if (report.certificate_not_recorded > 0) {
    out.push(
      "",
      `warning: ${report.certificate_not_recorded} record${report.certificate_not_recorded === 1 ? " has" : "s have"} an authenticated caller without certificate attributes, ` +
        "but the candidate reads `cert.*`: those rules saw no certificate (see docs/audit.md, \"Replay\")",
    );
  }

  out.push(...renderSkipped(report.skipped));
  return `${out.join("\n")}\n`;
}
