/**
 * `npx tsx bench/stages-ab.ts BASE_DIST NEW_DIST [REQUEST]`: the in-process
 * cost of each stage of a Check call (decode, decide, encode, audit line, and
 * all four together) for two builds of Ward, loaded into this one process and
 * run in alternating rounds, so a slow spell of a shared machine hits both.
 * Prints each build's best and median µs per call and the new/base ratio.
 * `bench/stages-ab.sh REF` builds REF and the working tree and runs this.
 *
 * REQUEST is a framed CheckRequest (`BENCH_WRITE_REQUEST=FILE npx tsx
 * bench/grpc.ts` writes the one `bench:grpc` sends). Environment: STAGES
 * (default decode,decide,encode,line,all), ROUNDS (20), CALLS per round (20000).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const [baseDist, newDist, requestFile] = process.argv.slice(2);
if (baseDist === undefined || newDist === undefined) {
  console.error("usage: npx tsx bench/stages-ab.ts BASE_DIST NEW_DIST [REQUEST]");
  process.exit(2);
}
const ROUNDS = Number(process.env["ROUNDS"] ?? 20);
const CALLS = Number(process.env["CALLS"] ?? 20000);
const STAGES = (process.env["STAGES"] ?? "decode,decide,encode,line,all").split(",");
const POLICIES = resolve(import.meta.dirname, "..", "policies");
const DECISION_ID = "3f1c9a8e-2b7d-4c61-9f0a-5d2e8b7c6a41";
const T0 = Date.UTC(2026, 10, 23);

type Stage = (i: number) => number;

/** The stages of one build, all on the same request; each returns a number so nothing is optimized away. */
async function stagesOf(dist: string, message: Buffer): Promise<Record<string, Stage>> {
  const at = (path: string) => import(resolve(dist, path));
  const { decodeCheckRequest, createDecodeMemo } = await at("ext-authz/check-request.js");
  const { decide } = await at("decide.js");
  const { loadPolicies } = await at("policy-loader.js");
  const { createIdentityResolver } = await at("identity/resolve.js");
  const { createInputBuilder } = await at("input/build.js");
  const { createAuditLineWriter } = await at("audit/line.js");
  const { DEFAULT_REDACTED_HEADERS } = await at("audit/record.js");
  const { createCheckResponseEncoder } = await at("ext-authz/check-response.js");
  const loaded = await loadPolicies([POLICIES]);
  if (!loaded.ok) throw new Error(`${dist}: policies/ does not load`);
  const deps = { resolver: createIdentityResolver({}), inputBuilder: createInputBuilder({}) };
  const limits = { maxMessageBytes: 1 << 22, memo: createDecodeMemo() };
  const lines = createAuditLineWriter();
  const encoder = createCheckResponseEncoder({ callerHeader: "x-ward-caller", wouldDenyHeader: "x-ward-would-deny", decisionIdHeader: "x-ward-decision-id", exposeDenyReason: false });
  const decoded = decodeCheckRequest(message, limits);
  if (!decoded.ok) throw new Error(`${dist}: the request does not decode: ${decoded.detail}`);
  const outcome = decide(loaded.program, decoded.raw, deps, { now: T0 });
  // Distinct buffers with the same bytes, as a server receives them: a memo keyed by the buffer object would otherwise look better than it is.
  const copies = Array.from({ length: 64 }, () => Buffer.from(message));
  const meta = (i: number, raw: unknown) => ({ decisionId: DECISION_ID, time: T0 + (i >> 4), mode: "enforce", micros: 12.3, raw, includeInput: true, redactHeaders: DEFAULT_REDACTED_HEADERS });
  return {
    decode: (i) => (decodeCheckRequest(copies[i & 63]!, limits).ok ? 1 : 0),
    decide: (i) => (decide(loaded.program, decoded.raw, deps, { now: T0 + i }).decision.allowed ? 1 : 0),
    encode: () => encoder.encode(outcome, DECISION_ID).length,
    line: (i) => lines.decisionBytes(outcome, meta(i, decoded.raw)).length,
    all: (i) => {
      const d = decodeCheckRequest(copies[i & 63]!, limits);
      const o = decide(loaded.program, d.raw, deps, { now: T0 + (i >> 4) });
      return encoder.encode(o, DECISION_ID).length + lines.decisionBytes(o, meta(i, d.raw)).length;
    },
  };
}

async function main(): Promise<void> {
  // The framed request: a 5-byte gRPC prefix, then the message.
  const framed = requestFile !== undefined ? readFileSync(requestFile) : undefined;
  if (framed === undefined) throw new Error("give the request file (BENCH_WRITE_REQUEST=FILE npx tsx bench/grpc.ts writes it)");
  const message = framed.subarray(5);
  const builds = { base: await stagesOf(baseDist!, message), new: await stagesOf(newDist!, message) };
  let sink = 0;
  console.log(`stages-ab — ${ROUNDS} alternating rounds of ${CALLS} calls; base ${baseDist}, new ${newDist}`);
  for (const stage of STAGES) {
    const baseStage = builds.base[stage];
    const newStage = builds.new[stage];
    if (baseStage === undefined || newStage === undefined) throw new Error(`unknown stage ${stage}`);
    const run = { base: baseStage, new: newStage };
    // Warm-up: both builds reach optimized code before anything is timed.
    for (let i = 0; i < 30000; i++) sink += run.base(i) + run.new(i);
    const times: { base: number[]; new: number[] } = { base: [], new: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (["base", "new"] as const) : (["new", "base"] as const);
      for (const which of order) {
        const f = run[which];
        const started = performance.now();
        for (let i = 0; i < CALLS; i++) sink += f(i);
        times[which].push(((performance.now() - started) * 1000) / CALLS);
      }
    }
    const best = (xs: number[]) => Math.min(...xs);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const fmt = (xs: number[]) => `best ${best(xs).toFixed(3)} µs, median ${median(xs).toFixed(3)} µs`;
    console.log(`${stage.padEnd(7)} base ${fmt(times.base)} | new ${fmt(times.new)} | new/base ${(best(times.new) / best(times.base)).toFixed(3)} (best), ${(median(times.new) / median(times.base)).toFixed(3)} (median)`);
  }
  if (sink === 0) console.log("(no work was done)");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
