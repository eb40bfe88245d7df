/**
 * The optional trust bundle: CA certificates (PEM) a caller's certificate
 * must chain to, for certificates Ward is handed through XFCC or as defence
 * in depth behind Envoy. Path validation follows RFC 5280 §6.1 for what an
 * SVID needs (names, signatures, cA, keyCertSign, pathLenConstraint, validity
 * at decision time, no unknown critical extension) and scopes CAs to trust
 * domains (SPIFFE-ID.md §3.1: an SVID is valid if signed by an authority
 * within the SPIFFE ID's trust domain). Name constraints and policies are not
 * processed: a CA that marks them critical is refused, never ignored.
 *
 * Signatures are checked with node:crypto's synchronous
 * `X509Certificate#verify` (pure computation, no I/O), so the resolver stays
 * synchronous; each distinct leaf is verified once and the verdict cached
 * with it. Only the CA validity windows are checked per decision.
 */
import { X509Certificate as NodeCertificate } from "node:crypto";
import type { Diagnostic, Result } from "../diagnostics.js";
import { parseSpiffeId, validateTrustDomain } from "../spiffe-id.js";
import { OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_SUBJECT_ALT_NAME, parseCertificate, type ParsedCertificate } from "./certificate.js";
import { decodePemCertificates } from "./pem.js";
import { quote, type IdentityFailure } from "./reasons.js";

/**
 * Where the bundle comes from: PEM text (each CA is scoped to the trust
 * domains of its own SPIFFE URI SANs, or to none when it has no SPIFFE ID),
 * or a map from trust domain to PEM (each CA scoped to its key).
 */
export type TrustBundleSource = string | Readonly<Record<string, string>>;

/** One CA of the bundle. */
export interface BundleCertificate {
  readonly certificate: ParsedCertificate;
  readonly node: NodeCertificate;
  /** Self-signed: a trust anchor. Other certificates are intermediates that must chain to an anchor. */
  readonly anchor: boolean;
  /** The trust domains this CA may vouch for; undefined when unscoped. */
  readonly trustDomains?: ReadonlySet<string>;
  /** For messages: the subject CN, or the fingerprint. */
  readonly name: string;
}

/** A parsed, checked trust bundle. */
export interface TrustBundle {
  readonly certificates: readonly BundleCertificate[];
}

/** A certificate chain longer than this many CAs is not followed. */
export const MAX_CHAIN_CAS = 5;
/** Signature checks allowed when building the paths of one leaf (the work is bounded whatever the bundle). */
export const MAX_SIGNATURE_CHECKS = 64;
/** At most this many CA certificates in a bundle. */
export const MAX_BUNDLE_CERTIFICATES = 256;
const MAX_BUNDLE_TEXT = 4 * 1024 * 1024;

/** RFC 5280 extensions Ward processes or that are safe to pass when critical. */
const UNDERSTOOD_CRITICAL = new Set([
  OID_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_BASIC_CONSTRAINTS,
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.35", // authorityKeyIdentifier
  "2.5.29.37", // extKeyUsage
]);

function error(code: string, message: string): Diagnostic {
  return { code, severity: "error", message };
}

function displayName(cert: ParsedCertificate): string {
  return cert.attributes.subject.commonName ?? cert.attributes.fingerprint.slice(0, 16);
}

function spiffeTrustDomains(cert: ParsedCertificate): Set<string> {
  const tds = new Set<string>();
  for (const uri of cert.attributes.san.uri) {
    const id = parseSpiffeId(uri);
    if (id.ok) tds.add(id.value.trustDomain);
  }
  return tds;
}

/**
 * Parses and checks a trust bundle. Errors: no certificate, unparsable PEM or
 * certificate, a certificate that is not a CA, an invalid trust domain key, a
 * CA whose SPIFFE ID names another trust domain than its key. Warning: an
 * intermediate that does not chain to any anchor of the bundle (never used).
 */
