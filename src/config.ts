/**
 * `ward serve` configuration: command-line flags and `WARD_*` environment
 * variables → one frozen `ServeConfig`. This is the only module that reads
 * `process.env` (`loadServeConfig`); `parseServeConfig` is pure so every rule
 * here is testable. A flag overrides its environment variable; a repeatable
 * flag given on the command line replaces the variable's list (comma-separated).
 * Problems are data (`{ ok: false, errors }`); main.ts prints them and exits 2.
 * Every flag is documented in docs/serve.md.
 */
import { isIP } from "node:net";
import { isAbsolute } from "node:path";
import {
  AUDIT_BACKLOG_FULL,
  DEFAULT_AUDIT_BUFFER_BYTES,
  DEFAULT_AUDIT_MAX_PENDING_BYTES,
  MAX_AUDIT_BUFFER_BYTES,
  MAX_AUDIT_MAX_PENDING_BYTES,
  MIN_AUDIT_MAX_PENDING_BYTES,
  type AuditBacklogFull,
} from "./audit/buffering.js";
import { DEFAULT_HEAP_GROWING_PERCENT, type HeapGrowingSetting } from "./heap-growth.js";
import { DEFAULT_INPUT_LIMITS } from "./input/build.js";

/** A gRPC listen address. */
export type GrpcAddress =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** Where decision records go. */
export type AuditDestination = { readonly kind: "stdout" } | { readonly kind: "off" } | { readonly kind: "file"; readonly path: string };

/** The evidence kinds the identity resolver may use, in order. */
export type IdentitySourceName = "principal" | "certificate" | "xfcc";

/** When the identity resolver parses and checks a certificate that comes with a request (docs/identity.md). */
export type CertificateChecksName = "always" | "when-needed";

/** Operational log levels (pino's). */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** Everything `ward serve` runs with. Frozen. */
export interface ServeConfig {
  readonly policies: readonly string[];
  readonly grpc: readonly GrpcAddress[];
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string };
  readonly mode: "enforce" | "audit";
  readonly trustBundle?: string;
  readonly identitySources: readonly IdentitySourceName[];
  readonly xfccTrustedBy: readonly string[];
  /** A trusted proxy's request without an XFCC element is the proxy itself (otherwise unauthenticated, `xfcc_missing`). */
  readonly xfccProxyMayCallAsItself: boolean;
  readonly certificateChecks: CertificateChecksName;
  readonly callerHeader: string;
  readonly wouldDenyHeader: string;
  readonly exposeDenyReason: boolean;
  readonly maxMessageBytes: number;
  readonly maxHeaders: number;
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly decisionTimeoutMs: number;
  readonly maxInFlight: number;
  /** Whether each connection's HTTP/2 stream table is renewed after every full garbage collection (`--stream-table-renewal`). */
  readonly streamTableRenewal: boolean;
  /** V8's `--heap-growing-percent` for the process (`--heap-growing-percent`; src/heap-growth.ts). */
  readonly heapGrowingPercent: HeapGrowingSetting;
  readonly shutdownGraceMs: number;
  readonly audit: {
    readonly destination: AuditDestination;
    readonly input: "full" | "none";
    readonly redact: readonly string[];
    readonly sampleAllowed: number;
    /** Bytes of records buffered before a write (`--audit-buffer-bytes`). */
    readonly bufferBytes: number;
    /** Most record bytes waiting for a destination that falls behind before records are dropped (`--audit-max-pending-bytes`). */
    readonly maxPendingBytes: number;
    /** At that bound: drop records and keep deciding, or deny calls until the destination catches up (`--audit-backlog-full`). */
    readonly backlogFull: AuditBacklogFull;
  };
  readonly shadow: readonly string[];
  /** Which reloads are parsed and checked on the checker thread (`--policy-check-thread`). */
  readonly policyCheckThread: PolicyCheckThread;
  /** `host:port`, or undefined for `--http off`. */
  readonly http?: { readonly host: string; readonly port: number };
  readonly logLevel: LogLevel;
}

/** The values `--stream-table-renewal` takes. */
const STREAM_TABLE_RENEWAL = ["on", "off"] as const;

/** The values `--policy-check-thread` takes. */
const POLICY_CHECK_THREADS = ["auto", "always", "never"] as const;

/** `auto`: the checker thread for sets of 64 KiB or more; `always`: for every reload; `never`: reloads are checked on the main thread. */
export type PolicyCheckThread = (typeof POLICY_CHECK_THREADS)[number];

