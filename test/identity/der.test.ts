import { describe, expect, it } from "vitest";
import { decodeAlternativeNames, decodeBasicConstraints, decodeExtensionValue, decodeKeyUsage, readTlv } from "../../src/identity/der.js";

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s/g, ""), "hex"));

describe("decodeExtensionValue", () => {
  it.each([
    ["0c03706369", "pci", "UTF8String"],
    ["0c00", "", "empty UTF8String"],
    ["0c03e282ac", "€", "multi-byte UTF8String"],
    ["1306546965722031", "Tier 1", "PrintableString"],
    ["160f6f7073406578616d706c652e636f6d", "ops@example.com", "IA5String"],
    ["02012a", "42", "INTEGER"],
    ["020100", "0", "INTEGER zero"],
    ["0202ff7f", "-129", "negative INTEGER"],
    ["0201ff", "-1", "INTEGER -1"],
    ["020200ff", "255", "INTEGER with the sign octet"],
    ["020a0123456789abcdef0123", BigInt("0x0123456789abcdef0123").toString(), "INTEGER beyond 2^53"],
    ["0101ff", "true", "BOOLEAN TRUE"],
    ["010100", "false", "BOOLEAN FALSE"],
    ["0404deadbeef", "deadbeef", "OCTET STRING as hex of its octets"],
    ["0400", "", "empty OCTET STRING"],
  ])("%s → %j (%s)", (input, expected) => {
    expect(decodeExtensionValue(hex(input))).toBe(expected);
  });

  // Anything that is not one strict DER primitive of a decoded type stays hex, whole.
  it.each([
    ["30060c0161020101", "a SEQUENCE"],
    ["0c02c328", "UTF8String that is not UTF-8"],
    ["1301ff", "PrintableString with a byte outside its alphabet"],
    ["130140", "PrintableString with `@` (not in X.680's alphabet)"],
    ["160180", "IA5String with a non-ASCII byte"],
    ["010101", "BOOLEAN that is not DER (0x01 instead of 0xff)"],
    ["01020000", "BOOLEAN of two octets"],
    ["0200", "empty INTEGER"],
    ["0202007f", "INTEGER with a redundant leading zero"],
    ["0202ff80", "INTEGER with a redundant leading 0xff"],
    ["0c03706369ff", "trailing byte after the value"],
    ["0c0470", "length past the end"],
    ["0c80706369 0000", "indefinite length (BER only)"],
    ["0c8103706369", "non-minimal long-form length"],
    ["1f2001ff", "high-tag-number form"],
    ["2c050c03706369", "constructed UTF8String"],
    ["", "nothing at all"],
    ["06032a0304", "an OBJECT IDENTIFIER (not a decoded type)"],
  ])("%s stays hex (%s)", (input) => {
    expect(decodeExtensionValue(hex(input))).toBe(input.replace(/\s/g, ""));
  });
});

describe("readTlv", () => {
  it("reads short and long lengths", () => {
    expect(readTlv(hex("0403aabbcc"), 0)).toEqual({ tag: 4, start: 2, end: 5 });
    const long = new Uint8Array(3 + 200);
    long.set([0x04, 0x81, 200]);
    expect(readTlv(long, 0)).toEqual({ tag: 4, start: 3, end: 203 });
  });

  it("refuses lengths over four octets and truncated headers", () => {
    expect(readTlv(hex("0485 0100000000"), 0)).toBeUndefined();
    expect(readTlv(hex("04"), 0)).toBeUndefined();
    expect(readTlv(hex("0482 01"), 0)).toBeUndefined();
  });
});

describe("decodeBasicConstraints", () => {
  it.each([
    ["3000", { ca: false }],
    ["30030101ff", { ca: true }],
    ["30060101ff020100", { ca: true, pathLength: 0 }],
    ["30060101ff020105", { ca: true, pathLength: 5 }],
    ["3003010100", { ca: false }],
  ])("%s → %j", (input, expected) => {
    expect(decodeBasicConstraints(hex(input))).toEqual(expected);
  });

  it.each([
    ["", "nothing"],
    ["3100", "a SET"],
    ["3003010101", "BOOLEAN 0x01"],
    ["30060101ff0201ff", "negative pathLen"],
    ["30030201000101ff", "fields out of order"],
    ["30000000", "trailing bytes"],
    ["30050101ff0500", "an unexpected field"],
  ])("%s is malformed (%s)", (input) => {
    expect(decodeBasicConstraints(hex(input))).toBeUndefined();
  });
});

describe("decodeKeyUsage", () => {
  it.each([
    ["03020780", { digitalSignature: true, keyCertSign: false, crlSign: false }],
    ["03020106", { digitalSignature: false, keyCertSign: true, crlSign: true }],
    ["030205a0", { digitalSignature: true, keyCertSign: false, crlSign: false }],
    ["0303070080", { digitalSignature: false, keyCertSign: false, crlSign: false }],
  ])("%s → %j", (input, expected) => {
    expect(decodeKeyUsage(hex(input))).toEqual(expected);
  });

  // 03020206: cRLSign (bit 6) hidden in the 2 unused bits, which DER requires to be zero.
  it.each([["0301 01"], ["030208ff"], ["0400"], ["03020780 00"], ["03020206"], ["03020781"]])("%s is malformed", (input) => {
    expect(decodeKeyUsage(hex(input))).toBeUndefined();
  });
});

describe("decodeAlternativeNames", () => {
  const ia5 = (tag: number, text: string): string => tag.toString(16) + text.length.toString(16).padStart(2, "0") + Buffer.from(text).toString("hex");
  const seq = (...parts: string[]): string => {
    const body = parts.join("");
    return `30${(body.length / 2).toString(16).padStart(2, "0")}${body}`;
  };

  it("reads URI, DNS and email names in order and skips the others", () => {
    const otherName = "a00a06032a0304a0030c0178";
    const ip = "87040a000007";
    const value = seq(ia5(0x86, "spiffe://td/a"), otherName, ia5(0x82, "a.example"), ip, ia5(0x81, "x@example.com"), ia5(0x86, "spiffe://td/b"));
    expect(decodeAlternativeNames(hex(value))).toEqual({ uri: ["spiffe://td/a", "spiffe://td/b"], dns: ["a.example"], email: ["x@example.com"] });
  });

  it.each([
    ["3000", "an empty list"],
    [seq("8603c38073"), "a non-ASCII URI"],
    [seq("0c0161"), "a tag that is not a GeneralName"],
    [`${seq(ia5(0x86, "spiffe://td/a"))}00`, "trailing bytes"],
    ["3005860a7370", "a name running past the list"],
  ])("%s is malformed (%s)", (input) => {
    expect(decodeAlternativeNames(hex(input))).toBeUndefined();
  });
});
