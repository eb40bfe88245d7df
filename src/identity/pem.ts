/**
 * Certificate text → DER bytes: URL-decoding (Envoy sends the peer
 * certificate and XFCC `Cert`/`Chain` as URL-encoded PEM) and strict PEM
 * (RFC 7468 §2: text outside the encapsulation boundaries is ignored, the
 * base64 inside must be exact). Pure and bounded: every step is linear in a
 * text whose length the caller has already capped.
 */
import { Buffer } from "node:buffer";
import { readTlv } from "./der.js";

const BEGIN = "-----BEGIN CERTIFICATE-----";
const END = "-----END CERTIFICATE-----";

/** One certificate block: its DER and the exact PEM text it came from. */
export interface PemCertificate {
  readonly der: Uint8Array;
  readonly pem: string;
}

/** The result of decoding certificate text: the blocks, or why not (lower-case, for the audit `detail`). */
export type PemDecodeResult =
  | { readonly ok: true; readonly certificates: readonly PemCertificate[] }
  | { readonly ok: false; readonly detail: string };

/**
 * URL-decodes (RFC 3986 percent-decoding, as Envoy encodes PEM). A malformed
 * escape or one that is not UTF-8 is an error, never passed through.
 */
export function urlDecode(text: string): { ok: true; value: string } | { ok: false; detail: string } {
  if (text.indexOf("%") === -1) return { ok: true, value: text };
  try {
    return { ok: true, value: decodeURIComponent(text) };
  } catch {
    return { ok: false, detail: "the certificate is not valid URL-encoded text" };
  }
}

function isBase64Char(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
}

function isPemSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Strict base64 (RFC 4648 §4, padding required, whitespace between characters allowed). */
function decodeBase64(body: string): Uint8Array | undefined {
  let clean = "";
  let padding = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (isPemSpace(c)) continue;
    if (c === 61) {
      padding++;
      if (padding > 2) return undefined;
      clean += "=";
      continue;
    }
    // Data after padding, or a character outside the alphabet.
    if (padding > 0 || !isBase64Char(c)) return undefined;
    clean += body[i];
  }
  if (clean.length === 0 || clean.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(clean, "base64");
  // Buffer ignores non-canonical trailing bits; re-encoding catches them.
  if (bytes.toString("base64") !== clean) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Extracts up to `maxCertificates` CERTIFICATE blocks from PEM text. Each
 * block's DER must be exactly one SEQUENCE with nothing after it. More blocks
 * than allowed, none at all, an unterminated block or bad base64 is an error.
 */
export function decodePemCertificates(text: string, maxCertificates: number): PemDecodeResult {
  const certificates: PemCertificate[] = [];
  let from = 0;
  for (;;) {
    const begin = text.indexOf(BEGIN, from);
    if (begin === -1) break;
    const bodyStart = begin + BEGIN.length;
    const end = text.indexOf(END, bodyStart);
    if (end === -1) return { ok: false, detail: "the PEM certificate block is not terminated" };
    if (certificates.length === maxCertificates) {
      return { ok: false, detail: `expected at most ${maxCertificates} certificate${maxCertificates === 1 ? "" : "s"}` };
    }
    const body = text.slice(bodyStart, end);
    if (body.indexOf("-----") !== -1) return { ok: false, detail: "the PEM certificate block is malformed" };
    const der = decodeBase64(body);
    if (!der) return { ok: false, detail: "the PEM certificate block is not valid base64" };
    const outer = readTlv(der, 0);
    if (!outer || outer.tag !== 0x30 || outer.end !== der.length) {
      return { ok: false, detail: "the certificate is not a single DER SEQUENCE" };
    }
    from = end + END.length;
    certificates.push({ der, pem: text.slice(begin, from) });
  }
  if (certificates.length === 0) return { ok: false, detail: "no PEM certificate block found" };
  return { ok: true, certificates };
}
