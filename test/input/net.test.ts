import fc from "fast-check";
import { anyText } from "./arbitraries.js";
import { describe, expect, it } from "vitest";
import { canonicalizeHost, canonicalizeIp, formatIpv6, parseIpv6 } from "../../src/input/net.js";

describe("canonicalizeHost", () => {
  const accepted: readonly [string, string][] = [
    ["", ""],
    ["api.example.com", "api.example.com"],
    ["API.Example.COM", "api.example.com"],
    ["api.example.com:8443", "api.example.com"],
    ["api.example.com:", "api.example.com"],
    ["api.example.com.", "api.example.com"],
    ["api.example.com.:443", "api.example.com"],
    ["payments_api.svc", "payments_api.svc"],
    ["10.1.2.3:80", "10.1.2.3"],
    ["localhost", "localhost"],
    ["[::1]", "[::1]"],
    ["[::1]:8080", "[::1]"],
    ["[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]"],
    ["[::ffff:10.1.2.3]", "[::ffff:a01:203]"],
  ];
  it.each(accepted)("%j → %j", (raw, host) => {
    expect(canonicalizeHost(raw)).toEqual({ ok: true, host });
  });

  const refused: readonly string[] = [
    "user@api.example.com",
    "api.example.com:99999",
    "api.example.com:80a",
    "api.example.com:8080:1",
    "::1",
    "[::1",
    "[::1]x",
    "[fe80::1%25eth0]",
    "[not-ip]",
    "a..b",
    "admin.internal..",
    "admin.internal..:8080",
    ".a",
    ".",
    ":80",
    "exa mple.com",
    "exämple.com",
    "api.example.com/admin",
    "api%2eexample.com",
    "a\u0000b",
    "a".repeat(300),
  ];
  it.each(refused)("refuses %j", (raw) => {
    const r = canonicalizeHost(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.detail.startsWith("host: ")).toBe(true);
      expect(r.detail).not.toMatch(/[\u0000-\u001f]/);
    }
  });

  it("never throws, and its output is lower-case with no port", () => {
    fc.assert(
      fc.property(anyText(80), (raw) => {
        const r = canonicalizeHost(raw);
        if (r.ok) {
          expect(r.host).toBe(r.host.toLowerCase());
          if (!r.host.startsWith("[")) expect(r.host).not.toContain(":");
          expect(canonicalizeHost(r.host)).toEqual(r);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe("canonicalizeIp", () => {
  const cases: readonly [string, string | undefined][] = [
    ["10.1.2.3", "10.1.2.3"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["256.1.1.1", undefined],
    ["010.1.2.3", undefined],
    ["127.1", undefined],
    ["0x7f.0.0.1", undefined],
    ["1.2.3.4.5", undefined],
    ["1.2.3.", undefined],
    [" 1.2.3.4", undefined],
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:DB8::0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::ffff:a01:203", "10.1.2.3"],
    ["::10.1.2.3", "::a01:203"],
    ["fe80::1%eth0", undefined],
    ["[::1]", undefined],
    ["1::2::3", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["12345::", undefined],
    ["", undefined],
    ["example.com", undefined],
  ];
  it.each(cases)("%j → %j", (text, expected) => {
    expect(canonicalizeIp(text)).toBe(expected);
  });

  it("formats any IPv6 address so that it parses back to the same groups", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }), (parts) => {
        const text = formatIpv6(parts);
        expect(parseIpv6(text)).toEqual(parts);
        expect(text).toBe(text.toLowerCase());
      }),
    );
  });
});
