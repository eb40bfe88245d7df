/**
 * Policy coverage for `ward test --coverage`: which rules ever matched and
 * which leaf conditions were seen both true and false over a run of decisions.
 *
 * Usage:
 * ```ts
 * const coverage = createCoverageRecorder(program);
 * for (const input of inputs) evaluate(program, input, { coverage });
 * const summary = summarizeCoverage(coverage); // per file: rules never matched, conditions not seen both ways
 * ```
 * A recorded evaluation walks every rule of every applicable policy (no index,
 * `and` / `or` short-circuit as usual), so coverage does not depend on how the
 * rule index happened to pre-filter. A leaf that short-circuiting skipped is
 * not "seen" for that decision, as in branch coverage. Recording costs time and
 * is only for tests; the server never passes a recorder.
 */
import type { Span } from "../diagnostics.js";
import type { Effect } from "../dsl/checked.js";
import { internalsOf, sourceText, type ProgramInternals } from "./internal.js";
import type { Program } from "./program.js";

/** Collects coverage over many evaluations of one program. Pass it as `coverage` in the evaluate options. */
export class CoverageRecorder {
  /** The program it records for (evaluating another program with it is an error). */
  readonly program: Program;
  /** @internal Rule id → 1 once it matched. */
  readonly ruleMatched: Uint8Array;
  /** @internal Leaf id → 1 once seen true. */
  readonly leafTrue: Uint8Array;
  /** @internal Leaf id → 1 once seen false. */
  readonly leafFalse: Uint8Array;
  /** @internal Policy id → 1 once it applied. */
  readonly policyApplied: Uint8Array;
  private recorded = 0;

  /** Use `createCoverageRecorder`. */
  constructor(program: Program, internals: ProgramInternals) {
    this.program = program;
    this.ruleMatched = new Uint8Array(internals.rules.length);
    this.leafTrue = new Uint8Array(internals.leaves.length);
    this.leafFalse = new Uint8Array(internals.leaves.length);
    this.policyApplied = new Uint8Array(internals.policies.length);
  }

  /** How many decisions were recorded. */
  get decisions(): number {
    return this.recorded;
  }

  /** @internal Called once per recorded evaluation. */
  countDecision(): void {
    this.recorded++;
  }

  /** @internal Records one leaf outcome. */
  leaf(id: number, value: boolean): void {
    if (value) this.leafTrue[id] = 1;
    else this.leafFalse[id] = 1;
  }
}

/** Creates an empty recorder for a program built by `compile`. */
export function createCoverageRecorder(program: Program): CoverageRecorder {
  return new CoverageRecorder(program, internalsOf(program));
}

/** A rule that never matched. */
export interface UncoveredRule {
  readonly policy: string;
  readonly rule: string;
  readonly effect: Effect;
  readonly span: Span;
}

/** A leaf condition not seen both true and false. */
export interface PartialCondition {
  readonly policy: string;
  /** Undefined for a condition of the policy's `applies when`. */
  readonly rule?: string;
  /** The condition's source text. */
  readonly text: string;
  readonly span: Span;
  readonly seenTrue: boolean;
  readonly seenFalse: boolean;
}

/** Counts with a percentage (100 when there is nothing to cover). */
export interface CoverageRatio {
  readonly covered: number;
  readonly total: number;
  readonly percent: number;
}

/** Coverage of one policy file. */
export interface FileCoverage {
  readonly file: string;
  /** Rules that matched at least once, of all rules. */
  readonly rules: CoverageRatio;
  /** Condition outcomes seen (true and false count separately), of twice the number of leaf conditions. */
  readonly conditions: CoverageRatio;
  /** In source order. */
  readonly unmatchedRules: readonly UncoveredRule[];
  /** In source order. */
  readonly partialConditions: readonly PartialCondition[];
  /** Policies whose `applies when` never held. */
  readonly neverAppliedPolicies: readonly string[];
}

/** Coverage of the whole program. */
export interface CoverageSummary {
  readonly decisions: number;
  /** Sorted by file name. */
  readonly files: readonly FileCoverage[];
  readonly rules: CoverageRatio;
  readonly conditions: CoverageRatio;
}

function ratio(covered: number, total: number): CoverageRatio {
  const percent = total === 0 ? 100 : Math.round((covered / total) * 1000) / 10;
  return { covered, total, percent };
}

/** Summarizes what a recorder saw, per file. */
export function summarizeCoverage(recorder: CoverageRecorder): CoverageSummary {
  const p = internalsOf(recorder.program);
  interface Acc {
    rulesTotal: number;
    rulesCovered: number;
    outcomesTotal: number;
    outcomesCovered: number;
    unmatchedRules: UncoveredRule[];
    partialConditions: PartialCondition[];
    neverAppliedPolicies: string[];
  }
  const byFile = new Map<string, Acc>();
  const acc = (file: string): Acc => {
    let a = byFile.get(file);
    if (a === undefined) {
      a = { rulesTotal: 0, rulesCovered: 0, outcomesTotal: 0, outcomesCovered: 0, unmatchedRules: [], partialConditions: [], neverAppliedPolicies: [] };
      byFile.set(file, a);
    }
    return a;
  };
  for (const policy of p.policies) {
    const a = acc(policy.file);
    if (policy.appliesNode !== undefined && recorder.policyApplied[policy.id] !== 1) a.neverAppliedPolicies.push(policy.name);
    for (const r of policy.rules) {
      a.rulesTotal++;
      if (recorder.ruleMatched[r.id] === 1) a.rulesCovered++;
      else a.unmatchedRules.push({ policy: policy.name, rule: r.name, effect: r.effect, span: r.span });
    }
  }
  for (const leaf of p.leaves) {
    const a = acc(leaf.file);
    const t = recorder.leafTrue[leaf.id] === 1;
    const f = recorder.leafFalse[leaf.id] === 1;
    a.outcomesTotal += 2;
    a.outcomesCovered += (t ? 1 : 0) + (f ? 1 : 0);
    if (!(t && f)) {
      a.partialConditions.push({
        policy: leaf.policy,
        ...(leaf.rule === undefined ? {} : { rule: leaf.rule }),
        text: sourceText(p.sources, leaf.expr),
        span: leaf.expr.span,
        seenTrue: t,
        seenFalse: f,
      });
    }
  }
  const files = [...byFile.entries()]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([file, a]): FileCoverage => ({
      file,
      rules: ratio(a.rulesCovered, a.rulesTotal),
      conditions: ratio(a.outcomesCovered, a.outcomesTotal),
      unmatchedRules: a.unmatchedRules,
      partialConditions: a.partialConditions.sort((x, y) => x.span.start.offset - y.span.start.offset),
      neverAppliedPolicies: a.neverAppliedPolicies,
    }));
  const sum = (k: "rules" | "conditions", part: "covered" | "total"): number => files.reduce((n, f) => n + f[k][part], 0);
  return {
    decisions: recorder.decisions,
    files,
    rules: ratio(sum("rules", "covered"), sum("rules", "total")),
    conditions: ratio(sum("conditions", "covered"), sum("conditions", "total")),
  };
}
