// The trust bundle: chains from the leaf alone (Envoy sends only the leaf),
// intermediates in the bundle, trust-domain scoping, CA validity at decision
// time, and the RFC 5280 rules that stop known chain-forgery tricks.
import { describe, expect, it } from "vitest";
import { createIdentityResolver, type IdentityConfig } from "../../src/identity/resolve.js";
import { parseTrustBundle } from "../../src/identity/trust-bundle.js";
import { issue } from "./generate.js";
import { NOW, pem, PROD_CHECKOUT, PROD_WEB, STAGING_CHECKOUT } from "./fixtures.js";

function resolveCert(config: IdentityConfig, text: string, now = NOW) {
  return createIdentityResolver(config).resolve({ certificate: { text, encoding: "pem" } }, { needCertificate: true, now });
}

describe("chains to the bundle", () => {
  const config = { trustBundle: pem("bundle") };

  it.each([
    ["prod-checkout", PROD_CHECKOUT, "leaf → intermediate (in the bundle) → root"],
    ["prod-web", PROD_WEB, "leaf → root"],
    ["staging-checkout", STAGING_CHECKOUT, "RSA leaf → RSA root"],
  ])("trusts %s (%s)", (name, id) => {
    expect(resolveCert(config, pem(name))).toMatchObject({ authenticated: true, spiffeId: id });
  });

  it("refuses a leaf from a CA outside the bundle", () => {
    expect(resolveCert(config, pem("rogue-prod-checkout"))).toEqual({
      authenticated: false,
      unauthenticatedReason: "untrusted_certificate",
      detail: "the certificate does not chain to a CA of the trust bundle",
    });
  });

  it("refuses a leaf whose intermediate is missing from the bundle (only the leaf is sent)", () => {
    expect(resolveCert({ trustBundle: pem("prod-root-only-bundle") }, pem("prod-checkout"))).toMatchObject({ unauthenticatedReason: "untrusted_certificate" });
    expect(resolveCert({ trustBundle: pem("prod-root-only-bundle") }, pem("prod-web"))).toMatchObject({ authenticated: true });
  });

  it("refuses a prod SPIFFE ID signed by the staging CA (trust domain scope)", () => {
    expect(resolveCert(config, pem("staging-signed-prod"))).toEqual({
      authenticated: false,
      unauthenticatedReason: "untrusted_certificate",
      detail: "the certificate chains to the CA `Example Staging Root CA` for trust domain `staging.example.com`, not `prod.example.com`",
    });
  });

  it("checks the CAs' validity at the decision time, not once", () => {
    const resolver = createIdentityResolver(config);
    const evidence = { certificate: { text: pem("short-ca-leaf"), encoding: "pem" as const } };
    expect(resolver.resolve(evidence, { needCertificate: true, now: NOW })).toMatchObject({ authenticated: true });
    expect(resolver.resolve(evidence, { needCertificate: true, now: Date.UTC(2031, 0, 1) })).toMatchObject({
      unauthenticatedReason: "untrusted_certificate",
      detail: expect.stringMatching(/Short-lived Intermediate CA.*not valid at the decision time/),
    });
    expect(resolver.resolve(evidence, { needCertificate: true, now: NOW })).toMatchObject({ authenticated: true });
  });

  it("refuses an unknown critical extension when verifying (RFC 5280 §4.2), and not without a bundle", () => {
    expect(resolveCert(config, pem("unknown-critical"))).toMatchObject({ unauthenticatedReason: "untrusted_certificate", detail: expect.stringMatching(/1\.3\.6\.1\.4\.1\.99999\.10/) });
    expect(resolveCert({}, pem("unknown-critical"))).toMatchObject({ authenticated: true });
  });
});

describe("bundle given per trust domain", () => {
  it("scopes each CA to its key", () => {
    const config = { trustBundle: { "prod.example.com": pem("prod-bundle"), "staging.example.com": pem("staging-root-ca") } };
    expect(resolveCert(config, pem("prod-checkout"))).toMatchObject({ authenticated: true });
    expect(resolveCert(config, pem("staging-checkout"))).toMatchObject({ authenticated: true });
    expect(resolveCert(config, pem("staging-signed-prod"))).toMatchObject({ unauthenticatedReason: "untrusted_certificate" });
  });

  it("scopes a CA without a SPIFFE ID when given under a key, and not otherwise", () => {
    // The rogue root carries no SPIFFE ID: given as plain PEM it may vouch for any trust domain.
    expect(resolveCert({ trustBundle: pem("rogue-root-ca") }, pem("rogue-prod-checkout"))).toMatchObject({ authenticated: true });
    expect(resolveCert({ trustBundle: { "staging.example.com": pem("rogue-root-ca") } }, pem("rogue-prod-checkout"))).toMatchObject({
      unauthenticatedReason: "untrusted_certificate",
    });
  });

  it("refuses a CA filed under another trust domain than its SPIFFE ID", () => {
    const result = parseTrustBundle({ "staging.example.com": pem("prod-root-ca") });
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => d.code)).toEqual(["trust_bundle_trust_domain_conflict"]);
  });
});

