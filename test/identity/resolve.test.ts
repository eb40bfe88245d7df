// The resolver: sources and their order, cross-checks, X509-SVID rules,
// XFCC trust (with the forgery tricks it must stop), the certificate cache,
// and bad input (each an unauthenticated caller with a reason, never a throw).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Identity } from "../../src/engine/input.js";
import type { IdentityEvidence } from "../../src/input/raw.js";
import { checkIdentityConfig, createIdentityResolver, type IdentityConfig } from "../../src/identity/resolve.js";
import { NOW, oracle, pem, PROD_CHECKOUT, PROD_PAYMENTS_API, PROD_WEB, STAGING_CHECKOUT } from "./fixtures.js";

const KNOWN_REASONS = new Set([
  "no_identity",
  "invalid_spiffe_id",
  "malformed_certificate",
  "not_an_svid",
  "multiple_uri_sans",
  "expired_certificate",
  "certificate_not_yet_valid",
  "identity_mismatch",
  "untrusted_certificate",
  "invalid_xfcc",
  "untrusted_xfcc",
  "xfcc_missing",
  "identity_config_invalid",
  "identity_error",
]);

function cert(name: string, encoding: "pem" | "url" = "pem"): IdentityEvidence["certificate"] {
  return { text: encoding === "pem" ? pem(name) : encodeURIComponent(pem(name)), encoding };
}

function resolve(config: IdentityConfig, evidence: IdentityEvidence, needCertificate = false, now = NOW): Identity {
  return createIdentityResolver(config).resolve(evidence, { needCertificate, now });
}

/** Every unauthenticated identity has a known reason and a short, one-line detail. */
function expectDenied(identity: Identity, reason: string): void {
  expect(identity.authenticated).toBe(false);
  expect(identity.unauthenticatedReason).toBe(reason);
  expect(identity.spiffeId).toBeUndefined();
  expect(identity.detail?.length ?? 0).toBeLessThan(600);
  expect(identity.detail ?? "").not.toMatch(/[\n\r]/);
}

describe("principal (Envoy's validated peer URI SAN)", () => {
  it("authenticates a valid SPIFFE ID without touching a certificate", () => {
    const resolver = createIdentityResolver();
    expect(resolver.resolve({ principal: PROD_CHECKOUT }, { needCertificate: false, now: NOW })).toEqual({
      authenticated: true,
      spiffeId: PROD_CHECKOUT,
      trustDomain: "prod.example.com",
      path: "/ns/checkout/sa/checkout",
      source: "principal",
    });
    expect(resolver.stats()).toEqual({ hits: 0, misses: 0, entries: 0, bytes: 0 });
  });

  it.each([
    ["spiffe://Prod.example.com/ns/a", "bad_trust_domain_char"],
    ["spiffe://prod.example.com/ns/../admin", "dot_segment"],
    ["spiffe://prod.example.com/ns/a/", "trailing_slash"],
    ["spiffe://prod.example.com/ns/%61dmin", "percent_encoding"],
    ["https://prod.example.com/ns/a", "wrong_scheme"],
    ["spiffe://prod.example.com:443/ns/a", "port"],
    ["spiffe://prod.example.com/ns/a?x", "query"],
  ])("refuses %s (%s)", (principal, rule) => {
    const identity = resolve({}, { principal });
    expectDenied(identity, "invalid_spiffe_id");
    expect(identity.detail).toContain(`[${rule}]`);
  });

  it("refuses a root SPIFFE ID: a caller is a workload (X509-SVID §3.1)", () => {
    expectDenied(resolve({}, { principal: "spiffe://prod.example.com" }), "not_an_svid");
  });

  it("says no_identity when there is no evidence at all", () => {
    expect(resolve({}, {})).toEqual({
      authenticated: false,
      unauthenticatedReason: "no_identity",
      detail: "no identity evidence from the configured sources (`principal`, `certificate`)",
    });
    expectDenied(resolve({}, { principal: "" }), "no_identity");
  });
});

