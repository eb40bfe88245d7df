import fc from "fast-check";
import { anyText } from "./arbitraries.js";
import { describe, expect, it } from "vitest";
import { canonicalizePath, type PathOptions, type PathRule } from "../../src/input/path.js";

type Outcome = string | { rule: PathRule };

function outcome(target: string, options?: PathOptions): Outcome {
  const r = canonicalizePath(target, options);
  return r.ok ? r.path : { rule: r.rule };
}

const ALL_RELAXED: PathOptions = {
  allowFragment: true,
  allowSemicolons: true,
  allowEncodedSlash: true,
  allowEncodedControl: true,
  allowBackslash: true,
  allowRawNonAscii: true,
  allowAbsoluteForm: true,
  allowAsteriskForm: true,
  mergeSlashesFirst: true,
};

// The known bypass tricks (docs/paths.md, "Tricks"): what Ward decides on, by default.
const TRICKS: readonly [string, Outcome, string][] = [
  ["/public/../admin", "/admin", "dot segments are resolved before matching"],
  ["//admin", "/admin", "repeated slashes merged (Istio CVE-2021-31920); never read as an authority (OPA-Envoy CVE-2026-26205)"],
  ["//admin/x", "/admin/x", "the `admin` segment is kept"],
  ["/%61dmin", "/admin", "unreserved characters decoded once"],
  ["/admin;x", { rule: "path_parameter" }, "servlet containers drop `;x`"],
  ["/admin%2F..", { rule: "encoded_slash" }, "`%2F` is `/` to some backends"],
  ["/admin%2f..", { rule: "encoded_slash" }, "any case"],
  ["/admin%5C..", { rule: "encoded_backslash" }, "`%5C` is `\\` to some backends"],
  ["/%2e%2e/admin", "/admin", "`%2e` is unreserved: decoded, then a dot segment"],
  ["/%2E%2E/", "/", "upper-case too"],
  ["/.%2e/admin", "/admin", "mixed raw and encoded dots"],
  ["/a%252Fb", "/a%252Fb", "`%25` stays encoded: the text `%2F` never becomes `/`"],
  ["/%252e%252e/admin", "/%252e%252e/admin", "no double decoding"],
  ["/admin#x", { rule: "fragment" }, "clients never send fragments"],
  ["/./admin", "/admin", "`.` removed"],
  ["/admin/.", "/admin/", "a final `.` leaves the trailing slash"],
  ["/admin/..", "/", "a final `..` leaves the trailing slash"],
  ["/admin/..;/x", { rule: "dot_segment_parameter" }, "Tomcat reads `..;` as `..`"],
  ["/admin/.;/x", { rule: "dot_segment_parameter" }, "and `.;` as `.`"],
  ["/a/%2e%2e;/x", { rule: "dot_segment_parameter" }, "encoded dots too"],
  ["/admin%00", { rule: "encoded_control" }, "NUL truncates in C backends"],
  ["/admin%0a", { rule: "encoded_control" }, "line feed"],
  ["/admin%7F", { rule: "encoded_control" }, "DEL"],
  ["/admin%c0%ae%c0%ae/", { rule: "invalid_utf8" }, "overlong `.` (IIS unicode traversal)"],
  ["/%e0%80%ae", { rule: "invalid_utf8" }, "three-byte overlong `.`"],
  ["/%f0%80%80%af", { rule: "invalid_utf8" }, "four-byte overlong `/`"],
  ["/%ed%a0%80", { rule: "invalid_utf8" }, "encoded surrogate"],
  ["/%f4%90%80%80", { rule: "invalid_utf8" }, "above U+10FFFF"],
  ["/%80", { rule: "invalid_utf8" }, "stray continuation byte"],
  ["/%c3", { rule: "invalid_utf8" }, "truncated sequence"],
  ["/%c3x", { rule: "invalid_utf8" }, "lead byte followed by a raw character"],
  ["/%ff", { rule: "invalid_utf8" }, "byte that never appears in UTF-8"],
  ["/caf%c3%a9", "/caf%C3%A9", "well-formed UTF-8 stays encoded, hex upper-cased"],
  ["\\admin", { rule: "backslash" }, "Windows backends read `\\` as `/`"],
  ["/admin\\..\\x", { rule: "backslash" }, "backslash traversal"],
  ["/ádmin", { rule: "raw_non_ascii" }, "raw non-ASCII"],
  ["/a b", { rule: "raw_control_or_space" }, "raw space"],
  ["/a\tb", { rule: "raw_control_or_space" }, "raw tab"],
  ["/a\u0000b", { rule: "raw_control_or_space" }, "raw NUL"],
  ["/a\u007fb", { rule: "raw_control_or_space" }, "raw DEL"],
  ["/a\u0085b", { rule: "raw_non_ascii" }, "raw C1 control"],
  ["/a?b=c?d", "/a", "the query starts at the first `?`"],
  ["/a%3Fb", "/a%3Fb", "an encoded `?` is not a query"],
  ["/a%3bx", "/a%3Bx", "an encoded `;` is not a parameter"],
  ["", { rule: "empty_path" }, "empty target"],
  ["admin", { rule: "not_origin_form" }, "relative target"],
  ["*", { rule: "asterisk_form" }, "OPTIONS *"],
  ["http://evil/admin", { rule: "absolute_form" }, "absolute-form"],
  ["/a//../b", { rule: "ambiguous_dot_segment" }, "RFC order gives `/a/b`, merge-first gives `/b`"],
  ["/a/b//..", { rule: "ambiguous_dot_segment" }, "same at the end"],
  ["//../admin", "/admin", "both orders agree"],
  ["/a|b", "/a%7Cb", "visible characters not allowed raw are encoded"],
  ["/a%7cb", "/a%7Cb", "so raw and encoded forms meet"],
  ["/Admin", "/Admin", "case-sensitive"],
  ["/admin/", "/admin/", "trailing slash significant"],
  ["/admin//", "/admin/", "merged trailing slashes"],
  ["/..", "/", "`..` at the root stays at the root"],
  ["/../../etc/passwd", "/etc/passwd", "cannot climb above the root"],
  ["/.well-known/x", "/.well-known/x", "dot-prefixed names are not dot segments"],
  ["/a/...", "/a/...", "`...` is an ordinary segment"],
  ["/~user/%7Efoo", "/~user/~foo", "`~` is unreserved"],
  ["/a%20b", "/a%20b", "an encoded space stays encoded"],
  ["/a+b", "/a+b", "`+` is an ordinary path character"],
];

