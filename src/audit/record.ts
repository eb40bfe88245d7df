/**
 * Audit records: the one structured line Ward writes for every decision
 * (`type: "decision"`) and for every disagreement of a shadow policy set
 * (`type: "shadow"`). Pure: time, decision id, timing and mode come in as
 * arguments. The schema is versioned (`version`) and documented field by field
 * in docs/audit.md; every key is snake_case, values keep the engine's words
 * (`allow`/`deny`, reason codes, rule names).
 */
import type { DecisionOutcome } from "../decide.js";
import type { Decision, DecisionReason, RuleRef } from "../engine/decision.js";
import type { CertificateAttributes, Identity, IdentitySource, RequestInput } from "../engine/input.js";
import type { RawRequest } from "../input/raw.js";

/** The record schema version this code writes and `ward replay` reads. */
export const AUDIT_SCHEMA_VERSION = 1;

/** The global mode the server ran in when it decided. */
export type AuditMode = "enforce" | "audit";

/**
 * Header names whose values are replaced by `REDACTED` in recorded inputs.
 * `authorization`, `proxy-authorization`, `cookie` and `set-cookie` carry
 * credentials; `x-forwarded-client-cert` carries the caller's certificate,
 * which is bulky and already summarized in `input.caller` (SPIFFE ID and,
 * when parsed, the certificate attributes `cert.*` rules read).
 */
export const DEFAULT_REDACTED_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-forwarded-client-cert",
]);

/**
 * Query parameter names whose values are redacted: `access_token` is how
 * RFC 6750 §2.3 passes a bearer token in a URI.
 */
export const DEFAULT_REDACTED_QUERY: ReadonlySet<string> = new Set(["access_token"]);

/** The value a redacted header gets in a recorded input: presence survives, the secret does not. */
export const REDACTED = "[redacted]";

/** A determining rule as recorded. */
export interface RecordedRule {
  readonly policy: string;
  readonly rule: string;
  readonly effect: "allow" | "deny";
  readonly mode: "enforce" | "audit";
}

/** The caller in brief: enough to group and search, present even without `input`. */
export interface RecordedCaller {
  readonly authenticated: boolean;
  readonly spiffe_id?: string;
  readonly trust_domain?: string;
  readonly source?: IdentitySource;
  /** Present only when the certificate was parsed (the policies read `cert.*`). */
  readonly cert_serial?: string;
  readonly cert_fingerprint?: string;
  readonly unauthenticated_reason?: string;
  readonly detail?: string;
}

/** The request in brief. */
export interface RecordedRequest {
  readonly method: string;
  /** The canonical path when the input was built; otherwise the raw target without its query. */
  readonly path: string;
  /** False when the request was refused before its path was canonicalized. */
  readonly path_normalized: boolean;
  readonly host: string;
  readonly source_address?: string;
  readonly source_port?: number;
}

/** Certificate attributes as recorded (snake_case mirror of `CertificateAttributes`). */
export interface RecordedCertificate {
  readonly subject: { readonly common_name?: string; readonly organization: readonly string[]; readonly organizational_unit: readonly string[] };
  readonly issuer: { readonly common_name?: string; readonly organization: readonly string[] };
  readonly san: { readonly dns: readonly string[]; readonly uri: readonly string[]; readonly email: readonly string[] };
  readonly serial: string;
  readonly fingerprint: string;
  /** Epoch ms. */
  readonly not_before: number;
  /** Epoch ms. */
  readonly not_after: number;
  readonly extensions: Readonly<Record<string, string>>;
}

/** The caller as the engine saw it (snake_case mirror of `Identity`). */
export interface RecordedIdentity {
  readonly authenticated: boolean;
  readonly spiffe_id?: string;
  readonly trust_domain?: string;
  readonly path?: string;
  readonly source?: IdentitySource;
  readonly certificate?: RecordedCertificate;
  readonly unauthenticated_reason?: string;
  readonly detail?: string;
}

