/**
 * Audit lines: the JSON text the sink writes. A decision record's line is
 * encoded straight from the decision (`DecisionOutcome` plus `AuditMeta`)
 * into UTF-8 bytes, byte for byte what `JSON.stringify(toAuditRecord(outcome,
 * meta))` encodes to, without building the record object or the line's
 * string first: the server writes one line per decision, and in a busy server
 * the record's objects (a copy of every header for redaction among them) and
 * the line's string (hundreds of short pieces V8 must flatten before encoding)
 * cost more than deciding.
 *
 * The parts that recur across decisions are written once and kept:
 * - the verdict (`revision` … `reason`) per determining rule (the engine hands
 *   out the same `RuleRef` objects on every decision);
 * - the caller summary and the recorded caller, certificate included, per
 *   parsed certificate (the identity module caches parsed certificates), or
 *   per SPIFFE ID for callers without one;
 * - the `"name":` part of each header and query parameter;
 * - the `redacted_headers` and `redacted_query` lists, while the same as the last ones written;
 * - a header's, query parameter's or context entry's value, as JSON, once it came
 *   twice in a row under its name (the decoder hands out the same string objects
 *   for the same bytes, so the check is mostly a pointer comparison).
 * Each cache checks every field it stands for, so a hit is always exactly what
 * writing afresh would give (the tests compare with `JSON.stringify`). Cached
 * parts and the fixed text between values are kept as bytes and copied; the
 * short fixed pieces (keys, header names) four bytes at a time, which made a
 * line 6 to 10% cheaper than copying them byte by byte (measured in-process,
 * encoding the bench's request's record in a loop).
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
  /**
   * Encodes the decision record of `outcome`: exactly the UTF-8 bytes of
   * `JSON.stringify(toAuditRecord(outcome, meta)) + "\n"`. The bytes are a view
   * of the writer's own buffer, valid until its next call: copy them before.
   */
  decisionBytes(outcome: DecisionOutcome, meta: AuditMeta): Uint8Array;
  /** The same line as text. */
  decision(outcome: DecisionOutcome, meta: AuditMeta): string;
  /** Any record, as `JSON.stringify` writes it. */
  record(record: AuditRecord): string;
}

/** A verdict's bytes (`,"revision":…,"reason":…`) and everything they were written from. */
interface VerdictEntry {
  readonly revision: string;
  readonly mode: string;
  readonly decision: Pick<Decision, "outcome" | "allowed" | "enforced" | "reason">;
  readonly determining: readonly RuleRef[];
  readonly bytes: Uint8Array;
}

/** The caller fragments of one certificate (or SPIFFE ID) and the identity fields they were written from. */
interface CallerEntry {
  readonly identity: Identity;
  /** `,"caller":{...}`: the record's `caller`, with its key. */
  readonly summary: Uint8Array;
  /** `,"input":{"caller":{...},"request":{"method":`: the start of the record's `input`, up to the method's value. */
  readonly recorded: Uint8Array;
}

/** A header, query or context name: its `{"name":` and `,"name":` bytes, and whether the last redaction set asked redacts it. */
interface NameEntry {
  readonly first: Fragment;
  readonly next: Fragment;
  readonly lowerCase: string;
  redactions: ReadonlySet<string> | undefined;
  redactionsLowerCase?: boolean;
  redacted: boolean;
  /** The value written last under this name, and its JSON once it came twice in a row. */
  lastValue: string | undefined;
  lastValueJson: Fragment | undefined;
}

/** The names of the last map of one kind (query, headers, context) and their entries, in order. */
interface LastNames {
  keys: readonly string[];
  entries: NameEntry[];
}

/** Longest value kept as JSON bytes under its name (so the kept values stay under a few MiB). */
const MAX_KEPT_VALUE = 256;

/** Verdicts with no determining rule (no match, errors), by reason: keyed on this object. */
const NO_RULE: object = {};

/** Most certificate-less callers kept; later ones are written every time. */
const MAX_CALLERS_BY_ID = 4096;

/** Most `"name":` fragments kept; names beyond it are written every time. */
const MAX_NAME_FRAGMENTS = 4096;

/** First size of a writer's buffer; it doubles when a line needs more. */
const INITIAL_BYTES = 16 * 1024;

