/**
 * A strict reader for single DER TLVs (ITU-T X.690 §8, §10 distinguished
 * encoding). Used to reject a certificate with bytes after its outer SEQUENCE
 * before the (lenient, BER-accepting) parser sees it, and to decode custom
 * extension values. Anything that is not minimal DER is refused, so two
 * encodings of one value can never decode to two different meanings.
 */

/** One tag-length-value: `tag` is the identifier octet, content is `bytes[start, end)`. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Reads the TLV at `offset`, or returns undefined when it is not strict DER:
 * high tag numbers (`0x1f`), the indefinite length (`0x80`), non-minimal long
 * lengths, lengths over 2^31, and content running past the buffer are refused.
 */
export function readTlv(bytes: Uint8Array, offset: number): Tlv | undefined {
  if (offset + 2 > bytes.length) return undefined;
  const tag = bytes[offset] as number;
  // High-tag-number form: nothing we decode uses it.
  if ((tag & 0x1f) === 0x1f) return undefined;
  const first = bytes[offset + 1] as number;
  let length: number;
  let start: number;
  if (first < 0x80) {
    length = first;
    start = offset + 2;
  } else {
    const count = first & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length octets is never a certificate.
    if (count === 0 || count > 4 || offset + 2 + count > bytes.length) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] as number);
    // DER §10.1: the long form only for lengths >= 128, with no leading zero octet.
    if (length < 0x80 || (bytes[offset + 2] as number) === 0) return undefined;
    start = offset + 2 + count;
  }
  const end = start + length;
  if (end > bytes.length) return undefined;
  return { tag, start, end };
}

/** Lower-case hex of `bytes[start, end)`, no separators. */
export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = "";
  for (let i = start; i < end; i++) out += (bytes[i] as number).toString(16).padStart(2, "0");
  return out;
}

const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_OCTET_STRING = 0x04;
const TAG_UTF8_STRING = 0x0c;
const TAG_PRINTABLE_STRING = 0x13;
const TAG_IA5_STRING = 0x16;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// X.680 §41.4 Table 10: the PrintableString alphabet.
function isPrintableStringByte(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 32 ||
    c === 39 ||
    c === 40 ||
    c === 41 ||
    c === 43 ||
    c === 44 ||
    c === 45 ||
    c === 46 ||
    c === 47 ||
    c === 58 ||
    c === 61 ||
    c === 63
  );
}

function decodeInteger(bytes: Uint8Array, start: number, end: number): string | undefined {
  if (end === start) return undefined;
  // DER §8.3.2: no redundant leading 0x00 or 0xff octet.
  if (end - start > 1) {
    const a = bytes[start] as number;
    const b = bytes[start + 1] as number;
    if ((a === 0x00 && b < 0x80) || (a === 0xff && b >= 0x80)) return undefined;
  }
  let value = BigInt(`0x${toHex(bytes, start, end)}`);
  // Two's complement: a set top bit means negative.
  if (((bytes[start] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * (end - start));
  return value.toString(10);
}

function decodeAscii(bytes: Uint8Array, start: number, end: number, allowed: (c: number) => boolean): string | undefined {
  let out = "";
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    if (!allowed(c)) return undefined;
    out += String.fromCharCode(c);
  }
  return out;
}

/**
 * Decodes a custom extension's value (the DER inside `extnValue`) to the text
 * `cert.extension["oid"]` compares with: UTF8String, PrintableString and
 * IA5String as their text; INTEGER in decimal (negative with `-`); BOOLEAN as
 * `true`/`false`; OCTET STRING as the lower-case hex of its octets. Anything
 * else (other types, constructed values, invalid characters, non-DER
 * encodings, trailing bytes) is the lower-case hex of the whole value, so no
 * value is ever lost or made up.
 */
export function decodeExtensionValue(value: Uint8Array): string {
  const whole = toHex(value);
  const tlv = readTlv(value, 0);
  if (!tlv || tlv.end !== value.length) return whole;
  const { start, end } = tlv;
  let decoded: string | undefined;
  switch (tlv.tag) {
    case TAG_UTF8_STRING:
      try {
        decoded = utf8.decode(value.subarray(start, end));
      } catch {
        decoded = undefined;
      }
      break;
    case TAG_PRINTABLE_STRING:
      decoded = decodeAscii(value, start, end, isPrintableStringByte);
      break;
    case TAG_IA5_STRING:
      decoded = decodeAscii(value, start, end, (c) => c < 0x80);
      break;
    case TAG_INTEGER:
      decoded = decodeInteger(value, start, end);
      break;
    case TAG_BOOLEAN:
      // DER §11.1: TRUE is 0xff, FALSE is 0x00, one octet.
      if (end - start === 1 && value[start] === 0xff) decoded = "true";
      else if (end - start === 1 && value[start] === 0x00) decoded = "false";
      break;
    case TAG_OCTET_STRING:
      decoded = toHex(value, start, end);
      break;
  }
  return decoded ?? whole;
}

/** basicConstraints (RFC 5280 §4.2.1.9). */
export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLength?: number;
}

