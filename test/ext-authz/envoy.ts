/**
 * Test helpers that speak to Ward the way Envoy does: CheckRequests filled in
 * as source/extensions/filters/common/ext_authz/check_request_utils.cc fills
 * them, encoded with protobufjs from the official protos (via proto-loader),
 * and a gRPC client built from the same protos.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { constants as h2, type ClientHttp2Session } from "node:http2";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CHECK_METHOD_PATH, checkMethodDefinition, loadAuthorizationProtos } from "../../src/ext-authz/protos.js";

/** What a test says about the downstream request; the rest is filled in as Envoy would. */
export interface EnvoyRequestSpec {
  method?: string;
  /** `:path`, query included, as received. */
  path?: string;
  host?: string;
  scheme?: string;
  /** Extra request headers (lower-case names; repeated headers as arrays). */
  headers?: Record<string, string | string[]>;
  /** Source principal (URI SAN of the validated peer certificate). */
  principal?: string;
  /** PEM of the peer certificate (sent URL-encoded, as with `include_peer_certificate`). */
  certificatePem?: string;
  destinationPrincipal?: string;
  sourceAddress?: string;
  sourcePort?: number;
  contextExtensions?: Record<string, string>;
  /** Request body (with `with_request_body`); `pack_as_bytes` sends it as `raw_body`. */
  body?: string;
  packAsBytes?: boolean;
  /** `encode_raw_headers`: send `header_map` with `raw_value` bytes instead of the `headers` map. */
  encodeRawHeaders?: boolean;
  requestId?: string;
}

let streamId = 1000;

/**
 * A CheckRequest as Envoy builds it: pseudo-headers in the header map, repeated
 * headers joined with "," in `headers` (separate entries in `header_map`), the
 * stream id, size, protocol, request time, peer addresses, principals, the
 * URL-encoded peer certificate, context extensions and (empty) metadata.
 */
export function envoyCheckRequest(spec: EnvoyRequestSpec = {}): Record<string, unknown> {
  const method = spec.method ?? "GET";
  const path = spec.path ?? "/";
  const host = spec.host ?? "service.internal";
  const scheme = spec.scheme ?? "https";
  const entries: [string, string][] = [
    [":authority", host],
    [":path", path],
    [":method", method],
    [":scheme", scheme],
    ["x-forwarded-proto", scheme],
    ["x-request-id", spec.requestId ?? "0d6f8d5e-3c1b-4a57-9b1e-2f7d6c5b4a39"],
    ["x-envoy-expected-rq-timeout-ms", "15000"],
  ];
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) entries.push([name, v]);
  }
  let bodyFields: Record<string, unknown> = {};
  if (spec.body !== undefined) {
    bodyFields = spec.packAsBytes ? { raw_body: Buffer.from(spec.body, "utf8") } : { body: spec.body };
    entries.push(["x-envoy-auth-partial-body", "false"]);
  }
  let headerFields: Record<string, unknown>;
  if (spec.encodeRawHeaders) {
    headerFields = { header_map: { headers: entries.map(([key, value]) => ({ key, raw_value: Buffer.from(value, "utf8") })) } };
  } else {
    const map: Record<string, string> = {};
    for (const [name, value] of entries) map[name] = name in map ? `${map[name]},${value}` : value;
    headerFields = { headers: map };
  }
  const source: Record<string, unknown> = {
    address: { socket_address: { address: spec.sourceAddress ?? "10.0.0.7", port_value: spec.sourcePort ?? 51234 } },
  };
  if (spec.principal !== undefined) source["principal"] = spec.principal;
  if (spec.certificatePem !== undefined) source["certificate"] = encodeURIComponent(spec.certificatePem);
  const destination: Record<string, unknown> = { address: { socket_address: { address: "10.0.0.9", port_value: 8443 } } };
  if (spec.destinationPrincipal !== undefined) destination["principal"] = spec.destinationPrincipal;
  return {
    attributes: {
      source,
      destination,
      request: {
        time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 123000000 },
        http: {
          id: String(streamId++),
          method,
          path,
          host,
          scheme,
          size: "0",
          protocol: "HTTP/1.1",
          ...headerFields,
          ...bodyFields,
        },
      },
      context_extensions: spec.contextExtensions ?? {},
      metadata_context: { filter_metadata: { "envoy.filters.http.jwt_authn": { fields: { sub: { string_value: "checkout" } } } } },
      route_metadata_context: {},
    },
  };
}

/** CheckRequest bytes, encoded by protobufjs from the official protos. */
export function encodeCheckRequest(request: object): Buffer {
  return checkMethodDefinition().requestSerialize(request);
}

/** The CheckResponse as protobufjs decodes it (proto-loader options: snake_case, enums as strings, oneofs). */
export interface DecodedCheckResponse {
  status?: { code?: number; message?: string };
  http_response?: "ok_response" | "denied_response";
  ok_response?: {
    headers?: { header: { key: string; value: string }; append?: { value?: boolean }; append_action?: string }[];
    headers_to_remove?: string[];
  };
  denied_response?: {
    status?: { code?: string };
    headers?: { header: { key: string; value: string }; append?: { value?: boolean }; append_action?: string }[];
    body?: string;
  };
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string; boolValue?: boolean; kind?: string }> };
}