/** The engine input as recorded, enough to replay the decision (snake_case mirror of `RequestInput`). */
export interface RecordedInput {
  readonly caller: RecordedIdentity;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly query: Readonly<Record<string, string>>;
    /** Lower-case names; redacted values are `[redacted]`. */
    readonly headers: Readonly<Record<string, string>>;
    readonly host: string;
    readonly scheme: string;
  };
  readonly source: { readonly ip?: string; readonly port?: number };
  readonly destination: { readonly ip?: string; readonly port?: number; readonly spiffe_id?: string };
  readonly context: Readonly<Record<string, string>>;
  /** Decision time the engine used, epoch ms. */
  readonly time: number;
  /** Names of the headers whose values were redacted, sorted; absent when none were. */
  readonly redacted_headers?: readonly string[];
  /** Names of the query parameters whose values were redacted, sorted; absent when none were. */
  readonly redacted_query?: readonly string[];
}

/** One decision, as written to the audit log. */
export interface DecisionRecord {
  readonly version: typeof AUDIT_SCHEMA_VERSION;
  readonly type: "decision";
  /** RFC 3339 UTC time with milliseconds. */
  readonly time: string;
  readonly decision_id: string;
  readonly revision: string;
  /** The global mode; per-policy audit mode shows in `determining[].mode`. */
  readonly mode: AuditMode;
  /** The policies' verdict, before audit mode. */
  readonly outcome: "allow" | "deny";
  /** The answer Envoy got. */
  readonly allowed: boolean;
  readonly enforced: boolean;
  /** True when the verdict was deny but audit mode let the request through. */
  readonly would_deny: boolean;
  readonly determining: readonly RecordedRule[];
  readonly reason: DecisionReason;
  readonly detail?: string;
  readonly caller: RecordedCaller;
  /** Absent only when neither the input nor the raw request was available. */
  readonly request?: RecordedRequest;
  /** Time spent deciding, microseconds (rounded to 0.1). */
  readonly decision_us: number;
  readonly error?: string;
  /** The engine input (absent with `--audit-input none` or when the request was refused before evaluation). */
  readonly input?: RecordedInput;
}

/** One side of a shadow comparison. */
export interface ShadowSide {
  readonly revision: string;
  readonly outcome: "allow" | "deny";
  readonly reason: DecisionReason;
  readonly determining: readonly RecordedRule[];
  readonly detail?: string;
}

/** What differed between the live and the candidate decision. */
export type ShadowDisagreement = "outcome" | "rules";

/** A live decision on which the shadow (candidate) policy set disagreed. */
export interface ShadowRecord {
  readonly version: typeof AUDIT_SCHEMA_VERSION;
  readonly type: "shadow";
  readonly time: string;
  /** The live decision's id: join with its `decision` record. */
  readonly decision_id: string;
  readonly mode: AuditMode;
  /** `outcome`: the verdicts differ; `rules`: same verdict, different determining rules. */
  readonly disagreement: ShadowDisagreement;
  /** The enforced policy set's decision (the live answer was `live.outcome` after audit mode). */
  readonly live: ShadowSide & { readonly allowed: boolean };
  readonly candidate: ShadowSide & { readonly error?: string };
  readonly caller: RecordedCaller;
  readonly request?: RecordedRequest;
  readonly input?: RecordedInput;
}

/** Any line Ward writes to the audit log. */
export type AuditRecord = DecisionRecord | ShadowRecord;

/** What the server knows about a decision beyond the outcome itself. */
export interface AuditMeta {
  /** Envoy's `x-request-id` when present, otherwise generated by the caller. */
  readonly decisionId: string;
  /** Epoch ms. */
  readonly time: number;
  readonly mode: AuditMode;
  /** Time spent deciding, microseconds. */
  readonly micros: number;
  /** The raw request, used for the request summary when no input was built. */
  readonly raw?: RawRequest;
  /** Record the engine input (`--audit-input full`, the default) or not (`--audit-input none`). */
  readonly includeInput: boolean;
  /** Lower-case header names to redact; usually `DEFAULT_REDACTED_HEADERS` plus configured names. */
  readonly redactHeaders: ReadonlySet<string>;
  /** Query parameter names to redact (exact, case-sensitive); default `DEFAULT_REDACTED_QUERY`. */
  readonly redactQuery?: ReadonlySet<string>;
}