/** Creates a writer; its caches live as long as it does. */
export function createAuditLineWriter(): AuditLineWriter {
  const verdicts = new WeakMap<object, VerdictEntry[]>();
  const callers = new WeakMap<CertificateAttributes, CallerEntry>();
  // Callers without a parsed certificate, by SPIFFE ID (bounded: an ID is a few dozen bytes, callers are few).
  const callersById = new Map<string, CallerEntry>();
  const names = new Map<string, NameEntry>();
  const out = new ByteWriter(INITIAL_BYTES);
  // The same few headers are redacted on most requests (`authorization`, `cookie`).
  const lastRedactedHeaders = new LastNameList();
  const lastRedactedQuery = new LastNameList();
  const lastQuery: LastNames = { keys: [], entries: [] };
  const lastHeaders: LastNames = { keys: [], entries: [] };
  const lastContext: LastNames = { keys: [], entries: [] };

  function name(key: string): NameEntry {
    let entry = names.get(key);
    if (entry === undefined) {
      const json = JSON.stringify(key);
      entry = {
        first: fragment(`{${json}:`),
        next: fragment(`,${json}:`),
        lowerCase: key.toLowerCase(),
        redactions: undefined,
        redacted: false,
        lastValue: undefined,
        lastValueJson: undefined,
      };
      if (names.size < MAX_NAME_FRAGMENTS) names.set(key, entry);
    }
    return entry;
  }

  /** Whether `key` is redacted by `redact`, remembered per name for the last set asked. */
  function isRedacted(entry: NameEntry, key: string, redact: ReadonlySet<string>, lowerCase: boolean): boolean {
    if (entry.redactions !== redact || entry.redactionsLowerCase !== lowerCase) {
      entry.redacted = redact.has(lowerCase ? entry.lowerCase : key);
      entry.redactions = redact;
      entry.redactionsLowerCase = lowerCase;
    }
    return entry.redacted;
  }

  function verdict(d: Decision, mode: string): Uint8Array {
    const key = d.determining.length > 0 ? d.determining[0]! : NO_RULE;
    let entries = verdicts.get(key);
    if (entries !== undefined) {
      for (const e of entries) {
        if (e.revision === d.revision && e.mode === mode && e.decision.outcome === d.outcome && e.decision.allowed === d.allowed && e.decision.enforced === d.enforced && e.decision.reason === d.reason && sameItems(e.determining, d.determining)) {
          return e.bytes;
        }
      }
    } else {
      entries = [];
      verdicts.set(key, entries);
    }
    const j = JSON.stringify;
    let json = `,"revision":${j(d.revision)},"mode":${j(mode)},"outcome":${j(d.outcome)},"allowed":${j(d.allowed)},"enforced":${j(d.enforced)},"would_deny":${j(wouldDeny(d))},"determining":[`;
    for (let k = 0; k < d.determining.length; k++) {
      const rule = d.determining[k]!;
      json += `${k === 0 ? "" : ","}{"policy":${j(rule.policy)},"rule":${j(rule.rule)},"effect":${j(rule.effect)},"mode":${j(rule.mode)}}`;
    }
    json += `],"reason":${j(d.reason)}`;
    const bytes = utf8(json);
    // A few variants per key at most (revisions, modes); a reload makes new rule objects anyway.
    if (entries.length >= 8) entries.shift();
    entries.push({ revision: d.revision, mode, decision: { outcome: d.outcome, allowed: d.allowed, enforced: d.enforced, reason: d.reason }, determining: [...d.determining], bytes });
    return bytes;
  }

  function caller(identity: Identity): CallerEntry {
    const certificate = identity.certificate;
    const id = identity.spiffeId;
    const cached = certificate !== undefined ? callers.get(certificate) : id !== undefined ? callersById.get(id) : undefined;
    if (cached !== undefined && sameIdentity(cached.identity, identity)) return cached;
    // Written once per caller, so as the record writes them: JSON.stringify of the record's own mirrors.
    // With the fixed text around them, so a line copies each in one piece.
    const entry: CallerEntry = {
      identity: { ...identity },
      summary: utf8(`,"caller":${JSON.stringify(recordCaller(identity))}`),
      recorded: utf8(`,"input":{"caller":${JSON.stringify(recordIdentity(identity))},"request":{"method":`),
    };
    if (certificate !== undefined) callers.set(certificate, entry);
    else if (id !== undefined && (callersById.size < MAX_CALLERS_BY_ID || callersById.has(id))) callersById.set(id, entry);
    return entry;
  }

  /**
   * A JSON object of `map`'s entries. A map's names and most of its values
   * recur from one decision to the next (the decoder hands out the same
   * string objects for the same bytes), so the entries of the last map of the
   * same kind are tried first, by position, and a value that comes twice in a
   * row under a name is kept as JSON bytes and copied from then on.
   */
  function stringMap(map: Readonly<Record<string, string>>, last: LastNames, redact: ReadonlySet<string> | undefined, lowerCase: boolean, redacted: string[] | undefined): void {
    const keys = Object.keys(map);
    const lastKeys = last.keys;
    const entries = last.entries;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      let entry: NameEntry;
      if (k < lastKeys.length && lastKeys[k] === key) entry = entries[k]!;
      else {
        entry = name(key);
        entries[k] = entry;
      }
      out.fragment(k === 0 ? entry.first : entry.next);
      if (redact !== undefined && isRedacted(entry, key, redact, lowerCase)) {
        out.fragment(REDACTED_JSON);
        redacted!.push(key);
        continue;
      }
      const value = map[key]!;
      if (value === entry.lastValue) {
        entry.lastValueJson ??= fragment(JSON.stringify(value));
        out.fragment(entry.lastValueJson);
        continue;
      }
      // Only short values are remembered: a name table of long ones (up to the header limit each) would hold megabytes.
      entry.lastValue = value.length <= MAX_KEPT_VALUE ? value : undefined;
      entry.lastValueJson = undefined;
      out.string(value);
    }
    // Setting an array's length costs a runtime call even when it does not change.
    if (entries.length !== keys.length) entries.length = keys.length;
    last.keys = keys;
    out.fragment(keys.length === 0 ? EMPTY_OBJECT : CLOSE_BRACE);
  }

  function peer(ip: string | undefined, port: number | undefined, spiffeId: string | undefined): void {
    let first = true;
    if (ip !== undefined) {
      out.fragment(K_IP_FIRST);
      out.string(ip);
      first = false;
    }
    if (port !== undefined) {
      out.fragment(first ? K_PORT_FIRST : K_PORT);
      out.number(port);
      first = false;
    }
    if (spiffeId !== undefined) {
      out.fragment(first ? K_SPIFFE_ID_FIRST : K_SPIFFE_ID);
      out.string(spiffeId);
      first = false;
    }
    out.fragment(first ? EMPTY_OBJECT : CLOSE_BRACE);
  }

  /** `input`, after the cached start (`recordedStart`, up to the method's value). */
  function input(i: RequestInput, recordedStart: Uint8Array, meta: AuditMeta): void {
    const r = i.request;
    const redactedHeaders: string[] = [];
    const redactedQuery: string[] = [];
    out.bytes(recordedStart);
    out.string(r.method);
    out.fragment(K_PATH);
    out.string(r.path);
    out.fragment(K_QUERY);
    stringMap(r.query, lastQuery, meta.redactQuery ?? DEFAULT_REDACTED_QUERY, false, redactedQuery);
    out.fragment(K_HEADERS);
    stringMap(r.headers, lastHeaders, meta.redactHeaders, true, redactedHeaders);
    out.fragment(K_HOST);
    out.string(r.host);
    out.fragment(K_SCHEME);
    out.string(r.scheme);
    out.fragment(K_SOURCE);
    peer(i.source.ip, i.source.port, undefined);
    out.fragment(K_DESTINATION);
    peer(i.destination.ip, i.destination.port, i.destination.spiffeId);
    out.fragment(K_CONTEXT);
    stringMap(i.context, lastContext, undefined, false, undefined);
    out.fragment(K_TIME);
    out.number(i.time);
    if (redactedHeaders.length > 0) {
      out.fragment(K_REDACTED_HEADERS);
      out.bytes(lastRedactedHeaders.bytesFor(redactedHeaders.sort()));
    }
    if (redactedQuery.length > 0) {
      out.fragment(K_REDACTED_QUERY);
      out.bytes(lastRedactedQuery.bytesFor(redactedQuery.sort()));
    }
    out.fragment(CLOSE_BRACE);
  }

  /** The request summary (`recordRequest`, so both say the same). */
  function request(input: RequestInput | undefined, raw: AuditMeta["raw"]): void {
    const r = recordRequest(input, raw);
    if (r === undefined) return;
    out.fragment(K_REQUEST_METHOD);
    out.string(r.method);
    out.fragment(K_PATH);
    out.string(r.path);
    out.fragment(r.path_normalized ? K_NORMALIZED_HOST : K_NOT_NORMALIZED_HOST);
    out.string(r.host);
    if (r.source_address !== undefined) {
      out.fragment(K_SOURCE_ADDRESS);
      out.string(r.source_address);
    }
    if (r.source_port !== undefined) {
      out.fragment(K_SOURCE_PORT);
      out.number(r.source_port);
    }
    out.fragment(CLOSE_BRACE);
  }

  function decisionBytes(outcome: DecisionOutcome, meta: AuditMeta): Uint8Array {
    const d = outcome.decision;
    const who = caller(outcome.identity);
    const verdictBytes = verdict(d, meta.mode);
    out.reset();
    out.fragment(K_HEAD);
    out.string(isoTime(meta.time));
    out.fragment(K_DECISION_ID);
    out.string(meta.decisionId);
    out.bytes(verdictBytes);
    if (d.detail !== undefined) {
      out.fragment(K_DETAIL);
      out.string(d.detail);
    }
    out.bytes(who.summary);
    request(outcome.input, meta.raw);
    out.fragment(K_DECISION_US);
    out.number(Math.round(meta.micros * 10) / 10);
    if (outcome.error !== undefined) {
      out.fragment(K_ERROR);
      out.string(outcome.error);
    }
    if (meta.includeInput && outcome.input) input(outcome.input, who.recorded, meta);
    out.fragment(LINE_END);
    return out.view();
  }

  return {
    decisionBytes,
    decision: (outcome, meta) => TEXT.decode(decisionBytes(outcome, meta)),
    record: (record) => `${JSON.stringify(record)}\n`,
  };
}