/** Decodes CheckResponse bytes with protobufjs. */
export function decodeCheckResponse(bytes: Buffer): DecodedCheckResponse {
  return checkMethodDefinition().responseDeserialize(bytes) as DecodedCheckResponse;
}

/** Header values of a decoded answer, by name (ok_response or denied_response). */
export function answerHeaders(response: DecodedCheckResponse): Record<string, string> {
  const list = response.ok_response?.headers ?? response.denied_response?.headers ?? [];
  return Object.fromEntries(list.map((h) => [h.header.key, h.header.value]));
}

/** Dynamic metadata of a decoded answer as plain values. */
export function answerMetadata(response: DecodedCheckResponse): Record<string, string | boolean | undefined> {
  const fields = response.dynamic_metadata?.fields ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.kind === "boolValue" ? v.boolValue : v.stringValue]));
}

/** A gRPC client for the Authorization service, built from the official protos. */
export function authorizationClient(target: string, credentials = grpc.credentials.createInsecure()): grpc.Client & {
  check(request: object, options?: grpc.CallOptions): Promise<DecodedCheckResponse>;
} {
  const pkg = grpc.loadPackageDefinition(loadAuthorizationProtos()) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  };
  const client = new pkg.envoy.service.auth.v3.Authorization(target, credentials) as unknown as grpc.Client & {
    check(request: object, options?: grpc.CallOptions): Promise<DecodedCheckResponse>;
  };
  client.check = (request: object, options: grpc.CallOptions = {}) =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        CHECK_METHOD_PATH,
        (value: object) => checkMethodDefinition().requestSerialize(value),
        (bytes: Buffer) => decodeCheckResponse(bytes),
        request,
        new grpc.Metadata(),
        options,
        (err, response) => (err ? reject(err) : resolve(response!)),
      );
    });
  return client;
}

/** Throwaway PKI for TLS tests: a CA, a server certificate for 127.0.0.1, and a client SVID. */
export interface TestPki {
  readonly dir: string;
  readonly caPem: Buffer;
  readonly serverCert: Buffer;
  readonly serverKey: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  /** A client certificate from a CA the server does not trust. */
  readonly rogueCert: Buffer;
  readonly rogueKey: Buffer;
  cleanup(): void;
}

/** Generates the PKI with openssl in a temporary directory. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "ward-pki-"));
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["req", "-x509", ...ec, "-days", "2", "-subj", "/O=ward test CA", "-keyout", "ca.key", "-out", "ca.pem"]);
  run(["req", "-x509", ...ec, "-days", "2", "-subj", "/O=rogue CA", "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem"]);
  // openssl x509 -req takes the SAN from an extension file.
  const sign = (name: string, ca: string, san: string) => {
    run(["req", ...ec, "-subj", `/O=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`]);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    run(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`]);
  };
  sign("server", "ca", "IP:127.0.0.1,DNS:localhost");
  sign("client", "ca", "URI:spiffe://prod.example.com/ns/envoy/sa/sidecar");
  sign("rogue", "rogue-ca", "URI:spiffe://prod.example.com/ns/envoy/sa/sidecar");
  const read = (f: string) => readFileSync(join(dir, f));
  return {
    dir,
    caPem: read("ca.pem"),
    serverCert: read("server.pem"),
    serverKey: read("server.key"),
    clientCert: read("client.pem"),
    clientKey: read("client.key"),
    rogueCert: read("rogue.pem"),
    rogueKey: read("rogue.key"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A Check call's outcome at the HTTP/2 level: grpc-status, and the answer message's bytes (unframed). */
export interface RawCheckAnswer {
  readonly grpcStatus: string | undefined;
  readonly body: Buffer;
}

/**
 * Opens a Check call on `session`, sending its headers only; `send` sends one
 * gRPC message (`compressedFlag` in its frame) and ends the call. Until then
 * the server holds the stream open. For what a gRPC client will not send.
 */
export function openCheckCall(session: ClientHttp2Session, extraHeaders: Record<string, string> = {}): { send(message: Buffer, compressedFlag?: number): void; done: Promise<RawCheckAnswer> } {
  const stream = session.request({
    [h2.HTTP2_HEADER_METHOD]: "POST",
    [h2.HTTP2_HEADER_PATH]: CHECK_METHOD_PATH,
    [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
    te: "trailers",
    ...extraHeaders,
  });
  const chunks: Buffer[] = [];
  let grpcStatus: string | undefined;
  stream.on("response", (headers) => {
    if (headers["grpc-status"] !== undefined) grpcStatus = String(headers["grpc-status"]);
  });
  stream.on("trailers", (trailers) => (grpcStatus = String(trailers["grpc-status"])));
  stream.on("data", (d: Buffer) => chunks.push(d));
  const done = new Promise<RawCheckAnswer>((resolve, reject) => {
    stream.on("error", reject);
    stream.on("close", () => {
      const all = Buffer.concat(chunks);
      resolve({ grpcStatus, body: all.length >= 5 ? all.subarray(5, 5 + all.readUInt32BE(1)) : all });
    });
  });
  const send = (message: Buffer, compressedFlag = 0) => {
    const framed = Buffer.alloc(5 + message.length);
    framed[0] = compressedFlag;
    framed.writeUInt32BE(message.length, 1);
    message.copy(framed, 5);
    stream.end(framed);
  };
  return { send, done };
}
