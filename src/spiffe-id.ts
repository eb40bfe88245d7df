/**
 * SPIFFE ID parsing and validation, exactly as the SPIFFE ID specification
 * (spiffe/spiffe standards/SPIFFE-ID.md) and go-spiffe's `spiffeid` package
 * define it. Pure and dependency-free: the policy checker validates literals
 * with it and the identity module validates callers with it.
 */

/** A validated SPIFFE ID, split into its parts. */
export interface SpiffeId {
  /** The whole ID, e.g. `spiffe://prod.example.com/ns/payments/sa/api`. */
  readonly id: string;
  /** The trust domain name, e.g. `prod.example.com`. */
  readonly trustDomain: string;
  /** The path, `""` or starting with `/`, e.g. `/ns/payments/sa/api`. */
  readonly path: string;
}

/** Which rule of the specification a text breaks; stable, for audit records and tests. */
export type SpiffeIdRule =
  | "empty"
  | "too_long"
  | "wrong_scheme"
  | "missing_trust_domain"
  | "trust_domain_too_long"
  | "bad_trust_domain_char"
  | "user_info"
  | "port"
  | "query"
  | "fragment"
  | "percent_encoding"
  | "empty_segment"
  | "dot_segment"
  | "trailing_slash"
  | "bad_path_char";

export type SpiffeIdResult =
  | { readonly ok: true; readonly value: SpiffeId }
  | { readonly ok: false; readonly rule: SpiffeIdRule; readonly message: string };

/** SPIFFE-ID.md §2.3: implementations must support IDs of 2048 bytes and should not make longer ones. */
export const MAX_SPIFFE_ID_LENGTH = 2048;
/** SPIFFE-ID.md §2.1: trust domain names are at most 255 characters. */
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const SCHEME = "spiffe://";

function isTrustDomainChar(c: number): boolean {
  // a-z 0-9 . - _
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 95;
}

function isPathChar(c: number): boolean {
  // A-Z a-z 0-9 . - _
  return (c >= 65 && c <= 90) || isTrustDomainChar(c);
}

function failure(rule: SpiffeIdRule, message: string): SpiffeIdResult {
  return { ok: false, rule, message };
}

/** Validates a trust domain name on its own (no scheme). */
export function validateTrustDomain(td: string): SpiffeIdResult | undefined {
  if (td.length === 0) return failure("missing_trust_domain", "the trust domain is empty");
  if (td.length > MAX_TRUST_DOMAIN_LENGTH) {
    return failure("trust_domain_too_long", `the trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`);
  }
  // RFC 3986 §3.2: `user:password@host` has a `:` before the `@`; name the user info, not a port.
  if (td.indexOf("@") !== -1) return failure("user_info", "a SPIFFE ID must not contain user info (`@`)");
  for (let i = 0; i < td.length; i++) {
    const c = td.charCodeAt(i);
    if (isTrustDomainChar(c)) continue;
    if (c === 64) return failure("user_info", "a SPIFFE ID must not contain user info (`@`)");
    if (c === 58) return failure("port", "a SPIFFE ID must not contain a port");
    if (c === 37) return failure("percent_encoding", "a SPIFFE ID must not contain percent-encoding");
    if (c >= 65 && c <= 90) {
      return failure("bad_trust_domain_char", "the trust domain must be lower-case (letters, digits, `.`, `-` and `_`)");
    }
    return failure(
      "bad_trust_domain_char",
      `the trust domain contains \`${td[i]}\`; only lower-case letters, digits, \`.\`, \`-\` and \`_\` are allowed`,
    );
  }
  return undefined;
}

/**
 * Validates a SPIFFE ID path (`""` or `/seg/seg`). `allowSegment` lets the
 * policy checker accept glob segments (`*`, `**`) in patterns.
 */
