/**
 * Request bodies of the HTTP API: JSON text → value, or a 400 message that says
 * what is wrong and where (`line:col`), in our words rather than the engine's
 * (V8's messages differ between versions and echo the body back).
 */
import { positionAt } from "../diagnostics.js";

/** The result of `parseJsonBody`: a value, or an error code and message for a 400. */
export type ParsedBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly code: "empty_body" | "invalid_json" | "forbidden_key"; readonly message: string };

/** What an empty body is told. */
export const EMPTY_BODY_MESSAGE = "request body is empty: expected a JSON input document (compact input or Envoy CheckRequest)";

/**
 * Parses a request body as JSON (RFC 8259). `__proto__` keys and
 * `constructor.prototype` are refused, as fastify's own parser does, so no
 * later object copy can be poisoned.
 */
export function parseJsonBody(text: string): ParsedBody {
  if (text.trim() === "") return { ok: false, code: "empty_body", message: EMPTY_BODY_MESSAGE };
  let forbidden: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text, function (key, v: unknown) {
      if (key === "__proto__") forbidden = key;
      else if (key === "constructor" && typeof v === "object" && v !== null && "prototype" in v) forbidden = key;
      return v;
    });
  } catch (err) {
    const located = locateJsonError(text);
    if (located) {
      const at = positionAt(text, located.offset);
      return { ok: false, code: "invalid_json", message: `request body is not valid JSON: ${located.message} at line ${at.line}, column ${at.column}` };
    }
    return { ok: false, code: "invalid_json", message: `request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (forbidden !== undefined) return { ok: false, code: "forbidden_key", message: `request body contains a \`${forbidden}\` key` };
  return { ok: true, value };
}

/** Where and why `text` is not JSON; undefined when it is (or when it nests too deeply to say). */
export function locateJsonError(text: string): { readonly offset: number; readonly message: string } | undefined {
  let i = 0;
  const n = text.length;
  class SyntaxProblem {
    constructor(
      readonly offset: number,
      readonly message: string,
    ) {}
  }
  const describe = (at: number) => (at >= n ? "end of input" : `\`${text[at]}\``);
  const fail = (message: string, at = i): never => {
    throw new SyntaxProblem(at, message);
  };
  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${describe(i)}, expected a value`);
  };
  const string = () => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= n) fail("unterminated string", start);
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 0x20) fail("control character in a string (escape it)");
      if (c === 92) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad `\\u` escape");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`bad escape \`\\${e ?? ""}\``);
      } else i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`unexpected ${describe(i)}, expected a property name in double quotes`);
        string();
        ws();
        if (text[i] !== ":") fail(`unexpected ${describe(i)}, expected \`:\``);
        i++;
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return;
        } else fail(`unexpected ${describe(i)}, expected \`,\` or \`}\``);
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return;
        } else fail(`unexpected ${describe(i)}, expected \`,\` or \`]\``);
      }
    } else if (c === '"') string();
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m || m[0] === "" || m[0] === "-") fail(`unexpected ${describe(i)}, expected a value`);
      else i += m[0].length;
    }
  };
  try {
    value();
    ws();
    if (i < n) fail(`unexpected ${describe(i)} after the JSON value`);
    return undefined;
  } catch (err) {
    if (err instanceof SyntaxProblem) return { offset: err.offset, message: err.message };
    return undefined; // RangeError: nested too deeply for this check
  }
}
