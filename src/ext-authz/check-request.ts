/**
 * `CheckRequest` bytes → `RawRequest`: a hand-written decoder that reads only
 * what a decision needs (this is `fromCheckRequest` of the design, fused with
 * protobuf decoding for speed). Field numbers come from the official protos
 * (`envoy/service/auth/v3/external_auth.proto`, `attribute_context.proto`,
 * `envoy/config/core/v3/base.proto` and `address.proto`); `CHECK_REQUEST_LAYOUT`
 * lists every one so startup and the tests can check them against the
 * descriptors loaded by proto-loader.
 *
 * What Envoy fills in (source/extensions/filters/common/ext_authz/check_request_utils.cc):
 * `attributes.source` / `destination` (socket address, principal = first URI
 * SAN, else DNS SAN, else subject; `source.certificate` = URL-encoded PEM with
 * `include_peer_certificate`), `attributes.request.time`, `request.http` (id,
 * method, path with query, host, scheme, size, protocol, either the `headers`
 * map — lower-case names, repeated headers joined with `,` — or, with
 * `encode_raw_headers`, `header_map` entries carrying `raw_value` bytes; the
 * body as `body` or `raw_body` with `with_request_body`), `context_extensions`,
 * `metadata_context`, `route_metadata_context` and `tls_session`.
 *
 * Failure is data: malformed wire bytes, a missing `attributes.request.http`
 * or an oversized message give `{ ok: false }` with a reason, never a throw.
 */
import { isAscii, isUtf8 as bufferIsUtf8 } from "node:buffer";
import type { RawRequest } from "../input/raw.js";
import { WIRE_LDELIM, WIRE_VARINT, WireReader } from "./wire.js";
import { createDataMap } from "../data-map.js";

/** Every field the decoder reads: (message, field, number), checked against the official descriptors. */
export const CHECK_REQUEST_LAYOUT: readonly (readonly [string, string, number])[] = [
  ["envoy.service.auth.v3.CheckRequest", "attributes", 1],
  ["envoy.service.auth.v3.AttributeContext", "source", 1],
  ["envoy.service.auth.v3.AttributeContext", "destination", 2],
  ["envoy.service.auth.v3.AttributeContext", "request", 4],
  ["envoy.service.auth.v3.AttributeContext", "context_extensions", 10],
  ["envoy.service.auth.v3.AttributeContext.Peer", "address", 1],
  ["envoy.service.auth.v3.AttributeContext.Peer", "principal", 4],
  ["envoy.service.auth.v3.AttributeContext.Peer", "certificate", 5],
  ["envoy.service.auth.v3.AttributeContext.Request", "http", 2],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "method", 2],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "headers", 3],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "path", 4],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "host", 5],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "scheme", 6],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "body", 11],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "raw_body", 12],
  ["envoy.service.auth.v3.AttributeContext.HttpRequest", "header_map", 13],
  ["envoy.config.core.v3.HeaderMap", "headers", 1],
  ["envoy.config.core.v3.HeaderValue", "key", 1],
  ["envoy.config.core.v3.HeaderValue", "value", 2],
  ["envoy.config.core.v3.HeaderValue", "raw_value", 3],
  ["envoy.config.core.v3.Address", "socket_address", 1],
  ["envoy.config.core.v3.Address", "pipe", 2],
  ["envoy.config.core.v3.Address", "envoy_internal_address", 3],
  ["envoy.config.core.v3.SocketAddress", "address", 2],
  ["envoy.config.core.v3.SocketAddress", "port_value", 3],
  ["envoy.config.core.v3.SocketAddress", "named_port", 4],
];

/** Why a message could not be turned into a request. */
export type CheckRequestRejection = "malformed_request" | "request_too_large";

/** The decoder's result. */
export type DecodedCheckRequest =
  | { readonly ok: true; readonly raw: RawRequest }
  | { readonly ok: false; readonly reason: CheckRequestRejection; readonly detail: string };

/** Limits the decoder applies before reading anything (and, optionally, its memo). */
export interface CheckRequestLimits {
  /** Largest accepted message, in bytes. */
  readonly maxMessageBytes: number;
  /** Recently decoded peer certificates, reused when the same bytes come again (see `createDecodeMemo`). */
  readonly memo?: DecodeMemo;
}

