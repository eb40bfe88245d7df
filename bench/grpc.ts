/**
 * `npm run bench:grpc`: capacity and latency of `ward serve` against a floor
 * server, in the same run, on one pinned core each.
 *
 * - Servers run pinned with `taskset -c 1` (SERVER_CPU): the floor
 *   (bench/floor-server.ts: grpc-js with raw buffers and a constant answer, no
 *   protobuf work, with `ward serve`'s transport options, V8 heap growth and
 *   stream table renewal), the same floor as plain grpc-js (default options,
 *   V8's own heap growth, no renewal; its ratios are printed beside the
 *   others), then the built Ward (dist/main.js, as `npm start` runs
 *   it; the npm script builds first) with audit records off, written to a
 *   file, and written to stdout, the default,
 *   as a container runtime takes them: a pipe, drained by `cat` on core 0
 *   (CLIENT_CPU, beside h2load). Ward serves the shipped policies/ (7 policies).
 * - h2load (Debian's nghttp2-client) drives each from core 0 (CLIENT_CPU) with
 *   a pre-encoded realistic Envoy CheckRequest (16 headers incl. pseudo-headers,
 *   a URL-encoded peer certificate, addresses, principals, context extensions),
 *   framed as one gRPC message, over loopback, for a bounded time.
 * - Printed: requests/s, server CPU µs per call (from /proc/<pid>/stat), the
 *   part of it spent in garbage collection pauses (bench/gc-probe.ts, loaded
 *   into every server), and p50/p99/p99.9 latency at 1 and 16 calls in flight
 *   (h2load's per-request log), plus Ward/floor ratios and every round's
 *   figures.
 * - h2load counts HTTP 200s only, so each server's answers are verified
 *   separately with a gRPC client: transport status OK and, for Ward, the
 *   CheckResponse status (OK for the allowed request, PERMISSION_DENIED for a
 *   denied one).
 *
 * - Each server also gets a third load at 16 streams in the steady state of a
 *   long-lived connection: bench/gc-probe.ts runs one full collection 0.3 s
 *   into it. After that, Node's HTTP/2 streams map keeps every young
 *   collection copying the recent streams for as long as the connection
 *   lasts, unless its table is renewed, which Ward and the floor both do
 *   (docs/serve.md, "A long-lived connection"; bench/map-churn-gc.ts;
 *   WARD_STREAM_TABLE_RENEWAL=off turns it off in both). Envoy's connection
 *   to Ward lives for hours, so that is the state it serves in; on a new
 *   connection a server may or may not reach it within one run. Ratios are
 *   printed for both.
 * - Rounds alternate the servers (floor, then each Ward, then again),
 *   so a slow spell of a shared machine tends to hit all of them; the table
 *   shows each server's best round, and the ratios are given for the best
 *   and the median rounds.
 *
 * Environment: BENCH_SECONDS (default 5), BENCH_ROUNDS (default 3),
 * SERVER_CPU (1), CLIENT_CPU (0), BENCH_NODE_FLAGS (extra node flags for
 * every server, e.g. `--max-semi-space-size=64`; default none),
 * BENCH_WRITE_REQUEST=FILE (only write the framed request to FILE and exit). Figures depend on the machine and on
 * everything else running on it; compare ratios from the same run.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createAuditLineWriter } from "../src/audit/line.js";
import { DEFAULT_REDACTED_HEADERS, toAuditRecord } from "../src/audit/record.js";
import { decide } from "../src/decide.js";
import { createDecodeMemo, decodeCheckRequest } from "../src/ext-authz/check-request.js";
import { createCheckResponseEncoder, DEFAULT_CALLER_HEADER, DEFAULT_DECISION_ID_HEADER, DEFAULT_WOULD_DENY_HEADER } from "../src/ext-authz/check-response.js";
import { CHECK_METHOD_PATH, checkMethodDefinition, loadAuthorizationProtos } from "../src/ext-authz/protos.js";
import { createIdentityResolver } from "../src/identity/resolve.js";
import { createInputBuilder } from "../src/input/build.js";
import { loadPolicies } from "../src/policy-loader.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 5);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);
const SERVER_CPU = process.env["SERVER_CPU"] ?? "1";
const CLIENT_CPU = process.env["CLIENT_CPU"] ?? "0";
/** Extra node flags for every server alike (floor included), e.g. `--max-semi-space-size=64`. */
const NODE_FLAGS = (process.env["BENCH_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "");
const ROOT = resolve(import.meta.dirname, "..");
const CLK_TCK = 100;
/**
 * The floor with grpc-js's default options and no stream table renewal. The
 * ratios that matter are against "floor", which runs grpc-js as Ward does, so
 * that they are about Ward's own work; this one is printed beside them.
 */
const PLAIN_FLOOR = "floor (plain grpc-js)";

interface ServerSpec {
  readonly name: string;
  readonly args: (dir: string) => string[];
  /** Verifies answers; returns a description of what was checked. */
  readonly verify: (target: string) => Promise<string>;
  /** The server's stdout is a pipe that another process (`cat`, on CLIENT_CPU) drains, as a container runtime would. */
  readonly stdoutDrained?: boolean;
}

interface LoadResult {
  readonly rps: number;
  readonly calls: number;
  readonly failed: number;
  readonly cpuMicrosPerCall: number;
  /** Main-thread garbage collection pauses per call (bench/gc-probe.ts), part of `cpuMicrosPerCall`. */
  readonly gcMicrosPerCall: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
}

// ---------------------------------------------------------------------------
// The request: what Envoy's ext_authz filter sends for a POST through a sidecar.

function peerCertificate(): string {
  const fixture = join(ROOT, "test/fixtures/certs/prod-checkout.pem");
  if (existsSync(fixture)) return readFileSync(fixture, "utf8");
  const dir = mkdtempSync(join(tmpdir(), "ward-bench-cert-"));
  try {
    const result = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/O=bench",
        "-addext", "subjectAltName=URI:spiffe://prod.example.com/ns/checkout/sa/checkout", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")],
      { stdio: "ignore" },
    );
    if (result.status !== 0) throw new Error("openssl failed to make a bench certificate");
    return readFileSync(join(dir, "c.pem"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Envoy's `urlEncodedPemEncodedPeerCertificate`: the PEM, percent-encoded. */
function urlEncodePem(pem: string): string {
  return encodeURIComponent(pem);
}

function checkRequest(principal: string, path: string): object {
  const headers: Record<string, string> = {
    ":authority": "payments.internal",
    ":method": "POST",
    ":path": path,
    ":scheme": "https",
    accept: "application/json",
    "content-type": "application/json",
    "content-length": "128",
    "user-agent": "checkout/1.4.2 grpc-go/1.62",
    "x-request-id": "3f1c9a8e-2b7d-4c61-9f0a-5d2e8b7c6a41",
    "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
    "x-b3-spanid": "e457b5a2e4d86bd1",
    "x-b3-sampled": "1",
    "x-forwarded-proto": "https",
    "x-envoy-expected-rq-timeout-ms": "15000",
    "x-envoy-internal": "true",
    authorization: "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.c2lnbmF0dXJl",
  };
  return {
    attributes: {
      source: {
        address: { socket_address: { address: "10.1.2.3", port_value: 43122 } },
        principal,
        certificate: urlEncodePem(peerCertificate()),
      },
      destination: {
        address: { socket_address: { address: "10.1.9.9", port_value: 8443 } },
        principal: "spiffe://prod.example.com/ns/payments/sa/payment-api",
      },
      request: {
        time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
        http: { id: "12345678901234", method: "POST", headers, path, host: "payments.internal", scheme: "https", size: "128", protocol: "HTTP/2" },
      },
      context_extensions: { virtual_host: "payments" },
      metadata_context: {},
    },
  };
}

function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(message.length + 5);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

const ALLOW = checkRequest("spiffe://prod.example.com/ns/checkout/sa/checkout", "/api/v1/charge");
const DENY = checkRequest("spiffe://prod.example.com/ns/web/sa/frontend", "/api/v1/charge");

// ---------------------------------------------------------------------------
// Verification with a real gRPC client built from the official protos.

function call(target: string, request: object): Promise<{ code: number; response?: { status?: { code?: number } } }> {
  const pkg = grpc.loadPackageDefinition(loadAuthorizationProtos()) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  };
  const client = new pkg.envoy.service.auth.v3.Authorization(target, grpc.credentials.createInsecure());
  return new Promise((resolvePromise) => {
    client.makeUnaryRequest(
      CHECK_METHOD_PATH,
      (value: object) => checkMethodDefinition().requestSerialize(value),
      (bytes: Buffer) => checkMethodDefinition().responseDeserialize(bytes) as { status?: { code?: number } },
      request,
      (err, response) => {
        client.close();
        resolvePromise(err ? { code: err.code } : { code: 0, response: response ?? {} });
      },
    );
  });
}

async function verifyWard(target: string): Promise<string> {
  const allowed = await call(target, ALLOW);
  const denied = await call(target, DENY);
  const allowCode = allowed.response?.status?.code ?? 0;
  const denyCode = denied.response?.status?.code ?? 0;
  if (allowed.code !== 0 || allowCode !== 0) throw new Error(`ward: allowed request answered grpc-status ${allowed.code}, CheckResponse status ${allowCode}`);
  if (denied.code !== 0 || denyCode !== 7) throw new Error(`ward: denied request answered grpc-status ${denied.code}, CheckResponse status ${denyCode}`);
  return "grpc-status 0; CheckResponse status 0 (allowed request) and 7 (denied request)";
}

async function verifyFloor(target: string): Promise<string> {
  const answer = await call(target, ALLOW);
  if (answer.code !== 0) throw new Error(`floor: grpc-status ${answer.code}`);
  return "grpc-status 0";
}

// ---------------------------------------------------------------------------
// Servers and load.

function startServer(spec: ServerSpec, dir: string): Promise<{ child: ChildProcess; port: number; gcFile: string }> {
  const gcFile = join(dir, `gc-${spec.name.replace(/[^a-z]+/g, "-")}.json`);
  const args = ["-c", SERVER_CPU, process.execPath, ...NODE_FLAGS, "--import", "tsx", "--import", "./bench/gc-probe.ts", ...spec.args(dir)];
  // A drained stdout: the drain passes the ready line on to its stderr, then reads the rest into /dev/null.
  // This process must not keep the pipe's writing end, or the drain would never see it end.
  const drain = spec.stdoutDrained
    ? spawn("taskset", ["-c", CLIENT_CPU, "sh", "-c", "head -n 1 >&2; exec cat > /dev/null"], { stdio: ["pipe", "ignore", "pipe"] })
    : undefined;
  const child = spawn("taskset", args, { cwd: ROOT, stdio: ["ignore", drain ? drain.stdin! : "pipe", "pipe"], env: { ...process.env, BENCH_GC_FILE: gcFile } });
  drain?.stdin!.destroy();
  const firstLines = drain ? drain.stderr! : child.stdout!;
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`${spec.name} did not start in 60 s:\n${stderr}`)), 60_000);
    firstLines.on("data", (d: Buffer) => {
      buffered += d.toString();
      const line = buffered.split("\n")[0];
      if (!buffered.includes("\n") || line === undefined) return;
      clearTimeout(timer);
      // The floor prints `listening <port>`; Ward prints its JSON ready line.
      const floor = /^listening (\d+)/.exec(line);
      const port = floor ? Number(floor[1]) : Number(/127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
      if (!port) reject(new Error(`${spec.name}: unexpected first line ${line}`));
      else resolvePromise({ child, port, gcFile });
      // Keep draining stdout (audit records to stdout would otherwise block the server).
      firstLines.resume();
    });
    child.once("exit", (code) => reject(new Error(`${spec.name} exited with ${code}:\n${stderr}`)));
  });
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // After the command name: field 14 (utime) and 15 (stime) are at indices 11 and 12.
  return Number(fields[11]) + Number(fields[12]);
}

