import { describe, expect, it } from "vitest";
import { DEFAULT_REDACTED_HEADERS, toAuditRecord, type DecisionRecord } from "../../src/audit/record.js";
import { createReplay, type ReplayCandidate, type ReplayReport } from "../../src/audit/replay.js";
import { runReplay } from "../../src/cli/replay.js";
import type { DecisionOutcome } from "../../src/decide.js";
import { denyBeforeEvaluation } from "../../src/engine/decision.js";
import { BATCH, compile, FRONTEND, LIVE, LOOSENED, ORDERS_API, recordOf, REPORTS, request, run, T0, tempDir, TIGHTENED, jsonl } from "./helpers.js";

const live = compile(LIVE);

/** The recorded traffic: live policies in audit mode, as the server would have logged it. */
function traffic(): DecisionRecord[] {
  return [
    recordOf(live, request(FRONTEND, "GET", "/orders/1")), // 1 allow → allow
    recordOf(live, request(BATCH, "POST", "/orders")), // 2 allow → deny (no matching allow)
    recordOf(live, request(BATCH, "POST", "/orders/7/items")), // 3 allow → deny (no matching allow)
    recordOf(live, request(REPORTS, "GET", "/exports/archive/2020")), // 4 allow → deny (deny rule)
    recordOf(live, request(FRONTEND, "POST", "/orders")), // 5 deny (would-deny) → deny; loosened: → allow
    recordOf(live, request(REPORTS, "GET", "/exports/today")), // 6 allow → allow
  ];
}

function checkRequest(caller: string, method: string, path: string): object {
  return {
    attributes: {
      source: { principal: caller, address: { socketAddress: { address: "10.9.9.9", portValue: 5000 } } },
      destination: { principal: ORDERS_API },
      request: { http: { method, path, host: "orders.internal", headers: { "x-request-id": "cr-1" } } },
    },
  };
}

function project(files: Record<string, string>): string {
  return tempDir({ "live/orders.ward": LIVE, "tight/orders.ward": TIGHTENED, "loose/orders.ward": LOOSENED, ...files });
}

async function replayJson(args: string[], cwd: string, stdin?: string): Promise<{ code: number; report: ReplayReport; stderr: string }> {
  const r = await run(runReplay, [...args, "--format", "json"], { cwd, ...(stdin !== undefined && { stdin }) });
  return { code: r.code, report: JSON.parse(r.stdout) as ReplayReport, stderr: r.stderr };
}

