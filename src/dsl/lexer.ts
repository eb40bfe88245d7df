/**
 * `tokenize`: policy text → tokens, comments and lexical diagnostics. The
 * first stage of docs/architecture.md's policy flow. Lexer errors are never
 * dropped: each becomes a `Diagnostic` with a span, and the token stream is
 * repaired (an unterminated string still becomes a string) so that the parser
 * can go on and report the rest of the file's errors too.
 */
import { createTokenInstance, Lexer, type IToken } from "chevrotain";
import type { Diagnostic, Span } from "../diagnostics.js";
import { ALL_TOKENS, COMMENT_GROUP, SingleQuotedString, StringLiteral, UnquotedText, UnterminatedString } from "./tokens.js";

/** A comment as written (`# …` or `// …`, without the line break), with its location. */
export interface CommentToken {
  readonly text: string;
  readonly span: Span;
}

/** The output of `tokenize`: the tokens the parser reads, the comments beside them, and lexical problems. */
export interface TokenizeResult {
  /** Significant tokens, in order, without whitespace and comments (chevrotain tokens, ready for the parser). */
  readonly tokens: IToken[];
  /** Every comment, in order, so the formatter can keep them. */
  readonly comments: CommentToken[];
  readonly diagnostics: Diagnostic[];
}

/**
 * The lexer is stateless between calls (chevrotain keeps no state per text),
 * so one instance serves every file; building it validates the token table once.
 */
const policyLexer = new Lexer([...ALL_TOKENS], {
  // Tokens never span lines (strings and comments end at the line break), so the
  // end of a token follows from its start and length: `spanOfToken` computes it.
  positionTracking: "onlyStart",
  ensureOptimizations: true,
  // Only `\n` ends a line (a `\r` before it is part of the line), exactly as
  // `positionAt` and `renderDiagnostic` in diagnostics.ts count lines.
  lineTerminatorsPattern: /\n/g,
  lineTerminatorCharacters: ["\n"],
});

/** The span of a token in `file` (half-open: the end is one past the last character). */
export function spanOfToken(file: string, token: IToken): Span {
  const endOffset = (token.endOffset ?? token.startOffset + token.image.length - 1) + 1;
  const startLine = token.startLine ?? 1;
  const startColumn = token.startColumn ?? 1;
  return {
    file,
    start: { offset: token.startOffset, line: startLine, column: startColumn },
    end: { offset: endOffset, line: token.endLine ?? startLine, column: (token.endColumn ?? startColumn + token.image.length - 1) + 1 },
  };
}

/** The span from the start of `first` to the end of `last`. */
export function joinSpans(first: Span, last: Span): Span {
  return { file: first.file, start: first.start, end: last.end };
}

/** Builds a span on one line from a start position and a length. */
function lineSpan(file: string, offset: number, line: number, column: number, length: number): Span {
  const width = Math.max(0, length);
  return { file, start: { offset, line, column }, end: { offset: offset + width, line, column: column + width } };
}

/** One problem inside a string literal, at an offset within the token's image. */
interface StringProblem {
  readonly at: number;
  readonly length: number;
  readonly message: string;
  readonly help?: string;
}

/** The value of a decoded string literal and any escape problems found in it. */
export interface DecodedString {
  readonly value: string;
  readonly problems: readonly StringProblem[];
}

function isHex(c: string): boolean {
  return (c >= "0" && c <= "9") || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");
}

const NO_PROBLEMS: readonly StringProblem[] = [];

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", n: "\n", r: "\r", t: "\t" };

/**
 * Decodes a string literal's image: with its opening quote, and its closing
 * quote unless the string is unterminated. Invalid escapes are reported
 * (offsets within the image) and kept as written, so a value always exists.
 * A single-quoted image (already reported by `tokenize`) has no escapes.
 */
export function decodeString(image: string): DecodedString {
  // An unquoted path or SPIFFE ID that `tokenize` repaired (and reported) is its own value.
  if (image[0] !== '"' && image[0] !== "'") return { value: image, problems: NO_PROBLEMS };
  // The common case, a closed string without escapes, is a plain slice.
  if (image.length >= 2 && image[image.length - 1] === image[0] && !image.includes("\\")) return { value: image.slice(1, -1), problems: NO_PROBLEMS };
  const quote = image[0] === "'" ? "'" : '"';
  const problems: StringProblem[] = [];
  let value = "";
  let i = 1;
  const n = image.length;
  while (i < n) {
    const c = image[i] as string;
    if (c === quote) break;
    if (c !== "\\" || quote === "'") {
      value += c;
      i++;
      continue;
    }
    const next = image[i + 1];
    if (next === undefined) {
      problems.push({ at: i, length: 1, message: "a string must not end with a lone `\\`" });
      break;
    }
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      value += simple;
      i += 2;
      continue;
    }
    if (next === "u") {
      if (image[i + 2] === "{") {
        const close = image.indexOf("}", i + 3);
        const hex = close === -1 ? "" : image.slice(i + 3, close);
        if (hex.length >= 1 && hex.length <= 6 && [...hex].every(isHex) && parseInt(hex, 16) <= 0x10ffff) {
          value += String.fromCodePoint(parseInt(hex, 16));
          i = close + 1;
          continue;
        }
      } else {
        const hex = image.slice(i + 2, i + 6);
        if (hex.length === 4 && [...hex].every(isHex)) {
          value += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          continue;
        }
      }
      problems.push({
        at: i,
        length: 2,
        message: "invalid unicode escape",
        help: "write `\\uXXXX` with four hex digits or `\\u{X…}` with one to six",
      });
      value += "\\u";
      i += 2;
      continue;
    }
    problems.push({
      at: i,
      length: 2,
      message: `unknown escape \`\\${next}\` in a string`,
      help: "the escapes are `\\\"`, `\\\\`, `\\n`, `\\r`, `\\t` and `\\u`; to write a backslash (as in a regex), double it: `\\\\`",
    });
    value += "\\" + next;
    i += 2;
  }
  return { value, problems };
}

