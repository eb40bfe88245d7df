/**
 * Cost of recording one decision in the metrics (`recordDecision`), which runs
 * on every Check call. Compared in the same run with a baseline loop that only
 * picks the decision, and with the straightforward prom-client calls
 * (`Counter.inc(labels)` + `Histogram.observe(labels, v)`) that the
 * accumulator design replaces. Also reports the cost of one scrape.
 *
 *   npx tsx bench/metrics.ts
 */
import { performance } from "node:perf_hooks";
import { Counter, Histogram, Registry } from "prom-client";
import type { Decision } from "../src/engine/decision.js";
import { createMetrics, DECISION_LATENCY_BUCKETS } from "../src/metrics.js";

const decisions: Decision[] = [
  { allowed: true, outcome: "allow", enforced: true, reason: "allowed", revision: "r1", determining: [{ policy: "payments", rule: "frontend may call", effect: "allow", mode: "enforce" }] },
  { allowed: false, outcome: "deny", enforced: true, reason: "denied_by_rule", revision: "r1", determining: [{ policy: "payments", rule: "no cross-env", effect: "deny", mode: "enforce" }, { policy: "baseline", rule: "no admin", effect: "deny", mode: "enforce" }] },
  { allowed: false, outcome: "deny", enforced: true, reason: "no_matching_allow", revision: "r1", determining: [] },
  { allowed: true, outcome: "deny", enforced: false, reason: "denied_by_rule", revision: "r1", determining: [{ policy: "rollout", rule: "new rule", effect: "deny", mode: "audit" }] },
];
const latencies = [0.000012, 0.00003, 0.00008, 0.0004];

const N = 2_000_000;
const ROUNDS = 5;
let sink = 0;

function measure(name: string, body: (i: number) => void): number {
  for (let i = 0; i < 100_000; i++) body(i); // warm up
  const perOp: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) body(i);
    perOp.push(((performance.now() - t0) * 1e6) / N);
  }
  perOp.sort((a, b) => a - b);
  const median = perOp[Math.floor(ROUNDS / 2)]!;
  console.log(`${name.padEnd(44)} ${median.toFixed(1).padStart(7)} ns/op  (min ${perOp[0]!.toFixed(1)}, max ${perOp[ROUNDS - 1]!.toFixed(1)})`);
  return median;
}

const baseline = measure("baseline (pick decision + latency)", (i) => {
  const d = decisions[i & 3]!;
  sink += d.determining.length + latencies[i & 3]!;
});

const metrics = createMetrics({ processMetrics: false });
const ward = measure("ward recordDecision", (i) => {
  metrics.recordDecision("grpc", decisions[i & 3]!, latencies[i & 3]!);
});

// The straightforward prom-client version of the same metrics, for comparison.
const registry = new Registry();
const counter = new Counter({ name: "d_total", help: "d", labelNames: ["api", "outcome", "allowed", "mode", "reason"], registers: [registry] });
const perPolicy = new Counter({ name: "p_total", help: "p", labelNames: ["policy", "effect", "mode"], registers: [registry] });
const histogram = new Histogram({ name: "l_seconds", help: "l", labelNames: ["api"], buckets: [...DECISION_LATENCY_BUCKETS], registers: [registry] });
const direct = measure("prom-client inc + observe (labels)", (i) => {
  const d = decisions[i & 3]!;
  counter.inc({ api: "grpc", outcome: d.outcome, allowed: d.allowed ? "true" : "false", mode: d.enforced ? "enforce" : "audit", reason: d.reason });
  for (const r of d.determining) perPolicy.inc({ policy: r.policy, effect: r.effect, mode: r.mode });
  histogram.observe({ api: "grpc" }, latencies[i & 3]!);
});

console.log(`\nward recordDecision: ${(ward - baseline).toFixed(1)} ns per observation above baseline; prom-client direct: ${(direct - baseline).toFixed(1)} ns (${((direct - baseline) / Math.max(0.1, ward - baseline)).toFixed(0)}x)`);

const scrapes = 200;
const t0 = performance.now();
for (let i = 0; i < scrapes; i++) sink += (await metrics.render()).text.length;
console.log(`one scrape (GET /metrics body, no process metrics): ${((performance.now() - t0) / scrapes).toFixed(3)} ms`);
if (sink === 42) console.log("");
