/**
 * Reporters for `ward test`: text for people, JSON for tools, JUnit XML for CI
 * systems. Output is deterministic (no timings, tests in file and line order)
 * so it can be compared between runs. Formats are described in docs/testing.md.
 */
import type { CheckedTest } from "../dsl/checked.js";
import type { RuleRef } from "../engine/decision.js";
import { callerToJson, explanationToJson, ruleRefToJson, type CallerJson, type PolicyExplanationJson, type RuleRefJson } from "../decision-json.js";
import { explanationToText, showRuleRef } from "./render.js";
import { summarize, type TestResult, type TestStatus, type TestSummary } from "./test-runner.js";

/** The line CI reads at the end of a run: exactly `N passed, N failed`. */
export function summaryLine(summary: TestSummary): string {
  return `${summary.passed} passed, ${summary.failed} failed`;
}

/** `policies/payments_test.ward:12`: where a test starts. */
export function testLocation(test: CheckedTest): string {
  return `${test.file}:${test.span.start.line}`;
}

function showExpectation(test: CheckedTest): string {
  const by = test.expect.by.length > 0 ? ` by ${test.expect.by.map((b) => JSON.stringify(b)).join(", ")}` : "";
  const status = test.expect.status !== undefined ? ` status ${test.expect.status}` : "";
  return `${test.expect.effect}${by}${status}`;
}

function showRules(rules: readonly RuleRef[]): string {
  return rules.length === 0 ? "no rule" : rules.map(showRuleRef).join(", ");
}

/** The lines describing one result, as the text reporter prints them (failures in full; passes in one line). */
export function describeResult(result: TestResult, verbose: boolean): string[] {
  const head = `${JSON.stringify(result.test.name)} (${testLocation(result.test)})`;
  if (result.status === "pass") {
    const lines = [`ok    ${head}`];
    if (verbose && result.outcome) {
      const d = result.outcome.decision;
      lines.push(`      ${d.outcome} by ${showRules(d.determining)}; reason ${d.reason}; status ${result.httpStatus}`);
    }
    return lines;
  }
  const lines = [`FAIL  ${head}`];
  if (!result.outcome) {
    lines.push(`  test is unusable: ${result.problems.join("; ")}`);
    return lines;
  }
  for (const problem of result.problems) lines.push(`  - ${problem}`);
  const d = result.outcome.decision;
  const identity = result.outcome.identity;
  lines.push(`  expected: ${showExpectation(result.test)}`);
  lines.push(`  actual:   ${d.outcome} by ${showRules(d.determining)}; status ${result.httpStatus}${d.allowed !== (d.outcome === "allow") ? " (audit mode let it through)" : ""}`);
  lines.push(`  reason:   ${d.reason}${d.detail !== undefined ? ` (${d.detail})` : ""}`);
  if (result.raw) {
    const canonical = result.outcome.input?.request.path;
    const shown = canonical !== undefined && canonical !== result.raw.path ? `${result.raw.path} (canonical path ${canonical})` : result.raw.path;
    lines.push(`  request:  ${result.raw.method} ${shown}`);
  }
  lines.push(`  caller:   ${showCaller(callerToJson(identity))}`);
  if (d.explanation) {
    lines.push("  explanation:");
    lines.push(explanationToText(d.explanation, "    "));
  }
  return lines;
}

function showCaller(caller: CallerJson): string {
  if (caller.authenticated) return `${caller.spiffe_id ?? "?"}${caller.source !== undefined ? ` (from the ${caller.source})` : ""}`;
  const detail = caller.detail !== undefined ? `: ${caller.detail}` : "";
  return `unauthenticated (${caller.unauthenticated_reason ?? "unknown"}${detail})`;
}

/**
 * The text report: failures in full (every test with `verbose`), then
 * `beforeSummary` (the coverage report) when given, then the summary line last.
 */
export function textReport(results: readonly TestResult[], verbose: boolean, beforeSummary?: string): string {
  const blocks: string[] = [];
  for (const result of results) {
    if (result.status === "pass" && !verbose) continue;
    blocks.push(describeResult(result, verbose).join("\n"));
  }
  const separator = verbose ? "\n" : "\n\n";
  const body = blocks.length > 0 ? `${blocks.join(separator)}\n\n` : "";
  const extra = beforeSummary !== undefined ? `${beforeSummary}\n\n` : "";
  return `${body}${extra}${summaryLine(summarize(results))}\n`;
}

