/**
 * Small character-level helpers shared by the path, query, host and header
 * rules: character classes (RFC 3986 §2, RFC 9110 §5.6.2), percent-encoding,
 * strict UTF-8 validation of percent-encoded bytes (RFC 3629 §4, which is what
 * rules out overlong forms such as `%C0%AE`), and quoting user text safely
 * into a rejection detail.
 */

/** Upper-case hex digits, for percent-encoding. */
const HEX = "0123456789ABCDEF";

/** Value of a hex digit, or -1. */
export function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Reads the byte of a `%XX` triplet at `i` (which must hold `%`), or -1 when it is not one. */
export function percentByteAt(text: string, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const hi = hexValue(text.charCodeAt(i + 1));
  const lo = hexValue(text.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/** `%XX` with upper-case hex (RFC 3986 §6.2.2.1: the canonical case). */
export function percentEncodeByte(b: number): string {
  return "%" + HEX[b >> 4] + HEX[b & 15];
}

/** Percent-encodes one code point as UTF-8 bytes. */
export function percentEncodeCodePoint(cp: number): string {
  if (cp < 0x80) return percentEncodeByte(cp);
  if (cp < 0x800) return percentEncodeByte(0xc0 | (cp >> 6)) + percentEncodeByte(0x80 | (cp & 63));
  if (cp < 0x10000) {
    return percentEncodeByte(0xe0 | (cp >> 12)) + percentEncodeByte(0x80 | ((cp >> 6) & 63)) + percentEncodeByte(0x80 | (cp & 63));
  }
  return (
    percentEncodeByte(0xf0 | (cp >> 18)) +
    percentEncodeByte(0x80 | ((cp >> 12) & 63)) +
    percentEncodeByte(0x80 | ((cp >> 6) & 63)) +
    percentEncodeByte(0x80 | (cp & 63))
  );
}

/** A well-formed UTF-8 sequence read from `%XX` triplets. */
export interface PercentUtf8 {
  readonly codePoint: number;
  /** Index just after the last triplet. */
  readonly next: number;
}

/**
 * Reads one UTF-8 encoded code point from consecutive `%XX` triplets starting
 * at `i` (whose first byte is >= 0x80). Enforces RFC 3629 §4 exactly: no
 * overlong forms (`%C0%AE`, `%E0%80%AE`), no surrogates (`%ED%A0%80`), nothing
 * above U+10FFFF, no stray continuation bytes, no truncated sequences. Returns
 * a reason text when the bytes are not well-formed.
 */
export function readPercentUtf8(text: string, i: number, end: number): PercentUtf8 | string {
  const b0 = percentByteAt(text, i, end);
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  let cp: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    need = 1;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    cp = b0 & 0x0f;
    if (b0 === 0xe0) lo = 0xa0; // overlong below U+0800
    if (b0 === 0xed) hi = 0x9f; // UTF-16 surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 === 0xf0) lo = 0x90; // overlong below U+10000
    if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
  } else if (b0 === 0xc0 || b0 === 0xc1) {
    return `overlong UTF-8 sequence starting with \`${percentEncodeByte(b0)}\``;
  } else if (b0 >= 0x80 && b0 <= 0xbf) {
    return `UTF-8 continuation byte \`${percentEncodeByte(b0)}\` without a lead byte`;
  } else {
    return `byte \`${percentEncodeByte(b0)}\` never appears in UTF-8`;
  }
  let j = i + 3;
  for (let k = 0; k < need; k++) {
    const b = text.charCodeAt(j) === 37 ? percentByteAt(text, j, end) : -1;
    if (b < 0) return `truncated UTF-8 sequence starting with \`${percentEncodeByte(b0)}\``;
    if (b < lo || b > hi) {
      const start = `\`${percentEncodeByte(b0)}${percentEncodeByte(b)}\``;
      if (k === 0 && b >= 0x80 && b <= 0xbf) {
        if (b0 === 0xe0 || b0 === 0xf0) return `overlong UTF-8 sequence starting with ${start}`;
        if (b0 === 0xed) return `UTF-8 encoded surrogate starting with ${start}`;
        return `UTF-8 sequence above U+10FFFF starting with ${start}`;
      }
      return `invalid UTF-8 continuation byte \`${percentEncodeByte(b)}\``;
    }
    cp = (cp << 6) | (b & 0x3f);
    lo = 0x80;
    hi = 0xbf;
    j += 3;
  }
  return { codePoint: cp, next: j };
}

/**
 * Quotes user text for a rejection detail: at most `max` characters, anything
 * outside visible ASCII (and the backtick) escaped as `\uXXXX`, so a hostile
 * request cannot put control characters or line breaks into an audit record.
 */
export function quote(text: string, max = 64): string {
  const cut = text.length > max;
  const part = cut ? text.slice(0, max) : text;
  let out = "";
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x60 ? part[i] : "\\u" + c.toString(16).padStart(4, "0");
  }
  return "`" + out + (cut ? "…" : "") + "`";
}

/** Names a code unit for a detail: `U+0009`. */
export function codeUnitName(c: number): string {
  return "U+" + c.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * Number of UTF-8 bytes of a JS string (lone surrogates count as the three
 * bytes of U+FFFD, as an encoder would write them).
 */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 2 code units → 4 bytes
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

/** RFC 9110 §5.6.2 `tchar`: the characters of a token (methods, header names). */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (alnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) t[c] = 1;
  }
  return t;
})();

/** True when `text` is a non-empty RFC 9110 token. */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}