/** Builds the decision record for one decision. */
export function toAuditRecord(outcome: DecisionOutcome, meta: AuditMeta): DecisionRecord {
  const { decision } = outcome;
  const request = recordRequest(outcome.input, meta.raw);
  const input = meta.includeInput && outcome.input ? recordInput(outcome.input, meta.redactHeaders, meta.redactQuery) : undefined;
  // Built by assignment rather than conditional spreads (this runs once per decision, see
  // bench/audit.ts), in the documented key order: optional keys are added only when present.
  const record: Partial<Mutable<DecisionRecord>> = {
    version: AUDIT_SCHEMA_VERSION,
    type: "decision",
    time: isoTime(meta.time),
    decision_id: meta.decisionId,
    revision: decision.revision,
    mode: meta.mode,
    outcome: decision.outcome,
    allowed: decision.allowed,
    enforced: decision.enforced,
    would_deny: wouldDeny(decision),
    determining: decision.determining.map(recordRule),
    reason: decision.reason,
  };
  if (decision.detail !== undefined) record.detail = decision.detail;
  record.caller = recordCaller(outcome.identity);
  if (request) record.request = request;
  record.decision_us = Math.round(meta.micros * 10) / 10;
  if (outcome.error !== undefined) record.error = outcome.error;
  if (input) record.input = input;
  // Every required key has been set above.
  return record as DecisionRecord;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What `toShadowRecord` needs besides the two outcomes. */
export interface ShadowMeta {
  readonly decisionId: string;
  readonly time: number;
  readonly mode: AuditMode;
  readonly raw?: RawRequest;
  readonly includeInput: boolean;
  readonly redactHeaders: ReadonlySet<string>;
  readonly redactQuery?: ReadonlySet<string>;
}

/**
 * Compares a live decision with the candidate's; undefined when they agree.
 * Verdicts (`outcome`, before audit mode) are compared, so a global audit
 * switch never hides a disagreement; with `compareRules` a change of the
 * determining rules alone counts too.
 */
export function compareDecisions(live: Decision, candidate: Decision, compareRules: boolean): ShadowDisagreement | undefined {
  if (live.outcome !== candidate.outcome) return "outcome";
  if (compareRules && ruleKeys(live.determining) !== ruleKeys(candidate.determining)) return "rules";
  return undefined;
}

/** Builds the shadow record for a live decision and a candidate's decision on the same request. */
export function toShadowRecord(
  live: DecisionOutcome,
  candidate: DecisionOutcome,
  disagreement: ShadowDisagreement,
  meta: ShadowMeta,
): ShadowRecord {
  const input = live.input ?? candidate.input;
  const request = recordRequest(input, meta.raw);
  const recordedInput = meta.includeInput && input ? recordInput(input, meta.redactHeaders, meta.redactQuery) : undefined;
  return {
    version: AUDIT_SCHEMA_VERSION,
    type: "shadow",
    time: isoTime(meta.time),
    decision_id: meta.decisionId,
    mode: meta.mode,
    disagreement,
    live: { ...shadowSide(live.decision), allowed: live.decision.allowed },
    candidate: { ...shadowSide(candidate.decision), ...(candidate.error !== undefined && { error: candidate.error }) },
    caller: recordCaller(live.identity),
    ...(request && { request }),
    ...(recordedInput && { input: recordedInput }),
  };
}

/** True for an audit-mode denial: the verdict was deny, the answer let the request through. */
export function wouldDeny(decision: Decision): boolean {
  return decision.outcome === "deny" && decision.allowed;
}

/** The snake_case mirror of the engine input, with sensitive header and query values replaced by `[redacted]`. */
export function recordInput(
  input: RequestInput,
  redactHeaders: ReadonlySet<string>,
  redactQuery: ReadonlySet<string> = DEFAULT_REDACTED_QUERY,
): RecordedInput {
  const headers: Record<string, string> = {};
  const redacted: string[] = [];
  // Object.keys rather than Object.entries: no pair array per header (this runs once per decision).
  const sourceHeaders = input.request.headers;
  for (const name of Object.keys(sourceHeaders)) {
    const value = sourceHeaders[name]!;
    // Names are lower-case in the engine input; lower-case again so a configured list in any case still matches.
    if (redactHeaders.has(name.toLowerCase())) {
      put(headers, name, REDACTED);
      redacted.push(name);
    } else {
      put(headers, name, value);
    }
  }
  const query: Record<string, string> = {};
  const redactedQuery: string[] = [];
  const sourceQuery = input.request.query;
  for (const name of Object.keys(sourceQuery)) {
    const value = sourceQuery[name]!;
    if (redactQuery.has(name)) {
      put(query, name, REDACTED);
      redactedQuery.push(name);
    } else {
      put(query, name, value);
    }
  }
  const r = input.request;
  const destination: Mutable<RecordedInput["destination"]> = peer(input.destination.ip, input.destination.port);
  if (input.destination.spiffeId !== undefined) destination.spiffe_id = input.destination.spiffeId;
  const recorded: Mutable<RecordedInput> = {
    caller: recordIdentity(input.caller),
    request: { method: r.method, path: r.path, query, headers, host: r.host, scheme: r.scheme },
    source: peer(input.source.ip, input.source.port),
    destination,
    context: { ...input.context },
    time: input.time,
  };
  if (redacted.length > 0) recorded.redacted_headers = redacted.sort();
  if (redactedQuery.length > 0) recorded.redacted_query = redactedQuery.sort();
  return recorded;
}

/**
 * Sets a data key. A header or parameter named `__proto__` is data and must be
 * recorded as such: plain assignment would set the object's prototype instead.
 * (Plain objects, not null-prototype ones: those are slower to build and to serialize.)
 */
function put(map: Record<string, string>, key: string, value: string): void {
  if (key === "__proto__") Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}

function peer(ip: string | undefined, port: number | undefined): { ip?: string; port?: number; spiffe_id?: string } {
  const p: { ip?: string; port?: number; spiffe_id?: string } = {};
  if (ip !== undefined) p.ip = ip;
  if (port !== undefined) p.port = port;
  return p;
}

function recordRule(rule: RuleRef): RecordedRule {
  return { policy: rule.policy, rule: rule.rule, effect: rule.effect, mode: rule.mode };
}

function ruleKeys(rules: readonly RuleRef[]): string {
  return rules
    .map((r) => `${r.policy}\u0000${r.rule}`)
    .sort()
    .join("\u0001");
}

function shadowSide(decision: Decision): ShadowSide {
  return {
    revision: decision.revision,
    outcome: decision.outcome,
    reason: decision.reason,
    determining: decision.determining.map(recordRule),
    ...(decision.detail !== undefined && { detail: decision.detail }),
  };
}

/**
 * `new Date(ms).toISOString()`, remembered for the last millisecond asked: at
 * thousands of decisions a second, consecutive records mostly share their
 * millisecond, and formatting a date costs more than the rest of the record's
 * scalar fields. A one-entry, referentially transparent memo (like the
 * certificate memo below): the answer depends only on the argument.
 */
export function isoTime(ms: number): string {
  if (ms !== lastIsoTime.ms) {
    lastIsoTime.text = new Date(ms).toISOString();
    lastIsoTime.ms = ms;
  }
  return lastIsoTime.text;
}

const lastIsoTime = { ms: Number.NaN, text: "" };

/** The caller summary of a record. */
export function recordCaller(identity: Identity): RecordedCaller {
  const c: Mutable<RecordedCaller> = { authenticated: identity.authenticated };
  if (identity.spiffeId !== undefined) c.spiffe_id = identity.spiffeId;
  if (identity.trustDomain !== undefined) c.trust_domain = identity.trustDomain;
  if (identity.source !== undefined) c.source = identity.source;
  if (identity.certificate) {
    c.cert_serial = identity.certificate.serial;
    c.cert_fingerprint = identity.certificate.fingerprint;
  }
  if (identity.unauthenticatedReason !== undefined) c.unauthenticated_reason = identity.unauthenticatedReason;
  if (identity.detail !== undefined) c.detail = identity.detail;
  return c;
}

export function recordIdentity(identity: Identity): RecordedIdentity {
  const c: Mutable<RecordedIdentity> = { authenticated: identity.authenticated };
  if (identity.spiffeId !== undefined) c.spiffe_id = identity.spiffeId;
  if (identity.trustDomain !== undefined) c.trust_domain = identity.trustDomain;
  if (identity.path !== undefined) c.path = identity.path;
  if (identity.source !== undefined) c.source = identity.source;
  if (identity.certificate) c.certificate = recordCertificate(identity.certificate);
  if (identity.unauthenticatedReason !== undefined) c.unauthenticated_reason = identity.unauthenticatedReason;
  if (identity.detail !== undefined) c.detail = identity.detail;
  return c;
}

/**
 * Recorded certificates by parsed certificate. The identity module caches
 * parsed certificates, so the same `CertificateAttributes` object recurs on
 * every call of a caller: its snake_case mirror (and, in the sink, that
 * mirror's JSON, see `createAuditLineWriter` in line.ts) is built once. A weak,
 * referentially transparent memo: the mirror is a pure function of an
 * immutable object, and it goes when the certificate leaves the cache.
 */
const recordedCertificates = new WeakMap<CertificateAttributes, RecordedCertificate>();

function recordCertificate(c: CertificateAttributes): RecordedCertificate {
  let recorded = recordedCertificates.get(c);
  if (recorded === undefined) {
    recorded = mirrorCertificate(c);
    recordedCertificates.set(c, recorded);
  }
  return recorded;
}

function mirrorCertificate(c: CertificateAttributes): RecordedCertificate {
  // Frozen: one object is shared by every record of the same certificate.
  return deepFreeze({
    subject: {
      ...(c.subject.commonName !== undefined && { common_name: c.subject.commonName }),
      organization: [...c.subject.organization],
      organizational_unit: [...c.subject.organizationalUnit],
    },
    issuer: {
      ...(c.issuer.commonName !== undefined && { common_name: c.issuer.commonName }),
      organization: [...c.issuer.organization],
    },
    san: { dns: [...c.san.dns], uri: [...c.san.uri], email: [...c.san.email] },
    serial: c.serial,
    fingerprint: c.fingerprint,
    not_before: c.notBefore,
    not_after: c.notAfter,
    extensions: { ...c.extensions },
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === "object" && v !== null) deepFreeze(v as object);
  return Object.freeze(value);
}

/** The request summary: from the built input when there is one, else from the raw request. */
export function recordRequest(input: RequestInput | undefined, raw: RawRequest | undefined): RecordedRequest | undefined {
  let r: Mutable<RecordedRequest>;
  let address: string | undefined;
  let port: number | undefined;
  if (input) {
    r = { method: input.request.method, path: input.request.path, path_normalized: true, host: input.request.host };
    address = input.source.ip;
    port = input.source.port;
  } else if (raw) {
    // The raw target may carry credentials in its query (`?access_token=`); only the path part is recorded.
    const q = raw.path.indexOf("?");
    r = { method: raw.method, path: q < 0 ? raw.path : raw.path.slice(0, q), path_normalized: false, host: raw.host };
    address = raw.source.address;
    port = raw.source.port;
  } else {
    return undefined;
  }
  if (address !== undefined) r.source_address = address;
  if (port !== undefined) r.source_port = port;
  return r;
}
