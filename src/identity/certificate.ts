/**
 * One X.509 certificate (DER) → the `cert.*` attributes and the facts the
 * X509-SVID rules and chain verification need. @peculiar/x509 parses the
 * certificate (structure, names, serial, validity, the extension list); the
 * three extensions Ward interprets (basicConstraints, keyUsage,
 * subjectAltName) and custom extension values are decoded by the strict DER
 * readers in der.ts; the SHA-256 fingerprint uses node:crypto's synchronous
 * hash (pure computation, no I/O). The result is deeply frozen: it is cached
 * and shared by every request that presents the same certificate.
 */
import "reflect-metadata";
import { createHash } from "node:crypto";
import { X509Certificate } from "@peculiar/x509";
import type { CertificateAttributes } from "../engine/input.js";
import { decodeAlternativeNames, decodeBasicConstraints, decodeExtensionValue, decodeKeyUsage } from "./der.js";

/** OIDs Ward reads itself (RFC 5280 §4.2.1). */
export const OID_KEY_USAGE = "2.5.29.15";
export const OID_SUBJECT_ALT_NAME = "2.5.29.17";
export const OID_BASIC_CONSTRAINTS = "2.5.29.19";

/** A parsed certificate: attributes for policies plus the facts identity checks read. */
export interface ParsedCertificate {
  readonly attributes: CertificateAttributes;
  /** The DER encoding (chain verification re-reads it with node:crypto). */
  readonly der: Uint8Array;
  /** basicConstraints cA. */
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, when set. */
  readonly pathLength?: number;
  /** True when a keyUsage extension is present. */
  readonly hasKeyUsage: boolean;
  readonly keyCertSign: boolean;
  readonly crlSign: boolean;
  /** Dotted OIDs of the extensions marked critical. */
  readonly criticalExtensions: readonly string[];
  /** A rough count of the bytes this object keeps alive, for the cache's byte bound. */
  readonly retainedBytes: number;
}

/** The result of parsing: a certificate, or why it is not one (`detail` is lower-case, for the audit record). */
export type CertificateParseResult =
  | { readonly ok: true; readonly certificate: ParsedCertificate }
  | { readonly ok: false; readonly detail: string };

/** One extension as the certificate carries it. */
interface RawExtension {
  readonly id: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/**
 * The library's certificate, with its already-parsed extensions exposed:
 * `X509Certificate#extensions` re-serializes and re-parses every extension
 * twice (most of a first parse's cost), while the ASN.1 it parsed holds them.
 */
class CertificateView extends X509Certificate {
  get rawExtensions(): readonly RawExtension[] {
    return (this.asn.tbsCertificate.extensions ?? []).map((e) => ({ id: e.extnID, critical: e.critical, value: new Uint8Array(e.extnValue.buffer) }));
  }
}

// asn1js resource limits for untrusted input: a certificate is shallow and small.
const PARSE_LIMITS = { maxDepth: 24, maxNodes: 4096 } as const;

function deepFreeze<T>(value: T): T {
  // Typed arrays cannot be frozen; the DER is never handed out to policies.
  if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

function first(values: readonly string[]): string | undefined {
  return values.length > 0 ? values[0] : undefined;
}

function textBytes(values: readonly string[]): number {
  let n = 0;
  for (const v of values) n += v.length + 16;
  return n;
}

/**
 * Parses one certificate's DER. Never throws: anything the parser rejects, and
 * any extension that appears twice (RFC 5280 §4.2: "a certificate MUST NOT
 * include more than one instance of a particular extension"; two SAN
 * extensions could hide a second URI SAN), is a failure with a reason.
 */
export function parseCertificate(der: Uint8Array): CertificateParseResult {
  let cert: CertificateView;
  try {
    cert = new CertificateView(der, {
      berOptions: { ...PARSE_LIMITS, maxContentLength: der.length },
    });
  } catch (err) {
    return { ok: false, detail: `the certificate cannot be parsed: ${describe(err)}` };
  }
  try {
    return { ok: true, certificate: extract(cert, der) };
  } catch (err) {
    return { ok: false, detail: `the certificate cannot be read: ${describe(err)}` };
  }
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 160 ? `${message.slice(0, 160)}…` : message.toLowerCase();
}

function extract(cert: CertificateView, der: Uint8Array): ParsedCertificate {
  const extensions: Record<string, string> = Object.create(null) as Record<string, string>;
  const criticalExtensions: string[] = [];
  let isCa = false;
  let pathLength: number | undefined;
  let hasKeyUsage = false;
  let keyCertSign = false;
  let crlSign = false;
  let dns: string[] = [];
  let uri: string[] = [];
  let email: string[] = [];

  for (const ext of cert.rawExtensions) {
    if (ext.id in extensions) throw new Error(`the extension \`${ext.id}\` appears more than once`);
    if (ext.critical) criticalExtensions.push(ext.id);
    extensions[ext.id] = decodeExtensionValue(ext.value);
    if (ext.id === OID_BASIC_CONSTRAINTS) {
      const bc = decodeBasicConstraints(ext.value);
      if (!bc) throw new Error("the basicConstraints extension is malformed");
      isCa = bc.ca;
      pathLength = bc.pathLength;
    } else if (ext.id === OID_KEY_USAGE) {
      const ku = decodeKeyUsage(ext.value);
      if (!ku) throw new Error("the keyUsage extension is malformed");
      hasKeyUsage = true;
      keyCertSign = ku.keyCertSign;
      crlSign = ku.crlSign;
    } else if (ext.id === OID_SUBJECT_ALT_NAME) {
      const names = decodeAlternativeNames(ext.value);
      if (!names) throw new Error("the subjectAltName extension is malformed");
      ({ dns, uri, email } = names);
    }
  }

  const subject = cert.subjectName;
  const issuer = cert.issuerName;
  const subjectCn = subject.getField("CN");
  const subjectO = subject.getField("O");
  const subjectOu = subject.getField("OU");
  const issuerCn = issuer.getField("CN");
  const issuerO = issuer.getField("O");
  const notBefore = cert.notBefore.getTime();
  const notAfter = cert.notAfter.getTime();
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) throw new Error("the validity dates are invalid");

  const subjectCommonName = first(subjectCn);
  const issuerCommonName = first(issuerCn);
  const attributes: CertificateAttributes = {
    subject: {
      ...(subjectCommonName === undefined ? {} : { commonName: subjectCommonName }),
      organization: subjectO,
      organizationalUnit: subjectOu,
    },
    issuer: {
      ...(issuerCommonName === undefined ? {} : { commonName: issuerCommonName }),
      organization: issuerO,
    },
    san: { dns, uri, email },
    serial: cert.serialNumber.toLowerCase(),
    fingerprint: createHash("sha256").update(der).digest("hex"),
    notBefore,
    notAfter,
    extensions,
  };
  let extensionBytes = 0;
  for (const key of Object.keys(extensions)) extensionBytes += key.length + (extensions[key] as string).length + 32;
  const retainedBytes =
    der.length +
    512 +
    extensionBytes +
    textBytes(subjectCn) +
    textBytes(subjectO) +
    textBytes(subjectOu) +
    textBytes(issuerCn) +
    textBytes(issuerO) +
    textBytes(dns) +
    textBytes(uri) +
    textBytes(email);

  return deepFreeze({
    attributes,
    der,
    isCa,
    ...(pathLength === undefined ? {} : { pathLength }),
    hasKeyUsage,
    keyCertSign,
    crlSign,
    criticalExtensions,
    retainedBytes,
  });
}