/**
 * Decodes basicConstraints: `SEQUENCE { cA BOOLEAN DEFAULT FALSE,
 * pathLenConstraint INTEGER (0..MAX) OPTIONAL }`. Undefined when malformed.
 */
export function decodeBasicConstraints(value: Uint8Array): BasicConstraints | undefined {
  const seq = readTlv(value, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== value.length) return undefined;
  let at = seq.start;
  let ca = false;
  let pathLength: number | undefined;
  if (at < seq.end && value[at] === TAG_BOOLEAN) {
    const b = readTlv(value, at);
    if (!b || b.end - b.start !== 1) return undefined;
    const v = value[b.start] as number;
    // DER encodes TRUE as 0xff and omits a FALSE default; an explicit 0x00 is read as false.
    if (v !== 0xff && v !== 0x00) return undefined;
    ca = v === 0xff;
    at = b.end;
  }
  if (at < seq.end && value[at] === TAG_INTEGER) {
    const n = readTlv(value, at);
    if (!n || n.end - n.start < 1 || n.end - n.start > 4) return undefined;
    const text = decodeInteger(value, n.start, n.end);
    if (text === undefined || text.startsWith("-")) return undefined;
    pathLength = Number(text);
    at = n.end;
  }
  if (at !== seq.end) return undefined;
  return pathLength === undefined ? { ca } : { ca, pathLength };
}

/** The keyUsage bits Ward reads (RFC 5280 §4.2.1.3). */
export interface KeyUsage {
  readonly digitalSignature: boolean;
  readonly keyCertSign: boolean;
  readonly crlSign: boolean;
}

/** Decodes keyUsage, a BIT STRING (bit 0 digitalSignature, 5 keyCertSign, 6 cRLSign). Undefined when malformed. */
export function decodeKeyUsage(value: Uint8Array): KeyUsage | undefined {
  const bits = readTlv(value, 0);
  if (!bits || bits.tag !== 0x03 || bits.end !== value.length || bits.end - bits.start < 1) return undefined;
  const unused = value[bits.start] as number;
  if (unused > 7 || (bits.end - bits.start === 1 && unused !== 0)) return undefined;
  // X.690 §11.2.1: the unused bits are zero in DER (BoringSSL refuses others, OpenSSL masks them);
  // refusing keeps a flag hidden in the padding from meaning different things to different readers.
  if (bits.end - bits.start > 1 && ((value[bits.end - 1] as number) & ((1 << unused) - 1)) !== 0) return undefined;
  const bit = (n: number): boolean => {
    const index = bits.start + 1 + (n >> 3);
    return index < bits.end && (((value[index] as number) >> (7 - (n & 7))) & 1) === 1;
  };
  return { digitalSignature: bit(0), keyCertSign: bit(5), crlSign: bit(6) };
}

/** The subject alternative names Ward exposes, in certificate order. */
export interface AlternativeNames {
  readonly dns: string[];
  readonly uri: string[];
  readonly email: string[];
}

/**
 * Decodes subjectAltName, `GeneralNames ::= SEQUENCE SIZE (1..MAX) OF
 * GeneralName` (RFC 5280 §4.2.1.6): rfc822Name [1], dNSName [2] and
 * uniformResourceIdentifier [6] are IA5Strings and must be ASCII; the other
 * name forms are skipped; any other tag, or an empty list, is malformed.
 */
export function decodeAlternativeNames(value: Uint8Array): AlternativeNames | undefined {
  const seq = readTlv(value, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== value.length || seq.end === seq.start) return undefined;
  const names: AlternativeNames = { dns: [], uri: [], email: [] };
  for (let at = seq.start; at < seq.end; ) {
    const name = readTlv(value, at);
    if (!name || name.end > seq.end) return undefined;
    at = name.end;
    let list: string[] | undefined;
    switch (name.tag) {
      case 0x81:
        list = names.email;
        break;
      case 0x82:
        list = names.dns;
        break;
      case 0x86:
        list = names.uri;
        break;
      case 0xa0: // otherName
      case 0xa3: // x400Address
      case 0xa4: // directoryName
      case 0xa5: // ediPartyName
      case 0x87: // iPAddress
      case 0x88: // registeredID
        continue;
      default:
        return undefined;
    }
    const text = decodeAscii(value, name.start, name.end, (c) => c < 0x80);
    if (text === undefined) return undefined;
    list.push(text);
  }
  return names;
}
