// Unit tables for the two hand-written matchers: segment globs and IP/CIDR parsing.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileGlob, globShape } from "../../src/engine/glob.js";
import { compileCidrSet, parseCidr, parseIpAddress } from "../../src/engine/ip.js";
import { refGlob } from "./reference.js";

describe("segment globs", () => {
  it.each([
    ["/api/v1/*", "/api/v1/orders", true],
    ["/api/v1/*", "/api/v1/orders/1", false],
    ["/api/v1/*", "/api/v1/", true], // `*` may match an empty segment
    ["/api/v1/*", "/api/v1", false],
    ["/api/v1/**", "/api/v1", true], // `**` is zero or more whole segments
    ["/api/v1/**", "/api/v1/", true],
    ["/api/v1/**", "/api/v1/a/b/c", true],
    ["/api/v1/**", "/api/v10", false],
    ["/api/**/items", "/api/items", true],
    ["/api/**/items", "/api/a/b/items", true],
    ["/api/**/items", "/api/a/b/items/x", false],
    ["/**/admin/**", "/x/y/admin/z", true],
    ["/**/admin/**", "/x/y/administrator/z", false],
    ["**", "", true],
    ["**", "anything/at/all", true],
    ["*", "a/b", false],
    ["/a/**/b/**/c", "/a/x/b/y/z/c", true],
    ["/a/**/b/**/c", "/a/x/c/y/b", false],
    ["/a/x*y/b", "/a/xy/b", true],
    ["/a/x*y/b", "/a/x-long-y/b", true],
    ["/a/x*y/b", "/a/x/y/b", false],
    ["/a/*x*y*/b", "/a/axbyc/b", true],
    ["/a/*x*y*/b", "/a/ayxb/b", false],
    ["/a/x**y", "/a/xzzy", true], // stars inside a segment never cross `/`
    ["/a/x**y", "/a/x/y", false],
    ["spiffe://prod.example.com/ns/*/sa/api", "spiffe://prod.example.com/ns/pay/sa/api", true],
    ["spiffe://prod.example.com/ns/*/sa/api", "spiffe://prod.example.com/ns/pay/x/sa/api", false],
    ["spiffe://*.example.com/**", "spiffe://prod.example.com/ns/a", true],
    ["spiffe://*.example.com/**", "spiffe://prod.example.org/ns/a", false],
    ["spiffe://prod.example.com/**", "spiffe://prod.example.com.evil.org/ns/a", false],
    ["spiffe://prod.example.com/**", "spiffe://prod.example.com", true],
    ["/a.b/c", "/aXb/c", false], // `.` is literal, not a regex
    ["/a?/c", "/ab/c", false], // so is `?`
  ])("%s ~ %s → %s", (pattern, value, expected) => {
    expect(compileGlob(pattern)(value)).toBe(expected);
  });

  it("agrees with the exhaustive reference matcher on arbitrary patterns and values (property)", () => {
    // A small alphabet, so that slashes, empty segments, stars and `**` meet often.
    const text = (chars: string[]) => fc.array(fc.constantFrom(...chars), { maxLength: 12 }).map((cs) => cs.join(""));
    fc.assert(
      fc.property(text(["a", "b", "/", "*", "**", "/**/"]), text(["a", "b", "ab", "/"]), (pattern, value) => {
        expect(compileGlob(pattern)(value)).toBe(refGlob(pattern, value));
      }),
      { numRuns: 3000 },
    );
  });

  it("classifies the shapes the hot path inlines", () => {
    expect(globShape("/api/v1/x")).toEqual({ kind: "literal", text: "/api/v1/x" });
    expect(globShape("**")).toEqual({ kind: "everything" });
    expect(globShape("/api/v1/**")).toEqual({ kind: "subtree", base: "/api/v1", below: "/api/v1/" });
    expect(globShape("/api/*/x/**")).toEqual({ kind: "general" });
  });

  it("is fast on adversarial patterns (no exponential backtracking)", () => {
    const pattern = "/**/a/**/a/**/a/**/a/**/a/**/b";
    const value = "/" + Array.from({ length: 2000 }, () => "a").join("/");
    expect(compileGlob(pattern)(value)).toBe(false);
    const seg = "*a*a*a*a*a*a*a*b";
    expect(compileGlob(seg)("a".repeat(20000))).toBe(false);
  });
});

describe("addresses", () => {
  it.each([
    ["10.1.2.3", { v: 4, n: 0x0a010203 }],
    ["0.0.0.0", { v: 4, n: 0 }],
    ["255.255.255.255", { v: 4, n: 0xffffffff }],
    ["::ffff:10.1.2.3", { v: 4, n: 0x0a010203 }],
    ["::ffff:a01:203", { v: 4, n: 0x0a010203 }],
    ["::1", { v: 6, w: [0, 0, 0, 1] }],
    ["fe80::1%eth0", { v: 6, w: [0xfe800000, 0, 0, 1] }],
  ])("parses %s", (text, expected) => {
    expect(parseIpAddress(text)).toEqual(expected);
  });

  it.each(["", "10.1.2", "10.1.2.3.4", "256.1.1.1", "010.1.1.1", "0x0a.1.1.1", "167837955", "10.1.2.3 ", " 10.1.2.3", "1.2.3.-4", "::ffff:010.1.2.3", "[::1]", "::g", "10..1.2"])(
    "rejects %j",
    (text) => {
      expect(parseIpAddress(text)).toBeUndefined();
    },
  );

  it("treats mapped CIDRs as IPv4 and other IPv6 CIDRs as IPv6 only", () => {
    expect(parseCidr("::ffff:10.0.0.0/104")).toEqual(parseCidr("10.0.0.0/8"));
    expect(parseCidr("::ffff:0:0/96")).toEqual(parseCidr("0.0.0.0/0"));
    const v4 = parseIpAddress("10.9.8.7")!;
    expect(compileCidrSet(["::/0"])(v4)).toBe(false);
    expect(compileCidrSet(["::ffff:0:0/95"])(v4)).toBe(false);
    expect(compileCidrSet(["::ffff:0:0/96"])(v4)).toBe(true);
    expect(compileCidrSet(["10.9.8.7"])(v4)).toBe(true);
    expect(compileCidrSet(["10.9.8.6/31"])(v4)).toBe(true);
    expect(compileCidrSet(["10.9.8.8/31"])(v4)).toBe(false);
    const v6 = parseIpAddress("2001:db8:1:2::9")!;
    expect(compileCidrSet(["2001:db8:1::/48"])(v6)).toBe(true);
    expect(compileCidrSet(["2001:db8:2::/48"])(v6)).toBe(false);
    expect(compileCidrSet(["2001:db8:1:2::8/127"])(v6)).toBe(true);
    expect(compileCidrSet(["2001:db8:1:2::9/128"])(v6)).toBe(true);
    expect(compileCidrSet(["0.0.0.0/0"])(v6)).toBe(false);
  });

  it("refuses malformed CIDR text (the checker never passes it)", () => {
    for (const bad of ["10.0.0.0/33", "10.0.0.0/x", "10.0.0.0/", "::/129", "nope/8"]) expect(() => parseCidr(bad), bad).toThrow();
  });
});
