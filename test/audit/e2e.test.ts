// End to end: the real `ward serve` binary in audit mode writing records to a
// file, real gRPC Check calls, SIGTERM, the records read back, then `ward
// replay` against a candidate that tightens a rule and `ward audit summary`.
// The server listens on 127.0.0.1 with an OS-chosen port, serves a bounded
// number of calls and is stopped (by its PID) within the test's time limit.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditRecord, DecisionRecord, ShadowRecord } from "../../src/audit/record.js";
import type { ReplayReport } from "../../src/audit/replay.js";
import { runAuditSummary } from "../../src/cli/audit-summary.js";
import { runReplay } from "../../src/cli/replay.js";
import { checkMethodDefinition } from "../../src/ext-authz/protos.js";
import { BATCH, FRONTEND, LIVE, ORDERS_API, REPORTS, run, tempDir, TIGHTENED } from "./helpers.js";

const started: ChildProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

/** Starts `ward serve`; resolves with the process and its gRPC address once it printed its ready line. */
function serve(args: string[], cwd: string): Promise<{ proc: ChildProcess; address: string; exited: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    // tsx resolved from the repository, since the server runs in a temporary directory.
    const proc = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(process.cwd(), "src", "main.ts"), "serve", ...args], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    started.push(proc);
    const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`ward serve did not get ready in 40 s: ${err}`));
    }, 40_000);
    proc.stderr!.on("data", (d: Buffer) => void (err += d.toString()));
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      for (const line of out.split("\n")) {
        if (!line.includes('"ward":"ready"')) continue;
        clearTimeout(timer);
        const ready = JSON.parse(line) as { grpc: string[] };
        resolve({ proc, address: ready.grpc[0]!, exited });
        return;
      }
    });
    void exited.then((code) => reject(new Error(`ward serve exited with ${code}: ${err}`)));
  });
}

interface Answer {
  readonly code: number;
  readonly upstreamHeaders: Record<string, string>;
}

function check(client: grpc.Client, caller: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const def = checkMethodDefinition();
  const request = {
    attributes: {
      source: { principal: caller, address: { socket_address: { address: "10.0.0.7", port_value: 41000 } } },
      destination: { principal: ORDERS_API },
      request: { http: { method, path, host: "orders.internal", scheme: "https", headers: { ":method": method, ":path": path, ...headers } } },
    },
  };
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, { deadline: Date.now() + 5000 }, (err, value) => {
      if (err || !value) return reject(err ?? new Error("no answer"));
      const v = value as { status?: { code?: number }; ok_response?: { headers?: { header?: { key: string; value: string } }[] } };
      const upstreamHeaders: Record<string, string> = {};
      for (const h of v.ok_response?.headers ?? []) if (h.header) upstreamHeaders[h.header.key] = h.header.value;
      resolve({ code: v.status?.code ?? 0, upstreamHeaders });
    });
  });
}

