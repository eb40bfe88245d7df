// SPIFFE ID conformance: SPIFFE-ID.md (spiffe/spiffe standards) and the
// reference implementation go-spiffe v2 `spiffeid` (FromString in id.go and
// the cases of id_test.go / trustdomain_test.go, including the loop over all
// 256 byte values). Where older go-spiffe releases accepted an input that the
// current strict parser rejects, the row says so.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSpiffeId, validateSpiffePath, type SpiffeIdRule } from "../../src/spiffe-id.js";

type Row = readonly [input: string, expected: { td: string; path: string } | SpiffeIdRule, why: string];

const valid = (td: string, path = ""): { td: string; path: string } => ({ td, path });

const TABLE: readonly Row[] = [
  // --- valid
  ["spiffe://trustdomain", valid("trustdomain"), "a trust domain alone is a SPIFFE ID (root path)"],
  ["spiffe://trustdomain/path", valid("trustdomain", "/path"), "go-spiffe happy path"],
  ["spiffe://domain.test/path/element", valid("domain.test", "/path/element"), "go-spiffe happy_path"],
  ["spiffe://trustdomain/.path", valid("trustdomain", "/.path"), "a segment containing dots is not a dot segment"],
  ["spiffe://trustdomain/..path", valid("trustdomain", "/..path"), "ditto"],
  ["spiffe://trustdomain/...", valid("trustdomain", "/..."), "three dots is not a dot segment"],
  ["spiffe://td-1_x.example/Ns/UPPER_lower-09.x", valid("td-1_x.example", "/Ns/UPPER_lower-09.x"), "every allowed character class"],
  ["spiffe://k8s-west.example.com/ns/staging/sa/default", valid("k8s-west.example.com", "/ns/staging/sa/default"), "SPIFFE-ID.md §2.2 example"],
  ["spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453", valid("example.com", "/9eebccd2-12bf-40a6-b262-65fe0487d453"), "SPIFFE-ID.md opaque example"],
  [`spiffe://${"a".repeat(255)}/p`, valid("a".repeat(255), "/p"), "a 255-character trust domain is the maximum (SPIFFE-ID.md §2.3)"],
  [`spiffe://td/${"p".repeat(2048 - "spiffe://td/".length)}`, valid("td", `/${"p".repeat(2048 - "spiffe://td/".length)}`), "exactly 2048 bytes"],
  // --- scheme
  ["", "empty", "go-spiffe empty_input_string"],
  ["s", "wrong_scheme", "go-spiffe: scheme is missing or invalid"],
  ["spiffe:/", "wrong_scheme", "go-spiffe"],
  ["Spiffe://", "wrong_scheme", "go-spiffe: the scheme is matched exactly"],
  ["SPIFFE://domain.test/path/element", "wrong_scheme", "older go-spiffe lower-cased the scheme; the current one rejects"],
  ["http://domain.test/path/element", "wrong_scheme", "go-spiffe invalid_scheme"],
  ["192.168.2.2:6688", "wrong_scheme", "go-spiffe invalid_uri"],
  ["spiffe:path/element", "wrong_scheme", "go-spiffe missing_double_slash_1"],
  ["spiffe:/path/element", "wrong_scheme", "go-spiffe missing_double_slash_2"],
  [" spiffe://td/path", "wrong_scheme", "no leading whitespace"],
  // --- trust domain
  ["spiffe://", "missing_trust_domain", "go-spiffe: trust domain is missing"],
  ["spiffe:///path", "missing_trust_domain", "go-spiffe empty_host"],
  ["spiffe:///path/element", "missing_trust_domain", "go-spiffe empty_host"],
  ["spiffe://Domain.test/path", "bad_trust_domain_char", "trust domains are lower-case"],
  ["spiffe://domain test/path", "bad_trust_domain_char", "no spaces"],
  ["spiffe://d\u00f6main.test/path", "bad_trust_domain_char", "no non-ASCII"],
  ["spiffe://td\u0000/path", "bad_trust_domain_char", "no NUL"],
  ["spiffe://td\uFFFD/path", "bad_trust_domain_char", "a replacement character from non-UTF-8 input"],
  ["spiffe://%F0%9F%A4%AF/path", "percent_encoding", "go-spiffe: percent-encoded unicode"],
  ["spiffe://%62%61%64/path", "percent_encoding", "go-spiffe: percent-encoded ascii"],
  ["spiffe://domain.test:8080/path/element", "port", "go-spiffe port_not_allowed"],
  ["spiffe://domain.test:/path/element", "port", "go-spiffe empty_port (the `:` delimiter must not be present)"],
  ["spiffe://user:password@test.org/path/element", "user_info", "go-spiffe user_info_not_allowed"],
  ["spiffe://user@test.org/path", "user_info", "user info without a password"],
  ["spiffe://domain.test?x=1", "query", "query right after the trust domain"],
  ["spiffe://domain.test#frag", "fragment", "fragment right after the trust domain"],
  [`spiffe://${"a".repeat(256)}/p`, "trust_domain_too_long", "SPIFFE-ID.md §2.3: at most 255"],
  // --- path
  ["spiffe://trustdomain/", "trailing_slash", "go-spiffe: path cannot have a trailing slash"],
  ["spiffe://trustdomain/path/", "trailing_slash", "go-spiffe"],
  ["spiffe://trustdomain//", "empty_segment", "go-spiffe: path cannot contain empty segments"],
  ["spiffe://trustdomain//path", "empty_segment", "go-spiffe"],
  ["spiffe://domain.test//path/element", "empty_segment", "older go-spiffe accepted a leading `//`; the current one rejects"],
  ["spiffe://trustdomain/a//b", "empty_segment", "an empty segment in the middle"],
  ["spiffe://trustdomain/.", "dot_segment", "go-spiffe: path cannot contain dot segments"],
  ["spiffe://trustdomain/./path", "dot_segment", "go-spiffe"],
  ["spiffe://trustdomain/path/./other", "dot_segment", "go-spiffe"],
  ["spiffe://trustdomain/path/..", "dot_segment", "go-spiffe"],
  ["spiffe://trustdomain/..", "dot_segment", "go-spiffe"],
  ["spiffe://trustdomain/../path", "dot_segment", "go-spiffe"],
  ["spiffe://trustdomain/path/../other", "dot_segment", "go-spiffe"],
  ["spiffe://trustdomain/%F0%9F%A4%AF", "percent_encoding", "go-spiffe: percent-encoded unicode"],
  ["spiffe://trustdomain/%62%61%64", "percent_encoding", "go-spiffe: percent-encoded ascii"],
  ["spiffe://trustdomain/%2e%2e/admin", "percent_encoding", "an encoded dot segment is not decoded, it is refused"],
  ["spiffe://domain.test/path/elem%5uent", "percent_encoding", "go-spiffe path_has_invalid_percent_encoded_char"],
  ["spiffe://domain.test/path/element?query=1", "query", "go-spiffe query_not_allowed"],
  ["spiffe://domain.test/path/element?#fragment-1", "query", "go-spiffe fragment_not_allowed (the `?` comes first)"],
  ["spiffe://domain.test/path/element#fragment", "fragment", "a fragment"],
  ["spiffe://domain.test/pa:th/element:", "bad_path_char", "older go-spiffe accepted `:`; the current one rejects"],
  ["spiffe://domain.test/pa@th/element", "bad_path_char", "older go-spiffe accepted `@`; the current one rejects"],
  ["spiffe://domain.test/p!a$t&h'/(e)l*e+m,e;n=t", "bad_path_char", "sub-delims are not path characters"],
  ["spiffe://domain.test/path/elem[ent", "bad_path_char", "gen-delims are not path characters"],
  ["spiffe://domain.test/pa th", "bad_path_char", "no spaces"],
  ["spiffe://domain.test/path\\x", "bad_path_char", "no backslash"],
  ["spiffe://domain.test/path ", "bad_path_char", "no trailing whitespace"],
  ["spiffe://domain.test/path\n", "bad_path_char", "no newline"],
  ["spiffe://domain.test/pa\u00e9th", "bad_path_char", "no non-ASCII"],
  ["spiffe://domain.test/p\uD800", "bad_path_char", "no lone surrogate"],
  [`spiffe://td/${"p".repeat(2049 - "spiffe://td/".length)}`, "too_long", "SPIFFE-ID.md §2.3: 2048 bytes"],
];

