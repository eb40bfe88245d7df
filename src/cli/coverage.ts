/**
 * `ward test --coverage`: records, through the engine's coverage recorder,
 * which rules the tests made match and which conditions they saw both true
 * and false, and reports it per file with percentages (text for people, an
 * object for `--format json`). Files that hold only tests are left out.
 */
import { formatLocation } from "../diagnostics.js";
import { createCoverageRecorder, summarizeCoverage, type CoverageRecorder, type CoverageRatio, type CoverageSummary, type EngineEvaluateOptions } from "../engine/index.js";
import type { Program } from "../engine/program.js";

/** A coverage run: the options every test's evaluation takes, and the recorder they fill. */
export interface CoverageSession {
  readonly recorder: CoverageRecorder;
  readonly evaluateOptions: Pick<EngineEvaluateOptions, "coverage">;
}

/** Starts recording coverage for a program. */
export function createCoverageSession(program: Program): CoverageSession {
  const recorder = createCoverageRecorder(program);
  return { recorder, evaluateOptions: { coverage: recorder } };
}

/** What a session saw, per policy file (files without policies are not listed). */
export function computeCoverage(session: CoverageSession): CoverageSummary {
  return summarizeCoverage(session.recorder);
}

function showRatio(r: CoverageRatio): string {
  return `${r.covered}/${r.total} (${r.percent.toFixed(1)}%)`;
}

/**
 * The coverage report as text:
 *
 * ```
 * coverage (12 decisions):
 *   policies/payments.ward: rules 3/4 (75.0%), condition outcomes 14/16 (87.5%)
 *     rule never matched: policies/payments.ward:20:3 deny "only checkout may charge" (payments-api)
 *     condition never false: policies/payments.ward:9:5 `caller.spiffe_id == checkout` in "checkout may charge"
 *   total: rules 11/12 (91.7%), condition outcomes 40/44 (90.9%)
 * ```
 */
export function coverageToText(summary: CoverageSummary): string {
  const lines = [`coverage (${summary.decisions} decision${summary.decisions === 1 ? "" : "s"}):`];
  for (const f of summary.files) {
    lines.push(`  ${f.file}: rules ${showRatio(f.rules)}, condition outcomes ${showRatio(f.conditions)}`);
    for (const policy of f.neverAppliedPolicies) lines.push(`    policy never applied: ${JSON.stringify(policy)}`);
    for (const r of f.unmatchedRules) {
      lines.push(`    rule never matched: ${formatLocation(r.span)} ${r.effect} ${JSON.stringify(r.rule)} (policy ${JSON.stringify(r.policy)})`);
    }
    for (const c of f.partialConditions) {
      const never = !c.seenTrue && !c.seenFalse ? "never evaluated" : c.seenTrue ? "never false" : "never true";
      const where = c.rule !== undefined ? `in rule ${JSON.stringify(c.rule)}` : `in \`applies when\` of ${JSON.stringify(c.policy)}`;
      lines.push(`    condition ${never}: ${formatLocation(c.span)} \`${c.text}\` ${where}`);
    }
  }
  lines.push(`  total: rules ${showRatio(summary.rules)}, condition outcomes ${showRatio(summary.conditions)}`);
  return lines.join("\n");
}

/** The coverage report for `--format json` (locations as `file:line:col`). */
export function coverageToJson(summary: CoverageSummary): unknown {
  return {
    decisions: summary.decisions,
    rules: summary.rules,
    conditions: summary.conditions,
    files: summary.files.map((f) => ({
      file: f.file,
      rules: f.rules,
      conditions: f.conditions,
      never_applied_policies: f.neverAppliedPolicies,
      unmatched_rules: f.unmatchedRules.map((r) => ({ policy: r.policy, rule: r.rule, effect: r.effect, at: formatLocation(r.span) })),
      partial_conditions: f.partialConditions.map((c) => ({
        policy: c.policy,
        ...(c.rule !== undefined ? { rule: c.rule } : {}),
        condition: c.text,
        at: formatLocation(c.span),
        seen_true: c.seenTrue,
        seen_false: c.seenFalse,
      })),
    })),
  };
}
