/**
 * Engine benchmark: decisions per second for generated policy sets of about
 * 10, 1,000 and 10,000 rules (a baseline policy plus one policy of ten rules
 * per destination service) over realistic SPIFFE IDs
 * (`spiffe://prod.example.com/ns/<ns>/sa/<sa>`) and paths (`/api/v1/<resource>/…`,
 * globs and prefixes), with a request mix of hits and misses (about half
 * allowed, the rest near misses, denials by rule, ungoverned destinations,
 * other trust domains, unauthenticated callers); the 10,000 / 1,000
 * cost-per-decision ratio; the time to parse + check (generated `.ward` text)
 * and to compile 10,000 rules.
 *
 * Destinations are drawn uniformly (every service equally often: the worst
 * case for caches) and Zipf-distributed (a few hot services, as real traffic
 * is). As a baseline in the same run, the same programs are also evaluated
 * without the index (the full walk every explanation uses). Also printed: how
 * many rule conditions a decision runs, which is the machine-independent cost.
 *
 * Times are CPU time of this process (process.cpuUsage), not wall time, and
 * the contenders run interleaved in short rounds (median and best reported),
 * because the benchmark machine is shared and its load changes during a run.
 *
 *   taskset -c 1 npm run bench:engine
 *
 * Targets (issue 2): ≥ 300,000 decisions/s at 1,000 rules on one core, ratio
 * ≤ 2, compile 10,000 rules < 1 s.
 */
import { renderDiagnostics } from "../src/diagnostics.js";
import type { CheckedPolicySet } from "../src/dsl/checked.js";
import { checkPolicySources } from "../src/dsl/index.js";
import { compile } from "../src/engine/compile.js";
import type { Decision } from "../src/engine/decision.js";
import { evaluate } from "../src/engine/evaluate.js";
import { evaluateFully } from "../src/engine/explain.js";
import type { Identity, RequestInput } from "../src/engine/input.js";
import { internalsOf } from "../src/engine/internal.js";
import type { Program } from "../src/engine/program.js";
import { conditionsRun, programStats } from "../src/engine/stats.js";
import { decideVerdict } from "../src/engine/verdict.js";

// A deterministic generator (mulberry32), so every run measures the same sets and requests.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TD = "prod.example.com";
const NAMESPACES = ["payments", "checkout", "orders", "inventory", "shipping", "billing", "identity", "search", "catalog", "fraud", "ledger", "notify"];
const RESOURCES = ["charges", "refunds", "orders", "items", "invoices", "customers", "accounts", "shipments", "carts", "tokens", "reports", "events"];

interface Service {
  readonly name: string;
  readonly id: string;
  readonly clients: readonly string[];
  readonly resources: readonly string[];
}

function spiffe(ns: string, sa: string): string {
  return `spiffe://${TD}/ns/${ns}/sa/${sa}`;
}

function makeServices(count: number, rand: () => number): Service[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  return Array.from({ length: count }, (_, k) => {
    const ns = pick(NAMESPACES);
    const name = `${ns}-svc${k}`;
    return {
      name,
      id: spiffe(ns, name),
      clients: [0, 1, 2].map((c) => spiffe(pick(NAMESPACES), `client${(k * 7 + c * 13) % Math.max(50, count)}`)),
      resources: [0, 1, 2].map((r) => `${pick(RESOURCES)}${k}-${r}`),
    };
  });
}

/** Ten rules per service, in the shapes real policies take. */
function serviceText(s: Service): string {
  const [c1, c2, c3] = s.clients as [string, string, string];
  const [r1, r2, r3] = s.resources as [string, string, string];
  return `policy "${s.name}" {
  applies when destination.spiffe_id == "${s.id}"

  allow "create ${r1}" when
    caller.spiffe_id == "${c1}" and request.method == "POST" and request.path == "/api/v1/${r1}"
  allow "read ${r1}" when
    caller.spiffe_id == "${c1}" and request.method in ["GET", "HEAD"] and request.path matches "/api/v1/${r1}/**"
  allow "update ${r2}" when
    caller.spiffe_id == "${c2}" and request.method in ["PUT", "PATCH"] and request.path matches "/api/v1/${r2}/*"
  allow "reporting reads ${r2}" when
    caller.spiffe_id matches "spiffe://${TD}/ns/*/sa/reporting" and request.method == "GET"
    and request.path starts_with "/api/v1/${r2}/reports/"
  allow "ops administers ${r3}" when
    caller.spiffe_id matches "spiffe://${TD}/ns/ops/sa/*" and request.path matches "/api/v1/${r3}/admin/**"
  deny "admin only from ops" when
    request.path matches "/api/v1/${r3}/admin/**" and not (caller.spiffe_id matches "spiffe://${TD}/ns/ops/**")
  allow "delete ${r1} with confirmation" when
    caller.spiffe_id == "${c3}" and request.method == "DELETE" and request.path matches "/api/v1/${r1}/*"
    and request.headers["x-confirm"] == "yes"
  deny "no deletes out of hours" when
    request.method == "DELETE" and (time.hour < 6 or time.hour >= 22)
  allow "health" when request.method == "GET" and request.path == "/healthz"
  allow "pci workloads charge" when
    cert.subject.organizational_unit contains "pci" and request.path starts_with "/api/v1/${r1}/charge/"
}
`;
}

