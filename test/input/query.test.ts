import fc from "fast-check";
import { anyText } from "./arbitraries.js";
import { describe, expect, it } from "vitest";
import { parseQuery, type QueryOptions } from "../../src/input/query.js";
import { inheritsNothing } from "../../src/data-map.js";

function decoded(raw: string | undefined, options?: QueryOptions): Record<string, string> | string {
  const r = parseQuery(raw, options);
  return r.ok ? { ...r.query } : r.rule;
}

describe("parseQuery", () => {
  const cases: readonly [string | undefined, Record<string, string> | string][] = [
    [undefined, {}],
    ["", {}],
    ["a=1&b=2", { a: "1", b: "2" }],
    ["a=1&a=2&a=3", { a: "1,2,3" }],
    ["a", { a: "" }],
    ["a=", { a: "" }],
    ["a=b=c", { a: "b=c" }],
    ["a=1&&b=2&", { a: "1", b: "2" }],
    ["=x&b=2", { b: "2" }],
    ["q=a+b", { q: "a b" }],
    ["q=a%2Bb", { q: "a+b" }],
    ["q=%61dmin", { q: "admin" }],
    ["q=%252F", { q: "%2F" }],
    ["q=%2F%3F%26%3D", { q: "/?&=" }],
    ["q=caf%C3%A9", { q: "café" }],
    ["q=%F0%9F%98%80", { q: "😀" }],
    ["q=x?y", { q: "x?y" }],
    ["q=\\..", { q: "\\.." }],
    ["%72ole=admin", { role: "admin" }],
    ["Role=admin&role=user", { Role: "admin", role: "user" }],
    ["q=%00", { q: "\u0000" }],
    ["q=100%", "query_invalid_percent_encoding"],
    ["q=%zz", "query_invalid_percent_encoding"],
    ["q=%C0%AE", "query_invalid_utf8"],
    ["q=%FF", "query_invalid_utf8"],
    ["q=%E9t%E9", "query_invalid_utf8"],
    ["role=user;role=admin", "query_semicolon"],
    ["q=a b", "query_raw_control_or_space"],
    ["q=a\tb", "query_raw_control_or_space"],
    ["q=é", "query_raw_non_ascii"],
  ];
  it.each(cases)("%j → %j", (raw, expected) => {
    expect(decoded(raw)).toEqual(expected);
  });

  it("gives a data map that inherits nothing, so `__proto__` and `constructor` are plain names", () => {
    const r = parseQuery("__proto__=x&constructor=y");
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(inheritsNothing(r.query)).toBe(true);
      expect(Object.keys(r.query)).toEqual(["__proto__", "constructor"]);
      expect(r.query["__proto__"]).toBe("x");
      expect(r.query["constructor"]).toBe("y");
      expect(r.query["toString"]).toBeUndefined();
    }
  });

  it("names the rule in the detail", () => {
    const r = parseQuery("a=1&q=%zz");
    expect(r.ok ? "" : r.detail).toBe("query_invalid_percent_encoding: `%` at query offset 6 is not followed by two hex digits: `%zz`");
  });

  describe("relaxations", () => {
    it("allowMalformedQuery keeps the raw text of a malformed name or value", () => {
      const r = parseQuery("q=100%&x=%FF&ok=%20", { allowMalformedQuery: true });
      expect(r).toMatchObject({ ok: true, query: { q: "100%", x: "%FF", ok: " " } });
      expect(r.ok && [...r.relaxed].sort()).toEqual(["query_invalid_percent_encoding", "query_invalid_utf8"]);
    });

    it("allowMalformedQuery does not admit raw controls, spaces or semicolons", () => {
      expect(decoded("q=%zz a", { allowMalformedQuery: true })).toBe("query_raw_control_or_space");
      expect(decoded("q=%zz;a", { allowMalformedQuery: true })).toBe("query_semicolon");
    });

    it("allowSemicolons keeps `;` as an ordinary character, never a separator", () => {
      const r = parseQuery("role=user;role=admin", { allowSemicolons: true });
      expect(r).toMatchObject({ ok: true, query: { role: "user;role=admin" }, relaxed: ["query_semicolon"] });
    });

    it("allowRawNonAscii accepts raw non-ASCII", () => {
      expect(parseQuery("q=é", { allowRawNonAscii: true })).toMatchObject({ ok: true, query: { q: "é" }, relaxed: ["query_raw_non_ascii"] });
      expect(decoded("q=\ud800", { allowRawNonAscii: true })).toBe("query_invalid_utf8");
    });
  });

  it("never throws", () => {
    const options = fc.record({ allowMalformedQuery: fc.boolean(), allowSemicolons: fc.boolean(), allowRawNonAscii: fc.boolean() });
    fc.assert(
      fc.property(fc.oneof(anyText(), fc.string({ unit: "grapheme" })), options, (raw, opts) => {
        const r = parseQuery(raw, opts);
        if (!r.ok) expect(r.detail.startsWith(r.rule + ": ")).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });
});
