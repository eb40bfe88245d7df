/**
 * Input documents → raw request pieces, for `ward eval`, `ward test`'s
 * `input` files and `POST /v1/check`. Two forms:
 *
 * - the compact form, written by hand:
 *   `{"caller": {"spiffe_id"}, "cert": "<PEM>", "request": {"method", "path",
 *   "headers", "host", "scheme", "body_bytes"}, "source": {"ip", "port"},
 *   "destination": {"spiffe_id", "ip", "port"}, "context": {...}, "time": "RFC 3339"}`;
 * - an Envoy `envoy.service.auth.v3.CheckRequest` in proto3 JSON (as Envoy
 *   builds it in check_request_utils.cc, and as OPA-Envoy users keep them),
 *   with both the JSON (lowerCamelCase) and the original (snake_case) field
 *   names accepted, as protobuf JSON parsing does.
 *
 * Only shape is checked here; the values are canonicalized (and refused) by
 * the input builder, exactly as for a live request. Problems are diagnostics
 * with a stable code and the JSON path of the offending field.
 */
import { fail, ok, type Diagnostic, type Result } from "../diagnostics.js";
import { parsePort } from "./net.js";
import type { IdentityEvidence, RawRequest } from "./raw.js";
import { parseRfc3339 } from "./time.js";
import { utf8Length } from "./text.js";
import { createDataMap } from "../data-map.js";

/** The stable diagnostic codes of input documents. */
export type InputDocumentCode =
  | "input_not_object"
  | "input_wrong_type"
  | "input_unknown_field"
  | "input_missing_field"
  | "input_invalid_value"
  | "input_conflicting_fields"
  | "input_unsupported_field"
  | "input_unrecognized_document";

type Obj = Readonly<Record<string, unknown>>;

/** Collects diagnostics while walking a document. */
class Walk {
  readonly diagnostics: Diagnostic[] = [];

  error(code: InputDocumentCode, message: string, help?: string): void {
    this.diagnostics.push(help === undefined ? { code, severity: "error", message } : { code, severity: "error", message, help });
  }

  /** Reads the fields of an object: each known field by any of its names; unknown names are errors. */
  fields<K extends string>(obj: Obj, path: string, spec: Readonly<Record<K, readonly string[]>>): Partial<Record<K, { value: unknown; path: string }>> {
    const out: Partial<Record<K, { value: unknown; path: string }>> = {};
    const byName = new Map<string, K>();
    for (const key of Object.keys(spec) as K[]) for (const name of spec[key]) byName.set(name, key);
    for (const name of Object.keys(obj)) {
      const key = byName.get(name);
      const where = join(path, name);
      if (key === undefined) {
        const suggestion = nearest(name, [...byName.keys()]);
        this.error("input_unknown_field", `unknown field \`${where}\``, suggestion === undefined ? undefined : `did you mean \`${join(path, suggestion)}\`?`);
        continue;
      }
      const value = obj[name];
      if (value === null) continue; // proto3 JSON: null is the default value
      const seen = out[key];
      if (seen !== undefined) {
        this.error("input_conflicting_fields", `\`${seen.path}\` and \`${where}\` are the same field; give it once`);
        continue;
      }
      out[key] = { value, path: where };
    }
    return out;
  }

  object(field: { value: unknown; path: string } | undefined): { obj: Obj; path: string } | undefined {
    if (field === undefined) return undefined;
    if (!isObject(field.value)) {
      this.error("input_wrong_type", `\`${field.path}\` must be an object, not ${kind(field.value)}`);
      return undefined;
    }
    return { obj: field.value, path: field.path };
  }

  string(field: { value: unknown; path: string } | undefined): string | undefined {
    if (field === undefined) return undefined;
    if (typeof field.value !== "string") {
      this.error("input_wrong_type", `\`${field.path}\` must be a string, not ${kind(field.value)}`);
      return undefined;
    }
    return field.value;
  }