describe("ward replay over decision records", () => {
  it("finds nothing to flip when the candidate is the policy set that made the records (exit 0)", async () => {
    const cwd = project({ "audit.log": jsonl(traffic()) });
    const { code, report } = await replayJson(["--policies", "live", "--log", "audit.log"], cwd);
    expect(code).toBe(0);
    expect(report).toMatchObject({ total: 6, records: 6, unchanged: 6, allow_to_deny: 0, deny_to_allow: 0, groups: [], candidate: { allow: 5, deny: 1 } });
    expect(report.candidate_revision).toBe(compile(LIVE, "live/orders.ward").revision);
  });

  it("reports allow→deny flips of a tightened candidate, grouped by its determining rule or reason (exit 1)", async () => {
    const cwd = project({ "audit.log": jsonl(traffic()) });
    const { code, report } = await replayJson(["--policies", "tight", "--log", "audit.log"], cwd);
    expect(code).toBe(1);
    expect(report).toMatchObject({ total: 6, unchanged: 3, allow_to_deny: 3, deny_to_allow: 0 });
    expect(report.groups).toHaveLength(2);
    expect(report.groups[0]).toMatchObject({ change: "allow_to_deny", key: "(no_matching_allow)", reason: "no_matching_allow", rules: [], count: 2 });
    expect(report.groups[0]!.examples).toEqual([
      {
        source: "audit.log",
        line: 2,
        decision_id: expect.any(String),
        method: "POST",
        path: "/orders",
        host: "orders.internal",
        caller: BATCH,
        // Recorded under the global audit switch: every policy counted as audit mode.
        recorded: { reason: "allowed", determining: [{ policy: "orders", rule: "batch writes orders", effect: "allow", mode: "audit" }] },
      },
      expect.objectContaining({ line: 3, path: "/orders/7/items" }),
    ]);
    expect(report.groups[1]).toMatchObject({
      change: "allow_to_deny",
      key: '"no exports of archived orders" (policy "orders")',
      reason: "denied_by_rule",
      rules: [{ policy: "orders", rule: "no exports of archived orders", effect: "deny", mode: "enforce" }],
      count: 1,
      examples: [{ line: 4, caller: REPORTS, path: "/exports/archive/2020" }],
    });
  });

  it("prints the same as text: counts, groups and example requests with file:line", async () => {
    const cwd = project({ "audit.log": jsonl(traffic()) });
    const r = await run(runReplay, ["--policies", "tight", "audit.log"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("replayed 6 decisions against candidate revision");
    expect(r.stdout).toMatch(/allow → deny\s+3/);
    expect(r.stdout).toMatch(/deny → allow\s+0/);
    expect(r.stdout).toContain("allow → deny: 3");
    expect(r.stdout).toContain('      2  (no_matching_allow)');
    expect(r.stdout).toContain(`POST orders.internal/orders  caller ${BATCH}  (audit.log:2)  was "batch writes orders" (policy "orders")`);
    expect(r.stdout).toContain('      1  "no exports of archived orders" (policy "orders")');
  });

  it("reports deny→allow flips of a loosened candidate; --fail-on allow-to-deny lets them pass", async () => {
    const cwd = project({ "audit.log": jsonl(traffic()) });
    const loose = await replayJson(["--policies", "loose", "--log", "audit.log"], cwd);
    expect(loose.code).toBe(1);
    expect(loose.report).toMatchObject({ allow_to_deny: 0, deny_to_allow: 1 });
    expect(loose.report.groups).toEqual([
      expect.objectContaining({ change: "deny_to_allow", key: '"frontend reads orders" (policy "orders")', count: 1, examples: [expect.objectContaining({ line: 5, method: "POST" })] }),
    ]);
    expect((await run(runReplay, ["--policies", "loose", "--log", "audit.log", "--fail-on", "allow-to-deny"], { cwd })).code).toBe(0);
    expect((await run(runReplay, ["--policies", "tight", "--log", "audit.log", "--fail-on", "deny-to-allow"], { cwd })).code).toBe(0);
    expect((await run(runReplay, ["--policies", "tight", "--log", "audit.log", "--fail-on", "none"], { cwd })).code).toBe(0);
  });

  it("limits examples per group with --examples", async () => {
    const cwd = project({ "audit.log": jsonl(traffic()) });
    const { report } = await replayJson(["--policies", "tight", "--log", "audit.log", "--examples", "1"], cwd);
    expect(report.groups[0]!.count).toBe(2);
    expect(report.groups[0]!.examples).toHaveLength(1);
  });

  it("reads several logs, and standard input when no log is named", async () => {
    const [a, b, ...rest] = traffic();
    const cwd = project({ "one.log": jsonl([a!, b!]), "two.log": jsonl(rest) });
    const both = await replayJson(["--policies", "tight", "--log", "one.log", "--log", "two.log"], cwd);
    expect(both.report.total).toBe(6);
    expect(both.report.groups[0]!.examples.map((e) => `${e.source}:${e.line}`)).toEqual(["one.log:2", "two.log:1"]);
    const stdin = await replayJson(["--policies", "tight"], cwd, jsonl(traffic()));
    expect(stdin.report).toMatchObject({ total: 6, allow_to_deny: 3 });
    expect(stdin.report.groups[0]!.examples[0]!.source).toBe("-");
  });

  it("replays with the recorded decision time, so time-based rules see the original time", async () => {
    const timed = `policy "orders" {
  applies when destination.spiffe_id == "${ORDERS_API}"
  allow "office hours" when time.hour >= 8 and time.hour < 18
}
`;
    const records = [
      recordOf(live, request(FRONTEND, "GET", "/orders/1"), { time: Date.UTC(2027, 0, 6, 9) }),
      recordOf(live, request(FRONTEND, "GET", "/orders/2"), { time: Date.UTC(2027, 0, 6, 22) }),
    ];
    const cwd = project({ "timed/orders.ward": timed, "audit.log": jsonl(records) });
    // The replay clock (run() fixes it at 09:00 UTC) must not matter: each record keeps its own time.
    const { code, report } = await replayJson(["--policies", "timed", "--log", "audit.log"], cwd);
    expect(code).toBe(1);
    expect(report).toMatchObject({ unchanged: 1, allow_to_deny: 1 });
    expect(report.groups[0]!.examples[0]!.path).toBe("/orders/2");
  });
});

describe("ward replay over bad input", () => {
  it("skips each bad line with its line number and reason, counts them, and never crashes", async () => {
    const good = traffic();
    const full = JSON.stringify(good[1]);
    const errored = toAuditRecord(
      { decision: denyBeforeEvaluation("timeout", live.revision), identity: { authenticated: false, unauthenticatedReason: "not_resolved" }, error: "deadline" } as DecisionOutcome,
      { decisionId: "t1", time: T0, mode: "audit", micros: 100000, includeInput: true, redactHeaders: DEFAULT_REDACTED_HEADERS, raw: request(BATCH, "POST", "/orders") },
    );
    const refused = recordOf(live, request(FRONTEND, "GET", "/a%2Fb"));
    const noInput = recordOf(live, request(BATCH, "POST", "/orders"), { includeInput: false });
    const badInput = { ...good[1]!, input: { ...good[1]!.input!, time: "noon" } };
    const shadowLine = JSON.stringify({ version: 1, type: "shadow", time: "2027-01-06T09:00:00.000Z", decision_id: "s", mode: "enforce", disagreement: "outcome", live: { outcome: "allow", reason: "allowed", determining: [] }, candidate: { outcome: "deny", reason: "no_matching_allow", determining: [] }, caller: { authenticated: false } });
    const lines = [
      JSON.stringify(good[0]), // 1 ok
      full.slice(0, 120), // 2 truncated
      "ward starting up", // 3 not JSON
      "", // 4 blank: ignored
      JSON.stringify({ ...good[1], version: 2 }), // 5 other schema version
      JSON.stringify({ level: 30, msg: "ward serving" }), // 6 an operational log line
      shadowLine, // 7 shadow record
      JSON.stringify(noInput), // 8 --audit-input none
      JSON.stringify(errored), // 9 recorded error
      JSON.stringify(refused), // 10 refused before evaluation
      JSON.stringify(badInput), // 11 mistyped input
      JSON.stringify({ ...good[1], outcome: "maybe" }), // 12 invalid record
      "[1,2]", // 13 JSON, not an object
      full, // 14 ok (allow → deny)
      '{"version":1,"type":"decision","decision_id":"x"', // 15 truncated, last line without newline
    ];
    const cwd = project({ "audit.log": lines.join("\n") });
    const { code, report } = await replayJson(["--policies", "tight", "--log", "audit.log"], cwd);
    expect(code).toBe(1);
    expect(report).toMatchObject({ lines: 14, total: 2, unchanged: 1, allow_to_deny: 1 });
    expect(report.skipped.lines.map((s) => [s.line, s.reason])).toEqual([
      [2, "truncated_line"],
      [3, "not_json"],
      [5, "unsupported_version"],
      [6, "unrecognized_line"],
      [7, "not_a_decision"],
      [8, "missing_input"],
      [9, "recorded_error"],
      [10, "not_evaluated"],
      [11, "invalid_record"],
      [12, "invalid_record"],
      [13, "unrecognized_line"],
      [15, "truncated_line"],
    ]);
    expect(report.skipped.total).toBe(12);
    expect(report.skipped.by_reason).toEqual({
      truncated_line: 2,
      not_json: 1,
      unsupported_version: 1,
      unrecognized_line: 2,
      not_a_decision: 1,
      missing_input: 1,
      recorded_error: 1,
      not_evaluated: 1,
      invalid_record: 2,
    });
    expect(report.skipped.lines.find((s) => s.line === 11)?.message).toBe("field `input.time` is missing or not a number");
    expect(report.skipped.lines.find((s) => s.line === 5)?.message).toContain("schema version `2`");

    const text = await run(runReplay, ["--policies", "tight", "--log", "audit.log"], { cwd });
    expect(text.stdout).toContain("skipped 12 lines:");
    expect(text.stdout).toContain("audit.log:2: truncated_line: line ends before its JSON object does");
    expect(text.stdout).toContain("audit.log:3: not_json: line is not JSON");
  });

  it("exits 2 when nothing could be replayed, unless --allow-empty", async () => {
    const cwd = project({ "audit.log": "not json\n", "empty.log": "" });
    const r = await run(runReplay, ["--policies", "tight", "--log", "audit.log"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nothing was replayed");
    expect(r.stdout).toContain("audit.log:1: not_json");
    expect((await run(runReplay, ["--policies", "tight", "--log", "empty.log", "--allow-empty"], { cwd })).code).toBe(0);
  });

  it("exits 2 with file:line:col when the candidate does not compile", async () => {
    const cwd = project({ "bad/orders.ward": 'policy "orders" {\n  allow "x" when request.methd == "GET"\n}\n', "audit.log": jsonl(traffic()) });
    const r = await run(runReplay, ["--policies", "bad", "--log", "audit.log"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\/orders\.ward:2:\d+: error: /);
    expect(r.stderr).toContain("request.methd");
    expect(r.stdout).toBe("");
  });

  it("exits 2 on bad flags and unreadable logs", async () => {
    const cwd = project({ "audit.log": jsonl(traffic()) });
    const cases: string[][] = [
      ["--log", "audit.log"],
      ["--policies", "tight", "--format", "yaml", "audit.log"],
      ["--policies", "tight", "--examples", "-1", "audit.log"],
      ["--policies", "tight", "--fail-on", "sometimes", "audit.log"],
      ["--policies", "tight", "--bogus", "audit.log"],
      ["--policies", "tight", "-", "--log", "-"],
    ];
    for (const argv of cases) {
      const r = await run(runReplay, argv, { cwd });
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr, argv.join(" ")).toContain("usage: ward replay");
    }
    const missing = await run(runReplay, ["--policies", "tight", "--log", "nope.log"], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read log `nope.log`");
    const noPolicies = await run(runReplay, ["--policies", "nowhere", "--log", "audit.log"], { cwd });
    expect(noPolicies.code).toBe(2);
    const help = await run(runReplay, ["--help"], { cwd });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--fail-on");
  });
});

describe("ward replay over Envoy CheckRequests", () => {
  it("decides them through the input module and reports candidate verdicts, never flips", async () => {
    const cwd = project({
      "captured.jsonl": jsonl([checkRequest(BATCH, "POST", "/orders"), checkRequest(FRONTEND, "GET", "/orders/1"), { attributes: { request: 5 } }]),
    });
    const { code, report } = await replayJson(["--policies", "tight", "--log", "captured.jsonl"], cwd);
    expect(code).toBe(0);
    expect(report).toMatchObject({ total: 2, records: 0, check_requests: 2, allow_to_deny: 0, deny_to_allow: 0, check_request_outcomes: { allow: 1, deny: 1 } });
    expect(report.groups).toEqual([
      expect.objectContaining({ change: "candidate_deny", key: "(no_matching_allow)", count: 1, examples: [expect.objectContaining({ line: 1, caller: BATCH, method: "POST", path: "/orders" })] }),
    ]);
    expect(report.skipped.lines).toEqual([expect.objectContaining({ line: 3, reason: "invalid_check_request" })]);
    const text = await run(runReplay, ["--policies", "tight", "--log", "captured.jsonl"], { cwd });
    expect(text.stdout).toContain("CheckRequests (no recorded verdict): 1 allowed, 1 denied by the candidate");
  });

  it("mixes with decision records in one log", async () => {
    const cwd = project({ "mixed.log": jsonl([...traffic(), checkRequest(BATCH, "POST", "/orders")]) });
    const { code, report } = await replayJson(["--policies", "tight", "--log", "mixed.log"], cwd);
    expect(code).toBe(1);
    expect(report).toMatchObject({ total: 7, records: 6, check_requests: 1, allow_to_deny: 3 });
    expect(report.groups.map((g) => g.change)).toEqual(["allow_to_deny", "allow_to_deny", "candidate_deny"]);
  });
});

describe("the replay core", () => {
  function fakeCandidate(needsCertificate: boolean): ReplayCandidate {
    return {
      revision: "fake",
      needsCertificate,
      decideRecorded: (input) => ({
        decision: { allowed: false, outcome: "deny", enforced: true, determining: [], reason: "no_matching_allow", revision: "fake" },
        identity: input.caller,
        input,
      }),
      decideCheckRequest: () => ({ ok: false, message: "not here" }),
    };
  }

  it("warns when the candidate reads cert.* but the records carry no certificate attributes", () => {
    const replay = createReplay(fakeCandidate(true));
    traffic().forEach((r, i) => replay.add(JSON.stringify(r), { source: "x", line: i + 1 }));
    const report = replay.report();
    expect(report.certificate_not_recorded).toBe(6);
    expect(createReplay(fakeCandidate(false)).report().certificate_not_recorded).toBe(0);
  });

  it("lists at most maxSkippedListed skipped lines but counts them all", () => {
    const replay = createReplay(fakeCandidate(false), { maxSkippedListed: 2 });
    for (let i = 1; i <= 5; i++) replay.add("nope", { source: "x", line: i });
    const report = replay.report();
    expect(report.skipped.total).toBe(5);
    expect(report.skipped.lines.map((s) => s.line)).toEqual([1, 2]);
  });
});