/** The result of parsing: a config, a request for help, or usage errors. */
export type ServeConfigResult =
  | { readonly ok: true; readonly config: ServeConfig }
  | { readonly ok: false; readonly help: true }
  | { readonly ok: false; readonly help?: false; readonly errors: readonly string[] };

type Kind = "string" | "list" | "bool";

interface FlagSpec {
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly arg?: string;
  readonly doc: string;
}

/** Every flag of `ward serve`, with its environment variable (also the source of `ward serve --help`). */
export const SERVE_FLAGS: readonly FlagSpec[] = [
  { flag: "policies", env: "WARD_POLICIES", kind: "list", arg: "DIR", doc: "policy files or directories (repeatable; required)" },
  { flag: "grpc", env: "WARD_GRPC", kind: "list", arg: "ADDR", doc: "gRPC listen address, host:port or unix:///path (repeatable; default 127.0.0.1:9191)" },
  { flag: "tls-cert", env: "WARD_TLS_CERT", kind: "string", arg: "FILE", doc: "server certificate chain (PEM) for TCP listeners" },
  { flag: "tls-key", env: "WARD_TLS_KEY", kind: "string", arg: "FILE", doc: "server private key (PEM)" },
  { flag: "tls-client-ca", env: "WARD_TLS_CLIENT_CA", kind: "string", arg: "FILE", doc: "CA bundle (PEM) clients must be signed by: mutual TLS" },
  { flag: "mode", env: "WARD_MODE", kind: "string", arg: "enforce|audit", doc: "audit: decide and record, but let every request through (default enforce)" },
  { flag: "trust-bundle", env: "WARD_TRUST_BUNDLE", kind: "string", arg: "FILE", doc: "SPIFFE trust bundle (PEM) to validate peer certificates against" },
  { flag: "identity-sources", env: "WARD_IDENTITY_SOURCES", kind: "string", arg: "LIST", doc: "evidence used for the caller identity, in order (default principal,certificate)" },
  { flag: "xfcc-trusted-by", env: "WARD_XFCC_TRUSTED_BY", kind: "list", arg: "SPIFFE_ID", doc: "proxy identity whose x-forwarded-client-cert is believed (repeatable)" },
  { flag: "xfcc-proxy-may-call-as-itself", env: "WARD_XFCC_PROXY_MAY_CALL_AS_ITSELF", kind: "bool", doc: "a trusted proxy's request without an XFCC element is the proxy calling as itself (default off: unauthenticated)" },
  { flag: "certificate-checks", env: "WARD_CERTIFICATE_CHECKS", kind: "string", arg: "always|when-needed", doc: "when-needed: check a request's certificate only if policies read cert.* (default always)" },
  { flag: "caller-header", env: "WARD_CALLER_HEADER", kind: "string", arg: "NAME", doc: "upstream header carrying the caller's SPIFFE ID (default x-ward-caller)" },
  { flag: "would-deny-header", env: "WARD_WOULD_DENY_HEADER", kind: "string", arg: "NAME", doc: "upstream header marking audit-mode would-deny requests (default x-ward-would-deny)" },
  { flag: "expose-deny-reason", env: "WARD_EXPOSE_DENY_REASON", kind: "bool", doc: "put the reason code, rule and detail in deny bodies (default off)" },
  { flag: "max-message-bytes", env: "WARD_MAX_MESSAGE_BYTES", kind: "string", arg: "N", doc: "largest CheckRequest decided (default 4194304)" },
  { flag: "max-headers", env: "WARD_MAX_HEADERS", kind: "string", arg: "N", doc: `most request headers (default ${DEFAULT_INPUT_LIMITS.maxHeaders})` },
  { flag: "max-header-bytes", env: "WARD_MAX_HEADER_BYTES", kind: "string", arg: "N", doc: `most bytes of header names and values (default ${DEFAULT_INPUT_LIMITS.maxHeaderBytes})` },
  { flag: "max-body-bytes", env: "WARD_MAX_BODY_BYTES", kind: "string", arg: "N", doc: `largest forwarded request body (default ${DEFAULT_INPUT_LIMITS.maxBodyBytes})` },
  { flag: "decision-timeout-ms", env: "WARD_DECISION_TIMEOUT_MS", kind: "string", arg: "MS", doc: "decision budget; over it the answer is a timeout deny (default 100)" },
  { flag: "max-in-flight", env: "WARD_MAX_IN_FLIGHT", kind: "string", arg: "N", doc: "Check calls one connection may have open at once (default 1000)" },
  { flag: "stream-table-renewal", env: "WARD_STREAM_TABLE_RENEWAL", kind: "string", arg: "on|off", doc: "give each connection's HTTP/2 stream table a fresh Map after every full garbage collection, so long-lived connections do not promote every call's stream (default on)" },
  { flag: "heap-growing-percent", env: "WARD_HEAP_GROWING_PERCENT", kind: "string", arg: "N|node", doc: `how much the heap may grow between full garbage collections, in per cent (V8's flag), so that each one pauses briefly; node: V8's own heuristics (default ${DEFAULT_HEAP_GROWING_PERCENT}, unless Node was given the V8 flag)` },
  { flag: "shutdown-grace-ms", env: "WARD_SHUTDOWN_GRACE_MS", kind: "string", arg: "MS", doc: "time in-flight calls get to finish at shutdown, then the audit log to take its last records (at least 2 s) (default 10000)" },
  { flag: "audit-log", env: "WARD_AUDIT_LOG", kind: "string", arg: "FILE|stdout|off", doc: "where decision records go (default stdout)" },
  { flag: "audit-input", env: "WARD_AUDIT_INPUT", kind: "string", arg: "full|none", doc: "record the normalized input for replay (default full)" },
  { flag: "audit-redact", env: "WARD_AUDIT_REDACT", kind: "list", arg: "HEADER", doc: "another header to redact in records (repeatable)" },
  { flag: "audit-sample-allowed", env: "WARD_AUDIT_SAMPLE_ALLOWED", kind: "string", arg: "RATE", doc: "fraction of allowed decisions recorded, 0..1 (default 1)" },
  { flag: "audit-buffer-bytes", env: "WARD_AUDIT_BUFFER_BYTES", kind: "string", arg: "N", doc: `bytes of records buffered before a write; a hard kill loses at most this much (default ${DEFAULT_AUDIT_BUFFER_BYTES}, at most ${MAX_AUDIT_BUFFER_BYTES})` },
  { flag: "audit-max-pending-bytes", env: "WARD_AUDIT_MAX_PENDING_BYTES", kind: "string", arg: "N", doc: `record bytes that may wait for a destination that falls behind; past it records are dropped and counted (default ${DEFAULT_AUDIT_MAX_PENDING_BYTES}, from ${MIN_AUDIT_MAX_PENDING_BYTES})` },
  { flag: "audit-backlog-full", env: "WARD_AUDIT_BACKLOG_FULL", kind: "string", arg: "drop|deny", doc: "at --audit-max-pending-bytes, drop records and keep deciding, or deny calls until the log catches up (default drop)" },
  { flag: "shadow", env: "WARD_SHADOW", kind: "list", arg: "DIR", doc: "candidate policies evaluated beside the live ones (repeatable)" },
  { flag: "policy-check-thread", env: "WARD_POLICY_CHECK_THREAD", kind: "string", arg: "auto|always|never", doc: "where reloaded policies are parsed and checked: a worker thread for sets of 64 KiB or more (auto), for every set (always), or never (default auto)" },
  { flag: "http", env: "WARD_HTTP", kind: "string", arg: "ADDR|off", doc: "HTTP address for health, metrics and /v1/check (default 127.0.0.1:8181)" },
  { flag: "log-level", env: "WARD_LOG_LEVEL", kind: "string", arg: "LEVEL", doc: "operational log level on stderr (default info)" },
];

