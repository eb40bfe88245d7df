/**
 * Ward's Prometheus metrics: one prom-client registry per server, with the
 * decision counters, the decision latency histogram, policy reload counters,
 * the loaded revision as an info metric, certificate cache statistics and the
 * process metrics. `GET /metrics` renders it; the gRPC server and `/v1/check`
 * record decisions into it; `main.ts` binds the policy store and the identity
 * resolver's cache statistics to it.
 *
 * Recording a decision is on the hot path of every Check call, so it only
 * bumps numbers in preallocated arrays (no label hashing, no allocation);
 * prom-client's metric objects are filled from those arrays when the registry
 * is scraped (their `collect` callbacks). Naming follows
 * https://prometheus.io/docs/practices/naming/ (`ward_` prefix, base units,
 * `_total` for counters); label values are bounded: enums, and policy names
 * (capped), never rule names, callers or paths.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuditSinkStats } from "./audit/sink.js";
import type { Decision, DecisionReason } from "./engine/decision.js";
import type { IdentityCacheStats } from "./identity/resolve.js";
import { OPERATIONAL_LOG_MAX_PENDING_BYTES, type OperationalLogStats } from "./operational-log.js";
import type { PolicyCompilerStats } from "./policy-compiler.js";
import type { PolicySnapshot, PolicyStore, ReloadOutcome } from "./policy-store.js";

/** Which front end decided: Envoy over gRPC, or `POST /v1/check`. */
export type DecisionApi = "grpc" | "http";


/** The metrics Ward records, and the registry `GET /metrics` renders. */
export interface WardMetrics {
  /** The registry behind `/metrics` (other components may register their own metrics in it). */
  readonly registry: Registry;
  /**
   * Counts one decision and its latency (seconds, from the start of the
   * request's handling to the decision). Cheap: a few array increments.
   */
  recordDecision(api: DecisionApi, decision: Decision, seconds: number): void;
  /** Compares a live decision with the shadow program's decision for the same request. */
  recordShadow(live: Decision, shadow: Decision): void;
  /** Counts a reload attempt and updates the loaded-set gauges from `current`. */
  recordReload(outcome: ReloadOutcome, current: PolicySnapshot | undefined): void;
  /** Sets the loaded-set gauges from `store` now and after every reload it makes. */
  observePolicyStore(store: Pick<PolicyStore, "current" | "onReload" | "status">): void;
  /** The exposition text and its content type, for `GET /metrics`. */
  render(): Promise<{ readonly contentType: string; readonly text: string }>;
}

/** Options for `createMetrics`. */
export interface MetricsOptions {
  /** The identity resolver's certificate cache counters (`resolver.stats()`), read at scrape time. */
  readonly certificateCache?: () => IdentityCacheStats | undefined;
  /** The audit sink's counters (`sink.stats()`), read at scrape time; none when records are off. */
  readonly auditSink?: () => AuditSinkStats | undefined;
  /** The operational log's counters (`destination.stats()`), read at scrape time. */
  readonly operationalLog?: () => OperationalLogStats | undefined;
  /** The policy compiler's counters (`compiler.stats()`), read at scrape time. */
  readonly policyCompiler?: () => PolicyCompilerStats | undefined;
  /** The gRPC server's HTTP/2 stream table renewal (`server.streamTableRenewal()`), read at scrape time. */
  readonly streamTableRenewal?: () => { readonly supported: boolean | undefined; readonly renewals: number } | undefined;
  /** Register prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). Default true. */
  readonly processMetrics?: boolean;
  /** Most distinct policy names kept as label values; later names are counted under `_other`. Default 500. */
  readonly maxPolicyLabels?: number;
}

/**
 * Upper bounds (seconds) of the decision latency buckets: an in-process
 * decision takes tens of microseconds; certificate parsing and very large
 * policy sets reach milliseconds; anything near 100 ms is a problem to see.
 */
export const DECISION_LATENCY_BUCKETS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
];

