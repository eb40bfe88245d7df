/**
 * The abstract syntax tree of a `.ward` file, as `cstToAst` builds it from
 * the parser's CST. It is faithful to the source: every node has a `span`,
 * parentheses stay as `paren` nodes, string literals keep their original
 * text (`raw`), `let` names are not resolved yet, and items keep their source
 * order. That is enough for the formatter (src/dsl/format.ts) to print a file
 * back, together with the comments, and for the checker to point at any part.
 *
 * Nothing here is validated beyond the grammar: an attribute name may be
 * unknown and a literal may be invalid; `check` reports that.
 */
import type { Span } from "../diagnostics.js";
import type { CompareOp, Effect } from "./checked.js";
import type { CommentToken } from "./lexer.js";

/** A bare name: a `let` name, an attribute path segment, a `mode` value, a test statement keyword. */
export interface Identifier {
  readonly kind: "identifier";
  readonly name: string;
  readonly span: Span;
}

/** A string literal: `value` is decoded (escapes applied); `raw` is the source text with its quotes. */
export interface StringLiteral {
  readonly kind: "string";
  readonly value: string;
  readonly raw: string;
  readonly span: Span;
}

/** A number literal (`443`, `0.5`); `raw` is the source text. */
export interface NumberLiteral {
  readonly kind: "number";
  readonly value: number;
  readonly raw: string;
  readonly span: Span;
}

/**
 * A duration literal as written (`30s`, `1h30m`). The checker parses it
 * (`parseDuration` in literals.ts) and reports a bad unit such as `30x`.
 */
export interface DurationLiteral {
  readonly kind: "duration";
  readonly raw: string;
  readonly span: Span;
}

/** `true` or `false`. */
export interface BoolLiteral {
  readonly kind: "bool";
  readonly value: boolean;
  readonly span: Span;
}

/** A single literal value. */
export type Literal = StringLiteral | NumberLiteral | DurationLiteral | BoolLiteral;

/**
 * A dotted name with an optional key: an attribute read such as
 * `caller.spiffe_id` or `request.headers["x-env"]`, or a `let` reference such
 * as `readers` (one segment, no key). Which one it is, the checker decides.
 */
export interface NameRef {
  readonly kind: "name";
  /** The segments, e.g. `request`, `headers`. */
  readonly path: readonly Identifier[];
  /** The segments joined with `.`, e.g. `request.headers`. */
  readonly name: string;
  /** The `["key"]` part, when written. */
  readonly key?: StringLiteral;
  readonly span: Span;
}

/** An element of a list literal: a literal, or the name of a `let` bound to a single literal. */
export type ListElement = Literal | NameRef;

/** `[a, b, c]`: a list of values (for `in` and `matches`). A trailing comma is allowed. */
export interface ListLiteral {
  readonly kind: "list";
  readonly elements: readonly ListElement[];
  readonly span: Span;
}

/** Anything that can stand on either side of a comparison. */
export type Operand = Literal | ListLiteral | NameRef;

/** `left op right`, e.g. `request.method in ["GET", "HEAD"]`. */
export interface CompareExpr {
  readonly kind: "compare";
  readonly left: Operand;
  readonly op: CompareOp;
  /** The span of the operator token. */
  readonly opSpan: Span;
  readonly right: Operand;
  readonly span: Span;
}

/** `subject is present` (present = true) or `subject is absent`. */
export interface PresenceExpr {
  readonly kind: "presence";
  readonly subject: Operand;
  readonly present: boolean;
  readonly span: Span;
}

/** `not operand`. */
export interface NotExpr {
  readonly kind: "not";
  readonly operand: Expr;
  readonly span: Span;
}

/** `a and b and c`: a chain of two or more operands at one level (parenthesised groups stay `paren` nodes). */
export interface AndExpr {
  readonly kind: "and";
  readonly operands: readonly Expr[];
  readonly span: Span;
}

/** `a or b or c`: a chain of two or more operands at one level. */
export interface OrExpr {
  readonly kind: "or";
  readonly operands: readonly Expr[];
  readonly span: Span;
}

/** `( expr )`, kept so that printing preserves the user's grouping; `span` includes the parentheses. */
export interface ParenExpr {
  readonly kind: "paren";
  readonly expr: Expr;
  readonly span: Span;
}

/**
 * A condition. Precedence, tightest first: comparison, `not`, `and`, `or`.
 * A bare operand is a condition too: a boolean attribute (`caller.authenticated`)
 * or `true`/`false`; the checker rejects other bare values.
 */
export type Expr = OrExpr | AndExpr | NotExpr | ParenExpr | CompareExpr | PresenceExpr | Operand;

/** `applies when <condition>`: which requests the policy governs. */
export interface AppliesClause {
  readonly kind: "applies";
  readonly condition: Expr;
  readonly span: Span;
}

/** `mode enforce` or `mode audit` (the checker validates the name). */
export interface ModeClause {
  readonly kind: "mode";
  readonly value: Identifier;
  readonly span: Span;
}

/** `let name = literal` or `let name = [list]`. */
export interface LetDecl {
  readonly kind: "let";
  readonly name: Identifier;
  readonly value: Literal | ListLiteral;
  readonly span: Span;
}

/** `allow "name" when <condition>` or `deny "name" when <condition>`. */
export interface RuleDecl {
  readonly kind: "rule";
  readonly effect: Effect;
  /** The span of the `allow`/`deny` keyword. */
  readonly effectSpan: Span;
  readonly name: StringLiteral;
  readonly condition: Expr;
  readonly span: Span;
}

/** Anything inside a policy block, in source order. */
export type PolicyItem = AppliesClause | ModeClause | LetDecl | RuleDecl;

/** `policy "name" { … }`. */
export interface PolicyDecl {
  readonly kind: "policy";
  readonly name: StringLiteral;
  readonly items: readonly PolicyItem[];
  readonly span: Span;
}

/**
 * A test input statement: a keyword and its values, e.g.
 * `request "POST" "/api/v1/charge"` or `header "x-id" "abc"`. The keywords
 * (caller, cert, request, header, source, destination, context, at, input)
 * and their arities are the checker's business, so an unknown keyword gets a
 * suggestion rather than a parse error.
 */
export interface TestGiven {
  readonly kind: "given";
  readonly keyword: Identifier;
  readonly args: readonly Literal[];
  readonly span: Span;
}

/** `expect allow|deny [by "rule", …] [status N]`. */
export interface TestExpect {
  readonly kind: "expect";
  readonly effect: Effect;
  readonly effectSpan: Span;
  readonly by: readonly StringLiteral[];
  readonly status?: NumberLiteral;
  readonly span: Span;
}

/** One statement of a test block, in source order. */
export type TestStatement = TestGiven | TestExpect;

/** `test "name" { … }`. */
export interface TestDecl {
  readonly kind: "test";
  readonly name: StringLiteral;
  readonly statements: readonly TestStatement[];
  readonly span: Span;
}

/** A top-level block. */
export type Declaration = PolicyDecl | TestDecl;

/** A whole file: its blocks in source order and every comment (for the formatter). */
export interface PolicyFileAst {
  readonly kind: "file";
  readonly file: string;
  readonly declarations: readonly Declaration[];
  readonly comments: readonly CommentToken[];
  readonly span: Span;
}