export function validateSpiffePath(path: string, allowSegment?: (segment: string) => boolean): SpiffeIdResult | undefined {
  if (path.length === 0) return undefined;
  if (path.charCodeAt(0) !== 47) return failure("bad_path_char", "the path must start with `/`");
  if (!allowSegment) return scanPath(path);
  const segments = path.slice(1).split("/");
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s] as string;
    if (seg.length === 0) {
      // go-spiffe's ValidatePath: a last empty segment is a trailing slash, also for a bare `/`.
      return s === segments.length - 1
        ? failure("trailing_slash", "a SPIFFE ID must not end with `/`")
        : failure("empty_segment", "a SPIFFE ID path must not contain empty segments (`//`)");
    }
    if (allowSegment?.(seg)) continue;
    if (seg === "." || seg === "..") return failure("dot_segment", "a SPIFFE ID path must not contain `.` or `..` segments");
    for (let i = 0; i < seg.length; i++) {
      const c = seg.charCodeAt(i);
      if (isPathChar(c)) continue;
      if (c === 63) return failure("query", "a SPIFFE ID must not contain a query (`?`)");
      if (c === 35) return failure("fragment", "a SPIFFE ID must not contain a fragment (`#`)");
      if (c === 37) return failure("percent_encoding", "a SPIFFE ID must not contain percent-encoding");
      return failure(
        "bad_path_char",
        `the path contains \`${seg[i]}\`; only letters, digits, \`.\`, \`-\` and \`_\` are allowed in a segment`,
      );
    }
  }
  return undefined;
}

function pathCharFailure(path: string, i: number): SpiffeIdResult {
  const c = path.charCodeAt(i);
  if (c === 63) return failure("query", "a SPIFFE ID must not contain a query (`?`)");
  if (c === 35) return failure("fragment", "a SPIFFE ID must not contain a fragment (`#`)");
  if (c === 37) return failure("percent_encoding", "a SPIFFE ID must not contain percent-encoding");
  return failure("bad_path_char", `the path contains \`${path[i]}\`; only letters, digits, \`.\`, \`-\` and \`_\` are allowed in a segment`);
}

/**
 * The same rules as the segment loop of `validateSpiffePath`, in one pass
 * without splitting (every caller's principal goes through here). Within a
 * segment a character error and an empty or dot segment exclude each other,
 * so scanning left to right reports the same rule as the loop.
 */
function scanPath(path: string): SpiffeIdResult | undefined {
  let segmentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 47;
    if (c !== 47) {
      if (!isPathChar(c)) return pathCharFailure(path, i);
      continue;
    }
    const length = i - segmentStart;
    if (length === 0) {
      return i === path.length
        ? failure("trailing_slash", "a SPIFFE ID must not end with `/`")
        : failure("empty_segment", "a SPIFFE ID path must not contain empty segments (`//`)");
    }
    if (path.charCodeAt(segmentStart) === 46 && (length === 1 || (length === 2 && path.charCodeAt(segmentStart + 1) === 46))) {
      return failure("dot_segment", "a SPIFFE ID path must not contain `.` or `..` segments");
    }
    segmentStart = i + 1;
  }
  return undefined;
}

/** Parses and validates a SPIFFE ID, naming the rule it breaks when it is not one. */
export function parseSpiffeId(text: string, allowSegment?: (segment: string) => boolean): SpiffeIdResult {
  if (text.length === 0) return failure("empty", "the SPIFFE ID is empty");
  if (text.length > MAX_SPIFFE_ID_LENGTH) {
    return failure("too_long", `a SPIFFE ID must not be longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
  }
  // The scheme is case-sensitive in go-spiffe: `SPIFFE://` is rejected.
  if (!text.startsWith(SCHEME)) return failure("wrong_scheme", "a SPIFFE ID must start with `spiffe://`");
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf("/");
  const td = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  // Report query/fragment before the character rules so the message names the real mistake.
  const q = td.indexOf("?");
  if (q !== -1) return failure("query", "a SPIFFE ID must not contain a query (`?`)");
  const h = td.indexOf("#");
  if (h !== -1) return failure("fragment", "a SPIFFE ID must not contain a fragment (`#`)");
  const tdError = validateTrustDomain(td);
  if (tdError) return tdError;
  const pathError = validateSpiffePath(path, allowSegment);
  if (pathError) return pathError;
  return { ok: true, value: { id: text, trustDomain: td, path } };
}
