import fc from "fast-check";

/**
 * Arbitrary JS strings as UTF-16 code units: ASCII-heavy (where the rules
 * are), any BMP unit including lone surrogates, and astral characters.
 * (`fc.string({ unit: "binary" })` covers the same ground but costs seconds
 * of setup per test worker.)
 */
export const anyText = (maxLength = 40): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) },
        { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xffff }).map((c) => String.fromCharCode(c)) },
        { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
      ),
      { maxLength },
    )
    .map((units) => units.join(""));