  /** A port: a JSON integer, or a decimal string (proto3 JSON writes integers either way). */
  port(field: { value: unknown; path: string } | undefined): number | undefined {
    if (field === undefined) return undefined;
    const v = field.value;
    const port = typeof v === "number" ? (Number.isInteger(v) && v >= 0 && v <= 65535 ? v : undefined) : typeof v === "string" ? parsePort(v) : undefined;
    if (port === undefined) this.error("input_invalid_value", `\`${field.path}\` must be a port number (0-65535), not ${describe(v)}`);
    return port;
  }

  time(field: { value: unknown; path: string } | undefined): number | undefined {
    const text = this.string(field);
    if (text === undefined || field === undefined) return undefined;
    const time = parseRfc3339(text);
    if (time === undefined) this.error("input_invalid_value", `\`${field.path}\` must be an RFC 3339 timestamp such as \`2024-05-01T12:00:00Z\`, not ${describe(text)}`);
    return time;
  }

  /** A `map<string, string>`: an object whose values are strings. */
  stringMap(field: { value: unknown; path: string } | undefined): Record<string, string> | undefined {
    const o = this.object(field);
    if (!o) return undefined;
    const out = createDataMap();
    for (const key of Object.keys(o.obj)) {
      const v = o.obj[key];
      if (typeof v !== "string") this.error("input_wrong_type", `\`${join(o.path, key)}\` must be a string, not ${kind(v)}`);
      else out[key] = v;
    }
    return out;
  }

  result(raw: RawRequest): Result<RawRequest> {
    return this.diagnostics.length === 0 ? ok(raw) : fail(this.diagnostics);
  }
}

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

function describe(v: unknown): string {
  if (typeof v === "string") return `\`${v.length > 40 ? v.slice(0, 40) + "…" : v}\``;
  if (typeof v === "number" || typeof v === "boolean") return `\`${String(v)}\``;
  return kind(v);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** JSON path of a member: `a.b`, `a["x-y"]`. */
function join(path: string, name: string): string {
  const member = IDENTIFIER.test(name) ? name : `[${JSON.stringify(name)}]`;
  if (path === "") return member.startsWith("[") ? `$${member}` : member;
  return member.startsWith("[") ? path + member : `${path}.${member}`;
}

/** The known name closest to `name` (edit distance at most 2, or a case/underscore variant). */
function nearest(name: string, known: readonly string[]): string | undefined {
  const folded = name.toLowerCase().replace(/_/g, "");
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    if (k.toLowerCase().replace(/_/g, "") === folded) return k;
    const d = distance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** The request id Ward reuses as decision id: `x-request-id` when it is short visible ASCII, else none. */
function requestIdFrom(headers: readonly (readonly [string, string])[]): string | undefined {
  let id: string | undefined;
  for (const [name, value] of headers) if (name.toLowerCase() === "x-request-id") id = id === undefined ? value : `${id},${value}`;
  if (id === undefined || id.length === 0 || id.length > 128) return undefined;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return undefined;
  }
  return id;
}

/** The `x-forwarded-client-cert` value, repeated headers joined with `,` (which is also XFCC's element separator). */
function xfccFrom(headers: readonly (readonly [string, string])[]): string | undefined {
  let xfcc: string | undefined;
  for (const [name, value] of headers) if (name.toLowerCase() === "x-forwarded-client-cert") xfcc = xfcc === undefined ? value : `${xfcc},${value}`;
  return xfcc;
}

function headerValue(headers: readonly (readonly [string, string])[], wanted: string): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === wanted) return value;
  return undefined;
}

const COMPACT_FIELDS = {
  caller: ["caller"],
  cert: ["cert"],
  request: ["request"],
  source: ["source"],
  destination: ["destination"],
  context: ["context"],
  time: ["time"],
} as const;

/**
 * Reads the compact input form. `request.method` and `request.path` are
 * required; `request.headers` values are a string or a list of strings
 * (repeated headers); `request.host` defaults to the `host` / `:authority`
 * header. `caller.spiffe_id` becomes the identity's principal, `cert` the
 * certificate (PEM), an `x-forwarded-client-cert` header the XFCC evidence.
 */
