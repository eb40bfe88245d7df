/** Shared helpers for the language tests. */
import { renderDiagnostics, type Diagnostic } from "../../src/diagnostics.js";
import type { CheckedExpr, CheckedPolicySet } from "../../src/dsl/checked.js";
import { checkPolicySources } from "../../src/dsl/index.js";

/** The issue 2 example, verbatim (the acceptance test of the grammar). */
export const ISSUE_EXAMPLE = `# comments start with # or //
policy "payments-api" {
  applies when destination.spiffe_id == "spiffe://prod.example.com/ns/payments/sa/payment-api"   # optional: which requests this policy governs
  mode audit                                                                                      # optional: enforce (default) or audit

  let checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout"
  let readers  = ["spiffe://prod.example.com/ns/*/sa/reporting", "spiffe://prod.example.com/ns/ops/sa/*"]

  allow "checkout may charge" when
    caller.spiffe_id == checkout
    and request.method == "POST"
    and request.path == "/api/v1/charge"

  allow "readers may read" when
    caller.spiffe_id matches readers
    and request.method in ["GET", "HEAD"]
    and request.path matches "/api/v1/**"

  deny "no cross-environment calls" when
    caller.trust_domain != "prod.example.com"

  deny "cards need a pci workload" when
    request.path starts_with "/api/v1/cards/"
    and not (cert.extension["1.3.6.1.4.1.99999.1"] == "pci")
}
`;

/** The issue 6 test blocks, verbatim. */
export const ISSUE_TESTS = `test "checkout can charge" {
  caller "spiffe://prod.example.com/ns/checkout/sa/checkout"
  request "POST" "/api/v1/charge"
  expect allow by "checkout may charge"
}

test "staging cannot reach prod payments" {
  cert "testdata/staging-checkout.pem"
  request "POST" "/api/v1/charge?amount=10"
  header "x-request-id" "abc"
  source "10.1.2.3"
  destination "spiffe://prod.example.com/ns/payments/sa/payment-api"
  context "route" "payments"
  at "2026-11-22T10:00:00Z"
  expect deny by "no cross-environment calls"
}
`;

/** Checks one file named `t.ward`. */
export function checkText(text: string, file = "t.ward") {
  return checkPolicySources([{ file, text }]);
}

/** Checks text that must be valid; fails the test with the rendered diagnostics otherwise. */
export function checkOk(text: string): { set: CheckedPolicySet; warnings: readonly Diagnostic[] } {
  const r = checkText(text);
  if (!r.ok) throw new Error(`expected no errors, got:\n${renderDiagnostics(r.diagnostics, () => text)}`);
  return { set: r.value, warnings: r.diagnostics };
}

/** `code@line:col` for every diagnostic, sorted by position. */
export function where(diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.map((d) => `${d.code}@${d.span?.start.line ?? 0}:${d.span?.start.column ?? 0}`);
}

/** Wraps one condition in a policy with one allow rule named `r`. */
export function rule(condition: string, lets = ""): string {
  return `policy "p" {\n${lets}  allow "r" when ${condition}\n}\n`;
}

/** The condition of the only rule of a checked one-rule policy. */
export function conditionOf(set: CheckedPolicySet): CheckedExpr {
  const r = set.policies[0]?.rules[0];
  if (!r) throw new Error("no rule");
  return r.condition;
}

/** Removes `span` fields (recursively) so checked trees compare by shape. */
export function withoutSpans<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (k, v) => (k === "span" || k === "opSpan" || k === "effectSpan" ? undefined : v))) as T;
}