/**
 * The last few peer certificates the decoder turned into text, by their
 * bytes. A sidecar's Envoy sends the same few callers' certificates (about a
 * kilobyte URL-encoded) on every call: comparing bytes is cheaper than
 * decoding them again, and handing out the same string object lets the
 * identity module's certificate cache find it without hashing a kilobyte of
 * text again (V8 keeps a string's hash in the string). Owned by one service.
 */
export interface DecodeMemo {
  readonly certificates: { bytes: Buffer; text: string }[];
  /**
   * Short strings (header names and values, method, path, host, principals,
   * addresses) by their bytes. Most of them recur on every call: handing out
   * the same string object spares decoding and allocating them, and lets the
   * input builder's name memo and every object keyed by a header name find
   * an already-hashed string instead of a fresh one.
   */
  readonly strings?: StringMemo;
  /** Entries of the `headers` map by position (see `EntryMemo`). */
  readonly headerEntries?: EntryMemo;
  /** Entries of `header_map` by position. */
  readonly headerMapEntries?: EntryMemo;
}

/** How many certificates a memo keeps (most recently used first). */
const MEMO_CERTIFICATES = 8;

/** Creates an empty decode memo. */
export function createDecodeMemo(): DecodeMemo {
  return { certificates: [], strings: new StringMemo(), headerEntries: new EntryMemo(), headerMapEntries: new EntryMemo() };
}

/** Header entries remembered per position, and the longest entry remembered (its bytes as encoded, key and value together). */
const ENTRY_POSITIONS = 64;
const ENTRY_BYTES = 160;

/** A header pair as decoded; shared between requests by `EntryMemo`, so never changed. */
type HeaderPair = readonly [string, string];

/**
 * The last request's header entries by position: an entry whose bytes are
 * the same as the one at its position last time decodes to the same pair,
 * and the memo hands out that very pair. A sidecar's Envoy sends the same
 * headers in the same order on nearly every call, so most entries cost one
 * byte comparison instead of two string reads and a new array; later stages
 * that remember the last request's headers find the same strings. Entries
 * of headers whose values are new on every request (request and trace ids)
 * and entries over `ENTRY_BYTES` are not kept. About 10 KiB, whatever comes.
 */
export class EntryMemo {
  /** Byte length of the entry kept at each position; 0 when none is. */
  private readonly lengths = new Uint8Array(ENTRY_POSITIONS);
  private readonly arena = new Uint8Array(ENTRY_POSITIONS * ENTRY_BYTES);
  private readonly pairs: HeaderPair[] = new Array<HeaderPair>(ENTRY_POSITIONS).fill(["", ""]);
  private readonly arenaView = new DataView(this.arena.buffer);
  /** The message `view` reads (the last one looked at). */
  private viewOf: Buffer | undefined;
  private view: DataView<ArrayBufferLike> = this.arenaView;

  /** The pair kept at `position` if its entry's bytes were `buf[start, stop)`. */
  find(buf: Buffer, start: number, stop: number, position: number): HeaderPair | undefined {
    const length = stop - start;
    if (position >= ENTRY_POSITIONS || this.lengths[position] !== length || length === 0) return undefined;
    const base = position * ENTRY_BYTES;
    // Four bytes at a time (a DataView reads at any offset), then the rest one by one.
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const view = this.view;
    const kept = this.arenaView;
    let i = 0;
    for (; i + 4 <= length; i += 4) if (kept.getInt32(base + i) !== view.getInt32(start + i)) return undefined;
    const arena = this.arena;
    for (; i < length; i++) if (arena[base + i] !== buf[start + i]) return undefined;
    return this.pairs[position];
  }

  /** Lets go of the message `find` last read (it must not stay alive until the next one). */
  release(): void {
    this.viewOf = undefined;
    this.view = this.arenaView;
  }