const BASELINE = `policy "baseline" {
  deny "no cross-environment calls" when caller.trust_domain != "${TD}"
  deny "only mesh addresses" when not (source.ip in ["10.0.0.0/8", "fd00::/8"])
}
`;

interface Workload {
  readonly text: string;
  readonly services: readonly Service[];
}

function workload(serviceCount: number, seed: number): Workload {
  const services = makeServices(serviceCount, rng(seed));
  return { text: BASELINE + "\n" + services.map(serviceText).join("\n"), services };
}

const NOW = Date.parse("2025-06-11T14:30:00Z");

function identity(id: string, ous: readonly string[] = []): Identity {
  const rest = id.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  return {
    authenticated: true,
    spiffeId: id,
    trustDomain: rest.slice(0, slash),
    path: rest.slice(slash),
    source: "principal",
    certificate: {
      subject: { commonName: "svc", organization: ["Example"], organizationalUnit: ous },
      issuer: { commonName: "ca", organization: ["Example"] },
      san: { dns: [], uri: [id], email: [] },
      serial: "01",
      fingerprint: "ab".repeat(32),
      notBefore: NOW - 86_400_000,
      notAfter: NOW + 86_400_000,
      extensions: {},
    },
  };
}

function input(caller: Identity, dest: string, method: string, path: string, headers: Record<string, string> = {}, ip = "10.4.5.6"): RequestInput {
  return {
    caller,
    request: { method, path, query: {}, headers, host: "svc.internal", scheme: "https" },
    source: { ip, port: 40000 },
    destination: { ip: "10.0.0.1", port: 8443, spiffeId: dest },
    context: {},
    time: NOW,
  };
}

/** How requests spread over the destination services. */
type Spread = "uniform" | "zipf";

/**
 * Picks services with Zipf weights (the k-th most popular gets weight 1/k),
 * the usual model of traffic over services; the popular ones are scattered
 * over the set, not the first ones written.
 */
function zipfPicker(services: readonly Service[], rand: () => number): () => Service {
  const order = services.map((s, k) => ({ s, key: rng(k + 1)() })).sort((a, b) => a.key - b.key);
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 0; k < order.length; k++) cumulative.push((total += 1 / (k + 1)));
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return (order[lo] as { s: Service }).s;
  };
}

/** A request mix: about half hits, the rest near misses, denials and strangers. */
function requests(services: readonly Service[], count: number, seed: number, spread: Spread): RequestInput[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const service = spread === "uniform" ? () => pick(services) : zipfPicker(services, rand);
  const out: RequestInput[] = [];
  for (let n = 0; n < count; n++) {
    const s = service();
    const [c1, c2, c3] = s.clients as [string, string, string];
    const [r1, r2, r3] = s.resources as [string, string, string];
    const roll = rand();
    if (roll < 0.12) out.push(input(identity(c1), s.id, "POST", `/api/v1/${r1}`));
    else if (roll < 0.27) out.push(input(identity(c1), s.id, "GET", `/api/v1/${r1}/${Math.floor(rand() * 1e6)}`));
    else if (roll < 0.35) out.push(input(identity(c2), s.id, "PATCH", `/api/v1/${r2}/${Math.floor(rand() * 1e6)}`));
    else if (roll < 0.4) out.push(input(identity(spiffe(pick(NAMESPACES), "reporting")), s.id, "GET", `/api/v1/${r2}/reports/daily`));
    else if (roll < 0.44) out.push(input(identity(spiffe("ops", "oncall")), s.id, "POST", `/api/v1/${r3}/admin/reindex`));
    else if (roll < 0.47) out.push(input(identity(c3), s.id, "DELETE", `/api/v1/${r1}/${Math.floor(rand() * 1e6)}`, { "x-confirm": "yes" }));
    else if (roll < 0.5) out.push(input(identity(c2, ["pci"]), s.id, "POST", `/api/v1/${r1}/charge/${Math.floor(rand() * 1e6)}`));
    else if (roll < 0.53) out.push(input(identity(c2), s.id, "GET", "/healthz"));
    // misses
    else if (roll < 0.63) out.push(input(identity(c1), s.id, "DELETE", `/api/v1/${r1}`)); // wrong method
    else if (roll < 0.7) out.push(input(identity(c2), s.id, "GET", `/api/v1/${r1}/1`)); // wrong caller
    else if (roll < 0.75) out.push(input(identity(c1), s.id, "GET", `/api/v2/${r1}/1`)); // wrong path
    else if (roll < 0.8) out.push(input(identity(c1), s.id, "GET", `/api/v1/${r3}/admin/users`)); // denied: admin
    else if (roll < 0.88) out.push(input(identity(c1), spiffe("unknown", `svc${n}`), "GET", `/api/v1/${r1}/1`)); // ungoverned destination
    else if (roll < 0.94) out.push(input(identity(`spiffe://staging.example.com/ns/checkout/sa/client1`), s.id, "POST", `/api/v1/${r1}`)); // other env
    else out.push(input({ authenticated: false, unauthenticatedReason: "no_identity" }, s.id, "GET", `/api/v1/${r1}/1`, {}, "192.0.2.7"));
  }
  return out;
}

