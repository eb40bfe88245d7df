/**
 * Audit benchmark: what a decision record costs the process, beside the
 * decision itself, measured in the same run.
 *
 * - baseline: `decide` through the real resolver, input builder and engine,
 *   for a realistic request (16 headers, one of them redacted) against the
 *   shipped policies/;
 * - + line: plus encoding the record's line straight from the decision
 *   (`createAuditLineWriter`, what the server's sink does);
 * - + sink: plus `sink.writeDecision` to a file: the line copied into the
 *   sink's buffer and, every 256 KiB, written by libuv's thread pool (its CPU
 *   time and the kernel's are counted: the process's CPU time is). Every row
 *   lets the event loop turn every 16 decisions, as a busy server does, so
 *   the sink's writes complete and its buffers are reused;
 * - the same with `--audit-input none`;
 * - for comparison, building the record object (`toAuditRecord`) and
 *   `JSON.stringify`, which writes the same text.
 *
 * Printed: µs per decision (process CPU time, not wall time: the machine is
 * shared) and each line's ratio to the baseline. In the server the record is
 * built and written after the answer has been sent, so this is throughput
 * cost, not added latency; `npm run bench:grpc` measures the server with
 * audit records on and off.
 *
 *   npx tsx bench/audit.ts            (BENCH_DECISIONS, default 50000; writes about 150 MB to a temporary file, removed afterwards)
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLineWriter } from "../src/audit/line.js";
import { DEFAULT_REDACTED_HEADERS, toAuditRecord } from "../src/audit/record.js";
import { createAuditSink } from "../src/audit/sink.js";
import { decide, type DecisionDeps } from "../src/decide.js";
import { createIdentityResolver } from "../src/identity/resolve.js";
import { createInputBuilder } from "../src/input/build.js";
import { fromCompactInput } from "../src/input/documents.js";
import { loadPolicies } from "../src/policy-loader.js";

const N = Number(process.env["BENCH_DECISIONS"] ?? 50_000);

const loaded = await loadPolicies(["policies"]);
if (!loaded.ok) throw new Error("policies/ does not compile");
const program = loaded.program;
const deps: DecisionDeps = { resolver: createIdentityResolver(), inputBuilder: createInputBuilder() };

const headers: Record<string, string> = {
  ":authority": "payments.internal",
  ":method": "POST",
  ":path": "/api/v1/charge?currency=EUR",
  ":scheme": "https",
  accept: "application/json",
  "accept-encoding": "gzip, br",
  authorization: "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJl",
  "content-type": "application/json",
  "content-length": "512",
  "user-agent": "checkout/4.2.1 grpc-java",
  "x-request-id": "7b0d3c1e-4a5f-4d2b-9c8e-1f2a3b4c5d6e",
  "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
  "x-b3-spanid": "e457b5a2e4d86bd1",
  "x-b3-sampled": "1",
  "x-envoy-expected-rq-timeout-ms": "15000",
  "x-forwarded-proto": "https",
};
const rawResult = fromCompactInput({
  caller: { spiffe_id: "spiffe://prod.example.com/ns/checkout/sa/checkout" },
  request: { method: "POST", path: "/api/v1/charge?currency=EUR", host: "payments.internal", headers },
  source: { ip: "10.8.3.17", port: 48122 },
  destination: { spiffe_id: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
});
if (!rawResult.ok) throw new Error(JSON.stringify(rawResult.diagnostics));
const raw = rawResult.value;
const now = Date.UTC(2027, 0, 6, 9);

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

let sinkValue = 0;
/** Decisions between turns of the event loop, as a busy server interleaves them with the sink's file writes. */
const BATCH = 16;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function measure(step: (i: number) => void): Promise<number> {
  for (let i = 0; i < Math.min(20_000, N); i++) {
    step(i); // warm-up
    if (i % BATCH === BATCH - 1) await turn();
  }
  const start = cpuMicros();
  for (let i = 0; i < N; i++) {
    step(i);
    if (i % BATCH === BATCH - 1) await turn();
  }
  return (cpuMicros() - start) / N;
}

const dir = mkdtempSync(join(tmpdir(), "ward-bench-audit-"));
try {
  const file = join(dir, "audit.log");
  const created = createAuditSink({ destination: { file } });
  if (!created.ok) throw new Error(JSON.stringify(created.diagnostics));
  const sink = created.value;
  const meta = (i: number, includeInput: boolean) => ({ decisionId: `bench-${i}`, time: now, mode: "enforce" as const, micros: 10, raw, includeInput, redactHeaders: DEFAULT_REDACTED_HEADERS });

  const outcome0 = decide(program, raw, deps, { now });
  if (outcome0.decision.outcome !== "allow") throw new Error(`expected the bench request to be allowed, got ${outcome0.decision.reason}`);
  const recordBytes = JSON.stringify(toAuditRecord(outcome0, meta(0, true))).length + 1;

  const rows: [string, number][] = [];
  rows.push(["decide (baseline)", await measure(() => void (sinkValue += decide(program, raw, deps, { now }).decision.allowed ? 1 : 0))]);
  const lines = createAuditLineWriter();
  rows.push([
    "decide + line",
    await measure((i) => {
      const o = decide(program, raw, deps, { now });
      sinkValue += lines.decisionBytes(o, meta(i, true)).length;
    }),
  ]);
  rows.push([
    "decide + sink (file)",
    await measure((i) => {
      const o = decide(program, raw, deps, { now });
      sink.writeDecision(o, meta(i, true));
    }),
  ]);
  rows.push([
    "same, --audit-input none",
    await measure((i) => {
      const o = decide(program, raw, deps, { now });
      sink.writeDecision(o, meta(i, false));
    }),
  ]);
  rows.push([
    "decide + record + JSON.stringify",
    await measure((i) => {
      const o = decide(program, raw, deps, { now });
      sinkValue += JSON.stringify(toAuditRecord(o, meta(i, true))).length;
    }),
  ]);
  await sink.close();
  const written = statSync(file).size;

  const base = rows[0]![1];
  console.log(`audit benchmark: ${N} decisions per line, policies/ (${program.ruleCount} rules), node ${process.version}`);
  console.log(`record size with input: ${recordBytes} bytes; file written: ${(written / 1e6).toFixed(1)} MB`);
  for (const [name, us] of rows) console.log(`  ${name.padEnd(32)} ${us.toFixed(2).padStart(7)} µs/decision  ×${(us / base).toFixed(2)}`);
  if (sinkValue === -1) console.log("");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