describe("parseTrustBundle diagnostics", () => {
  it.each([
    ["", "trust_bundle_malformed"],
    ["garbage", "trust_bundle_malformed"],
    [pem("prod-checkout"), "trust_bundle_not_ca"],
    [pem("prod-root-ca").slice(0, 200), "trust_bundle_malformed"],
  ])("%#: %s", (text, code) => {
    const result = parseTrustBundle(text);
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => d.code)).toContain(code);
  });

  it("refuses an invalid trust domain key", () => {
    expect(parseTrustBundle({ "Prod.Example": pem("prod-root-ca") }).diagnostics.map((d) => d.code)).toEqual(["trust_bundle_invalid_trust_domain"]);
  });

  it("warns about an intermediate that chains to no anchor", () => {
    const result = parseTrustBundle(pem("prod-intermediate-ca"));
    expect(result.ok).toBe(true);
    expect(result.diagnostics).toEqual([expect.objectContaining({ code: "trust_bundle_unanchored", severity: "warning" })]);
  });

  it("makes the resolver fail closed on a bad bundle", () => {
    const resolver = createIdentityResolver({ trustBundle: "not pem" });
    expect(resolver.diagnostics.map((d) => d.code)).toEqual(["trust_bundle_malformed"]);
    expect(resolver.resolve({ principal: PROD_CHECKOUT }, { needCertificate: false, now: NOW })).toMatchObject({
      authenticated: false,
      unauthenticatedReason: "identity_config_invalid",
    });
  });
});

describe("chain forgery", () => {
  it("refuses a leaf that names a bundle CA as issuer but is signed by another key", async () => {
    const impostor = await issue("impostor", { ca: true });
    const forged = await issue("forged", { issuer: impostor, issuerName: "O=Example, CN=Example Prod Intermediate CA", uri: PROD_CHECKOUT });
    expect(resolveCert({ trustBundle: pem("bundle") }, forged.pem)).toMatchObject({
      unauthenticatedReason: "untrusted_certificate",
      detail: "the certificate does not chain to a CA of the trust bundle",
    });
  });

  it("enforces pathLenConstraint (RFC 5280 §4.2.1.9)", async () => {
    const root = await issue("root", { ca: true, uri: "spiffe://gen.example.com" });
    for (const [pathLength, trusted] of [
      [0, false],
      [1, true],
    ] as const) {
      const first = await issue(`first-${pathLength}`, { issuer: root, ca: true, pathLength });
      const second = await issue(`second-${pathLength}`, { issuer: first, ca: true });
      const leaf = await issue(`leaf-${pathLength}`, { issuer: second, uri: "spiffe://gen.example.com/ns/a/sa/b" });
      const result = resolveCert({ trustBundle: root.pem + first.pem + second.pem }, leaf.pem);
      if (trusted) expect(result, `pathLength ${pathLength}`).toMatchObject({ authenticated: true });
      else expect(result, `pathLength ${pathLength}`).toMatchObject({ unauthenticatedReason: "untrusted_certificate", detail: expect.stringMatching(/path length constraint/) });
    }
  });

  it("refuses a chain through a leaf certificate used as a CA", async () => {
    const root = await issue("root2", { ca: true });
    const notCa = await issue("not-a-ca", { issuer: root });
    const leaf = await issue("leaf-under-leaf", { issuer: notCa, uri: "spiffe://gen.example.com/ns/a/sa/b" });
    // A non-CA in the bundle is a configuration error, so the trick cannot even be configured…
    expect(parseTrustBundle(root.pem + notCa.pem).diagnostics.map((d) => d.code)).toContain("trust_bundle_not_ca");
    // …and with only the root, the leaf does not chain.
    expect(resolveCert({ trustBundle: root.pem }, leaf.pem)).toMatchObject({ unauthenticatedReason: "untrusted_certificate" });
  });
});