describe("principal and certificate: the same peer, cross-checked", () => {
  it("with certificateChecks when-needed, parses the certificate only when the policies need it", () => {
    const resolver = createIdentityResolver({ certificateChecks: "when-needed" });
    const evidence = { principal: PROD_CHECKOUT, certificate: cert("prod-checkout", "url") };
    const light = resolver.resolve(evidence, { needCertificate: false, now: NOW });
    expect(light).toMatchObject({ authenticated: true, source: "principal" });
    expect(light.certificate).toBeUndefined();
    expect(resolver.stats().misses).toBe(0);
    const full = resolver.resolve(evidence, { needCertificate: true, now: NOW });
    expect(full).toMatchObject({ authenticated: true, source: "principal", spiffeId: PROD_CHECKOUT });
    expect(full.certificate?.fingerprint).toBe(oracle("prod-checkout").fingerprint256.replace(/:/g, "").toLowerCase());
  });

  it("denies identity_mismatch when the principal is not the certificate's URI SAN", () => {
    const identity = resolve({}, { principal: PROD_WEB, certificate: cert("prod-checkout") }, true);
    expect(identity).toEqual({
      authenticated: false,
      unauthenticatedReason: "identity_mismatch",
      detail: `the peer principal \`${PROD_WEB}\` is not the certificate's URI SAN \`${PROD_CHECKOUT}\``,
    });
  });

  it("compares exactly: another trust domain is a mismatch", () => {
    expectDenied(resolve({}, { principal: STAGING_CHECKOUT, certificate: cert("prod-checkout") }, true), "identity_mismatch");
  });

  it("with certificateChecks when-needed, does not parse (so cannot compare) when cert.* is unused and no bundle is set", () => {
    // Documented: the cross-check happens whenever the certificate is parsed.
    const whenNeeded: IdentityConfig = { certificateChecks: "when-needed" };
    expect(resolve(whenNeeded, { principal: PROD_WEB, certificate: cert("prod-checkout") }, false)).toMatchObject({ authenticated: true, spiffeId: PROD_WEB });
  });

  describe("certificateChecks always (the default): the answer does not depend on what the policies read", () => {
    const cases: [string, IdentityEvidence, string][] = [
      ["an expired certificate", { principal: PROD_CHECKOUT, certificate: cert("expired", "url") }, "expired_certificate"],
      ["a certificate not yet valid", { principal: PROD_CHECKOUT, certificate: cert("not-yet-valid", "url") }, "certificate_not_yet_valid"],
      ["a principal that is not the certificate's URI SAN", { principal: PROD_WEB, certificate: cert("prod-checkout", "url") }, "identity_mismatch"],
      ["a CA used as a leaf", { principal: PROD_CHECKOUT, certificate: cert("ca-as-leaf", "url") }, "not_an_svid"],
      ["garbage certificate text", { principal: PROD_CHECKOUT, certificate: { text: "garbage", encoding: "pem" } }, "malformed_certificate"],
    ];
    it.each(cases)("refuses %s whether or not cert.* is needed", (_name, evidence, reason) => {
      for (const config of [{}, { certificateChecks: "always" }] as IdentityConfig[]) {
        expectDenied(resolve(config, evidence, false), reason);
        expectDenied(resolve(config, evidence, true), reason);
      }
    });

    it("checks validity at each decision time, from the cache (an HTTP/2 connection that outlives its certificate)", () => {
      const resolver = createIdentityResolver();
      const notAfter = new Date(oracle("prod-checkout").validTo).getTime();
      const evidence = { principal: PROD_CHECKOUT, certificate: cert("prod-checkout", "url") };
      expect(resolver.resolve(evidence, { needCertificate: false, now: NOW })).toMatchObject({ authenticated: true, source: "principal" });
      expect(resolver.resolve(evidence, { needCertificate: false, now: notAfter + 1000 })).toMatchObject({ authenticated: false, unauthenticatedReason: "expired_certificate" });
      expect(resolver.stats()).toMatchObject({ misses: 1, hits: 1 });
    });

    it("authenticates a good principal and certificate without cert.* needed, handing on the attributes only when needed", () => {
      const light = resolve({}, { principal: PROD_CHECKOUT, certificate: cert("prod-checkout", "url") }, false);
      expect(light).toMatchObject({ authenticated: true, spiffeId: PROD_CHECKOUT, source: "principal" });
      // Unchanged shape: the audit record carries certificate attributes only when policies read cert.* (or a bundle verifies).
      expect(light.certificate).toBeUndefined();
      expect(resolve({}, { principal: PROD_CHECKOUT, certificate: cert("prod-checkout", "url") }, true).certificate?.san.uri).toEqual([PROD_CHECKOUT]);
    });

    it("when-needed keeps the old trade: the expired certificate passes unless cert.* is needed", () => {
      const whenNeeded: IdentityConfig = { certificateChecks: "when-needed" };
      const evidence = { principal: PROD_CHECKOUT, certificate: cert("expired", "url") };
      expect(resolve(whenNeeded, evidence, false)).toMatchObject({ authenticated: true });
      expectDenied(resolve(whenNeeded, evidence, true), "expired_certificate");
    });
  });

  it("cross-checks even when cert.* is unused once a trust bundle makes Ward parse", () => {
    expectDenied(resolve({ trustBundle: pem("bundle") }, { principal: PROD_WEB, certificate: cert("prod-checkout") }, false), "identity_mismatch");
  });

  it("fails closed on a bad certificate next to a good principal", () => {
    expectDenied(resolve({}, { principal: PROD_CHECKOUT, certificate: { text: "garbage", encoding: "pem" } }, true), "malformed_certificate");
    expectDenied(resolve({}, { principal: PROD_CHECKOUT, certificate: cert("expired") }, true), "expired_certificate");
  });

  it("uses the certificate alone when it is the only evidence, needed or not", () => {
    const identity = resolve({}, { certificate: cert("prod-checkout", "url") }, false);
    expect(identity).toMatchObject({ authenticated: true, source: "certificate", spiffeId: PROD_CHECKOUT });
    expect(identity.certificate?.san.uri).toEqual([PROD_CHECKOUT]);
  });

  it("labels the source by the configured order", () => {
    expect(resolve({ sources: ["certificate", "principal"] }, { principal: PROD_CHECKOUT, certificate: cert("prod-checkout") }, true)).toMatchObject({
      authenticated: true,
      source: "certificate",
    });
  });

  it("reads only the configured sources", () => {
    const onlyPrincipal = resolve({ sources: ["principal"] }, { principal: PROD_CHECKOUT, certificate: cert("prod-checkout") }, true);
    expect(onlyPrincipal).toMatchObject({ authenticated: true, source: "principal" });
    expect(onlyPrincipal.certificate).toBeUndefined();
    expectDenied(resolve({ sources: ["certificate"] }, { principal: PROD_CHECKOUT }, true), "no_identity");
    expectDenied(resolve({ sources: ["principal"] }, { certificate: cert("prod-checkout") }, true), "no_identity");
  });
});

