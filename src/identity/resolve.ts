/**
 * Evidence → the caller's `Identity`: the one place that decides who is
 * calling. Sources (Envoy's validated peer principal, the peer certificate,
 * the XFCC header of a trusted proxy hop) are tried in the configured order;
 * evidence about the same peer is cross-checked and a disagreement is an
 * unauthenticated caller, never a silent pick. Pure and synchronous: no
 * clock (the decision time is an argument), no I/O (the trust bundle arrives
 * as PEM text), never throws. docs/identity.md is the user-facing account.
 */
import type { Diagnostic } from "../diagnostics.js";
import { unauthenticated, type CertificateAttributes, type Identity, type IdentitySource } from "../engine/input.js";
import type { IdentityEvidence, IdentityResolver, RawCertificate } from "../input/raw.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe-id.js";
import { createCertificateCache, type CertificateCacheOptions, type IdentityCacheStats } from "./certificate-cache.js";
import type { ParsedCertificate } from "./certificate.js";
import { decodePemCertificates, urlDecode } from "./pem.js";
import { quote, type IdentityFailure } from "./reasons.js";
import { checkCallerSpiffeId, checkValidity } from "./svid.js";
import { createChainVerifier, parseTrustBundle, type ChainVerifier, type TrustBundle, type TrustBundleSource } from "./trust-bundle.js";
import { parseXfcc, type XfccElement } from "./xfcc.js";

export type { CertificateCacheOptions, IdentityCacheStats } from "./certificate-cache.js";
export type { UnauthenticatedReason } from "./reasons.js";
export type { TrustBundleSource } from "./trust-bundle.js";

/** How Ward trusts the `x-forwarded-client-cert` header (docs/identity.md, "XFCC"). */
export interface XfccConfig {
  /** SPIFFE IDs of the proxies whose XFCC elements are trusted (matched exactly against `By`). */
  readonly trustedProxies: readonly string[];
  /** Longer headers are refused (`invalid_xfcc`) before parsing. Default 65536 bytes. */
  readonly maxHeaderBytes?: number;
  /** Headers with more elements are refused (`invalid_xfcc`). Default 16. */
  readonly maxElements?: number;
  /**
   * Require Envoy's peer principal to be the trusted proxy that appended the
   * element (default true). Turn off only where no principal reaches Ward.
   */
  readonly requirePeerPrincipal?: boolean;
  /** Require a `Cert` (or `Chain`) in the element, so the trust bundle can verify it. Default false. */
  readonly requireCertificate?: boolean;
  /** Most certificates read from a `Chain` value. Default 8. */
  readonly maxChainCertificates?: number;
  /**
   * Let a trusted proxy that sends no XFCC element be the caller as itself
   * (default false). A proxy such as Envoy with `SANITIZE_SET` or
   * `APPEND_FORWARD` adds no element when its client had no certificate, so
   * without this a request through the proxy with no XFCC is unauthenticated
   * (`xfcc_missing`) rather than authenticated as the proxy.
   */
  readonly proxyMayCallAsItself?: boolean;
}

/**
 * When a certificate that comes with the request is parsed and checked
 * (docs/identity.md, "When the certificate is parsed"). `always`: whenever
 * certificate text is present, so validity, the X509-SVID rules and the
 * principal/URI/`Hash` cross-checks run on every request. `when-needed`: only
 * when the policies read `cert.*`, a trust bundle is set, or the certificate
 * is the only evidence.
 */
export type CertificateChecks = "always" | "when-needed";

/** Identity configuration: which evidence to use, in which order, and what to trust. */
export interface IdentityConfig {
  /** Evidence sources in order of preference. Default `["principal", "certificate"]`; XFCC is off unless listed. */
  readonly sources?: readonly IdentitySource[];
  /** Required when `sources` lists `xfcc`. */
  readonly xfcc?: XfccConfig;
  /**
   * CA certificates every parsed caller certificate must chain to: PEM text
   * (CAs scoped by their own SPIFFE IDs) or trust domain → PEM. The server
   * reads the file; this module never does I/O.
   */
  readonly trustBundle?: TrustBundleSource;
  /** Bounds of the parsed-certificate caches. */
  readonly cache?: CertificateCacheOptions;
  /** Longest certificate text accepted (PEM or URL-encoded PEM). Default 65536 characters. */
  readonly maxCertificateBytes?: number;
  /** When a certificate present in the evidence is parsed and checked. Default `always`. */
  readonly certificateChecks?: CertificateChecks;
}