export function parseTrustBundle(source: TrustBundleSource): Result<TrustBundle> {
  const diagnostics: Diagnostic[] = [];
  const entries: { pem: string; trustDomain?: string }[] =
    typeof source === "string" ? [{ pem: source }] : Object.keys(source).map((td) => ({ pem: source[td] as string, trustDomain: td }));
  const certificates: BundleCertificate[] = [];
  for (const entry of entries) {
    const where = entry.trustDomain === undefined ? "the trust bundle" : `the trust bundle for ${quote(entry.trustDomain)}`;
    if (entry.trustDomain !== undefined) {
      const bad = validateTrustDomain(entry.trustDomain);
      if (bad && !bad.ok) {
        diagnostics.push(error("trust_bundle_invalid_trust_domain", `${quote(entry.trustDomain)} is not a trust domain: ${bad.message}`));
        continue;
      }
    }
    if (entry.pem.length > MAX_BUNDLE_TEXT) {
      diagnostics.push(error("trust_bundle_malformed", `${where} is larger than ${MAX_BUNDLE_TEXT} bytes`));
      continue;
    }
    const blocks = decodePemCertificates(entry.pem, MAX_BUNDLE_CERTIFICATES);
    if (!blocks.ok) {
      diagnostics.push(error("trust_bundle_malformed", `${where}: ${blocks.detail}`));
      continue;
    }
    for (const [index, block] of blocks.certificates.entries()) {
      const label = `${where}, certificate ${index + 1}`;
      const parsed = parseCertificate(block.der);
      if (!parsed.ok) {
        diagnostics.push(error("trust_bundle_malformed", `${label}: ${parsed.detail}`));
        continue;
      }
      const cert = parsed.certificate;
      if (!cert.isCa || (cert.hasKeyUsage && !cert.keyCertSign)) {
        diagnostics.push(error("trust_bundle_not_ca", `${label} (${quote(displayName(cert))}) is not a CA (needs \`cA=true\` and \`keyCertSign\`)`));
        continue;
      }
      let node: NodeCertificate;
      try {
        node = new NodeCertificate(block.der);
      } catch {
        diagnostics.push(error("trust_bundle_malformed", `${label}: the certificate cannot be parsed`));
        continue;
      }
      const own = spiffeTrustDomains(cert);
      let trustDomains: ReadonlySet<string> | undefined = own.size > 0 ? own : undefined;
      if (entry.trustDomain !== undefined) {
        if (own.size > 0 && !own.has(entry.trustDomain)) {
          diagnostics.push(
            error(
              "trust_bundle_trust_domain_conflict",
              `${label} (${quote(displayName(cert))}) carries the SPIFFE ID of ${quote([...own].join(", "))}, not ${quote(entry.trustDomain)}`,
            ),
          );
          continue;
        }
        trustDomains = new Set([entry.trustDomain]);
      }
      const anchor = node.checkIssued(node) && node.verify(node.publicKey);
      certificates.push({ certificate: cert, node, anchor, ...(trustDomains ? { trustDomains } : {}), name: displayName(cert) });
    }
  }
  if (certificates.length === 0 && diagnostics.length === 0) {
    diagnostics.push(error("trust_bundle_empty", "the trust bundle contains no CA certificate"));
  }
  const bundle: TrustBundle = { certificates };
  for (const ca of certificates) {
    if (!ca.anchor && buildPaths(bundle, ca.node, [], { checks: MAX_SIGNATURE_CHECKS }).length === 0) {
      diagnostics.push({
        code: "trust_bundle_unanchored",
        severity: "warning",
        message: `the intermediate ${quote(ca.name)} does not chain to a self-signed CA of the bundle, so it is never used`,
      });
    }
  }
  if (diagnostics.some((d) => d.severity === "error")) return { ok: false, diagnostics };
  return { ok: true, value: bundle, diagnostics };
}

function canSign(ca: BundleCertificate): boolean {
  return ca.certificate.isCa && (!ca.certificate.hasKeyUsage || ca.certificate.keyCertSign);
}

