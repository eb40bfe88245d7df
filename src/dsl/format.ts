/**
 * The formatter behind `ward fmt`: prints a parsed `.ward` file in one
 * canonical layout, with every comment kept. The layout (docs/cli.md, "ward fmt"):
 *
 * - two-space indentation; one blank line between top-level blocks; inside a
 *   block, a blank line is kept where the author left one (several become one);
 * - a rule or `applies when` whose condition is an `and`/`or` chain puts one
 *   operand per line, each after the first led by its `and`/`or`; a single
 *   condition stays on the keyword's line when it fits in 100 columns;
 * - a parenthesised chain or a list breaks over lines (one item per line,
 *   trailing commas) only when it does not fit or holds a comment;
 * - names are printed without inner spaces (`request.headers["x"]`), single
 *   spaces around operators, literals exactly as written (escapes included).
 *
 * Comments: a comment on the same line as the end of a printed line stays
 * there (trailing); any other comment is printed on its own line before the
 * next line of code, at that line's indentation (before a closing `}`, `)` or
 * `]`, at the indentation of the block's contents). A comment written inside
 * an expression that stays on one line moves to just before that line.
 *
 * `formatSource` re-parses its output and refuses to return it unless the
 * syntax tree (ignoring positions) and the comments are unchanged, so a
 * formatter bug can never rewrite a policy into a different one.
 */
import { fail, hasErrors, ok, positionAt, type Diagnostic, type Result } from "../diagnostics.js";
import type { AppliesClause, Declaration, Expr, LetDecl, ListLiteral, PolicyDecl, PolicyFileAst, PolicyItem, RuleDecl, TestDecl, TestStatement } from "./ast.js";
import { parseSource } from "./parse.js";
import type { CommentToken } from "./lexer.js";

/** The line width the layout aims for. */
export const FORMAT_WIDTH = 100;

const INDENT = "  ";

/** Whether a blank line may (or must) precede a printed line or its leading comments. */
type Gap = "never" | "keep" | "always";

/** One printed line, tied to the source range it came from so comments can be placed beside it. */
interface Line {
  readonly depth: number;
  readonly text: string;
  /** Source range `[start, end)` this line prints. */
  readonly start: number;
  readonly end: number;
  /** Gap before the first of (its leading comments, itself). */
  readonly gap: Gap;
  /** Gap between its leading comments, and between them and itself. */
  readonly innerGap: "never" | "keep";
  /** Closing `}`, `)` or `]`: comments before it are indented one level deeper. */
  readonly closer?: boolean;
}

interface Layout {
  readonly text: string;
  readonly comments: readonly CommentToken[];
}

/** Prints a parsed file in the canonical layout; `text` is the source it was parsed from (for blank lines and comments). */
export function formatAst(ast: PolicyFileAst, text: string): string {
  const layout: Layout = { text, comments: ast.comments };
  const lines: Line[] = [];
  ast.declarations.forEach((decl, i) => lines.push(...declarationLines(decl, layout, i === 0 ? "keep" : "always")));
  return render(lines, layout);
}

/**
 * Parses and formats one file. Files with syntax errors are refused (their
 * diagnostics are returned); checker errors such as an unknown attribute do
 * not stop formatting.
 */
export function formatSource(file: string, text: string): Result<string> {
  const parsed = parseSource(file, text);
  const syntaxErrors = parsed.diagnostics.filter((d) => d.severity === "error");
  if (syntaxErrors.length > 0 || parsed.ast === undefined) return fail(syntaxErrors);
  const formatted = formatAst(parsed.ast, text);
  const again = parseSource(file, formatted);
  if (hasErrors(again.diagnostics) || again.ast === undefined || !sameSyntax(parsed.ast, again.ast)) {
    const bug: Diagnostic = {
      code: "format_changed_meaning",
      severity: "error",
      message: `formatting \`${file}\` would change its syntax tree or comments, so it was left unchanged`,
      help: "this is a bug in `ward fmt`; please report it with the file",
    };
    return fail([bug]);
  }
  return ok(formatted);
}

/**
 * True when two parsed files are the same program with the same comments:
 * equal syntax trees once positions (`span`, `opSpan`, `effectSpan`) and the
 * file name are ignored, and the same comment texts in the same order.
 */