/** The resolver with its cache counters (for metrics) and the configuration diagnostics. */
export interface CachingIdentityResolver extends IdentityResolver {
  /** Certificate cache counters: hits, misses, entries and estimated bytes. */
  stats(): IdentityCacheStats;
  /** Problems found in the configuration; with any error, every caller is unauthenticated (`identity_config_invalid`). */
  readonly diagnostics: readonly Diagnostic[];
}

const SOURCES: readonly IdentitySource[] = ["principal", "certificate", "xfcc"];
const CERTIFICATE_CHECKS: readonly CertificateChecks[] = ["always", "when-needed"];
const DEFAULT_SOURCES: readonly IdentitySource[] = ["principal", "certificate"];
const DEFAULT_MAX_CERTIFICATE_BYTES = 64 * 1024;
const DEFAULT_XFCC_MAX_BYTES = 64 * 1024;
const DEFAULT_XFCC_MAX_ELEMENTS = 16;
const DEFAULT_MAX_CHAIN_CERTIFICATES = 8;

function error(code: string, message: string): Diagnostic {
  return { code, severity: "error", message };
}

function isPositiveInteger(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}

/**
 * Checks an identity configuration. The server calls this at startup and
 * refuses to start on an error; `createIdentityResolver` calls it too and
 * fails closed.
 */
export function checkIdentityConfig(config: IdentityConfig): readonly Diagnostic[] {
  return inspectConfig(config).diagnostics;
}

/** The configuration's diagnostics, and the parsed trust bundle when there is one (parsed once). */
function inspectConfig(config: IdentityConfig): { diagnostics: readonly Diagnostic[]; bundle?: TrustBundle } {
  const diagnostics: Diagnostic[] = [];
  const sources = config.sources ?? DEFAULT_SOURCES;
  if (!Array.isArray(sources) || sources.length === 0) {
    diagnostics.push(error("identity_sources_invalid", "at least one identity source is needed (`principal`, `certificate`, `xfcc`)"));
  } else {
    const seen = new Set<string>();
    for (const source of sources) {
      if (!SOURCES.includes(source)) {
        diagnostics.push(error("identity_sources_invalid", `unknown identity source ${quote(String(source))}; expected \`principal\`, \`certificate\` or \`xfcc\``));
      } else if (seen.has(source)) {
        diagnostics.push(error("identity_sources_invalid", `the identity source \`${source}\` is listed twice`));
      }
      seen.add(source);
    }
  }
  const usesXfcc = Array.isArray(sources) && sources.includes("xfcc");
  if (usesXfcc && !config.xfcc) {
    diagnostics.push(error("xfcc_not_configured", "the `xfcc` source needs a list of trusted proxies"));
  }
  if (config.xfcc) {
    const x = config.xfcc;
    if (!usesXfcc) {
      diagnostics.push({ code: "xfcc_unused", severity: "warning", message: "XFCC is configured but `xfcc` is not an identity source, so the header is ignored" });
    }
    if (!Array.isArray(x.trustedProxies) || x.trustedProxies.length === 0) {
      diagnostics.push(error("xfcc_not_configured", "the `xfcc` source needs at least one trusted proxy"));
    } else {
      for (const proxy of x.trustedProxies) {
        const id = typeof proxy === "string" ? parseSpiffeId(proxy) : undefined;
        if (!id || !id.ok) {
          diagnostics.push(error("xfcc_trusted_proxy_invalid", `the trusted proxy ${quote(String(proxy))} is not a SPIFFE ID${id && !id.ok ? `: ${id.message}` : ""}`));
        }
      }
    }
    for (const key of ["maxHeaderBytes", "maxElements", "maxChainCertificates"] as const) {
      if (x[key] !== undefined && !isPositiveInteger(x[key])) {
        diagnostics.push(error("identity_limit_invalid", `\`xfcc.${key}\` must be a positive integer`));
      }
    }
  }
  if (config.certificateChecks !== undefined && !CERTIFICATE_CHECKS.includes(config.certificateChecks)) {
    diagnostics.push(error("certificate_checks_invalid", `unknown certificate checks ${quote(String(config.certificateChecks))}; expected \`always\` or \`when-needed\``));
  }
  if (config.xfcc?.proxyMayCallAsItself !== undefined && typeof config.xfcc.proxyMayCallAsItself !== "boolean") {
    diagnostics.push(error("xfcc_option_invalid", "`xfcc.proxyMayCallAsItself` must be true or false"));
  }
  if (config.maxCertificateBytes !== undefined && !isPositiveInteger(config.maxCertificateBytes)) {
    diagnostics.push(error("identity_limit_invalid", "`maxCertificateBytes` must be a positive integer"));
  }
  for (const key of ["maxEntries", "maxBytes", "maxFailedEntries", "maxFailedBytes"] as const) {
    const value = config.cache?.[key];
    if (value !== undefined && !isPositiveInteger(value)) {
      diagnostics.push(error("identity_limit_invalid", `\`cache.${key}\` must be a positive integer`));
    }
  }
  if (config.trustBundle === undefined) return { diagnostics };
  const bundle = parseTrustBundle(config.trustBundle);
  diagnostics.push(...bundle.diagnostics);
  return bundle.ok ? { diagnostics, bundle: bundle.value } : { diagnostics };
}