/** Every chain of bundle CAs from `child` up to an anchor: issuer first, anchor last. Bounded by depth and signature checks. */
function buildPaths(bundle: TrustBundle, child: NodeCertificate, above: readonly BundleCertificate[], budget: { checks: number }): BundleCertificate[][] {
  const paths: BundleCertificate[][] = [];
  if (above.length >= MAX_CHAIN_CAS) return paths;
  for (const ca of bundle.certificates) {
    if (above.includes(ca) || !canSign(ca)) continue;
    // Names and key identifiers first: cheap, and most candidates stop here.
    if (!child.checkIssued(ca.node)) continue;
    if (budget.checks <= 0) break;
    budget.checks--;
    if (!child.verify(ca.node.publicKey)) continue;
    const path = [...above, ca];
    if (ca.anchor) paths.push(path);
    else paths.push(...buildPaths(bundle, ca.node, path, budget));
  }
  return paths;
}

type LeafVerdict =
  | { readonly trustDomain: string; readonly paths: readonly (readonly BundleCertificate[])[] }
  | { readonly trustDomain: string; readonly failure: string };

/** Verifies leaves against one bundle, caching the per-leaf verdict. */
export interface ChainVerifier {
  /** Undefined when `leaf` chains to the bundle for `trustDomain` at `now`; otherwise why not. */
  verify(leaf: ParsedCertificate, trustDomain: string, now: number): IdentityFailure | undefined;
}

function untrusted(detail: string): IdentityFailure {
  return { ok: false, reason: "untrusted_certificate", detail };
}

/** Creates a verifier for `bundle`; verdicts live as long as the parsed leaf (a WeakMap keyed by it). */
export function createChainVerifier(bundle: TrustBundle): ChainVerifier {
  const verdicts = new WeakMap<ParsedCertificate, LeafVerdict>();

  function computeVerdict(leaf: ParsedCertificate, trustDomain: string): LeafVerdict {
    const unknownLeaf = leaf.criticalExtensions.find((oid) => !UNDERSTOOD_CRITICAL.has(oid));
    if (unknownLeaf !== undefined) {
      return { trustDomain, failure: `the certificate has the unsupported critical extension \`${unknownLeaf}\` (RFC 5280 §4.2)` };
    }
    let node: NodeCertificate;
    try {
      node = new NodeCertificate(leaf.der);
    } catch {
      return { trustDomain, failure: "the certificate cannot be read for verification" };
    }
    const all = buildPaths(bundle, node, [], { checks: MAX_SIGNATURE_CHECKS });
    if (all.length === 0) return { trustDomain, failure: "the certificate does not chain to a CA of the trust bundle" };
    let lastProblem = "";
    const good = all.filter((path) => {
      for (const [index, ca] of path.entries()) {
        const unknown = ca.certificate.criticalExtensions.find((oid) => !UNDERSTOOD_CRITICAL.has(oid));
        if (unknown !== undefined) {
          lastProblem = `the CA ${quote(ca.name)} has the unsupported critical extension \`${unknown}\``;
          return false;
        }
        // RFC 5280 §4.2.1.9: at most pathLength intermediate CAs may follow this CA.
        if (ca.certificate.pathLength !== undefined && index > ca.certificate.pathLength) {
          lastProblem = `the chain breaks the path length constraint of the CA ${quote(ca.name)}`;
          return false;
        }
        if (ca.trustDomains && !ca.trustDomains.has(trustDomain)) {
          lastProblem = `the certificate chains to the CA ${quote(ca.name)} for trust domain ${quote([...ca.trustDomains].join(", "))}, not ${quote(trustDomain)}`;
          return false;
        }
      }
      return true;
    });
    if (good.length === 0) return { trustDomain, failure: lastProblem };
    return { trustDomain, paths: good };
  }

  return {
    verify(leaf, trustDomain, now) {
      let verdict = verdicts.get(leaf);
      if (!verdict || verdict.trustDomain !== trustDomain) {
        verdict = computeVerdict(leaf, trustDomain);
        verdicts.set(leaf, verdict);
      }
      if ("failure" in verdict) return untrusted(verdict.failure);
      let expired: BundleCertificate | undefined;
      for (const path of verdict.paths) {
        const stale = path.find((ca) => now < ca.certificate.attributes.notBefore || now > ca.certificate.attributes.notAfter);
        if (!stale) return undefined;
        expired ??= stale;
      }
      return untrusted(`the CA ${quote(expired?.name ?? "")} of the certificate's chain is not valid at the decision time`);
    },
  };
}