describe("canonicalizePath: known tricks", () => {
  it.each(TRICKS)("%j → %j (%s)", (target, expected) => {
    expect(outcome(target)).toEqual(expected);
  });
});

describe("canonicalizePath: details name the rule", () => {
  it.each(TRICKS.filter(([, e]) => typeof e !== "string"))("%j", (target, expected) => {
    const r = canonicalizePath(target);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.detail.startsWith(`${(expected as { rule: string }).rule}: `)).toBe(true);
      // Details never carry raw control characters or line breaks into an audit record.
      expect(r.detail).not.toMatch(/[\u0000-\u001f\u007f]/);
    }
  });

  it("gives the offset of the offending text", () => {
    const r = canonicalizePath("/admin%2F..");
    expect(r.ok ? "" : r.detail).toBe("encoded_slash: `%2F` at offset 6 encodes a `/`, which backends read two ways");
  });
});

describe("canonicalizePath: relaxations are explicit and reported", () => {
  const cases: readonly [string, PathOptions, string, PathRule[]][] = [
    ["/admin#x", { allowFragment: true }, "/admin", ["fragment"]],
    ["/a?q=1#frag", { allowFragment: true }, "/a", ["fragment"]],
    ["/admin;x", { allowSemicolons: true }, "/admin;x", ["path_parameter"]],
    ["/admin%2F..", { allowEncodedSlash: true }, "/admin%2F..", ["encoded_slash"]],
    ["/a%2fb/../c", { allowEncodedSlash: true }, "/c", ["encoded_slash"]],
    ["/a%5cb", { allowEncodedSlash: true }, "/a%5Cb", ["encoded_backslash"]],
    ["/admin%00", { allowEncodedControl: true }, "/admin%00", ["encoded_control"]],
    ["\\admin", { allowBackslash: true }, "/admin", ["backslash"]],
    ["/admin\\..\\x", { allowBackslash: true }, "/x", ["backslash"]],
    ["/ádmin", { allowRawNonAscii: true }, "/%C3%A1dmin", ["raw_non_ascii"]],
    ["/😀", { allowRawNonAscii: true }, "/%F0%9F%98%80", ["raw_non_ascii"]],
    ["http://h:8080/x/../y?z", { allowAbsoluteForm: true }, "/y", ["absolute_form"]],
    ["https://h", { allowAbsoluteForm: true }, "/", ["absolute_form"]],
    ["*", { allowAsteriskForm: true }, "*", ["asterisk_form"]],
    ["/a//../b", { mergeSlashesFirst: true }, "/b", ["ambiguous_dot_segment"]],
  ];
  it.each(cases)("%j with %j → %j", (target, options, path, relaxed) => {
    const r = canonicalizePath(target, options);
    expect(r).toMatchObject({ ok: true, path, relaxed });
  });

  it("keeps the query of an absolute-form target", () => {
    expect(canonicalizePath("http://h/x?a=1", { allowAbsoluteForm: true })).toMatchObject({ path: "/x", query: "a=1" });
    expect(canonicalizePath("http://h?a=1", { allowAbsoluteForm: true })).toMatchObject({ path: "/", query: "a=1" });
  });

  it("never relaxes what has no single reading", () => {
    expect(outcome("/admin/..;/x", ALL_RELAXED)).toEqual({ rule: "dot_segment_parameter" });
    expect(outcome("/a/.;x/b", ALL_RELAXED)).toEqual({ rule: "dot_segment_parameter" });
    expect(outcome("/admin%c0%ae", ALL_RELAXED)).toEqual({ rule: "invalid_utf8" });
    expect(outcome("/a%zz", ALL_RELAXED)).toEqual({ rule: "invalid_percent_encoding" });
    expect(outcome("/a%2", ALL_RELAXED)).toEqual({ rule: "invalid_percent_encoding" });
    expect(outcome("/a b", ALL_RELAXED)).toEqual({ rule: "raw_control_or_space" });
    expect(outcome("/a\ud800b", ALL_RELAXED)).toEqual({ rule: "raw_invalid_unicode" });
    expect(outcome("", ALL_RELAXED)).toEqual({ rule: "empty_path" });
    expect(outcome("admin", ALL_RELAXED)).toEqual({ rule: "not_origin_form" });
  });

  it("refuses an absolute-form authority that hides a path", () => {
    // WHATWG URL parsing reads `\` as `/` for http: `http://h\admin` has path `/admin` there.
    expect(outcome("http://h\\admin", { allowAbsoluteForm: true })).toEqual({ rule: "absolute_form" });
  });

  it("reports no relaxation for a target that needed none", () => {
    expect(canonicalizePath("/a/b", ALL_RELAXED)).toMatchObject({ ok: true, relaxed: [] });
  });
});

