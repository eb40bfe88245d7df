import { describe, expect, it } from "vitest";
import type { Decision } from "../../src/engine/decision.js";
import type { Program } from "../../src/engine/program.js";
import { createMetrics, OVERFLOW_POLICY_LABEL } from "../../src/metrics.js";
import type { PolicySnapshot, ReloadOutcome } from "../../src/policy-store.js";
import { ExpositionError, parseExposition, sampleValue, sumSamples } from "./exposition.js";

const allow: Decision = {
  allowed: true,
  outcome: "allow",
  enforced: true,
  reason: "allowed",
  revision: "r1",
  determining: [
    { policy: "payments", rule: "frontend", effect: "allow", mode: "enforce" },
    { policy: "payments", rule: "batch", effect: "allow", mode: "enforce" },
  ],
};
const denyTwoPolicies: Decision = {
  allowed: false,
  outcome: "deny",
  enforced: true,
  reason: "denied_by_rule",
  revision: "r1",
  determining: [
    { policy: "payments", rule: "no cross-env", effect: "deny", mode: "enforce" },
    { policy: "baseline", rule: "no admin", effect: "deny", mode: "enforce" },
  ],
};
const wouldDeny: Decision = {
  allowed: true,
  outcome: "deny",
  enforced: false,
  reason: "denied_by_rule",
  revision: "r1",
  determining: [{ policy: "rollout", rule: "new", effect: "deny", mode: "audit" }],
};
const noPolicies: Decision = { allowed: false, outcome: "deny", enforced: true, reason: "no_policies_loaded", revision: "none", determining: [] };

async function scrape(metrics: ReturnType<typeof createMetrics>) {
  const { contentType, text } = await metrics.render();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(text);
}

function snapshot(revision: string, policies: number, rules: number): PolicySnapshot {
  const program: Program = {
    revision,
    needsCertificate: false,
    ruleCount: rules,
    policies: Array.from({ length: policies }, (_, i) => ({ name: `p${i}`, file: `p${i}.ward`, mode: "enforce" as const, ruleCount: 1 })),
  };
  return { revision, program, checked: { policies: [], tests: [], sources: new Map() }, files: [], warnings: [], sources: new Map(), loadedAt: 1_700_000_000_000 };
}

describe("the exposition parser used by these tests", () => {
  it("rejects what Prometheus rejects", () => {
    const bad = [
      "x 1\n", // no TYPE
      "# TYPE x counter\nx -1\n", // negative counter
      '# TYPE x gauge\nx{a="1",a="2"} 1\n', // repeated label
      '# TYPE x gauge\nx{a="\\t"} 1\n', // bad escape
      "# TYPE x gauge\nx 1\nx 2\n", // duplicate series
      '# TYPE x gauge\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 2\n', // family not contiguous
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
      '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', // count mismatch
      "# TYPE x gauge\nx one\n", // bad value
      "# TYPE x gauge\nx 1", // no final newline
    ];
    for (const text of bad) expect(() => parseExposition(text), text).toThrow(ExpositionError);
  });

  it("accepts well-formed text", () => {
    const families = parseExposition('# HELP x a \\\\ help\n# TYPE x counter\nx{a="q\\"uote"} 1.5e3\n\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n');
    expect(sampleValue(families, "x", { a: 'q"uote' })).toBe(1500);
    expect(sampleValue(families, "h_count")).toBe(2);
  });
});