describe("audit mode end to end", () => {
  it("records every decision, flushes at SIGTERM, and replay finds the flips a tightened rule causes", async () => {
    const cwd = tempDir({ "live/orders.ward": LIVE, "tight/orders.ward": TIGHTENED });
    const log = join(cwd, "records", "audit.log");
    const { proc, address, exited } = await serve(
      ["--policies", "live", "--mode", "audit", "--audit-log", log, "--audit-redact", "x-api-key", "--grpc", "127.0.0.1:0", "--http", "off", "--log-level", "warn"],
      cwd,
    );
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const traffic: [string, string, string, Record<string, string>?][] = [
      [FRONTEND, "GET", "/orders/1", { authorization: "Bearer e2e-secret", "x-api-key": "key-e2e" }],
      [BATCH, "POST", "/orders"],
      [BATCH, "POST", "/orders/7/items"],
      [REPORTS, "GET", "/exports/archive/2020"],
      [FRONTEND, "POST", "/orders/18/cancel"],
      [FRONTEND, "POST", "/orders/19/cancel"],
      [REPORTS, "GET", "/exports/today"],
    ];
    const answers: Answer[] = [];
    try {
      for (const [caller, method, path, headers] of traffic) answers.push(await check(client, caller, method, path, headers));
    } finally {
      client.close();
    }
    // Audit mode: every answer lets the request through; the would-denies say so upstream.
    expect(answers.map((a) => a.code)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(answers.map((a) => Object.keys(a.upstreamHeaders).some((k) => k.includes("would-deny")))).toEqual([false, false, false, false, true, true, false]);

    // The last records were written just before the signal; the shutdown must put them on disk.
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    const records = readFileSync(log, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as DecisionRecord);
    expect(records).toHaveLength(traffic.length);
    expect(records.map((r) => [r.request?.method, r.request?.path, r.outcome, r.allowed, r.would_deny, r.mode])).toEqual([
      ["GET", "/orders/1", "allow", true, false, "audit"],
      ["POST", "/orders", "allow", true, false, "audit"],
      ["POST", "/orders/7/items", "allow", true, false, "audit"],
      ["GET", "/exports/archive/2020", "allow", true, false, "audit"],
      ["POST", "/orders/18/cancel", "deny", true, true, "audit"],
      ["POST", "/orders/19/cancel", "deny", true, true, "audit"],
      ["GET", "/exports/today", "allow", true, false, "audit"],
    ]);
    expect(records[0]!.input?.request.headers["authorization"]).toBe("[redacted]");
    expect(records[0]!.input?.request.headers["x-api-key"]).toBe("[redacted]");
    expect(readFileSync(log, "utf8")).not.toMatch(/e2e-secret|key-e2e/);
    expect(records[1]!.caller).toMatchObject({ authenticated: true, spiffe_id: BATCH });
    expect(new Set(records.map((r) => r.decision_id)).size).toBe(traffic.length);

    // Replay against the live policies: nothing flips. Against the tightened candidate: three allow → deny.
    const same = await run(runReplay, ["--policies", "live", "--log", log, "--format", "json"], { cwd });
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ total: 7, unchanged: 7, allow_to_deny: 0, deny_to_allow: 0 });

    const tight = await run(runReplay, ["--policies", "tight", "--log", log, "--format", "json"], { cwd });
    expect(tight.code).toBe(1);
    const report = JSON.parse(tight.stdout) as ReplayReport;
    expect(report).toMatchObject({ total: 7, allow_to_deny: 3, deny_to_allow: 0, skipped: { total: 0 } });
    expect(report.groups.map((g) => [g.key, g.count, g.examples.map((e) => e.line)])).toEqual([
      ["(no_matching_allow)", 2, [2, 3]],
      ['"no exports of archived orders" (policy "orders")', 1, [4]],
    ]);

    const summary = await run(runAuditSummary, ["--log", log, "--format", "json"], { cwd });
    expect(JSON.parse(summary.stdout).groups).toEqual([
      expect.objectContaining({ caller: FRONTEND, method: "POST", path_pattern: "/orders/*/cancel", count: 2 }),
    ]);
  }, 90_000);

  it("runs a shadow candidate beside the live set: answers unchanged, disagreements recorded", async () => {
    const cwd = tempDir({ "live/orders.ward": LIVE, "tight/orders.ward": TIGHTENED });
    const log = join(cwd, "audit.log");
    const { proc, address, exited } = await serve(
      ["--policies", "live", "--shadow", "tight", "--audit-log", log, "--grpc", "127.0.0.1:0", "--http", "off", "--log-level", "warn"],
      cwd,
    );
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const answers: number[] = [];
    try {
      answers.push((await check(client, BATCH, "POST", "/orders")).code); // live allow, candidate deny
      answers.push((await check(client, FRONTEND, "GET", "/orders/1")).code); // both allow
      answers.push((await check(client, REPORTS, "GET", "/exports/archive/2020")).code); // live allow, candidate deny by rule
      answers.push((await check(client, FRONTEND, "DELETE", "/orders/1")).code); // both deny
    } finally {
      client.close();
    }
    // The live set answers (OK = 0, PERMISSION_DENIED = 7); the candidate's denials change nothing.
    expect(answers).toEqual([0, 0, 0, 7]);
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);

    const records = readFileSync(log, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditRecord);
    const decisions = records.filter((r): r is DecisionRecord => r.type === "decision");
    const shadows = records.filter((r): r is ShadowRecord => r.type === "shadow");
    expect(decisions).toHaveLength(4);
    expect(shadows).toHaveLength(2);
    expect(shadows.map((r) => [r.request?.path, r.live.outcome, r.candidate.outcome, r.candidate.reason])).toEqual([
      ["/orders", "allow", "deny", "no_matching_allow"],
      ["/exports/archive/2020", "allow", "deny", "denied_by_rule"],
    ]);
    expect(shadows[1]!.candidate.determining).toEqual([{ policy: "orders", rule: "no exports of archived orders", effect: "deny", mode: "enforce" }]);
    expect(shadows[1]!.live.determining).toEqual([{ policy: "orders", rule: "reports read exports", effect: "allow", mode: "enforce" }]);
    // Each shadow record joins its decision record by decision id.
    for (const s of shadows) expect(decisions.find((d) => d.decision_id === s.decision_id)?.request?.path).toBe(s.request?.path);
    // Replay's view of the same log: the shadow lines are skipped as such, the decisions replay.
    const replay = await run(runReplay, ["--policies", "tight", "--log", log, "--format", "json"], { cwd });
    expect(JSON.parse(replay.stdout)).toMatchObject({ total: 4, allow_to_deny: 2, skipped: { total: 2, by_reason: { not_a_decision: 2 } } });
  }, 90_000);
});
