import { describe, expect, it } from "vitest";
import type { Diagnostic, Result } from "../../src/diagnostics.js";
import { unauthenticated } from "../../src/engine/input.js";
import { createInputBuilder } from "../../src/input/build.js";
import { fromCheckRequestJson, fromCompactInput, fromInputDocument } from "../../src/input/documents.js";
import type { RawRequest } from "../../src/input/raw.js";

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

function value(result: Result<RawRequest>): RawRequest {
  if (!result.ok) throw new Error(`expected a document, got ${JSON.stringify(result.diagnostics)}`);
  expect(result.diagnostics).toEqual([]);
  return result.value;
}

function problems(result: Result<RawRequest>): { code: string; message: string }[] {
  expect(result.ok).toBe(false);
  return result.diagnostics.map((d: Diagnostic) => ({ code: d.code, message: d.message }));
}

// What Envoy sends (check_request_utils.cc), in proto3 JSON with JSON (camelCase) names.
const PEM_URL = "-----BEGIN%20CERTIFICATE-----%0AMIIB...%0A-----END%20CERTIFICATE-----%0A";
const ENVOY_CHECK_REQUEST = {
  attributes: {
    source: {
      address: { socketAddress: { address: "10.0.0.7", portValue: 51234 } },
      principal: "spiffe://prod.example.com/ns/checkout/sa/checkout",
      certificate: PEM_URL,
    },
    destination: {
      address: { socketAddress: { address: "10.0.0.9", portValue: 8443 } },
      principal: "spiffe://prod.example.com/ns/payments/sa/payment-api",
    },
    request: {
      time: "2024-05-01T12:00:00.123456Z",
      http: {
        id: "1234",
        method: "POST",
        headers: {
          ":authority": "payments.prod.svc",
          ":method": "POST",
          ":path": "/api/v1/charge?x=1",
          "x-forwarded-client-cert": 'By=spiffe://prod.example.com/ns/payments/sa/payment-api;URI=spiffe://prod.example.com/ns/checkout/sa/checkout',
          "x-request-id": "6a3b0c2e-8f4d-4b0e-9a51-1f2e3d4c5b6a",
          "x-role": "user,admin",
        },
        path: "/api/v1/charge?x=1",
        host: "payments.prod.svc",
        scheme: "https",
        protocol: "HTTP/2",
        size: "42",
        body: '{"amount":10}',
      },
    },
    contextExtensions: { route: "charge" },
    metadataContext: { filterMetadata: { anything: { goes: true } } },
  },
};

