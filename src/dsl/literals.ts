/**
 * Validation and normalization of literal values: durations, RFC 3339
 * timestamps, IP addresses and CIDRs, segment globs, SPIFFE ID patterns and
 * RE2 regexes. Each function returns the parsed value or a lower-case
 * reason; the checker turns reasons into diagnostics with spans. Pure.
 */
import ipaddr from "ipaddr.js";
import { RE2JS } from "re2js";
import { parseSpiffeId, validateTrustDomain } from "../spiffe-id.js";

/** A parsed value, or why the text is not one (lower-case, user text in backticks). */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string; readonly help?: string };

function good<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function bad<T>(reason: string, help?: string): Parsed<T> {
  return help === undefined ? { ok: false, reason } : { ok: false, reason, help };
}

const DURATION_UNITS_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_HELP = "a duration is whole numbers with units, largest first: `250ms`, `30s`, `15m`, `24h`, `7d`, `1h30m`";

/**
 * Parses a duration literal (`30s`, `15m`, `24h`, `7d`, `250ms`, `1h30m`) to
 * milliseconds. Units go largest first and each at most once, as in Go's
 * `time.ParseDuration` output; fractions (`1.5h`) are not accepted.
 */
export function parseDuration(text: string): Parsed<number> {
  const m = DURATION_PATTERN.exec(text);
  if (!m || text.length === 0 || m.slice(1).every((g) => g === undefined)) {
    return bad(`invalid duration \`${text}\``, DURATION_HELP);
  }
  const [, d, h, min, s, ms] = m;
  let total = 0;
  const parts: [string | undefined, number][] = [
    [d, DURATION_UNITS_MS.d],
    [h, DURATION_UNITS_MS.h],
    [min, DURATION_UNITS_MS.m],
    [s, DURATION_UNITS_MS.s],
    [ms, DURATION_UNITS_MS.ms],
  ];
  for (const [digits, unit] of parts) if (digits !== undefined) total += Number(digits) * unit;
  if (!Number.isSafeInteger(total)) return bad(`duration \`${text}\` is too long`);
  return good(total);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses an RFC 3339 timestamp (`2026-11-22T10:00:00Z`, `…+01:00`, with
 * optional fractional seconds) to epoch milliseconds. Every field is range
 * checked (no `2026-02-30`); a leap second (`:60`) counts as the next second.
 */
export function parseTimestamp(text: string): Parsed<number> {
  const m = RFC3339.exec(text);
  const help = "write an RFC 3339 timestamp with a zone, e.g. `2026-11-22T10:00:00Z` or `2026-11-22T11:00:00+01:00`";
  if (!m) return bad(`invalid timestamp \`${text}\``, help);
  const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12) return bad(`invalid timestamp \`${text}\`: month ${mo} is out of range`, help);
  if (day < 1 || day > daysInMonth(year, month)) return bad(`invalid timestamp \`${text}\`: day ${d} is out of range`, help);
  if (hour > 23 || minute > 59 || second > 60) return bad(`invalid timestamp \`${text}\`: the time is out of range`, help);
  let offsetMinutes = 0;
  if (sign !== undefined) {
    const ohn = Number(oh);
    const omn = Number(om);
    if (ohn > 23 || omn > 59) return bad(`invalid timestamp \`${text}\`: the zone offset is out of range`, help);
    offsetMinutes = (sign === "-" ? -1 : 1) * (ohn * 60 + omn);
  }
  const millis = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  if (!Number.isFinite(ms)) return bad(`invalid timestamp \`${text}\``, help);
  return good(ms);
}

/**
 * Parses an IP address strictly: IPv4 only as four decimal octets (no
 * `10.1`, `0x0a.0.0.1` or octal `010.0.0.1`, which inet_aton-style parsers
 * read as other addresses), IPv6 without a zone. Returns the canonical text
 * (dotted quad, or RFC 5952 compressed lower-case IPv6).
 */
export function parseIp(text: string): Parsed<string> {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return good(ipaddr.IPv4.parse(text).toString());
  if (!text.includes("%") && ipaddr.IPv6.isValid(text) && !ipaddr.IPv4.isValid(text)) return good(ipaddr.IPv6.parse(text).toRFC5952String());
  const help = "write an IPv4 address as four decimal numbers (`10.0.0.1`) or an IPv6 address (`2001:db8::1`)";
  return bad(`invalid IP address \`${text}\``, help);
}

/** A normalized CIDR, and whether the written address had bits set beyond the prefix (`10.0.0.1/8`). */
export interface NormalizedCidr {
  readonly cidr: string;
  readonly hostBitsSet: boolean;
}

/**
 * Parses a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a bare address (which
 * gets a full-length prefix) and normalizes it to its network address.
 */
export function parseCidr(text: string): Parsed<NormalizedCidr> {
  const help = "write a CIDR such as `10.0.0.0/8` or `2001:db8::/32`, or a single address";
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseIp(addressText);
  if (!address.ok) return bad(`invalid CIDR \`${text}\`: \`${addressText}\` is not an IP address`, help);
  const v4 = ipaddr.IPv4.isValidFourPartDecimal(addressText);
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      return bad(`invalid CIDR \`${text}\`: the prefix length must be 0 to ${max}`, help);
    }
    prefix = Number(prefixText);
  }
  const network = v4 ? ipaddr.IPv4.networkAddressFromCIDR(`${address.value}/${prefix}`).toString() : ipaddr.IPv6.networkAddressFromCIDR(`${address.value}/${prefix}`).toRFC5952String();
  return good({ cidr: `${network}/${prefix}`, hostBitsSet: network !== address.value });
}

/**
 * Checks a segment glob: `*` matches within one `/`-separated segment,
 * `**` matches any number of whole segments and must therefore be a whole
 * segment itself. No other character is special.
 */
