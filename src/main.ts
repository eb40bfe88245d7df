#!/usr/bin/env node
/**
 * The `ward` binary and Ward's composition root. `ward serve` is run here:
 * config → operational logger → policy store → identity resolver and input
 * builder → audit sink, metrics → gRPC ext_authz server (+ health) and HTTP
 * server → one ready line → graceful close on SIGTERM/SIGINT. Every other
 * subcommand goes to the CLI (`runCli`). Nothing imports this module.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import type { AuditMode } from "./audit/record.js";
import type { ShadowEvaluator } from "./audit/shadow.js";
import type { AuditSink } from "./audit/sink.js";
import { loadServeConfig, serveUsage } from "./config.js";
import { applyHeapGrowth } from "./heap-growth.js";
import type { DecisionDeps } from "./decide.js";
import type { ExtAuthzServer, TlsMaterial } from "./ext-authz/server.js";
import type { DecisionEvent } from "./ext-authz/service.js";
import type { OperationalLogDestination } from "./operational-log.js";
import type { RunningHttpServer } from "./http/server.js";
import type { PolicyStore } from "./policy-store.js";

/**
 * The modules `ward serve` needs, loaded only when serving: the CLI commands
 * start without paying for grpc-js, fastify, pino and the Envoy protos.
 */
async function loadServeModules() {
  const [pinoModule, record, sink, gate, shadow, diagnostics, protos, checkRequest, checkResponse, decisionId, overload, server, service, httpApp, httpServer, identity, input, metrics, policyStore, policyCompiler, operationalLog] =
    await Promise.all([
      import("pino"),
      import("./audit/record.js"),
      import("./audit/sink.js"),
      import("./audit/gate.js"),
      import("./audit/shadow.js"),
      import("./diagnostics.js"),
      import("./ext-authz/protos.js"),
      import("./ext-authz/check-request.js"),
      import("./ext-authz/check-response.js"),
      import("./ext-authz/decision-id.js"),
      import("./ext-authz/overload.js"),
      import("./ext-authz/server.js"),
      import("./ext-authz/service.js"),
      import("./http/app.js"),
      import("./http/server.js"),
      import("./identity/resolve.js"),
      import("./input/build.js"),
      import("./metrics.js"),
      import("./policy-store.js"),
      import("./policy-compiler.js"),
      import("./operational-log.js"),
    ]);
  return {
    pino: pinoModule.pino,
    DEFAULT_REDACTED_HEADERS: record.DEFAULT_REDACTED_HEADERS,
    createAuditSink: sink.createAuditSink,
    createAuditGate: gate.createAuditGate,
    createShadowEvaluator: shadow.createShadowEvaluator,
    renderDiagnostics: diagnostics.renderDiagnostics,
    AUTHORIZATION_SERVICE: protos.AUTHORIZATION_SERVICE,
    loadAuthorizationProtos: protos.loadAuthorizationProtos,
    verifyWireLayout: protos.verifyWireLayout,
    CHECK_REQUEST_LAYOUT: checkRequest.CHECK_REQUEST_LAYOUT,
    CHECK_RESPONSE_LAYOUT: checkResponse.CHECK_RESPONSE_LAYOUT,
    DEFAULT_DECISION_ID_HEADER: checkResponse.DEFAULT_DECISION_ID_HEADER,
    createDecisionIdSource: decisionId.createDecisionIdSource,
    createLoopDelayMonitor: overload.createLoopDelayMonitor,
    createExtAuthzServer: server.createExtAuthzServer,
    createCheckService: service.createCheckService,
    createHttpApp: httpApp.createHttpApp,
    startHttpServer: httpServer.startHttpServer,
    createIdentityResolver: identity.createIdentityResolver,
    createInputBuilder: input.createInputBuilder,
    createMetrics: metrics.createMetrics,
    createPolicyStore: policyStore.createPolicyStore,
    createPolicyCompiler: policyCompiler.createPolicyCompiler,
    createOperationalLogDestination: operationalLog.createOperationalLogDestination,
  };
}

/** How often health looks at whether the audit log takes records (under `--audit-backlog-full deny`). */
const SERVING_CHECK_MS = 1000;

/** Exit codes shared with the CLI: 0 ok, 1 a runtime failure (policies, listeners), 2 usage or setup errors. */
const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/** The transport limit is this many times `--max-message-bytes`, so oversized messages still get Ward's own deny. */
const TRANSPORT_LIMIT_FACTOR = 2;

