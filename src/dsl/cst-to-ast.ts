/**
 * `cstToAst`: the parser's concrete syntax tree → the AST of ast.ts, with a
 * span on every node (cst_to_ast in Cedar's terms). After error recovery the
 * CST may be partial; an item with a missing piece (a rule without its
 * condition, a comparison without its right side) is left out of the AST:
 * the syntax error that made it partial has already been reported, and
 * checking half a rule would only add confusing errors.
 */
import { type CstElement, type CstNode, type IToken, type TokenType } from "chevrotain";
import { positionAt, type Diagnostic, type Pos, type Span } from "../diagnostics.js";
import type {
  AppliesClause,
  Declaration,
  Expr,
  Identifier,
  LetDecl,
  ListElement,
  ListLiteral,
  Literal,
  ModeClause,
  NameRef,
  NumberLiteral,
  Operand,
  PolicyDecl,
  PolicyFileAst,
  PolicyItem,
  RuleDecl,
  StringLiteral,
  TestDecl,
  TestStatement,
} from "./ast.js";
import type { CompareOp } from "./checked.js";
import { decodeString, joinSpans, spanOfToken, type CommentToken } from "./lexer.js";
import * as T from "./tokens.js";

/** The AST of one file and the problems found while building it (missing commas in lists). */
export interface CstToAstResult {
  readonly ast: PolicyFileAst;
  readonly diagnostics: Diagnostic[];
}

function isToken(e: CstElement): e is IToken {
  return (e as IToken).tokenType !== undefined;
}

/** A token from the text, not one chevrotain's recovery inserted. */
function isReal(t: IToken): boolean {
  return t.isInsertedInRecovery !== true && !Number.isNaN(t.startOffset);
}

/** The AST of some top-level blocks, and the problems found while building them. */
export interface DeclarationsResult {
  readonly declarations: Declaration[];
  readonly diagnostics: Diagnostic[];
}

/** Builds the AST of top-level blocks from their `declaration` CST nodes. */
export function declarationsFromCst(file: string, declarations: readonly CstNode[]): DeclarationsResult {
  const builder = new AstBuilder(file);
  const built: Declaration[] = [];
  for (const d of declarations) {
    const decl = builder.declaration(d);
    if (decl) built.push(decl);
  }
  return { declarations: built, diagnostics: builder.diagnostics };
}

/** Builds the AST of one file from its declaration CSTs. */
export function cstToAst(file: string, text: string, declarations: readonly CstNode[], comments: readonly CommentToken[]): CstToAstResult {
  const built = declarationsFromCst(file, declarations);
  return { ast: fileAst(file, text, built.declarations, comments), diagnostics: built.diagnostics };
}

/**
 * The file node around already built declarations. `last`, the last token
 * of the file if known, saves scanning the whole text for the end position.
 */
export function fileAst(file: string, text: string, declarations: Declaration[], comments: readonly CommentToken[], last?: Span): PolicyFileAst {
  const start = { offset: 0, line: 1, column: 1 };
  let end: Pos;
  if (!last) end = positionAt(text, text.length);
  else {
    const tail = positionAt(text.slice(last.end.offset), text.length - last.end.offset);
    end = tail.line === 1 ? { offset: text.length, line: last.end.line, column: last.end.column + tail.column - 1 } : { offset: text.length, line: last.end.line + tail.line - 1, column: tail.column };
  }
  return { kind: "file", file, declarations, comments, span: { file, start, end } };
}

/** Walks CST nodes; one instance per file, holding the file name and the diagnostics. */
class AstBuilder {
  readonly diagnostics: Diagnostic[] = [];

  constructor(private readonly file: string) {}

  // ---- CST access -------------------------------------------------------

  /** The real (not recovery-inserted) tokens of `type` directly under `node`. */
  private tokens(node: CstNode, type: TokenType): IToken[] {
    const found = node.children[type.name];
    if (!found) return [];
    return found.filter((e): e is IToken => isToken(e) && isReal(e));
  }

  /** The first real token of `type` directly under `node` (no allocation: this runs for every token of big files). */
  private token(node: CstNode, type: TokenType): IToken | undefined {
    const found = node.children[type.name];
    if (!found) return undefined;
    for (const e of found) if (isToken(e) && isReal(e)) return e;
    return undefined;
  }

