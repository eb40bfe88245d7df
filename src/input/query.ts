/**
 * Query parsing: the raw text after the first `?` → the decoded map that
 * `request.query["name"]` reads. It decodes the way the backends a mesh
 * fronts decode a query (WHATWG `application/x-www-form-urlencoded`, Go's
 * `url.ParseQuery`, servlet `getParameter`): pairs split at `&`, name and
 * value at the first `=`, `+` is a space, `%XX` is a byte, bytes are UTF-8.
 * Whatever those decoders read differently is refused rather than guessed
 * (see docs/paths.md, "Query").
 */
import { codeUnitName, percentByteAt, quote, readPercentUtf8 } from "./text.js";
import { createDataMap } from "../data-map.js";

/** Explicit relaxations of the query rules. */
export interface QueryOptions {
  /**
   * `query_invalid_percent_encoding` / `query_invalid_utf8`: keep the name or
   * value that breaks them as its raw, undecoded text instead of refusing the request.
   */
  readonly allowMalformedQuery?: boolean;
  /** `query_semicolon`: treat `;` as an ordinary character (never as a separator). */
  readonly allowSemicolons?: boolean;
  /** `query_raw_non_ascii`: accept raw non-ASCII characters (they decode to themselves). */
  readonly allowRawNonAscii?: boolean;
}

/** A rule a query can break; the `detail` of a `malformed_request` denial starts with it. */
export type QueryRule =
  | "query_invalid_percent_encoding"
  | "query_invalid_utf8"
  | "query_semicolon"
  | "query_raw_control_or_space"
  | "query_raw_non_ascii";

/** The result of `parseQuery`. */
export type ParsedQuery =
  | {
      readonly ok: true;
      /** Decoded name → decoded value; a repeated name's values joined with `,`. A data map (src/data-map.ts): nothing inherited. */
      readonly query: Readonly<Record<string, string>>;
      /** The relaxations this query needed. */
      readonly relaxed: readonly QueryRule[];
    }
  | { readonly ok: false; readonly rule: QueryRule; readonly detail: string };

const EMPTY: Readonly<Record<string, string>> = Object.freeze(createDataMap());
const NONE: readonly QueryRule[] = Object.freeze([]);

type Problem = { readonly rule: QueryRule; readonly detail: string };

/** Characters that need attention in a query component: `%`, `+`, `;`, controls, space, DEL, non-ASCII. */
function isSpecial(c: number): boolean {
  return c === 37 || c === 43 || c === 59 || c <= 0x20 || c >= 0x7f;
}

/**
 * Checks the raw characters of `text[start, end)`: refused whatever the
 * encoding (controls, space, and unless relaxed `;` and non-ASCII). Offsets
 * in details are offsets in the query text.
 */
function rawProblem(text: string, start: number, end: number, options: QueryOptions): Problem | undefined {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 59 && !options.allowSemicolons) {
      return { rule: "query_semicolon", detail: `\`;\` at query offset ${i}, which some backends read as a pair separator` };
    }
    if (c <= 0x20 || c === 0x7f) return { rule: "query_raw_control_or_space", detail: `raw ${codeUnitName(c)} at query offset ${i}` };
    if (c >= 0x80) {
      if (!options.allowRawNonAscii) {
        return { rule: "query_raw_non_ascii", detail: `raw ${codeUnitName(c)} at query offset ${i}; non-ASCII characters must be percent-encoded as UTF-8` };
      }
      const cp = text.codePointAt(i) as number;
      if (cp >= 0xd800 && cp <= 0xdfff) return { rule: "query_invalid_utf8", detail: `lone surrogate ${codeUnitName(cp)} at query offset ${i}` };
      if (cp > 0xffff) i++;
    }
  }
  return undefined;
}

/** Decodes one name or value in `text[start, end)` whose raw characters passed `rawProblem`. */
function decodeComponent(text: string, start: number, end: number): string | Problem {
  let out = "";
  let runStart = start;
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c !== 37 && c !== 43) {
      i++;
      continue;
    }
    if (runStart < i) out += text.slice(runStart, i);
    if (c === 43) {
      out += " ";
      i++;
    } else {
      const b = percentByteAt(text, i, end);
      if (b < 0) {
        return { rule: "query_invalid_percent_encoding", detail: `\`%\` at query offset ${i} is not followed by two hex digits: ${quote(text.slice(i, i + 3), 3)}` };
      }
      if (b < 0x80) {
        out += String.fromCharCode(b);
        i += 3;
      } else {
        const seq = readPercentUtf8(text, i, end);
        if (typeof seq === "string") return { rule: "query_invalid_utf8", detail: `${seq} at query offset ${i}` };
        out += String.fromCodePoint(seq.codePoint);
        i = seq.next;
      }
    }
    runStart = i;
  }
  if (runStart < end) out += text.slice(runStart, end);
  return out;
}

/**
 * Reads one component: raw checks, then decoding; with `allowMalformedQuery`
 * an encoding problem keeps the raw text (which passed the raw checks).
 */
function component(text: string, start: number, end: number, options: QueryOptions, relaxed: QueryRule[]): string | Problem {
  let plain = true;
  for (let i = start; i < end; i++) {
    if (isSpecial(text.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return text.slice(start, end);
  const problem = rawProblem(text, start, end, options);
  if (problem) return problem;
  const decoded = decodeComponent(text, start, end);
  if (typeof decoded === "string" || !options.allowMalformedQuery) return decoded;
  if (!relaxed.includes(decoded.rule)) relaxed.push(decoded.rule);
  return text.slice(start, end);
}

/**
 * Parses a raw query (`a=1&b=x%20y&a=2` → `{a: "1,2", b: "x y"}`). Pairs with
 * an empty name are skipped; a pair without `=` has the value `""`. Never throws.
 */
export function parseQuery(raw: string | undefined, options: QueryOptions = {}): ParsedQuery {
  if (raw === undefined || raw.length === 0) return { ok: true, query: EMPTY, relaxed: NONE };
  const query = createDataMap();
  const relaxed: QueryRule[] = [];
  let start = 0;
  const length = raw.length;
  while (start <= length) {
    let amp = raw.indexOf("&", start);
    if (amp === -1) amp = length;
    if (amp > start) {
      let eq = raw.indexOf("=", start);
      if (eq === -1 || eq > amp) eq = amp;
      const name = component(raw, start, eq, options, relaxed);
      if (typeof name !== "string") return { ok: false, rule: name.rule, detail: `${name.rule}: ${name.detail}` };
      const value = eq < amp ? component(raw, eq + 1, amp, options, relaxed) : "";
      if (typeof value !== "string") return { ok: false, rule: value.rule, detail: `${value.rule}: ${value.detail}` };
      if (name.length > 0) {
        const seen = query[name];
        query[name] = seen === undefined ? value : seen + "," + value;
      }
    }
    start = amp + 1;
  }
  if (options.allowSemicolons && raw.includes(";")) relaxed.push("query_semicolon");
  if (options.allowRawNonAscii && hasNonAscii(raw)) relaxed.push("query_raw_non_ascii");
  return { ok: true, query, relaxed: relaxed.length === 0 ? NONE : relaxed };
}

function hasNonAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return true;
  return false;
}
