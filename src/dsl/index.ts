/**
 * The Ward policy language front end: `.ward` text → `CheckedPolicySet`
 * (docs/language.md). Stages, one file each: `tokenize` (lexer.ts) →
 * `parseTokens` (parser.ts, chevrotain) → `cstToAst` (cst-to-ast.ts) →
 * `check` (check.ts). `parseSource` (parse.ts) runs the first three for one
 * file; `checkPolicySources` runs them all for a set of files.
 */
import { fail, hasErrors, ok, sortDiagnostics, type Diagnostic, type Result, type Span } from "../diagnostics.js";
import type { Declaration, PolicyFileAst } from "./ast.js";
import { checkFiles, type ParsedFile } from "./check.js";
import type { CheckedPolicySet } from "./checked.js";
import { parseSource } from "./parse.js";

export type { PolicyFileAst } from "./ast.js";
export type { CommentToken, TokenizeResult } from "./lexer.js";
export { tokenize } from "./lexer.js";
export { parseSource, type ParsedSource } from "./parse.js";

/** One source file handed to the checker. */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
}

/**
 * Parses and checks a set of policy files together (policy names are unique
 * across the set; tests may name rules of any file). Returns the checked set
 * with its warnings, or every error and warning of every file, sorted by
 * file and position. Never throws on any input text.
 */
export function checkPolicySources(files: readonly PolicySource[]): Result<CheckedPolicySet> {
  const diagnostics: Diagnostic[] = [];
  const parsed: ParsedFile[] = [];
  for (const source of files) {
    const result = parseSource(source.file, source.text);
    diagnostics.push(...result.diagnostics);
    if (!result.ast) parsed.push({ ast: emptyFile(source.file), partial: true });
    else if (!hasErrors(result.diagnostics)) parsed.push({ ast: result.ast, partial: false });
    else parsed.push({ ast: withoutCutItems(result.ast, source.text, result.diagnostics), partial: true });
  }
  const checked = checkFiles(parsed);
  diagnostics.push(...checked.diagnostics);
  const sorted = sortDiagnostics(diagnostics);
  if (hasErrors(sorted)) return fail(sorted);
  const sources = new Map(files.map((f) => [f.file, f.text]));
  return ok({ policies: checked.policies, tests: checked.tests, sources }, sorted);
}

/**
 * Leaves out the items that a lexical or syntax error cut short or damaged.
 * In `allow "a" when x = 1` the parser stops the condition at `=`, so the AST
 * holds `allow "a" when x`; checking that would add an error about `x` to the
 * real one about `=`. An item is left out when an error lies inside it (a bad
 * escape makes its string's value meaningless) or right after it.
 */
function withoutCutItems(ast: PolicyFileAst, text: string, diagnostics: readonly Diagnostic[]): PolicyFileAst {
  const errorStarts = diagnostics
    .filter((d) => d.severity === "error" && d.span)
    .map((d) => (d.span as Span).start.offset)
    .sort((a, b) => a - b);
  if (errorStarts.length === 0) return ast;
  /** The first error at or after `offset` (binary search). */
  const firstErrorFrom = (offset: number): number | undefined => {
    let lo = 0;
    let hi = errorStarts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((errorStarts[mid] as number) < offset) lo = mid + 1;
      else hi = mid;
    }
    return errorStarts[lo];
  };
  const cut = (span: Span): boolean => {
    // An error inside the item (a bad escape, a skipped character) already says what is wrong with it.
    const inside = firstErrorFrom(span.start.offset);
    if (inside !== undefined && inside < span.end.offset) return true;
    const next = firstErrorFrom(span.end.offset);
    return next !== undefined && /^(?:\s|#[^\n]*|\/\/[^\n]*)*$/.test(text.slice(span.end.offset, next));
  };
  const declarations = ast.declarations.map((d): Declaration => {
    if (d.kind === "policy") return { ...d, items: d.items.filter((i) => !cut(i.span)) };
    return { ...d, statements: d.statements.filter((s) => !cut(s.span)) };
  });
  return { ...ast, declarations };
}

function emptyFile(file: string): PolicyFileAst {
  const at = { offset: 0, line: 1, column: 1 };
  return { kind: "file", file, declarations: [], comments: [], span: { file, start: at, end: at } };
}