describe("X509-SVID rules", () => {
  it.each([
    ["two-uri-sans", "multiple_uri_sans"],
    ["ca-as-leaf", "not_an_svid"],
    ["keycertsign-leaf", "not_an_svid"],
    ["crlsign-leaf", "not_an_svid"],
    ["no-uri-san", "not_an_svid"],
    ["root-id-leaf", "not_an_svid"],
    ["bad-spiffe-uri", "invalid_spiffe_id"],
    ["https-uri", "invalid_spiffe_id"],
    ["expired", "expired_certificate"],
    ["not-yet-valid", "certificate_not_yet_valid"],
  ])("%s → %s", (name, reason) => {
    expectDenied(resolve({}, { certificate: cert(name) }, true), reason);
  });

  it("accepts every SVID fixture", () => {
    for (const [name, id] of [
      ["prod-checkout", PROD_CHECKOUT],
      ["staging-checkout", STAGING_CHECKOUT],
      ["prod-web", PROD_WEB],
      ["subject-attrs", PROD_PAYMENTS_API],
      ["custom-extension", "spiffe://prod.example.com/ns/payments/sa/ledger"],
      ["othername-san", PROD_CHECKOUT],
    ] as const) {
      expect(resolve({}, { certificate: cert(name) }, true), name).toMatchObject({ authenticated: true, spiffeId: id });
    }
  });

  it("treats the validity bounds as inclusive (RFC 5280 §4.1.2.5) and checks them per decision", () => {
    const resolver = createIdentityResolver();
    const evidence = { certificate: cert("expired") };
    const notBefore = Date.UTC(2025, 0, 1);
    const notAfter = Date.UTC(2025, 1, 1);
    const at = (now: number): Identity => resolver.resolve(evidence, { needCertificate: true, now });
    expect(at(notBefore - 1).unauthenticatedReason).toBe("certificate_not_yet_valid");
    expect(at(notBefore).authenticated).toBe(true);
    expect(at(notAfter).authenticated).toBe(true);
    expect(at(notAfter + 1).unauthenticatedReason).toBe("expired_certificate");
    // One parse, four decisions.
    expect(resolver.stats()).toMatchObject({ hits: 3, misses: 1 });
  });

  it("refuses a decision time that is not a number (NaN would pass every comparison)", () => {
    for (const now of [Number.NaN, Number.POSITIVE_INFINITY, "2026" as unknown as number]) {
      expectDenied(resolve({}, { certificate: cert("expired") }, true, now), "identity_error");
    }
  });
});