describe("createMetrics", () => {
  it("counts decisions by front end, outcome, answer, mode and reason", async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.recordDecision("grpc", allow, 0.00002);
    metrics.recordDecision("grpc", allow, 0.00002);
    metrics.recordDecision("grpc", denyTwoPolicies, 0.00004);
    metrics.recordDecision("http", wouldDeny, 0.0003);
    metrics.recordDecision("grpc", noPolicies, 0.000001);
    const f = await scrape(metrics);
    expect(sampleValue(f, "ward_decisions_total", { api: "grpc", outcome: "allow", allowed: "true", mode: "enforce", reason: "allowed" })).toBe(2);
    expect(sampleValue(f, "ward_decisions_total", { api: "grpc", outcome: "deny", allowed: "false", mode: "enforce", reason: "denied_by_rule" })).toBe(1);
    expect(sampleValue(f, "ward_decisions_total", { api: "http", outcome: "deny", allowed: "true", mode: "audit", reason: "denied_by_rule" })).toBe(1);
    expect(sampleValue(f, "ward_decisions_total", { api: "grpc", outcome: "deny", allowed: "false", mode: "enforce", reason: "no_policies_loaded" })).toBe(1);
    expect(sumSamples(f, "ward_decisions_total")).toBe(5);
    // Audit mode let one denied request through.
    expect(sampleValue(f, "ward_would_deny_total", { reason: "denied_by_rule" })).toBe(1);
    expect(sumSamples(f, "ward_would_deny_total")).toBe(1);
  });

  it("counts a policy once per decision, and each policy of a multi-policy decision", async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.recordDecision("grpc", allow, 0.00001); // two rules of `payments`
    metrics.recordDecision("grpc", denyTwoPolicies, 0.00001);
    metrics.recordDecision("grpc", wouldDeny, 0.00001);
    const f = await scrape(metrics);
    expect(sampleValue(f, "ward_policy_decisions_total", { policy: "payments", effect: "allow", mode: "enforce" })).toBe(1);
    expect(sampleValue(f, "ward_policy_decisions_total", { policy: "payments", effect: "deny", mode: "enforce" })).toBe(1);
    expect(sampleValue(f, "ward_policy_decisions_total", { policy: "baseline", effect: "deny", mode: "enforce" })).toBe(1);
    expect(sampleValue(f, "ward_policy_decisions_total", { policy: "rollout", effect: "deny", mode: "audit" })).toBe(1);
    // Rule names never become label values.
    const text = (await metrics.render()).text;
    expect(text).not.toContain("frontend");
    expect(text).not.toContain("no cross-env");
  });

  it("caps the number of policy label values", async () => {
    const metrics = createMetrics({ processMetrics: false, maxPolicyLabels: 2 });
    for (const policy of ["a", "b", "c", "d"]) {
      metrics.recordDecision("grpc", { ...allow, determining: [{ policy, rule: "r", effect: "allow", mode: "enforce" }] }, 0.00001);
    }
    metrics.recordDecision("grpc", { ...allow, determining: [{ policy: "a", rule: "r", effect: "allow", mode: "enforce" }] }, 0.00001);
    const f = await scrape(metrics);
    const policies = new Set(f.get("ward_policy_decisions_total")!.samples.map((s) => s.labels["policy"]));
    expect(policies).toEqual(new Set(["a", "b", OVERFLOW_POLICY_LABEL]));
    expect(sampleValue(f, "ward_policy_decisions_total", { policy: "a", effect: "allow", mode: "enforce" })).toBe(2);
    expect(sampleValue(f, "ward_policy_decisions_total", { policy: OVERFLOW_POLICY_LABEL, effect: "allow", mode: "enforce" })).toBe(2);
  });

  it("puts latencies in cumulative buckets, bounds inclusive", async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.recordDecision("grpc", allow, 0.000005); // ≤ 10µs
    metrics.recordDecision("grpc", allow, 0.00001); // exactly 10µs: still the first bucket
    metrics.recordDecision("grpc", allow, 0.00003); // ≤ 50µs
    metrics.recordDecision("grpc", allow, 0.002); // ≤ 2.5ms
    metrics.recordDecision("grpc", allow, 3); // +Inf only
    const f = await scrape(metrics);
    const bucket = (le: string) => sampleValue(f, "ward_decision_duration_seconds_bucket", { api: "grpc", le });
    expect(bucket("0.00001")).toBe(2);
    expect(bucket("0.000025")).toBe(2);
    expect(bucket("0.00005")).toBe(3);
    expect(bucket("0.001")).toBe(3);
    expect(bucket("0.0025")).toBe(4);
    expect(bucket("0.1")).toBe(4);
    expect(bucket("+Inf")).toBe(5);
    expect(sampleValue(f, "ward_decision_duration_seconds_count", { api: "grpc" })).toBe(5);
    expect(sampleValue(f, "ward_decision_duration_seconds_sum", { api: "grpc" })).toBeCloseTo(3.002045, 9);
    expect(sampleValue(f, "ward_decision_duration_seconds_count", { api: "http" })).toBe(0);
    expect(f.get("ward_decision_duration_seconds")!.type).toBe("histogram");
  });

  it("counts shadow decisions and disagreements by each side's verdict, before audit mode", async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.recordShadow(allow, allow);
    metrics.recordShadow(allow, denyTwoPolicies);
    metrics.recordShadow(allow, wouldDeny); // audit mode lets it through, but the shadow's policies deny it
    metrics.recordShadow(denyTwoPolicies, wouldDeny); // both verdicts deny: no disagreement
    metrics.recordShadow(denyTwoPolicies, allow);
    const f = await scrape(metrics);
    expect(sampleValue(f, "ward_shadow_decisions_total")).toBe(5);
    expect(sampleValue(f, "ward_shadow_disagreements_total", { live: "allow", shadow: "deny" })).toBe(2);
    expect(sampleValue(f, "ward_shadow_disagreements_total", { live: "deny", shadow: "allow" })).toBe(1);
  });

  it("reads the certificate cache statistics at scrape time", async () => {
    let stats = { hits: 10, misses: 2, entries: 2, bytes: 4096 };
    const metrics = createMetrics({ processMetrics: false, certificateCache: () => stats });
    let f = await scrape(metrics);
    expect(sampleValue(f, "ward_certificate_cache_hits_total")).toBe(10);
    expect(sampleValue(f, "ward_certificate_cache_misses_total")).toBe(2);
    expect(sampleValue(f, "ward_certificate_cache_entries")).toBe(2);
    expect(sampleValue(f, "ward_certificate_cache_bytes")).toBe(4096);
    stats = { hits: 25, misses: 3, entries: 1, bytes: 2048 };
    f = await scrape(metrics);
    expect(sampleValue(f, "ward_certificate_cache_hits_total")).toBe(25);
    expect(sampleValue(f, "ward_certificate_cache_entries")).toBe(1);
    // Without a resolver the series exist with 0.
    f = await scrape(createMetrics({ processMetrics: false }));
    expect(sampleValue(f, "ward_certificate_cache_hits_total")).toBe(0);
  });

  it("counts reloads by result and exposes the serving revision as an info metric", async () => {
    const metrics = createMetrics({ processMetrics: false });
    let f = await scrape(metrics);
    expect(sampleValue(f, "ward_policy_info", { revision: "none" })).toBe(1);
    expect(sampleValue(f, "ward_policy_reloads_total", { result: "failure" })).toBe(0);

    const ok = (revision: string, changed: boolean): ReloadOutcome => ({ ok: true, changed, revision, diagnostics: [], sources: new Map(), trigger: "test" });
    const failed: ReloadOutcome = { ok: false, changed: false, diagnostics: [], sources: new Map(), trigger: "test" };
    metrics.recordReload(ok("aaaa", true), snapshot("aaaa", 2, 5));
    metrics.recordReload(ok("aaaa", false), snapshot("aaaa", 2, 5));
    metrics.recordReload(failed, snapshot("aaaa", 2, 5));
    f = await scrape(metrics);
    expect(sampleValue(f, "ward_policy_reloads_total", { result: "success" })).toBe(1);
    expect(sampleValue(f, "ward_policy_reloads_total", { result: "unchanged" })).toBe(1);
    expect(sampleValue(f, "ward_policy_reloads_total", { result: "failure" })).toBe(1);
    expect(sampleValue(f, "ward_policy_last_reload_successful")).toBe(0);
    expect(sampleValue(f, "ward_policy_info", { revision: "aaaa" })).toBe(1);
    expect(sampleValue(f, "ward_policies")).toBe(2);
    expect(sampleValue(f, "ward_policy_rules")).toBe(5);
    expect(sampleValue(f, "ward_policy_loaded_timestamp_seconds")).toBe(1_700_000_000);

    metrics.recordReload(ok("bbbb", true), snapshot("bbbb", 1, 1));
    f = await scrape(metrics);
    // The old revision's series is gone: exactly one info series at a time.
    expect(f.get("ward_policy_info")!.samples).toEqual([{ name: "ward_policy_info", labels: { revision: "bbbb" }, value: 1 }]);
    expect(sampleValue(f, "ward_policy_last_reload_successful")).toBe(1);
  });

  it("registers the process metrics in its own registry", async () => {
    const a = createMetrics();
    const b = createMetrics({ processMetrics: false });
    const fa = await scrape(a);
    expect(fa.get("process_cpu_user_seconds_total")?.type).toBe("counter");
    expect(fa.get("nodejs_heap_size_used_bytes")?.type).toBe("gauge");
    expect((await scrape(b)).get("process_cpu_user_seconds_total")).toBeUndefined();
  });
});