describe("canonicalizePath: query split", () => {
  it("returns the raw query after the first `?`", () => {
    expect(canonicalizePath("/a?b=c?d&e=%20")).toEqual({ ok: true, path: "/a", query: "b=c?d&e=%20", relaxed: [] });
    expect(canonicalizePath("/a?")).toMatchObject({ path: "/a", query: "" });
    expect(canonicalizePath("/a")).toMatchObject({ path: "/a", query: undefined });
  });

  it("does not apply path rules to the query", () => {
    expect(canonicalizePath("/a?x=..;/%2F\\")).toMatchObject({ ok: true, path: "/a", query: "x=..;/%2F\\" });
  });

  it("still refuses a fragment inside the query", () => {
    expect(outcome("/a?x=1#y")).toEqual({ rule: "fragment" });
  });
});

describe("canonicalizePath: long input", () => {
  it("handles very long paths in linear time without recursion", () => {
    const long = "/a".repeat(200_000) + "/..".repeat(100_000);
    const r = canonicalizePath(long);
    // A final `..` leaves a trailing slash, as RFC 3986 §5.2.4 does.
    expect(r.ok && r.path === "/a".repeat(100_000) + "/").toBe(true);
    const slashes = "/".repeat(300_000) + "x";
    expect(outcome(slashes)).toBe("/x");
  });
});