  /** Keeps `pair`, decoded from `buf[start, stop)`, for `position`. */
  keep(buf: Buffer, start: number, stop: number, position: number, pair: HeaderPair): void {
    if (position >= ENTRY_POSITIONS) return;
    const length = stop - start;
    if (length > ENTRY_BYTES || UNIQUE_PER_REQUEST.has(pair[0])) {
      this.lengths[position] = 0;
      return;
    }
    const arena = this.arena;
    const base = position * ENTRY_BYTES;
    for (let i = 0; i < length; i++) arena[base + i] = buf[start + i]!;
    this.lengths[position] = length;
    this.pairs[position] = pair;
  }
}

/** Slots of a string memo, in pairs (two per hash): strings that never recur, such as request ids, only ever replace others. */
const MEMO_SLOTS = 2048;
/** Longer strings are decoded every time. */
const MEMO_STRING_BYTES = 64;

/**
 * Short strings by their bytes, in a fixed table: a slot pair per hash of
 * the length and five sampled bytes (no pass over the whole string), each
 * slot with a copy of its string's bytes. A hit is confirmed byte against
 * byte (two typed arrays: about three times as fast as comparing a string's
 * code units with bytes), so a hash collision only costs a decode. A new
 * string takes the pair's first slot and moves the one there to the second.
 * The table's size bounds its memory: about 300 KiB at most.
 */
export class StringMemo {
  private readonly hashes = new Int32Array(MEMO_SLOTS);
  /** Byte length of each slot's string; 0 for an empty slot. */
  private readonly lengths = new Uint8Array(MEMO_SLOTS);
  private readonly arena = new Uint8Array(MEMO_SLOTS * MEMO_STRING_BYTES);
  private readonly texts: string[] = new Array<string>(MEMO_SLOTS).fill("");
  /** Per slot: 1 when the string is the name of a header whose value is new on every request (`UNIQUE_PER_REQUEST`). */
  private readonly uniqueValues = new Uint8Array(MEMO_SLOTS);
  /** The slot `read` found or filled last; -1 when it decoded without the memo. */
  private lastSlot = -1;

  /** The text of `buf[start, stop)` (at most `MEMO_STRING_BYTES` bytes, at least 1). */
  read(buf: Buffer, start: number, stop: number): string {
    const length = stop - start;
    const last = stop - 1;
    let hash = Math.imul(length, 0x9e3779b1) ^ buf[start]!;
    hash = Math.imul(hash, 31) + buf[last]!;
    hash = Math.imul(hash, 31) + buf[start + (length >> 1)]!;
    hash = Math.imul(hash, 31) + buf[start + (length >> 2)]!;
    hash = (Math.imul(hash, 31) + buf[last - (length >> 2)]!) | 0;
    const first = hash & (MEMO_SLOTS - 2);
    const hashes = this.hashes;
    const lengths = this.lengths;
    const arena = this.arena;
    for (let slot = first; slot <= first + 1; slot++) {
      if (hashes[slot] !== hash || lengths[slot] !== length) continue;
      const base = slot * MEMO_STRING_BYTES;
      let i = 0;
      while (i < length && arena[base + i] === buf[start + i]) i++;
      if (i === length) {
        this.lastSlot = slot;
        return this.texts[slot]!;
      }
    }
    const text = decodeUtf8(buf, start, stop);
    // The pair's first slot moves to the second; the new string takes the first.
    const second = first + 1;
    if (lengths[first] !== 0) {
      hashes[second] = hashes[first]!;
      lengths[second] = lengths[first]!;
      this.texts[second] = this.texts[first]!;
      this.uniqueValues[second] = this.uniqueValues[first]!;
      arena.copyWithin(second * MEMO_STRING_BYTES, first * MEMO_STRING_BYTES, first * MEMO_STRING_BYTES + MEMO_STRING_BYTES);
    }
    hashes[first] = hash;
    lengths[first] = length;
    this.texts[first] = text;
    this.uniqueValues[first] = UNIQUE_PER_REQUEST.has(text) ? 1 : 0;
    const base = first * MEMO_STRING_BYTES;
    for (let i = 0; i < length; i++) arena[base + i] = buf[start + i]!;
    this.lastSlot = first;
    return text;
  }

