import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { locateJsonError, parseJsonBody } from "../../src/http/body.js";

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("parseJsonBody", () => {
  it("parses JSON", () => {
    expect(parseJsonBody('{"a": [1, "x", null]}')).toEqual({ ok: true, value: { a: [1, "x", null] } });
  });

  it("says what and where for bad JSON", () => {
    const cases: [string, string][] = [
      ['{"a": 1,}', "unexpected `}`, expected a property name in double quotes at line 1, column 9"],
      ["{'a': 1}", "unexpected `'`, expected a property name in double quotes at line 1, column 2"],
      ['{"a" 1}', "unexpected `1`, expected `:` at line 1, column 6"],
      ['[1, 2\n', "unexpected end of input, expected `,` or `]` at line 2, column 1"],
      ['{"a": "b\n"}', "control character in a string (escape it) at line 1, column 9"],
      ['"abc', "unterminated string at line 1, column 1"],
      ['{"a": tru}', "unexpected `t`, expected a value at line 1, column 7"],
      ['{"a": 1} x', "unexpected `x` after the JSON value at line 1, column 10"],
      ['{"a": "\\x"}', "bad escape `\\x` at line 1, column 8"],
      ["-", "unexpected `-`, expected a value at line 1, column 1"],
    ];
    for (const [text, message] of cases) {
      expect(parseJsonBody(text), text).toEqual({ ok: false, code: "invalid_json", message: `request body is not valid JSON: ${message}` });
    }
  });

  it("refuses empty bodies and prototype poisoning", () => {
    expect(parseJsonBody("  \n")).toMatchObject({ ok: false, code: "empty_body" });
    expect(parseJsonBody('{"__proto__": {"x": 1}}')).toMatchObject({ ok: false, code: "forbidden_key" });
    expect(parseJsonBody('{"a": {"constructor": {"prototype": {}}}}')).toMatchObject({ ok: false, code: "forbidden_key" });
    expect(parseJsonBody('{"headers": {"constructor": "x"}}')).toMatchObject({ ok: true });
  });

  it("finds an error exactly when JSON.parse does", () => {
    const mutated = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom("", ",", "}", "]", '"', ":", "\\", "\n", "x", "-", "0", "{", "["))
      .map(([text, at, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i);
      });
    fc.assert(
      fc.property(fc.oneof(fc.json(), mutated, fc.string()), (text) => {
        expect(locateJsonError(text) === undefined).toBe(parses(text));
      }),
      { numRuns: 3000 },
    );
  });
});
