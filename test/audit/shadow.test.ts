import { describe, expect, it } from "vitest";
import type { AuditRecord, ShadowRecord } from "../../src/audit/record.js";
import { createShadowEvaluator, type ShadowJob } from "../../src/audit/shadow.js";
import { denyBeforeEvaluation } from "../../src/engine/decision.js";
import type { Program } from "../../src/engine/program.js";
import type { RawRequest } from "../../src/input/raw.js";
import { BATCH, compile, decideWith, deps, FRONTEND, LIVE, REPORTS, request, T0, TIGHTENED } from "./helpers.js";

const live = compile(LIVE);
const tightened = compile(TIGHTENED);

function job(raw: RawRequest, id: string, program: Program = live): ShadowJob {
  return { live: decideWith(program, raw), raw, decisionId: id, time: T0 };
}

function collector(): { records: AuditRecord[]; write(r: AuditRecord): void } {
  const records: AuditRecord[] = [];
  return { records, write: (r) => void records.push(r) };
}

describe("shadow evaluation", () => {
  it("writes a shadow record only when the candidate's verdict differs", async () => {
    const sink = collector();
    const compared: string[] = [];
    const shadow = createShadowEvaluator({
      candidate: () => tightened,
      deps: deps(),
      sink,
      mode: "enforce",
      onCompared: (l, c) => void compared.push(`${l.outcome}/${c.outcome}`),
    });
    const jobs = [
      job(request(FRONTEND, "GET", "/orders/1"), "same-allow"),
      job(request(BATCH, "POST", "/orders"), "flip-allow-deny"),
      job(request(REPORTS, "GET", "/exports/archive/2020"), "flip-by-deny-rule"),
      job(request(FRONTEND, "DELETE", "/orders/1"), "same-deny"),
    ];
    for (const j of jobs) expect(shadow.submit(j)).toBe(true);
    // Nothing runs inside submit: the candidate decides after the answer, on a later turn of the event loop.
    expect(sink.records).toEqual([]);
    await shadow.drain();
    const records = sink.records as ShadowRecord[];
    expect(records.map((r) => r.decision_id)).toEqual(["flip-allow-deny", "flip-by-deny-rule"]);
    expect(records[1]).toMatchObject({
      type: "shadow",
      disagreement: "outcome",
      live: { outcome: "allow", determining: [{ rule: "reports read exports" }] },
      candidate: { outcome: "deny", reason: "denied_by_rule", determining: [{ rule: "no exports of archived orders", effect: "deny" }] },
    });
    expect(records[1]?.input?.request.path).toBe("/exports/archive/2020");
    expect(shadow.stats()).toMatchObject({ submitted: 4, evaluated: 4, disagreements: 2, dropped: 0, errors: 0, queued: 0 });
    expect(compared).toEqual(["allow/allow", "allow/deny", "allow/deny", "deny/deny"]);
  });

  it("with compareRules, also reports the same verdict reached by different rules", async () => {
    const sink = collector();
    const renamed = compile(LIVE.replace('"frontend reads orders"', '"web reads orders"'));
    const shadow = createShadowEvaluator({ candidate: () => renamed, deps: deps(), sink, mode: "enforce", compareRules: true, includeInput: false });
    shadow.submit(job(request(FRONTEND, "GET", "/orders/1"), "renamed"));
    shadow.submit(job(request(BATCH, "POST", "/orders"), "same-rule"));
    await shadow.drain();
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ decision_id: "renamed", disagreement: "rules", candidate: { outcome: "allow", determining: [{ rule: "web reads orders" }] } });
    expect("input" in sink.records[0]!).toBe(false);
  });

  it("compares verdicts in audit mode too (audit mode lets both through)", async () => {
    const sink = collector();
    const shadow = createShadowEvaluator({ candidate: () => tightened, deps: deps(), sink, mode: "audit" });
    const raw = request(BATCH, "POST", "/orders");
    shadow.submit({ live: decideWith(live, raw, { auditAll: true }), raw, decisionId: "x", time: T0 });
    await shadow.drain();
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ mode: "audit", live: { outcome: "allow", allowed: true }, candidate: { outcome: "deny" } });
  });

  it("never lets a candidate error reach the caller: thrown errors are caught and counted", async () => {
    const sink = collector();
    const seen: unknown[] = [];
    const shadow = createShadowEvaluator({
      candidate: () => tightened,
      deps: deps(),
      sink,
      mode: "enforce",
      decide: () => {
        throw new Error("candidate exploded");
      },
      onError: (e) => seen.push(e),
    });
    expect(() => shadow.submit(job(request(FRONTEND, "GET", "/orders/1"), "a"))).not.toThrow();
    shadow.submit(job(request(FRONTEND, "GET", "/orders/2"), "b"));
    await shadow.drain();
    expect(shadow.stats()).toMatchObject({ errors: 2, evaluated: 0, disagreements: 0 });
    expect(String(seen[0])).toContain("candidate exploded");
    expect(sink.records).toEqual([]);
  });

  it("survives a failing sink and a failing error reporter", async () => {
    const shadow = createShadowEvaluator({
      candidate: () => tightened,
      deps: deps(),
      sink: {
        write: () => {
          throw new Error("disk full");
        },
      },
      mode: "enforce",
      onError: () => {
        throw new Error("logger broken too");
      },
    });
    shadow.submit(job(request(BATCH, "POST", "/orders"), "a"));
    await shadow.drain();
    expect(shadow.stats()).toMatchObject({ evaluated: 1, errors: 1 });
  });

  it("records a candidate internal error (a fail-closed deny) as a disagreement when the live verdict allowed", async () => {
    const sink = collector();
    const shadow = createShadowEvaluator({
      candidate: () => tightened,
      deps: deps(),
      sink,
      mode: "enforce",
      // What decide() returns when evaluation fails: a deny with reason internal_error and the message.
      decide: (program) => ({
        decision: denyBeforeEvaluation("internal_error", program!.revision, "stack overflow"),
        identity: { authenticated: false, unauthenticatedReason: "not_resolved" },
        error: "stack overflow",
      }),
    });
    shadow.submit(job(request(FRONTEND, "GET", "/orders/1"), "a"));
    shadow.submit(job(request(FRONTEND, "DELETE", "/orders/1"), "b"));
    await shadow.drain();
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ decision_id: "a", candidate: { outcome: "deny", reason: "internal_error", error: "stack overflow" } });
    expect(shadow.stats()).toMatchObject({ candidateErrors: 2, disagreements: 1, errors: 0 });
  });

  it("drops jobs, counted, when the queue is full, and decides them in bounded batches", async () => {
    const sink = collector();
    const pending: (() => void)[] = [];
    const shadow = createShadowEvaluator({
      candidate: () => tightened,
      deps: deps(),
      sink,
      mode: "enforce",
      maxQueue: 3,
      batchSize: 2,
      schedule: (run) => void pending.push(run),
    });
    const results = [1, 2, 3, 4, 5].map((n) => shadow.submit(job(request(BATCH, "POST", `/orders`), `j${n}`)));
    expect(results).toEqual([true, true, true, false, false]);
    expect(shadow.stats()).toMatchObject({ submitted: 3, dropped: 2, queued: 3 });
    expect(pending).toHaveLength(1);
    pending.shift()!();
    // One batch of two, then another turn is scheduled for the rest.
    expect(shadow.stats()).toMatchObject({ evaluated: 2, queued: 1 });
    expect(pending).toHaveLength(1);
    pending.shift()!();
    expect(shadow.stats()).toMatchObject({ evaluated: 3, queued: 0, disagreements: 3 });
    expect(shadow.submit(job(request(BATCH, "POST", "/orders"), "j6"))).toBe(true);
  });

  it("skips jobs while no candidate is loaded, and refuses jobs after close", async () => {
    const sink = collector();
    const loaded: { program?: Program } = {};
    const shadow = createShadowEvaluator({ candidate: () => loaded.program, deps: deps(), sink, mode: "enforce" });
    shadow.submit(job(request(BATCH, "POST", "/orders"), "a"));
    await shadow.drain();
    loaded.program = tightened;
    shadow.submit(job(request(BATCH, "POST", "/orders"), "b"));
    await shadow.close();
    expect(shadow.submit(job(request(BATCH, "POST", "/orders"), "c"))).toBe(false);
    expect(shadow.stats()).toMatchObject({ noCandidate: 1, evaluated: 1, disagreements: 1, dropped: 1 });
    expect(sink.records.map((r) => r.decision_id)).toEqual(["b"]);
  });
});