  private nodes(node: CstNode, name: string): CstNode[] {
    return (node.children[name] ?? []) as CstNode[];
  }

  private node(node: CstNode, name: string): CstNode | undefined {
    const found = node.children[name];
    return found === undefined ? undefined : (found[0] as CstNode | undefined);
  }

  private span(token: IToken): Span {
    return spanOfToken(this.file, token);
  }

  // ---- declarations -----------------------------------------------------

  declaration(node: CstNode): Declaration | undefined {
    const policy = this.node(node, "policy");
    if (policy) return this.policy(policy);
    const test = this.node(node, "test");
    if (test) return this.test(test);
    return undefined;
  }

  private policy(node: CstNode): PolicyDecl | undefined {
    const keyword = this.token(node, T.Policy);
    const name = this.string(this.token(node, T.StringLiteral));
    if (!keyword || !name) return undefined;
    const items: PolicyItem[] = [];
    for (const itemNode of this.nodes(node, "policyItem")) {
      const item = this.policyItem(itemNode);
      if (item) items.push(item);
    }
    const close = this.token(node, T.RCurly);
    const last = close ? this.span(close) : (items[items.length - 1]?.span ?? name.span);
    return { kind: "policy", name, items, span: joinSpans(this.span(keyword), last) };
  }

  private policyItem(node: CstNode): PolicyItem | undefined {
    const applies = this.node(node, "appliesClause");
    if (applies) return this.appliesClause(applies);
    const mode = this.node(node, "modeClause");
    if (mode) return this.modeClause(mode);
    const letDecl = this.node(node, "letDecl");
    if (letDecl) return this.letDecl(letDecl);
    const rule = this.node(node, "ruleDecl");
    if (rule) return this.ruleDecl(rule);
    return undefined;
  }

  private appliesClause(node: CstNode): AppliesClause | undefined {
    const keyword = this.token(node, T.Applies);
    const exprNode = this.node(node, "expression");
    const condition = exprNode && this.expression(exprNode);
    if (!keyword || !condition || !this.token(node, T.When)) return undefined;
    return { kind: "applies", condition, span: joinSpans(this.span(keyword), condition.span) };
  }

  private modeClause(node: CstNode): ModeClause | undefined {
    const keyword = this.token(node, T.Mode);
    const value = this.identifier(this.token(node, T.Identifier));
    if (!keyword || !value) return undefined;
    return { kind: "mode", value, span: joinSpans(this.span(keyword), value.span) };
  }

  private letDecl(node: CstNode): LetDecl | undefined {
    const keyword = this.token(node, T.Let);
    const name = this.identifier(this.token(node, T.Identifier));
    const literalNode = this.node(node, "literal");
    const listNode = this.node(node, "list");
    const value = literalNode ? this.literal(literalNode) : listNode ? this.list(listNode) : undefined;
    if (!keyword || !name || !value || !this.token(node, T.Assign)) return undefined;
    return { kind: "let", name, value, span: joinSpans(this.span(keyword), value.span) };
  }

  private ruleDecl(node: CstNode): RuleDecl | undefined {
    const allow = this.token(node, T.Allow);
    const effectToken = allow ?? this.token(node, T.Deny);
    const name = this.string(this.token(node, T.StringLiteral));
    const exprNode = this.node(node, "expression");
    const condition = exprNode && this.expression(exprNode);
    if (!effectToken || !name || !condition || !this.token(node, T.When)) return undefined;
    const effectSpan = this.span(effectToken);
    return {
      kind: "rule",
      effect: allow ? "allow" : "deny",
      effectSpan,
      name,
      condition,
      span: joinSpans(effectSpan, condition.span),
    };
  }

  // ---- expressions ------------------------------------------------------

  private expression(node: CstNode): Expr | undefined {
    const operands: Expr[] = [];
    for (const n of this.nodes(node, "andExpr")) {
      const e = this.andExpr(n);
      if (!e) return undefined;
      operands.push(e);
    }
    return this.chain("or", operands);
  }

  private andExpr(node: CstNode): Expr | undefined {
    const operands: Expr[] = [];
    for (const n of this.nodes(node, "notExpr")) {
      const e = this.notExpr(n);
      if (!e) return undefined;
      operands.push(e);
    }
    return this.chain("and", operands);
  }

