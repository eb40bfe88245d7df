/**
 * Minimal protobuf wire-format primitives for the hand-written Check codecs
 * (https://protobuf.dev/programming-guides/encoding/). Generic protobuf
 * decoding costs about a third of a Check call's budget, so Ward reads only
 * the fields a decision needs and skips the rest without materializing them.
 *
 * Reading never throws on bad input: every primitive reports failure by
 * setting `reader.error`, and callers stop at the first error. Lengths are
 * checked against the enclosing message, so nothing reads past its bounds.
 */

/** Wire type 0 (the low three bits of a tag): varint. */
export const WIRE_VARINT = 0;
/** Wire type 1: 8 bytes, little-endian. */
export const WIRE_FIXED64 = 1;
/** Wire type 2: length-delimited (strings, bytes, messages, packed repeated). */
export const WIRE_LDELIM = 2;
/** Wire type 5: 4 bytes, little-endian. */
export const WIRE_FIXED32 = 5;

/** A cursor over one message's bytes. `error` is set at the first problem and never cleared. */
export class WireReader {
  pos: number;
  error: string | undefined = undefined;

  constructor(
    readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }

  /**
   * Reads an unsigned varint of at most 32 significant bits (tags, lengths,
   * uint32 and enum values). Longer encodings of the same value are accepted
   * up to the 10-byte limit, as the spec allows; higher bits are discarded.
   */
  varint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) {
        this.error = "truncated varint";
        return 0;
      }
      const byte = buf[pos++]!;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    this.error = "varint longer than 10 bytes";
    return 0;
  }

  /** Reads a length prefix and returns the end offset of the delimited bytes (checked against `end`). */
  ldelimEnd(end: number): number {
    const length = this.varint32(end);
    if (this.error) return end;
    const stop = this.pos + length;
    if (stop > end) {
      this.error = "length-delimited field runs past its message";
      return end;
    }
    return stop;
  }

  /** Skips one field of the given wire type. Groups (3, 4) and invalid types are refused. */
  skip(wireType: number, end: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint32(end);
        return;
      case WIRE_FIXED64:
        this.advance(8, end);
        return;
      case WIRE_LDELIM:
        this.pos = this.ldelimEnd(end);
        return;
      case WIRE_FIXED32:
        this.advance(4, end);
        return;
      default:
        // Deprecated groups and the undefined types 6 and 7: proto3 messages never contain them.
        this.error = `unsupported wire type ${wireType}`;
    }
  }

  private advance(count: number, end: number): void {
    if (this.pos + count > end) this.error = "truncated fixed-width field";
    else this.pos += count;
  }
}

/** The number of bytes a varint takes. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Writes an unsigned 32-bit varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = value >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** The tag byte(s) value for a field: `(number << 3) | wireType`. */
export function tag(fieldNumber: number, wireType: number): number {
  return ((fieldNumber << 3) | wireType) >>> 0;
}
