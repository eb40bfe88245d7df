/**
 * The input builder: raw request pieces plus the resolved caller → the
 * engine's `RequestInput`, or a refusal (`malformed_path`,
 * `malformed_request`, `request_too_large`) with a detail that starts with the
 * rule it names. This is where every request's untrusted text is made
 * canonical before any policy sees it; docs/paths.md states each step.
 *
 * Order: limits first (cheap, before any work on oversized input), then the
 * method, the path and query, the host and scheme, the headers, the peers.
 */
import type { Identity, RequestInput } from "../engine/input.js";
import { parseSpiffeId } from "../spiffe-id.js";
import { collectHeaders, NameMemo } from "./headers.js";
import { canonicalizeHost, canonicalizeIp, type CanonicalHost } from "./net.js";
import { canonicalizePath, type PathOptions } from "./path.js";
import { parseQuery, type QueryOptions } from "./query.js";
import type { BuildInputResult, InputBuilder, InputRejection, RawRequest } from "./raw.js";
import { isToken, quote, utf8Length } from "./text.js";
import { createDataMap } from "../data-map.js";

/**
 * Options for canonicalization and limits. Every relaxation is explicit and
 * off by default (see `PathOptions` and `QueryOptions`); limits default to
 * `DEFAULT_INPUT_LIMITS`.
 */
export interface InputOptions extends PathOptions, QueryOptions {
  /** Most header entries as received (before joining). */
  readonly maxHeaders?: number;
  /** Most bytes (UTF-8) of header names and values together. */
  readonly maxHeaderBytes?: number;
  /** Most bytes (UTF-8) of the request target, path and query together. */
  readonly maxPathBytes?: number;
  /** Most bytes of request body Envoy may have forwarded (`with_request_body`). */
  readonly maxBodyBytes?: number;
}

/**
 * Default limits. Envoy's own defaults are 100 headers and 60 KiB of headers
 * (`max_headers_count`, `max_request_headers_kb`); Ward's leave room for the
 * headers Envoy adds itself (`x-request-id`, `x-forwarded-*`, pseudo-headers).
 */
export const DEFAULT_INPUT_LIMITS = Object.freeze({
  maxHeaders: 128,
  maxHeaderBytes: 96 * 1024,
  maxPathBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024,
});

/** Longest accepted method (no registered method comes close). */
const MAX_METHOD_LENGTH = 64;
/** Longest accepted scheme. */
const MAX_SCHEME_LENGTH = 32;

const EMPTY_CONTEXT: Readonly<Record<string, string>> = Object.freeze(createDataMap());

function limit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`createInputBuilder: ${name} must be a non-negative integer, got ${value}`);
  return value;
}

function reject(reason: InputRejection, detail: string): BuildInputResult {
  return { ok: false, reason, detail };
}

function isScheme(text: string): boolean {
  // RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20;
    const alpha = c >= 97 && c <= 122;
    if (i === 0 ? !alpha : !(alpha || (c >= 48 && c <= 57) || c === 0x2b || c === 0x2d || c === 0x2e)) return false;
  }
  return true;
}

function isPort(port: unknown): boolean {
  return typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535;
}