  private chain(kind: "and" | "or", operands: Expr[]): Expr | undefined {
    const first = operands[0];
    const last = operands[operands.length - 1];
    if (!first || !last) return undefined;
    if (operands.length === 1) return first;
    return { kind, operands, span: joinSpans(first.span, last.span) };
  }

  private notExpr(node: CstNode): Expr | undefined {
    const primaryNode = this.node(node, "primary");
    let expr = primaryNode && this.primary(primaryNode);
    if (!expr) return undefined;
    const nots = this.tokens(node, T.Not);
    for (let i = nots.length - 1; i >= 0; i--) {
      expr = { kind: "not", operand: expr, span: joinSpans(this.span(nots[i] as IToken), expr.span) };
    }
    return expr;
  }

  private primary(node: CstNode): Expr | undefined {
    const open = this.token(node, T.LParen);
    if (open) {
      const inner = this.node(node, "expression");
      const expr = inner && this.expression(inner);
      if (!expr) return undefined;
      const close = this.token(node, T.RParen);
      return { kind: "paren", expr, span: joinSpans(this.span(open), close ? this.span(close) : expr.span) };
    }
    const comparison = this.node(node, "comparison");
    return comparison && this.comparison(comparison);
  }

  private comparison(node: CstNode): Expr | undefined {
    const [leftNode, rightNode] = this.nodes(node, "operand");
    const left = leftNode && this.operand(leftNode);
    if (!left) return undefined;
    const opNode = this.node(node, "compareOp");
    if (opNode) {
      // The compareOp node has exactly one child: the operator token.
      let opToken: IToken | undefined;
      for (const key in opNode.children) {
        const t = opNode.children[key]?.[0];
        if (t && isToken(t) && isReal(t)) opToken = t;
      }
      const right = rightNode && this.operand(rightNode);
      if (!opToken || !right) return undefined;
      return {
        kind: "compare",
        left,
        op: opToken.image as CompareOp,
        opSpan: this.span(opToken),
        right,
        span: joinSpans(left.span, right.span),
      };
    }
    const is = this.token(node, T.Is);
    if (is) {
      const present = this.token(node, T.Present);
      const word = present ?? this.token(node, T.Absent);
      if (!word) return undefined;
      return { kind: "presence", subject: left, present: present !== undefined, span: joinSpans(left.span, this.span(word)) };
    }
    return left;
  }

  private operand(node: CstNode): Operand | undefined {
    const literal = this.node(node, "literal");
    if (literal) return this.literal(literal);
    const list = this.node(node, "list");
    if (list) return this.list(list);
    const name = this.node(node, "nameRef");
    return name && this.nameRef(name);
  }

  private nameRef(node: CstNode): NameRef | undefined {
    const path: Identifier[] = [];
    for (const t of this.tokens(node, T.Identifier)) path.push({ kind: "identifier", name: t.image, span: this.span(t) });
    const first = path[0];
    const lastSegment = path[path.length - 1];
    if (!first || !lastSegment) return undefined;
    // A dot without a following name (recovery) leaves a partial path: drop it.
    if (this.tokens(node, T.Dot).length !== path.length - 1) return undefined;
    const name = path.map((p) => p.name).join(".");
    const open = this.token(node, T.LBracket);
    if (!open) return { kind: "name", path, name, span: joinSpans(first.span, lastSegment.span) };
    const key = this.string(this.token(node, T.StringLiteral));
    if (!key) return undefined;
    const close = this.token(node, T.RBracket);
    return { kind: "name", path, name, key, span: joinSpans(first.span, close ? this.span(close) : key.span) };
  }