export function fromCompactInput(json: unknown): Result<RawRequest> {
  const w = new Walk();
  if (!isObject(json)) {
    w.error("input_not_object", `the input document must be a JSON object, not ${kind(json)}`);
    return fail(w.diagnostics);
  }
  const top = w.fields(json, "", COMPACT_FIELDS);

  const identity: { principal?: string; certificate?: IdentityEvidence["certificate"]; xfcc?: string } = {};
  const caller = w.object(top.caller);
  if (caller) {
    const f = w.fields(caller.obj, caller.path, { spiffeId: ["spiffe_id"] });
    const principal = w.string(f.spiffeId);
    if (principal !== undefined) identity.principal = principal;
  }
  const cert = w.string(top.cert);
  if (cert !== undefined) identity.certificate = { text: cert, encoding: "pem" };

  let method: string | undefined;
  let path: string | undefined;
  let host: string | undefined;
  let scheme = "";
  let bodyBytes: number | undefined;
  const headers: [string, string][] = [];
  const request = w.object(top.request);
  if (!request) {
    if (!top.request) w.error("input_missing_field", "`request` is missing", 'give at least `"request": {"method": "GET", "path": "/"}`');
  } else {
    const f = w.fields(request.obj, request.path, {
      method: ["method"],
      path: ["path"],
      headers: ["headers"],
      host: ["host"],
      scheme: ["scheme"],
      bodyBytes: ["body_bytes"],
    });
    method = w.string(f.method);
    path = w.string(f.path);
    if (!f.method) w.error("input_missing_field", "`request.method` is missing");
    if (!f.path) w.error("input_missing_field", "`request.path` is missing");
    host = w.string(f.host);
    scheme = w.string(f.scheme) ?? "";
    if (f.bodyBytes) {
      const v = f.bodyBytes.value;
      if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) bodyBytes = v;
      else w.error("input_invalid_value", `\`${f.bodyBytes.path}\` must be a byte count, not ${describe(v)}`);
    }
    const h = w.object(f.headers);
    if (h) {
      for (const name of Object.keys(h.obj)) {
        const v = h.obj[name];
        const where = join(h.path, name);
        if (typeof v === "string") headers.push([name, v]);
        else if (Array.isArray(v) && v.every((x) => typeof x === "string")) for (const x of v as string[]) headers.push([name, x]);
        else w.error("input_wrong_type", `\`${where}\` must be a string or a list of strings, not ${kind(v)}`);
      }
    }
  }

  const source: { address?: string; port?: number } = {};
  const src = w.object(top.source);
  if (src) {
    const f = w.fields(src.obj, src.path, { ip: ["ip"], port: ["port"] });
    const ip = w.string(f.ip);
    if (ip !== undefined) source.address = ip;
    const port = w.port(f.port);
    if (port !== undefined) source.port = port;
  }
  const destination: { address?: string; port?: number; principal?: string } = {};
  const dst = w.object(top.destination);
  if (dst) {
    const f = w.fields(dst.obj, dst.path, { spiffeId: ["spiffe_id"], ip: ["ip"], port: ["port"] });
    const principal = w.string(f.spiffeId);
    if (principal !== undefined) destination.principal = principal;
    const ip = w.string(f.ip);
    if (ip !== undefined) destination.address = ip;
    const port = w.port(f.port);
    if (port !== undefined) destination.port = port;
  }
  const context = w.stringMap(top.context) ?? createDataMap();
  const time = w.time(top.time);

  return finish(w, {
    method: method ?? "",
    path: path ?? "",
    host: host ?? headerValue(headers, "host") ?? headerValue(headers, ":authority") ?? "",
    scheme,
    headers,
    source,
    destination,
    identity,
    contextExtensions: context,
    bodyBytes,
    time,
  });
}

/** The pieces both document forms read, before the identity's XFCC and the request id are taken from the headers. */
interface DocumentParts extends Omit<RawRequest, "bodyBytes" | "time" | "requestId" | "identity"> {
  readonly identity: { principal?: string; certificate?: IdentityEvidence["certificate"]; xfcc?: string };
  readonly bodyBytes: number | undefined;
  readonly time: number | undefined;
}

