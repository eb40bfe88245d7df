import { describe, expect, it } from "vitest";
import { createSummary, pathPattern, type SummaryReport } from "../../src/audit/summary.js";
import { runAuditSummary } from "../../src/cli/audit-summary.js";
import { BATCH, compile, FRONTEND, jsonl, LIVE, recordOf, REPORTS, request, run, tempDir } from "./helpers.js";

const live = compile(LIVE);

describe("path patterns", () => {
  it("collapse numbers, UUIDs, long hex and opaque ids into *", () => {
    expect(pathPattern("/orders/8812")).toBe("/orders/*");
    expect(pathPattern("/orders/8812/items/3")).toBe("/orders/*/items/*");
    expect(pathPattern("/users/3F2A9C1E-0B7D-4C55-9E61-2B8A7D0C4F11/profile")).toBe("/users/*/profile");
    expect(pathPattern("/blobs/5f1d7a0c9e2b4d6f8a1c")).toBe("/blobs/*");
    expect(pathPattern("/sessions/AbCdEfGhIj0123456789xyz")).toBe("/sessions/*");
  });

  it("keep words, versions and short tokens", () => {
    expect(pathPattern("/api/v1/charge")).toBe("/api/v1/charge");
    expect(pathPattern("/")).toBe("/");
    expect(pathPattern("/orders/")).toBe("/orders/");
    expect(pathPattern("/deadbeef")).toBe("/deadbeef");
    expect(pathPattern("/abcdefabcdefabcdef")).toBe("/abcdefabcdefabcdef"); // hex letters only: a word, not an id
    expect(pathPattern("/configuration-management-console")).toBe("/configuration-management-console");
  });
});

/** Audit-mode traffic with would-denies from two callers. */
function traffic() {
  return [
    recordOf(live, request(FRONTEND, "POST", "/orders/18/cancel")),
    recordOf(live, request(FRONTEND, "POST", "/orders/19/cancel")),
    recordOf(live, request(FRONTEND, "POST", "/orders/18/cancel")),
    recordOf(live, request(FRONTEND, "GET", "/orders/18")), // allowed
    recordOf(live, request(BATCH, "DELETE", "/orders/20")),
    recordOf(live, request(REPORTS, "GET", "/exports/today")), // allowed
    recordOf(live, request(undefined, "GET", "/orders/21")),
    recordOf(live, request(FRONTEND, "PUT", "/orders/1"), { mode: "enforce" }), // an enforced denial
  ];
}

describe("ward audit summary", () => {
  it("groups would-deny decisions by caller, method and path pattern, largest first", () => {
    const summary = createSummary();
    traffic().forEach((r, i) => summary.add(JSON.stringify(r), { source: "a", line: i + 1 }));
    const report = summary.report();
    expect(report).toMatchObject({ records: 8, would_deny: 5, denied: 1, all_denies: false });
    expect(report.groups.map((g) => [g.count, g.caller, g.method, g.path_pattern])).toEqual([
      [3, FRONTEND, "POST", "/orders/*/cancel"],
      [1, BATCH, "DELETE", "/orders/*"],
      [1, "unauthenticated (no_identity)", "GET", "/orders/*"],
    ]);
    expect(report.groups[0]).toMatchObject({
      would_deny: 3,
      causes: [{ cause: "(no_matching_allow)", count: 3 }],
      first_seen: expect.stringMatching(/^2027-01-06T09:\d\d:\d\d\.000Z$/),
      example_paths: ["/orders/18/cancel", "/orders/19/cancel"],
    });
    expect(report.groups[0]!.first_seen < report.groups[0]!.last_seen).toBe(true);
  });

  it("lists would-denies of a policy in audit mode while the server enforces", () => {
    const perPolicy = compile(LIVE.replace('policy "orders" {', 'policy "orders" {\n  mode audit'));
    const records = [
      recordOf(perPolicy, request(FRONTEND, "DELETE", "/orders/5"), { mode: "enforce" }),
      recordOf(perPolicy, request(FRONTEND, "GET", "/orders/5"), { mode: "enforce" }),
    ];
    expect(records[0]).toMatchObject({ mode: "enforce", outcome: "deny", allowed: true, enforced: false, would_deny: true });
    const summary = createSummary();
    records.forEach((r, i) => summary.add(JSON.stringify(r), { source: "a", line: i + 1 }));
    expect(summary.report().groups).toEqual([expect.objectContaining({ caller: FRONTEND, method: "DELETE", path_pattern: "/orders/*", count: 1 })]);
  });

  it("includes enforced denials with allDenies", () => {
    const summary = createSummary({ allDenies: true });
    traffic().forEach((r, i) => summary.add(JSON.stringify(r), { source: "a", line: i + 1 }));
    const report = summary.report();
    expect(report.groups).toHaveLength(4);
    expect(report.groups.find((g) => g.method === "PUT")).toMatchObject({ caller: FRONTEND, path_pattern: "/orders/*", count: 1, would_deny: 0 });
  });

  it("prints text and JSON from log files, counting bad lines with their numbers", async () => {
    const cwd = tempDir({ "audit.log": jsonl([...traffic(), "{\"version\":1,\"type\":\"decision\"", JSON.stringify({ ...traffic()[0], version: 7 })]) });
    const text = await run(runAuditSummary, ["--log", "audit.log"], { cwd });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("8 decision records: 5 would-deny (audit mode), 1 denied (enforced)");
    expect(text.stdout).toContain(`     3  ${FRONTEND}  POST /orders/*/cancel`);
    expect(text.stdout).toContain("3 × (no_matching_allow)");
    expect(text.stdout).toContain("audit.log:9: truncated_line");
    expect(text.stdout).toContain("audit.log:10: unsupported_version");

    const json = await run(runAuditSummary, ["summary", "--log", "audit.log", "--format", "json", "--all-denies"], { cwd });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as SummaryReport;
    expect(report.groups).toHaveLength(4);
    expect(report.skipped).toMatchObject({ total: 2, by_reason: { truncated_line: 1, unsupported_version: 1 } });

    const limited = await run(runAuditSummary, ["audit.log", "--limit", "1"], { cwd });
    expect(limited.stdout).toContain("… and 2 more groups (raise --limit)");

    const stdin = await run(runAuditSummary, [], { cwd, stdin: jsonl(traffic()) });
    expect(stdin.stdout).toContain("5 would-deny");
  });

  it("exits 2 on bad flags and unreadable logs", async () => {
    const cwd = tempDir({ "audit.log": "" });
    for (const argv of [["--format", "csv"], ["--limit", "0"], ["--examples", "x"], ["--nope"]]) {
      const r = await run(runAuditSummary, argv, { cwd });
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toContain("usage: ward audit summary");
    }
    const missing = await run(runAuditSummary, ["--log", "missing.log"], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read log `missing.log`");
    const empty = await run(runAuditSummary, ["--log", "audit.log"], { cwd });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain("no would-deny decisions");
  });
});