/** The label value that collects policies beyond `maxPolicyLabels`. */
export const OVERFLOW_POLICY_LABEL = "_other";

const APIS: readonly DecisionApi[] = ["grpc", "http"];
const OUTCOMES = ["allow", "deny"] as const;
const MODES = ["enforce", "audit"] as const;
const EFFECTS = ["allow", "deny"] as const;

// Every reason gets an index; `satisfies` makes adding a reason to the union a compile error here.
const REASON_INDEX = {
  allowed: 0,
  denied_by_rule: 1,
  no_matching_allow: 2,
  no_applicable_policy: 3,
  malformed_path: 4,
  malformed_request: 5,
  request_too_large: 6,
  unauthenticated: 7,
  no_policies_loaded: 8,
  overloaded: 9,
  timeout: 10,
  internal_error: 11,
  audit_unavailable: 12,
} as const satisfies Record<DecisionReason, number>;
const REASONS = Object.keys(REASON_INDEX) as DecisionReason[];
const R = REASONS.length;

/** Creates the registry and Ward's metrics in it. No global state: each call has its own registry. */
export function createMetrics(options: MetricsOptions = {}): WardMetrics {
  const registry = new Registry();
  const maxPolicyLabels = options.maxPolicyLabels ?? 500;

  // --- hot-path accumulators -------------------------------------------------
  // decisions[api][outcome][allowed][mode][reason], flattened.
  const decisions = new Float64Array(APIS.length * 2 * 2 * 2 * R);
  const wouldDeny = new Float64Array(R);
  // policy name → [effect][mode] counts.
  const perPolicy = new Map<string, Float64Array>();
  const buckets = DECISION_LATENCY_BUCKETS;
  const B = buckets.length;
  // Non-cumulative bucket counts per api; slot B is +Inf.
  const latencyCounts = new Float64Array(APIS.length * (B + 1));
  const latencySums = new Float64Array(APIS.length);
  const latencyTotals = new Float64Array(APIS.length);
  const shadowTotals = new Float64Array(1);
  // [live allowed][shadow allowed]
  const shadowCells = new Float64Array(4);

  function policyCells(name: string): Float64Array {
    let cells = perPolicy.get(name);
    if (cells === undefined) {
      const key = perPolicy.size < maxPolicyLabels ? name : OVERFLOW_POLICY_LABEL;
      cells = perPolicy.get(key);
      if (cells === undefined) {
        cells = new Float64Array(4);
        perPolicy.set(key, cells);
      }
    }
    return cells;
  }

  // --- prom-client metrics, filled at scrape time ----------------------------
  new Counter({
    name: "ward_decisions_total",
    help: "Decisions made, by front end, policy verdict (outcome), answer (allowed), whether it was enforced (mode) and reason.",
    labelNames: ["api", "outcome", "allowed", "mode", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (let i = 0; i < decisions.length; i++) {
        const value = decisions[i] ?? 0;
        if (value === 0) continue;
        const reason = i % R;
        let rest = (i - reason) / R;
        const mode = rest % 2;
        rest = (rest - mode) / 2;
        const allowed = rest % 2;
        rest = (rest - allowed) / 2;
        const outcome = rest % 2;
        const api = (rest - outcome) / 2;
        this.inc(
          {
            api: APIS[api] ?? "grpc",
            outcome: OUTCOMES[outcome] ?? "deny",
            allowed: allowed === 1 ? "true" : "false",
            mode: MODES[mode] ?? "enforce",
            reason: REASONS[reason] ?? "internal_error",
          },
          value,
        );
      }
    },
  });

  new Counter({
    name: "ward_policy_decisions_total",
    help: "Decisions determined by a policy's rules, by the rules' effect and the policy's mode (a decision determined by rules of several policies counts once for each).",
    labelNames: ["policy", "effect", "mode"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [policy, cells] of perPolicy) {
        for (let i = 0; i < 4; i++) {
          const value = cells[i] ?? 0;
          if (value === 0) continue;
          this.inc({ policy, effect: EFFECTS[i >> 1] ?? "deny", mode: MODES[i & 1] ?? "enforce" }, value);
        }
      }
    },
  });

  new Counter({
    name: "ward_would_deny_total",
    help: "Requests the policies denied but audit mode let through, by reason.",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (let i = 0; i < R; i++) {
        const value = wouldDeny[i] ?? 0;
        if (value !== 0) this.inc({ reason: REASONS[i] ?? "internal_error" }, value);
      }
    },
  });

  const latency = new PrecomputedHistogram({
    name: "ward_decision_duration_seconds",
    help: "Time to decide one request (identity, input and evaluation), by front end.",
    labelNames: ["api"],
    buckets: [...buckets],
    registers: [registry],
  });
  latency.source = () =>
    APIS.map((api, a) => ({
      labels: { api },
      counts: latencyCounts.subarray(a * (B + 1), (a + 1) * (B + 1)),
      sum: latencySums[a] ?? 0,
      count: latencyTotals[a] ?? 0,
    }));

  new Counter({
    name: "ward_shadow_decisions_total",
    help: "Requests decided by the shadow policy set as well as the live one.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(shadowTotals[0] ?? 0);
    },
  });

  new Counter({
    name: "ward_shadow_disagreements_total",
    help: "Requests on which the shadow policy set's verdict (before audit mode) differed from the live one's, by each verdict.",
    labelNames: ["live", "shadow"],
    registers: [registry],
    collect() {
      this.reset();
      // Only the two disagreeing cells exist; both are always exported so rate() works from the first one.
      this.inc({ live: "allow", shadow: "deny" }, shadowCells[2] ?? 0);
      this.inc({ live: "deny", shadow: "allow" }, shadowCells[1] ?? 0);
    },
  });

  const cacheStats = options.certificateCache;
  new Counter({
    name: "ward_certificate_cache_hits_total",
    help: "Certificate lookups answered from the parsed-certificate cache.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(finite(cacheStats?.()?.hits));
    },
  });
  new Counter({
    name: "ward_certificate_cache_misses_total",
    help: "Certificate lookups that had to parse the certificate.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(finite(cacheStats?.()?.misses));
    },
  });
  new Gauge({
    name: "ward_certificate_cache_entries",
    help: "Certificates held in the caches (parsed ones and remembered parse failures).",
    registers: [registry],
    collect() {
      this.set(finite(cacheStats?.()?.entries));
    },
  });
  new Gauge({
    name: "ward_certificate_cache_bytes",
    help: "Estimated memory held by the certificate caches.",
    registers: [registry],
    collect() {
      this.set(finite(cacheStats?.()?.bytes));
    },
  });

  const auditStats = options.auditSink;
  new Counter({
    name: "ward_audit_records_total",
    help: "Decision and shadow records by what became of them: written (handed to the audit log), dropped (the audit log's destination had fallen behind by --audit-max-pending-bytes), sampled_out (--audit-sample-allowed).",
    labelNames: ["result"],
    registers: [registry],
    collect() {
      this.reset();
      const stats = auditStats?.();
      this.inc({ result: "written" }, finite(stats?.written));
      this.inc({ result: "dropped" }, finite(stats?.dropped));
      this.inc({ result: "sampled_out" }, finite(stats?.sampledOut));
    },
  });
  new Counter({
    name: "ward_audit_write_errors_total",
    help: "Writes to the audit log that failed.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(finite(auditStats?.()?.errors));
    },
  });
  new Gauge({
    name: "ward_audit_pending_bytes",
    help: "Record bytes handed to the audit log's destination and not yet written (records are dropped past --audit-max-pending-bytes).",
    registers: [registry],
    collect() {
      this.set(finite(auditStats?.()?.pendingBytes));
    },
  });

  const logStats = options.operationalLog;
  new Counter({
    name: "ward_log_lines_dropped_total",
    help: `Operational log lines dropped because stderr's reader (a pipe or socket) had fallen behind by more than ${OPERATIONAL_LOG_MAX_PENDING_BYTES / (1024 * 1024)} MiB, or had gone.`,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(finite(logStats?.()?.droppedLines));
    },
  });

  const renewalStats = options.streamTableRenewal;
  new Counter({
    name: "ward_http2_stream_table_renewals_total",
    help: "HTTP/2 connections' stream tables given a fresh Map after a full garbage collection (--stream-table-renewal; docs/serve.md, \"A long-lived connection\").",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(finite(renewalStats?.()?.renewals));
    },
  });

  const compilerStats = options.policyCompiler;
  new Counter({
    name: "ward_policy_checks_total",
    help: "Policy sets parsed and checked, by thread: checker (the checker thread: reloads of a large set once Ward listens) or main (the startup load, small sets, and reloads the checker thread could not take).",
    labelNames: ["thread"],
    registers: [registry],
    collect() {
      this.reset();
      const stats = compilerStats?.();
      this.inc({ thread: "checker" }, finite(stats?.checkedOnWorker));
      this.inc({ thread: "main" }, finite(stats?.checkedOnMainThread));
    },
  });

  // --- policy set (not on the hot path: plain prom-client calls) -------------
  const reloads = new Counter({
    name: "ward_policy_reloads_total",
    help: "Policy reload attempts by result: success (a new revision was swapped in), unchanged (same revision), failure (rejected; the last good set keeps serving).",
    labelNames: ["result"],
    registers: [registry],
  });
  for (const result of ["success", "unchanged", "failure"]) reloads.inc({ result }, 0);
  const lastReloadOk = new Gauge({
    name: "ward_policy_last_reload_successful",
    help: "1 when the last policy reload attempt succeeded, 0 when it was rejected.",
    registers: [registry],
  });
  const lastReloadAt = new Gauge({
    name: "ward_policy_last_reload_timestamp_seconds",
    help: "When the last policy reload attempt finished (Unix time).",
    registers: [registry],
  });
  const loadedAt = new Gauge({
    name: "ward_policy_loaded_timestamp_seconds",
    help: "When the serving policy set was swapped in (Unix time); 0 when none is loaded.",
    registers: [registry],
  });
  const info = new Gauge({
    name: "ward_policy_info",
    help: "The serving policy set's revision (content hash) as a label; `none` when no set is loaded.",
    labelNames: ["revision"],
    registers: [registry],
  });
  const policyCount = new Gauge({
    name: "ward_policies",
    help: "Policies in the serving set.",
    registers: [registry],
  });
  const ruleCount = new Gauge({
    name: "ward_policy_rules",
    help: "Rules in the serving set.",
    registers: [registry],
  });

  function setLoaded(current: PolicySnapshot | undefined): void {
    info.reset();
    info.set({ revision: current?.revision ?? "none" }, 1);
    loadedAt.set(current ? current.loadedAt / 1000 : 0);
    policyCount.set(current ? current.program.policies.length : 0);
    ruleCount.set(current ? current.program.ruleCount : 0);
  }
  setLoaded(undefined);

  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  function recordReload(outcome: ReloadOutcome, current: PolicySnapshot | undefined, at = Date.now()): void {
    reloads.inc({ result: !outcome.ok ? "failure" : outcome.changed ? "success" : "unchanged" });
    lastReloadOk.set(outcome.ok ? 1 : 0);
    lastReloadAt.set(at / 1000);
    setLoaded(current);
  }

  return {
    registry,
    recordDecision(api, decision, seconds) {
      const a = api === "http" ? 1 : 0;
      const outcome = decision.outcome === "allow" ? 0 : 1;
      const allowed = decision.allowed ? 1 : 0;
      const mode = decision.enforced ? 0 : 1;
      const reason = REASON_INDEX[decision.reason] ?? REASON_INDEX.internal_error;
      decisions[(((a * 2 + outcome) * 2 + allowed) * 2 + mode) * R + reason]! += 1;
      if (outcome === 1 && allowed === 1) wouldDeny[reason]! += 1;

      const rules = decision.determining;
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        let seen = false;
        // A policy counts once per decision even when several of its rules matched (few rules: a scan beats a Set).
        for (let j = 0; j < i && !seen; j++) {
          const prior = rules[j]!;
          seen = prior.policy === rule.policy && prior.effect === rule.effect && prior.mode === rule.mode;
        }
        if (!seen) policyCells(rule.policy)[(rule.effect === "allow" ? 0 : 2) + (rule.mode === "enforce" ? 0 : 1)]! += 1;
      }

      // Latency: most decisions fall in the first buckets, so a linear scan ends early.
      let b = 0;
      while (b < B && seconds > buckets[b]!) b++;
      latencyCounts[a * (B + 1) + b]! += 1;
      latencySums[a]! += seconds;
      latencyTotals[a]! += 1;
    },
    recordShadow(live, shadow) {
      shadowTotals[0]! += 1;
      // Compare the policies' verdicts, as shadow records do: under `--mode audit` every answer is "allow",
      // and the disagreements a rollout needs to see would never be counted.
      const liveAllows = live.outcome === "allow";
      const shadowAllows = shadow.outcome === "allow";
      if (liveAllows !== shadowAllows) shadowCells[(liveAllows ? 2 : 0) + (shadowAllows ? 1 : 0)]! += 1;
    },
    recordReload: (outcome, current) => recordReload(outcome, current),
    observePolicyStore(store) {
      // A reload made before the store was observed (the startup load) still counts.
      const last = store.status().lastReload;
      if (last) recordReload(last, store.current(), last.at);
      else setLoaded(store.current());
      store.onReload((outcome) => recordReload(outcome, store.current()));
    },
    async render() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}

