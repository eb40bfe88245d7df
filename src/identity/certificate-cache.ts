/**
 * Certificate text → parsed certificate (or why not), cached. A mesh presents
 * few distinct certificates many times each, and parsing costs about a
 * millisecond, so a repeat costs one LRU lookup. Both caches are bounded in
 * entries and in bytes; failures are cached too (in a smaller cache) so
 * garbage sent again and again costs a lookup, not a parse. Only static facts
 * are cached: validity and CA windows are checked per decision.
 */
import { LRUCache } from "lru-cache";
import type { RawCertificate } from "../input/raw.js";
import { parseCertificate, type ParsedCertificate } from "./certificate.js";
import { decodePemCertificates, urlDecode } from "./pem.js";
import type { IdentityFailure } from "./reasons.js";
import { checkSvid, type SvidVerdict } from "./svid.js";

/** Bounds of the certificate caches. */
export interface CertificateCacheOptions {
  /** Parsed certificates kept (default 1000). */
  readonly maxEntries?: number;
  /** Estimated bytes kept for parsed certificates, keys included (default 16 MiB). */
  readonly maxBytes?: number;
  /** Failed parses kept (default 1000). */
  readonly maxFailedEntries?: number;
  /** Bytes kept for failed parses, keys included (default 4 MiB). */
  readonly maxFailedBytes?: number;
}

/** Cache counters for metrics: `entries` and `bytes` cover both caches. */
export interface IdentityCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
}

/** A certificate that parsed, with its static X509-SVID verdict. */
export interface CachedCertificate {
  readonly ok: true;
  readonly certificate: ParsedCertificate;
  readonly svid: SvidVerdict;
}

/** What a lookup returns. */
export type CertificateLookup = CachedCertificate | IdentityFailure;

const DEFAULTS = {
  maxEntries: 1000,
  maxBytes: 16 * 1024 * 1024,
  maxFailedEntries: 1000,
  maxFailedBytes: 4 * 1024 * 1024,
} as const;

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isInteger(value) && value > 0 ? value : fallback;
}

/** The cache, with its counters. */
export interface CertificateCache {
  /** Looks up (or parses and stores) one certificate given as text. */
  lookup(raw: RawCertificate): CertificateLookup;
  stats(): IdentityCacheStats;
}

/** Parses certificate text without caching: URL-decode, PEM (exactly one block), DER, X509-SVID verdict. */
export function parseCertificateText(raw: RawCertificate): CertificateLookup {
  let text = raw.text;
  if (raw.encoding === "url") {
    const decoded = urlDecode(text);
    if (!decoded.ok) return { ok: false, reason: "malformed_certificate", detail: decoded.detail };
    text = decoded.value;
  }
  const blocks = decodePemCertificates(text, 1);
  if (!blocks.ok) return { ok: false, reason: "malformed_certificate", detail: blocks.detail };
  const parsed = parseCertificate((blocks.certificates[0] as { der: Uint8Array }).der);
  if (!parsed.ok) return { ok: false, reason: "malformed_certificate", detail: parsed.detail };
  return { ok: true, certificate: parsed.certificate, svid: checkSvid(parsed.certificate) };
}

/** Creates the two bounded caches. */
export function createCertificateCache(options: CertificateCacheOptions = {}): CertificateCache {
  // Keyed by the text as received (no prefix: building a new key string would cost a
  // copy and a hash of ~2 KB per lookup). The encoding is stored with the entry and
  // must match, so one text read in the two encodings never shares a result.
  const parsed = new LRUCache<string, { readonly encoding: string; readonly result: CachedCertificate }>({
    max: positive(options.maxEntries, DEFAULTS.maxEntries),
    maxSize: positive(options.maxBytes, DEFAULTS.maxBytes),
    sizeCalculation: (value, key) => key.length + value.result.certificate.retainedBytes,
  });
  const failed = new LRUCache<string, { readonly encoding: string; readonly result: IdentityFailure }>({
    max: positive(options.maxFailedEntries, DEFAULTS.maxFailedEntries),
    maxSize: positive(options.maxFailedBytes, DEFAULTS.maxFailedBytes),
    sizeCalculation: (value, key) => key.length + value.result.detail.length + 64,
  });
  let hits = 0;
  let misses = 0;
  return {
    lookup(raw) {
      const good = parsed.get(raw.text);
      if (good && good.encoding === raw.encoding) {
        hits++;
        return good.result;
      }
      const bad = failed.get(raw.text);
      if (bad && bad.encoding === raw.encoding) {
        hits++;
        return bad.result;
      }
      misses++;
      const result = parseCertificateText(raw);
      // Setting one cache clears the other, so a text lives in at most one of them.
      if (result.ok) {
        failed.delete(raw.text);
        parsed.set(raw.text, { encoding: raw.encoding, result });
      } else {
        parsed.delete(raw.text);
        failed.set(raw.text, { encoding: raw.encoding, result });
      }
      return result;
    },
    stats() {
      return {
        hits,
        misses,
        entries: parsed.size + failed.size,
        bytes: parsed.calculatedSize + failed.calculatedSize,
      };
    },
  };
}
