import fc from "fast-check";
import { anyText } from "./arbitraries.js";
import { describe, expect, it } from "vitest";
import { percentEncodeCodePoint, quote, readPercentUtf8, utf8Length } from "../../src/input/text.js";

const strict = new TextDecoder("utf-8", { fatal: true });

function percentEncodeBytes(bytes: readonly number[]): string {
  return bytes.map((b) => "%" + b.toString(16).padStart(2, "0")).join("");
}

/** Reads a whole percent-encoded byte string with readPercentUtf8; the decoded text or undefined. */
function readAll(bytes: readonly number[]): string | undefined {
  const text = percentEncodeBytes(bytes);
  let out = "";
  let i = 0;
  while (i < text.length) {
    const b = parseInt(text.slice(i + 1, i + 3), 16);
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i += 3;
      continue;
    }
    const seq = readPercentUtf8(text, i, text.length);
    if (typeof seq === "string") return undefined;
    out += String.fromCodePoint(seq.codePoint);
    i = seq.next;
  }
  return out;
}

describe("readPercentUtf8", () => {
  it("accepts exactly what a strict UTF-8 decoder accepts, with the same text", () => {
    const bytes = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0x80, max: 0xbf }), fc.constantFrom(0xc0, 0xc1, 0xe0, 0xed, 0xf0, 0xf4, 0xf5)), { maxLength: 12 });
    fc.assert(
      fc.property(bytes, (b) => {
        let expected: string | undefined;
        try {
          expected = strict.decode(new Uint8Array(b));
        } catch {
          expected = undefined;
        }
        // The BOM is kept (TextDecoder strips a leading one by default; compare without it).
        if (expected !== undefined && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) expected = "\ufeff" + expected;
        expect(readAll(b)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it("round-trips every code point through percentEncodeCodePoint", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0x80, max: 0x10ffff }).filter((cp) => cp < 0xd800 || cp > 0xdfff), (cp) => {
        const text = percentEncodeCodePoint(cp);
        expect(readPercentUtf8(text, 0, text.length)).toEqual({ codePoint: cp, next: text.length });
      }),
    );
  });

  it.each([
    ["%C0%AE", "overlong UTF-8 sequence starting with `%C0`"],
    ["%E0%80%AE", "overlong UTF-8 sequence starting with `%E0%80`"],
    ["%ED%A0%80", "UTF-8 encoded surrogate starting with `%ED%A0`"],
    ["%F4%90%80%80", "UTF-8 sequence above U+10FFFF starting with `%F4%90`"],
    ["%AE", "UTF-8 continuation byte `%AE` without a lead byte"],
    ["%C3", "truncated UTF-8 sequence starting with `%C3`"],
    ["%C3%41", "invalid UTF-8 continuation byte `%41`"],
  ])("explains %s", (text, reason) => {
    expect(readPercentUtf8(text, 0, text.length)).toBe(reason);
  });
});

describe("utf8Length", () => {
  it("counts what Buffer.byteLength counts", () => {
    fc.assert(
      fc.property(anyText(60), (s) => {
        expect(utf8Length(s)).toBe(Buffer.byteLength(s, "utf8"));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("quote", () => {
  it("escapes controls and backticks and truncates", () => {
    expect(quote("a\nb`c")).toBe("`a\\u000ab\\u0060c`");
    expect(quote("abcdef", 3)).toBe("`abc…`");
  });
});