  private list(node: CstNode): ListLiteral | undefined {
    const open = this.token(node, T.LBracket);
    const close = this.token(node, T.RBracket);
    if (!open || !close) return undefined;
    const elements: ListElement[] = [];
    for (const n of this.nodes(node, "listElement")) {
      const literal = this.node(n, "literal");
      const nameNode = this.node(n, "nameRef");
      const element = literal ? this.literal(literal) : nameNode ? this.nameRef(nameNode) : undefined;
      if (!element) return undefined;
      elements.push(element);
    }
    // The grammar takes the commas as optional so that a missing one is a precise error here.
    // Commas and elements are both in source order: walk them together (lists may be long).
    const commas = this.tokens(node, T.Comma).map((t) => t.startOffset);
    let c = 0;
    for (let i = 1; i < elements.length; i++) {
      const prev = elements[i - 1] as ListElement;
      const cur = elements[i] as ListElement;
      while (c < commas.length && (commas[c] as number) < prev.span.end.offset) c++;
      const between = c < commas.length && (commas[c] as number) < cur.span.start.offset;
      if (!between) {
        this.diagnostics.push({
          code: "syntax_error",
          severity: "error",
          message: "expected `,` between list elements",
          span: { file: this.file, start: prev.span.end, end: cur.span.start },
          help: "separate list elements with commas: `[\"a\", \"b\"]`",
        });
      }
    }
    return { kind: "list", elements, span: joinSpans(this.span(open), this.span(close)) };
  }

  private literal(node: CstNode): Literal | undefined {
    const s = this.token(node, T.StringLiteral);
    if (s) return this.string(s);
    const n = this.token(node, T.NumberLiteral);
    if (n) return this.number(n);
    const d = this.token(node, T.DurationLiteral);
    if (d) return { kind: "duration", raw: d.image, span: this.span(d) };
    const t = this.token(node, T.True);
    if (t) return { kind: "bool", value: true, span: this.span(t) };
    const f = this.token(node, T.False);
    if (f) return { kind: "bool", value: false, span: this.span(f) };
    return undefined;
  }

  private string(token: IToken | undefined): StringLiteral | undefined {
    if (!token) return undefined;
    return { kind: "string", value: decodeString(token.image).value, raw: token.image, span: this.span(token) };
  }

  private number(token: IToken | undefined): NumberLiteral | undefined {
    if (!token) return undefined;
    return { kind: "number", value: Number(token.image), raw: token.image, span: this.span(token) };
  }

  private identifier(token: IToken | undefined): Identifier | undefined {
    if (!token) return undefined;
    return { kind: "identifier", name: token.image, span: this.span(token) };
  }

  // ---- tests ------------------------------------------------------------

  private test(node: CstNode): TestDecl | undefined {
    const keyword = this.token(node, T.Test);
    const name = this.string(this.token(node, T.StringLiteral));
    if (!keyword || !name) return undefined;
    const statements: TestStatement[] = [];
    for (const s of this.nodes(node, "testStatement")) {
      const statement = this.testStatement(s);
      if (statement) statements.push(statement);
    }
    const close = this.token(node, T.RCurly);
    const last = close ? this.span(close) : (statements[statements.length - 1]?.span ?? name.span);
    return { kind: "test", name, statements, span: joinSpans(this.span(keyword), last) };
  }

  private testStatement(node: CstNode): TestStatement | undefined {
    const given = this.node(node, "givenStatement");
    if (given) {
      const keyword = this.identifier(this.token(given, T.Identifier));
      if (!keyword) return undefined;
      const args: Literal[] = [];
      for (const l of this.nodes(given, "literal")) {
        const arg = this.literal(l);
        if (!arg) return undefined;
        args.push(arg);
      }
      const lastArg = args[args.length - 1];
      return { kind: "given", keyword, args, span: lastArg ? joinSpans(keyword.span, lastArg.span) : keyword.span };
    }
    const expect = this.node(node, "expectStatement");
    if (!expect) return undefined;
    const keyword = this.token(expect, T.Expect);
    const allow = this.token(expect, T.Allow);
    const effectToken = allow ?? this.token(expect, T.Deny);
    if (!keyword || !effectToken) return undefined;
    const by: StringLiteral[] = [];
    for (const t of this.tokens(expect, T.StringLiteral)) by.push(this.string(t) as StringLiteral);
    if (this.token(expect, T.By) && by.length === 0) return undefined;
    let status: NumberLiteral | undefined;
    if (this.token(expect, T.Status)) {
      status = this.number(this.token(expect, T.NumberLiteral));
      if (!status) return undefined;
    }
    const effectSpan = this.span(effectToken);
    const lastSpan = status?.span ?? by[by.length - 1]?.span ?? effectSpan;
    const base = { kind: "expect" as const, effect: allow ? ("allow" as const) : ("deny" as const), effectSpan, by, span: joinSpans(this.span(keyword), lastSpan) };
    return status ? { ...base, status } : base;
  }
}