/** The usage text of `ward serve`. */
export function serveUsage(): string {
  const rows = SERVE_FLAGS.map((f) => {
    const left = `  --${f.flag}${f.arg ? ` ${f.arg}` : ""}`;
    return `${left.padEnd(40)} ${f.doc}\n${"".padEnd(41)} env ${f.env}`;
  });
  return ["usage: ward serve --policies DIR [flags]", "", ...rows, "", "Every flag is described in docs/serve.md."].join("\n");
}

/**
 * `--audit-log` values that mean standard output. The device paths are taken
 * as stdout itself rather than opened: opening `/dev/stdout` fails (ENXIO)
 * when stdout is a socket, and a pipe opened by path would be written as a file.
 */
const STDOUT_NAMES: ReadonlySet<string> = new Set(["stdout", "-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]);

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const RESERVED_HEADERS = new Set(["host", "content-length", "content-type", "te", "connection", "transfer-encoding", "x-ward-decision-id"]);
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const IDENTITY_SOURCES: readonly IdentitySourceName[] = ["principal", "certificate", "xfcc"];
const CERTIFICATE_CHECKS: readonly CertificateChecksName[] = ["always", "when-needed"];

/** Parses `ward serve` arguments (after `serve`) and environment. Pure. */
export function parseServeConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeConfigResult {
  const errors: string[] = [];
  const given = new Map<string, string[]>();
  const specs = new Map(SERVE_FLAGS.map((s) => [s.flag, s]));

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") return { ok: false, help: true };
    if (!arg.startsWith("--")) {
      errors.push(`unexpected argument \`${arg}\``);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs.get(name);
    if (!spec) {
      errors.push(`unknown flag \`--${name}\``);
      continue;
    }
    let value: string;
    if (spec.kind === "bool") {
      if (eq !== -1) {
        const v = parseBool(arg.slice(eq + 1));
        if (v === undefined) {
          errors.push(`\`--${name}\` takes true or false, not \`${arg.slice(eq + 1)}\``);
          continue;
        }
        value = String(v);
      } else value = "true";
    } else if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        errors.push(`\`--${name}\` needs a value (${spec.arg ?? "VALUE"})`);
        continue;
      }
      value = next;
      i++;
    }
    const list = given.get(name) ?? [];
    if (spec.kind !== "list" && list.length > 0) {
      errors.push(`\`--${name}\` is given more than once`);
      continue;
    }
    list.push(value);
    given.set(name, list);
  }

  function raw(flag: string): string | undefined {
    const fromFlag = given.get(flag);
    if (fromFlag) return fromFlag[0];
    const spec = specs.get(flag)!;
    const fromEnv = env[spec.env];
    return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
  }
  function list(flag: string): string[] {
    const fromFlag = given.get(flag);
    if (fromFlag) return fromFlag;
    const fromEnv = env[specs.get(flag)!.env];
    return fromEnv === undefined || fromEnv.trim() === "" ? [] : fromEnv.split(",").map((s) => s.trim()).filter((s) => s !== "");
  }
  function where(flag: string): string {
    return given.has(flag) ? `\`--${flag}\`` : `\`${specs.get(flag)!.env}\``;
  }
  function integer(flag: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const text = raw(flag);
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text)) {
      errors.push(`${where(flag)} must be a whole number, not \`${text}\``);
      return fallback;
    }
    const n = Number(text);
    if (n < min || n > max) {
      errors.push(`${where(flag)} must be between ${min} and ${max}, not ${text}`);
      return fallback;
    }
    return n;
  }
  function oneOf<T extends string>(flag: string, allowed: readonly T[], fallback: T): T {
    const text = raw(flag);
    if (text === undefined) return fallback;
    if ((allowed as readonly string[]).includes(text)) return text as T;
    errors.push(`${where(flag)} must be one of ${allowed.join(", ")}, not \`${text}\``);
    return fallback;
  }
  function headerName(flag: string, fallback: string): string {
    const text = raw(flag);
    if (text === undefined) return fallback;
    if (!HEADER_NAME.test(text)) errors.push(`${where(flag)} must be a lower-case HTTP header name, not \`${text}\``);
    else if (RESERVED_HEADERS.has(text) || text.startsWith(":")) errors.push(`${where(flag)} cannot be \`${text}\`, which Envoy or Ward already uses`);
    return text;
  }
  function file(flag: string): string | undefined {
    const text = raw(flag);
    return text === undefined || text === "" ? undefined : text;
  }

  // Policies.
  const policies = list("policies");
  if (policies.length === 0) errors.push("`--policies DIR` is required (or set `WARD_POLICIES`)");

  // Listeners.
  const grpcTexts = list("grpc");
  const grpc: GrpcAddress[] = [];
  for (const text of grpcTexts.length > 0 ? grpcTexts : ["127.0.0.1:9191"]) {
    const parsed = parseGrpcAddress(text);
    if (typeof parsed === "string") errors.push(`${where("grpc")}: ${parsed}`);
    else grpc.push(parsed);
  }
  const seen = new Set<string>();
  for (const a of grpc) {
    // Port 0 twice is fine: each picks its own free port.
    if (a.kind === "tcp" && a.port === 0) continue;
    const key = a.kind === "unix" ? `unix:${a.path}` : `tcp:${a.host}:${a.port}`;
    if (seen.has(key)) errors.push(`${where("grpc")}: the address \`${a.kind === "unix" ? a.path : `${a.host}:${a.port}`}\` is given twice`);
    seen.add(key);
  }

  const certFile = file("tls-cert");
  const keyFile = file("tls-key");
  const clientCaFile = file("tls-client-ca");
  let tls: ServeConfig["tls"];
  if ((certFile === undefined) !== (keyFile === undefined)) errors.push("`--tls-cert` and `--tls-key` go together");
  else if (certFile !== undefined && keyFile !== undefined) tls = clientCaFile === undefined ? { certFile, keyFile } : { certFile, keyFile, clientCaFile };
  if (clientCaFile !== undefined && certFile === undefined) errors.push("`--tls-client-ca` needs `--tls-cert` and `--tls-key`");
  if (tls && !grpc.some((a) => a.kind === "tcp")) errors.push("TLS applies to TCP listeners, but every `--grpc` address is a Unix socket");

  const mode = oneOf("mode", ["enforce", "audit"] as const, "enforce");

  // Identity.
  const sourcesText = raw("identity-sources") ?? "principal,certificate";
  const identitySources: IdentitySourceName[] = [];
  for (const part of sourcesText.split(",").map((s) => s.trim())) {
    if (!(IDENTITY_SOURCES as readonly string[]).includes(part)) errors.push(`${where("identity-sources")}: unknown identity source \`${part}\` (use ${IDENTITY_SOURCES.join(", ")})`);
    else if (identitySources.includes(part as IdentitySourceName)) errors.push(`${where("identity-sources")}: \`${part}\` is listed twice`);
    else identitySources.push(part as IdentitySourceName);
  }
  const xfccTrustedBy = list("xfcc-trusted-by");
  for (const id of xfccTrustedBy) {
    if (!/^spiffe:\/\/[^/]+/.test(id)) errors.push(`${where("xfcc-trusted-by")}: \`${id}\` is not a SPIFFE ID`);
  }
  if (identitySources.includes("xfcc") && xfccTrustedBy.length === 0) {
    errors.push("the `xfcc` identity source needs `--xfcc-trusted-by`: otherwise any client could claim any identity in the header");
  }
  const asItselfText = raw("xfcc-proxy-may-call-as-itself");
  const xfccProxyMayCallAsItself =
    asItselfText === undefined ? false : (parseBool(asItselfText) ?? (errors.push(`${where("xfcc-proxy-may-call-as-itself")} takes true or false, not \`${asItselfText}\``), false));
  if (xfccProxyMayCallAsItself && !identitySources.includes("xfcc")) {
    errors.push(`${where("xfcc-proxy-may-call-as-itself")} only means something when \`xfcc\` is one of the identity sources`);
  }
  const certificateChecks = oneOf("certificate-checks", CERTIFICATE_CHECKS, "always");

  // Answers.
  const callerHeader = headerName("caller-header", "x-ward-caller");
  const wouldDenyHeader = headerName("would-deny-header", "x-ward-would-deny");
  if (callerHeader === wouldDenyHeader) errors.push("`--caller-header` and `--would-deny-header` must differ");
  const exposeText = raw("expose-deny-reason");
  const exposeDenyReason = exposeText === undefined ? false : (parseBool(exposeText) ?? (errors.push(`${where("expose-deny-reason")} takes true or false, not \`${exposeText}\``), false));

  // Limits.
  const maxMessageBytes = integer("max-message-bytes", 4 * 1024 * 1024, 1024, 512 * 1024 * 1024);
  const maxHeaders = integer("max-headers", DEFAULT_INPUT_LIMITS.maxHeaders, 1, 100_000);
  const maxHeaderBytes = integer("max-header-bytes", DEFAULT_INPUT_LIMITS.maxHeaderBytes, 64, 64 * 1024 * 1024);
  const maxBodyBytes = integer("max-body-bytes", DEFAULT_INPUT_LIMITS.maxBodyBytes, 0, 512 * 1024 * 1024);
  const decisionTimeoutMs = integer("decision-timeout-ms", 100, 1, 60_000);
  const maxInFlight = integer("max-in-flight", 1000, 1, 1_000_000);
  const streamTableRenewal = oneOf("stream-table-renewal", STREAM_TABLE_RENEWAL, "on") === "on";
  const heapGrowingText = raw("heap-growing-percent");
  const heapGrowingPercent: HeapGrowingSetting =
    heapGrowingText === "node" ? "node" : { percent: integer("heap-growing-percent", DEFAULT_HEAP_GROWING_PERCENT, 10, 1000), explicit: heapGrowingText !== undefined };
  const shutdownGraceMs = integer("shutdown-grace-ms", 10_000, 0, 3_600_000);

  // Audit.
  const auditText = raw("audit-log") ?? "stdout";
  const destination: AuditDestination = STDOUT_NAMES.has(auditText) ? { kind: "stdout" } : auditText === "off" ? { kind: "off" } : { kind: "file", path: auditText };
  const auditInput = oneOf("audit-input", ["full", "none"] as const, "full");
  const redact = list("audit-redact").map((h) => h.toLowerCase());
  for (const h of redact) if (!HEADER_NAME.test(h)) errors.push(`${where("audit-redact")}: \`${h}\` is not a header name`);
  const sampleText = raw("audit-sample-allowed");
  let sampleAllowed = 1;
  if (sampleText !== undefined) {
    const n = Number(sampleText);
    if (sampleText.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) errors.push(`${where("audit-sample-allowed")} must be a number from 0 to 1, not \`${sampleText}\``);
    else sampleAllowed = n;
  }

  const bufferBytes = integer("audit-buffer-bytes", DEFAULT_AUDIT_BUFFER_BYTES, 1, MAX_AUDIT_BUFFER_BYTES);
  const maxPendingBytes = integer("audit-max-pending-bytes", DEFAULT_AUDIT_MAX_PENDING_BYTES, MIN_AUDIT_MAX_PENDING_BYTES, MAX_AUDIT_MAX_PENDING_BYTES);
  const backlogFull = oneOf("audit-backlog-full", AUDIT_BACKLOG_FULL, "drop");
  if (backlogFull === "deny" && destination.kind === "off") {
    errors.push(`${where("audit-backlog-full")} deny needs audit records, but \`--audit-log\` is off`);
  }

  const shadow = list("shadow");
  const policyCheckThread = oneOf("policy-check-thread", POLICY_CHECK_THREADS, "auto");

  // HTTP.
  const httpText = raw("http") ?? "127.0.0.1:8181";
  let http: ServeConfig["http"];
  if (httpText !== "off") {
    const parsed = parseHostPort(httpText);
    if (typeof parsed === "string") errors.push(`${where("http")}: ${parsed} (or \`off\`)`);
    else http = parsed;
  }

  const logLevel = oneOf("log-level", LOG_LEVELS, "info");

  if (errors.length > 0) return { ok: false, errors };
  const config: ServeConfig = {
    policies,
    grpc,
    ...(tls ? { tls } : {}),
    mode,
    ...(file("trust-bundle") !== undefined ? { trustBundle: file("trust-bundle")! } : {}),
    identitySources,
    xfccTrustedBy,
    xfccProxyMayCallAsItself,
    certificateChecks,
    callerHeader,
    wouldDenyHeader,
    exposeDenyReason,
    maxMessageBytes,
    maxHeaders,
    maxHeaderBytes,
    maxBodyBytes,
    decisionTimeoutMs,
    maxInFlight,
    streamTableRenewal,
    heapGrowingPercent,
    shutdownGraceMs,
    audit: { destination, input: auditInput, redact, sampleAllowed, bufferBytes, maxPendingBytes, backlogFull },
    shadow,
    policyCheckThread,
    ...(http ? { http } : {}),
    logLevel,
  };
  return { ok: true, config: deepFreeze(config) };
}

