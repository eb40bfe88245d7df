import fc from "fast-check";
import { anyText } from "./arbitraries.js";
import { describe, expect, it } from "vitest";
import { unauthenticated, type Identity } from "../../src/engine/input.js";
import { createInputBuilder, DEFAULT_INPUT_LIMITS, type InputOptions } from "../../src/input/build.js";
import type { BuildInputResult, RawRequest } from "../../src/input/raw.js";
import { inheritsNothing } from "../../src/data-map.js";

const caller: Identity = {
  authenticated: true,
  spiffeId: "spiffe://prod.example.com/ns/checkout/sa/checkout",
  trustDomain: "prod.example.com",
  path: "/ns/checkout/sa/checkout",
  source: "principal",
};
const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

function raw(overrides: Partial<RawRequest> = {}): RawRequest {
  return {
    method: "POST",
    path: "/api/v1/charge?currency=EUR&amount=10",
    host: "payments.prod.svc:8443",
    scheme: "https",
    headers: [
      [":authority", "payments.prod.svc:8443"],
      [":path", "/api/v1/charge?currency=EUR&amount=10"],
      [":method", "POST"],
      [":scheme", "https"],
      ["content-type", "application/json"],
      ["x-request-id", "3f1c"],
    ],
    source: { address: "10.0.0.7", port: 51234 },
    destination: { address: "10.0.0.9", port: 8443, principal: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
    identity: { principal: caller.spiffeId as string },
    contextExtensions: { route: "charge" },
    ...overrides,
  };
}

function build(r: RawRequest, options?: InputOptions, now = NOW): BuildInputResult {
  return createInputBuilder(options).build(r, caller, now);
}

function rejection(result: BuildInputResult): { reason: string; rule: string } | undefined {
  return result.ok ? undefined : { reason: result.reason, rule: result.detail.slice(0, result.detail.indexOf(":")) };
}

describe("createInputBuilder: a realistic Envoy request", () => {
  it("builds the engine input", () => {
    const result = build(raw());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.notes).toBeUndefined();
    const { input } = result;
    expect(input.caller).toBe(caller);
    expect(input.request).toEqual({
      method: "POST",
      path: "/api/v1/charge",
      query: { currency: "EUR", amount: "10" },
      headers: { "content-type": "application/json", "x-request-id": "3f1c" },
      host: "payments.prod.svc",
      scheme: "https",
    });
    expect(input.source).toEqual({ ip: "10.0.0.7", port: 51234 });
    expect(input.destination).toEqual({ ip: "10.0.0.9", port: 8443, spiffeId: "spiffe://prod.example.com/ns/payments/sa/payment-api" });
    expect({ ...input.context }).toEqual({ route: "charge" });
    expect(input.time).toBe(NOW);
  });

  it("gives data maps that inherit nothing (no inherited `constructor`, `__proto__`, `toString`)", () => {
    const result = build(raw({ headers: [["constructor", "x"], ["__proto__", "y"]], contextExtensions: { __proto__: "p" } as Record<string, string> }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    for (const map of [result.input.request.headers, result.input.request.query, result.input.context]) {
      expect(inheritsNothing(map)).toBe(true);
      expect((map as Record<string, unknown>)["toString"]).toBeUndefined();
      expect("hasOwnProperty" in map).toBe(false);
    }
    expect(result.input.request.headers["constructor"]).toBe("x");
    expect(result.input.request.headers["__proto__"]).toBe("y");
    expect(Object.keys(result.input.request.headers)).toEqual(["constructor", "__proto__"]);
  });
});

describe("headers", () => {
  it("lower-cases names and joins repeated headers with `,` in arrival order", () => {
    const result = build(raw({ headers: [["X-Role", "user"], ["x-role", "admin"], ["X-ROLE", "ops"]] }));
    expect(result.ok && result.input.request.headers).toEqual({ "x-role": "user,admin,ops" });
  });

  it("gives separate entries (header_map) the same value as Envoy's joined `headers` map", () => {
    const separate = build(raw({ headers: [["x-role", "user"], ["x-role", "admin"]] }));
    const joined = build(raw({ headers: [["x-role", "user,admin"]] }));
    expect(separate.ok && joined.ok && separate.input.request.headers).toEqual(joined.ok && joined.input.request.headers);
    // A condition sees the whole value, never only the first (CVE-2026-31838 class).
    expect(separate.ok && separate.input.request.headers["x-role"]).toBe("user,admin");
  });

  it("drops pseudo-headers: the canonical attributes are the one way to read them", () => {
    const result = build(raw({ path: "//admin", headers: [[":path", "//admin"], [":authority", "x"]] }));
    expect(result.ok && result.input.request.headers).toEqual({});
    expect(result.ok && result.input.request.path).toBe("/admin");
  });

  it("keeps values exactly (tabs, inner spaces, non-ASCII)", () => {
    const result = build(raw({ headers: [["x-a", " a\tb "], ["x-b", "café"]] }));
    expect(result.ok && result.input.request.headers).toEqual({ "x-a": " a\tb ", "x-b": "café" });
  });

  const bad: readonly [string, [string, string]][] = [
    ["empty name", ["", "x"]],
    ["space in name", ["x role", "x"]],
    ["colon inside name", ["x:role", "x"]],
    ["lone colon", [":", "x"]],
    ["non-ASCII name", ["x-rôle", "x"]],
    ["NUL in value", ["x-role", "ad\u0000min"]],
    ["CR LF in value", ["x-role", "user\r\nx-role: admin"]],
    ["DEL in value", ["x-role", "a\u007f"]],
  ];
  it.each(bad)("refuses %s as malformed_request", (_name, header) => {
    const r = rejection(build(raw({ headers: [header] })));
    expect(r?.reason).toBe("malformed_request");
    expect(["invalid_header_name", "invalid_header_value"]).toContain(r?.rule);
  });
});

describe("limits", () => {
  it("has the documented defaults", () => {
    expect(DEFAULT_INPUT_LIMITS).toEqual({ maxHeaders: 128, maxHeaderBytes: 98304, maxPathBytes: 16384, maxBodyBytes: 1048576 });
  });

  it("maxHeaders counts entries as received, before joining", () => {
    const headers: [string, string][] = Array.from({ length: 4 }, () => ["x-a", "1"]);
    expect(build(raw({ headers }), { maxHeaders: 4 }).ok).toBe(true);
    expect(rejection(build(raw({ headers: [...headers, ["x-a", "1"]] }), { maxHeaders: 4 }))).toEqual({ reason: "request_too_large", rule: "header_count" });
  });

  it("maxHeaderBytes counts UTF-8 bytes of names and values", () => {
    const headers: [string, string][] = [["x-a", "é".repeat(10)]]; // 3 + 20 bytes
    expect(build(raw({ headers }), { maxHeaderBytes: 23 }).ok).toBe(true);
    expect(rejection(build(raw({ headers }), { maxHeaderBytes: 22 }))).toEqual({ reason: "request_too_large", rule: "header_bytes" });
  });

  it("checks limits before validating content", () => {
    expect(rejection(build(raw({ headers: [["bad name", "x".repeat(100)]] }), { maxHeaderBytes: 50 }))?.rule).toBe("header_bytes");
  });

  it("maxPathBytes counts the whole target, query included", () => {
    const path = "/a?" + "q".repeat(97); // 100 bytes
    expect(build(raw({ path }), { maxPathBytes: 100 }).ok).toBe(true);
    expect(rejection(build(raw({ path: path + "q" }), { maxPathBytes: 100 }))).toEqual({ reason: "request_too_large", rule: "path_bytes" });
    expect(rejection(build(raw({ path: "/" + "a".repeat(DEFAULT_INPUT_LIMITS.maxPathBytes) })))?.rule).toBe("path_bytes");
  });

  it("maxBodyBytes bounds the forwarded body", () => {
    expect(build(raw({ bodyBytes: 10 }), { maxBodyBytes: 10 }).ok).toBe(true);
    expect(rejection(build(raw({ bodyBytes: 11 }), { maxBodyBytes: 10 }))).toEqual({ reason: "request_too_large", rule: "body_bytes" });
    expect(rejection(build(raw({ bodyBytes: -1 })))).toEqual({ reason: "malformed_request", rule: "body_bytes" });
  });

  it("refuses invalid limits at construction (a configuration bug)", () => {
    expect(() => createInputBuilder({ maxHeaders: -1 })).toThrow(RangeError);
    expect(() => createInputBuilder({ maxPathBytes: Number.NaN })).toThrow(RangeError);
  });
});

describe("method", () => {
  it("is exact: `get` is not `GET`", () => {
    const result = build(raw({ method: "get" }));
    expect(result.ok && result.input.request.method).toBe("get");
  });

  it.each(["", "GET /", "GE\tT", "GÉT", "G(ET", "X".repeat(65)])("refuses %j", (method) => {
    expect(rejection(build(raw({ method })))).toEqual({ reason: "malformed_request", rule: "invalid_method" });
  });

  it("accepts extension methods", () => {
    expect(build(raw({ method: "PROPFIND" })).ok).toBe(true);
  });
});

describe("path and query", () => {
  it("refuses a malformed path with reason malformed_path and the rule in the detail", () => {
    const result = build(raw({ path: "/admin;x" }));
    expect(result).toMatchObject({ ok: false, reason: "malformed_path" });
    expect(rejection(result)?.rule).toBe("path_parameter");
  });

  it("refuses a malformed query with reason malformed_request", () => {
    expect(rejection(build(raw({ path: "/a?q=%zz" })))).toEqual({ reason: "malformed_request", rule: "query_invalid_percent_encoding" });
  });

  it("notes every relaxation a request needed", () => {
    const result = build(raw({ path: "/a;v=1?x=%zz#f" }), { allowSemicolons: true, allowFragment: true, allowMalformedQuery: true });
    expect(result.ok && result.input.request.path).toBe("/a;v=1");
    expect(result.ok && result.notes).toEqual(["relaxed: fragment, path_parameter, query_invalid_percent_encoding"]);
  });
});

describe("host and scheme", () => {
  it("lower-cases the host and strips the port", () => {
    const result = build(raw({ host: "Payments.Prod.SVC.:8443" }));
    expect(result.ok && result.input.request.host).toBe("payments.prod.svc");
  });

  it("refuses an invalid host", () => {
    expect(rejection(build(raw({ host: "evil.com@payments" })))).toEqual({ reason: "malformed_request", rule: "host" });
  });

  it("lower-cases the scheme and refuses a non-scheme", () => {
    const result = build(raw({ scheme: "HTTPS" }));
    expect(result.ok && result.input.request.scheme).toBe("https");
    expect(rejection(build(raw({ scheme: "ht tp" })))).toEqual({ reason: "malformed_request", rule: "invalid_scheme" });
  });
});

describe("peers", () => {
  it("maps an IPv4-mapped IPv6 peer to its IPv4 address", () => {
    const result = build(raw({ source: { address: "::ffff:10.0.0.7", port: 1 } }));
    expect(result.ok && result.input.source).toEqual({ ip: "10.0.0.7", port: 1 });
  });

  it("leaves absent peers absent", () => {
    const result = build(raw({ source: {}, destination: {} }));
    expect(result.ok && result.input.source).toEqual({});
    expect(result.ok && result.input.destination).toEqual({});
  });

  it.each([
    [{ source: { address: "10.0.0.300" } }, "source_address"],
    [{ source: { address: "localhost" } }, "source_address"],
    [{ source: { port: 70000 } }, "source_port"],
    [{ destination: { address: "010.0.0.1" } }, "destination_address"],
    [{ destination: { port: 1.5 } }, "destination_port"],
  ] as const)("refuses %j (%s)", (override, rule) => {
    expect(rejection(build(raw(override as Partial<RawRequest>)))).toEqual({ reason: "malformed_request", rule });
  });

  it("treats a destination principal that is not a SPIFFE ID as absent, with a note", () => {
    const result = build(raw({ destination: { principal: "payments.prod.svc" } }));
    expect(result.ok && result.input.destination.spiffeId).toBeUndefined();
    expect(result.ok && result.notes?.[0]).toMatch(/^destination_principal_ignored: `payments\.prod\.svc` is not a SPIFFE ID/);
  });
});

describe("time", () => {
  it("refuses a non-finite time", () => {
    expect(rejection(build(raw(), {}, Number.NaN))).toEqual({ reason: "malformed_request", rule: "time" });
  });
});

describe("never throws", () => {
  it("on arbitrary raw requests", () => {
    const text = fc.oneof(anyText(40), fc.constantFrom("/", "/a/../b", "GET", "10.0.0.1", "::1", "spiffe://a/b"));
    const request = fc.record({
      method: text,
      path: text,
      host: text,
      scheme: text,
      headers: fc.array(fc.tuple(text, text), { maxLength: 5 }),
      source: fc.record({ address: fc.option(text, { nil: undefined }), port: fc.option(fc.integer({ min: -5, max: 70000 }), { nil: undefined }) }),
      destination: fc.record({ address: fc.option(text, { nil: undefined }), principal: fc.option(text, { nil: undefined }) }),
      contextExtensions: fc.dictionary(text, text, { maxKeys: 3 }),
      bodyBytes: fc.option(fc.integer({ min: -1, max: 2_000_000 }), { nil: undefined }),
    });
    const builder = createInputBuilder();
    fc.assert(
      fc.property(request, (r) => {
        const result = builder.build({ ...r, identity: {} } as RawRequest, unauthenticated("no_identity"), NOW);
        if (!result.ok) expect(result.detail).toMatch(/^[a-z_]+: /);
      }),
      { numRuns: 1500 },
    );
  });
});

describe("one builder across many requests (memoized names, host, principal)", () => {
  it("gives the same answers on repeated and interleaved calls", () => {
    const builder = createInputBuilder();
    const a = raw({ headers: [["X-Role", "user"], [":path", "/x"], ["x-role", "admin"]] });
    const b = raw({ headers: [["x-role", "ops"]], host: "Other.Example:1", destination: { principal: "not-a-spiffe-id" } });
    const bad = raw({ headers: [["x role", "1"]], host: "a..b" });
    for (let round = 0; round < 3; round++) {
      const ra = builder.build(a, caller, NOW);
      expect(ra.ok && ra.input.request.headers).toEqual({ "x-role": "user,admin" });
      expect(ra.ok && ra.input.destination.spiffeId).toBe("spiffe://prod.example.com/ns/payments/sa/payment-api");
      expect(ra.ok && ra.notes).toBeUndefined();
      const rb = builder.build(b, caller, NOW);
      expect(rb.ok && rb.input.request.host).toBe("other.example");
      expect(rb.ok && rb.input.destination.spiffeId).toBeUndefined();
      expect(rb.ok && rb.notes?.length).toBe(1);
      expect(rejection(builder.build(bad, caller, NOW))?.rule).toBe("invalid_header_name");
      expect(rejection(builder.build(raw({ host: "a..b" }), caller, NOW))?.rule).toBe("host");
    }
  });

  it("checks a header again when the name or value at its position changed since the last request", () => {
    const builder = createInputBuilder();
    const good: [string, string][] = [["X-Role", "user"], ["accept", "application/json"]];
    expect(builder.build(raw({ headers: good }), caller, NOW).ok).toBe(true);
    // Same names at the same positions, a control character in a value: refused, not taken as checked.
    expect(rejection(builder.build(raw({ headers: [good[0]!, ["accept", "application/json\r\nx-role: admin"]] }), caller, NOW))?.rule).toBe("invalid_header_value");
    // Same value, a name that is no longer a token.
    expect(rejection(builder.build(raw({ headers: [["X Role", "user"], good[1]!] }), caller, NOW))?.rule).toBe("invalid_header_name");
    // A pseudo-header at a position that held a header (and back): dropped, then kept.
    const pseudo = builder.build(raw({ headers: [[":path", "user"], good[1]!] }), caller, NOW);
    expect(pseudo.ok && pseudo.input.request.headers).toEqual({ accept: "application/json" });
    const again = builder.build(raw({ headers: good }), caller, NOW);
    expect(again.ok && again.input.request.headers).toEqual({ "x-role": "user", accept: "application/json" });
  });

  it("gives a shared builder's answers for any sequence of header lists, as fresh builders do (property)", () => {
    const name = fc.oneof(fc.constantFrom("x-role", "X-Role", ":path", "accept", "x role", ""), anyText(8));
    const value = fc.oneof(fc.constantFrom("user", "admin", "a\u0000b", "x\r\ny", "a\tb"), anyText(12));
    const headers = fc.array(fc.tuple(name, value), { maxLength: 6 });
    const shared = createInputBuilder();
    fc.assert(
      fc.property(fc.array(headers, { minLength: 1, maxLength: 8 }), (lists) => {
        for (const list of lists) {
          const request = raw({ headers: list });
          expect(shared.build(request, caller, NOW)).toEqual(createInputBuilder().build(request, caller, NOW));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("stays correct past the memo capacity", () => {
    const builder = createInputBuilder();
    for (let i = 0; i < 1500; i++) {
      const r = builder.build(raw({ headers: [[`X-H${i}`, "v"]], host: `h${i}.example` }), caller, NOW);
      expect(r.ok && r.input.request.headers).toEqual({ [`x-h${i}`]: "v" });
      expect(r.ok && r.input.request.host).toBe(`h${i}.example`);
    }
  });
});