export function sameSyntax(a: PolicyFileAst, b: PolicyFileAst): boolean {
  const commentsA = a.comments.map((c) => c.text.trimEnd());
  const commentsB = b.comments.map((c) => c.text.trimEnd());
  return JSON.stringify(stripPositions(a.declarations)) === JSON.stringify(stripPositions(b.declarations)) && JSON.stringify(commentsA) === JSON.stringify(commentsB);
}

/** A copy of an AST value without positions, for comparing trees. */
export function stripPositions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripPositions);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (key === "span" || key === "opSpan" || key === "effectSpan" || key === "file") continue;
      out[key] = stripPositions(v);
    }
    return out;
  }
  return value;
}

// ---------------------------------------------------------------- declarations

function declarationLines(decl: Declaration, layout: Layout, gap: Gap): Line[] {
  return decl.kind === "policy" ? policyLines(decl, layout, gap) : testLines(decl, layout, gap);
}

function blockLines(
  keyword: string,
  decl: PolicyDecl | TestDecl,
  body: readonly (PolicyItem | TestStatement)[],
  layout: Layout,
  gap: Gap,
  printItem: (item: never, layout: Layout, gap: Gap) => Line[],
): Line[] {
  const lines: Line[] = [{ depth: 0, text: `${keyword} ${decl.name.raw} {`, start: decl.span.start.offset, end: decl.name.span.end.offset, gap, innerGap: "keep" }];
  body.forEach((item, i) => lines.push(...printItem(item as never, layout, i === 0 ? "never" : "keep")));
  lines.push(closer(0, "}", decl.span.end.offset));
  return lines;
}

function policyLines(decl: PolicyDecl, layout: Layout, gap: Gap): Line[] {
  return blockLines("policy", decl, decl.items, layout, gap, (item: PolicyItem, l, g) => policyItemLines(item, l, g));
}

function testLines(decl: TestDecl, layout: Layout, gap: Gap): Line[] {
  return blockLines("test", decl, decl.statements, layout, gap, (s: TestStatement, _l, g) => [
    { depth: 1, text: testStatementText(s), start: s.span.start.offset, end: s.span.end.offset, gap: g, innerGap: "keep" },
  ]);
}

function testStatementText(s: TestStatement): string {
  if (s.kind === "given") return [s.keyword.name, ...s.args.map(inline)].join(" ");
  const by = s.by.length > 0 ? ` by ${s.by.map((b) => b.raw).join(", ")}` : "";
  const status = s.status !== undefined ? ` status ${s.status.raw}` : "";
  return `expect ${s.effect}${by}${status}`;
}

function policyItemLines(item: PolicyItem, layout: Layout, gap: Gap): Line[] {
  switch (item.kind) {
    case "mode":
      return [{ depth: 1, text: `mode ${item.value.name}`, start: item.span.start.offset, end: item.span.end.offset, gap, innerGap: "keep" }];
    case "let":
      return letLines(item, layout, gap);
    case "applies":
    case "rule":
      return conditionalLines(item, layout, gap);
  }
}

function letLines(item: LetDecl, layout: Layout, gap: Gap): Line[] {
  const head = `let ${item.name.name} = `;
  const one = `${head}${inline(item.value)}`;
  const start = item.span.start.offset;
  const end = item.span.end.offset;
  if (item.value.kind !== "list" || (fits(1, one) && !hasCommentInside(layout, item.value.span))) {
    return [{ depth: 1, text: one, start, end, gap, innerGap: "keep" }];
  }
  return listLines(item.value, 1, head, "", start, layout, gap, "keep");
}