describe("fromCheckRequestJson", () => {
  it("reads what Envoy sends", () => {
    const raw = value(fromCheckRequestJson(ENVOY_CHECK_REQUEST));
    expect(raw).toMatchObject({
      method: "POST",
      path: "/api/v1/charge?x=1",
      host: "payments.prod.svc",
      scheme: "https",
      source: { address: "10.0.0.7", port: 51234 },
      destination: { address: "10.0.0.9", port: 8443, principal: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
      identity: {
        principal: "spiffe://prod.example.com/ns/checkout/sa/checkout",
        certificate: { text: PEM_URL, encoding: "url" },
        xfcc: "By=spiffe://prod.example.com/ns/payments/sa/payment-api;URI=spiffe://prod.example.com/ns/checkout/sa/checkout",
      },
      bodyBytes: 13,
      time: Date.UTC(2024, 4, 1, 12, 0, 0, 123),
      requestId: "6a3b0c2e-8f4d-4b0e-9a51-1f2e3d4c5b6a",
    });
    expect({ ...raw.contextExtensions }).toEqual({ route: "charge" });
    expect(raw.headers).toContainEqual(["x-role", "user,admin"]);
  });

  it("accepts snake_case (original proto) field names", () => {
    const doc = {
      attributes: {
        source: { address: { socket_address: { address: "10.0.0.7", port_value: "51234" } } },
        request: { http: { method: "GET", path: "/", header_map: { headers: [{ key: "x-a", raw_value: b64("1") }] }, raw_body: b64("abc") } },
        context_extensions: { k: "v" },
      },
    };
    const raw = value(fromCheckRequestJson(doc));
    expect(raw).toMatchObject({ source: { address: "10.0.0.7", port: 51234 }, headers: [["x-a", "1"]], bodyBytes: 3 });
    expect({ ...raw.contextExtensions }).toEqual({ k: "v" });
  });

  it("reads header_map entries as separate headers, raw_value decoded from base64", () => {
    const doc = {
      attributes: {
        request: {
          http: {
            method: "GET",
            path: "/",
            headerMap: {
              headers: [
                { key: "x-role", rawValue: b64("user") },
                { key: "x-role", rawValue: b64("admin") },
                { key: "x-name", rawValue: b64("café") },
                { key: "x-bytes", rawValue: Buffer.from([0x61, 0xff]).toString("base64") },
                { key: "x-plain", value: "v" },
                { key: "x-url-safe", rawValue: "-_8" },
              ],
            },
          },
        },
      },
    };
    const raw = value(fromCheckRequestJson(doc));
    expect(raw.headers).toEqual([
      ["x-role", "user"],
      ["x-role", "admin"],
      ["x-name", "café"],
      ["x-bytes", "a\ufffd"],
      ["x-plain", "v"],
      ["x-url-safe", "\ufffd\ufffd"],
    ]);
    // Joined exactly as Envoy's `headers` map would have them.
    const built = createInputBuilder().build(raw, unauthenticated("no_identity"), 0);
    expect(built.ok && built.input.request.headers["x-role"]).toBe("user,admin");
  });

  it("ignores OPA-Envoy's extra input fields and unused Envoy fields", () => {
    const doc = {
      ...ENVOY_CHECK_REQUEST,
      parsed_path: ["api", "v1", "charge"],
      parsed_query: { x: ["1"] },
      parsed_body: { amount: 10 },
      truncated_body: false,
      version: { encoding: "protojson", ext_authz: "v3" },
    };
    expect(fromCheckRequestJson(doc).ok).toBe(true);
  });

  it("treats null as absent (proto3 JSON)", () => {
    const raw = value(fromCheckRequestJson({ attributes: { source: null, request: { http: { method: "GET", path: "/", host: null } } } }));
    expect(raw).toMatchObject({ host: "", source: {} });
  });

  it("gives a pipe address no IP", () => {
    const raw = value(fromCheckRequestJson({ attributes: { source: { address: { pipe: { path: "/run/envoy.sock" } } }, request: { http: { method: "GET", path: "/" } } } }));
    expect(raw.source).toEqual({});
  });

  const bad: readonly [string, unknown, { code: string; message: string }[]][] = [
    ["not an object", [], [{ code: "input_not_object", message: "a CheckRequest must be a JSON object, not an array" }]],
    ["no attributes", { parsed_path: [] }, [{ code: "input_missing_field", message: "`attributes` is missing" }]],
    ["no http", { attributes: { request: {} } }, [{ code: "input_missing_field", message: "`attributes.request.http` is missing" }]],
    [
      "wrong type",
      { attributes: { request: { http: { method: 1, path: "/" } } } },
      [{ code: "input_wrong_type", message: "`attributes.request.http.method` must be a string, not a number" }],
    ],
    [
      "unknown field",
      { attributes: { request: { http: { method: "GET", pth: "/" } } } },
      [{ code: "input_unknown_field", message: "unknown field `attributes.request.http.pth`" }],
    ],
    [
      "both names of one field",
      { attributes: { request: { http: { method: "GET", path: "/", rawBody: "", raw_body: "" } } } },
      [{ code: "input_conflicting_fields", message: "`attributes.request.http.rawBody` and `attributes.request.http.raw_body` are the same field; give it once" }],
    ],
    [
      "headers and header_map",
      { attributes: { request: { http: { method: "GET", path: "/", headers: {}, headerMap: { headers: [] } } } } },
      [{ code: "input_conflicting_fields", message: "`attributes.request.http.headers` and `attributes.request.http.headerMap` both give the headers; Envoy sends one of them" }],
    ],
    [
      "a query outside the path",
      { attributes: { request: { http: { method: "GET", path: "/", query: "a=1" } } } },
      [{ code: "input_unsupported_field", message: "`attributes.request.http.query` is not read: Envoy leaves it empty and sends the query inside `path`" }],
    ],
    [
      "bad base64",
      { attributes: { request: { http: { method: "GET", path: "/", headerMap: { headers: [{ key: "a", rawValue: "!!" }] } } } } },
      [{ code: "input_invalid_value", message: "`attributes.request.http.headerMap.headers[0].rawValue` must be base64 (proto3 JSON `bytes`)" }],
    ],
    [
      "bad port",
      { attributes: { source: { address: { socketAddress: { address: "1.2.3.4", portValue: 70000 } } }, request: { http: { method: "GET", path: "/" } } } },
      [{ code: "input_invalid_value", message: "`attributes.source.address.socketAddress.portValue` must be a port number (0-65535), not `70000`" }],
    ],
    [
      "bad time",
      { attributes: { request: { time: "yesterday", http: { method: "GET", path: "/" } } } },
      [{ code: "input_invalid_value", message: "`attributes.request.time` must be an RFC 3339 timestamp such as `2024-05-01T12:00:00Z`, not `yesterday`" }],
    ],
    [
      "non-string header value",
      { attributes: { request: { http: { method: "GET", path: "/", headers: { "x-a": ["1"] } } } } },
      [{ code: "input_wrong_type", message: '`attributes.request.http.headers["x-a"]` must be a string, not an array' }],
    ],
  ];
  it.each(bad)("reports %s with its JSON path", (_name, doc, expected) => {
    expect(problems(fromCheckRequestJson(doc))).toEqual(expected);
  });

  it("suggests the field meant", () => {
    const r = fromCheckRequestJson({ attributes: { request: { http: { method: "GET", path: "/", header_mp: {} } } } });
    expect(r.ok ? undefined : r.diagnostics[0]?.help).toBe("did you mean `attributes.request.http.header_map`?");
  });

  it("reports every problem, not just the first", () => {
    const r = fromCheckRequestJson({ attributes: { source: { principal: 1 }, request: { http: { method: 2, path: 3 } } } });
    expect(r.ok ? 0 : r.diagnostics.length).toBe(3);
  });
});

describe("fromCompactInput", () => {
  const PEM = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n";
  it("reads the compact form", () => {
    const raw = value(
      fromCompactInput({
        caller: { spiffe_id: "spiffe://prod.example.com/ns/checkout/sa/checkout" },
        cert: PEM,
        request: {
          method: "POST",
          path: "/api/v1/charge",
          headers: { "X-Role": ["user", "admin"], "x-forwarded-client-cert": "By=a;URI=b", "x-request-id": "r-1" },
          host: "payments.prod.svc",
          scheme: "https",
          body_bytes: 10,
        },
        source: { ip: "10.0.0.7", port: 51234 },
        destination: { spiffe_id: "spiffe://prod.example.com/ns/payments/sa/payment-api", ip: "10.0.0.9", port: 8443 },
        context: { route: "charge" },
        time: "2024-05-01T14:00:00+02:00",
      }),
    );
    expect(raw).toMatchObject({
      method: "POST",
      path: "/api/v1/charge",
      host: "payments.prod.svc",
      scheme: "https",
      headers: [
        ["X-Role", "user"],
        ["X-Role", "admin"],
        ["x-forwarded-client-cert", "By=a;URI=b"],
        ["x-request-id", "r-1"],
      ],
      source: { address: "10.0.0.7", port: 51234 },
      destination: { address: "10.0.0.9", port: 8443, principal: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
      identity: { principal: "spiffe://prod.example.com/ns/checkout/sa/checkout", certificate: { text: PEM, encoding: "pem" }, xfcc: "By=a;URI=b" },
      bodyBytes: 10,
      time: Date.UTC(2024, 4, 1, 12),
      requestId: "r-1",
    });
  });

  it("takes the host from the `host` header when `request.host` is absent", () => {
    expect(value(fromCompactInput({ request: { method: "GET", path: "/", headers: { Host: "a.example:80" } } })).host).toBe("a.example:80");
  });

  it("leaves identity evidence empty without caller, cert or XFCC", () => {
    expect(value(fromCompactInput({ request: { method: "GET", path: "/" } })).identity).toEqual({});
  });

  it("does not take an x-request-id that is not short visible ASCII", () => {
    expect(value(fromCompactInput({ request: { method: "GET", path: "/", headers: { "x-request-id": "a b" } } })).requestId).toBeUndefined();
  });

  const bad: readonly [string, unknown, { code: string; message: string }[]][] = [
    ["no request", { caller: {} }, [{ code: "input_missing_field", message: "`request` is missing" }]],
    [
      "no method or path",
      { request: {} },
      [
        { code: "input_missing_field", message: "`request.method` is missing" },
        { code: "input_missing_field", message: "`request.path` is missing" },
      ],
    ],
    ["unknown top-level field", { reqest: { method: "GET", path: "/" }, request: { method: "GET", path: "/" } }, [{ code: "input_unknown_field", message: "unknown field `reqest`" }]],
    ["bad port", { request: { method: "GET", path: "/" }, source: { port: 70000 } }, [{ code: "input_invalid_value", message: "`source.port` must be a port number (0-65535), not `70000`" }]],
    ["bad header", { request: { method: "GET", path: "/", headers: { "x-a": 1 } } }, [{ code: "input_wrong_type", message: '`request.headers["x-a"]` must be a string or a list of strings, not a number' }]],
    ["bad context", { request: { method: "GET", path: "/" }, context: { k: 1 } }, [{ code: "input_wrong_type", message: "`context.k` must be a string, not a number" }]],
    ["bad cert", { request: { method: "GET", path: "/" }, cert: { pem: "x" } }, [{ code: "input_wrong_type", message: "`cert` must be a string, not an object" }]],
    ["bad body_bytes", { request: { method: "GET", path: "/", body_bytes: -1 } }, [{ code: "input_invalid_value", message: "`request.body_bytes` must be a byte count, not `-1`" }]],
    ["bad time", { request: { method: "GET", path: "/" }, time: "2024-02-30T00:00:00Z" }, [{ code: "input_invalid_value", message: "`time` must be an RFC 3339 timestamp such as `2024-05-01T12:00:00Z`, not `2024-02-30T00:00:00Z`" }]],
  ];
  it.each(bad)("reports %s with its JSON path", (_name, doc, expected) => {
    expect(problems(fromCompactInput(doc))).toEqual(expected);
  });
});

describe("fromInputDocument", () => {
  it("detects a CheckRequest", () => {
    expect(value(fromInputDocument(ENVOY_CHECK_REQUEST)).method).toBe("POST");
  });

  it("detects the compact form", () => {
    expect(value(fromInputDocument({ request: { method: "GET", path: "/x" } })).path).toBe("/x");
  });

  it("reports an unrecognized document", () => {
    expect(problems(fromInputDocument({ foo: 1 }))[0]?.code).toBe("input_unrecognized_document");
    expect(problems(fromInputDocument({}))[0]?.code).toBe("input_unrecognized_document");
    expect(problems(fromInputDocument("x"))[0]?.code).toBe("input_not_object");
  });

  it("reads a CheckRequest that also has a compact field as a CheckRequest, and reports the stray field", () => {
    expect(problems(fromInputDocument({ ...ENVOY_CHECK_REQUEST, request: {} }))).toEqual([{ code: "input_unknown_field", message: "unknown field `request`" }]);
  });
});

describe("documents through the builder", () => {
  it("a document's malformed path is refused by the builder exactly like a live request", () => {
    const raw = value(fromInputDocument({ request: { method: "GET", path: "/admin;x" } }));
    const built = createInputBuilder().build(raw, unauthenticated("no_identity"), 0);
    expect(built).toMatchObject({ ok: false, reason: "malformed_path" });
  });
});