/** Reads `process.env` (the only place that does) and parses. */
export function loadServeConfig(argv: readonly string[]): ServeConfigResult {
  return parseServeConfig(argv, process.env);
}

/** Parses `host:port`, `[v6]:port` or `unix:///absolute/path`; a string is the problem. */
export function parseGrpcAddress(text: string): GrpcAddress | string {
  if (text.startsWith("unix:")) {
    const path = text.startsWith("unix://") ? text.slice("unix://".length) : text.slice("unix:".length);
    if (!isAbsolute(path)) return `\`${text}\` must be unix:///absolute/path`;
    if (Buffer.byteLength(path) > 107) return `the socket path in \`${text}\` is longer than 107 bytes`;
    return { kind: "unix", path };
  }
  const parsed = parseHostPort(text);
  return typeof parsed === "string" ? parsed : { kind: "tcp", ...parsed };
}

/** Parses `host:port` (IPv6 in brackets); port 0 means any free port. */
export function parseHostPort(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  if (!m) return `\`${text}\` is not host:port`;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) return `the port in \`${text}\` is above 65535`;
  if (m[1] !== undefined && isIP(host) !== 6) return `\`${host}\` is not an IPv6 address`;
  return { host, port };
}

function parseBool(text: string): boolean | undefined {
  const t = text.toLowerCase();
  if (t === "true" || t === "1" || t === "yes") return true;
  if (t === "false" || t === "0" || t === "no") return false;
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