/** CPU milliseconds this process spent since `c0` (the machine is shared: waiting for a core is not our cost). */
function cpuMsSince(c0: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(c0);
  return (u.user + u.system) / 1000;
}

function check(text: string): { set: CheckedPolicySet; ms: number } {
  const c0 = process.cpuUsage();
  const r = checkPolicySources([{ file: "bench.ward", text }]);
  const ms = cpuMsSince(c0);
  if (!r.ok) throw new Error(renderDiagnostics(r.diagnostics.slice(0, 5), () => text));
  return { set: r.value, ms };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

let sink = 0;

/** Runs `decideOne` over the inputs, cycling, until `ms` of CPU time are spent; returns decisions per CPU-second. */
function runFor(decideOne: (i: RequestInput) => Decision, inputs: readonly RequestInput[], ms: number, start: number): number {
  const c0 = process.cpuUsage();
  let n = 0;
  let k = start;
  for (;;) {
    for (let j = 0; j < 500; j++) sink += decideOne(inputs[k++ % inputs.length] as RequestInput).allowed ? 1 : 0;
    n += 500;
    const spent = cpuMsSince(c0);
    if (spent >= ms) return (n / spent) * 1000;
  }
}

/** One thing to time: a decision function over its request list. */
interface Contender {
  readonly name: string;
  readonly decide: (i: RequestInput) => Decision;
  readonly inputs: readonly RequestInput[];
}

/**
 * Decisions per CPU-second for each contender: after a warm-up, many short
 * rounds in which every contender runs in turn, and the median per contender.
 * Interleaving makes the ratios robust to the load of a shared machine
 * changing during the run (every contender sees the same conditions).
 */
function race(contenders: readonly Contender[], rounds: number, roundMs: number): Map<string, { median: number; best: number }> {
  for (const c of contenders) runFor(c.decide, c.inputs, roundMs * 2, 0);
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) rates.get(c.name)?.push(runFor(c.decide, c.inputs, roundMs, r * 997));
  }
  return new Map([...rates].map(([name, xs]) => [name, { median: median(xs), best: Math.max(...xs) }]));
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Distinct requests per size. In the server each input is freshly built and hot in cache; a small pool keeps the inputs warm here too, while the program is still touched all over (every service appears). */
const INPUTS = 1024;

interface Prepared {
  readonly program: Program;
  readonly inputs: readonly RequestInput[];
  readonly zipfInputs: readonly RequestInput[];
  readonly checkMs: number;
  readonly full: (i: RequestInput) => Decision;
}

function prepare(serviceCount: number): Prepared {
  const w = workload(serviceCount, 42 + serviceCount);
  const { set, ms: checkMs } = check(w.text);
  const program = compile(set, { revision: `bench-${serviceCount}` });
  const inputs = requests(w.services, INPUTS, 7 + serviceCount, "uniform");
  const zipfInputs = requests(w.services, INPUTS, 7 + serviceCount, "zipf");
  const internals = internalsOf(program);
  // The baseline: the same decision without the index (the full walk the explain path uses).
  const full = (i: RequestInput): Decision => decideVerdict(evaluateFully(internals, i, { explain: false, auditAll: false }).findings, program.revision, false);
  // Sanity: the indexed path and the full walk agree on this request mix, and the mix has hits and misses.
  const reasons = new Map<string, number>();
  for (const i of [...inputs, ...zipfInputs]) {
    const a = evaluate(program, i);
    const b = evaluate(program, i, { explain: true });
    if (a.allowed !== b.allowed || a.reason !== b.reason || a.determining.length !== b.determining.length) throw new Error("indexed and full evaluation disagree");
    if (a.reason === "internal_error") throw new Error(`internal error: ${a.detail}`);
    reasons.set(a.reason, (reasons.get(a.reason) ?? 0) + 1);
  }
  const stats = programStats(program);
  console.log(
    `  ${fmt(program.ruleCount)} rules in ${program.policies.length} policies: ` +
      `filed by ${Object.entries(stats.rules.byAttribute)
        .map(([a, n]) => `${a} ${fmt(n)}`)
        .join(", ")}; bound to their policy ${fmt(stats.rules.boundToPolicy)}; fallback ${stats.rules.fallback}`,
  );
  console.log(`    requests: ${[...reasons].map(([r, n]) => `${r} ${((n / (2 * INPUTS)) * 100).toFixed(0)}%`).join(", ")}`);
  return { program, inputs, zipfInputs, checkMs, full };
}

