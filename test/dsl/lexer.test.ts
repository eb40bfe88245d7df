import { describe, expect, it } from "vitest";
import { decodeString, tokenize } from "../../src/dsl/lexer.js";

function kinds(text: string): string[] {
  return tokenize("t.ward", text).tokens.map((t) => `${t.tokenType.name}:${t.image}`);
}

describe("tokenize", () => {
  it.each([
    ["policy", ["Kw_policy:policy"]],
    ["policyx", ["Identifier:policyx"]],
    ["inbound in", ["Identifier:inbound", "Kw_in:in"]],
    ["matches_regex matches", ["Kw_matches_regex:matches_regex", "Kw_matches:matches"]],
    ["starts_with ends_with contains", ["Kw_starts_with:starts_with", "Kw_ends_with:ends_with", "Kw_contains:contains"]],
    ["is present is absent", ["Kw_is:is", "Kw_present:present", "Kw_is:is", "Kw_absent:absent"]],
    ["== != <= >= < > =", ["Equal:==", "NotEqual:!=", "LessEqual:<=", "GreaterEqual:>=", "Less:<", "Greater:>", "Assign:="]],
    ["( ) [ ] { } , .", ["LParen:(", "RParen:)", "LBracket:[", "RBracket:]", "LCurly:{", "RCurly:}", "Comma:,", "Dot:."]],
    ["443 0.5", ["NumberLiteral:443", "NumberLiteral:0.5"]],
    ["30s 15m 24h 7d 250ms 1h30m", ["DurationLiteral:30s", "DurationLiteral:15m", "DurationLiteral:24h", "DurationLiteral:7d", "DurationLiteral:250ms", "DurationLiteral:1h30m"]],
    // A bad unit is still one token, so the checker can report it as one duration.
    ["30x 1.5h", ["DurationLiteral:30x", "DurationLiteral:1.5h"]],
    ['"a b" "x\\"y"', ['StringLiteral:"a b"', 'StringLiteral:"x\\"y"']],
    ["caller.spiffe_id", ["Identifier:caller", "Dot:.", "Identifier:spiffe_id"]],
    ['request.headers["x-env"]', ["Identifier:request", "Dot:.", "Identifier:headers", "LBracket:[", 'StringLiteral:"x-env"', "RBracket:]"]],
    ["true false", ["Kw_true:true", "Kw_false:false"]],
    ["&& || ! ===", ["Slip:&&", "Slip:||", "Bang:!", "Slip:==="]],
  ])("lexes %j", (text, expected) => {
    expect(kinds(text)).toEqual(expected);
    expect(tokenize("t.ward", text).diagnostics).toEqual([]);
  });

  it("keeps comments of both kinds, with positions, out of the token stream", () => {
    const r = tokenize("t.ward", '# one\npolicy // two\n  "x" # three');
    expect(r.tokens.map((t) => t.image)).toEqual(["policy", '"x"']);
    expect(r.comments.map((c) => [c.text, c.span.start.line, c.span.start.column, c.span.end.column])).toEqual([
      ["# one", 1, 1, 6],
      ["// two", 2, 8, 14],
      ["# three", 3, 7, 14],
    ]);
  });

  it("gives every token a half-open span with line and column", () => {
    const r = tokenize("t.ward", 'policy "p" {\n  allow');
    const allow = r.tokens[3]!;
    expect(allow.image).toBe("allow");
    expect(allow.startLine).toBe(2);
    expect(allow.startColumn).toBe(3);
  });

  it("counts lines exactly as diagnostics.ts does: `\\n` ends a line, `\\r` does not", () => {
    const r = tokenize("t.ward", "a\r\nb\rc\n d");
    expect(r.tokens.map((t) => [t.image, t.startLine, t.startColumn])).toEqual([
      ["a", 1, 1],
      ["b", 2, 1],
      ["c", 2, 3],
      ["d", 3, 2],
    ]);
  });

  it("reports unknown characters with a span and keeps the tokens around them", () => {
    const r = tokenize("t.ward", "a @@ b ; c");
    expect(r.tokens.map((t) => t.image)).toEqual(["a", "b", "c"]);
    expect(r.diagnostics.map((d) => [d.code, d.message, d.span?.start.column, d.span?.end.column])).toEqual([
      ["unexpected_character", "unexpected characters `@@`", 3, 5],
      ["unexpected_character", "unexpected character `;`", 8, 9],
    ]);
    expect(r.diagnostics[1]!.help).toContain("no `;` is needed");
  });

  it("reports an unterminated string and still hands the parser a string", () => {
    const r = tokenize("t.ward", 'x == "abc\ny');
    expect(r.diagnostics.map((d) => d.code)).toEqual(["unterminated_string"]);
    expect(r.tokens.map((t) => `${t.tokenType.name}:${t.image}`)).toEqual(["Identifier:x", "Equal:==", 'StringLiteral:"abc', "Identifier:y"]);
  });

  it("reports single-quoted strings with the double-quoted spelling", () => {
    const r = tokenize("t.ward", "x == 'GET'");
    expect(r.diagnostics.map((d) => [d.code, d.help])).toEqual([["single_quoted_string", 'write `"GET"`']]);
    expect(r.tokens[2]!.tokenType.name).toBe("StringLiteral");
  });

  it.each([
    ["request.path == /api/v1/**", "/api/v1/**"],
    ["caller.spiffe_id == spiffe://td/ns/x", "spiffe://td/ns/x"],
  ])("reports unquoted text in %j as one error, not a cascade", (text, value) => {
    const r = tokenize("t.ward", text);
    expect(r.diagnostics.map((d) => [d.code, d.help])).toEqual([["unquoted_string", `write \`"${value}"\``]]);
    expect(r.tokens.map((t) => t.tokenType.name)).toEqual(["Identifier", "Dot", "Identifier", "Equal", "StringLiteral"]);
    expect(r.comments).toEqual([]);
  });

  it("reports invalid escapes at the escape", () => {
    const r = tokenize("t.ward", 'x == "a\\db"');
    expect(r.diagnostics.map((d) => [d.code, d.span?.start.column, d.span?.end.column])).toEqual([["invalid_escape", 8, 10]]);
    expect(r.diagnostics[0]!.help).toContain("double it");
  });

  it("never drops an error: every character is either a token, whitespace, a comment or reported", () => {
    const text = "policy § \"ok\" ¿ { } €";
    const r = tokenize("t.ward", text);
    expect(r.diagnostics).toHaveLength(3);
  });
});

describe("decodeString", () => {
  it.each([
    ['"plain"', "plain"],
    ['"a\\"b"', 'a"b'],
    ['"a\\\\b"', "a\\b"],
    ['"\\n\\r\\t"', "\n\r\t"],
    ['"\\u00e9"', "é"],
    ['"\\u{1F600}"', "😀"],
    ['"^/api/v[0-9]+/\\\\d+$"', "^/api/v[0-9]+/\\d+$"],
    ['"unterminated', "unterminated"],
  ])("decodes %s", (image, value) => {
    const d = decodeString(image);
    expect(d.value).toBe(value);
    expect(d.problems).toEqual([]);
  });

  it.each([['"\\q"'], ['"\\u12"'], ['"\\u{110000}"'], ['"a\\']])("reports the bad escape in %s", (image) => {
    expect(decodeString(image).problems).toHaveLength(1);
  });
});
