/**
 * How the CLI shows a decision: as one JSON object (`ward eval`, `ward test
 * --format json`) and as indented text (`ward test` failures). Locations are
 * rendered as `file:line:col` so editors and terminals can jump to them.
 */
import { formatLocation } from "../diagnostics.js";
import type { Explanation, FailedCondition, PolicyExplanation, RuleRef } from "../engine/decision.js";

/** Shows a value read from a request in text output: strings quoted, missing values named. */
export function showValue(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `"no cross-environment calls" (policy "payments-api")`. */
export function showRuleRef(ref: RuleRef): string {
  return `${JSON.stringify(ref.rule)} (policy ${JSON.stringify(ref.policy)}${ref.mode === "audit" ? ", audit mode" : ""})`;
}

function showFailed(failed: FailedCondition): string {
  // The engine reports the value the condition's attribute read; none means the attribute was missing.
  const constant = failed.text === "true" || failed.text === "false";
  const actual = failed.actual !== undefined ? `; the request had ${showValue(failed.actual)}` : constant ? "" : "; the request had no value for it";
  return `${formatLocation(failed.span)}: \`${failed.text}\` was false${actual}`;
}

function explainPolicy(p: PolicyExplanation, indent: string): string[] {
  const head = `${indent}policy ${JSON.stringify(p.policy)}${p.mode === "audit" ? " (audit mode)" : ""}`;
  if (!p.applicable) {
    const why = p.notApplicableBecause ? `: ${showFailed(p.notApplicableBecause)}` : "";
    return [`${head} does not apply${why}`];
  }
  const lines = [`${head} applies`];
  for (const r of p.rules) {
    const rule = `${r.effect} ${JSON.stringify(r.rule)}`;
    if (r.matched) lines.push(`${indent}  matched      ${rule} at ${formatLocation(r.span)}`);
    else if (r.failed) lines.push(`${indent}  not matched  ${rule}: ${showFailed(r.failed)}`);
    else lines.push(`${indent}  not matched  ${rule} at ${formatLocation(r.span)}`);
  }
  return lines;
}

/**
 * The explanation as indented text: every policy, whether it applied, and for
 * each rule whether it matched or the first condition that failed, with its location.
 */
export function explanationToText(explanation: Explanation, indent = ""): string {
  if (explanation.policies.length === 0) return `${indent}no policies were evaluated`;
  return explanation.policies.flatMap((p) => explainPolicy(p, indent)).join("\n");
}