/** `allow "name" when …`, `deny "name" when …` and `applies when …`. */
function conditionalLines(item: AppliesClause | RuleDecl, layout: Layout, gap: Gap): Line[] {
  const head = item.kind === "applies" ? "applies when" : `${item.effect} ${item.name.raw} when`;
  const start = item.span.start.offset;
  const end = item.span.end.offset;
  const cond = item.condition;
  const isChain = cond.kind === "and" || cond.kind === "or";
  const one = `${head} ${inline(cond)}`;
  const headEnd = item.kind === "applies" ? Math.min(cond.span.start.offset, start + "applies".length) : item.name.span.end.offset;
  // Only comments after the head stay inside the item when it is broken (earlier ones move before it).
  if (!isChain && fits(1, one) && !hasCommentIn(layout, headEnd, end)) return [{ depth: 1, text: one, start, end, gap, innerGap: "keep" }];
  const lines: Line[] = [{ depth: 1, text: head, start, end: headEnd, gap, innerGap: "keep" }];
  if (cond.kind === "and" || cond.kind === "or") lines.push(...chainLines(cond, 2, layout));
  else lines.push(...exprLines(cond, 2, "", layout));
  return lines;
}

// ----------------------------------------------------------------- conditions

/** One operand per line; every operand after the first is led by the chain's `and`/`or`. */
function chainLines(chain: Extract<Expr, { kind: "and" | "or" }>, depth: number, layout: Layout): Line[] {
  return chain.operands.flatMap((operand, i) => exprLines(operand, depth, i === 0 ? "" : `${chain.kind} `, layout));
}

/** Lines for an expression: one line when it fits and holds no comment, else broken at its parentheses or list. */
function exprLines(e: Expr, depth: number, prefix: string, layout: Layout): Line[] {
  const start = e.span.start.offset;
  const end = e.span.end.offset;
  const one = `${prefix}${inline(e)}`;
  const single: Line = { depth, text: one, start, end, gap: "never", innerGap: "never" };
  // `not not (…)`: the `not`s stay on the opening line.
  let nots = "";
  let inner: Expr = e;
  while (inner.kind === "not") {
    nots += "not ";
    inner = inner.operand;
  }
  // Breaking keeps the comments between the brackets inside them; any other comment moves before
  // the line either way, so only the former may decide the layout (or formatting would not be idempotent).
  const bracketed = inner.kind === "paren" ? inner.span : nots === "" && inner.kind === "compare" && inner.right.kind === "list" ? inner.right.span : nots === "" && inner.kind === "list" ? inner.span : undefined;
  if (bracketed === undefined || (fits(depth, one) && !hasCommentInside(layout, bracketed))) return [single];
  if (inner.kind === "paren") {
    const body = inner.expr;
    const lines: Line[] = [{ depth, text: `${prefix}${nots}(`, start, end: inner.span.start.offset + 1, gap: "never", innerGap: "never" }];
    if (body.kind === "and" || body.kind === "or") lines.push(...chainLines(body, depth + 1, layout));
    else lines.push(...exprLines(body, depth + 1, "", layout));
    lines.push(closer(depth, ")", inner.span.end.offset));
    return lines;
  }
  if (nots === "" && inner.kind === "compare" && inner.right.kind === "list") {
    return listLines(inner.right, depth, `${prefix}${inline(inner.left)} ${inner.op} `, "", start, layout, "never", "never");
  }
  if (nots === "" && inner.kind === "list") return listLines(inner, depth, prefix, "", start, layout, "never", "never");
  return [single];
}

/** `head[` / one element per line with a trailing comma / `]`. */
function listLines(list: ListLiteral, depth: number, head: string, tail: string, start: number, _layout: Layout, gap: Gap, innerGap: "never" | "keep"): Line[] {
  const lines: Line[] = [{ depth, text: `${head}[`, start, end: list.span.start.offset + 1, gap, innerGap }];
  for (const el of list.elements) {
    lines.push({ depth: depth + 1, text: `${inline(el)},`, start: el.span.start.offset, end: el.span.end.offset, gap: "never", innerGap: "never" });
  }
  lines.push(closer(depth, `]${tail}`, list.span.end.offset));
  return lines;
}

function closer(depth: number, text: string, endOffset: number): Line {
  // Comments before a closer are the block's last words: blank lines among them are kept, none before the closer.
  return { depth, text, start: endOffset - 1, end: endOffset, gap: "never", innerGap: "keep", closer: true };
}

