/**
 * The checked policy set: the contract between the language (`dsl/`) and the
 * engine (`engine/`). The checker produces it only when there are no errors:
 * names are resolved (no `let` references remain), every comparison reads an
 * attribute from the vocabulary on its left and a literal of a matching type on
 * its right, and literals are validated (SPIFFE IDs, CIDRs, globs, regexes,
 * durations, timestamps). The compiler may trust all of that.
 */
import type { Span } from "../diagnostics.js";
import type { AttributeType } from "./vocabulary.js";

/** A read of one attribute, e.g. `request.headers["x-env"]`. */
export interface AttributeRef {
  /** A vocabulary name, e.g. `request.headers`. */
  readonly name: string;
  /** For keyed attributes: the key (header names are lower-case already). */
  readonly key?: string;
  readonly type: AttributeType;
  readonly span: Span;
}

/** Comparison operators, as written in the language. */
export type CompareOp =
  | "=="
  | "!="
  | "in"
  | "matches"
  | "starts_with"
  | "ends_with"
  | "contains"
  | "matches_regex"
  | "<"
  | "<="
  | ">"
  | ">=";

/**
 * A validated literal. `glob` values are segment globs (`*` within one `/`
 * segment, `**` any number of whole segments); `regex` is RE2 syntax and has
 * already been compiled once by the checker; `cidr` values are normalized
 * (`10.0.0.0/8`, `::1/128`; a bare address gets a full-length prefix).
 */
export type CheckedValue =
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "string_set"; readonly values: readonly string[] }
  | { readonly kind: "glob"; readonly patterns: readonly string[] }
  | { readonly kind: "regex"; readonly pattern: string }
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "number_set"; readonly values: readonly number[] }
  | { readonly kind: "bool"; readonly value: boolean }
  /** Milliseconds. */
  | { readonly kind: "duration"; readonly ms: number }
  /** Epoch milliseconds. */
  | { readonly kind: "timestamp"; readonly ms: number }
  | { readonly kind: "cidr_set"; readonly cidrs: readonly string[] };

/** A checked boolean expression. Every node carries the span of its source text. */
export type CheckedExpr =
  | { readonly kind: "and"; readonly operands: readonly CheckedExpr[]; readonly span: Span }
  | { readonly kind: "or"; readonly operands: readonly CheckedExpr[]; readonly span: Span }
  | { readonly kind: "not"; readonly operand: CheckedExpr; readonly span: Span }
  | { readonly kind: "const"; readonly value: boolean; readonly span: Span }
  | {
      readonly kind: "compare";
      readonly attribute: AttributeRef;
      readonly op: CompareOp;
      readonly value: CheckedValue;
      readonly span: Span;
    }
  /** `attr is present` (present = true) / `attr is absent` (present = false). */
  | { readonly kind: "presence"; readonly attribute: AttributeRef; readonly present: boolean; readonly span: Span }
  /** A bare boolean attribute used as a condition: `caller.authenticated`. */
  | { readonly kind: "truthy"; readonly attribute: AttributeRef; readonly span: Span };

export type Effect = "allow" | "deny";
export type PolicyMode = "enforce" | "audit";

/** One rule, named uniquely within its policy. */
export interface CheckedRule {
  readonly name: string;
  readonly effect: Effect;
  readonly condition: CheckedExpr;
  readonly span: Span;
}

/** One policy: an optional applicability condition, a mode and its rules in source order. */
export interface CheckedPolicy {
  readonly name: string;
  readonly file: string;
  readonly mode: PolicyMode;
  /** Absent: the policy applies to every request. */
  readonly appliesWhen?: CheckedExpr;
  readonly rules: readonly CheckedRule[];
  readonly span: Span;
}

/** A policy test case (`test "..." { ... }` blocks), checked for form but not run. */
export interface CheckedTest {
  readonly name: string;
  readonly file: string;
  readonly span: Span;
  readonly caller?: string;
  /** Path as written, relative to the test file's directory. */
  readonly cert?: string;
  readonly request?: { readonly method: string; readonly path: string };
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly source?: string;
  readonly destination?: string;
  readonly context: readonly { readonly key: string; readonly value: string }[];
  /** RFC 3339 text, as written. */
  readonly at?: string;
  /** Path of a recorded input (compact input, Envoy CheckRequest JSON or decision record), relative to the test file. */
  readonly input?: string;
  readonly expect: {
    readonly effect: Effect;
    /** Rule names that must all be among the determining rules. */
    readonly by: readonly string[];
    readonly status?: number;
    readonly span: Span;
  };
}

/** The whole checked set, ready to compile. Source texts travel along for rendering diagnostics and explanations. */
export interface CheckedPolicySet {
  readonly policies: readonly CheckedPolicy[];
  readonly tests: readonly CheckedTest[];
  /** File name → source text, for every file that was checked. */
  readonly sources: ReadonlyMap<string, string>;
}