/** Assembles the raw request of either document form, with its diagnostics. */
function finish(w: Walk, parts: DocumentParts): Result<RawRequest> {
  const { bodyBytes, time, ...raw } = parts;
  const xfcc = xfccFrom(raw.headers);
  if (xfcc !== undefined) raw.identity.xfcc = xfcc;
  const requestId = requestIdFrom(raw.headers);
  return w.result({
    ...raw,
    ...(bodyBytes === undefined ? {} : { bodyBytes }),
    ...(time === undefined ? {} : { time }),
    ...(requestId === undefined ? {} : { requestId }),
  });
}

/** Fields OPA-Envoy adds next to `attributes` in its input; Ward computes its own and ignores them. */
const OPA_ENVOY_EXTRAS = ["parsed_path", "parsedPath", "parsed_query", "parsedQuery", "parsed_body", "parsedBody", "truncated_body", "truncatedBody", "version"];

const PEER_FIELDS = {
  address: ["address"],
  service: ["service"],
  labels: ["labels"],
  principal: ["principal"],
  certificate: ["certificate"],
} as const;

/** Reads an `AttributeContext.Peer`: its socket address (a pipe or internal address has no IP) and principal. */
function readPeer(w: Walk, peer: { obj: Obj; path: string }): { address?: string; port?: number; principal?: string; certificate?: string } {
  const out: { address?: string; port?: number; principal?: string; certificate?: string } = {};
  const f = w.fields(peer.obj, peer.path, PEER_FIELDS);
  const principal = w.string(f.principal);
  if (principal !== undefined && principal !== "") out.principal = principal;
  const certificate = w.string(f.certificate);
  if (certificate !== undefined && certificate !== "") out.certificate = certificate;
  const address = w.object(f.address);
  if (address) {
    const a = w.fields(address.obj, address.path, {
      socketAddress: ["socketAddress", "socket_address"],
      pipe: ["pipe"],
      envoyInternalAddress: ["envoyInternalAddress", "envoy_internal_address"],
    });
    const socket = w.object(a.socketAddress);
    if (socket) {
      const s = w.fields(socket.obj, socket.path, {
        protocol: ["protocol"],
        address: ["address"],
        portValue: ["portValue", "port_value"],
        namedPort: ["namedPort", "named_port"],
        resolverName: ["resolverName", "resolver_name"],
        ipv4Compat: ["ipv4Compat", "ipv4_compat"],
      });
      const ip = w.string(s.address);
      if (ip !== undefined && ip !== "") out.address = ip;
      const port = w.port(s.portValue);
      if (port !== undefined) out.port = port;
    }
  }
  return out;
}

/** Decodes proto3 JSON `bytes` (standard or URL-safe base64, padding optional); undefined when it is not base64. */
function base64Decode(text: string): Uint8Array | undefined {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61) end--;
  if (text.length - end > 2 || end % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v =
      c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 71 : c >= 48 && c <= 57 ? c + 4 : c === 43 || c === 45 ? 62 : c === 47 || c === 95 ? 63 : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 255;
    }
  }
  return out.subarray(0, n);
}

/**
 * Reads an Envoy `CheckRequest` in proto3 JSON. `attributes` and
 * `attributes.request.http` are required. Headers come from `headers` (a map,
 * repeated headers already comma-joined by Envoy) or `header_map` (one entry
 * per header line; `raw_value` is base64 bytes, decoded as UTF-8 with U+FFFD
 * for invalid bytes), never both. `source.certificate` is Envoy's URL-encoded
 * PEM. `http.query` and `http.fragment` must be empty: Envoy sends the query
 * inside `path`, which is the only place Ward reads it from.
 */