/** Creates the input builder with its options bound (validated once, here). */
export function createInputBuilder(options: InputOptions = {}): InputBuilder {
  const maxHeaders = limit("maxHeaders", options.maxHeaders, DEFAULT_INPUT_LIMITS.maxHeaders);
  const maxHeaderBytes = limit("maxHeaderBytes", options.maxHeaderBytes, DEFAULT_INPUT_LIMITS.maxHeaderBytes);
  const maxPathBytes = limit("maxPathBytes", options.maxPathBytes, DEFAULT_INPUT_LIMITS.maxPathBytes);
  const maxBodyBytes = limit("maxBodyBytes", options.maxBodyBytes, DEFAULT_INPUT_LIMITS.maxBodyBytes);
  const pathOptions: PathOptions = { ...options };
  const queryOptions: QueryOptions = { ...options };
  const headerLimits = { maxHeaders, maxHeaderBytes };
  // Memos of pure results that repeat on every request (header names, the
  // host, Envoy's own principal), per builder and bounded: no global state.
  const names = new NameMemo();
  const hosts = new Map<string, CanonicalHost>();
  let lastPrincipal: { readonly text: string; readonly spiffeId?: string; readonly note?: string } | undefined;

  function hostOf(text: string): CanonicalHost {
    let host = hosts.get(text);
    if (host === undefined) {
      host = canonicalizeHost(text);
      if (hosts.size >= 256) hosts.clear();
      hosts.set(text, host);
    }
    return host;
  }

  function destinationPrincipal(text: string): { readonly text: string; readonly spiffeId?: string; readonly note?: string } {
    if (lastPrincipal?.text === text) return lastPrincipal;
    // The destination principal is Envoy's own certificate's URI SAN, or (when
    // it has none) a DNS SAN or subject: not a SPIFFE ID then, so absent.
    const parsed = parseSpiffeId(text);
    lastPrincipal = parsed.ok
      ? { text, spiffeId: parsed.value.id }
      : { text, note: `destination_principal_ignored: ${quote(text, 64)} is not a SPIFFE ID (${parsed.rule}), so destination.spiffe_id is absent` };
    return lastPrincipal;
  }

  function build(raw: RawRequest, caller: Identity, now: number): BuildInputResult {
    // Limits.
    if (raw.bodyBytes !== undefined) {
      if (!Number.isSafeInteger(raw.bodyBytes) || raw.bodyBytes < 0) return reject("malformed_request", `body_bytes: ${String(raw.bodyBytes)} is not a byte count`);
      if (raw.bodyBytes > maxBodyBytes) {
        return reject("request_too_large", `body_bytes: a body of ${raw.bodyBytes} bytes exceeds the limit of ${maxBodyBytes} (maxBodyBytes)`);
      }
    }
    const target = raw.path;
    if (target.length * 3 > maxPathBytes) {
      const bytes = utf8Length(target);
      if (bytes > maxPathBytes) return reject("request_too_large", `path_bytes: a request target of ${bytes} bytes exceeds the limit of ${maxPathBytes} (maxPathBytes)`);
    }
    const collected = collectHeaders(raw.headers, headerLimits, names);
    if (!collected.ok) return reject(collected.reason, collected.detail);

    // Method: exact, a token (RFC 9110 §9.1); `get` is not `GET`.
    const method = raw.method;
    if (method.length > MAX_METHOD_LENGTH || !isToken(method)) {
      return reject("malformed_request", `invalid_method: ${method.length === 0 ? "the method is empty" : `${quote(method, 32)} is not a method token`}`);
    }

    const canonical = canonicalizePath(target, pathOptions);
    if (!canonical.ok) return reject("malformed_path", canonical.detail);
    const query = parseQuery(canonical.query, queryOptions);
    if (!query.ok) return reject("malformed_request", query.detail);

    const host = hostOf(raw.host);
    if (!host.ok) return reject("malformed_request", host.detail);
    const scheme = raw.scheme.length === 0 ? "" : raw.scheme.toLowerCase();
    if (scheme.length > MAX_SCHEME_LENGTH || !isScheme(scheme)) return reject("malformed_request", `invalid_scheme: ${quote(raw.scheme, 32)} is not a URI scheme`);

    // Peers: an address Envoy reports is always an IP; anything else is a broken input, refused rather than dropped.
    let sourceIp: string | undefined;
    if (raw.source.address !== undefined && raw.source.address !== "") {
      sourceIp = canonicalizeIp(raw.source.address);
      if (sourceIp === undefined) return reject("malformed_request", `source_address: ${quote(raw.source.address, 48)} is not an IP address`);
    }
    if (raw.source.port !== undefined && !isPort(raw.source.port)) return reject("malformed_request", `source_port: ${String(raw.source.port)} is not a port`);
    let destinationIp: string | undefined;
    if (raw.destination.address !== undefined && raw.destination.address !== "") {
      destinationIp = canonicalizeIp(raw.destination.address);
      if (destinationIp === undefined) return reject("malformed_request", `destination_address: ${quote(raw.destination.address, 48)} is not an IP address`);
    }
    if (raw.destination.port !== undefined && !isPort(raw.destination.port)) {
      return reject("malformed_request", `destination_port: ${String(raw.destination.port)} is not a port`);
    }

    if (!Number.isFinite(now)) return reject("malformed_request", `time: ${String(now)} is not a time`);

    let notes: string[] | undefined;
    let destinationSpiffeId: string | undefined;
    const principal = raw.destination.principal;
    if (principal !== undefined && principal !== "") {
      const known = destinationPrincipal(principal);
      destinationSpiffeId = known.spiffeId;
      if (known.note !== undefined) (notes ??= []).push(known.note);
    }
    if (canonical.relaxed.length > 0 || query.relaxed.length > 0) {
      (notes ??= []).push(`relaxed: ${[...canonical.relaxed, ...query.relaxed].join(", ")}`);
    }

    const source: { ip?: string; port?: number } = {};
    if (sourceIp !== undefined) source.ip = sourceIp;
    if (raw.source.port !== undefined) source.port = raw.source.port;
    const destination: { ip?: string; port?: number; spiffeId?: string } = {};
    if (destinationIp !== undefined) destination.ip = destinationIp;
    if (raw.destination.port !== undefined) destination.port = raw.destination.port;
    if (destinationSpiffeId !== undefined) destination.spiffeId = destinationSpiffeId;

    const input: RequestInput = {
      caller,
      request: {
        method,
        path: canonical.path,
        query: query.query,
        headers: collected.headers,
        host: host.host,
        scheme,
      },
      source,
      destination,
      context: copyContext(raw.contextExtensions),
      time: now,
    };
    return notes === undefined ? { ok: true, input } : { ok: true, input, notes };
  }

  return { build };
}

/** Copies context extensions into a data map (so `context["constructor"]` is just absent). */
function copyContext(context: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const keys = Object.keys(context);
  if (keys.length === 0) return EMPTY_CONTEXT;
  const out = createDataMap();
  for (const key of keys) {
    const value = context[key];
    if (typeof value === "string") out[key] = value;
  }
  return out;
}
