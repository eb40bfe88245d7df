/**
 * Network names and addresses: the `:authority` → `request.host`, and the
 * peer addresses → `source.ip` / `destination.ip`. Strict parsers of our own
 * rather than a general one, because the lenient forms (`127.1`, `0x7f.0.0.1`,
 * `010.0.0.1`, zone ids) are exactly where two parsers disagree about which
 * address a CIDR rule is looking at.
 */
import { quote } from "./text.js";

/** The result of `canonicalizeHost`. */
export type CanonicalHost = { readonly ok: true; readonly host: string } | { readonly ok: false; readonly detail: string };

/** RFC 1035 §2.3.4 limits a name to 255 octets. */
const MAX_HOST_LENGTH = 255;

function isNameChar(c: number): boolean {
  // Letters, digits, `-`, `.`, and `_` (seen in service names) only.
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || c === 45 || c === 46 || c === 95;
}

/**
 * Canonicalizes a Host / `:authority` value: lower-cased, port removed, one
 * trailing dot removed (`a.example.` is `a.example`), IPv6 literals kept in
 * brackets in RFC 5952 form. Refuses anything else (user info, `%`, non-ASCII,
 * empty labels, a bad port, an unbracketed IPv6 address). An empty host stays empty.
 */
export function canonicalizeHost(raw: string): CanonicalHost {
  const length = raw.length;
  if (length === 0) return { ok: true, host: "" };
  if (length > MAX_HOST_LENGTH + 6) return { ok: false, detail: `host: ${quote(raw, 32)} is longer than ${MAX_HOST_LENGTH} characters` };
  // Fast path: an already canonical name without a port.
  let plain = raw.charCodeAt(0) !== 46 && raw.charCodeAt(length - 1) !== 46;
  for (let i = 0; plain && i < length; i++) {
    const c = raw.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || (c === 46 && raw.charCodeAt(i + 1) !== 46))) plain = false;
  }
  if (plain) return { ok: true, host: raw };

  let name: string;
  let port: string | undefined;
  if (raw.charCodeAt(0) === 91) {
    const close = raw.indexOf("]");
    if (close === -1) return { ok: false, detail: `host: ${quote(raw, 32)} opens an IPv6 literal with \`[\` but never closes it` };
    const rest = raw.slice(close + 1);
    if (rest.length > 0 && rest.charCodeAt(0) !== 58) return { ok: false, detail: `host: ${quote(raw, 32)} has text after the IPv6 literal` };
    if (rest.length > 0) port = rest.slice(1);
    const parts = parseIpv6(raw.slice(1, close));
    if (!parts) return { ok: false, detail: `host: ${quote(raw.slice(1, close), 48)} is not an IPv6 address (zone ids are not accepted)` };
    name = "[" + formatIpv6(parts) + "]";
  } else {
    const colon = raw.indexOf(":");
    if (colon !== -1) {
      if (raw.indexOf(":", colon + 1) !== -1) return { ok: false, detail: `host: ${quote(raw, 48)} has more than one \`:\`; an IPv6 address must be in brackets` };
      port = raw.slice(colon + 1);
    }
    name = colon === -1 ? raw : raw.slice(0, colon);
    if (name.length === 0) return { ok: false, detail: `host: ${quote(raw, 32)} has an empty name` };
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (!isNameChar(c)) return { ok: false, detail: `host: ${quote(raw, 48)} contains a character not allowed in a host name at offset ${i}` };
    }
    if (name.charCodeAt(name.length - 1) === 46) name = name.slice(0, -1);
    // After the one trailing dot is gone, another one (`a.example..`) is an empty label, not a second root.
    if (name.length === 0 || name.charCodeAt(0) === 46 || name.charCodeAt(name.length - 1) === 46 || name.includes("..")) {
      return { ok: false, detail: `host: ${quote(raw, 48)} has an empty label` };
    }
    if (name.length > MAX_HOST_LENGTH) return { ok: false, detail: `host: ${quote(raw, 32)} is longer than ${MAX_HOST_LENGTH} characters` };
    name = name.toLowerCase();
  }
  if (port !== undefined && port.length > 0 && parsePort(port) === undefined) {
    return { ok: false, detail: `host: ${quote(raw, 48)} has an invalid port ${quote(port, 8)}` };
  }
  return { ok: true, host: name };
}