function finite(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** One labelled series of a histogram kept outside prom-client: non-cumulative bucket counts (last slot +Inf). */
interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

type HistogramValue = { value: number; labels: Record<string, string | number>; metricName: string };

/**
 * A prom-client `Histogram` whose samples come from counts kept elsewhere
 * (`source`), so observing costs one array increment instead of a label hash.
 * It overrides only the two read methods the registry calls; `observe` is unused.
 */
class PrecomputedHistogram extends Histogram<string> {
  source: () => readonly HistogramSeries[] = () => [];
  readonly #meta: { name: string; help: string; buckets: readonly number[] };

  constructor(config: { name: string; help: string; labelNames: string[]; buckets: number[]; registers: Registry[] }) {
    super(config);
    this.#meta = { name: config.name, help: config.help, buckets: config.buckets };
  }

  /** What the registry renders (prom-client calls this before `get`). */
  async getForPromString(): Promise<{ name: string; help: string; type: "histogram"; values: HistogramValue[]; aggregator: "sum" }> {
    const { name, help, buckets } = this.#meta;
    const values: HistogramValue[] = [];
    for (const series of this.source()) {
      let cumulative = 0;
      for (let b = 0; b <= buckets.length; b++) {
        cumulative += series.counts[b] ?? 0;
        const le = b < buckets.length ? buckets[b]! : "+Inf";
        values.push({ value: cumulative, labels: { ...series.labels, le }, metricName: `${name}_bucket` });
      }
      values.push({ value: series.sum, labels: { ...series.labels }, metricName: `${name}_sum` });
      values.push({ value: series.count, labels: { ...series.labels }, metricName: `${name}_count` });
    }
    return { name, help, type: "histogram", values, aggregator: "sum" };
  }

  /** The same samples for `registry.getMetricsAsJSON()`. */
  override async get(): Promise<Awaited<ReturnType<Histogram<string>["get"]>>> {
    const data = await this.getForPromString();
    // prom-client's typings declare `type` as a numeric enum while its runtime uses the string names.
    return { ...data, collect: () => undefined } as unknown as Awaited<ReturnType<Histogram<string>["get"]>>;
  }
}
