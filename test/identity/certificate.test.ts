// Certificate → cert.* attributes, for every fixture, checked two ways:
// against what make-certs.sh put there, and against node:crypto's
// independent (OpenSSL) parse of the same file.
import "reflect-metadata";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  BasicConstraintsExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseCertificateText } from "../../src/identity/certificate-cache.js";
import { oracle, pem, PROD_PAYMENTS_API } from "./fixtures.js";

const BUNDLES = new Set(["bundle", "prod-bundle", "prod-root-only-bundle"]);
const FIXTURES = readdirSync(fileURLToPath(new URL("../fixtures/certs/", import.meta.url)))
  .filter((f) => f.endsWith(".pem"))
  .map((f) => f.slice(0, -4))
  .filter((f) => !BUNDLES.has(f));

function parsed(name: string) {
  const result = parseCertificateText({ text: pem(name), encoding: "pem" });
  if (!result.ok) throw new Error(`${name}: ${result.detail}`);
  return result.certificate;
}

/** node:crypto's multi-line DN text → values of one attribute. */
function dnField(text: string, key: string): string[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

function sans(text: string | undefined, kind: string): string[] {
  if (!text) return [];
  return text
    .split(", ")
    .filter((s) => s.startsWith(`${kind}:`))
    .map((s) => s.slice(kind.length + 1));
}

describe("certificate attributes of every fixture", () => {
  it("covers the fixtures", () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(FIXTURES)("%s: basicConstraints, keyUsage and SANs agree with @peculiar/x509's own decoders", (name) => {
    const mine = parsed(name);
    const theirs = new X509Certificate(pem(name));
    const bc = theirs.getExtension(BasicConstraintsExtension);
    expect(mine.isCa).toBe(bc?.ca ?? false);
    expect(mine.pathLength).toBe(bc?.pathLength);
    const ku = theirs.getExtension(KeyUsagesExtension);
    expect(mine.hasKeyUsage).toBe(ku !== null);
    expect(mine.keyCertSign).toBe(((ku?.usages ?? 0) & KeyUsageFlags.keyCertSign) !== 0);
    expect(mine.crlSign).toBe(((ku?.usages ?? 0) & KeyUsageFlags.cRLSign) !== 0);
    const names = theirs.getExtension(SubjectAlternativeNameExtension)?.names.items ?? [];
    const of = (type: string): string[] => names.filter((n) => n.type === type).map((n) => n.value);
    expect(mine.attributes.san).toEqual({ dns: of("dns"), uri: of("url"), email: of("email") });
    expect(Object.keys(mine.attributes.extensions)).toEqual(theirs.extensions.map((e) => e.type));
    expect(mine.criticalExtensions).toEqual(theirs.extensions.filter((e) => e.critical).map((e) => e.type));
  });

  it.each(FIXTURES)("%s agrees with node:crypto", (name) => {
    const a = parsed(name).attributes;
    const o = oracle(name);
    expect(a.fingerprint).toBe(o.fingerprint256.replace(/:/g, "").toLowerCase());
    expect(a.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(a.serial).toBe(o.serialNumber.toLowerCase());
    expect(a.notBefore).toBe(Date.parse(o.validFrom));
    expect(a.notAfter).toBe(Date.parse(o.validTo));
    expect(a.subject.commonName).toBe(dnField(o.subject, "CN")[0]);
    expect(a.subject.organization).toEqual(dnField(o.subject, "O"));
    expect(a.subject.organizationalUnit).toEqual(dnField(o.subject, "OU"));
    expect(a.issuer.commonName).toBe(dnField(o.issuer, "CN")[0]);
    expect(a.issuer.organization).toEqual(dnField(o.issuer, "O"));
    expect(a.san.uri).toEqual(sans(o.subjectAltName, "URI"));
    expect(a.san.dns).toEqual(sans(o.subjectAltName, "DNS"));
    expect(a.san.email).toEqual(sans(o.subjectAltName, "email"));
  });
});

describe("specific fixtures", () => {
  it("reads multi-valued O, OU, CN, DNS and email SANs, and keeps the serial's octets", () => {
    const a = parsed("subject-attrs").attributes;
    expect(a.subject).toEqual({ commonName: "api.prod.example.com", organization: ["Example Corp", "Example Payments"], organizationalUnit: ["Platform"] });
    expect(a.issuer).toEqual({ commonName: "Example Prod Intermediate CA", organization: ["Example"] });
    expect(a.san).toEqual({
      uri: [PROD_PAYMENTS_API],
      dns: ["api.prod.example.com", "api.internal.example.com"],
      email: ["security@example.com"],
    });
    // DER encodes 0x8BADF00D as 00 8B AD F0 0D; the sign octet is not part of the serial.
    expect(a.serial).toBe("8badf00d");
    expect(a.notBefore).toBe(Date.UTC(2025, 0, 1));
    expect(a.notAfter).toBe(Date.UTC(2125, 0, 1));
  });

  it("decodes custom extensions by OID", () => {
    const ext = parsed("custom-extension").attributes.extensions;
    expect(ext["1.3.6.1.4.1.99999.1"]).toBe("pci");
    expect(ext["1.3.6.1.4.1.99999.2"]).toBe("42");
    expect(ext["1.3.6.1.4.1.99999.3"]).toBe("true");
    expect(ext["1.3.6.1.4.1.99999.4"]).toBe("ops@example.com");
    expect(ext["1.3.6.1.4.1.99999.5"]).toBe("Tier 1");
    expect(ext["1.3.6.1.4.1.99999.6"]).toBe("deadbeef");
    expect(ext["1.3.6.1.4.1.99999.7"]).toBe("30060c0161020101");
    expect(ext["1.3.6.1.4.1.99999.8"]).toBe("-129");
    expect(ext["1.3.6.1.4.1.99999.9"]).toBe(BigInt("0x0123456789ABCDEF0123").toString());
    // Standard extensions are there too: keyUsage's BIT STRING as hex, the SKI's octets as hex.
    expect(ext["2.5.29.15"]).toBe("03020780");
    expect(ext["2.5.29.14"]).toMatch(/^[0-9a-f]{40}$/);
    // A prototype name is not an extension.
    expect(ext["constructor"]).toBeUndefined();
    expect(ext["__proto__"]).toBeUndefined();
  });

  it("reads a SAN with an otherName and an IP next to the URI and DNS names", () => {
    const a = parsed("othername-san").attributes;
    expect(a.san).toEqual({ uri: ["spiffe://prod.example.com/ns/checkout/sa/checkout"], dns: ["checkout.prod.example.com"], email: [] });
  });

  it("records CA facts for the chain checks", () => {
    expect(parsed("prod-intermediate-ca")).toMatchObject({ isCa: true, pathLength: 0, keyCertSign: true, crlSign: true, hasKeyUsage: true });
    expect(parsed("prod-checkout")).toMatchObject({ isCa: false, keyCertSign: false, crlSign: false, hasKeyUsage: true });
    expect(parsed("unknown-critical").criticalExtensions).toContain("1.3.6.1.4.1.99999.10");
  });

  it("freezes what it returns, because the cache shares it between requests", () => {
    const cert = parsed("subject-attrs");
    expect(Object.isFrozen(cert.attributes.san.uri)).toBe(true);
    expect(() => {
      (cert.attributes.san.uri as string[]).push("spiffe://evil/x");
    }).toThrow(TypeError);
    expect(() => {
      (cert.attributes.extensions as Record<string, string>)["1.2.3"] = "x";
    }).toThrow(TypeError);
  });
});

// Certificates openssl will not make: built with @peculiar/x509 (WebCrypto) in the test.
describe("certificates built in the test", () => {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

  async function build(extensions: Extension[]): Promise<string> {
    const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const cert = await X509CertificateGenerator.createSelfSigned(
      { serialNumber: "01", name: "CN=test", notBefore: new Date("2025-01-01"), notAfter: new Date("2125-01-01"), keys, signingAlgorithm: alg, extensions },
      webcrypto as unknown as Parameters<typeof X509CertificateGenerator.createSelfSigned>[1],
    );
    return cert.toString("pem");
  }

  it("refuses a certificate with two SAN extensions (one could hide a second URI SAN)", async () => {
    const text = await build([
      new SubjectAlternativeNameExtension([{ type: "url", value: PROD_PAYMENTS_API }]),
      new SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://prod.example.com/ns/admin/sa/admin" }]),
    ]);
    expect(parseCertificateText({ text, encoding: "pem" })).toMatchObject({ ok: false, reason: "malformed_certificate", detail: expect.stringMatching(/appears more than once/) });
  });

  it("refuses a certificate with two basicConstraints extensions", async () => {
    const text = await build([new BasicConstraintsExtension(false), new BasicConstraintsExtension(true), new KeyUsagesExtension(KeyUsageFlags.digitalSignature)]);
    expect(parseCertificateText({ text, encoding: "pem" })).toMatchObject({ ok: false, reason: "malformed_certificate" });
  });

  it("refuses a malformed SAN extension instead of reading no SAN", async () => {
    const text = await build([new Extension("2.5.29.17", false, Uint8Array.from([0x04, 0x01, 0x00]))]);
    expect(parseCertificateText({ text, encoding: "pem" })).toMatchObject({ ok: false, reason: "malformed_certificate" });
  });
});
