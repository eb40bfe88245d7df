/**
 * Audit lines: the JSON text the sink writes. A decision record's line is
 * written straight from the decision (`DecisionOutcome` plus `AuditMeta`),
 * byte for byte what `JSON.stringify(toAuditRecord(outcome, meta))` writes,
 * without building the record object first: the server writes one line per
 * decision, and in a busy server the record's objects (a copy of every header
 * for redaction among them) cost more than the text.
 *
 * The parts that recur across decisions are written once and kept:
 * - the verdict (`revision` … `reason`) per determining rule (the engine hands
 *   out the same `RuleRef` objects on every decision);
 * - the caller summary and the recorded caller, certificate included, per
 *   parsed certificate (the identity module caches parsed certificates), or
 *   per SPIFFE ID for callers without one;
 * - the `"name":` part of each header and query parameter.
 * Each cache checks every field it stands for, so a hit is always exactly what
 * writing afresh would give (the tests compare with `JSON.stringify`).
 *
 * Every other record (shadow records, hand-built ones) goes through
 * `JSON.stringify`: they are rare.
 */
import type { DecisionOutcome } from "../decide.js";
import type { Decision, RuleRef } from "../engine/decision.js";
import type { CertificateAttributes, Identity, RequestInput } from "../engine/input.js";
import {
  AUDIT_SCHEMA_VERSION,
  DEFAULT_REDACTED_QUERY,
  isoTime,
  recordCaller,
  recordIdentity,
  recordRequest,
  REDACTED,
  wouldDeny,
  type AuditMeta,
  type AuditRecord,
} from "./record.js";

/** Writes audit lines (each with its trailing newline). */
export interface AuditLineWriter {
  /** The decision record of `outcome`: exactly `JSON.stringify(toAuditRecord(outcome, meta)) + "\n"`. */
  decision(outcome: DecisionOutcome, meta: AuditMeta): string;
  /** Any record, as `JSON.stringify` writes it. */
  record(record: AuditRecord): string;
}

/** A verdict fragment and everything it was written from. */
interface VerdictEntry {
  readonly revision: string;
  readonly mode: string;
  readonly decision: Pick<Decision, "outcome" | "allowed" | "enforced" | "reason">;
  readonly determining: readonly RuleRef[];
  readonly json: string;
}

/** The caller fragments of one certificate and the identity fields they were written from. */
interface CallerEntry {
  readonly identity: Identity;
  /** `{...}` of the record's `caller`. */
  readonly summary: string;
  /** `{...}` of the record's `input.caller`. */
  readonly recorded: string;
}

/** Verdicts with no determining rule (no match, errors), by reason: keyed on this object. */
const NO_RULE: object = {};

/** Most certificate-less callers kept; later ones are written every time. */
const MAX_CALLERS_BY_ID = 4096;

/** Most `"name":` fragments kept; names beyond it are written every time. */
const MAX_NAME_FRAGMENTS = 4096;

