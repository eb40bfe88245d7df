/**
 * The full evaluation: every policy's `applies when`, then every rule of every
 * applicable policy, without the index. It is the slow path behind
 * `options.explain` (for the CLI, tests and `/v1/check?explain`) and coverage
 * recording; the server's hot path never comes here. It reaches the same
 * decision as the indexed path (a property test checks that), and on top of it
 * says, for each rule that did not match, the first condition that failed.
 *
 * "First condition that failed", for a condition that came out false:
 * - in `a and b and …`, the first operand that was false, explained recursively;
 * - in `a or b or …` (every operand false), the first operand, explained recursively;
 * - for `not x` (x was true), the `not` itself, with the value the deciding
 *   leaf inside `x` read;
 * - a leaf is reported with its source text, span and the value it read
 *   (absent when the attribute was missing).
 */
import type { Explanation, FailedCondition, PolicyExplanation, RuleExplanation } from "./decision.js";
import type { CoverageRecorder } from "./coverage.js";
import type { RequestInput } from "./input.js";
import { sourceText, type CompiledRule, type ConditionNode, type LeafInfo, type ProgramInternals } from "./internal.js";
import type { Findings } from "./verdict.js";

/** Runs a condition tree, recording leaf outcomes when a recorder is given. */
function run(node: ConditionNode, input: RequestInput, cov: CoverageRecorder | undefined): boolean {
  switch (node.kind) {
    case "leaf": {
      const r = node.test(input);
      cov?.leaf(node.id, r);
      return r;
    }
    case "and":
      for (const o of node.operands) if (!run(o, input, cov)) return false;
      return true;
    case "or":
      for (const o of node.operands) if (run(o, input, cov)) return true;
      return false;
    case "not":
      return !run(node.operand, input, cov);
    case "const":
      return node.value;
  }
}

/** The value a leaf read, as an explanation shows it (timestamps in RFC 3339). */
function actualOf(leaf: LeafInfo, input: RequestInput): unknown {
  const v = leaf.read(input);
  if (v === undefined || v === null) return undefined;
  if (leaf.attributeType === "timestamp" && typeof v === "number" && Number.isFinite(v)) return new Date(v).toISOString();
  if (Array.isArray(v)) return [...(v as unknown[])];
  return v;
}

/** Builds explanations: texts come from the sources (sliced on demand). */
class Explainer {
  constructor(
    private readonly sources: ReadonlyMap<string, string>,
    private readonly input: RequestInput,
  ) {}

  private at(node: ConditionNode, actual?: unknown): FailedCondition {
    const text = sourceText(this.sources, node.expr);
    return actual === undefined ? { text, span: node.expr.span } : { text, span: node.expr.span, actual };
  }

  /** Why a node that evaluated false is false. */
  whyFalse(node: ConditionNode): FailedCondition {
    const input = this.input;
    switch (node.kind) {
      case "leaf":
        return this.at(node, actualOf(node, input));
      case "and": {
        const first = node.operands.find((o) => !run(o, input, undefined));
        return first === undefined ? this.at(node) : this.whyFalse(first);
      }
      case "or": {
        const first = node.operands[0];
        return first === undefined ? this.at(node) : this.whyFalse(first);
      }
      case "not":
        return this.at(node, this.whyTrue(node.operand).actual);
      case "const":
        return this.at(node);
    }
  }

  /** Which leaf made a node that evaluated true true (used under `not`). */
  whyTrue(node: ConditionNode): FailedCondition {
    const input = this.input;
    switch (node.kind) {
      case "leaf":
        return this.at(node, actualOf(node, input));
      case "and": {
        const first = node.operands[0];
        return first === undefined ? this.at(node) : this.whyTrue(first);
      }
      case "or": {
        const first = node.operands.find((o) => run(o, input, undefined));
        return first === undefined ? this.at(node) : this.whyTrue(first);
      }
      case "not":
        return this.whyFalse(node.operand);
      case "const":
        return this.at(node);
    }
  }
}

/** The full walk's result: the findings for the verdict, and the explanation when asked for. */
export interface FullEvaluation {
  readonly findings: Findings;
  readonly explanation?: Explanation;
}

/** Evaluates every policy and rule, optionally explaining and recording coverage. */
export function evaluateFully(
  p: ProgramInternals,
  input: RequestInput,
  options: { readonly explain: boolean; readonly auditAll: boolean; readonly coverage?: CoverageRecorder },
): FullEvaluation {
  const cov = options.coverage;
  const explainer = options.explain ? new Explainer(p.sources, input) : undefined;
  const matched: CompiledRule[] = [];
  const explained: PolicyExplanation[] = [];
  let anyEnforceApplies = false;
  let anyAuditApplies = false;
  for (const policy of p.policies) {
    const applicable = policy.appliesNode === undefined ? true : run(policy.appliesNode, input, cov);
    const mode = options.auditAll ? "audit" : policy.mode;
    if (!applicable) {
      if (explainer !== undefined && policy.appliesNode !== undefined) {
        explained.push({
          policy: policy.name,
          file: policy.file,
          mode,
          applicable: false,
          notApplicableBecause: explainer.whyFalse(policy.appliesNode),
          rules: [],
        });
      }
      continue;
    }
    if (cov !== undefined) cov.policyApplied[policy.id] = 1;
    if (policy.mode === "enforce") anyEnforceApplies = true;
    else anyAuditApplies = true;
    const rules: RuleExplanation[] = [];
    for (const rule of policy.rules) {
      const ok = run(rule.node, input, cov);
      if (ok) {
        matched.push(rule);
        if (cov !== undefined) cov.ruleMatched[rule.id] = 1;
      }
      if (explainer !== undefined) {
        rules.push(
          ok
            ? { rule: rule.name, effect: rule.effect, matched: true, span: rule.span }
            : { rule: rule.name, effect: rule.effect, matched: false, span: rule.span, failed: explainer.whyFalse(rule.node) },
        );
      }
    }
    if (options.explain) explained.push({ policy: policy.name, file: policy.file, mode, applicable: true, rules });
  }
  cov?.countDecision();
  const findings: Findings = { matched, anyEnforceApplies, anyAuditApplies };
  return options.explain ? { findings, explanation: { policies: explained } } : { findings };
}