type Resolved =
  | { readonly ok: true; readonly id: SpiffeId; readonly source: IdentitySource; readonly certificate?: CertificateAttributes }
  | IdentityFailure;

type CertificateResolved = { readonly ok: true; readonly id: SpiffeId; readonly certificate: ParsedCertificate } | IdentityFailure;

function failure(reason: IdentityFailure["reason"], detail: string): IdentityFailure {
  return { ok: false, reason, detail };
}

function present(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

/** Evidence is given when it is anything but absent or empty; a given value of the wrong type is refused, never skipped. */
function given(value: unknown): boolean {
  return value !== undefined && value !== null && value !== "";
}

/** UTF-8 length of `text`, counting only until it passes `limit`. */
function utf8LengthOver(text: string, limit: number): boolean {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 2 : 3;
    if (bytes > limit) return true;
  }
  return false;
}

/** Creates the resolver (with its certificate cache and, when configured, its trust bundle). */
export function createIdentityResolver(config: IdentityConfig = {}): CachingIdentityResolver {
  const inspected = inspectConfig(config);
  const diagnostics = inspected.diagnostics;
  const broken = diagnostics.find((d) => d.severity === "error");
  const sources = config.sources ?? DEFAULT_SOURCES;
  const cache = createCertificateCache(config.cache);
  const maxCertificateBytes = config.maxCertificateBytes ?? DEFAULT_MAX_CERTIFICATE_BYTES;
  const xfcc = config.xfcc;
  const trustedProxies = new Set(xfcc?.trustedProxies ?? []);
  const xfccMaxBytes = xfcc?.maxHeaderBytes ?? DEFAULT_XFCC_MAX_BYTES;
  const xfccMaxElements = xfcc?.maxElements ?? DEFAULT_XFCC_MAX_ELEMENTS;
  const maxChainCertificates = xfcc?.maxChainCertificates ?? DEFAULT_MAX_CHAIN_CERTIFICATES;
  const requirePeerPrincipal = xfcc?.requirePeerPrincipal ?? true;
  const requireCertificate = xfcc?.requireCertificate ?? false;
  const proxyMayCallAsItself = xfcc?.proxyMayCallAsItself === true;
  // Any certificate that comes with the request is checked unless the operator traded that for speed.
  const alwaysCheckCertificate = (config.certificateChecks ?? "always") === "always";
  const useXfcc = sources.includes("xfcc");
  const verifier: ChainVerifier | undefined = !broken && inspected.bundle ? createChainVerifier(inspected.bundle) : undefined;
  const usePrincipal = sources.includes("principal");
  const useCertificate = sources.includes("certificate");

  /** Certificate text → a verified SVID at `now`: parse (cached), X509-SVID rules, validity, trust bundle. */
  function resolveCertificate(raw: RawCertificate, now: number): CertificateResolved {
    if (typeof raw !== "object" || raw === null || typeof raw.text !== "string" || (raw.encoding !== "url" && raw.encoding !== "pem")) {
      return failure("malformed_certificate", "the certificate evidence is not text with an encoding of `url` or `pem`");
    }
    if (raw.text.length > maxCertificateBytes) {
      return failure("malformed_certificate", `the certificate text is ${raw.text.length} characters, over the limit of ${maxCertificateBytes}`);
    }
    const entry = cache.lookup(raw);
    if (!entry.ok) return entry;
    if (!entry.svid.ok) return entry.svid;
    const stale = checkValidity(entry.certificate, now);
    if (stale) return stale;
    if (verifier) {
      const untrusted = verifier.verify(entry.certificate, entry.svid.id.trustDomain, now);
      if (untrusted) return untrusted;
    }
    return { ok: true, id: entry.svid.id, certificate: entry.certificate };
  }

  /** Envoy's principal and peer certificate describe the same peer: use what is configured, cross-check both. */
  function resolvePeer(evidence: IdentityEvidence, needCertificate: boolean, now: number): Resolved {
    if (usePrincipal && given(evidence.principal) && typeof evidence.principal !== "string") {
      return failure("invalid_spiffe_id", "the peer principal is not text");
    }
    const principal = usePrincipal && present(evidence.principal) ? evidence.principal : undefined;
    const raw = useCertificate && given(evidence.certificate) ? evidence.certificate : undefined;
    const first: IdentitySource =
      principal !== undefined && (raw === undefined || sources.indexOf("principal") < sources.indexOf("certificate")) ? "principal" : "certificate";
    if (principal === undefined) {
      if (raw === undefined) return failure("no_identity", "no identity evidence");
      // The certificate is the only identity source: it must be parsed.
      const cert = resolveCertificate(raw, now);
      if (!cert.ok) return cert;
      return { ok: true, id: cert.id, source: "certificate", certificate: cert.certificate.attributes };
    }
    const id = checkCallerSpiffeId(principal, "the peer principal");
    if (!id.ok) return id;
    // With `certificateChecks: "when-needed"`, parse only when the policies read cert.* or a trust bundle must verify it.
    if (raw === undefined || !(alwaysCheckCertificate || needCertificate || verifier !== undefined)) return { ok: true, id: id.id, source: "principal" };
    const cert = resolveCertificate(raw, now);
    if (!cert.ok) return cert;
    if (cert.id.id !== id.id.id) {
      return failure("identity_mismatch", `the peer principal ${quote(principal)} is not the certificate's URI SAN ${quote(cert.id.id)}`);
    }
    // Checked always, but handed on (to cert.* and the audit record) only as before: when needed or verified.
    if (!(needCertificate || verifier !== undefined)) return { ok: true, id: id.id, source: first };
    return { ok: true, id: id.id, source: first, certificate: cert.certificate.attributes };
  }

  /** The trusted element's certificate text: `Cert`, else the first certificate of `Chain`. */
  function elementCertificate(element: XfccElement): { ok: true; raw?: RawCertificate } | IdentityFailure {
    if (element.cert !== undefined) return { ok: true, raw: { text: element.cert, encoding: "url" } };
    if (element.chain === undefined) return { ok: true };
    if (element.chain.length > maxCertificateBytes * maxChainCertificates) {
      return failure("malformed_certificate", "the XFCC `Chain` is too large");
    }
    const decoded = urlDecode(element.chain);
    if (!decoded.ok) return failure("malformed_certificate", `the XFCC \`Chain\`: ${decoded.detail}`);
    const blocks = decodePemCertificates(decoded.value, maxChainCertificates);
    if (!blocks.ok) return failure("malformed_certificate", `the XFCC \`Chain\`: ${blocks.detail}`);
    return { ok: true, raw: { text: (blocks.certificates[0] as { pem: string }).pem, encoding: "pem" } };
  }

  /** Whether the leaf of `Chain` is the `Cert` (both given: they must agree). */
  function chainStartsWith(chain: string, der: Uint8Array): boolean {
    const decoded = urlDecode(chain);
    if (!decoded.ok) return false;
    const blocks = decodePemCertificates(decoded.value, maxChainCertificates);
    if (!blocks.ok) return false;
    const leaf = (blocks.certificates[0] as { der: Uint8Array }).der;
    return leaf.length === der.length && leaf.every((b, i) => b === der[i]);
  }

  /**
   * XFCC: only the last element is read (each hop appends its element last, so
   * the last one was written by the hop nearest Ward; everything to its left
   * came from further away and may have been forged by the client). It must
   * have been appended by a trusted proxy that is Envoy's authenticated peer.
   */
  function resolveXfcc(header: string, evidence: IdentityEvidence, needCertificate: boolean, now: number): Resolved {
    // A UTF-16 unit is at most 3 UTF-8 bytes: count bytes only when the length alone cannot settle it.
    if (header.length > xfccMaxBytes || (header.length * 3 > xfccMaxBytes && utf8LengthOver(header, xfccMaxBytes))) {
      return failure("invalid_xfcc", `the XFCC header is over the limit of ${xfccMaxBytes} bytes`);
    }
    const parsed = parseXfcc(header, xfccMaxElements);
    if (!parsed.ok) return failure("invalid_xfcc", `the XFCC header is invalid: ${parsed.detail}`);
    const element = parsed.elements[parsed.elements.length - 1] as XfccElement;
    if (element.by.length === 0) return failure("untrusted_xfcc", "the last XFCC element has no `By`, so no proxy vouches for it");
    if (requirePeerPrincipal) {
      const peer = evidence.principal;
      if (!present(peer)) return failure("untrusted_xfcc", "no peer principal confirms which proxy appended the XFCC element");
      // The peer itself must be trusted AND be the one that wrote `By`: a caller
      // could list a trusted proxy next to itself in a forged element.
      if (!trustedProxies.has(peer)) return failure("untrusted_xfcc", `the peer ${quote(peer)} is not a trusted proxy, so its XFCC header is not used`);
      if (!element.by.includes(peer)) {
        return failure("untrusted_xfcc", `the last XFCC element was appended by ${quote(element.by.join(", "))}, not by the peer ${quote(peer)}`);
      }
    } else if (!element.by.some((by) => trustedProxies.has(by))) {
      return failure("untrusted_xfcc", `the last XFCC element was appended by ${quote(element.by.join(", "))}, which is not a trusted proxy`);
    }
    const hasCertificate = element.cert !== undefined || element.chain !== undefined;
    if (requireCertificate && !hasCertificate) return failure("untrusted_xfcc", "the XFCC element carries no `Cert` to verify");
    // Always decoded and checked by default; with `when-needed`, only when needed, as for Envoy's peer certificate.
    const wanted = needCertificate || verifier !== undefined || requireCertificate || element.uri.length === 0;
    const parseCert = hasCertificate && (alwaysCheckCertificate || wanted);
    const certText = parseCert ? elementCertificate(element) : undefined;
    if (certText && !certText.ok) return certText;
    if (certText?.raw !== undefined) {
      const cert = resolveCertificate(certText.raw, now);
      if (!cert.ok) return cert;
      if (element.uri.length > 0 && (element.uri.length !== 1 || element.uri[0] !== cert.id.id)) {
        return failure("identity_mismatch", `the XFCC \`URI\` ${quote(element.uri.join(", "))} is not the certificate's URI SAN ${quote(cert.id.id)}`);
      }
      if (element.hash !== undefined && element.hash.toLowerCase() !== cert.certificate.attributes.fingerprint) {
        return failure("identity_mismatch", "the XFCC `Hash` is not the SHA-256 of the certificate");
      }
      if (element.cert !== undefined && element.chain !== undefined && !chainStartsWith(element.chain, cert.certificate.der)) {
        return failure("identity_mismatch", "the XFCC `Chain` does not start with the `Cert`");
      }
      // Checked always, but handed on (to cert.* and the audit record) only as before: when wanted.
      return wanted ? { ok: true, id: cert.id, source: "xfcc", certificate: cert.certificate.attributes } : { ok: true, id: cert.id, source: "xfcc" };
    }
    if (element.uri.length === 0) return failure("not_an_svid", "the XFCC element has no `URI`, so the client certificate has no SPIFFE ID");
    if (element.uri.length > 1) {
      return failure("multiple_uri_sans", `the XFCC element has ${element.uri.length} \`URI\` values; X509-SVID §2 requires exactly one`);
    }
    const id = checkCallerSpiffeId(element.uri[0] as string, "the XFCC `URI`");
    if (!id.ok) return id;
    return { ok: true, id: id.id, source: "xfcc" };
  }

  /**
   * With `xfcc` a source, a trusted proxy is a hop, not a caller: when the
   * identity came from the peer's own evidence and names a trusted proxy, the
   * proxy forwarded no element for its client (Envoy's SANITIZE_SET and
   * APPEND_FORWARD add none when the client had no certificate), so the real
   * caller is unknown. It is the proxy itself only with `proxyMayCallAsItself`.
   */
  function refuseProxyAsCaller(resolved: Resolved, evidence: IdentityEvidence): Resolved {
    if (!resolved.ok || resolved.source === "xfcc" || !useXfcc || proxyMayCallAsItself || !trustedProxies.has(resolved.id.id)) return resolved;
    const why = given(evidence.xfcc)
      ? `\`${resolved.source}\` comes before \`xfcc\` in the identity sources, so its element was not used`
      : "it sent no XFCC element, so the client behind it is unknown";
    return failure("xfcc_missing", `the peer ${quote(resolved.id.id)} is a trusted proxy and ${why}; set \`xfcc.proxyMayCallAsItself\` (\`--xfcc-proxy-may-call-as-itself\`) to let it call as itself`);
  }

  function resolveEvidence(evidence: IdentityEvidence, needCertificate: boolean, now: number): Resolved {
    return refuseProxyAsCaller(resolveSources(evidence, needCertificate, now), evidence);
  }

  function resolveSources(evidence: IdentityEvidence, needCertificate: boolean, now: number): Resolved {
    for (const source of sources) {
      if (source === "xfcc") {
        if (given(evidence.xfcc)) {
          // A header the front end could not turn into text must not fall through to the proxy's own identity.
          if (typeof evidence.xfcc !== "string") return failure("invalid_xfcc", "the XFCC header is not text");
          return resolveXfcc(evidence.xfcc, evidence, needCertificate, now);
        }
      } else if (source === "principal") {
        if (given(evidence.principal)) return resolvePeer(evidence, needCertificate, now);
      } else if (given(evidence.certificate)) {
        return resolvePeer(evidence, needCertificate, now);
      }
    }
    return failure("no_identity", `no identity evidence from the configured sources (${sources.map((s) => `\`${s}\``).join(", ")})`);
  }

  return {
    diagnostics,
    stats: () => cache.stats(),
    resolve(evidence, options): Identity {
      try {
        if (broken) return unauthenticated("identity_config_invalid", `the identity configuration is invalid: ${broken.message}`);
        const now = options.now;
        if (typeof now !== "number" || !Number.isFinite(now)) {
          return unauthenticated("identity_error", "the decision time is not a finite number");
        }
        const resolved = resolveEvidence(evidence ?? {}, options.needCertificate === true, now);
        if (!resolved.ok) return unauthenticated(resolved.reason, resolved.detail);
        return {
          authenticated: true,
          spiffeId: resolved.id.id,
          trustDomain: resolved.id.trustDomain,
          path: resolved.id.path,
          source: resolved.source,
          ...(resolved.certificate ? { certificate: resolved.certificate } : {}),
        };
      } catch (err) {
        // A bug, never an input problem: fail closed and say so.
        const message = err instanceof Error ? err.message : String(err);
        return unauthenticated("identity_error", `unexpected error while resolving the caller: ${quote(message)}`);
      }
    },
  };
}