/** The JSON array of the last list of names asked for, kept as bytes while the next list is the same. */
class LastNameList {
  private names: readonly string[] = [];
  private bytes = utf8("[]");

  bytesFor(names: readonly string[]): Uint8Array {
    if (!sameItems(this.names, names)) {
      this.names = [...names];
      this.bytes = utf8(JSON.stringify(names));
    }
    return this.bytes;
  }
}

/**
 * Appends UTF-8 to one growing buffer. Printable ASCII, the bulk of a record,
 * is copied a code unit at a time (short values) or natively (long ones); any
 * other string goes through `JSON.stringify` and the native encoder, so the
 * bytes are always those of `JSON.stringify`'s text.
 */
class ByteWriter {
  private buf: Buffer;
  private view32: DataView;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.view32 = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Fixed text: four bytes at a time, then the rest. */
  fragment(f: Fragment): void {
    const b = f.bytes;
    const n = b.length;
    this.room(n);
    if (n > LONG_FRAGMENT) {
      this.buf.set(b, this.pos);
      this.pos += n;
      return;
    }
    const words = f.words;
    const view = this.view32;
    let p = this.pos;
    for (let k = 0; k < words.length; k++) {
      view.setInt32(p, words[k]!, true);
      p += 4;
    }
    const buf = this.buf;
    for (let i = words.length << 2; i < n; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  reset(): void {
    this.pos = 0;
  }

  /** The bytes written since `reset`, as a view of the buffer. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    if (n <= SHORT_BYTES) {
      const buf = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) buf[p + i] = b[i]!;
    } else {
      this.buf.set(b, this.pos);
    }
    this.pos += n;
  }

  /** A JSON string literal of `s`. */
  string(s: string): void {
    const n = s.length;
    if (n > SHORT_STRING) {
      this.longString(s);
      return;
    }
    this.room(n + 2);
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    buf[p++] = QUOTE;
    // Checks and copies in one pass; anything JSON.stringify would escape, or that is not ASCII, starts over.
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) {
        this.text(JSON.stringify(s));
        return;
      }
      buf[p++] = c;
    }
    buf[p++] = QUOTE;
    this.pos = p;
  }