  /** Whether the string `read` returned last names a header whose values should not be memoized. */
  lastIsUniqueValueName(text: string): boolean {
    const slot = this.lastSlot;
    if (slot >= 0 && this.texts[slot] === text) return this.uniqueValues[slot] === 1;
    return UNIQUE_PER_REQUEST.has(text);
  }

  /** Forgets which slot was read last (the next name check looks the name up). */
  forgetLast(): void {
    this.lastSlot = -1;
  }

  /** How many strings the memo holds. */
  get size(): number {
    let n = 0;
    for (let slot = 0; slot < MEMO_SLOTS; slot++) if (this.lengths[slot] !== 0) n++;
    return n;
  }

  /** The strings the memo holds. */
  values(): string[] {
    const out: string[] = [];
    for (let slot = 0; slot < MEMO_SLOTS; slot++) if (this.lengths[slot] !== 0) out.push(this.texts[slot]!);
    return out;
  }
}

interface PeerAcc {
  address: string | undefined;
  port: number | undefined;
  principal: string;
  certificate: string;
}

interface RequestAcc {
  sawAttributes: boolean;
  sawHttp: boolean;
  method: string;
  path: string;
  host: string;
  scheme: string;
  /** The `headers` map entries as read; a repeated key is resolved (last value wins) by `mapEntries`. */
  headerMap: HeaderPair[] | undefined;
  /** The `header_map` entries, in order (repeated headers stay separate). */
  headerList: HeaderPair[] | undefined;
  source: PeerAcc;
  destination: PeerAcc;
  contextExtensions: Record<string, string>;
  bodyBytes: number | undefined;
  memo: DecodeMemo | undefined;
}

const X_REQUEST_ID = "x-request-id";
const XFCC = "x-forwarded-client-cert";

/**
 * Decodes a `CheckRequest`. Never throws. Unknown fields are skipped; a known
 * field with the wrong wire type, a truncated field, a group, field number 0
 * or a header value that is not valid UTF-8 makes the message malformed.
 */
