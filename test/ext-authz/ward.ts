/**
 * Starts Ward's ext_authz server in-process for end-to-end tests: the real
 * policy store, DSL, engine, identity resolver and input builder, the real
 * gRPC listeners (127.0.0.1:0 and a Unix socket in a temporary directory).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DecisionDeps } from "../../src/decide.js";
import { DEFAULT_DECISION_ID_HEADER } from "../../src/ext-authz/check-response.js";
import { createLoopDelayMonitor } from "../../src/ext-authz/overload.js";
import { createExtAuthzServer, type ExtAuthzServer, type TlsMaterial } from "../../src/ext-authz/server.js";
import { createCheckService, type CheckService, type DecisionEvent, type ProgramSource } from "../../src/ext-authz/service.js";
import { createIdentityResolver } from "../../src/identity/resolve.js";
import { createInputBuilder } from "../../src/input/build.js";
import { createPolicyStore, type PolicyStore } from "../../src/policy-store.js";

export const CHECKOUT = "spiffe://prod.example.com/ns/checkout/sa/checkout";
export const FRONTEND = "spiffe://prod.example.com/ns/web/sa/frontend";
export const PAYMENTS = "spiffe://prod.example.com/ns/payments/sa/payment-api";

/** A small policy set: checkout may charge, anyone authenticated may GET /healthz, admin is denied to all but ops. */
export const TEST_POLICIES = `
policy "payments-api" {
  applies when destination.spiffe_id == "${PAYMENTS}"

  allow "checkout may charge" when
    caller.spiffe_id == "${CHECKOUT}"
    and request.method == "POST"
    and request.path == "/api/v1/charge"

  allow "workloads may probe health" when
    caller.authenticated
    and request.method == "GET"
    and request.path == "/healthz"

  deny "only ops may administer" when
    request.path starts_with "/admin"
    and caller.spiffe_id != "spiffe://prod.example.com/ns/ops/sa/console"
}
`;

export interface WardOptions {
  auditAll?: boolean;
  maxMessageBytes?: number;
  maxReceiveMessageBytes?: number;
  maxHeaders?: number;
  maxBodyBytes?: number;
  decisionTimeoutMs?: number;
  overloadThresholdMs?: number;
  tls?: TlsMaterial;
  /** Wraps the real decision collaborators (to slow them down or make them fail). */
  wrapDeps?: (deps: DecisionDeps) => DecisionDeps;
  /** Replaces the policy store as the program source. */
  policies?: ProgramSource;
  onDecision?: (event: DecisionEvent) => void;
  exposeDenyReason?: boolean;
  /** HTTP/2 concurrent streams per connection (`--max-in-flight`). */
  maxConcurrentStreams?: number;
  /** Leave health NOT_SERVING after start. */
  notServing?: boolean;
  /** `--stream-table-renewal off` when false. */
  streamTableRenewal?: boolean;
}

export interface RunningWard {
  readonly tcp: string;
  readonly unix: string;
  readonly dir: string;
  readonly server: ExtAuthzServer;
  readonly service: CheckService;
  readonly store: PolicyStore;
  readonly events: DecisionEvent[];
  readonly hookErrors: unknown[];
  stop(graceMs?: number): Promise<boolean>;
}

/** Starts a server on 127.0.0.1:0 and a Unix socket, with TEST_POLICIES loaded. */
export async function startWard(options: WardOptions = {}): Promise<RunningWard> {
  const dir = mkdtempSync(join(tmpdir(), "ward-e2e-"));
  writeFileSync(join(dir, "payments.ward"), TEST_POLICIES);
  const store = createPolicyStore({ paths: [join(dir, "payments.ward")] });
  const loaded = await store.reload("startup");
  if (!loaded.ok) throw new Error(`test policies do not load: ${JSON.stringify(loaded.diagnostics)}`);
  const realDeps: DecisionDeps = {
    resolver: createIdentityResolver({ sources: ["principal", "certificate"] }),
    inputBuilder: createInputBuilder({
      ...(options.maxHeaders !== undefined ? { maxHeaders: options.maxHeaders } : {}),
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    }),
  };
  const events: DecisionEvent[] = [];
  const hookErrors: unknown[] = [];
  const overload = options.overloadThresholdMs !== undefined ? createLoopDelayMonitor({ thresholdMs: options.overloadThresholdMs, intervalMs: 20 }) : undefined;
  const service = createCheckService({
    policies: options.policies ?? store,
    deps: options.wrapDeps ? options.wrapDeps(realDeps) : realDeps,
    answer: { callerHeader: "x-ward-caller", wouldDenyHeader: "x-ward-would-deny", decisionIdHeader: DEFAULT_DECISION_ID_HEADER, exposeDenyReason: options.exposeDenyReason ?? false },
    auditAll: options.auditAll ?? false,
    maxMessageBytes: options.maxMessageBytes ?? 64 * 1024,
    decisionTimeoutMs: options.decisionTimeoutMs ?? 1000,
    ...(overload ? { overload } : {}),
    onDecision: (event) => {
      events.push(event);
      options.onDecision?.(event);
    },
    onHookError: (err) => hookErrors.push(err),
  });
  const unixPath = join(dir, "ward.sock");
  const server = createExtAuthzServer({
    service,
    addresses: [
      { kind: "tcp", host: "127.0.0.1", port: 0 },
      { kind: "unix", path: unixPath },
    ],
    ...(options.tls ? { tls: options.tls } : {}),
    maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? 4 * (options.maxMessageBytes ?? 64 * 1024),
    maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
    ...(options.streamTableRenewal !== undefined ? { streamTableRenewal: options.streamTableRenewal } : {}),
  });
  const [tcp, unix] = await server.start();
  if (!options.notServing) server.setServing(store.current() !== undefined);
  let stopped: Promise<boolean> | undefined;
  return {
    tcp: tcp!,
    unix: unix!,
    dir,
    server,
    service,
    store,
    events,
    hookErrors,
    stop(graceMs = 2000) {
      stopped ??= server.shutdown(graceMs).finally(() => {
        overload?.close();
        store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return stopped;
    },
  };
}

/** Blocks the event loop (the in-process server's too) for `ms`. */
export function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}