  private longString(s: string): void {
    if (NEEDS_ESCAPE_OR_NOT_ASCII.test(s)) {
      this.text(JSON.stringify(s));
      return;
    }
    const n = s.length;
    this.room(n + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = QUOTE;
    if (hasWriteMethods) (buf as Buffer & WriteMethods).latin1Write(s, p, n);
    else buf.write(s, p, n, "latin1");
    p += n;
    buf[p++] = QUOTE;
    this.pos = p;
  }

  /** A JSON number (as JSON.stringify: non-finite numbers are null). */
  number(n: number): void {
    this.ascii(Number.isFinite(n) ? String(n) : "null");
  }

  /** Text already in JSON form (any characters). */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += hasWriteMethods ? (this.buf as Buffer & WriteMethods).utf8Write(s, this.pos) : this.buf.write(s, this.pos, "utf8");
  }

  private ascii(s: string): void {
    const n = s.length;
    this.room(n);
    const buf = this.buf;
    const p = this.pos;
    for (let i = 0; i < n; i++) buf[p + i] = s.charCodeAt(i);
    this.pos = p + n;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
    this.view32 = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }
}

/** Fragments longer than this are copied natively (`set`), shorter ones a word at a time. */
const LONG_FRAGMENT = 64;

/** Byte runs up to this long are copied in a JavaScript loop: `set` costs more for short ones. */
const SHORT_BYTES = 32;