/** One test in the JSON report. */
export interface TestResultJson {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly status: TestStatus;
  readonly problems: readonly string[];
  readonly expected: { readonly effect: string; readonly by: readonly string[]; readonly status?: number };
  readonly actual?: {
    readonly outcome: string;
    readonly allowed: boolean;
    readonly enforced: boolean;
    readonly status: number;
    readonly determining: readonly RuleRefJson[];
    readonly reason: string;
    readonly detail?: string;
    readonly caller: CallerJson;
    readonly path?: string;
    readonly explanation?: { readonly policies: readonly PolicyExplanationJson[] };
  };
}

/** Converts one result for the JSON report (explanations for failed tests, or for all with `verbose`). */
export function resultToJson(result: TestResult, verbose: boolean): TestResultJson {
  const t = result.test;
  const expected = { effect: t.expect.effect, by: t.expect.by, ...(t.expect.status !== undefined ? { status: t.expect.status } : {}) };
  const base = { name: t.name, file: t.file, line: t.span.start.line, status: result.status, problems: result.problems, expected };
  if (!result.outcome || result.httpStatus === undefined) return base;
  const d = result.outcome.decision;
  const explain = (verbose || result.status !== "pass") && d.explanation;
  return {
    ...base,
    actual: {
      outcome: d.outcome,
      allowed: d.allowed,
      enforced: d.enforced,
      status: result.httpStatus,
      determining: d.determining.map(ruleRefToJson),
      reason: d.reason,
      ...(d.detail !== undefined ? { detail: d.detail } : {}),
      caller: callerToJson(result.outcome.identity),
      ...(result.outcome.input ? { path: result.outcome.input.request.path } : {}),
      ...(explain ? { explanation: explanationToJson(explain) } : {}),
    },
  };
}

/** The JSON report: one object with the counts, every test, and coverage when it was measured. */
export function jsonReport(results: readonly TestResult[], verbose: boolean, extra: Readonly<Record<string, unknown>> = {}): string {
  const { passed, failed } = summarize(results);
  return `${JSON.stringify({ passed, failed, tests: results.map((r) => resultToJson(r, verbose)), ...extra }, null, 2)}\n`;
}

/** Escapes text for XML 1.0 attributes and content; characters XML 1.0 cannot carry become U+FFFD. */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * The JUnit XML report (the de-facto schema CI systems read: `testsuites` >
 * `testsuite` per test file > `testcase`, with `failure` for a wrong decision
 * and `error` for a test that could not be run).
 */
export function junitReport(results: readonly TestResult[]): string {
  const byFile = new Map<string, TestResult[]>();
  for (const r of results) {
    const list = byFile.get(r.test.file) ?? [];
    list.push(r);
    byFile.set(r.test.file, list);
  }
  const count = (list: readonly TestResult[], status: TestStatus): number => list.filter((r) => r.status === status).length;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(`<testsuites name="ward test" tests="${results.length}" failures="${count(results, "fail")}" errors="${count(results, "error")}">`);
  for (const [file, list] of byFile) {
    out.push(
      `  <testsuite name="${escapeXml(file)}" tests="${list.length}" failures="${count(list, "fail")}" errors="${count(list, "error")}" skipped="0">`,
    );
    for (const r of list) {
      const attrs = `name="${escapeXml(r.test.name)}" classname="${escapeXml(file)}" file="${escapeXml(file)}" line="${r.test.span.start.line}"`;
      if (r.status === "pass") {
        out.push(`    <testcase ${attrs}/>`);
        continue;
      }
      const element = r.status === "fail" ? "failure" : "error";
      const type = r.status === "fail" ? "wrong_decision" : "unusable_test";
      const message = r.problems.join("; ");
      const body = describeResult(r, false).join("\n");
      out.push(`    <testcase ${attrs}>`);
      out.push(`      <${element} message="${escapeXml(message)}" type="${type}">${escapeXml(body)}</${element}>`);
      out.push("    </testcase>");
    }
    out.push("  </testsuite>");
  }
  out.push("</testsuites>");
  return `${out.join("\n")}\n`;
}
