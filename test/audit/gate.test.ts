import { describe, expect, it } from "vitest";
import { createAuditGate, GATE_REPORT_INTERVAL_MS } from "../../src/audit/gate.js";

function setup() {
  let open = true;
  let clock = 1_000_000;
  const lines: { level: "error" | "warn"; obj: object; msg: string }[] = [];
  const gate = createAuditGate(
    { accepting: () => open },
    { error: (obj, msg) => lines.push({ level: "error", obj, msg }), warn: (obj, msg) => lines.push({ level: "warn", obj, msg }) },
    () => clock,
  );
  return {
    gate,
    lines,
    set: (value: boolean) => (open = value),
    advance: (ms: number) => (clock += ms),
  };
}

describe("the audit gate (--audit-backlog-full deny)", () => {
  it("answers as the sink does, and reports when calls start and stop being denied, with how many were", () => {
    const t = setup();
    expect(t.gate.accepting()).toBe(true);
    expect(t.lines).toHaveLength(0);
    t.set(false);
    for (let k = 0; k < 5; k++) expect(t.gate.accepting()).toBe(false);
    expect(t.lines).toHaveLength(1);
    expect(t.lines[0]).toMatchObject({ level: "error" });
    expect(t.lines[0]!.msg).toContain("audit_unavailable");
    t.set(true);
    expect(t.gate.accepting()).toBe(true);
    expect(t.gate.accepting()).toBe(true);
    expect(t.lines).toHaveLength(2);
    expect(t.lines[1]).toMatchObject({ level: "warn", obj: { denied_calls: 5 } });
  });

  it("reports a backlog that fills and drains buffer by buffer once per interval, and counts the calls of unreported spells in the next report", () => {
    const t = setup();
    // Many short spells within one interval: one pair of lines.
    for (let spell = 0; spell < 50; spell++) {
      t.set(false);
      t.gate.accepting();
      t.gate.accepting();
      t.set(true);
      t.gate.accepting();
      t.advance(10);
    }
    expect(t.lines.map((l) => l.level)).toEqual(["error", "warn"]);
    expect(t.lines[1]!.obj).toEqual({ denied_calls: 2 });
    // After the interval the next spell is reported again, its count holding the 49 spells in between.
    t.advance(GATE_REPORT_INTERVAL_MS);
    t.set(false);
    t.gate.accepting();
    t.set(true);
    t.gate.accepting();
    expect(t.lines.map((l) => l.level)).toEqual(["error", "warn", "error", "warn"]);
    expect(t.lines[3]!.obj).toEqual({ denied_calls: 49 * 2 + 1 });
  });

  it("reports a spell that began too soon after the last report once the interval is over, if it still lasts", () => {
    const t = setup();
    t.set(false);
    t.gate.accepting();
    t.set(true);
    t.gate.accepting();
    // The destination goes for good, soon after: not reported yet...
    t.advance(100);
    t.set(false);
    t.gate.accepting();
    expect(t.lines.map((l) => l.level)).toEqual(["error", "warn"]);
    // ...but as soon as the interval is over.
    t.advance(GATE_REPORT_INTERVAL_MS);
    t.gate.accepting();
    expect(t.lines.map((l) => l.level)).toEqual(["error", "warn", "error"]);
    t.gate.accepting();
    expect(t.lines).toHaveLength(3);
  });
});