function describeCharacters(text: string): string {
  const shown = text.length > 20 ? `${text.slice(0, 20)}…` : text;
  return `\`${shown.replace(/`/g, "'")}\``;
}

function helpForCharacters(text: string): string | undefined {
  const c = text[0];
  if (c === "'") return "strings are written in double quotes: `\"…\"`";
  if (c === "/") return "paths and patterns are strings: write them in double quotes, e.g. `\"/api/v1/**\"`";
  if (c === "-") return "names use `_`, not `-`; negative numbers are not part of the language";
  if (c === ":") return "a test statement takes its values without `:`, e.g. `caller \"spiffe://…\"`";
  if (c === ";") return "statements end at the line break; no `;` is needed";
  if (c === "*") return "globs are strings: write them in double quotes, e.g. `\"/api/*\"`";
  return undefined;
}

/**
 * Splits `text` into tokens. Never throws: unknown characters, unterminated
 * strings, single-quoted strings, unquoted paths and SPIFFE IDs and bad
 * escapes become diagnostics (`unexpected_character`, `unterminated_string`,
 * `single_quoted_string`, `unquoted_string`, `invalid_escape`), and the tokens
 * around them are kept.
 */
export function tokenize(file: string, text: string): TokenizeResult {
  const lexed = policyLexer.tokenize(text);
  const diagnostics: Diagnostic[] = [];
  for (const e of lexed.errors) {
    const chars = text.slice(e.offset, e.offset + e.length);
    const help = helpForCharacters(chars);
    const message =
      chars.length === 1 ? `unexpected character ${describeCharacters(chars)}` : `unexpected characters ${describeCharacters(chars)}`;
    const span = lineSpan(file, e.offset, e.line ?? 1, e.column ?? 1, e.length);
    diagnostics.push(help === undefined ? { code: "unexpected_character", severity: "error", message, span } : { code: "unexpected_character", severity: "error", message, span, help });
  }
  const tokens: IToken[] = [];
  for (const token of lexed.tokens) {
    if (token.tokenType === UnterminatedString || token.tokenType === SingleQuotedString || token.tokenType === UnquotedText) {
      diagnostics.push(repairDiagnostic(file, token));
      // Hand the parser a string so one missing quote is one error, not a cascade.
      tokens.push(
        createTokenInstance(
          StringLiteral,
          token.image,
          token.startOffset,
          token.startOffset + token.image.length - 1,
          token.startLine ?? 1,
          token.startLine ?? 1,
          token.startColumn ?? 1,
          (token.startColumn ?? 1) + token.image.length - 1,
        ),
      );
      if (token.tokenType === UnterminatedString) checkEscapes(file, token, diagnostics);
      continue;
    }
    if (token.tokenType === StringLiteral) checkEscapes(file, token, diagnostics);
    tokens.push(token);
  }
  const comments: CommentToken[] = (lexed.groups[COMMENT_GROUP] ?? []).map((t) => ({ text: t.image, span: spanOfToken(file, t) }));
  return { tokens, comments, diagnostics };
}

/** The diagnostic for a token that `tokenize` repairs into a string. */
function repairDiagnostic(file: string, token: IToken): Diagnostic {
  const span = spanOfToken(file, token);
  if (token.tokenType === UnterminatedString) {
    return { code: "unterminated_string", severity: "error", message: "unterminated string", span, help: "a string ends with `\"` on the same line" };
  }
  const text = token.tokenType === SingleQuotedString ? token.image.slice(1, -1) : token.image;
  const help = `write \`"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"\``;
  return token.tokenType === SingleQuotedString
    ? { code: "single_quoted_string", severity: "error", message: "strings are written in double quotes", span, help }
    : { code: "unquoted_string", severity: "error", message: "text values are written in double quotes", span, help };
}

function checkEscapes(file: string, token: IToken, diagnostics: Diagnostic[]): void {
  if (!token.image.includes("\\")) return;
  for (const p of decodeString(token.image).problems) {
    const offset = token.startOffset + p.at;
    const column = (token.startColumn ?? 1) + p.at;
    const span = lineSpan(file, offset, token.startLine ?? 1, column, p.length);
    diagnostics.push(
      p.help === undefined
        ? { code: "invalid_escape", severity: "error", message: p.message, span }
        : { code: "invalid_escape", severity: "error", message: p.message, span, help: p.help },
    );
  }
}
