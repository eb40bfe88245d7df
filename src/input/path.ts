/**
 * Request-target canonicalization: Envoy's raw `:path` (path and query, as the
 * client sent them) → one canonical path that policies match, or a refusal
 * naming the rule it breaks. docs/paths.md is the user-facing statement of
 * every step here; keep the two in step.
 *
 * Most authorization bypasses in this field came from two components reading
 * one path two ways (Istio CVE-2021-31920 `//admin` and `%2F`; Tomcat's `..;`;
 * OPA-Envoy CVE-2026-26205 reading `//admin/x` as a URL with authority
 * `admin`). So the target is never parsed as a URL: it is split at the first
 * `?`, then scanned once, character by character, and whatever has no single
 * reading is refused. What remains is normalized per RFC 3986 §6.2.2
 * (percent-encoding case, decoding of unreserved characters exactly once, dot
 * segments per §5.2.4), then repeated slashes are merged.
 *
 * The canonical form (with the default options) is:
 * - it starts with `/`; segments are separated by exactly one `/`; no segment
 *   is empty (a trailing `/` is kept and significant) or `.` or `..`;
 * - it contains, raw, only ALPHA DIGIT `-._~` (unreserved), `!$&'()*+,=`
 *   (sub-delims except `;`), `:` and `@`; everything else is a `%XX` triplet
 *   with upper-case hex that never encodes an unreserved character. `%25` is a
 *   literal `%`, so the text `%2F` in a path is canonically `%252F` and can
 *   never turn into `/`.
 * Canonicalization is idempotent under the same options (replay feeds
 * recorded canonical paths back through it).
 */
import { codeUnitName, percentByteAt, percentEncodeByte, percentEncodeCodePoint, quote, readPercentUtf8 } from "./text.js";

/** A rule a request target can break; the `detail` of a `malformed_path` denial starts with it. */
export type PathRule =
  | "empty_path"
  | "not_origin_form"
  | "asterisk_form"
  | "absolute_form"
  | "fragment"
  | "invalid_percent_encoding"
  | "invalid_utf8"
  | "encoded_slash"
  | "encoded_backslash"
  | "encoded_control"
  | "backslash"
  | "raw_control_or_space"
  | "raw_non_ascii"
  | "raw_invalid_unicode"
  | "path_parameter"
  | "dot_segment_parameter"
  | "ambiguous_dot_segment";

/**
 * Explicit relaxations of the path rules, for services that need them. Each is
 * off by default; when one is used on a request, the result lists it in
 * `relaxed` so the audit record shows it (never silently).
 */
export interface PathOptions {
  /** `fragment`: cut the target at the first `#` instead of refusing it. */
  readonly allowFragment?: boolean;
  /** `path_parameter`: keep `;` as an ordinary character. `..;` and `.;` segments stay refused. */
  readonly allowSemicolons?: boolean;
  /** `encoded_slash` and `encoded_backslash`: keep `%2F` / `%5C` encoded (upper-cased); never decoded, never a separator. */
  readonly allowEncodedSlash?: boolean;
  /** `encoded_control`: keep `%00`-`%1F` and `%7F` encoded (upper-cased); never decoded. */
  readonly allowEncodedControl?: boolean;
  /** `backslash`: treat a raw `\` as `/`, as Envoy's `normalize_path` and Istio's `BASE` normalization do. */
  readonly allowBackslash?: boolean;
  /** `raw_non_ascii`: percent-encode raw non-ASCII characters as UTF-8 (`/á` → `/%C3%A1`). */
  readonly allowRawNonAscii?: boolean;
  /** `absolute_form`: accept `scheme://authority/path` and use only its path (the host comes from `:authority`). */
  readonly allowAbsoluteForm?: boolean;
  /** `asterisk_form`: accept the target `*` (`OPTIONS *`); its canonical path is `*`. */
  readonly allowAsteriskForm?: boolean;
  /**
   * `ambiguous_dot_segment`: when a `..` follows an empty segment (`/a//../b`),
   * merge slashes first (`/b`, as nginx does) instead of refusing; by default
   * the target is refused because RFC 3986 order gives `/a/b`.
   */
  readonly mergeSlashesFirst?: boolean;
}