describe("XFCC", () => {
  const GATEWAY = "spiffe://prod.example.com/ns/edge/sa/gateway";
  const GATEWAY_2 = "spiffe://prod.example.com/ns/edge/sa/gateway-2";
  const ATTACKER = "spiffe://prod.example.com/ns/sandbox/sa/attacker";
  const ADMIN = "spiffe://prod.example.com/ns/admin/sa/admin";
  const config: IdentityConfig = { sources: ["xfcc", "principal"], xfcc: { trustedProxies: [GATEWAY, GATEWAY_2] } };
  /** `principal` null: no principal at all. */
  const xfcc = (header: string, principal: string | null = GATEWAY, needCertificate = false, cfg = config): Identity =>
    resolve(cfg, { xfcc: header, ...(principal === null ? {} : { principal }) }, needCertificate);

  it("uses the element the trusted peer appended", () => {
    expect(xfcc(`By=${GATEWAY};Hash=abc;URI=${PROD_WEB}`)).toEqual({
      authenticated: true,
      spiffeId: PROD_WEB,
      trustDomain: "prod.example.com",
      path: "/ns/web/sa/frontend",
      source: "xfcc",
    });
  });

  it("ignores elements to the left: the client may have forged them", () => {
    expect(xfcc(`By=${GATEWAY};URI=${ADMIN},By=${GATEWAY};URI=${PROD_WEB}`)).toMatchObject({ authenticated: true, spiffeId: PROD_WEB });
  });

  it("refuses a last element by an untrusted proxy, even with a trusted one before it", () => {
    expectDenied(xfcc(`By=${GATEWAY};URI=${PROD_WEB},By=${ATTACKER};URI=${ADMIN}`), "untrusted_xfcc");
  });

  it("refuses a forged element sent straight to Envoy by a workload", () => {
    expectDenied(xfcc(`By=${GATEWAY};URI=${ADMIN}`, ATTACKER), "untrusted_xfcc");
  });

  it("refuses a forged element that lists a trusted proxy next to the sender", () => {
    expectDenied(xfcc(`By=${ATTACKER};By=${GATEWAY};URI=${ADMIN}`, ATTACKER), "untrusted_xfcc");
  });

  it("refuses an element appended by another trusted proxy than the peer", () => {
    expectDenied(xfcc(`By=${GATEWAY_2};URI=${ADMIN}`, GATEWAY), "untrusted_xfcc");
  });

  it("refuses an element without `By`", () => {
    expectDenied(xfcc(`URI=${ADMIN}`), "untrusted_xfcc");
  });

  it("needs a peer principal unless told otherwise", () => {
    expectDenied(xfcc(`By=${GATEWAY};URI=${PROD_WEB}`, null), "untrusted_xfcc");
    const relaxed: IdentityConfig = { sources: ["xfcc"], xfcc: { trustedProxies: [GATEWAY], requirePeerPrincipal: false } };
    expect(xfcc(`By=${GATEWAY};URI=${PROD_WEB}`, null, false, relaxed)).toMatchObject({ authenticated: true, spiffeId: PROD_WEB });
    expectDenied(xfcc(`By=${ATTACKER};URI=${PROD_WEB}`, null, false, relaxed), "untrusted_xfcc");
  });

  describe("a trusted proxy is a hop, not a caller", () => {
    // Envoy with SANITIZE_SET / APPEND_FORWARD adds no element when its client had no certificate.
    it.each([
      ["no header", {}],
      ["an empty header", { xfcc: "" }],
    ])("with %s from the trusted peer, the caller is unauthenticated (xfcc_missing), not the proxy", (_name, extra) => {
      const identity = resolve(config, { principal: GATEWAY, ...extra }, false);
      expectDenied(identity, "xfcc_missing");
      expect(identity.detail).toContain(GATEWAY);
      expectDenied(resolve(config, { principal: GATEWAY_2, ...extra }, true), "xfcc_missing");
    });

    it("does not fall through to the proxy's certificate either", () => {
      const proxyCert = encodeURIComponent(pem("prod-checkout"));
      const cfg: IdentityConfig = { sources: ["xfcc", "certificate"], xfcc: { trustedProxies: [PROD_CHECKOUT] } };
      expectDenied(resolve(cfg, { certificate: { text: proxyCert, encoding: "url" } }, false), "xfcc_missing");
      const both: IdentityConfig = { sources: ["xfcc", "principal", "certificate"], xfcc: { trustedProxies: [PROD_CHECKOUT] } };
      expectDenied(resolve(both, { principal: PROD_CHECKOUT, certificate: { text: proxyCert, encoding: "url" } }, true), "xfcc_missing");
    });

    it("is not the caller when a peer source is listed before xfcc", () => {
      const cfg: IdentityConfig = { sources: ["principal", "xfcc"], xfcc: { trustedProxies: [GATEWAY] } };
      expectDenied(resolve(cfg, { principal: GATEWAY }, false), "xfcc_missing");
      expectDenied(resolve(cfg, { principal: GATEWAY, xfcc: `By=${GATEWAY};URI=${PROD_WEB}` }, false), "xfcc_missing");
    });

    it("is the caller as itself only with xfcc.proxyMayCallAsItself", () => {
      const optIn: IdentityConfig = { ...config, xfcc: { trustedProxies: [GATEWAY], proxyMayCallAsItself: true } };
      expect(resolve(optIn, { principal: GATEWAY }, false)).toMatchObject({ authenticated: true, spiffeId: GATEWAY, source: "principal" });
      expect(resolve(optIn, { principal: GATEWAY, xfcc: "" }, false)).toMatchObject({ authenticated: true, spiffeId: GATEWAY });
      // Its elements still name the client when present.
      expect(resolve(optIn, { principal: GATEWAY, xfcc: `By=${GATEWAY};URI=${PROD_WEB}` }, false)).toMatchObject({ spiffeId: PROD_WEB, source: "xfcc" });
    });

    it("changes nothing for proxies when xfcc is not a source", () => {
      expect(resolve({ xfcc: { trustedProxies: [GATEWAY] } }, { principal: GATEWAY }, false)).toMatchObject({ authenticated: true, spiffeId: GATEWAY });
    });
  });

  it("falls back to the principal only when there is no header", () => {
    expect(resolve(config, { principal: PROD_CHECKOUT }, false)).toMatchObject({ authenticated: true, source: "principal", spiffeId: PROD_CHECKOUT });
    // A header that is present but untrusted never falls back.
    expectDenied(resolve(config, { principal: ATTACKER, xfcc: `By=${ATTACKER};URI=${ADMIN}` }, false), "untrusted_xfcc");
  });

  it("is off unless configured: the header is ignored", () => {
    expect(resolve({}, { principal: PROD_CHECKOUT, xfcc: `By=${GATEWAY};URI=${ADMIN}` }, false)).toMatchObject({ authenticated: true, spiffeId: PROD_CHECKOUT });
  });

  it("reads the certificate from `Cert` and cross-checks `URI` and `Hash`", () => {
    const encoded = encodeURIComponent(pem("prod-checkout"));
    const hash = oracle("prod-checkout").fingerprint256.replace(/:/g, "");
    const good = xfcc(`By=${GATEWAY};Hash=${hash};Cert="${encoded}";URI=${PROD_CHECKOUT}`, GATEWAY, true);
    expect(good).toMatchObject({ authenticated: true, spiffeId: PROD_CHECKOUT, source: "xfcc" });
    expect(good.certificate?.san.uri).toEqual([PROD_CHECKOUT]);
    expectDenied(xfcc(`By=${GATEWAY};Cert="${encoded}";URI=${ADMIN}`, GATEWAY, true), "identity_mismatch");
    expectDenied(xfcc(`By=${GATEWAY};Hash=${"0".repeat(64)};Cert="${encoded}";URI=${PROD_CHECKOUT}`, GATEWAY, true), "identity_mismatch");
  });

  it("parses `Cert` when it is the only identity in the element", () => {
    const encoded = encodeURIComponent(pem("prod-checkout"));
    expect(xfcc(`By=${GATEWAY};Cert="${encoded}";URI=`)).toMatchObject({ authenticated: true, spiffeId: PROD_CHECKOUT, certificate: expect.any(Object) });
    expectDenied(xfcc(`By=${GATEWAY};Cert="${encodeURIComponent(pem("two-uri-sans"))}"`), "multiple_uri_sans");
  });

  it("reads the leaf from `Chain`, and requires `Chain` to start with `Cert`", () => {
    const chain = encodeURIComponent(pem("prod-checkout") + pem("prod-intermediate-ca"));
    expect(xfcc(`By=${GATEWAY};Chain="${chain}"`, GATEWAY, true)).toMatchObject({ authenticated: true, spiffeId: PROD_CHECKOUT });
    const cert = encodeURIComponent(pem("prod-web"));
    expectDenied(xfcc(`By=${GATEWAY};Cert="${cert}";Chain="${chain}"`, GATEWAY, true), "identity_mismatch");
    const matching = encodeURIComponent(pem("prod-web") + pem("prod-root-ca"));
    expect(xfcc(`By=${GATEWAY};Cert="${cert}";Chain="${matching}"`, GATEWAY, true)).toMatchObject({ authenticated: true, spiffeId: PROD_WEB });
  });

  it("with certificateChecks when-needed, decodes `Cert`/`Chain` only when it parses them", () => {
    const header = `By=${GATEWAY};URI=${PROD_WEB};Chain="%zz"`;
    const whenNeeded: IdentityConfig = { ...config, certificateChecks: "when-needed" };
    expect(xfcc(header, GATEWAY, false, whenNeeded)).toMatchObject({ authenticated: true, spiffeId: PROD_WEB });
    expectDenied(xfcc(header, GATEWAY, true, whenNeeded), "malformed_certificate");
    // The default checks it whatever the policies read.
    expectDenied(xfcc(header, GATEWAY, false), "malformed_certificate");
  });

  it("checks `Cert` validity, `URI` and `Hash` by default even when cert.* is unused", () => {
    const expired = encodeURIComponent(pem("expired"));
    expectDenied(xfcc(`By=${GATEWAY};Cert="${expired}";URI=${PROD_CHECKOUT}`, GATEWAY, false), "expired_certificate");
    const encoded = encodeURIComponent(pem("prod-checkout"));
    expectDenied(xfcc(`By=${GATEWAY};Cert="${encoded}";URI=${ADMIN}`, GATEWAY, false), "identity_mismatch");
    expectDenied(xfcc(`By=${GATEWAY};Hash=${"0".repeat(64)};Cert="${encoded}";URI=${PROD_CHECKOUT}`, GATEWAY, false), "identity_mismatch");
    const whenNeeded: IdentityConfig = { ...config, certificateChecks: "when-needed" };
    expect(xfcc(`By=${GATEWAY};Cert="${expired}";URI=${PROD_CHECKOUT}`, GATEWAY, false, whenNeeded)).toMatchObject({ authenticated: true });
  });

  it("verifies `Cert` against the trust bundle", () => {
    const cfg: IdentityConfig = { ...config, trustBundle: pem("bundle") };
    const rogue = encodeURIComponent(pem("rogue-prod-checkout"));
    expectDenied(xfcc(`By=${GATEWAY};Cert="${rogue}";URI=${PROD_CHECKOUT}`, GATEWAY, false, cfg), "untrusted_certificate");
    const good = encodeURIComponent(pem("prod-checkout"));
    expect(xfcc(`By=${GATEWAY};Cert="${good}";URI=${PROD_CHECKOUT}`, GATEWAY, false, cfg)).toMatchObject({ authenticated: true });
  });

  it("can require a certificate in the element", () => {
    const cfg: IdentityConfig = { sources: ["xfcc"], xfcc: { trustedProxies: [GATEWAY], requireCertificate: true } };
    expectDenied(xfcc(`By=${GATEWAY};URI=${PROD_WEB}`, GATEWAY, false, cfg), "untrusted_xfcc");
  });

  it.each([
    [`By=${GATEWAY};URI=`, "not_an_svid"],
    [`By=${GATEWAY}`, "not_an_svid"],
    [`By=${GATEWAY};URI=${PROD_WEB};URI=${ADMIN}`, "multiple_uri_sans"],
    [`By=${GATEWAY};URI=spiffe://prod.example.com/ns/../admin`, "invalid_spiffe_id"],
    [`By=${GATEWAY};URI=spiffe://prod.example.com`, "not_an_svid"],
    [`By=${GATEWAY};URI=spiffe://prod.example.com/ns/\uFFFD`, "invalid_spiffe_id"],
    [`By=${GATEWAY};Cert="-----BEGIN%20CERTIFICATE-----%0A%zz"`, "malformed_certificate"],
    [`By=${GATEWAY};Cert="%E0%A4%A"`, "malformed_certificate"],
    [`By=${GATEWAY};Chain="%ED%A0%80"`, "malformed_certificate"],
    [`By=${GATEWAY};URI="${PROD_WEB}`, "invalid_xfcc"],
    [`By=${GATEWAY},`, "invalid_xfcc"],
    [`By=${GATEWAY};Cert="a";Cert="b"`, "invalid_xfcc"],
  ])("%s → %s", (header, reason) => {
    expectDenied(xfcc(header), reason);
  });

  it("refuses a megabyte header before parsing it", () => {
    const identity = xfcc(`By=${GATEWAY};URI=${PROD_WEB};Subject="${"x".repeat(1024 * 1024)}"`);
    expectDenied(identity, "invalid_xfcc");
    expect(identity.detail).toBe("the XFCC header is over the limit of 65536 bytes");
  });

  it("counts bytes, not characters, against the limit", () => {
    const cfg: IdentityConfig = { ...config, xfcc: { trustedProxies: [GATEWAY], maxHeaderBytes: 200 } };
    const header = `By=${GATEWAY};URI=${PROD_WEB};Subject="${"é".repeat(60)}"`;
    expect(header.length).toBeLessThan(200);
    expectDenied(xfcc(header, GATEWAY, false, cfg), "invalid_xfcc");
  });

  it("refuses thousands of elements", () => {
    const header = Array.from({ length: 5000 }, () => `By=${GATEWAY};URI=${PROD_WEB}`).join(",");
    const cfg: IdentityConfig = { ...config, xfcc: { trustedProxies: [GATEWAY], maxHeaderBytes: 1 << 20 } };
    const identity = xfcc(header, GATEWAY, false, cfg);
    expectDenied(identity, "invalid_xfcc");
    expect(identity.detail).toMatch(/more than 16 elements/);
  });
});

