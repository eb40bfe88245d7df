/**
 * How a compiled program's indexes filed its rules: for `ward check --stats`,
 * the benchmark and tests (a rule in the fallback list is tried on every request).
 */
import type { RequestInput } from "./input.js";
import { internalsOf, PM_BOUND_END, PM_BOUND_FROM, POLICY_META, RM_POLICY, RULE_META } from "./internal.js";
import { runPlan } from "./plan.js";
import type { Program } from "./program.js";
import type { IndexStats } from "./rule-index.js";

/** Index statistics of a program. */
export interface ProgramStats {
  readonly rules: IndexStats;
  readonly policies: IndexStats;
  /** Policies without `applies when` (they apply to every request). */
  readonly unconditionalPolicies: number;
  readonly leafConditions: number;
}

/** Reports how a program built by `compile` indexed its rules and policies. */
export function programStats(program: Program): ProgramStats {
  const p = internalsOf(program);
  return {
    rules: p.ruleIndex.stats,
    policies: p.policyIndex.stats,
    unconditionalPolicies: p.alwaysEnforce + p.alwaysAudit,
    leafConditions: p.leaves.length,
  };
}

/**
 * How many rule conditions the indexed evaluation runs for this input (the
 * bound rules of applicable policies plus the index candidates whose policy
 * applies): the work a decision does, independent of the machine. For the
 * benchmark and tests; it mirrors `evaluate`'s candidate selection.
 */
export function conditionsRun(program: Program, input: RequestInput): number {
  const p = internalsOf(program);
  const applicable = new Set<number>(p.alwaysApplicable);
  let runs = 0;
  const buckets: number[] = [];
  p.policyIndex.lookup(input, buckets);
  const seenPolicies = new Set<number>();
  for (const b of buckets) {
    for (let k = p.policyIndex.bucketStart[b] as number; k < (p.policyIndex.bucketStart[b + 1] as number); k++) {
      const raw = p.policyIndex.ids[k] as number;
      const id = raw < 0 ? ~raw : raw;
      if (seenPolicies.has(id)) continue;
      seenPolicies.add(id);
      if (!runPlan(p.policyPlans, id, input)) continue;
      applicable.add(id);
      runs += (p.policyMeta[POLICY_META * id + PM_BOUND_END] as number) - (p.policyMeta[POLICY_META * id + PM_BOUND_FROM] as number);
    }
  }
  buckets.length = 0;
  p.ruleIndex.lookup(input, buckets);
  const seenRules = new Set<number>();
  for (const b of buckets) {
    for (let k = p.ruleIndex.bucketStart[b] as number; k < (p.ruleIndex.bucketStart[b + 1] as number); k++) {
      const raw = p.ruleIndex.ids[k] as number;
      const id = raw < 0 ? ~raw : raw;
      if (seenRules.has(id)) continue;
      seenRules.add(id);
      if (applicable.has(p.ruleMeta[RULE_META * id + RM_POLICY] as number)) runs++;
    }
  }
  return runs;
}