/** Strings up to this long are checked and copied in a JavaScript loop: a native call costs more. */
const SHORT_STRING = 48;

/** Anything but printable ASCII other than `"` and `\\` (which JSON.stringify would escape or a byte copy would mis-encode). */
const NEEDS_ESCAPE_OR_NOT_ASCII = /[^\u0020\u0021\u0023-\u005b\u005d-\u007e]/;

// Buffer's own write methods, without `write`'s argument handling (as check-request.ts uses its slice methods).
type WriteMethods = { latin1Write(s: string, offset: number, length: number): number; utf8Write(s: string, offset: number): number };
const hasWriteMethods = typeof (Buffer.prototype as unknown as Partial<WriteMethods>).latin1Write === "function";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const TEXT = new TextDecoder();

function utf8(s: string): Uint8Array {
  return Buffer.from(s, "utf8");
}

/** Fixed text of a line, with its whole 32-bit words (little-endian) for `ByteWriter.fragment`. */
interface Fragment {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
}

function fragment(s: string): Fragment {
  const bytes = Buffer.from(s, "utf8");
  const words = new Int32Array(bytes.length >> 2);
  for (let k = 0; k < words.length; k++) words[k] = bytes.readInt32LE(k * 4);
  return { bytes, words };
}

// The fixed text between values, in the documented key order (docs/audit.md).
const K_HEAD = fragment(`{"version":${AUDIT_SCHEMA_VERSION},"type":"decision","time":`);
const K_DECISION_ID = fragment(`,"decision_id":`);
const K_DETAIL = fragment(`,"detail":`);
const K_REQUEST_METHOD = fragment(`,"request":{"method":`);
const K_PATH = fragment(`,"path":`);
const K_NORMALIZED_HOST = fragment(`,"path_normalized":true,"host":`);
const K_NOT_NORMALIZED_HOST = fragment(`,"path_normalized":false,"host":`);
const K_SOURCE_ADDRESS = fragment(`,"source_address":`);
const K_SOURCE_PORT = fragment(`,"source_port":`);
const K_DECISION_US = fragment(`,"decision_us":`);
const K_ERROR = fragment(`,"error":`);
const K_QUERY = fragment(`,"query":`);
const K_HEADERS = fragment(`,"headers":`);
const K_HOST = fragment(`,"host":`);
const K_SCHEME = fragment(`,"scheme":`);
const K_SOURCE = fragment(`},"source":`);
const K_DESTINATION = fragment(`,"destination":`);
const K_CONTEXT = fragment(`,"context":`);
const K_TIME = fragment(`,"time":`);
const K_REDACTED_HEADERS = fragment(`,"redacted_headers":`);
const K_REDACTED_QUERY = fragment(`,"redacted_query":`);
const K_IP_FIRST = fragment(`{"ip":`);
const K_PORT_FIRST = fragment(`{"port":`);
const K_PORT = fragment(`,"port":`);
const K_SPIFFE_ID_FIRST = fragment(`{"spiffe_id":`);
const K_SPIFFE_ID = fragment(`,"spiffe_id":`);
const CLOSE_BRACE = fragment("}");
const EMPTY_OBJECT = fragment("{}");
const LINE_END = fragment("}\n");
const REDACTED_JSON = fragment(JSON.stringify(REDACTED));

/** The same items (`===`) in the same order. */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
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