export function fromCheckRequestJson(json: unknown): Result<RawRequest> {
  const w = new Walk();
  if (!isObject(json)) {
    w.error("input_not_object", `a CheckRequest must be a JSON object, not ${kind(json)}`);
    return fail(w.diagnostics);
  }
  const extras: Record<string, readonly string[]> = {};
  for (const name of OPA_ENVOY_EXTRAS) extras[name] = [name];
  const top = w.fields(json, "", { attributes: ["attributes"], ...extras });
  const attributes = w.object(top.attributes);
  if (!attributes) {
    if (!top.attributes) w.error("input_missing_field", "`attributes` is missing", "a CheckRequest has `attributes.request.http` with the request");
    return fail(w.diagnostics);
  }
  const a = w.fields(attributes.obj, attributes.path, {
    source: ["source"],
    destination: ["destination"],
    request: ["request"],
    contextExtensions: ["contextExtensions", "context_extensions"],
    metadataContext: ["metadataContext", "metadata_context"],
    routeMetadataContext: ["routeMetadataContext", "route_metadata_context"],
    tlsSession: ["tlsSession", "tls_session"],
  });

  const identity: { principal?: string; certificate?: IdentityEvidence["certificate"]; xfcc?: string } = {};
  const source: { address?: string; port?: number } = {};
  const src = w.object(a.source);
  if (src) {
    const peer = readPeer(w, src);
    if (peer.address !== undefined) source.address = peer.address;
    if (peer.port !== undefined) source.port = peer.port;
    if (peer.principal !== undefined) identity.principal = peer.principal;
    if (peer.certificate !== undefined) identity.certificate = { text: peer.certificate, encoding: "url" };
  }
  const destination: { address?: string; port?: number; principal?: string } = {};
  const dst = w.object(a.destination);
  if (dst) {
    // Envoy sends a certificate only for the source peer; a destination one is ignored.
    const peer = readPeer(w, dst);
    if (peer.address !== undefined) destination.address = peer.address;
    if (peer.port !== undefined) destination.port = peer.port;
    if (peer.principal !== undefined) destination.principal = peer.principal;
  }
  const context = w.stringMap(a.contextExtensions) ?? createDataMap();

  let time: number | undefined;
  let method = "";
  let path = "";
  let host = "";
  let scheme = "";
  let bodyBytes: number | undefined;
  const headers: [string, string][] = [];
  const request = w.object(a.request);
  if (!request) {
    if (!a.request) w.error("input_missing_field", `\`${join(attributes.path, "request")}\` is missing`);
  } else {
    const r = w.fields(request.obj, request.path, { time: ["time"], http: ["http"] });
    time = w.time(r.time);
    const http = w.object(r.http);
    if (!http) {
      if (!r.http) w.error("input_missing_field", `\`${join(request.path, "http")}\` is missing`);
    } else {
      const h = w.fields(http.obj, http.path, {
        id: ["id"],
        method: ["method"],
        headers: ["headers"],
        headerMap: ["headerMap", "header_map"],
        path: ["path"],
        host: ["host"],
        scheme: ["scheme"],
        query: ["query"],
        fragment: ["fragment"],
        size: ["size"],
        protocol: ["protocol"],
        body: ["body"],
        rawBody: ["rawBody", "raw_body"],
      });
      method = w.string(h.method) ?? "";
      path = w.string(h.path) ?? "";
      host = w.string(h.host) ?? "";
      scheme = w.string(h.scheme) ?? "";
      for (const unused of [h.query, h.fragment]) {
        const text = w.string(unused);
        if (text !== undefined && text !== "" && unused !== undefined) {
          w.error("input_unsupported_field", `\`${unused.path}\` is not read: Envoy leaves it empty and sends the query inside \`path\``, "put it in `path` after `?`");
        }
      }
      if (h.headers && h.headerMap) {
        w.error("input_conflicting_fields", `\`${h.headers.path}\` and \`${h.headerMap.path}\` both give the headers; Envoy sends one of them`);
      }
      const map = w.stringMap(h.headers);
      if (map) for (const name of Object.keys(map)) headers.push([name, map[name] as string]);
      const hm = w.object(h.headerMap);
      if (hm) readHeaderMap(w, hm, headers);
      if (h.body && h.rawBody) w.error("input_conflicting_fields", `\`${h.body.path}\` and \`${h.rawBody.path}\` both give the body; Envoy sends one of them`);
      const body = w.string(h.body);
      if (body !== undefined) bodyBytes = utf8Length(body);
      const rawBody = w.string(h.rawBody);
      if (rawBody !== undefined && h.rawBody) {
        const bytes = base64Decode(rawBody);
        if (bytes === undefined) w.error("input_invalid_value", `\`${h.rawBody.path}\` must be base64 (proto3 JSON \`bytes\`)`);
        else bodyBytes = bytes.length;
      }
    }
  }

  return finish(w, { method, path, host, scheme, headers, source, destination, identity, contextExtensions: context, bodyBytes, time });
}