describe("bad certificate input", () => {
  const good = pem("prod-checkout");
  const body = good.split("\n").slice(1, -2).join("");
  const cases: [string, IdentityEvidence["certificate"]][] = [
    ["truncated PEM", { text: good.slice(0, good.length / 2), encoding: "pem" }],
    ["PEM without the end line", { text: good.replace("-----END CERTIFICATE-----", ""), encoding: "pem" }],
    ["garbage", { text: "hello world", encoding: "pem" }],
    ["empty text", { text: "", encoding: "pem" }],
    ["bad base64 character", { text: good.replace(body.slice(10, 11), "*"), encoding: "pem" }],
    ["base64 of garbage", { text: `-----BEGIN CERTIFICATE-----\n${Buffer.from("not a certificate at all").toString("base64")}\n-----END CERTIFICATE-----\n`, encoding: "pem" }],
    ["DER with a trailing byte", { text: `-----BEGIN CERTIFICATE-----\n${Buffer.concat([Buffer.from(body, "base64"), Buffer.from([0])]).toString("base64")}\n-----END CERTIFICATE-----\n`, encoding: "pem" }],
    ["two certificates", { text: good + pem("prod-web"), encoding: "pem" }],
    ["bad URL-encoding (`%zz`)", { text: encodeURIComponent(good).replace("%0A", "%zz"), encoding: "url" }],
    ["bad URL-encoding (cut escape)", { text: encodeURIComponent(good).slice(0, -2), encoding: "url" }],
    ["URL-encoded invalid UTF-8", { text: "%C3%28", encoding: "url" }],
    ["non-UTF-8 bytes decoded by the front end", { text: Buffer.from([0x2d, 0xff, 0xfe, 0x80]).toString("utf8").repeat(100), encoding: "pem" }],
    ["lone surrogates", { text: `-----BEGIN CERTIFICATE-----\n\uD800\uDC00\uD800\n-----END CERTIFICATE-----`, encoding: "pem" }],
    ["a megabyte of PEM", { text: `-----BEGIN CERTIFICATE-----\n${"A".repeat(1 << 20)}\n-----END CERTIFICATE-----\n`, encoding: "pem" }],
    ["an unknown encoding", { text: good, encoding: "der" as "pem" }],
    ["not an object", "text" as unknown as IdentityEvidence["certificate"]],
  ];

  it.each(cases)("%s → malformed_certificate", (_name, certificate) => {
    expectDenied(resolve({}, { certificate }, true), "malformed_certificate");
  });

  it("accepts CRLF line endings and text around the block (RFC 7468)", () => {
    const crlf = good.replace(/\n/g, "\r\n");
    expect(resolve({}, { certificate: { text: crlf, encoding: "pem" } }, true)).toMatchObject({ authenticated: true });
    expect(resolve({}, { certificate: { text: `subject=CN = checkout\n${good}trailing words\n`, encoding: "pem" } }, true)).toMatchObject({ authenticated: true });
  });

  it("does not cache what is over the size limit", () => {
    const resolver = createIdentityResolver();
    resolver.resolve({ certificate: cases[13]![1] }, { needCertificate: true, now: NOW });
    expect(resolver.stats()).toEqual({ hits: 0, misses: 0, entries: 0, bytes: 0 });
  });

  it("never throws, whatever the evidence", () => {
    const resolver = createIdentityResolver({ sources: ["xfcc", "principal", "certificate"], xfcc: { trustedProxies: ["spiffe://a/gw"] }, trustBundle: pem("bundle") });
    const weird: unknown[] = [
      undefined,
      null,
      {},
      { principal: 42 },
      { principal: null, certificate: null, xfcc: null },
      { certificate: { text: 42, encoding: "pem" } },
      { certificate: {} },
      { xfcc: 42 },
      { xfcc: ["By=a"] },
      // A header that is not text must not fall back to the (proxy's) principal.
      { principal: "spiffe://a/gw", xfcc: { toString: () => "By=spiffe://a/gw;URI=spiffe://a/x" } },
      { principal: "spiffe://a/gw", xfcc: ["By=spiffe://a/gw;URI=spiffe://a/x"] },
    ];
    for (const evidence of weird) {
      const identity = resolver.resolve(evidence as IdentityEvidence, { needCertificate: true, now: NOW });
      expect(identity.authenticated, JSON.stringify(evidence)).toBe(false);
      expect(KNOWN_REASONS.has(identity.unauthenticatedReason ?? "")).toBe(true);
    }
    fc.assert(
      fc.property(
        fc.record({
          principal: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
          xfcc: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
          certificate: fc.option(fc.record({ text: fc.string({ maxLength: 200 }), encoding: fc.constantFrom("pem" as const, "url" as const) }), { nil: undefined }),
        }),
        fc.boolean(),
        (evidence, needCertificate) => {
          const identity = resolver.resolve(evidence, { needCertificate, now: NOW });
          if (!identity.authenticated) expect(KNOWN_REASONS.has(identity.unauthenticatedReason ?? "")).toBe(true);
        },
      ),
    );
  });
});

