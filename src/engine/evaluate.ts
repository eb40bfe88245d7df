/**
 * `evaluate`: decides one request with a compiled program.
 *
 * The hot path (no explanation, no coverage) asks the policy index which
 * policies may apply and runs their `applies when` plans (and the rules bound
 * to them), then asks the rule index which rules may match and runs their
 * plans (plan.ts), and hands the matches to the verdict (verdict.ts). The
 * indexes only pre-filter: every candidate runs its full condition. With
 * `explain` or `coverage` it takes the full walk instead (explain.ts), which
 * reaches the same decision.
 *
 * Fail closed: any exception while deciding (a malformed input value, a
 * throwing getter, a bug) becomes a deny with reason `internal_error` and the
 * message in `detail`, even under the global audit switch. (The indexed path
 * reads the indexed attributes up front, so a wrong-typed value there fails
 * the decision even when the full walk would have short-circuited past it:
 * the stricter of the two, never the looser.)
 */
import { denyBeforeEvaluation, type Decision, type EvaluateOptions } from "./decision.js";
import type { CoverageRecorder } from "./coverage.js";
import { evaluateFully } from "./explain.js";
import type { RequestInput } from "./input.js";
import {
  internalsOf,
  nextGeneration,
  PM_BOUND_END,
  PM_BOUND_FROM,
  PM_ENFORCED,
  PM_PLAN_END,
  PM_PLAN_FROM,
  POLICY_META,
  RM_PLAN_END,
  RM_PLAN_FROM,
  RM_POLICY,
  RULE_META,
  type CompiledRule,
  type ProgramInternals,
} from "./internal.js";
import { runCode } from "./plan.js";
import type { Program } from "./program.js";
import { decideVerdict } from "./verdict.js";

/** The evaluate options plus the engine's own: a coverage recorder for `ward test --coverage`. */
export interface EngineEvaluateOptions extends EvaluateOptions {
  /** Records rule and condition coverage (slow path; from `createCoverageRecorder(program)`). */
  readonly coverage?: CoverageRecorder;
}

function evaluateIndexed(p: ProgramInternals, revision: string, input: RequestInput, auditAll: boolean): Decision {
  const s = p.scratch;
  const gen = nextGeneration(s);
  const rules = p.rules;
  const plans = p.plans;
  const pm = p.policyMeta;
  const rm = p.ruleMeta;
  let anyEnforceApplies = p.alwaysEnforce > 0;
  let anyAuditApplies = p.alwaysAudit > 0;
  let matched: CompiledRule[] | undefined;
  const always = p.alwaysApplicable;
  for (let k = 0; k < always.length; k++) s.policyApplicable[always[k] as number] = gen;

  // 1. Which policies apply: candidates from the policy index, each checked in full.
  //    The rules bound to a policy (filed through its `applies when`) run right here.
  const buckets: number[] = [];
  const pix = p.policyIndex;
  pix.lookup(input, buckets);
  for (let b = 0; b < buckets.length; b++) {
    const bucket = buckets[b] as number;
    const end = pix.bucketStart[bucket + 1] as number;
    for (let k = pix.bucketStart[bucket] as number; k < end; k++) {
      let id = pix.ids[k] as number;
      if (id < 0) {
        id = ~id;
        if (s.policySeen[id] === gen) continue;
        s.policySeen[id] = gen;
      }
      const at = POLICY_META * id;
      if (!runCode(p.policyPlans, pm[at + PM_PLAN_FROM] as number, pm[at + PM_PLAN_END] as number, input)) continue;
      s.policyApplicable[id] = gen;
      if (pm[at + PM_ENFORCED] === 1) anyEnforceApplies = true;
      else anyAuditApplies = true;
      const boundEnd = pm[at + PM_BOUND_END] as number;
      for (let r = pm[at + PM_BOUND_FROM] as number; r < boundEnd; r++) {
        const rid = p.boundIds[r] as number;
        const rat = RULE_META * rid;
        if (runCode(plans, rm[rat + RM_PLAN_FROM] as number, rm[rat + RM_PLAN_END] as number, input)) (matched ??= []).push(rules[rid] as CompiledRule);
      }
    }
  }
  if (!anyEnforceApplies && !anyAuditApplies) {
    return decideVerdict({ matched: [], anyEnforceApplies, anyAuditApplies }, revision, auditAll);
  }

  // 2. Candidate rules from the rule index; each runs its full condition if its policy applies.
  buckets.length = 0;
  const rix = p.ruleIndex;
  rix.lookup(input, buckets);
  for (let b = 0; b < buckets.length; b++) {
    const bucket = buckets[b] as number;
    const end = rix.bucketStart[bucket + 1] as number;
    for (let k = rix.bucketStart[bucket] as number; k < end; k++) {
      let id = rix.ids[k] as number;
      if (id < 0) {
        id = ~id;
        if (s.ruleSeen[id] === gen) continue;
        s.ruleSeen[id] = gen;
      }
      const rat = RULE_META * id;
      if (s.policyApplicable[rm[rat + RM_POLICY] as number] !== gen) continue;
      if (runCode(plans, rm[rat + RM_PLAN_FROM] as number, rm[rat + RM_PLAN_END] as number, input)) (matched ??= []).push(rules[id] as CompiledRule);
    }
  }
  if (matched !== undefined && matched.length > 1) matched.sort((x, y) => x.id - y.id);
  return decideVerdict({ matched: matched ?? [], anyEnforceApplies, anyAuditApplies }, revision, auditAll);
}

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return "unprintable error";
  }
}

function revisionOf(program: Program): string {
  try {
    return typeof program.revision === "string" ? program.revision : "unknown";
  } catch {
    return "unknown";
  }
}

/** Decides one request. Never throws: an internal error yields a deny whose reason says so. */
export function evaluate(program: Program, input: RequestInput, options: EngineEvaluateOptions = {}): Decision {
  try {
    const p = internalsOf(program);
    const auditAll = options.auditAll === true;
    const explain = options.explain === true;
    const coverage = options.coverage;
    if (!explain && coverage === undefined) return evaluateIndexed(p, program.revision, input, auditAll);
    if (coverage !== undefined && coverage.program !== program) throw new Error("the coverage recorder belongs to another program");
    const full = evaluateFully(p, input, { explain, auditAll, ...(coverage === undefined ? {} : { coverage }) });
    return decideVerdict(full.findings, program.revision, auditAll, full.explanation);
  } catch (err) {
    let auditAll = false;
    try {
      auditAll = options.auditAll === true;
    } catch {
      // A hostile options object: keep the strictest reading.
    }
    return denyBeforeEvaluation("internal_error", revisionOf(program), `evaluation failed: ${messageOf(err)}`, { auditAll });
  }
}