/**
 * Catches `signals` from now on and only remembers them. Until `ward serve`
 * is up, SIGHUP (reload) and SIGUSR2 (reopen the audit log) have nothing to
 * act on yet, and Node's default for them ends the process: a config tool or
 * logrotate signalling during a restart would kill the server.
 */
function holdSignals(signals: readonly NodeJS.Signals[]): { readonly received: ReadonlySet<NodeJS.Signals>; release(): void } {
  const received = new Set<NodeJS.Signals>();
  const handlers = signals.map((signal) => {
    const remember = () => void received.add(signal);
    process.on(signal, remember);
    return { signal, remember };
  });
  return {
    received,
    release: () => {
      for (const { signal, remember } of handlers) process.off(signal, remember);
    },
  };
}

/** Most time the operational log gets at exit to write what waits for a slow stderr reader. */
const EXIT_LOG_DRAIN_MS = 2000;

/** Runs `ward serve`; resolves with the exit code once the server has stopped (or failed to start). */
async function serve(argv: readonly string[]): Promise<number> {
  const held = holdSignals(["SIGHUP", "SIGUSR2"]);
  const logs: { destination?: OperationalLogDestination } = {};
  try {
    return await serveHolding(argv, held, logs);
  } finally {
    held.release();
    // The process exits right after: lines still waiting for stderr's reader would be lost.
    await logs.destination?.drain(EXIT_LOG_DRAIN_MS);
  }
}