describe("certificate cache", () => {
  const url = (name: string) => ({ certificate: cert(name, "url") });
  const at = { needCertificate: true, now: NOW };

  it("parses once and then looks up", () => {
    const resolver = createIdentityResolver();
    expect(resolver.stats()).toEqual({ hits: 0, misses: 0, entries: 0, bytes: 0 });
    const first = resolver.resolve(url("prod-checkout"), at);
    const second = resolver.resolve(url("prod-checkout"), at);
    expect(second).toEqual(first);
    // The same frozen attributes object, not a re-parse.
    expect(second.certificate).toBe(first.certificate);
    const stats = resolver.stats();
    expect(stats).toMatchObject({ hits: 1, misses: 1, entries: 1 });
    expect(stats.bytes).toBeGreaterThan(encodeURIComponent(pem("prod-checkout")).length);
  });

  it("keys by text and encoding", () => {
    const resolver = createIdentityResolver();
    resolver.resolve(url("prod-checkout"), at);
    resolver.resolve({ certificate: cert("prod-checkout", "pem") }, at);
    expect(resolver.stats()).toMatchObject({ hits: 0, misses: 2, entries: 2 });
    // URL-encoded PEM read as plain PEM is not a certificate, even right after it parsed as `url`.
    const text = encodeURIComponent(pem("prod-web"));
    expect(resolver.resolve({ certificate: { text, encoding: "url" } }, at).authenticated).toBe(true);
    expectDenied(resolver.resolve({ certificate: { text, encoding: "pem" } }, at), "malformed_certificate");
    expect(resolver.resolve({ certificate: { text, encoding: "url" } }, at).authenticated).toBe(true);
    expect(resolver.stats()).toMatchObject({ hits: 0, misses: 5, entries: 3 });
  });

  it("caches failures, so garbage costs a lookup", () => {
    const resolver = createIdentityResolver();
    const garbage = { certificate: { text: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", encoding: "pem" as const } };
    expectDenied(resolver.resolve(garbage, at), "malformed_certificate");
    expectDenied(resolver.resolve(garbage, at), "malformed_certificate");
    expect(resolver.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  });

  it("caches SVID verdicts too (a CA used as a leaf is refused from the cache)", () => {
    const resolver = createIdentityResolver();
    expectDenied(resolver.resolve(url("ca-as-leaf"), at), "not_an_svid");
    expectDenied(resolver.resolve(url("ca-as-leaf"), at), "not_an_svid");
    expect(resolver.stats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it("bounds the number of entries", () => {
    const resolver = createIdentityResolver({ cache: { maxEntries: 2 } });
    for (const name of ["prod-checkout", "prod-web", "staging-checkout"]) resolver.resolve(url(name), at);
    expect(resolver.stats().entries).toBe(2);
    // The least recently used was evicted: asking again is a miss.
    resolver.resolve(url("prod-checkout"), at);
    expect(resolver.stats()).toMatchObject({ hits: 0, misses: 4 });
  });

  it("bounds the bytes, evicting the least recently used", () => {
    const probe = createIdentityResolver();
    probe.resolve(url("prod-checkout"), at);
    const one = probe.stats().bytes;
    const resolver = createIdentityResolver({ cache: { maxBytes: Math.floor(one * 2.5) } });
    for (const name of ["prod-checkout", "prod-web", "subject-attrs", "custom-extension"]) resolver.resolve(url(name), at);
    const stats = resolver.stats();
    expect(stats.bytes).toBeLessThanOrEqual(Math.floor(one * 2.5));
    expect(stats.entries).toBeLessThan(4);
    resolver.resolve(url("prod-checkout"), at);
    expect(resolver.stats().misses).toBe(5);
  });

  it("bounds failed entries separately", () => {
    const resolver = createIdentityResolver({ cache: { maxFailedEntries: 3 } });
    for (let i = 0; i < 10; i++) resolver.resolve({ certificate: { text: `garbage ${i}`, encoding: "pem" } }, at);
    expect(resolver.stats()).toMatchObject({ entries: 3, misses: 10 });
  });

  it("never caches validity: the same entry is valid now and expired later", () => {
    const resolver = createIdentityResolver();
    expect(resolver.resolve(url("prod-checkout"), at).authenticated).toBe(true);
    expectDenied(resolver.resolve(url("prod-checkout"), { needCertificate: true, now: Date.UTC(2200, 0, 1) }), "expired_certificate");
    expect(resolver.stats()).toMatchObject({ hits: 1, misses: 1 });
  });
});

describe("configuration", () => {
  it.each([
    [{ sources: [] }, "identity_sources_invalid"],
    [{ sources: ["principal", "principal"] }, "identity_sources_invalid"],
    [{ sources: ["header"] }, "identity_sources_invalid"],
    [{ sources: ["xfcc"] }, "xfcc_not_configured"],
    [{ sources: ["xfcc"], xfcc: { trustedProxies: [] } }, "xfcc_not_configured"],
    [{ sources: ["xfcc"], xfcc: { trustedProxies: ["http://frontend.lyft.com"] } }, "xfcc_trusted_proxy_invalid"],
    [{ sources: ["xfcc"], xfcc: { trustedProxies: ["spiffe://a/gw"], maxElements: 0 } }, "identity_limit_invalid"],
    [{ maxCertificateBytes: -1 }, "identity_limit_invalid"],
    [{ cache: { maxBytes: 1.5 } }, "identity_limit_invalid"],
    [{ certificateChecks: "sometimes" }, "certificate_checks_invalid"],
    [{ sources: ["xfcc"], xfcc: { trustedProxies: ["spiffe://a/gw"], proxyMayCallAsItself: "yes" } }, "xfcc_option_invalid"],
  ])("%j → %s", (config, code) => {
    expect(checkIdentityConfig(config as IdentityConfig).map((d) => d.code)).toContain(code);
    const identity = resolve(config as IdentityConfig, { principal: PROD_CHECKOUT });
    expectDenied(identity, "identity_config_invalid");
  });

  it("warns when XFCC is configured but not a source", () => {
    const diagnostics = checkIdentityConfig({ xfcc: { trustedProxies: ["spiffe://a/gw"] } });
    expect(diagnostics).toEqual([expect.objectContaining({ code: "xfcc_unused", severity: "warning" })]);
    expect(resolve({ xfcc: { trustedProxies: ["spiffe://a/gw"] } }, { principal: PROD_CHECKOUT }).authenticated).toBe(true);
  });

  it("accepts the defaults", () => {
    expect(checkIdentityConfig({})).toEqual([]);
  });
});
