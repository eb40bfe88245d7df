/**
 * IP addresses and CIDR sets for `source.ip` / `destination.ip`.
 *
 * Decisions (docs/language.md, "Addresses"):
 * - IPv4 addresses are accepted only in strict dotted-decimal form (four
 *   parts, 0–255, no leading zeros): the legacy `inet_aton` spellings
 *   (`0177.0.0.1`, `0x7f.1`, `2130706433`) are classic filter bypasses and are
 *   refused rather than guessed at.
 * - An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, RFC 4291 §2.5.5.2) *is*
 *   the IPv4 address `10.1.2.3`, on input and in CIDR literals alike
 *   (`::ffff:10.0.0.0/104` is `10.0.0.0/8`). Any other IPv6 CIDR (`::/0`,
 *   `64:ff9b::/96`, `::ffff:0:0/95`) matches native IPv6 addresses only, so an
 *   allow rule for "all IPv6" never lets IPv4 callers in by accident.
 * - An IPv6 zone (`fe80::1%eth0`) is ignored for matching.
 * - A present address that is not an IP address at all is an error, not a
 *   missing value: the decision fails closed (`internal_error`) instead of
 *   letting a garbled address slip past a deny rule.
 */
import ipaddr from "ipaddr.js";

/** A parsed address: IPv4 as an unsigned 32-bit number, IPv6 as four 32-bit words. */
export type IpAddress =
  | { readonly v: 4; readonly n: number }
  | { readonly v: 6; readonly w: readonly [number, number, number, number] };

/** Parses strict dotted-decimal IPv4; undefined when it is not one. */
function parseIPv4(s: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      if (++dots > 3) return undefined;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero: `010` is octal in inet_aton
      part = part * 10 + (c - 48);
      if (part > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

function wordsOf(parts: readonly number[]): [number, number, number, number] {
  const p = (i: number): number => parts[i] ?? 0;
  return [
    ((p(0) << 16) | p(1)) >>> 0,
    ((p(2) << 16) | p(3)) >>> 0,
    ((p(4) << 16) | p(5)) >>> 0,
    ((p(6) << 16) | p(7)) >>> 0,
  ];
}

function isMapped(w: readonly number[]): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/** Parses an address (IPv4 strict, IPv6 with optional zone); IPv4-mapped IPv6 becomes IPv4. Undefined when invalid. */
export function parseIpAddress(s: string): IpAddress | undefined {
  const v4 = parseIPv4(s);
  if (v4 !== undefined) return { v: 4, n: v4 };
  if (!s.includes(":")) return undefined;
  const percent = s.indexOf("%");
  const bare = percent === -1 ? s : s.slice(0, percent);
  if (!ipaddr.IPv6.isValid(bare)) return undefined;
  // An embedded IPv4 tail must be strict dotted-decimal too.
  const lastColon = bare.lastIndexOf(":");
  const tail = bare.slice(lastColon + 1);
  if (tail.includes(".") && parseIPv4(tail) === undefined) return undefined;
  const w = wordsOf(ipaddr.IPv6.parse(bare).parts);
  if (isMapped(w)) return { v: 4, n: w[3] };
  return { v: 6, w };
}

/** A CIDR block ready for matching. */
type Block = { readonly v: 4; readonly net: number; readonly mask: number } | { readonly v: 6; readonly net: readonly number[]; readonly mask: readonly number[] };

function maskWord(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses a CIDR (or a bare address, as a full-length prefix); throws on invalid text (the checker validated it). */
export function parseCidr(text: string): Block {
  const slash = text.indexOf("/");
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const isV6Text = addrText.includes(":");
  const bits = slash === -1 ? (isV6Text ? 128 : 32) : Number(text.slice(slash + 1));
  const invalid = (): Error => new Error(`invalid CIDR \`${text}\``);
  if (!Number.isInteger(bits) || bits < 0 || bits > (isV6Text ? 128 : 32) || (slash !== -1 && !/^\d+$/.test(text.slice(slash + 1)))) {
    throw invalid();
  }
  if (!isV6Text) {
    const n = parseIPv4(addrText);
    if (n === undefined) throw invalid();
    const mask = maskWord(bits);
    return { v: 4, net: (n & mask) >>> 0, mask };
  }
  const percent = addrText.indexOf("%");
  const bare = percent === -1 ? addrText : addrText.slice(0, percent);
  if (!ipaddr.IPv6.isValid(bare)) throw invalid();
  const w = wordsOf(ipaddr.IPv6.parse(bare).parts);
  if (bits >= 96 && isMapped(w)) {
    // Inside ::ffff:0:0/96: an IPv4 block counted from bit 96 (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
    const mask = maskWord(bits - 96);
    return { v: 4, net: (w[3] & mask) >>> 0, mask };
  }
  const mask = [maskWord(bits), maskWord(bits - 32), maskWord(bits - 64), maskWord(bits - 96)];
  return { v: 6, net: w.map((x, i) => (x & (mask[i] as number)) >>> 0), mask };
}

/** A compiled CIDR set: true when the address lies in any block. */
export type CidrMatcher = (addr: IpAddress) => boolean;

/** Compiles a set of CIDRs (normalized text from the checker). */
export function compileCidrSet(cidrs: readonly string[]): CidrMatcher {
  const v4: { net: number; mask: number }[] = [];
  const v6: { net: readonly number[]; mask: readonly number[] }[] = [];
  for (const text of cidrs) {
    const block = parseCidr(text);
    if (block.v === 4) v4.push(block);
    else v6.push(block);
  }
  return (addr) => {
    if (addr.v === 4) {
      for (const b of v4) if (((addr.n & b.mask) >>> 0) === b.net) return true;
      return false;
    }
    const w = addr.w;
    for (const b of v6) {
      if (
        ((w[0] & (b.mask[0] as number)) >>> 0) === b.net[0] &&
        ((w[1] & (b.mask[1] as number)) >>> 0) === b.net[1] &&
        ((w[2] & (b.mask[2] as number)) >>> 0) === b.net[2] &&
        ((w[3] & (b.mask[3] as number)) >>> 0) === b.net[3]
      ) {
        return true;
      }
    }
    return false;
  };
}
