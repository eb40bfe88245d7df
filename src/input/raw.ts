/**
 * The raw request pieces: what every front end (Envoy's CheckRequest, the
 * compact JSON input, a `ward test` block, `POST /v1/check`, a replayed
 * record) is translated into before the one decision path runs
 * (`buildInput` + `resolveIdentity` + `evaluate`, wired by `src/decide.ts`).
 * Nothing here is trusted or normalized yet.
 */

/** The peer certificate as it arrived: Envoy sends URL-encoded PEM; the compact input and tests give plain PEM. */
export interface RawCertificate {
  readonly text: string;
  readonly encoding: "url" | "pem";
}

/** Evidence about the caller's identity, as the front end received it. */
export interface IdentityEvidence {
  /** Envoy's `attributes.source.principal` (URI SAN of the validated peer certificate), or a compact input's `caller.spiffe_id`. */
  readonly principal?: string;
  /** Envoy's `attributes.source.certificate` (with `include_peer_certificate`), or a compact input's `cert`. */
  readonly certificate?: RawCertificate;
  /** The `x-forwarded-client-cert` header value, when present (repeated headers comma-joined). */
  readonly xfcc?: string;
}

/** One request, raw. */
export interface RawRequest {
  readonly method: string;
  /** The request target exactly as received: path and query, nothing decoded. */
  readonly path: string;
  /** `:authority` / Host as received. */
  readonly host: string;
  readonly scheme: string;
  /**
   * Header name → value. Names may arrive in any case; repeated headers may
   * arrive comma-joined (Envoy's `headers` map) or as separate entries
   * (Envoy's `header_map`): `buildInput` lower-cases names and joins values with `,`.
   */
  readonly headers: readonly (readonly [string, string])[];
  readonly source: { readonly address?: string; readonly port?: number };
  readonly destination: { readonly address?: string; readonly port?: number; readonly principal?: string };
  readonly identity: IdentityEvidence;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /** Size of the request body Envoy forwarded, when it did. */
  readonly bodyBytes?: number;
  /** Decision time from the input itself (recorded inputs, tests); servers use their clock. Epoch ms. */
  readonly time?: number;
  /** Envoy's `x-request-id`, reused as the decision id when present. */
  readonly requestId?: string;
}

/** Why a request was refused before the policies ran. */
export type InputRejection = "malformed_path" | "malformed_request" | "request_too_large";

/** The result of `InputBuilder.build`. */
export type BuildInputResult =
  | {
      readonly ok: true;
      readonly input: import("../engine/input.js").RequestInput;
      /**
       * Things the audit record should show (added by the input work): relaxations a
       * request needed (`relaxed: fragment, path_parameter`), an ignored destination
       * principal. Each is `code: detail`.
       */
      readonly notes?: readonly string[];
    }
  | { readonly ok: false; readonly reason: InputRejection; readonly detail: string };

/** Turns raw pieces plus the resolved caller into the engine's input (path canonicalization, host, headers). */
export interface InputBuilder {
  build(raw: RawRequest, caller: import("../engine/input.js").Identity, now: number): BuildInputResult;
}

/** Establishes the caller's identity from the evidence. Never throws: problems give an unauthenticated identity with a reason. */
export interface IdentityResolver {
  resolve(evidence: IdentityEvidence, options: { readonly needCertificate: boolean; readonly now: number }): import("../engine/input.js").Identity;
}
