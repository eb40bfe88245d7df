/**
 * Reload benchmark: how long a policy reload stops the event loop that
 * decides, for generated sets of 2,000 and 10,000 rules (policies of ten
 * rules, as bench/engine.ts shapes them), loaded two ways in the same run:
 *
 * - in-thread: `compileSources`, parse + check + compile in one piece (what
 *   `ward test` and `ward check` do, and what `ward serve` did before);
 * - off-thread: `createPolicyCompiler` as `ward serve` uses it: parse + check
 *   on the checker thread, compile on the main thread in 4 ms slices.
 *
 * Printed per set and way: the longest event-loop stall during a reload
 * (`monitorEventLoopDelay`, 1 ms resolution), its median over the rounds and
 * the worst, the reload's wall time, and the stall ratio (off-thread / in-thread).
 * A stall longer than `--decision-timeout-ms` (100 ms by default) means the
 * calls that waited through it are denied `overloaded`; a stall longer than
 * Envoy's ext_authz timeout means Envoy fails them itself.
 *
 * Rounds alternate the two ways; the first round of each (cold code, a new
 * worker) is reported apart, since a server reloads rarely and so mostly cold.
 *
 *   npm run bench:reload            (BENCH_ROUNDS, default 5)
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { PolicySource } from "../src/dsl/index.js";
import { createPolicyCompiler } from "../src/policy-compiler.js";
import { compileSources, type LoadResult } from "../src/policy-loader.js";
import { generatedPolicyText } from "../test/generated-policies.js";

const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5);

/** A new text each round (`variant`): a store skips a set whose content it already serves. */
function generatedSet(policies: number, variant: number): PolicySource[] {
  return [{ file: `generated-${variant}.ward`, text: generatedPolicyText(policies, variant) }];
}

interface Sample {
  readonly stallMs: number;
  readonly wallMs: number;
}

async function measure(load: () => LoadResult | Promise<LoadResult>): Promise<Sample> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  // Let the monitor take its first sample before the load starts.
  await new Promise((r) => setTimeout(r, 5));
  histogram.enable();
  await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  const result = await load();
  const wallMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 5));
  histogram.disable();
  if (!result.ok) throw new Error("the generated set does not compile");
  return { stallMs: histogram.max / 1e6, wallMs };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number): string => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;

const compiler = createPolicyCompiler({ onWorkerUnavailable: (err) => console.error(`warning: no checker thread (${err.message})`) });
console.log(`reload: longest event-loop stall per reload, ${ROUNDS} rounds (first round reported apart), Node ${process.version}\n`);
console.log("| set | way | first round: stall, wall | later rounds: stall median · worst | wall median |");
console.log("| --- | --- | --- | --- | --- |");
const ratios: string[] = [];
let variant = 0;
for (const policies of [200, 1000]) {
  const samples = { "in-thread": [] as Sample[], "off-thread": [] as Sample[] };
  for (let round = 0; round <= ROUNDS; round++) {
    const sources = generatedSet(policies, variant++);
    samples["in-thread"].push(await measure(() => compileSources(sources)));
    samples["off-thread"].push(await measure(() => compiler.compile(sources)));
  }
  for (const way of ["in-thread", "off-thread"] as const) {
    const [first, ...later] = samples[way];
    const stalls = later.map((s) => s.stallMs);
    console.log(
      `| ${policies * 10} rules | ${way} | ${fmt(first!.stallMs)}, ${fmt(first!.wallMs)} | ${fmt(median(stalls))} · ${fmt(Math.max(...stalls))} | ${fmt(median(later.map((s) => s.wallMs)))} |`,
    );
  }
  const ratio = median(samples["off-thread"].slice(1).map((s) => s.stallMs)) / median(samples["in-thread"].slice(1).map((s) => s.stallMs));
  ratios.push(`${policies * 10} rules: off-thread / in-thread stall (median) = ${ratio.toFixed(2)}`);
}
console.log(`\n${ratios.join("\n")}`);
const stats = compiler.stats();
console.log(`checks on the checker thread: ${stats.checkedOnWorker}, on the main thread: ${stats.checkedOnMainThread}`);
await compiler.close();
