import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHECK_REQUEST_LAYOUT, createDecodeMemo, decodeCheckRequest, type DecodedCheckRequest } from "../../src/ext-authz/check-request.js";
import { checkMethodDefinition, verifyWireLayout } from "../../src/ext-authz/protos.js";
import type { RawRequest } from "../../src/input/raw.js";
import { encodeCheckRequest, envoyCheckRequest } from "./envoy.js";

const LIMITS = { maxMessageBytes: 1 << 20 };

/**
 * The reference translation: the CheckRequest as protobufjs decodes it from
 * the official protos, mapped to RawRequest by the rules the decoder
 * documents. Written independently of the decoder, so the property test
 * compares two implementations.
 */
function reference(bytes: Buffer): DecodedCheckRequest {
  const msg = checkMethodDefinition().requestDeserialize(bytes) as any;
  const a = msg.attributes;
  if (!a) return { ok: false, reason: "malformed_request", detail: "no attributes" };
  const http = a.request?.http;
  if (!http) return { ok: false, reason: "malformed_request", detail: "no http" };
  const mapHeaders: [string, string][] = Object.entries((http.headers ?? {}) as Record<string, string>);
  let headers: [string, string][];
  if (http.header_map !== undefined) {
    if (mapHeaders.length > 0) return { ok: false, reason: "malformed_request", detail: "both" };
    headers = [];
    for (const h of (http.header_map.headers ?? []) as { key?: string; value?: string; raw_value?: Buffer }[]) {
      const raw = h.raw_value !== undefined ? Buffer.from(h.raw_value) : undefined;
      let rawText: string | undefined;
      if (raw !== undefined) {
        try {
          rawText = new TextDecoder("utf-8", { fatal: true }).decode(raw);
        } catch {
          return { ok: false, reason: "malformed_request", detail: "raw_value not utf-8" };
        }
      }
      const value = h.value ?? "";
      if (rawText !== undefined && rawText !== "" && value !== "" && rawText !== value) return { ok: false, reason: "malformed_request", detail: "value mismatch" };
      headers.push([h.key ?? "", rawText !== undefined && rawText !== "" ? rawText : value]);
    }
  } else headers = mapHeaders;
  const joined = (name: string) => {
    const values = headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
    return values.length > 0 ? values.join(",") : undefined;
  };
  const peer = (p: { address?: { socket_address?: { address?: string; port_value?: number } } } | undefined) => {
    const out: { address?: string; port?: number } = {};
    const sa = p?.address?.socket_address;
    if (sa?.address) out.address = sa.address;
    if (sa?.port_value !== undefined) out.port = sa.port_value;
    return out;
  };
  const identity: Record<string, unknown> = {};
  if (a.source?.principal) identity["principal"] = a.source.principal;
  if (a.source?.certificate) identity["certificate"] = { text: a.source.certificate, encoding: "url" };
  const xfcc = joined("x-forwarded-client-cert");
  if (xfcc !== undefined) identity["xfcc"] = xfcc;
  const destination: Record<string, unknown> = peer(a.destination);
  if (a.destination?.principal) destination["principal"] = a.destination.principal;
  const raw: Record<string, unknown> = {
    method: http.method ?? "",
    path: http.path ?? "",
    host: http.host ?? "",
    scheme: http.scheme ?? "",
    headers,
    source: peer(a.source),
    destination,
    identity,
    contextExtensions: { ...(a.context_extensions ?? {}) },
  };
  if (http.body !== undefined || http.raw_body !== undefined) {
    raw["bodyBytes"] = (http.body !== undefined ? Buffer.byteLength(http.body) : 0) + (http.raw_body !== undefined ? http.raw_body.length : 0);
  }
  const requestId = joined("x-request-id");
  if (requestId !== undefined) raw["requestId"] = requestId;
  return { ok: true, raw: raw as unknown as RawRequest };
}

/** Comparable form: headers sorted by name (stably), context extensions as a plain object. */
function comparable(result: DecodedCheckRequest): unknown {
  if (!result.ok) return { ok: false, reason: result.reason };
  const raw = result.raw;
  return {
    ok: true,
    raw: {
      ...raw,
      headers: [...raw.headers].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)),
      contextExtensions: { ...raw.contextExtensions },
    },
  };
}

// --- arbitraries ------------------------------------------------------------