describe("parseSpiffeId conformance table", () => {
  it.each(TABLE)("%j", (input, expected, why) => {
    const result = parseSpiffeId(input);
    if (typeof expected === "string") {
      expect(result.ok, why).toBe(false);
      if (!result.ok) {
        expect(result.rule, why).toBe(expected);
        expect(result.message).toMatch(/^[a-z]/);
      }
    } else {
      expect(result, why).toEqual({ ok: true, value: { id: input, trustDomain: expected.td, path: expected.path } });
    }
  });
});

// go-spiffe TestFromString: "Go all the way through 255, which ensures we reject UTF-8 appropriately".
describe("every character, as go-spiffe tests it", () => {
  const tdChars = new Set("abcdefghijklmnopqrstuvwxyz0123456789.-_");
  const pathChars = new Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
  const tdRule = (c: string): SpiffeIdRule =>
    c === "@" ? "user_info" : c === ":" ? "port" : c === "%" ? "percent_encoding" : c === "?" ? "query" : c === "#" ? "fragment" : "bad_trust_domain_char";
  const pathRule = (c: string): SpiffeIdRule => (c === "%" ? "percent_encoding" : c === "?" ? "query" : c === "#" ? "fragment" : "bad_path_char");

  it("accepts exactly the allowed trust domain and path characters", () => {
    for (let code = 0; code < 256; code++) {
      const c = String.fromCharCode(code);
      if (c === "/") continue; // the segment delimiter
      const inTd = parseSpiffeId(`spiffe://trustdomain${c}/path`);
      if (tdChars.has(c)) expect(inTd, `trust domain char ${code}`).toMatchObject({ ok: true, value: { trustDomain: `trustdomain${c}` } });
      else expect(inTd, `trust domain char ${code}`).toMatchObject({ ok: false, rule: tdRule(c) });
      const inPath = parseSpiffeId(`spiffe://trustdomain/path${c}`);
      if (pathChars.has(c)) expect(inPath, `path char ${code}`).toMatchObject({ ok: true, value: { path: `/path${c}` } });
      else expect(inPath, `path char ${code}`).toMatchObject({ ok: false, rule: pathRule(c) });
    }
  });
});

describe("validateSpiffePath", () => {
  it("lets the policy checker allow glob segments without relaxing anything else", () => {
    const glob = (s: string): boolean => s === "*" || s === "**";
    expect(validateSpiffePath("/ns/*/sa/**", glob)).toBeUndefined();
    expect(validateSpiffePath("/ns/*/sa/**")).toMatchObject({ ok: false, rule: "bad_path_char" });
    expect(validateSpiffePath("/ns/../*", glob)).toMatchObject({ ok: false, rule: "dot_segment" });
    expect(validateSpiffePath("/ns/*/", glob)).toMatchObject({ ok: false, rule: "trailing_slash" });
  });
});

describe("the one-pass path scan", () => {
  it("gives the same verdict as the segment loop the policy checker uses", () => {
    const char = fc.constantFrom("/", "/", ".", "a", "Z", "0", "-", "_", "%", "?", "#", ":", "@", " ", "é");
    fc.assert(
      fc.property(fc.string({ unit: char, maxLength: 16 }), (tail) => {
        const path = `/${tail}`;
        expect(validateSpiffePath(path)).toEqual(validateSpiffePath(path, () => false));
      }),
      { numRuns: 5000 },
    );
  });
});