function h2loadArgs(port: number, streams: number, seconds: number, body: string, log?: string): string[] {
  return [
    "-c", CLIENT_CPU, "h2load", "-D", String(seconds), "-c1", `-m${streams}`, "-d", body,
    "-H", "content-type: application/grpc", "-H", "te: trailers",
    ...(log ? ["--log-file", log] : []),
    `http://127.0.0.1:${port}${CHECK_METHOD_PATH}`,
  ];
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Milliseconds the server has paused for garbage collection so far (written by bench/gc-probe.ts every 100 ms). */
function gcMillis(gcFile: string): number {
  const t = JSON.parse(readFileSync(gcFile, "utf8")) as { minorMs: number; majorMs: number; otherMs: number };
  return t.minorMs + t.majorMs + t.otherMs;
}

/** How long into a steady-state load the server is asked for its full collection. */
const STEADY_COLLECT_AFTER_MS = 300;

/**
 * One h2load run against the server. `steady`: the server runs one full
 * collection `STEADY_COLLECT_AFTER_MS` into the run (on its connection), as a
 * long-lived Envoy connection will have had; its pause counts in the figures.
 */
async function runLoad(pid: number, gcFile: string, port: number, streams: number, body: string, dir: string, steady = false): Promise<LoadResult> {
  const log = join(dir, `h2load-${streams}.log`);
  const before = cpuTicks(pid);
  const gcBefore = gcMillis(gcFile);
  const child = spawn("taskset", h2loadArgs(port, streams, SECONDS, body, log), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const collect = steady ? setTimeout(() => writeFileSync(`${gcFile}.collect`, ""), STEADY_COLLECT_AFTER_MS) : undefined;
  const status = await new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  clearTimeout(collect);
  const after = cpuTicks(pid);
  const gcAfter = gcMillis(gcFile);
  if (status !== 0) throw new Error(`h2load failed: ${err}`);
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1]);
  const calls = Number(/(\d+) succeeded/.exec(out)?.[1]);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const latencies = readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => Number(l.split("\t")[2]));
  const sorted = Float64Array.from(latencies).sort();
  return {
    rps,
    calls,
    failed,
    cpuMicrosPerCall: calls > 0 ? ((after - before) / CLK_TCK) * 1e6 / calls : NaN,
    gcMicrosPerCall: calls > 0 ? ((gcAfter - gcBefore) * 1000) / calls : NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
  };
}