export function decodeCheckRequest(buf: Buffer, limits: CheckRequestLimits): DecodedCheckRequest {
  if (buf.length > limits.maxMessageBytes) {
    return { ok: false, reason: "request_too_large", detail: `the CheckRequest is ${buf.length} bytes, more than the limit of ${limits.maxMessageBytes}` };
  }
  const acc: RequestAcc = {
    sawAttributes: false,
    sawHttp: false,
    method: "",
    path: "",
    host: "",
    scheme: "",
    headerMap: undefined,
    headerList: undefined,
    source: { address: undefined, port: undefined, principal: "", certificate: "" },
    destination: { address: undefined, port: undefined, principal: "", certificate: "" },
    contextExtensions: createDataMap(),
    bodyBytes: undefined,
    memo: limits.memo,
  };
  const r = new WireReader(buf);
  try {
    readCheckRequest(r, buf.length, acc);
  } catch (err) {
    // The readers report problems through `r.error`; reaching this is a bug, still a deny.
    return { ok: false, reason: "malformed_request", detail: `decoder error: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    limits.memo?.headerEntries?.release();
    limits.memo?.headerMapEntries?.release();
  }
  if (r.error !== undefined) return { ok: false, reason: "malformed_request", detail: `invalid protobuf: ${r.error}` };
  if (!acc.sawAttributes) return { ok: false, reason: "malformed_request", detail: "the CheckRequest has no `attributes`" };
  if (!acc.sawHttp) return { ok: false, reason: "malformed_request", detail: "the CheckRequest has no `attributes.request.http`" };
  if (acc.headerMap !== undefined && acc.headerList !== undefined) {
    return { ok: false, reason: "malformed_request", detail: "the CheckRequest carries both `headers` and `header_map`" };
  }
  return { ok: true, raw: toRawRequest(acc) };
}

function toRawRequest(acc: RequestAcc): RawRequest {
  const headers: readonly HeaderPair[] = acc.headerList ?? (acc.headerMap ? mapEntries(acc.headerMap) : []);
  let requestId: string | undefined;
  let xfcc: string | undefined;
  for (const [name, value] of headers) {
    // Names are lower-case from Envoy; compare case-insensitively anyway, only when the length matches.
    if (name.length === X_REQUEST_ID.length && equalsIgnoringCase(name, X_REQUEST_ID)) {
      requestId = requestId === undefined ? value : `${requestId},${value}`;
    } else if (name.length === XFCC.length && equalsIgnoringCase(name, XFCC)) {
      xfcc = xfcc === undefined ? value : `${xfcc},${value}`;
    }
  }
  const src = acc.source;
  const dst = acc.destination;
  const identity: { principal?: string; certificate?: { text: string; encoding: "url" }; xfcc?: string } = {};
  if (src.principal !== "") identity.principal = src.principal;
  if (src.certificate !== "") identity.certificate = { text: src.certificate, encoding: "url" };
  if (xfcc !== undefined) identity.xfcc = xfcc;
  const source: { address?: string; port?: number } = {};
  if (src.address !== undefined && src.address !== "") source.address = src.address;
  if (src.port !== undefined) source.port = src.port;
  const destination: { address?: string; port?: number; principal?: string } = {};
  if (dst.address !== undefined && dst.address !== "") destination.address = dst.address;
  if (dst.port !== undefined) destination.port = dst.port;
  if (dst.principal !== "") destination.principal = dst.principal;
  const raw: {
    -readonly [K in keyof RawRequest]: RawRequest[K];
  } = {
    method: acc.method,
    path: acc.path,
    host: acc.host,
    scheme: acc.scheme,
    headers,
    source,
    destination,
    identity,
    contextExtensions: acc.contextExtensions,
  };
  if (acc.bodyBytes !== undefined) raw.bodyBytes = acc.bodyBytes;
  if (requestId !== undefined) raw.requestId = requestId;
  return raw;
}

/** `name.toLowerCase() === lowerCase`, for a `lowerCase` of letters, digits and `-`, without making a string. */
function equalsIgnoringCase(name: string, lowerCase: string): boolean {
  if (name.length !== lowerCase.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const l = lowerCase.charCodeAt(i);
    // Beyond ASCII only the Kelvin sign (U+212A) lower-cases to one ASCII letter (`k`).
    if (c !== l && !(c >= 65 && c <= 90 && c + 32 === l) && !(c === 0x212a && l === 107)) return false;
  }
  return true;
}

/**
 * Protobuf map semantics for entries read in order: a key seen again replaces
 * the earlier value (in the earlier position), as every protobuf runtime does.
 * Envoy never repeats a key; the check is a short scan in the common case.
 */
function mapEntries(entries: readonly HeaderPair[]): readonly HeaderPair[] {
  let repeated = false;
  if (entries.length <= 32) {
    outer: for (let i = 1; i < entries.length; i++) {
      const key = entries[i]![0];
      const length = key.length;
      for (let j = 0; j < i; j++) {
        // Lengths first: an inline read, where a string comparison is a call.
        const other = entries[j]![0];
        if (other.length === length && other === key) {
          repeated = true;
          break outer;
        }
      }
    }
  } else {
    repeated = new Set(entries.map((e) => e[0])).size !== entries.length;
  }
  return repeated ? [...new Map(entries)] : entries;
}

// Each reader loops over one message's fields until `end`, stopping at the first error.

function readCheckRequest(r: WireReader, end: number, acc: RequestAcc): void {
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1) {
      if (!expectLdelim(r, wire, "CheckRequest.attributes")) return;
      const stop = r.ldelimEnd(end);
      acc.sawAttributes = true;
      readAttributes(r, stop, acc);
    } else skipField(r, field, wire, end);
  }
}

function readAttributes(r: WireReader, end: number, acc: RequestAcc): void {
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    switch (field) {
      case 1:
      case 2: {
        if (!expectLdelim(r, wire, field === 1 ? "AttributeContext.source" : "AttributeContext.destination")) return;
        const stop = r.ldelimEnd(end);
        readPeer(r, stop, field === 1 ? acc.source : acc.destination, acc.memo);
        break;
      }
      case 4: {
        if (!expectLdelim(r, wire, "AttributeContext.request")) return;
        const stop = r.ldelimEnd(end);
        readRequest(r, stop, acc);
        break;
      }
      case 10: {
        if (!expectLdelim(r, wire, "AttributeContext.context_extensions")) return;
        const stop = r.ldelimEnd(end);
        const entry = readStringPair(r, stop, "context_extensions entry");
        if (entry) acc.contextExtensions[entry[0]] = entry[1];
        break;
      }
      default:
        skipField(r, field, wire, end);
    }
  }
}

function readPeer(r: WireReader, end: number, peer: PeerAcc, memo: DecodeMemo | undefined): void {
  const strings = memo?.strings;
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    switch (field) {
      case 1: {
        if (!expectLdelim(r, wire, "Peer.address")) return;
        const stop = r.ldelimEnd(end);
        readAddress(r, stop, peer, strings);
        break;
      }
      case 4:
        if (!expectLdelim(r, wire, "Peer.principal")) return;
        peer.principal = readText(r, end, strings);
        break;
      case 5:
        if (!expectLdelim(r, wire, "Peer.certificate")) return;
        peer.certificate = memo ? readMemoizedString(r, end, memo.certificates) : readString(r, end);
        break;
      default:
        skipField(r, field, wire, end);
    }
  }
}

function readAddress(r: WireReader, end: number, peer: PeerAcc, strings: StringMemo | undefined): void {
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1) {
      if (!expectLdelim(r, wire, "Address.socket_address")) return;
      const stop = r.ldelimEnd(end);
      readSocketAddress(r, stop, peer, strings);
    } else if (field === 2 || field === 3) {
      // `pipe` / `envoy_internal_address`: the other members of the `address` oneof; the last one set wins.
      if (!expectLdelim(r, wire, "Address")) return;
      r.pos = r.ldelimEnd(end);
      peer.address = undefined;
      peer.port = undefined;
    } else skipField(r, field, wire, end);
  }
}

function readSocketAddress(r: WireReader, end: number, peer: PeerAcc, strings: StringMemo | undefined): void {
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 2) {
      if (!expectLdelim(r, wire, "SocketAddress.address")) return;
      peer.address = readText(r, end, strings);
    } else if (field === 3) {
      if (wire !== WIRE_VARINT) {
        r.error = "SocketAddress.port_value has the wrong wire type";
        return;
      }
      peer.port = r.varint32(end);
    } else if (field === 4) {
      // `named_port`, the other member of the `port_specifier` oneof.
      if (!expectLdelim(r, wire, "SocketAddress.named_port")) return;
      r.pos = r.ldelimEnd(end);
      peer.port = undefined;
    } else skipField(r, field, wire, end);
  }
}

function readRequest(r: WireReader, end: number, acc: RequestAcc): void {
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 2) {
      if (!expectLdelim(r, wire, "Request.http")) return;
      const stop = r.ldelimEnd(end);
      acc.sawHttp = true;
      readHttpRequest(r, stop, acc);
    } else skipField(r, field, wire, end);
  }
}

function readHttpRequest(r: WireReader, end: number, acc: RequestAcc): void {
  const strings = acc.memo?.strings;
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    switch (field) {
      case 2:
        if (!expectLdelim(r, wire, "HttpRequest.method")) return;
        acc.method = readText(r, end, strings);
        break;
      case 3: {
        if (!expectLdelim(r, wire, "HttpRequest.headers")) return;
        const stop = r.ldelimEnd(end);
        if (r.error !== undefined) return;
        readHeaderEntry(r, stop, (acc.headerMap ??= []), strings, acc.memo?.headerEntries, false);
        break;
      }
      case 4:
        if (!expectLdelim(r, wire, "HttpRequest.path")) return;
        acc.path = readText(r, end, strings);
        break;
      case 5:
        if (!expectLdelim(r, wire, "HttpRequest.host")) return;
        acc.host = readText(r, end, strings);
        break;
      case 6:
        if (!expectLdelim(r, wire, "HttpRequest.scheme")) return;
        acc.scheme = readText(r, end, strings);
        break;
      case 11:
      case 12: {
        // `body` / `raw_body`: only the size matters to a decision; the bytes are never decoded.
        if (!expectLdelim(r, wire, "HttpRequest.body")) return;
        const stop = r.ldelimEnd(end);
        acc.bodyBytes = (acc.bodyBytes ?? 0) + (stop - r.pos);
        r.pos = stop;
        break;
      }
      case 13: {
        if (!expectLdelim(r, wire, "HttpRequest.header_map")) return;
        const stop = r.ldelimEnd(end);
        readHeaderMap(r, stop, (acc.headerList ??= []), strings, acc.memo?.headerMapEntries);
        break;
      }
      default:
        skipField(r, field, wire, end);
    }
  }
}

function readHeaderMap(r: WireReader, end: number, list: HeaderPair[], strings: StringMemo | undefined, entries: EntryMemo | undefined): void {
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1) {
      if (!expectLdelim(r, wire, "HeaderMap.headers")) return;
      const stop = r.ldelimEnd(end);
      if (r.error !== undefined) return;
      readHeaderEntry(r, stop, list, strings, entries, true);
    } else skipField(r, field, wire, end);
  }
}

/**
 * One header entry, `r.pos` to `stop`, onto `list`: the pair `entries` kept
 * for its position when the bytes are the same, else decoded (a `headers` map
 * entry, or a `header_map` `HeaderValue`) and kept for the next request.
 */
function readHeaderEntry(r: WireReader, stop: number, list: HeaderPair[], strings: StringMemo | undefined, entries: EntryMemo | undefined, headerValue: boolean): void {
  const start = r.pos;
  let pair = entries?.find(r.buf, start, stop, list.length);
  if (pair !== undefined) r.pos = stop;
  else {
    pair = headerValue ? readHeaderValue(r, stop, strings) : readStringPair(r, stop, "headers entry", strings);
    if (pair !== undefined) entries?.keep(r.buf, start, stop, list.length, pair);
  }
  if (pair !== undefined) list.push(pair);
}

/** A `HeaderValue`: `raw_value` (what Envoy sends) or `value`; both set and different is ambiguous, so malformed. */
function readHeaderValue(r: WireReader, end: number, strings: StringMemo | undefined): [string, string] | undefined {
  let key = "";
  let value = "";
  let rawValue: string | undefined;
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return undefined;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1) {
      if (!expectLdelim(r, wire, "HeaderValue.key")) return undefined;
      key = readText(r, end, strings);
    } else if (field === 2) {
      if (!expectLdelim(r, wire, "HeaderValue.value")) return undefined;
      value = readText(r, end, memoForValueOf(key, strings));
    } else if (field === 3) {
      if (!expectLdelim(r, wire, "HeaderValue.raw_value")) return undefined;
      const stop = r.ldelimEnd(end);
      if (r.error !== undefined) return undefined;
      const bytes = r.buf.subarray(r.pos, stop);
      // `raw_value` is bytes: refuse what is not UTF-8 rather than let two different values decode alike.
      if (!isUtf8(bytes)) {
        r.error = "a header_map raw_value is not valid UTF-8";
        return undefined;
      }
      rawValue = decodeUtf8(r.buf, r.pos, stop);
      r.pos = stop;
    } else skipField(r, field, wire, end);
  }
  if (r.error !== undefined) return undefined;
  if (rawValue !== undefined && rawValue !== "" && value !== "" && rawValue !== value) {
    r.error = "a header_map entry has different value and raw_value";
    return undefined;
  }
  return [key, rawValue !== undefined && rawValue !== "" ? rawValue : value];
}

/** A map entry (`key` = 1, `value` = 2), both strings; missing parts are empty. */
function readStringPair(r: WireReader, end: number, what: string, strings?: StringMemo): [string, string] | undefined {
  let key = "";
  let value = "";
  while (r.pos < end && r.error === undefined) {
    const t = r.varint32(end);
    if (r.error !== undefined) return undefined;
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1 || field === 2) {
      if (!expectLdelim(r, wire, what)) return undefined;
      const text = readText(r, end, field === 2 ? memoForValueOf(key, strings) : strings);
      if (field === 1) key = text;
      else value = text;
    } else skipField(r, field, wire, end);
  }
  return r.error === undefined ? [key, value] : undefined;
}

/**
 * Headers whose values differ on every request (request ids and tracing
 * context): decoded without the string memo. Only a cost saving: any header
 * decodes to the same text either way.
 */
const UNIQUE_PER_REQUEST: ReadonlySet<string> = new Set([
  "x-request-id",
  "x-client-trace-id",
  "traceparent",
  "tracestate",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "b3",
  "x-ot-span-context",
  "x-cloud-trace-context",
  "x-amzn-trace-id",
  "x-datadog-trace-id",
  "x-datadog-parent-id",
  "uber-trace-id",
]);

/** The memo to decode `name`'s value with: none for values that are new on every request (they would only churn it and stay alive in it). */
function memoForValueOf(name: string, strings: StringMemo | undefined): StringMemo | undefined {
  if (strings === undefined) return undefined;
  return strings.lastIsUniqueValueName(name) ? undefined : strings;
}

function readString(r: WireReader, end: number): string {
  const stop = r.ldelimEnd(end);
  if (r.error !== undefined) return "";
  const s = decodeUtf8(r.buf, r.pos, stop);
  r.pos = stop;
  return s;
}

/** `readString`, answered from `entries` (most recently used first) when the same bytes were decoded lately. */
function readMemoizedString(r: WireReader, end: number, entries: { bytes: Buffer; text: string }[]): string {
  const stop = r.ldelimEnd(end);
  if (r.error !== undefined) return "";
  const start = r.pos;
  const length = stop - start;
  r.pos = stop;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.bytes.length === length && r.buf.compare(entry.bytes, 0, length, start, stop) === 0) {
      if (i > 0) {
        entries.splice(i, 1);
        entries.unshift(entry);
      }
      return entry.text;
    }
  }
  const text = decodeUtf8(r.buf, start, stop);
  // A copy: the entry must not keep the whole message alive.
  entries.unshift({ bytes: Buffer.from(r.buf.subarray(start, stop)), text });
  if (entries.length > MEMO_CERTIFICATES) entries.pop();
  return text;
}

/** `readString`, answered from `strings` (see `StringMemo`) for strings of 1 to `MEMO_STRING_BYTES` bytes. */
function readText(r: WireReader, end: number, strings: StringMemo | undefined): string {
  if (strings === undefined) return readString(r, end);
  const stop = r.ldelimEnd(end);
  if (r.error !== undefined) return "";
  const start = r.pos;
  const length = stop - start;
  r.pos = stop;
  if (length > MEMO_STRING_BYTES || length === 0) {
    strings.forgetLast();
    return decodeUtf8(r.buf, start, stop);
  }
  return strings.read(r.buf, start, stop);
}

// Buffer's own slice methods, without `toString`'s argument handling (protobufjs uses them the same way).
type SliceMethods = { utf8Slice(start: number, end: number): string; latin1Slice(start: number, end: number): string };
const hasSliceMethods = typeof (Buffer.prototype as unknown as Partial<SliceMethods>).utf8Slice === "function";

/**
 * UTF-8 text of `buf[start, end)` (invalid sequences become U+FFFD, as in
 * every protobuf runtime for JavaScript). Almost everything Envoy sends is
 * ASCII, which decodes faster as Latin-1 (the same text): short strings are
 * checked in a loop, long ones (the URL-encoded certificate) natively.
 */
function decodeUtf8(buf: Buffer, start: number, end: number): string {
  if (!hasSliceMethods) return buf.toString("utf8", start, end);
  const b = buf as Buffer & SliceMethods;
  if (end - start <= 64) {
    for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return b.utf8Slice(start, end);
    return b.latin1Slice(start, end);
  }
  return isAscii(buf.subarray(start, end)) ? b.latin1Slice(start, end) : b.utf8Slice(start, end);
}

function expectLdelim(r: WireReader, wire: number, what: string): boolean {
  if (wire === WIRE_LDELIM) return true;
  r.error = `${what} has wire type ${wire}, expected 2`;
  return false;
}

function skipField(r: WireReader, field: number, wire: number, end: number): void {
  if (field === 0) {
    r.error = "field number 0";
    return;
  }
  r.skip(wire, end);
}

/** UTF-8 validity (the `buffer.isUtf8` of Node ≥ 18.14, with a fast path for ASCII). */
function isUtf8(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) return bufferIsUtf8(bytes);
  }
  return true;
}