async function serveHolding(argv: readonly string[], held: ReturnType<typeof holdSignals>, logs: { destination?: OperationalLogDestination }): Promise<number> {
  const parsed = loadServeConfig(argv);
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(`${serveUsage()}\n`);
      return EXIT_OK;
    }
    process.stderr.write(parsed.errors.map((e) => `ward serve: error: ${e}\n`).join("") + "run `ward serve --help` for the flags\n");
    return EXIT_USAGE;
  }
  const config = parsed.config;
  // Before the policies load: it sets the limit of the first full collection after them.
  const heapGrowingPercent = applyHeapGrowth(config.heapGrowingPercent);
  const {
    pino,
    DEFAULT_REDACTED_HEADERS,
    createAuditSink,
    createAuditGate,
    createShadowEvaluator,
    renderDiagnostics,
    AUTHORIZATION_SERVICE,
    loadAuthorizationProtos,
    verifyWireLayout,
    CHECK_REQUEST_LAYOUT,
    CHECK_RESPONSE_LAYOUT,
    DEFAULT_DECISION_ID_HEADER,
    createDecisionIdSource,
    createLoopDelayMonitor,
    createExtAuthzServer,
    createCheckService,
    createHttpApp,
    startHttpServer,
    createIdentityResolver,
    createInputBuilder,
    createMetrics,
    createPolicyStore,
    createPolicyCompiler,
    createOperationalLogDestination,
  } = await loadServeModules();
  // stderr: synchronous for a file or terminal; bounded and never blocking for a pipe (src/operational-log.ts).
  const operationalLog = createOperationalLogDestination({
    onRecovered: (dropped) =>
      log.warn({ dropped_lines: dropped.lines, dropped_bytes: dropped.bytes }, "operational log lines dropped: stderr's reader fell behind"),
  });
  logs.destination = operationalLog;
  const log: Logger = pino({ level: config.logLevel, base: { service: "ward" } }, operationalLog);

  // The hand-written codecs must agree with the official protos before anything is served.
  loadAuthorizationProtos();
  const layoutProblems = verifyWireLayout([...CHECK_REQUEST_LAYOUT, ...CHECK_RESPONSE_LAYOUT]);
  if (layoutProblems.length > 0) {
    log.fatal({ problems: layoutProblems }, "the Check codecs disagree with the Envoy protos");
    return EXIT_FAILURE;
  }

  // Identity and input: configuration problems are setup errors.
  let trustBundle: string | undefined;
  let tls: TlsMaterial | undefined;
  try {
    if (config.trustBundle !== undefined) trustBundle = await readFile(config.trustBundle, "utf8");
    if (config.tls) {
      const [cert, key, clientCa] = await Promise.all([
        readFile(config.tls.certFile),
        readFile(config.tls.keyFile),
        config.tls.clientCaFile !== undefined ? readFile(config.tls.clientCaFile) : Promise.resolve(undefined),
      ]);
      tls = clientCa ? { cert, key, clientCa } : { cert, key };
    }
  } catch (err) {
    process.stderr.write(`ward serve: error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_USAGE;
  }
  const resolver = createIdentityResolver({
    sources: config.identitySources,
    ...(config.xfccTrustedBy.length > 0 ? { xfcc: { trustedProxies: config.xfccTrustedBy, proxyMayCallAsItself: config.xfccProxyMayCallAsItself } } : {}),
    ...(trustBundle !== undefined ? { trustBundle } : {}),
    certificateChecks: config.certificateChecks,
  });
  if (resolver.diagnostics.some((d) => d.severity === "error")) {
    process.stderr.write(`ward serve: identity configuration:\n${renderDiagnostics(resolver.diagnostics)}\n`);
    return EXIT_USAGE;
  }
  const inputBuilder = createInputBuilder({ maxHeaders: config.maxHeaders, maxHeaderBytes: config.maxHeaderBytes, maxBodyBytes: config.maxBodyBytes });
  const deps: DecisionDeps = { resolver, inputBuilder };

  // Policies: the first load must succeed, so a typo never starts a server that denies everything.
  // Once Ward listens, large sets are checked on a worker thread and compiled in slices, so a reload
  // does not stop decisions for long (src/policy-compiler.ts). Before, nothing waits: loading in one
  // piece is quicker and spares starting the thread.
  const compiler = createPolicyCompiler({
    ...(config.policyCheckThread === "auto" ? {} : { threadMinBytes: config.policyCheckThread === "always" ? 0 : Number.POSITIVE_INFINITY }),
    onWorkerUnavailable: (err) => log.warn({ err }, "policy set checked on the main thread: the checker thread cannot start"),
  });
  let listening = false;
  const compile = (sources: Parameters<typeof compiler.compile>[0]) => (listening ? compiler.compile(sources) : compiler.compileInOnePiece(sources));
  const store = createPolicyStore({ paths: config.policies, watch: true, logger: log, compile });
  const first = await store.reload("startup");
  if (!first.ok) {
    const source = (file: string) => first.sources.get(file);
    process.stderr.write(`ward serve: the policies do not load:\n${renderDiagnostics(first.diagnostics, source)}\n`);
    store.close();
    await compiler.close();
    return EXIT_FAILURE;
  }

  // Audit records, metrics.
  const mode: AuditMode = config.mode;
  const auditAll = config.mode === "audit";
  let sink: AuditSink | undefined;
  if (config.audit.destination.kind !== "off") {
    const created = createAuditSink({
      destination: config.audit.destination.kind === "stdout" ? "stdout" : { file: config.audit.destination.path },
      sampleAllowed: config.audit.sampleAllowed,
      minLength: config.audit.bufferBytes,
      maxPendingBytes: config.audit.maxPendingBytes,
      backlogFull: config.audit.backlogFull,
      onError: (err) => log.error({ err }, "audit log write failed"),
      onDropped: (report) =>
        log.error(
          { dropped_records: report.records, dropped_bytes: report.bytes, pending_bytes: report.pendingBytes, max_pending_bytes: report.maxPendingBytes },
          "audit records dropped: the audit log destination is not keeping up",
        ),
    });
    if (!created.ok) {
      process.stderr.write(`ward serve: the audit log cannot be used:\n${renderDiagnostics(created.diagnostics)}\n`);
      store.close();
      return EXIT_FAILURE;
    }
    sink = created.value;
  }
  // config refuses `deny` without a sink.
  const auditGate = config.audit.backlogFull === "deny" && sink ? createAuditGate(sink, log) : undefined;
  const redactHeaders = new Set([...DEFAULT_REDACTED_HEADERS, ...config.audit.redact]);
  const includeInput = config.audit.input === "full";
  const grpcTransport: { renewalStats?: ExtAuthzServer["streamTableRenewal"] } = {};
  const metrics = createMetrics({
    certificateCache: () => resolver.stats(),
    auditSink: () => sink?.stats(),
    operationalLog: () => operationalLog.stats(),
    policyCompiler: () => compiler.stats(),
    // The gRPC server is created below; until then there is nothing to count.
    streamTableRenewal: () => grpcTransport.renewalStats?.(),
  });
  metrics.observePolicyStore(store);

  // Shadow policies: a candidate set with its own store, decided after each answer, off the hot path.
  let shadowStore: PolicyStore | undefined;
  let shadow: ShadowEvaluator | undefined;
  if (config.shadow.length > 0) {
    shadowStore = createPolicyStore({ paths: config.shadow, watch: true, logger: log.child({ policies: "shadow" }), compile });
    const loaded = await shadowStore.reload("startup");
    if (!loaded.ok) {
      const source = (file: string) => loaded.sources.get(file);
      process.stderr.write(`ward serve: the shadow policies do not load:\n${renderDiagnostics(loaded.diagnostics, source)}\n`);
      await closeAll([store, shadowStore, compiler], sink, undefined, undefined);
      return EXIT_FAILURE;
    }
    const candidate = shadowStore;
    shadow = createShadowEvaluator({
      candidate: () => candidate.current()?.program,
      deps,
      sink: sink ?? { write: () => undefined },
      mode,
      includeInput,
      redactHeaders,
      onCompared: (live, candidateDecision) => metrics.recordShadow(live, candidateDecision),
      onError: (err) => log.warn({ err }, "shadow evaluation failed"),
    });
  }

  // After every answer (never on the hot path): metrics, the audit record, the shadow evaluation.
  function onDecision(event: DecisionEvent): void {
    metrics.recordDecision("grpc", event.outcome.decision, event.decisionMicros / 1e6);
    sink?.writeDecision(event.outcome, {
      decisionId: event.decisionId,
      time: event.time,
      mode,
      micros: event.decisionMicros,
      ...(event.raw !== undefined ? { raw: event.raw } : {}),
      includeInput,
      redactHeaders,
    });
    if (shadow && event.raw !== undefined) shadow.submit({ live: event.outcome, raw: event.raw, decisionId: event.decisionId, time: event.time });
  }

  const ids = createDecisionIdSource();
  const overload = createLoopDelayMonitor({ thresholdMs: config.decisionTimeoutMs });
  const service = createCheckService({
    policies: store,
    deps,
    answer: {
      callerHeader: config.callerHeader,
      wouldDenyHeader: config.wouldDenyHeader,
      decisionIdHeader: DEFAULT_DECISION_ID_HEADER,
      exposeDenyReason: config.exposeDenyReason,
    },
    auditAll,
    maxMessageBytes: config.maxMessageBytes,
    decisionTimeoutMs: config.decisionTimeoutMs,
    overload,
    ...(auditGate ? { auditGate } : {}),
    decisionIds: ids,
    onDecision,
    onHookError: (err) => log.error({ err }, "recording a decision failed"),
  });
  const grpcServer = createExtAuthzServer({
    service,
    addresses: config.grpc,
    ...(tls ? { tls } : {}),
    maxReceiveMessageBytes: config.maxMessageBytes * TRANSPORT_LIMIT_FACTOR,
    maxConcurrentStreams: config.maxInFlight,
    streamTableRenewal: config.streamTableRenewal,
    log,
  });
  grpcTransport.renewalStats = () => grpcServer.streamTableRenewal();

  let grpcListening = false;
  let grpcAddresses: string[];
  listening = true;
  try {
    grpcAddresses = await grpcServer.start();
  } catch (err) {
    process.stderr.write(`ward serve: error: ${err instanceof Error ? err.message : String(err)}\n`);
    await grpcServer.shutdown(0);
    await closeAll([store, shadowStore, compiler], sink, shadow, overload);
    return EXIT_FAILURE;
  }
  grpcListening = true;
  // Under --audit-backlog-full deny, every call is denied while the audit log takes no records:
  // health says so (NOT_SERVING, /ready 503 `audit_unavailable`), looked at once a second.
  const auditUnavailable = auditGate && sink ? () => !sink.accepting() : undefined;
  let serving: boolean | undefined;
  const updateServing = () => {
    const now = store.current() !== undefined && auditUnavailable?.() !== true;
    if (now === serving) return;
    serving = now;
    grpcServer.setServing(now);
  };
  updateServing();
  store.onReload(updateServing);
  const servingCheck = auditUnavailable ? setInterval(updateServing, SERVING_CHECK_MS) : undefined;
  servingCheck?.unref();

  let http: RunningHttpServer | undefined;
  if (config.http) {
    const app = createHttpApp(
      {
        store,
        decision: deps,
        metrics,
        isReady: () => grpcListening && store.current() !== undefined,
        ...(auditUnavailable ? { auditUnavailable } : {}),
        auditAll,
        ...(auditGate ? { auditGate } : {}),
        decisionId: (requestId) => ids.next(requestId),
        onDecision: (outcome, meta) => {
          sink?.writeDecision(outcome, { decisionId: meta.decisionId, time: meta.time, mode, micros: meta.micros, raw: meta.raw, includeInput, redactHeaders });
          shadow?.submit({ live: outcome, raw: meta.raw, decisionId: meta.decisionId, time: meta.time });
        },
      },
      { logger: log },
    );
    try {
      http = await startHttpServer(app, config.http);
    } catch (err) {
      process.stderr.write(`ward serve: error: cannot listen on http ${config.http.host}:${config.http.port}: ${err instanceof Error ? err.message : String(err)}\n`);
      await grpcServer.shutdown(0);
      await closeAll([store, shadowStore, compiler], sink, shadow, overload);
      return EXIT_FAILURE;
    }
  }

  // The one ready line (stdout, JSON so it sits well beside audit records written to stdout).
  process.stdout.write(
    `${JSON.stringify({
      ward: "ready",
      grpc: grpcAddresses,
      http: http ? `${http.host.includes(":") ? `[${http.host}]` : http.host}:${http.port}` : "off",
      service: AUTHORIZATION_SERVICE,
      revision: store.current()?.revision,
      mode: config.mode,
      pid: process.pid,
    })}\n`,
  );
  log.info(
    { grpc: grpcAddresses, http: http?.url ?? "off", revision: store.current()?.revision, mode: config.mode, heap_growing_percent: heapGrowingPercent ?? "node" },
    "ward serving",
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    async function stop(signal: string): Promise<void> {
      if (stopping) {
        log.warn({ signal }, "already shutting down");
        return;
      }
      stopping = true;
      clearInterval(servingCheck);
      // Not ready from now on (gRPC health and HTTP /ready), then both servers drain, each within the grace period.
      grpcListening = false;
      log.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down: health NOT_SERVING, finishing in-flight calls");
      const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
      const [clean] = await Promise.all([
        grpcServer.shutdown(config.shutdownGraceMs),
        http ? Promise.race([http.close().catch((err: unknown) => log.error({ err }, "closing the HTTP server failed")), grace]) : undefined,
      ]);
      service.flushEvents();
      // A destination that has stopped taking records (a stalled log collector) must not keep the process from exiting.
      const auditGraceMs = Math.max(config.shutdownGraceMs, MIN_AUDIT_CLOSE_MS);
      const auditClosed = await closeAll([store, shadowStore, compiler], sink, shadow, overload, auditGraceMs);
      if (!auditClosed) {
        log.error(
          { pending_bytes: sink?.stats().pendingBytes, grace_ms: auditGraceMs },
          "the audit log destination did not take the last records within the grace period: exiting without them",
        );
      }
      log.info({ clean: clean && auditClosed }, "stopped");
      resolve(EXIT_OK);
    }
    // `on`, not `once`: a second signal must reach `stop` (which ignores it), not Node's default (exit at once, records lost).
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
    function reload(when: string): void {
      log.info({}, `SIGHUP${when}: reloading policies`);
      void store.reload("sighup");
    }
    function reopen(when: string): void {
      const reopened = sink?.reopen();
      if (reopened && !reopened.ok) log.error({ diagnostics: reopened.diagnostics }, "reopening the audit log failed");
      else log.info({}, `SIGUSR2${when}: audit log reopened`);
    }
    process.on("SIGHUP", () => reload(""));
    process.on("SIGUSR2", () => reopen(""));
    // What was asked while starting is done now: the policies or the log file may have moved since they were read.
    held.release();
    if (held.received.has("SIGHUP")) reload(" during startup");
    if (held.received.has("SIGUSR2")) reopen(" during startup");
  });
}

/** Least time the audit log gets to take its last records at shutdown, whatever `--shutdown-grace-ms` (0 cancels calls at once, and must not cost records). */
const MIN_AUDIT_CLOSE_MS = 2000;

/** Closes everything; resolves whether the audit sink closed (wrote out everything) within `sinkDeadlineMs`, when given. */
async function closeAll(
  sources: readonly ({ close(): void | Promise<void> } | undefined)[],
  sink: AuditSink | undefined,
  shadow: ShadowEvaluator | undefined,
  overload: { close(): void } | undefined,
  sinkDeadlineMs?: number,
): Promise<boolean> {
  overload?.close();
  // Policy stores and the policy compiler: nothing is reloaded from here on.
  await Promise.all(sources.map((source) => source?.close()));
  // The shadow queue writes its last records before the sink flushes and closes.
  await shadow?.close();
  if (sink === undefined) return true;
  if (sinkDeadlineMs === undefined) {
    await sink.close();
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), sinkDeadlineMs);
  });
  const closed = await Promise.race([sink.close().then(() => true), deadline]);
  clearTimeout(timer);
  return closed;
}

/** Reads all of standard input as text. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "serve") return serve(argv.slice(1));
  const { runCli } = await import("./cli/main.js");
  return runCli(argv, {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin,
    cwd: process.cwd(),
    now: Date.now,
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    if (process.argv[2] === "serve") process.exit(code);
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ward: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(EXIT_USAGE);
  },
);

