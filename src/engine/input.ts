/**
 * What the engine decides on. Built per request by `input/` (request pieces)
 * and `identity/` (the caller), read by the compiled program. Plain data only:
 * the engine never reads a clock, a file or the environment.
 */

/** Attributes of the caller's X.509 certificate, as `cert.*` exposes them. */
export interface CertificateAttributes {
  readonly subject: {
    readonly commonName?: string;
    readonly organization: readonly string[];
    readonly organizationalUnit: readonly string[];
  };
  readonly issuer: {
    readonly commonName?: string;
    readonly organization: readonly string[];
  };
  readonly san: {
    readonly dns: readonly string[];
    readonly uri: readonly string[];
    readonly email: readonly string[];
  };
  /** Lower-case hex, no separators, leading zeros as encoded. */
  readonly serial: string;
  /** SHA-256 of the DER encoding, lower-case hex, no separators. */
  readonly fingerprint: string;
  /** Epoch milliseconds. */
  readonly notBefore: number;
  /** Epoch milliseconds. */
  readonly notAfter: number;
  /**
   * Custom extensions by dotted OID, decoded to text (UTF8String,
   * PrintableString, IA5String, INTEGER, BOOLEAN, OCTET STRING), anything else as hex.
   */
  readonly extensions: Readonly<Record<string, string>>;
}

/** Where the caller's identity came from. */
export type IdentitySource = "principal" | "certificate" | "xfcc";

/**
 * The caller, as far as Ward trusts it. `authenticated` is true only when a
 * valid SPIFFE ID was established; otherwise `unauthenticatedReason` says why
 * (a stable snake_case code) and `detail` says more for the audit record.
 */
export interface Identity {
  readonly authenticated: boolean;
  readonly spiffeId?: string;
  readonly trustDomain?: string;
  /** The SPIFFE ID's path, `""` or starting with `/`. */
  readonly path?: string;
  readonly source?: IdentitySource;
  /** Present when a certificate was parsed (only when the policies need `cert.*`, or for validation). */
  readonly certificate?: CertificateAttributes;
  /** e.g. `no_identity`, `invalid_spiffe_id`, `not_an_svid`, `expired_certificate`, `identity_mismatch`. */
  readonly unauthenticatedReason?: string;
  readonly detail?: string;
}

/** An unauthenticated caller with a reason; the single way to make one. */
export function unauthenticated(reason: string, detail?: string): Identity {
  return detail === undefined ? { authenticated: false, unauthenticatedReason: reason } : { authenticated: false, unauthenticatedReason: reason, detail };
}

/** The HTTP request as the engine sees it: canonical, lower-cased where the docs say so. */
export interface HttpRequestInput {
  /** Exactly as sent (`GET`; `get` is a different method). */
  readonly method: string;
  /** Canonical path, without the query (see docs/paths.md). */
  readonly path: string;
  /** Percent-decoded query parameters; a repeated name's values are joined with `,`. */
  readonly query: Readonly<Record<string, string>>;
  /** Lower-case names; repeated headers joined with `,` exactly as Envoy joins them. */
  readonly headers: Readonly<Record<string, string>>;
  /** Lower-cased, port removed. */
  readonly host: string;
  readonly scheme: string;
}

/** A network peer: address and port when known. */
export interface PeerInput {
  readonly ip?: string;
  readonly port?: number;
}

/** Everything one decision reads. */
export interface RequestInput {
  readonly caller: Identity;
  readonly request: HttpRequestInput;
  readonly source: PeerInput;
  readonly destination: PeerInput & { readonly spiffeId?: string };
  /** Envoy's per-route `context_extensions`. */
  readonly context: Readonly<Record<string, string>>;
  /** Decision time, epoch milliseconds (UTC). */
  readonly time: number;
}