async function measure(spec: ServerSpec, body: string, dir: string): Promise<{ verified: string; m1: LoadResult; m16: LoadResult; m16Steady: LoadResult }> {
  const { child, port, gcFile } = await startServer(spec, dir);
  try {
    const verified = await spec.verify(`127.0.0.1:${port}`);
    spawnSync("taskset", h2loadArgs(port, 16, 2, body), { stdio: "ignore" }); // warm-up (JIT)
    const m16 = await runLoad(child.pid!, gcFile, port, 16, body, dir);
    const m1 = await runLoad(child.pid!, gcFile, port, 1, body, dir);
    const m16Steady = await runLoad(child.pid!, gcFile, port, 16, body, dir, true);
    return { verified, m1, m16, m16Steady };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

// ---------------------------------------------------------------------------
// Where Ward's own time goes, per call, in this process (no network): the
// stages of the hot path and, for comparison, generic protobufjs decoding.

async function costSplit(message: Buffer): Promise<void> {
  const loaded = await loadPolicies([join(ROOT, "policies")]);
  if (!loaded.ok) throw new Error("policies/ does not load");
  const deps = { resolver: createIdentityResolver({}), inputBuilder: createInputBuilder({}) };
  const encoder = createCheckResponseEncoder({ callerHeader: DEFAULT_CALLER_HEADER, wouldDenyHeader: DEFAULT_WOULD_DENY_HEADER, decisionIdHeader: DEFAULT_DECISION_ID_HEADER, exposeDenyReason: false });
  const limits = { maxMessageBytes: 1 << 22 };
  // As the server decodes: with a certificate memo (the same caller's certificate recurs).
  const served = { ...limits, memo: createDecodeMemo() };
  const decoded = decodeCheckRequest(message, limits);
  if (!decoded.ok) throw new Error("bench request does not decode");
  const outcome = decide(loaded.program, decoded.raw, deps, { now: Date.now() });
  const protobufjs = checkMethodDefinition();
  const lines = createAuditLineWriter();
  const meta = { decisionId: "bench", time: Date.now(), mode: "enforce" as const, micros: 10, raw: decoded.raw, includeInput: true, redactHeaders: DEFAULT_REDACTED_HEADERS };
  const stages: [string, () => unknown][] = [
    ["decode CheckRequest (Ward, as served: certificate memo)", () => decodeCheckRequest(message, served)],
    ["decode CheckRequest (Ward, no memo)", () => decodeCheckRequest(message, limits)],
    ["decode CheckRequest (protobufjs, for comparison)", () => protobufjs.requestDeserialize(message)],
    ["decide (identity + input + evaluate)", () => decide(loaded.program, decoded.raw, deps, { now: Date.now() })],
    ["encode CheckResponse (Ward)", () => encoder.encode(outcome, "3f1c9a8e-2b7d-4c61-9f0a-5d2e8b7c6a41")],
    ["audit line (the sink's writer, from the decision)", () => lines.decision(outcome, meta)],
    ["audit record + JSON.stringify (for comparison)", () => JSON.stringify(toAuditRecord(outcome, meta))],
  ];
  const best = new Map<string, number>();
  const n = 20_000;
  for (let round = 0; round < 6; round++) {
    for (const [name, run] of stages) {
      const start = performance.now();
      for (let i = 0; i < n; i++) run();
      const micros = ((performance.now() - start) * 1000) / n;
      best.set(name, Math.min(best.get(name) ?? Infinity, micros));
    }
  }
  console.log("");
  console.log(`in-process cost per call (best of 6 × ${n}; decision: ${outcome.decision.reason}):`);
  for (const [name, micros] of best) console.log(`  ${name.padEnd(50)} ${micros.toFixed(2).padStart(7)} µs`);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  // `bench/grpc-instructions.sh` drives the same request: it asks for the framed bytes only.
  const requestOut = process.env["BENCH_WRITE_REQUEST"];
  if (requestOut !== undefined) {
    writeFileSync(requestOut, frame(checkMethodDefinition().requestSerialize(ALLOW)));
    return;
  }
  if (spawnSync("h2load", ["--version"]).status !== 0) throw new Error("h2load not found: apt-get install -y nghttp2-client");
  const dir = mkdtempSync(join(tmpdir(), "ward-bench-"));
  const body = join(dir, "check-request.bin");
  const message = checkMethodDefinition().requestSerialize(ALLOW);
  writeFileSync(body, frame(message));

  // The built server, as `npm start` runs it (`npm run bench:grpc` builds first). Run from src/ through
  // tsx (esbuild's output, not tsc's), Ward measured about 6 µs more CPU per call with audit records to
  // a file; tsx's loader alone made no difference. Which difference in the compiled code costs it was
  // not found (tsx sets esbuild's keepNames, one suspect).
  if (!existsSync(join(ROOT, "dist", "main.js"))) throw new Error("dist/main.js not found: run `npm run build` (or `npm run bench:grpc`, which builds)");
  const wardArgs = (audit: string) => (d: string) => [
    "dist/main.js", "serve", "--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--log-level", "warn",
    "--audit-log", audit === "file" ? join(d, "audit.log") : audit,
  ];
  const specs: ServerSpec[] = [
    { name: "floor", args: () => ["bench/floor-server.ts", "0"], verify: verifyFloor },
    { name: PLAIN_FLOOR, args: () => ["bench/floor-server.ts", "0", "plain"], verify: verifyFloor },
    { name: "ward (audit off)", args: wardArgs("off"), verify: verifyWard },
    { name: "ward (audit to file)", args: wardArgs("file"), verify: verifyWard },
    { name: "ward (audit to stdout)", args: wardArgs("stdout"), verify: verifyWard, stdoutDrained: true },
  ];

  console.log(`bench:grpc — ${SECONDS} s per load, servers on core ${SERVER_CPU}, h2load on core ${CLIENT_CPU}, ${ROUNDS} round(s)`);
  if (NODE_FLAGS.length > 0) console.log(`server node flags: ${NODE_FLAGS.join(" ")}`);
  console.log(`request: ${message.length} bytes (16 headers, URL-encoded peer certificate), framed in ${body}`);
  console.log(`load: taskset -c ${CLIENT_CPU} h2load -D ${SECONDS} -c1 -m16|-m1 -d <request> -H 'content-type: application/grpc' -H 'te: trailers' http://127.0.0.1:<port>${CHECK_METHOD_PATH}`);
  const results = new Map<string, { m1: LoadResult[]; m16: LoadResult[]; m16Steady: LoadResult[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const spec of specs) {
      const r = await measure(spec, body, dir);
      if (round === 0) console.log(`verified ${spec.name}: ${r.verified}`);
      const entry = results.get(spec.name) ?? { m1: [], m16: [], m16Steady: [] };
      entry.m1.push(r.m1);
      entry.m16.push(r.m16);
      entry.m16Steady.push(r.m16Steady);
      results.set(spec.name, entry);
    }
  }

  const best = (runs: LoadResult[]) => runs.reduce((a, b) => (b.rps > a.rps ? b : a));
  const us = (n: number) => `${Math.round(n)} µs`;
  console.log("");
  console.log("server                  | streams | req/s    | CPU/call | GC/call  | p50      | p99      | p99.9    | failed");
  for (const [name, r] of results) {
    for (const [streams, run] of [[16, best(r.m16)], [1, best(r.m1)]] as const) {
      console.log(
        `${name.padEnd(23)} | ${String(streams).padStart(7)} | ${run.rps.toFixed(0).padStart(8)} | ${us(run.cpuMicrosPerCall).padStart(8)} | ${us(run.gcMicrosPerCall).padStart(8)} | ${us(run.p50).padStart(8)} | ${us(run.p99).padStart(8)} | ${us(run.p999).padStart(8)} | ${run.failed}`,
      );
    }
  }
  const median = (runs: LoadResult[]) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor((runs.length - 1) / 2)]!;
  const floor = results.get("floor")!;
  const plainFloor = results.get(PLAIN_FLOOR)!;
  for (const [title, pickRuns] of [
    ["on a new connection", (r: { m16: LoadResult[] }) => r.m16],
    ["in the steady state (one full collection 0.3 s into the connection)", (r: { m16Steady: LoadResult[] }) => r.m16Steady],
  ] as const) {
    // Every round at 16 streams, in the order run: a round that a slow spell or a GC-heavy spell hit shows here.
    console.log("");
    console.log(`rounds at 16 streams ${title}, CPU/call (GC/call):`);
    for (const [name, r] of results) console.log(`  ${name.padEnd(23)} ${pickRuns(r).map((run) => `${us(run.cpuMicrosPerCall)} (${us(run.gcMicrosPerCall)})`).join("  ")}`);
    for (const name of ["ward (audit off)", "ward (audit to file)", "ward (audit to stdout)"]) {
      const w = results.get(name)!;
      for (const [label, pick] of [["best", best], ["median", median]] as const) {
        const f16 = pick(pickRuns(floor));
        const w16 = pick(pickRuns(w));
        // Without GC pauses too: the floor's own GC swings from run to run (about 5 to 10 µs per call) and moves the plain ratio.
        const withoutGc = (f16.cpuMicrosPerCall - f16.gcMicrosPerCall) / (w16.cpuMicrosPerCall - w16.gcMicrosPerCall);
        console.log(
          `  ${name} / floor, ${label} of ${ROUNDS}: throughput ${(w16.rps / f16.rps).toFixed(2)}, CPU per call ${(f16.cpuMicrosPerCall / w16.cpuMicrosPerCall).toFixed(2)} (floor CPU ÷ Ward CPU), without GC pauses ${withoutGc.toFixed(2)}`,
        );
      }
      const plainRatio = (pick: (runs: LoadResult[]) => LoadResult) => (pick(pickRuns(w)).rps / pick(pickRuns(plainFloor)).rps).toFixed(2);
      console.log(`  ${name} / ${PLAIN_FLOOR}, throughput: best ${plainRatio(best)}, median ${plainRatio(median)}`);
    }
  }
  await costSplit(message);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