/** Parses a decimal port `0`-`65535` (at most 5 digits). */
export function parsePort(text: string): number | undefined {
  if (text.length === 0 || text.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n <= 65535 ? n : undefined;
}

/** Parses a dotted-quad IPv4 address strictly: four decimal octets, no leading zeros. */
export function parseIpv4(text: string): readonly number[] | undefined {
  const out: number[] = [];
  return scanIpv4(text, out) ? out : undefined;
}

/** Whether `text` is a strict dotted quad (as `parseIpv4` reads it), without building its octets. */
function isIpv4(text: string): boolean {
  return scanIpv4(text, undefined);
}

function scanIpv4(text: string, out: number[] | undefined): boolean {
  let start = 0;
  for (let k = 0; k < 4; k++) {
    const dot = k < 3 ? text.indexOf(".", start) : text.length;
    if (dot === -1) return false;
    const len = dot - start;
    if (len < 1 || len > 3) return false;
    if (len > 1 && text.charCodeAt(start) === 48) return false; // `010` is octal to some parsers
    let n = 0;
    for (let i = start; i < dot; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return false;
      n = n * 10 + d;
    }
    if (n > 255) return false;
    out?.push(n);
    start = dot + 1;
  }
  return true;
}

/**
 * Parses an IPv6 address (RFC 4291 §2.2: hex groups, one `::`, an optional
 * trailing dotted quad) into 8 16-bit groups. No zone id, no brackets.
 */
export function parseIpv6(text: string): readonly number[] | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const dbl = text.indexOf("::");
  if (dbl !== -1 && text.indexOf("::", dbl + 1) !== -1) return undefined;
  const head = dbl === -1 ? text : text.slice(0, dbl);
  const tail = dbl === -1 ? "" : text.slice(dbl + 2);
  const headGroups = head.length === 0 ? [] : head.split(":");
  const tailGroups = tail.length === 0 ? [] : tail.split(":");
  const groups: number[] = [];
  const tailParsed: number[] = [];
  const readGroups = (list: string[], into: number[], allowV4Last: boolean): boolean => {
    for (let k = 0; k < list.length; k++) {
      const g = list[k] as string;
      if (allowV4Last && k === list.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (!v4) return false;
        into.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
        continue;
      }
      if (g.length < 1 || g.length > 4) return false;
      let n = 0;
      for (let i = 0; i < g.length; i++) {
        const c = g.charCodeAt(i);
        const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
        if (d < 0) return false;
        n = n * 16 + d;
      }
      into.push(n);
    }
    return true;
  };
  if (!readGroups(headGroups, groups, dbl === -1)) return undefined;
  if (!readGroups(tailGroups, tailParsed, true)) return undefined;
  if (dbl === -1) return groups.length === 8 ? groups : undefined;
  const missing = 8 - groups.length - tailParsed.length;
  if (missing < 1) return undefined;
  for (let k = 0; k < missing; k++) groups.push(0);
  groups.push(...tailParsed);
  return groups;
}

/** Formats 8 groups per RFC 5952 §4: lower-case hex, no leading zeros, the longest run of 2+ zero groups (the first on a tie) as `::`. */
export function formatIpv6(parts: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (parts[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && parts[e] === 0) e++;
    if (e - k > bestLen) {
      bestStart = k;
      bestLen = e - k;
    }
    k = e;
  }
  const hex = (from: number, to: number): string => parts.slice(from, to).map((p) => p.toString(16)).join(":");
  if (bestStart === -1) return hex(0, 8);
  return hex(0, bestStart) + "::" + hex(bestStart + bestLen, 8);
}

/**
 * Canonicalizes a peer IP address: a strict dotted quad, or an IPv6 address
 * in RFC 5952 form; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a
 * dual-stack listener reports for IPv4 peers) becomes the IPv4 address, so a
 * CIDR rule sees one form. Undefined when the text is not an IP address.
 */
export function canonicalizeIp(text: string): string | undefined {
  if (isIpv4(text)) return text;
  const parts = parseIpv6(text);
  if (!parts) return undefined;
  if (parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0xffff) {
    const hi = parts[6] as number;
    const lo = parts[7] as number;
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return formatIpv6(parts);
}
