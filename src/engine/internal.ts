/**
 * The evaluation structures behind a `Program` (src/engine/program.ts): what
 * `compile` builds and `evaluate`, explanations and coverage read. Not part of
 * the public contract; other modules use `Program`'s public fields only.
 */
import type { Span } from "../diagnostics.js";
import type { CheckedExpr, Effect, PolicyMode } from "../dsl/checked.js";
import type { AttributeReader } from "./attributes.js";
import type { RuleRef } from "./decision.js";
import { formatExpr } from "./format.js";
import type { Test } from "./matchers.js";
import type { RulePlans } from "./plan.js";
import type { Program } from "./program.js";
import type { RuleIndex } from "./rule-index.js";

/**
 * A leaf condition with what explanations and coverage report about it. It is
 * also the leaf of the condition tree. Texts are sliced from the sources only
 * when an explanation or coverage summary asks (see `sourceText`), so a large
 * program stays small.
 */
export interface LeafInfo {
  readonly kind: "leaf";
  /** Dense id, 0..leafCount-1, in source order. */
  readonly id: number;
  readonly test: Test;
  readonly read: AttributeReader;
  /** Attribute type, for rendering the actual value (timestamps as RFC 3339). */
  readonly attributeType: string;
  readonly expr: CheckedExpr;
  readonly file: string;
  readonly policy: string;
  /** The rule the leaf belongs to; undefined for a policy's `applies when`. */
  readonly rule?: string;
}

/** A condition kept as a small tree over compiled leaves, for the explain / coverage walk (never the hot path). */
export type ConditionNode =
  | { readonly kind: "and" | "or"; readonly operands: readonly ConditionNode[]; readonly expr: CheckedExpr }
  | { readonly kind: "not"; readonly operand: ConditionNode; readonly expr: CheckedExpr }
  | { readonly kind: "const"; readonly value: boolean; readonly expr: CheckedExpr }
  | LeafInfo;

/** The source text of a condition, sliced by its span; a rendering when the source is not at hand. */
export function sourceText(sources: ReadonlyMap<string, string>, e: CheckedExpr): string {
  const text = sources.get(e.span.file);
  const s = text?.slice(e.span.start.offset, e.span.end.offset);
  return s !== undefined && s.length > 0 ? s : formatExpr(e);
}

/** One compiled rule. */
export interface CompiledRule {
  /** Dense id, 0..ruleCount-1, in source order (policy order, then rule order): determining rules are reported in it. */
  readonly id: number;
  readonly policyId: number;
  readonly name: string;
  readonly effect: Effect;
  readonly span: Span;
  /** The condition as a tree (explanations, coverage); the hot path runs its plan instead. */
  readonly node: ConditionNode;
  /** The rule as reported with the policy's own mode (under the global audit switch the verdict reports it as `audit`). */
  readonly ref: RuleRef;
  /** `ref` as reported under the global audit switch (mode `audit`), made once so every decision shares it. */
  readonly auditRef: RuleRef;
  readonly enforced: boolean;
}

/** One compiled policy. */
export interface CompiledPolicy {
  readonly id: number;
  readonly name: string;
  readonly file: string;
  readonly mode: PolicyMode;
  /** The `applies when` condition as a tree; undefined: applies to every request. */
  readonly appliesNode?: ConditionNode;
  readonly rules: readonly CompiledRule[];
}

/**
 * Scratch marks reused across evaluations instead of allocating per request:
 * an entry "counts" only when it equals the current generation, and every
 * evaluation takes a fresh generation, so stale marks are harmless (even if an
 * evaluation were re-entered). This is bookkeeping, not state that changes a decision.
 */
export interface Scratch {
  generation: number;
  /** Policy id → generation in which it was found to apply (policies without `applies when` are marked first). */
  readonly policyApplicable: Uint32Array;
  /** Policy id → generation in which its `applies when` was evaluated (dedup of `~id` index entries). */
  readonly policySeen: Uint32Array;
  /** Rule id → generation in which it was evaluated (dedup of `~id` index entries). */
  readonly ruleSeen: Uint32Array;
}

/** Everything evaluation needs. */
export interface ProgramInternals {
  /** File name → source text, for explanation texts. */
  readonly sources: ReadonlyMap<string, string>;
  readonly policies: readonly CompiledPolicy[];
  readonly rules: readonly CompiledRule[];
  readonly leaves: readonly LeafInfo[];
  /** Policies without `applies when` (they apply to every request). */
  readonly alwaysApplicable: readonly number[];
  /** Counts of policies without `applies when`, by mode. */
  readonly alwaysEnforce: number;
  readonly alwaysAudit: number;
  /** Pre-filter over policies' `applies when`. */
  readonly policyIndex: RuleIndex;
  /** Pre-filter over rules (their own conditions and their policy's `applies when`). */
  readonly ruleIndex: RuleIndex;
  /** Each policy's `applies when` as a plan (an empty plan for a policy without one). */
  readonly policyPlans: RulePlans;
  /**
   * What the hot loop needs of a policy, in one place (one cache line):
   * `policyMeta[POLICY_META * id + k]` for k = `PM_ENFORCED` (1 or 0),
   * `PM_PLAN_FROM` / `PM_PLAN_END` (its `applies when` in `policyPlans.code`),
   * `PM_BOUND_FROM` / `PM_BOUND_END` (its bound rules in `boundIds`: rules
   * filed through its `applies when`, run whenever it applies).
   */
  readonly policyMeta: Int32Array;
  readonly boundIds: Int32Array;
  /** Likewise per rule: `ruleMeta[RULE_META * id + k]`, k = `RM_POLICY`, `RM_PLAN_FROM`, `RM_PLAN_END` (in `plans.code`). */
  readonly ruleMeta: Int32Array;
  /** Every rule's condition as a plan (plan.ts): what the hot loop runs. It touches a `CompiledRule` only for a rule that matched. */
  readonly plans: RulePlans;
  readonly scratch: Scratch;
}

/** Layout of `ProgramInternals.policyMeta` and `ruleMeta`. */
export const POLICY_META = 5;
export const PM_ENFORCED = 0;
export const PM_PLAN_FROM = 1;
export const PM_PLAN_END = 2;
export const PM_BOUND_FROM = 3;
export const PM_BOUND_END = 4;
export const RULE_META = 3;
export const RM_POLICY = 0;
export const RM_PLAN_FROM = 1;
export const RM_PLAN_END = 2;

/** The key under which a program carries its internals. */
export const INTERNALS: unique symbol = Symbol("ward.engine.program");

/** A program as `compile` builds it. */
export type CompiledProgram = Program & { readonly [INTERNALS]: ProgramInternals };

/** The internals of a program built by `compile`; throws for any other object (a bug in the caller). */
export function internalsOf(program: Program): ProgramInternals {
  const internals = (program as Partial<CompiledProgram>)[INTERNALS];
  if (internals === undefined) throw new Error("the program was not built by `compile`");
  return internals;
}

/** Takes a fresh scratch generation. */
export function nextGeneration(s: Scratch): number {
  let g = (s.generation + 1) >>> 0;
  if (g === 0) {
    // Wrapped after 2^32 decisions: clear the marks so no old mark can equal a new generation.
    s.policyApplicable.fill(0);
    s.policySeen.fill(0);
    s.ruleSeen.fill(0);
    g = 1;
  }
  s.generation = g;
  return g;
}
