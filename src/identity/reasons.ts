/**
 * Why a caller is unauthenticated: the stable snake_case codes recorded as
 * `Identity.unauthenticatedReason` (docs/identity.md lists each with its
 * cause). Users grep audit logs for them and tests pin them: never rename one.
 */

/** Every reason the identity module gives. */
export type UnauthenticatedReason =
  /** No evidence from any configured source. */
  | "no_identity"
  /** A principal, URI SAN or XFCC `URI` that is not a SPIFFE ID (SPIFFE-ID.md), named by rule. */
  | "invalid_spiffe_id"
  /** Certificate text that is not a certificate: bad URL-encoding, PEM, base64 or DER, or too large. */
  | "malformed_certificate"
  /** A certificate that X509-SVID §5.2 says cannot identify a caller (CA, keyCertSign/cRLSign, no URI SAN, root ID). */
  | "not_an_svid"
  /** More than one URI SAN (X509-SVID §2: validators MUST reject). */
  | "multiple_uri_sans"
  /** Decision time after notAfter. */
  | "expired_certificate"
  /** Decision time before notBefore. */
  | "certificate_not_yet_valid"
  /** Two pieces of evidence name different callers (principal vs certificate, XFCC `URI`/`Hash`/`Chain` vs `Cert`). */
  | "identity_mismatch"
  /** A trust bundle is configured and the certificate does not chain to it (or chains to a CA of another trust domain). */
  | "untrusted_certificate"
  /** The XFCC header does not parse, or exceeds the configured size or element limits. */
  | "invalid_xfcc"
  /** The XFCC element Ward would use was not appended by a trusted proxy that is the authenticated peer. */
  | "untrusted_xfcc"
  /** `xfcc` is a source and the peer is a trusted proxy that forwarded no element (absent or empty header), without `xfcc.proxyMayCallAsItself`. */
  | "xfcc_missing"
  /** The identity configuration is invalid, so no caller can be authenticated (fail closed). */
  | "identity_config_invalid"
  /** An unexpected error while resolving (a bug); fail closed. */
  | "identity_error";

/** A failed identity step: the reason and a lower-case detail for the audit record. */
export interface IdentityFailure {
  readonly ok: false;
  readonly reason: UnauthenticatedReason;
  readonly detail: string;
}

const MAX_QUOTED = 120;

/**
 * Quotes user text for a detail message in backticks, cut to a bounded length
 * (a megabyte header must not become a megabyte audit record) and with
 * control characters escaped so a record stays one line.
 */
export function quote(text: string): string {
  const cut = text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
  const safe = cut.replace(/[\u0000-\u001f\u007f`]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `\`${safe}\``;
}