/** Reads `header_map.headers[]`: `{key, raw_value}` as Envoy writes them (or `{key, value}`). */
function readHeaderMap(w: Walk, hm: { obj: Obj; path: string }, headers: [string, string][]): void {
  const f = w.fields(hm.obj, hm.path, { headers: ["headers"] });
  if (!f.headers) return;
  if (!Array.isArray(f.headers.value)) {
    w.error("input_wrong_type", `\`${f.headers.path}\` must be a list, not ${kind(f.headers.value)}`);
    return;
  }
  const decoder = new TextDecoder("utf-8", { fatal: false });
  f.headers.value.forEach((entry: unknown, k: number) => {
    const where = `${f.headers?.path ?? ""}[${k}]`;
    if (!isObject(entry)) {
      w.error("input_wrong_type", `\`${where}\` must be an object, not ${kind(entry)}`);
      return;
    }
    const e = w.fields(entry, where, { key: ["key"], value: ["value"], rawValue: ["rawValue", "raw_value"] });
    const key = w.string(e.key);
    if (key === undefined) {
      if (!e.key) w.error("input_missing_field", `\`${where}.key\` is missing`);
      return;
    }
    let value = w.string(e.value);
    const rawValue = w.string(e.rawValue);
    if (rawValue !== undefined && e.rawValue) {
      const bytes = base64Decode(rawValue);
      if (bytes === undefined) {
        w.error("input_invalid_value", `\`${e.rawValue.path}\` must be base64 (proto3 JSON \`bytes\`)`);
        return;
      }
      if (value !== undefined && value !== "") {
        w.error("input_conflicting_fields", `\`${where}\` has both \`value\` and \`raw_value\`; Envoy sends \`raw_value\` only`);
        return;
      }
      value = decoder.decode(bytes);
    }
    headers.push([key, value ?? ""]);
  });
}

const CHECK_REQUEST_KEYS = new Set(["attributes", ...OPA_ENVOY_EXTRAS]);
const COMPACT_KEYS = new Set(Object.keys(COMPACT_FIELDS));

/**
 * Reads an input document of either form: a CheckRequest when it has
 * `attributes` (or only OPA-Envoy's extra fields), the compact form when it
 * has any compact field; anything else is unrecognized.
 */
export function fromInputDocument(json: unknown): Result<RawRequest> {
  if (!isObject(json)) {
    return fail([{ code: "input_not_object", severity: "error", message: `the input document must be a JSON object, not ${kind(json)}` }]);
  }
  const keys = Object.keys(json);
  if (keys.includes("attributes") || (keys.length > 0 && keys.every((k) => CHECK_REQUEST_KEYS.has(k)))) return fromCheckRequestJson(json);
  if (keys.some((k) => COMPACT_KEYS.has(k))) return fromCompactInput(json);
  return fail([
    {
      code: "input_unrecognized_document",
      severity: "error",
      message: keys.length === 0 ? "the input document is empty" : "the input document has neither `attributes` (a CheckRequest) nor `request` (the compact form)",
      help: 'the compact form is `{"caller": {"spiffe_id": "spiffe://..."}, "request": {"method": "GET", "path": "/"}}`',
    },
  ]);
}
