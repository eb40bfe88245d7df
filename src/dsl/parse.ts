/**
 * `parseSource`: one file's text → its AST and every lexical and syntax
 * diagnostic (tokenize → parse → cstToAst). The formatter and the checker
 * both start here.
 */
import type { IToken } from "chevrotain";
import type { Diagnostic } from "../diagnostics.js";
import type { Declaration, PolicyFileAst } from "./ast.js";
import { declarationsFromCst, fileAst } from "./cst-to-ast.js";
import { spanOfToken, tokenize } from "./lexer.js";
import { parseTokens } from "./parser.js";
import * as T from "./tokens.js";

/**
 * How deeply conditions may nest (parentheses and `not`s together). Real
 * policies nest a few levels; the limit keeps every later stage's recursion
 * far from the JavaScript stack limit whatever text arrives.
 */
export const MAX_NESTING = 64;

/** The AST of a file (absent only when the file could not be parsed at all) and its diagnostics, in source order. */
export interface ParsedSource {
  readonly ast?: PolicyFileAst;
  readonly diagnostics: Diagnostic[];
}

/** A run of tokens starting at a `policy` or `test` keyword (the first run may start with stray tokens). */
interface Chunk {
  readonly tokens: IToken[];
  /** The token after the run (the next block's keyword), if any. */
  readonly next?: IToken;
}

/**
 * Splits the tokens before every `policy` and `test` keyword. The keywords
 * can only start a block, so a block never spans two runs; a block missing
 * its `}` simply ends at the next keyword, which is where recovery would
 * resume anyway.
 */
function splitAtBlocks(tokens: readonly IToken[]): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  for (let i = 1; i <= tokens.length; i++) {
    const t = tokens[i];
    if (t === undefined || t.tokenType === T.Policy || t.tokenType === T.Test) {
      chunks.push(t === undefined ? { tokens: tokens.slice(start, i) } : { tokens: tokens.slice(start, i), next: t });
      start = i;
    }
  }
  return chunks;
}

/** Finds the first token that nests conditions deeper than `MAX_NESTING`, if any. */
function tooDeep(tokens: readonly IToken[]): IToken | undefined {
  // Token types are compared directly (no categories are in use): this runs over every token.
  let depth = 0;
  let nots = 0;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === T.LParen || type === T.LBracket) depth++;
    else if (type === T.RParen || type === T.RBracket) depth = depth > 0 ? depth - 1 : 0;
    if (type === T.Not) nots++;
    else if (type !== T.LParen) nots = 0;
    if (depth + nots > MAX_NESTING) return t;
  }
  return undefined;
}

/**
 * Parses one file. Never throws on any text: lexical errors, syntax errors
 * (all that recovery finds) and over-deep nesting come back as diagnostics.
 * The AST holds whatever parsed completely, so the checker can report
 * problems in the rest of the file as well.
 */
export function parseSource(file: string, text: string): ParsedSource {
  const lexed = tokenize(file, text);
  const deep = tooDeep(lexed.tokens);
  if (deep) {
    return {
      diagnostics: [
        ...lexed.diagnostics,
        {
          code: "nesting_too_deep",
          severity: "error",
          message: `conditions nest more than ${MAX_NESTING} levels deep`,
          span: spanOfToken(file, deep),
          help: "split the condition into several rules or use a `let` list",
        },
      ],
    };
  }
  // Parse block by block and build each block's AST at once, so that the CST of
  // a big file never lives as a whole (it is most of the parse's memory).
  const declarations: Declaration[] = [];
  const syntaxErrors: Diagnostic[] = [];
  const astErrors: Diagnostic[] = [];
  for (const chunk of splitAtBlocks(lexed.tokens)) {
    const parsed = parseTokens(file, chunk.tokens, chunk.next);
    syntaxErrors.push(...parsed.diagnostics);
    const built = declarationsFromCst(file, parsed.declarations);
    for (const d of built.declarations) declarations.push(d);
    astErrors.push(...built.diagnostics);
  }
  const diagnostics = [...lexed.diagnostics, ...withoutCascades(syntaxErrors, lexed.diagnostics, lexed.tokens), ...astErrors];
  const lastToken = lexed.tokens[lexed.tokens.length - 1];
  const lastComment = lexed.comments[lexed.comments.length - 1];
  let last = lastToken ? spanOfToken(file, lastToken) : undefined;
  if (lastComment && (!last || lastComment.span.start.offset > last.start.offset)) last = lastComment.span;
  const ast = fileAst(file, text, declarations, lexed.comments, last);
  return { ast, diagnostics };
}

/**
 * Drops syntax errors caused by a lexical error: when the lexer skipped
 * characters (`1 + 2`: the `+`) right before the token the parser stumbled
 * on, the lexical error already says what is wrong there.
 */
function withoutCascades(syntax: readonly Diagnostic[], lexical: readonly Diagnostic[], tokens: readonly IToken[]): Diagnostic[] {
  if (lexical.length === 0) return [...syntax];
  const lexicalStarts = lexical.map((d) => d.span?.start.offset ?? -1).sort((a, b) => a - b);
  return syntax.filter((d) => {
    const at = d.span?.start.offset;
    if (at === undefined) return true;
    // The end of the token before the error (binary search over the tokens' start offsets).
    let lo = 0;
    let hi = tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((tokens[mid] as IToken).startOffset < at) lo = mid + 1;
      else hi = mid;
    }
    const before = tokens[lo - 1];
    const gapStart = before ? before.startOffset + before.image.length : 0;
    return !lexicalStarts.some((l) => l >= gapStart && l <= at);
  });
}