/** An expression on one line. */
export function inline(e: Expr): string {
  switch (e.kind) {
    case "or":
    case "and":
      return e.operands.map(inline).join(` ${e.kind} `);
    case "not":
      return `not ${inline(e.operand)}`;
    case "paren":
      return `(${inline(e.expr)})`;
    case "compare":
      return `${inline(e.left)} ${e.op} ${inline(e.right)}`;
    case "presence":
      return `${inline(e.subject)} is ${e.present ? "present" : "absent"}`;
    case "name":
      return `${e.path.map((p) => p.name).join(".")}${e.key ? `[${e.key.raw}]` : ""}`;
    case "list":
      return `[${e.elements.map(inline).join(", ")}]`;
    case "string":
    case "number":
    case "duration":
      return e.raw;
    case "bool":
      return e.value ? "true" : "false";
  }
}

function fits(depth: number, text: string): boolean {
  return depth * INDENT.length + text.length <= FORMAT_WIDTH;
}

/** True when a comment starts strictly between the brackets that open and close `span`. */
function hasCommentInside(layout: Layout, span: { readonly start: { readonly offset: number }; readonly end: { readonly offset: number } }): boolean {
  return hasCommentIn(layout, span.start.offset + 1, span.end.offset - 1);
}

function hasCommentIn(layout: Layout, start: number, end: number): boolean {
  return layout.comments.some((c) => c.span.start.offset >= start && c.span.start.offset < end);
}

// ------------------------------------------------------------------- comments

/** Prints lines with the comments placed beside them (see the module comment for the rules). */
function render(lines: readonly Line[], layout: Layout): string {
  const { text } = layout;
  const comments = [...layout.comments].sort((a, b) => a.span.start.offset - b.span.start.offset);
  const leading = new Map<number, CommentToken[]>();
  const trailing = new Map<number, CommentToken>();
  const atEnd: CommentToken[] = [];
  const lineOf = (offset: number): number => positionAt(text, offset).line;

  for (const c of comments) {
    const at = c.span.start.offset;
    const inside = lines.findIndex((l) => l.start <= at && at < l.end);
    if (inside >= 0) {
      push(leading, inside, c);
      continue;
    }
    let before = -1;
    for (let i = 0; i < lines.length; i++) if ((lines[i] as Line).end <= at) before = i;
    const prev = before >= 0 ? (lines[before] as Line) : undefined;
    if (prev && !trailing.has(before) && lineOf(Math.max(prev.start, prev.end - 1)) === c.span.start.line) {
      trailing.set(before, c);
      continue;
    }
    const next = lines.findIndex((l) => l.start >= at);
    if (next >= 0) push(leading, next, c);
    else atEnd.push(c);
  }

  const out: string[] = [];
  let lastEnd = 0; // source offset of the last printed thing, for blank-line detection
  const blankInSource = (from: number, to: number): boolean => from < to && /\n[ \t\r]*\n/.test(text.slice(from, to));
  const emit = (depth: number, line: string): void => {
    out.push(line === "" ? "" : `${INDENT.repeat(depth)}${line}`);
  };
  const gapBefore = (gap: Gap, from: number, to: number): void => {
    if (out.length === 0 || gap === "never") return;
    if (gap === "always" || blankInSource(from, to)) out.push("");
  };

  lines.forEach((line, i) => {
    const before = leading.get(i) ?? [];
    const commentDepth = line.closer ? line.depth + 1 : line.depth;
    before.forEach((c, j) => {
      const gap: Gap = j === 0 ? (line.closer ? line.innerGap : line.gap) : line.innerGap;
      gapBefore(gap, lastEnd, c.span.start.offset);
      emit(commentDepth, c.text.trimEnd());
      lastEnd = Math.max(lastEnd, c.span.end.offset);
    });
    const gap: Gap = before.length === 0 ? line.gap : line.closer ? "never" : line.innerGap;
    gapBefore(gap, lastEnd, line.start);
    const tail = trailing.get(i);
    emit(line.depth, tail ? `${line.text}  ${tail.text.trimEnd()}` : line.text);
    lastEnd = Math.max(lastEnd, line.end, tail ? tail.span.end.offset : 0);
  });
  atEnd.forEach((c) => {
    gapBefore("keep", lastEnd, c.span.start.offset);
    emit(0, c.text.trimEnd());
    lastEnd = c.span.end.offset;
  });
  return out.length > 0 ? `${out.join("\n")}\n` : "";
}

function push(map: Map<number, CommentToken[]>, key: number, value: CommentToken): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