/** The result of `canonicalizePath`. */
export type CanonicalTarget =
  | {
      readonly ok: true;
      /** The canonical path. */
      readonly path: string;
      /** The raw text after the first `?` (not decoded), or undefined when there is no `?`. */
      readonly query: string | undefined;
      /** The relaxations this target needed (empty when none). */
      readonly relaxed: readonly PathRule[];
    }
  | { readonly ok: false; readonly rule: PathRule; readonly detail: string };

const NO_RELAXATION: readonly PathRule[] = Object.freeze([]);

/**
 * Character classes for the ASCII range:
 * 1 = copied as is (unreserved, sub-delims except `;`, `:`, `@`);
 * 2 = visible ASCII that RFC 3986 does not allow raw in a path (`"<>[]^`{|}`): percent-encoded;
 * 0 = needs a rule (`/`, `%`, `;`, `\`, `#`, `?`, controls, space, DEL).
 */
const CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0x21; c < 0x7f; c++) t[c] = 2;
  const copied = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@";
  for (const ch of copied) t[ch.charCodeAt(0)] = 1;
  for (const ch of "/%;\\#?") t[ch.charCodeAt(0)] = 0;
  return t;
})();

/** RFC 3986 §2.3 unreserved characters: the only ones whose percent-encoding is decoded. */
function isUnreserved(b: number): boolean {
  return (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b === 45 || b === 46 || b === 95 || b === 126;
}

function refuse(rule: PathRule, detail: string): CanonicalTarget {
  return { ok: false, rule, detail: `${rule}: ${detail}` };
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** Characters of an absolute-form authority: reg-name, IP literal, port, user info (RFC 3986 §3.2). */
const AUTHORITY = /^[A-Za-z0-9._~!$&'()*+,;=:@[\]%-]*$/;

/**
 * Canonicalizes a request target (path and optional query, as received).
 * Never throws; never parses the target as a URL.
 */
export function canonicalizePath(target: string, options: PathOptions = {}): CanonicalTarget {
  const length = target.length;
  if (length === 0) return refuse("empty_path", "the request target is empty");

  // A fragment is never sent by a conforming client; its presence means some
  // component may cut the target there and another may not.
  let end = length;
  const hash = target.indexOf("#");
  let relaxed: PathRule[] | undefined;
  if (hash !== -1) {
    if (!options.allowFragment) return refuse("fragment", `\`#\` at offset ${hash} starts a fragment, which clients never send`);
    end = hash;
    relaxed = ["fragment"];
  }

  const first = target.charCodeAt(0);
  if (first !== 47) {
    if (first === 92) {
      // `\admin`: refused as a backslash (or read as `/admin` when allowed), below.
      if (!options.allowBackslash) return refuse("backslash", "raw `\\` at offset 0; backslashes are refused");
    } else if (end === 1 && first === 42) {
      if (!options.allowAsteriskForm) return refuse("asterisk_form", "the asterisk-form target `*` is refused");
      return { ok: true, path: "*", query: undefined, relaxed: [...(relaxed ?? []), "asterisk_form"] };
    } else if (ABSOLUTE_FORM.test(target)) {
      return absoluteForm(target, end, options, relaxed);
    } else {
      return refuse("not_origin_form", `the request target must start with \`/\`, got ${quote(target, 16)}`);
    }
  }

  const q = target.indexOf("?");
  const pathEnd = q !== -1 && q < end ? q : end;
  const query = q !== -1 && q < end ? target.slice(q + 1, end) : undefined;

  // Fast path: already canonical plain ASCII (no `%`, `;`, `\`, `//`, no
  // segment starting with `.`) is returned as is, without allocation.
  if (first === 47) {
    let plain = true;
    let prevSlash = true;
    for (let i = 1; i < pathEnd; i++) {
      const c = target.charCodeAt(i);
      if (c === 47) {
        if (prevSlash) {
          plain = false;
          break;
        }
        prevSlash = true;
        continue;
      }
      if (c >= 128 || CLASS[c] !== 1 || (c === 46 && prevSlash)) {
        plain = false;
        break;
      }
      prevSlash = false;
    }
    if (plain) {
      return { ok: true, path: pathEnd === length ? target : target.slice(0, pathEnd), query, relaxed: relaxed ?? NO_RELAXATION };
    }
  }
  return slowPath(target, pathEnd, query, options, relaxed);
}

function absoluteForm(target: string, end: number, options: PathOptions, relaxed: PathRule[] | undefined): CanonicalTarget {
  if (!options.allowAbsoluteForm) {
    return refuse("absolute_form", `the absolute-form target ${quote(target, 32)} is refused; only \`/path\` targets are accepted`);
  }
  const start = target.indexOf("://") + 3;
  let stop = end;
  for (let i = start; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 47 || c === 63) {
      stop = i;
      break;
    }
  }
  const authority = target.slice(start, stop);
  // A `\` or other odd character in the authority is where URL parsers
  // disagree about where the path starts (WHATWG reads `\` as `/`).
  if (!AUTHORITY.test(authority)) {
    return refuse("absolute_form", `the authority ${quote(authority, 32)} of an absolute-form target contains characters that are not allowed there`);
  }
  const rest = stop === end ? "/" : target.charCodeAt(stop) === 63 ? "/" + target.slice(stop, end) : target.slice(stop, end);
  const inner = canonicalizePath(rest, { ...options, allowAbsoluteForm: false, allowFragment: false });
  if (!inner.ok) return inner;
  return { ...inner, relaxed: [...(relaxed ?? []), "absolute_form", ...inner.relaxed] };
}

function slowPath(target: string, pathEnd: number, query: string | undefined, options: PathOptions, relaxedIn: PathRule[] | undefined): CanonicalTarget {
  let relaxed = relaxedIn;
  const relax = (rule: PathRule): void => {
    if (!relaxed) relaxed = [rule];
    else if (!relaxed.includes(rule)) relaxed.push(rule);
  };
  if (target.charCodeAt(0) === 92) relax("backslash");

  const segments: string[] = [];
  let cur = "";
  let runStart = 1;
  let i = 1;
  while (i < pathEnd) {
    const c = target.charCodeAt(i);
    if (c < 128 && CLASS[c] === 1) {
      i++;
      continue;
    }
    // Flush the run of plain characters before the special one.
    if (runStart < i) cur += target.slice(runStart, i);
    if (c === 47) {
      segments.push(cur);
      cur = "";
      i++;
    } else if (c === 37) {
      const b = percentByteAt(target, i, pathEnd);
      if (b < 0) {
        return refuse("invalid_percent_encoding", `\`%\` at offset ${i} is not followed by two hex digits: ${quote(target.slice(i, i + 3), 3)}`);
      }
      if (b >= 0x80) {
        const seq = readPercentUtf8(target, i, pathEnd);
        if (typeof seq === "string") return refuse("invalid_utf8", `${seq} at offset ${i}`);
        // Well-formed non-ASCII stays encoded, upper-cased.
        for (let j = i; j < seq.next; j += 3) cur += percentEncodeByte(percentByteAt(target, j, pathEnd));
        i = seq.next;
      } else {
        if (isUnreserved(b)) {
          cur += String.fromCharCode(b);
        } else if (b === 0x2f || b === 0x5c) {
          const rule: PathRule = b === 0x2f ? "encoded_slash" : "encoded_backslash";
          if (!options.allowEncodedSlash) {
            return refuse(rule, `${quote(target.slice(i, i + 3))} at offset ${i} encodes a \`${b === 0x2f ? "/" : "\\"}\`, which backends read two ways`);
          }
          relax(rule);
          cur += percentEncodeByte(b);
        } else if (b < 0x20 || b === 0x7f) {
          if (!options.allowEncodedControl) {
            return refuse("encoded_control", `${quote(target.slice(i, i + 3))} at offset ${i} encodes the control character ${codeUnitName(b)}`);
          }
          relax("encoded_control");
          cur += percentEncodeByte(b);
        } else {
          // Reserved or otherwise meaningful (`%25`, `%3B`, `%3F`, `%20`, ...): stays encoded.
          cur += percentEncodeByte(b);
        }
        i += 3;
      }
    } else if (c === 59) {
      // Checked before the option: a `.;` / `..;` segment is refused even when `;` is allowed.
      if (cur === "." || cur === "..") {
        return refuse("dot_segment_parameter", `the segment \`${cur};\` at offset ${i - cur.length} is a dot segment with a parameter, which servlet containers read as \`${cur}\``);
      }
      if (!options.allowSemicolons) {
        return refuse("path_parameter", `\`;\` at offset ${i} starts a path parameter, which some backends silently drop`);
      }
      relax("path_parameter");
      cur += ";";
      i++;
    } else if (c === 92) {
      if (!options.allowBackslash) return refuse("backslash", `raw \`\\\` at offset ${i}; backslashes are refused`);
      relax("backslash");
      segments.push(cur);
      cur = "";
      i++;
    } else if (c < 0x21 || c === 0x7f) {
      return refuse("raw_control_or_space", `raw ${codeUnitName(c)} at offset ${i}; only visible ASCII is allowed in a path`);
    } else if (c >= 0x80) {
      if (!options.allowRawNonAscii) {
        return refuse("raw_non_ascii", `raw ${codeUnitName(c)} at offset ${i}; non-ASCII characters must be percent-encoded as UTF-8`);
      }
      const cp = target.codePointAt(i) as number;
      if (cp >= 0xd800 && cp <= 0xdfff) {
        // A lone surrogate has no UTF-8 encoding: no client can have sent it.
        return refuse("raw_invalid_unicode", `lone surrogate ${codeUnitName(cp)} at offset ${i} is not a character`);
      }
      relax("raw_non_ascii");
      cur += percentEncodeCodePoint(cp);
      i += cp > 0xffff ? 2 : 1;
    } else {
      // `"<>[]^`{|}`: visible but not allowed raw in a path; its canonical form is encoded.
      cur += percentEncodeByte(c);
      i++;
    }
    runStart = i;
  }
  if (runStart < pathEnd) cur += target.slice(runStart, pathEnd);
  segments.push(cur);

  const rfcOrder = resolve(segments);
  // `..` after an empty segment: RFC 3986 order pops the empty segment
  // (`/a//../b` → `/a/b`), a backend that merges slashes first pops `a` (`/b`).
  if (hasInnerEmptySegment(segments) && segments.includes("..")) {
    const mergedFirst = resolve(segments.filter((s, k) => s !== "" || k === segments.length - 1));
    if (mergedFirst !== rfcOrder) {
      if (!options.mergeSlashesFirst) {
        return refuse(
          "ambiguous_dot_segment",
          `\`..\` after an empty segment resolves to ${quote(rfcOrder, 32)} per RFC 3986 but to ${quote(mergedFirst, 32)} when slashes are merged first`,
        );
      }
      relax("ambiguous_dot_segment");
      return { ok: true, path: mergedFirst, query, relaxed: relaxed ?? NO_RELAXATION };
    }
  }
  return { ok: true, path: rfcOrder, query, relaxed: relaxed ?? NO_RELAXATION };
}

function hasInnerEmptySegment(segments: readonly string[]): boolean {
  for (let k = 0; k < segments.length - 1; k++) if (segments[k] === "") return true;
  return false;
}

/**
 * Removes dot segments (RFC 3986 §5.2.4, on a segment list: a final `.` or
 * `..` leaves a trailing slash; `..` at the root stays at the root), then
 * merges repeated slashes (drops empty segments, keeping a trailing slash).
 */
function resolve(segments: readonly string[]): string {
  const out: string[] = [];
  const last = segments.length - 1;
  for (let k = 0; k <= last; k++) {
    const seg = segments[k] as string;
    if (seg === ".") {
      if (k === last) out.push("");
    } else if (seg === "..") {
      out.pop();
      if (k === last) out.push("");
    } else {
      out.push(seg);
    }
  }
  let path = "";
  for (const seg of out) if (seg !== "") path += "/" + seg;
  if (path === "") return "/";
  return out[out.length - 1] === "" ? path + "/" : path;
}