// Property tests: canonicalization never throws, its output is canonical, and it is idempotent
// (replay feeds recorded canonical paths back through it).
const pathChars = fc.constantFrom(
  "/", "/", "/", ".", ".", "..", "a", "b", "Z", "0", "~", "-", "_", "%", "%2e", "%2E", "%2f", "%2F", "%5c", "%25", "%61",
  "%00", "%c3%a9", "%c0%ae", "%zz", ";", "..;", "\\", "#", "?", "&", "=", "+", " ", "\t", "|", "é", "😀", "\ud800", "*", ":", "@",
);
const pathLike = fc.array(pathChars, { maxLength: 30 }).map((parts) => parts.join(""));
const anyTarget = fc.oneof(anyText(), fc.string({ unit: "grapheme" }), pathLike, pathLike.map((p) => "/" + p));

function assertCanonical(path: string, options: PathOptions): void {
  if (path === "*" && options.allowAsteriskForm) return;
  expect(path.startsWith("/")).toBe(true);
  expect(path).not.toContain("//");
  for (const seg of path.split("/")) expect(seg === "." || seg === "..").toBe(false);
  expect(path).toMatch(/^[\x21-\x7e]*$/);
  expect(path).not.toMatch(/[?#\\]/);
  // Every `%` starts an upper-case triplet that does not encode an unreserved character.
  for (const m of path.matchAll(/%(..)?/g)) {
    expect(m[1]).toMatch(/^[0-9A-F]{2}$/);
    const b = parseInt(m[1] as string, 16);
    expect(/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))).toBe(false);
  }
  if (!options.allowSemicolons) expect(path).not.toContain(";");
}

describe("canonicalizePath: properties", () => {
  for (const [name, options] of [
    ["default options", {}],
    ["every relaxation", ALL_RELAXED],
  ] as const) {
    it(`never throws, yields canonical output, and is idempotent (${name})`, () => {
      fc.assert(
        fc.property(anyTarget, (target) => {
          const r = canonicalizePath(target, options);
          if (!r.ok) {
            expect(r.detail.startsWith(r.rule + ": ")).toBe(true);
            return;
          }
          assertCanonical(r.path, options);
          const again = canonicalizePath(r.path, options);
          expect(again).toEqual({ ok: true, path: r.path, query: undefined, relaxed: again.ok ? again.relaxed : [] });
        }),
        { numRuns: 3000 },
      );
    });
  }

  it("a canonical path under the defaults is canonical to itself with no relaxation", () => {
    fc.assert(
      fc.property(pathLike.map((p) => "/" + p), (target) => {
        const r = canonicalizePath(target);
        if (r.ok) expect(canonicalizePath(r.path)).toEqual({ ok: true, path: r.path, query: undefined, relaxed: [] });
      }),
      { numRuns: 3000 },
    );
  });

  it("agrees with the plain fast path: a plain path is returned unchanged", () => {
    const plainSegment = fc.stringMatching(/^[A-Za-z0-9_~!$&'()*+,=:@-][A-Za-z0-9._~!$&'()*+,=:@-]{0,8}$/);
    fc.assert(
      fc.property(fc.array(plainSegment, { minLength: 1, maxLength: 8 }), fc.boolean(), (segments, trailing) => {
        const path = "/" + segments.join("/") + (trailing ? "/" : "");
        expect(canonicalizePath(path)).toEqual({ ok: true, path, query: undefined, relaxed: [] });
      }),
    );
  });
});
