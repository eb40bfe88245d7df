/**
 * The X509-SVID leaf rules (spiffe/spiffe standards/X509-SVID.md §5.2 "Leaf
 * Validation", §2 and §3.1): what makes a parsed certificate a caller's
 * SPIFFE identity. The static rules are checked once per distinct certificate
 * (the verdict is cached with it); validity is checked per decision against
 * the decision time, never cached.
 */
import { parseSpiffeId, type SpiffeId } from "../spiffe-id.js";
import type { ParsedCertificate } from "./certificate.js";
import { quote, type IdentityFailure } from "./reasons.js";

/** The static verdict on a certificate as an SVID: its SPIFFE ID, or why it is not one. */
export type SvidVerdict = { readonly ok: true; readonly id: SpiffeId } | IdentityFailure;

/**
 * Applies the X509-SVID leaf rules in this order: not a CA (`cA` false, no
 * `keyCertSign`/`cRLSign`), exactly one URI SAN, a valid SPIFFE ID, with a
 * non-root path.
 */
export function checkSvid(cert: ParsedCertificate): SvidVerdict {
  if (cert.isCa) {
    return fail("not_an_svid", "the certificate is a CA (basicConstraints `cA=true`); X509-SVID §5.2 forbids using one as a leaf");
  }
  if (cert.keyCertSign || cert.crlSign) {
    const usage = cert.keyCertSign ? "keyCertSign" : "cRLSign";
    return fail("not_an_svid", `the certificate has the \`${usage}\` key usage; X509-SVID §5.2 forbids it on a leaf`);
  }
  const uris = cert.attributes.san.uri;
  if (uris.length === 0) return fail("not_an_svid", "the certificate has no URI SAN, so no SPIFFE ID");
  if (uris.length > 1) {
    return fail("multiple_uri_sans", `the certificate has ${uris.length} URI SANs; X509-SVID §2 requires exactly one`);
  }
  return checkCallerSpiffeId(uris[0] as string, "the certificate's URI SAN");
}

/**
 * Validates the SPIFFE ID that identifies a caller: a valid SPIFFE ID with a
 * path (X509-SVID §3.1: a leaf's SPIFFE ID MUST have a non-root path).
 */
export function checkCallerSpiffeId(text: string, what: string): SvidVerdict {
  // A pure function of the text, asked with the same few callers' IDs on every request: valid ones are remembered.
  const known = validCallerIds.get(text);
  if (known !== undefined) return known;
  const parsed = parseSpiffeId(text);
  if (!parsed.ok) {
    return fail("invalid_spiffe_id", `${what} ${quote(text)} is not a valid SPIFFE ID: ${parsed.message} [${parsed.rule}]`);
  }
  if (parsed.value.path === "") {
    return fail("not_an_svid", `${what} ${quote(text)} has no path; X509-SVID §3.1 requires a leaf's SPIFFE ID to name a workload`);
  }
  const valid: SvidVerdict = Object.freeze({ ok: true, id: Object.freeze(parsed.value) });
  if (validCallerIds.size >= MAX_REMEMBERED_IDS) validCallerIds.clear();
  validCallerIds.set(text, valid);
  return valid;
}

/** Valid caller SPIFFE IDs by their text (bounded: cleared when full). */
const validCallerIds = new Map<string, SvidVerdict>();
const MAX_REMEMBERED_IDS = 1024;

/**
 * RFC 5280 §4.1.2.5: the certificate is valid from notBefore to notAfter,
 * both inclusive. Returns the failure at `now`, or undefined when valid.
 */
export function checkValidity(cert: ParsedCertificate, now: number): IdentityFailure | undefined {
  const { notBefore, notAfter } = cert.attributes;
  if (now < notBefore) {
    return fail("certificate_not_yet_valid", `the certificate is not valid before ${new Date(notBefore).toISOString()}`);
  }
  if (now > notAfter) {
    return fail("expired_certificate", `the certificate expired at ${new Date(notAfter).toISOString()}`);
  }
  return undefined;
}

function fail(reason: IdentityFailure["reason"], detail: string): IdentityFailure {
  return { ok: false, reason, detail };
}