const headerName = fc.oneof(
  fc.constantFrom(":authority", ":path", ":method", "x-request-id", "x-forwarded-client-cert", "X-Request-Id", "X-FORWARDED-CLIENT-CERT", "cookie", "__proto__", "constructor", "123"),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
);
const text = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: "grapheme", maxLength: 10 }), fc.constant(""));
const socketAddress = fc.record(
  { address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant("")), port_value: fc.integer({ min: 0, max: 65535 }) },
  { requiredKeys: [] },
);
const address = fc.oneof(
  fc.record({ socket_address: socketAddress }),
  fc.record({ pipe: fc.record({ path: fc.constant("/run/envoy.sock") }) }),
  fc.constant(undefined),
);
const peer = fc.record(
  {
    address,
    principal: fc.oneof(fc.constant("spiffe://prod.example.com/ns/a/sa/b"), text),
    certificate: fc.oneof(fc.constant(encodeURIComponent("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")), text),
    service: text,
    labels: fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), text, { maxKeys: 2 }),
  },
  { requiredKeys: [] },
);
const utf8Bytes = fc.oneof(
  text.map((s) => Buffer.from(s, "utf8")),
  fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
);
const headerValue = fc.record({ key: headerName, value: text, raw_value: utf8Bytes }, { requiredKeys: ["key"] });
const httpRequest = fc.record(
  {
    id: fc.stringMatching(/^\d{1,8}$/),
    method: fc.constantFrom("GET", "POST", "get", "", "DELETE"),
    headers: fc.dictionary(headerName, text, { maxKeys: 12 }),
    header_map: fc.record({ headers: fc.array(headerValue, { maxLength: 12 }) }),
    path: fc.oneof(fc.constantFrom("/", "/admin/../x", "//admin", "/%2e%2e/a?x=1", "/a;b"), text),
    host: fc.oneof(fc.constant("Payments.Internal:8443"), text),
    scheme: fc.constantFrom("http", "https", ""),
    query: text,
    fragment: text,
    size: fc.integer({ min: -1, max: 1 << 20 }).map(String),
    protocol: fc.constantFrom("HTTP/1.1", "HTTP/2"),
    body: text,
    raw_body: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  },
  { requiredKeys: [] },
);
const checkRequest = fc.record(
  {
    attributes: fc.record(
      {
        source: peer,
        destination: peer,
        request: fc.record(
          { time: fc.record({ seconds: fc.integer({ min: 0, max: 2 ** 40 }).map(String), nanos: fc.integer({ min: 0, max: 999999999 }) }), http: httpRequest },
          { requiredKeys: [] },
        ),
        context_extensions: fc.dictionary(fc.oneof(fc.stringMatching(/^[a-z_]{1,8}$/), fc.constant("__proto__")), text, { maxKeys: 4 }),
        metadata_context: fc.constant({ filter_metadata: { "envoy.filters.http.jwt_authn": { fields: { sub: { string_value: "x" } } } } }),
        tls_session: fc.record({ sni: text }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

// --- tests ------------------------------------------------------------------

describe("decodeCheckRequest", () => {
  it("uses the field numbers of the official protos", () => {
    expect(verifyWireLayout(CHECK_REQUEST_LAYOUT)).toEqual([]);
  });

  it("agrees with protobufjs on generated CheckRequests (property)", () => {
    fc.assert(
      fc.property(checkRequest, (request) => {
        const bytes = encodeCheckRequest(request);
        expect(comparable(decodeCheckRequest(bytes, LIMITS))).toEqual(comparable(reference(bytes)));
      }),
      { numRuns: 600 },
    );
  });

  it("decodes the same with a certificate memo shared across messages as without one (property)", () => {
    const memo = createDecodeMemo();
    const limits = { ...LIMITS, memo };
    fc.assert(
      fc.property(fc.array(checkRequest, { minLength: 1, maxLength: 12 }), (requests) => {
        for (const request of requests) {
          const bytes = encodeCheckRequest(request);
          expect(comparable(decodeCheckRequest(bytes, limits))).toEqual(comparable(decodeCheckRequest(bytes, LIMITS)));
        }
      }),
      { numRuns: 150 },
    );
  });

  it("decodes the same with a header entry memo as without one, over requests that change a little at a time (property)", () => {
    // Each step changes one header of the last request (a value, non-ASCII or over the entry limit, a new
    // or a removed name) or none, so most entries come again at their position and some do not.
    const name = fc.oneof(fc.constantFrom("accept", "user-agent", "x-tenant", "x-request-id", "traceparent", "content-type"), fc.stringMatching(/^[a-z-]{1,12}$/));
    const value = fc.oneof(text, fc.string({ minLength: 150, maxLength: 200 }), fc.constantFrom("application/json", "é"));
    // `null`: the value's last character changed (the same length, one byte different at the end).
    const step = fc.oneof(fc.tuple(name, value), fc.tuple(name, fc.constant(null)), fc.tuple(name, fc.constant(undefined)), fc.constant(undefined));
    fc.assert(
      fc.property(fc.dictionary(name, value, { maxKeys: 12 }), fc.array(step, { maxLength: 10 }), fc.boolean(), (start, steps, encodeRawHeaders) => {
        const limits = { ...LIMITS, memo: createDecodeMemo() };
        const headers: Record<string, string> = { ...start };
        for (const change of [undefined, ...steps, undefined]) {
          if (change !== undefined) {
            const [n, v] = change;
            const current = Object.hasOwn(headers, n) ? headers[n] : undefined;
            if (v === undefined) delete headers[n];
            else if (v === null) {
              if (current) headers[n] = current.slice(0, -1) + (current.endsWith("a") ? "b" : "a");
            } else headers[n] = v;
          }
          const bytes = encodeCheckRequest(envoyCheckRequest({ headers, encodeRawHeaders }));
          expect(comparable(decodeCheckRequest(bytes, limits))).toEqual(comparable(decodeCheckRequest(bytes, LIMITS)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("hands out the same header pair for an entry with the same bytes at the same position only", () => {
    const limits = { ...LIMITS, memo: createDecodeMemo() };
    const long = "v".repeat(170);
    for (const encodeRawHeaders of [false, true]) {
      const pairs = (headers: Record<string, string>) => {
        const result = decodeCheckRequest(encodeCheckRequest(envoyCheckRequest({ headers, encodeRawHeaders })), limits);
        if (!result.ok) throw new Error(result.detail);
        return new Map(result.raw.headers.map((pair) => [pair[0], pair]));
      };
      const first = pairs({ accept: "text/html", "x-long": long, "x-tenant": "a" });
      const again = pairs({ accept: "text/html", "x-long": long, "x-tenant": "a" });
      expect(again.get("accept")).toBe(first.get("accept"));
      expect(again.get(":path")).toBe(first.get(":path"));
      // Over the entry limit, and the request id (new on every request): decoded each time.
      expect(again.get("x-long")).toEqual(["x-long", long]);
      expect(again.get("x-long")).not.toBe(first.get("x-long"));
      expect(again.get("x-request-id")).not.toBe(first.get("x-request-id"));
      // One byte different at the same position: a new pair with the new value.
      const changed = pairs({ accept: "text/htmm", "x-long": long, "x-tenant": "a" });
      expect(changed.get("accept")).toEqual(["accept", "text/htmm"]);
      // The same entry at another position: decoded again, to the same text.
      const moved = pairs({ "x-tenant": "a", accept: "text/html" });
      expect(moved.get("accept")).toEqual(["accept", "text/html"]);
      expect(moved.get("x-tenant")).toEqual(["x-tenant", "a"]);
      // More headers than the memo has positions.
      const many = Object.fromEntries(Array.from({ length: 80 }, (_, k) => [`h${k}`, `v${k}`]));
      expect([...pairs(many).values()].filter(([n]) => n.startsWith("h")).length).toBe(80);
      expect(pairs(many).get("h79")).toEqual(["h79", "v79"]);
    }
  });

  it("hands out the memoized certificate text for the same bytes only, and forgets the least recently used", () => {
    const limits = { ...LIMITS, memo: createDecodeMemo() };
    const certificateOf = (pem: string): string | undefined => {
      const result = decodeCheckRequest(encodeCheckRequest(envoyCheckRequest({ certificatePem: pem })), limits);
      return result.ok ? result.raw.identity.certificate?.text : undefined;
    };
    const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nMIIB${String(n).padStart(4, "0")}\n-----END CERTIFICATE-----\n`;
    const first = certificateOf(pem(0));
    expect(first).toBe(encodeURIComponent(pem(0)));
    // Same length, one byte different: a different text.
    expect(certificateOf(pem(1))).toBe(encodeURIComponent(pem(1)));
    expect(certificateOf(pem(0))).toBe(encodeURIComponent(pem(0)));
    for (let n = 2; n < 20; n++) expect(certificateOf(pem(n))).toBe(encodeURIComponent(pem(n)));
    expect(limits.memo.certificates.length).toBe(8);
    expect(limits.memo.certificates.map((e) => e.text)).not.toContain(encodeURIComponent(pem(0)));
    expect(certificateOf(pem(0))).toBe(encodeURIComponent(pem(0)));
    expect(limits.memo.certificates[0]?.text).toBe(encodeURIComponent(pem(0)));
  });

  it("memoizes short strings by their bytes only: colliding hashes, both header forms, non-ASCII, a bounded memo", () => {
    const memo = createDecodeMemo();
    const limits = { ...LIMITS, memo };
    const own = (result: DecodedCheckRequest): [string, string][] =>
      result.ok ? result.raw.headers.filter(([name]) => !name.startsWith(":") && !name.startsWith("x-")).map(([n, v]) => [n, v]) : [];
    const headersOf = (headers: Record<string, string>, encodeRawHeaders = false) =>
      own(decodeCheckRequest(encodeCheckRequest(envoyCheckRequest({ headers, encodeRawHeaders })), limits));
    // "Aa" and "BB" have the same memo hash (31·65 + 97 = 31·66 + 66): the bytes decide, not the hash.
    expect(headersOf({ Aa: "BB" })).toEqual([["Aa", "BB"]]);
    expect(headersOf({ BB: "Aa" })).toEqual([["BB", "Aa"]]);
    expect(headersOf({ Aa: "Aa" }, true)).toEqual([["Aa", "Aa"]]);
    expect(headersOf({ BB: "BB", Aa: "Aa" }, true)).toEqual([["BB", "BB"], ["Aa", "Aa"]]);
    // Same length and the same sampled bytes (first, last, middle, quarters), different elsewhere: the same memo key.
    expect(headersOf({ "k-k": "aXaaaaaaaa" })).toEqual([["k-k", "aXaaaaaaaa"]]);
    expect(headersOf({ "k-k": "aYaaaaaaaa" })).toEqual([["k-k", "aYaaaaaaaa"]]);
    expect(headersOf({ "k-k": "aXaaaaaaaa" })).toEqual([["k-k", "aXaaaaaaaa"]]);
    // Non-ASCII bytes decode as UTF-8 every time.
    expect(headersOf({ "naïve": "café" })).toEqual([["naïve", "café"]]);
    expect(headersOf({ "naïve": "café" })).toEqual([["naïve", "café"]]);
    // The same text object for the same bytes, across messages.
    const first = decodeCheckRequest(encodeCheckRequest(envoyCheckRequest({ method: "PATCH" })), limits);
    const second = decodeCheckRequest(encodeCheckRequest(envoyCheckRequest({ method: "PATCH" })), limits);
    expect(first.ok && second.ok && first.raw.method === "PATCH" && second.raw.method === "PATCH").toBe(true);
    // A fixed table of 2048 slots: 6000 new strings replace older ones, never grow it.
    for (let n = 0; n < 3000; n++) headersOf({ [`h${n}`]: `v${n}` });
    expect(memo.strings?.size).toBeLessThanOrEqual(2048);
    expect(headersOf({ h7: "v8", Aa: "BB" })).toEqual([["h7", "v8"], ["Aa", "BB"]]);
  });

  it("decodes request ids and tracing headers without the memo, in both header forms", () => {
    const memo = createDecodeMemo();
    const limits = { ...LIMITS, memo };
    for (const encodeRawHeaders of [false, true]) {
      for (let n = 0; n < 3; n++) {
        const id = `3f1c9a8e-2b7d-4c61-9f0a-${String(n).padStart(12, "0")}`;
        // (The fixture adds its own x-request-id, 0d6f8d5e-…, to every request.)
        const headers = { "x-b3-traceid": id, traceparent: `00-${id}-01`, "x-b3-spanid": `e457b5a2e4d8${n}`, accept: "application/json" };
        const result = decodeCheckRequest(encodeCheckRequest(envoyCheckRequest({ headers, encodeRawHeaders })), limits);
        expect(result.ok && Object.fromEntries(result.raw.headers.filter(([name]) => name in headers))).toEqual(headers);
      }
    }
    const remembered = [...(memo.strings?.values() ?? [])];
    expect(remembered).toContain("application/json");
    expect(remembered.some((text) => text.includes("3f1c9a8e") || text.startsWith("e457b5a2") || text.startsWith("0d6f8d5e"))).toBe(false);
  });

  it("reads a CheckRequest exactly as Envoy fills it (headers map)", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    const request = envoyCheckRequest({
      method: "POST",
      path: "/api/v1/charge?id=42",
      host: "payments.internal:8443",
      principal: "spiffe://prod.example.com/ns/checkout/sa/checkout",
      certificatePem: pem,
      destinationPrincipal: "spiffe://prod.example.com/ns/payments/sa/payment-api",
      headers: { accept: ["application/json", "text/plain"], "x-forwarded-client-cert": "By=spiffe://a;URI=spiffe://b" },
      contextExtensions: { virtual_host: "payments" },
      body: "{\"amount\":12}",
      requestId: "req-1",
    });
    const result = decodeCheckRequest(encodeCheckRequest(request), LIMITS);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const raw = result.raw;
    expect(raw.method).toBe("POST");
    expect(raw.path).toBe("/api/v1/charge?id=42");
    expect(raw.host).toBe("payments.internal:8443");
    expect(raw.scheme).toBe("https");
    expect(Object.fromEntries(raw.headers)).toMatchObject({
      ":path": "/api/v1/charge?id=42",
      ":method": "POST",
      accept: "application/json,text/plain",
      "x-envoy-auth-partial-body": "false",
    });
    expect(raw.identity).toEqual({
      principal: "spiffe://prod.example.com/ns/checkout/sa/checkout",
      certificate: { text: encodeURIComponent(pem), encoding: "url" },
      xfcc: "By=spiffe://a;URI=spiffe://b",
    });
    expect(raw.source).toEqual({ address: "10.0.0.7", port: 51234 });
    expect(raw.destination).toEqual({ address: "10.0.0.9", port: 8443, principal: "spiffe://prod.example.com/ns/payments/sa/payment-api" });
    expect({ ...raw.contextExtensions }).toEqual({ virtual_host: "payments" });
    expect(raw.bodyBytes).toBe(13);
    expect(raw.requestId).toBe("req-1");
    // The server uses its own clock (RawRequest.time is for recorded inputs).
    expect(raw.time).toBeUndefined();
  });

  it("reads header_map entries with raw_value bytes (encode_raw_headers), keeping repeated headers apart", () => {
    const request = envoyCheckRequest({ encodeRawHeaders: true, headers: { accept: ["a", "b"] }, body: "xyz", packAsBytes: true });
    const result = decodeCheckRequest(encodeCheckRequest(request), LIMITS);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.raw.headers.filter(([k]) => k === "accept")).toEqual([
      ["accept", "a"],
      ["accept", "b"],
    ]);
    expect(result.raw.bodyBytes).toBe(3);
  });

  it("joins repeated x-forwarded-client-cert and x-request-id entries instead of taking the first", () => {
    const request = envoyCheckRequest({ encodeRawHeaders: true, headers: { "x-forwarded-client-cert": ["By=a;URI=b", "By=c;URI=d"] } });
    const result = decodeCheckRequest(encodeCheckRequest(request), LIMITS);
    expect(result.ok && result.raw.identity.xfcc).toBe("By=a;URI=b,By=c;URI=d");
  });

  it("lets a repeated key in the headers map replace the earlier value, as protobuf maps do", () => {
    // Two map entries with the same key, written by hand: 0x1a = HttpRequest.headers.
    const entry = (k: string, v: string) => {
      const body = Buffer.concat([Buffer.from([0x0a, k.length]), Buffer.from(k), Buffer.from([0x12, v.length]), Buffer.from(v)]);
      return Buffer.concat([Buffer.from([0x1a, body.length]), body]);
    };
    const http = Buffer.concat([entry("x-env", "prod"), entry("x-env", "dev")]);
    const bytes = wrapHttp(http);
    const result = decodeCheckRequest(bytes, LIMITS);
    expect(result.ok && result.raw.headers).toEqual([["x-env", "dev"]]);
    expect(comparable(result)).toEqual(comparable(reference(bytes)));
  });

  it("merges a repeated attributes message, as protobuf does", () => {
    const first = encodeCheckRequest({ attributes: { request: { http: { method: "GET", path: "/a" } } } });
    const second = encodeCheckRequest({ attributes: { source: { principal: "spiffe://x/y" } } });
    const result = decodeCheckRequest(Buffer.concat([first, second]), LIMITS);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.raw.path).toBe("/a");
      expect(result.raw.identity.principal).toBe("spiffe://x/y");
    }
  });

  describe("refuses, never throws", () => {
    const refused = (bytes: Buffer, reason = "malformed_request") => {
      const result = decodeCheckRequest(bytes, LIMITS);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toBe(reason);
      return result;
    };

    it("an empty message (no attributes)", () => {
      expect(refused(Buffer.alloc(0))).toMatchObject({ detail: expect.stringContaining("`attributes`") });
    });

    it("attributes without request.http (the network filter's CheckRequest)", () => {
      refused(encodeCheckRequest({ attributes: { source: { principal: "spiffe://a/b" } } }));
    });

    it("both headers and header_map", () => {
      refused(encodeCheckRequest({ attributes: { request: { http: { headers: { a: "1" }, header_map: { headers: [{ key: "a", raw_value: Buffer.from("2") }] } } } } }));
    });

    it("a raw_value that is not UTF-8", () => {
      refused(encodeCheckRequest({ attributes: { request: { http: { header_map: { headers: [{ key: "a", raw_value: Buffer.from([0xc0, 0xae]) }] } } } } }));
    });

    it("a header_map entry whose value and raw_value differ", () => {
      refused(encodeCheckRequest({ attributes: { request: { http: { header_map: { headers: [{ key: "a", value: "x", raw_value: Buffer.from("y") }] } } } } }));
    });

    it("a message over the size limit", () => {
      const bytes = encodeCheckRequest(envoyCheckRequest({ body: "x".repeat(5000) }));
      expect(decodeCheckRequest(bytes, { maxMessageBytes: 4096 })).toMatchObject({ ok: false, reason: "request_too_large" });
    });

    it("truncated messages at every length", () => {
      const bytes = encodeCheckRequest(envoyCheckRequest({ principal: "spiffe://a/b", path: "/x" }));
      for (let n = 1; n < bytes.length; n++) {
        const result = decodeCheckRequest(bytes.subarray(0, n), LIMITS);
        // A prefix can be a valid shorter message only at field boundaries; it never throws and never invents fields.
        if (result.ok) expect(bytes.length).toBeGreaterThan(n);
      }
    });

    it("a known field with the wrong wire type", () => {
      refused(Buffer.from([0x08, 0x01])); // CheckRequest.attributes as a varint
      refused(wrapHttp(Buffer.from([0x10, 0x05]))); // HttpRequest.method as a varint
    });

    it("groups, field number 0 and undefined wire types", () => {
      refused(Buffer.from([0x0b, 0x0c])); // start/end group
      refused(Buffer.from([0x02, 0x00])); // field 0
      refused(Buffer.from([0x0f])); // wire type 7
    });

    it("a length that runs past its message", () => {
      refused(Buffer.from([0x0a, 0x05, 0x22, 0x7f]));
    });

    it("an over-long varint", () => {
      refused(Buffer.from([0x0a, 0x0b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    });

    it("random bytes (property)", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          const result = decodeCheckRequest(Buffer.from(bytes), LIMITS);
          expect(typeof result.ok).toBe("boolean");
        }),
        { numRuns: 2000 },
      );
    });

    it("mutated valid messages (property)", () => {
      const valid = encodeCheckRequest(envoyCheckRequest({ principal: "spiffe://a/b", headers: { a: "b" }, body: "hi" }));
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
          const bytes = Buffer.from(valid);
          for (const [at, value] of edits) bytes[at] = value;
          const result = decodeCheckRequest(bytes, LIMITS);
          expect(typeof result.ok).toBe("boolean");
        }),
        { numRuns: 2000 },
      );
    });
  });

  it("skips unknown fields, including ones from future protos", () => {
    const known = encodeCheckRequest({ attributes: { request: { http: { method: "GET", path: "/p" } } } });
    // Append CheckRequest field 99 (length-delimited) and field 100 (fixed64): unknown to Ward.
    const unknown = Buffer.from([0x9a, 0x06, 0x02, 0x61, 0x62, 0xa1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    const result = decodeCheckRequest(Buffer.concat([known, unknown]), LIMITS);
    expect(result.ok && result.raw.path).toBe("/p");
  });
});

/** Wraps HttpRequest bytes in Request (field 2), AttributeContext (field 4) and CheckRequest (field 1). */
function wrapHttp(http: Buffer): Buffer {
  const ld = (tagByte: number, body: Buffer) => Buffer.concat([Buffer.from([tagByte]), varint(body.length), body]);
  return ld(0x0a, ld(0x22, ld(0x12, http)));
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