/** Creates a writer; its caches live as long as it does. */
export function createAuditLineWriter(): AuditLineWriter {
  const verdicts = new WeakMap<object, VerdictEntry[]>();
  const callers = new WeakMap<CertificateAttributes, CallerEntry>();
  // Callers without a parsed certificate, by SPIFFE ID (bounded: an ID is a few dozen bytes, callers are few).
  const callersById = new Map<string, CallerEntry>();
  const names = new Map<string, string>();

  function name(key: string): string {
    let fragment = names.get(key);
    if (fragment === undefined) {
      fragment = `${str(key)}:`;
      if (names.size < MAX_NAME_FRAGMENTS) names.set(key, fragment);
    }
    return fragment;
  }

  function verdict(d: Decision, mode: string): string {
    const key = d.determining.length > 0 ? d.determining[0]! : NO_RULE;
    let entries = verdicts.get(key);
    if (entries !== undefined) {
      for (const e of entries) {
        if (e.revision === d.revision && e.mode === mode && e.decision.outcome === d.outcome && e.decision.allowed === d.allowed && e.decision.enforced === d.enforced && e.decision.reason === d.reason && sameRules(e.determining, d.determining)) {
          return e.json;
        }
      }
    } else {
      entries = [];
      verdicts.set(key, entries);
    }
    let json = `"revision":${str(d.revision)},"mode":${str(mode)},"outcome":${str(d.outcome)},"allowed":${bool(d.allowed)},"enforced":${bool(d.enforced)},"would_deny":${bool(wouldDeny(d))},"determining":[`;
    for (let k = 0; k < d.determining.length; k++) {
      const rule = d.determining[k]!;
      json += `${k === 0 ? "" : ","}{"policy":${str(rule.policy)},"rule":${str(rule.rule)},"effect":${str(rule.effect)},"mode":${str(rule.mode)}}`;
    }
    json += `],"reason":${str(d.reason)}`;
    // A few variants per key at most (revisions, modes); a reload makes new rule objects anyway.
    if (entries.length >= 8) entries.shift();
    entries.push({ revision: d.revision, mode, decision: { outcome: d.outcome, allowed: d.allowed, enforced: d.enforced, reason: d.reason }, determining: [...d.determining], json });
    return json;
  }

  function caller(identity: Identity): CallerEntry {
    const certificate = identity.certificate;
    const id = identity.spiffeId;
    const cached = certificate !== undefined ? callers.get(certificate) : id !== undefined ? callersById.get(id) : undefined;
    if (cached !== undefined && sameIdentity(cached.identity, identity)) return cached;
    // Written once per caller, so as the record writes them: JSON.stringify of the record's own mirrors.
    const entry: CallerEntry = { identity: { ...identity }, summary: JSON.stringify(recordCaller(identity)), recorded: JSON.stringify(recordIdentity(identity)) };
    if (certificate !== undefined) callers.set(certificate, entry);
    else if (id !== undefined && (callersById.size < MAX_CALLERS_BY_ID || callersById.has(id))) callersById.set(id, entry);
    return entry;
  }

  function stringMap(map: Readonly<Record<string, string>>, redact: ReadonlySet<string> | undefined, lowerCase: boolean, redacted: string[] | undefined): string {
    let s = "";
    for (const key of Object.keys(map)) {
      const value = map[key]!;
      let text: string;
      if (redact !== undefined && redact.has(lowerCase ? key.toLowerCase() : key)) {
        text = REDACTED_JSON;
        redacted!.push(key);
      } else {
        text = str(value);
      }
      s += s === "" ? `{${name(key)}${text}` : `,${name(key)}${text}`;
    }
    return s === "" ? "{}" : `${s}}`;
  }

  function input(i: RequestInput, recordedCaller: string, meta: AuditMeta): string {
    const r = i.request;
    const redactedHeaders: string[] = [];
    const redactedQuery: string[] = [];
    const headers = stringMap(r.headers, meta.redactHeaders, true, redactedHeaders);
    const query = stringMap(r.query, meta.redactQuery ?? DEFAULT_REDACTED_QUERY, false, redactedQuery);
    let s = `{"caller":${recordedCaller},"request":{"method":${str(r.method)},"path":${str(r.path)},"query":${query},"headers":${headers},"host":${str(r.host)},"scheme":${str(r.scheme)}}`;
    s += `,"source":${peer(i.source.ip, i.source.port, undefined)},"destination":${peer(i.destination.ip, i.destination.port, i.destination.spiffeId)}`;
    s += `,"context":${stringMap(i.context, undefined, false, undefined)},"time":${num(i.time)}`;
    if (redactedHeaders.length > 0) s += `,"redacted_headers":${JSON.stringify(redactedHeaders.sort())}`;
    if (redactedQuery.length > 0) s += `,"redacted_query":${JSON.stringify(redactedQuery.sort())}`;
    return `${s}}`;
  }

  function decision(outcome: DecisionOutcome, meta: AuditMeta): string {
    const d = outcome.decision;
    const who = caller(outcome.identity);
    let s = `{"version":${AUDIT_SCHEMA_VERSION},"type":"decision","time":${str(isoTime(meta.time))},"decision_id":${str(meta.decisionId)},${verdict(d, meta.mode)}`;
    if (d.detail !== undefined) s += `,"detail":${str(d.detail)}`;
    s += `,"caller":${who.summary}`;
    const request = requestSummary(outcome.input, meta.raw);
    if (request !== undefined) s += `,"request":${request}`;
    s += `,"decision_us":${num(Math.round(meta.micros * 10) / 10)}`;
    if (outcome.error !== undefined) s += `,"error":${str(outcome.error)}`;
    if (meta.includeInput && outcome.input) s += `,"input":${input(outcome.input, who.recorded, meta)}`;
    return `${s}}\n`;
  }

  return { decision, record: (record) => `${JSON.stringify(record)}\n` };
}

const REDACTED_JSON = JSON.stringify(REDACTED);

function sameRules(a: readonly RuleRef[], b: readonly RuleRef[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return (
    a.authenticated === b.authenticated &&
    a.spiffeId === b.spiffeId &&
    a.trustDomain === b.trustDomain &&
    a.path === b.path &&
    a.source === b.source &&
    a.certificate === b.certificate &&
    a.unauthenticatedReason === b.unauthenticatedReason &&
    a.detail === b.detail
  );
}

/** `{...}` of a record's request summary (`recordRequest`, so both say the same). */
function requestSummary(input: RequestInput | undefined, raw: AuditMeta["raw"]): string | undefined {
  const r = recordRequest(input, raw);
  if (r === undefined) return undefined;
  let s = `{"method":${str(r.method)},"path":${str(r.path)},"path_normalized":${bool(r.path_normalized)},"host":${str(r.host)}`;
  if (r.source_address !== undefined) s += `,"source_address":${str(r.source_address)}`;
  if (r.source_port !== undefined) s += `,"source_port":${num(r.source_port)}`;
  return `${s}}`;
}

function peer(ip: string | undefined, port: number | undefined, spiffeId: string | undefined): string {
  let s = "";
  if (ip !== undefined) s += `,"ip":${str(ip)}`;
  if (port !== undefined) s += `,"port":${num(port)}`;
  if (spiffeId !== undefined) s += `,"spiffe_id":${str(spiffeId)}`;
  return s === "" ? "{}" : `{${s.slice(1)}}`;
}

/**
 * A JSON string literal. Most recorded strings (ids, names, paths, SPIFFE ids)
 * need no escaping: one native regular-expression scan and a concatenation
 * are cheaper than a `JSON.stringify` call; anything with a quote, backslash,
 * control character or surrogate (JSON.stringify escapes lone surrogates)
 * still goes through `JSON.stringify`, so the output is identical.
 */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

function num(n: number): string {
  // As JSON.stringify: non-finite numbers become null.
  return Number.isFinite(n) ? String(n) : "null";
}

function bool(b: boolean): string {
  return b ? "true" : "false";
}