export function validateGlob(pattern: string): Parsed<string> {
  if (pattern.length === 0) return bad("the pattern is empty");
  for (const segment of pattern.split("/")) {
    if (segment.includes("**") && segment !== "**") {
      return bad(`invalid glob \`${pattern}\`: \`**\` must be a whole segment, as in \`/a/**/b\``, "use `*` to match within one segment and `**` alone between slashes for any number of segments");
    }
  }
  return good(pattern);
}

function isSpiffePathChar(c: string): boolean {
  return /^[A-Za-z0-9._-]$/.test(c);
}

/**
 * Checks a SPIFFE ID pattern for `matches`: a SPIFFE ID (SPIFFE-ID.md) where
 * path segments may be globs (`*`, `ns-*`, `**`) and the trust domain may
 * use `*` within its name (`*.example.com`). A pattern without globs must be
 * a valid SPIFFE ID.
 */
export function validateSpiffePattern(pattern: string): Parsed<string> {
  const glob = validateGlob(pattern);
  if (!glob.ok) return glob;
  const scheme = "spiffe://";
  if (!pattern.startsWith(scheme)) return bad(`invalid SPIFFE ID pattern \`${pattern}\`: a SPIFFE ID must start with \`spiffe://\``);
  const rest = pattern.slice(scheme.length);
  const slash = rest.indexOf("/");
  const td = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (td === "**") return bad(`invalid SPIFFE ID pattern \`${pattern}\`: the trust domain cannot be \`**\``, "use `*` for any trust domain, or compare `caller.trust_domain`");
  // Check the trust domain with each `*` standing for a letter: `*.example.com` is fine, `*.Example.com` is not.
  const tdError = td === "*" ? undefined : validateTrustDomain(td.replace(/\*/g, "a"));
  if (tdError && !tdError.ok) return bad(`invalid SPIFFE ID pattern \`${pattern}\`: ${tdError.message}`);
  const result = parseSpiffeId(`${scheme}example.org${path}`, (segment) => segment.includes("*") && [...segment].every((c) => c === "*" || isSpiffePathChar(c)));
  if (!result.ok) return bad(`invalid SPIFFE ID pattern \`${pattern}\`: ${result.message}`);
  return good(pattern);
}

/** Checks a SPIFFE ID literal exactly as the SPIFFE ID specification demands. */
export function validateSpiffeId(text: string): Parsed<string> {
  const result = parseSpiffeId(text);
  if (result.ok) return good(text);
  const help = text.includes("*") ? "to match a pattern, use `matches`" : undefined;
  return bad(`invalid SPIFFE ID \`${text}\`: ${result.message}`, help);
}

/**
 * Compiles a regex with RE2 semantics (re2js: linear time, no backreferences
 * or lookaround), which is what the engine runs; returns the pattern.
 */
export function validateRegex(pattern: string): Parsed<string> {
  try {
    RE2JS.compile(pattern);
    return good(pattern);
  } catch (e) {
    const detail = e instanceof Error ? e.message.replace(/^error parsing regexp: /, "") : String(e);
    return bad(`invalid regex \`${pattern}\`: ${detail}`, "regexes use RE2 syntax: https://github.com/google/re2/wiki/Syntax (no backreferences or lookaround)");
  }
}

/** Checks an OID in dotted decimal form (`1.3.6.1.4.1.99999.1`), as `cert.extension["…"]` takes it. */
export function isDottedOid(text: string): boolean {
  return /^[0-2](?:\.(?:0|[1-9]\d*))+$/.test(text);
}

/** RFC 9110 §5.6.2 `tchar`, lower-case letters only (names are lower-cased by Ward), for header names. */
export function isLowerCaseHeaderName(text: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(text);
}

/** RFC 9110 `tchar` in any case. */
export function isHeaderName(text: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text);
}

/** Characters a canonical request path holds raw (docs/paths.md, "The canonical form"), `%` aside. */
const CANONICAL_PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,=:@;/]$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * Why a text can never occur in a canonical request path (docs/paths.md), or
 * undefined when it can: raw characters Ward percent-encodes, lower-case or
 * needless percent-encoding, and `//` (repeated slashes are merged). Globs
 * use the same characters (`*` is an ordinary path character too).
 */
export function canonicalPathProblem(text: string): { readonly reason: string; readonly help: string } | undefined {
  if (text.includes("//")) {
    return { reason: "repeated slashes are merged in `request.path`", help: `write \`"${text.replace(/\/{2,}/g, "/")}"\`` };
  }
  let fixed = "";
  let problem: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        problem ??= `\`%${hex}\` is not a percent-encoded byte`;
        fixed += "%25";
        continue;
      }
      const byte = parseInt(hex, 16);
      const ch = String.fromCharCode(byte);
      if (byte < 0x80 && UNRESERVED.test(ch)) {
        problem ??= `\`%${hex}\` encodes \`${ch}\`, which a canonical path holds unencoded`;
        fixed += ch;
      } else if (hex !== hex.toUpperCase()) {
        problem ??= `a canonical path writes percent-encoding in upper case (\`%${hex.toUpperCase()}\`)`;
        fixed += `%${hex.toUpperCase()}`;
      } else fixed += `%${hex}`;
      i += 2;
      continue;
    }
    const code = c.codePointAt(0) as number;
    if (CANONICAL_PATH_CHAR.test(c)) {
      fixed += c;
      continue;
    }
    const char = code > 0xffff ? String.fromCodePoint(code) : c;
    problem ??= `a canonical path holds \`${char}\` percent-encoded`;
    fixed += [...new TextEncoder().encode(char)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
    if (code > 0xffff) i++;
  }
  return problem === undefined ? undefined : { reason: problem, help: `write \`"${fixed}"\`` };
}