function main(): void {
  console.log(`ward engine benchmark (node ${process.version}; CPU time of one thread)\n`);
  const small = prepare(1);
  const mid = prepare(100);
  const big = prepare(1000);
  const sizes: [string, Prepared][] = [
    ["small", small],
    ["mid", mid],
    ["big", big],
  ];
  const ROUNDS = 21;
  const indexed = race(
    sizes.flatMap(([name, p]): Contender[] => [
      { name, decide: (i) => evaluate(p.program, i), inputs: p.inputs },
      { name: `${name}-zipf`, decide: (i) => evaluate(p.program, i), inputs: p.zipfInputs },
    ]),
    ROUNDS,
    100,
  );
  // The baseline apart, so its large memory traffic does not disturb the indexed rounds.
  const baseline = race(
    [
      { name: "small", decide: small.full, inputs: small.inputs },
      { name: "mid", decide: mid.full, inputs: mid.inputs },
    ],
    7,
    100,
  );
  const r = (name: string, which: "median" | "best" = "median"): number => indexed.get(name)?.[which] ?? NaN;
  const b = (name: string): number => baseline.get(name)?.median ?? NaN;
  const work = (p: Prepared): string => {
    const runs = p.inputs.reduce((n, i) => n + conditionsRun(p.program, i), 0) / p.inputs.length;
    return runs.toFixed(1);
  };

  // Compile time for the largest set: the median of several runs (parse + check is slow to repeat: once more).
  const w = workload(1000, 42 + 1000);
  const checked = check(w.text);
  const compileTimes: number[] = [];
  for (let k = 0; k < 7; k++) {
    const c0 = process.cpuUsage();
    const p = compile(checked.set, { revision: `r${k}` });
    compileTimes.push(cpuMsSince(c0));
    sink += p.ruleCount;
  }
  const ruleCount = big.program.ruleCount;
  const col = (n: number): string => fmt(n).padStart(9);

  console.log(`\ndecisions/s, indexed (median and best of ${ROUNDS} interleaved rounds; destinations uniform, then Zipf-distributed)`);
  console.log(`   rules     uniform     (best)       zipf     (best)   rule conditions run per decision`);
  for (const [name, p] of sizes) {
    console.log(
      `  ${fmt(p.program.ruleCount).padStart(6)} ${col(r(name))}  ${col(r(name, "best"))}  ${col(r(`${name}-zipf`))}  ${col(r(`${name}-zipf`, "best"))}   ${work(p)}`,
    );
  }
  console.log(`  without the index (full walk, uniform): ${fmt(b("small"))}/s at ${fmt(small.program.ruleCount)} rules, ${fmt(b("mid"))}/s at ${fmt(mid.program.ruleCount)} rules (index: ${(r("mid") / b("mid")).toFixed(1)}× faster)`);
  console.log("");
  console.log(`  ${fmt(mid.program.ruleCount)} rules: ${fmt(r("mid"))} decisions/s (uniform, median)   target ≥ 300,000`);
  console.log(
    `  cost per decision, ${fmt(ruleCount)} vs ${fmt(mid.program.ruleCount)} rules: ${(r("mid") / r("big")).toFixed(2)}× uniform ` +
      `(${(r("mid", "best") / r("big", "best")).toFixed(2)}× best), ${(r("mid-zipf") / r("big-zipf")).toFixed(2)}× zipf   target ≤ 2`,
  );
  console.log(`  compile ${fmt(ruleCount)} rules: ${median(compileTimes).toFixed(0)} ms (median of 7)   target < 1,000 ms`);
  console.log(`  parse + check ${fmt(ruleCount)} rules (${(w.text.length / 1e6).toFixed(1)} MB of .ward): ${Math.min(checked.ms, big.checkMs).toFixed(0)} ms (best of 2)`);
  if (sink === 42) console.log("");
}

main();
