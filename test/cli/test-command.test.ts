// `ward test`: passing and failing suites, --run, coverage numbers on a known
// suite, the JSON and JUnit reports, unusable tests, recorded inputs, path
// canonicalization and the fixed default time; run in-process through runCli.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import type { CheckedTest } from "../../src/dsl/checked.js";
import type { Program } from "../../src/engine/program.js";
import { createDecisionDeps } from "../../src/cli/deps.js";
import { DEFAULT_TEST_TIME, runTest } from "../../src/cli/test-runner.js";
import { lastLine, PAYMENTS_POLICY, project, ROOT, ward } from "./helpers.js";

const CHECKOUT = "spiffe://prod.example.com/ns/checkout/sa/checkout";
const PAYMENTS = "spiffe://prod.example.com/ns/payments/sa/payment-api";

const PASSING_TESTS = `test "checkout can charge" {
  caller "${CHECKOUT}"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/charge"
  expect allow by "checkout may charge" status 200
}

test "the web frontend may read" {
  caller "spiffe://prod.example.com/ns/web/sa/frontend"
  destination "${PAYMENTS}"
  request "GET" "/api/v1/payments/p1"
  expect allow by "anyone may read"
}
`;

const FAILING_TEST = `
test "staging can charge (wrong on purpose)" {
  caller "spiffe://staging.example.com/ns/checkout/sa/checkout"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/charge"
  expect allow by "checkout may charge"
}
`;

describe("ward test: results and exit codes", () => {
  it("passes a passing suite: exit 0, the summary line last", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS });
    const r = await ward(["test", "policies/"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("2 passed, 0 failed\n");
  });

  it("runs the tests under the default path policies/", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS });
    expect((await ward(["test"], { cwd })).stdout).toBe("2 passed, 0 failed\n");
  });

  it("reports a failing test with its location, expected and actual outcome, reason and explanation: exit 1", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS + FAILING_TEST });
    const r = await ward(["test", "policies"], { cwd });
    expect(r.code).toBe(1);
    expect(lastLine(r.stdout)).toBe("2 passed, 1 failed");
    const out = r.stdout;
    expect(out).toContain('FAIL  "staging can charge (wrong on purpose)" (policies/payments_test.ward:15)');
    expect(out).toContain("  - expected allow, got deny");
    expect(out).toContain('  - expected rule "checkout may charge" among the determining rules');
    expect(out).toContain('  expected: allow by "checkout may charge"');
    expect(out).toContain('  actual:   deny by "no cross-environment calls" (policy "payments-api"); status 403');
    expect(out).toContain("  reason:   denied_by_rule");
    expect(out).toContain("  caller:   spiffe://staging.example.com/ns/checkout/sa/checkout (from the principal)");
    // The explanation: the matched rule, and for the others the first failed condition with its location and value.
    expect(out).toContain('      matched      deny "no cross-environment calls" at policies/payments.ward:16:3');
    expect(out).toContain(
      '      not matched  allow "checkout may charge": policies/payments.ward:8:5: `caller.spiffe_id == checkout` was false; the request had "spiffe://staging.example.com/ns/checkout/sa/checkout"',
    );
    // Passing tests stay quiet without --verbose.
    expect(out).not.toContain("checkout can charge");
  });

  it("--verbose lists passing tests with their decision", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS });
    const r = await ward(["test", "policies", "--verbose"], { cwd });
    expect(r.stdout).toContain('ok    "checkout can charge" (policies/payments_test.ward:1)');
    expect(r.stdout).toContain('      allow by "checkout may charge" (policy "payments-api"); reason allowed; status 200');
    expect(lastLine(r.stdout)).toBe("2 passed, 0 failed");
  });

  it("--run selects tests by a regular expression on their names", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS + FAILING_TEST });
    const r = await ward(["test", "policies", "--run", "^checkout"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("1 passed, 0 failed\n");
    const none = await ward(["test", "policies", "--run", "nothing matches this"], { cwd });
    expect(none.code).toBe(0);
    expect(none.stdout).toBe("0 passed, 0 failed\n");
    expect(none.stderr).toContain("warning: no test matches `nothing matches this`");
    const bad = await ward(["test", "policies", "--run", "("], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not a valid regular expression");
  });

  it("exits 2 with rendered diagnostics when a test file has a syntax error", async () => {
    const cwd = project({
      "policies/payments.ward": PAYMENTS_POLICY,
      "policies/broken_test.ward": 'test "broken" {\n  request "GET" "/"\n  expect allow by\n}\n',
    });
    const r = await ward(["test", "policies"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^policies\/broken_test\.ward:4:1: error: /m);
    expect(r.stderr).toContain(" 4 | }");
    expect(r.stderr).toContain("   | ^");
  });

  it("exits 2 when the policies do not compile", async () => {
    const cwd = project({ "policies/p.ward": 'policy "p" {\n  allow "r" when request.paht == "/x"\n}\n' });
    const r = await ward(["test", "policies"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("policies/p.ward:2:18: error: unknown attribute `request.paht`");
    expect(r.stderr).toContain("did you mean `request.path`?");
  });

  it("counts a test whose certificate file is missing as failed, saying which file", async () => {
    const cwd = project({
      "policies/payments.ward": PAYMENTS_POLICY,
      "policies/payments_test.ward": `${PASSING_TESTS}\ntest "needs a cert" {\n  cert "testdata/missing.pem"\n  request "GET" "/"\n  expect deny\n}\n`,
    });
    const r = await ward(["test", "policies"], { cwd });
    expect(r.code).toBe(1);
    expect(lastLine(r.stdout)).toBe("2 passed, 1 failed");
    expect(r.stdout).toContain('FAIL  "needs a cert" (policies/payments_test.ward:15)');
    expect(r.stdout).toContain(`test is unusable: cannot read certificate file \`testdata/missing.pem\` (${join(cwd, "policies/testdata/missing.pem")}): no such file or directory`);
  });

  it("rejects unknown flags and formats with exit 2 and the usage", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY });
    const flag = await ward(["test", "--nope"], { cwd });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("usage: ward test");
    const format = await ward(["test", "--format", "tap"], { cwd });
    expect(format.code).toBe(2);
    expect(format.stderr).toContain("unknown format `tap`");
  });
});

describe("ward test: requests as the server sees them", () => {
  it("loads certificates relative to the test file and resolves them with the identity code", async () => {
    const tests = `test "checkout's certificate" {
  cert "certs/checkout.pem"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/charge"
  expect allow by "checkout may charge"
}
test "an expired certificate is no identity: 401" {
  cert "certs/expired.pem"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/charge"
  expect deny by "no cross-environment calls" status 401
}
test "a staging certificate is a staging caller" {
  cert "certs/staging.pem"
  destination "${PAYMENTS}"
  request "GET" "/api/v1/payments/p1"
  expect deny by "no cross-environment calls" status 403
}
`;
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/tests/t_test.ward": tests });
    mkdirSync(join(cwd, "policies/tests/certs"));
    for (const [from, to] of [["prod-checkout", "checkout"], ["expired", "expired"], ["staging-checkout", "staging"]]) {
      copyFileSync(join(ROOT, `test/fixtures/certs/${from}.pem`), join(cwd, `policies/tests/certs/${to}.pem`));
    }
    const r = await ward(["test", "policies"], { cwd });
    expect(r.stdout).toBe("3 passed, 0 failed\n");
    expect(r.code).toBe(0);
  });

  it("takes the server's identity flags: with --trust-bundle, a certificate from another CA is no identity", async () => {
    const tests = `test "checkout from the rogue CA" {
  cert "rogue.pem"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/charge"
  expect allow by "checkout may charge"
}
`;
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/t_test.ward": tests });
    copyFileSync(join(ROOT, "test/fixtures/certs/rogue-prod-checkout.pem"), join(cwd, "policies/rogue.pem"));
    copyFileSync(join(ROOT, "test/fixtures/certs/prod-bundle.pem"), join(cwd, "bundle.pem"));
    // Without a trust bundle (the server's default) the certificate's SPIFFE ID is believed...
    expect((await ward(["test", "policies"], { cwd })).stdout).toBe("1 passed, 0 failed\n");
    // ...with the bundle the server would be started with, it is not.
    const strict = await ward(["test", "policies", "--trust-bundle", "bundle.pem"], { cwd });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain("caller:   unauthenticated (");
    expect(strict.stdout).toContain("status 401");
    const missing = await ward(["test", "policies", "--trust-bundle", "nope.pem"], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read trust bundle `nope.pem`: no such file or directory");
    const xfcc = await ward(["test", "policies", "--identity-sources", "xfcc"], { cwd });
    expect(xfcc.code).toBe(2);
    expect(xfcc.stderr).toContain("xfcc_not_configured");
  });

  it("canonicalizes the test's path like a live request: dot-segments cannot bypass a rule", async () => {
    const tests = `test "a dot-segment still reaches the charge endpoint" {
  caller "${CHECKOUT}"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/refunds/../charge"
  expect allow by "checkout may charge"
}
test "shows the canonical path when it fails" {
  caller "spiffe://prod.example.com/ns/web/sa/frontend"
  destination "${PAYMENTS}"
  request "POST" "/api/v1/x/%2e%2e/charge"
  expect allow
}
test "an encoded slash is refused before the policies run" {
  caller "${CHECKOUT}"
  destination "${PAYMENTS}"
  request "POST" "/api/v1%2Fcharge"
  expect deny status 403
}
`;
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/t_test.ward": tests });
    const r = await ward(["test", "policies"], { cwd });
    expect(lastLine(r.stdout)).toBe("2 passed, 1 failed");
    expect(r.stdout).toContain("  request:  POST /api/v1/x/%2e%2e/charge (canonical path /api/v1/charge)");
  });

  it("decides at a fixed default time, so a test gives the same answer on any day", async () => {
    const policy = `policy "office-hours" {
  allow "wednesday noon" when time.weekday == "wednesday" and time.hour == 12
}
`;
    const tests = `test "default time is ${DEFAULT_TEST_TIME}" {
  request "GET" "/"
  expect allow
}
test "at moves the clock" {
  request "GET" "/"
  at "2027-01-06T13:00:00Z"
  expect deny
}
`;
    const cwd = project({ "p/a.ward": policy, "p/a_test.ward": tests });
    const r = await ward(["test", "p"], { cwd, now: Date.parse("2030-07-07T03:00:00Z") });
    expect(r.stdout).toBe("2 passed, 0 failed\n");
  });

  it("takes requests from recorded inputs: compact, Envoy CheckRequest and decision record", async () => {
    const shipped = (f: string): string => readFileSync(join(ROOT, "policies", f), "utf8");
    const cwd = project({
      "policies/payments.ward": shipped("payments.ward"),
      "policies/card-vault.ward": shipped("card-vault.ward"),
      "policies/recorded/a.json": shipped("recorded/checkout-charge.checkrequest.json"),
      "policies/recorded/b.json": shipped("recorded/web-charge.compact.json"),
      "policies/recorded/c.json": shipped("recorded/ledger-card-read.decision.json"),
      "policies/recorded/bad.json": '{"request": {"method": "GET"}}',
      "policies/r_test.ward": `test "check request" {
  input "recorded/a.json"
  expect allow by "checkout may charge"
}
test "compact" {
  input "recorded/b.json"
  expect deny by "only checkout may charge"
}
test "decision record" {
  input "recorded/c.json"
  expect allow by "pci workloads in payments may read cards"
}
test "a statement overrides the recorded caller" {
  input "recorded/a.json"
  caller "spiffe://prod.example.com/ns/web/sa/frontend"
  expect deny by "only checkout may charge"
}
test "a decision record cannot be changed" {
  input "recorded/c.json"
  caller "spiffe://prod.example.com/ns/web/sa/frontend"
  expect deny
}
test "a malformed recorded input" {
  input "recorded/bad.json"
  expect deny
}
`,
    });
    const r = await ward(["test", "policies"], { cwd });
    expect(lastLine(r.stdout)).toBe("4 passed, 2 failed");
    expect(r.stdout).toContain("recorded input `recorded/c.json` is a decision record, which is decided as recorded; remove `caller` (only `at` may change it)");
    expect(r.stdout).toMatch(/recorded input `recorded\/bad\.json` cannot be used: .*request\.path/);
  });

  it("does not count a deny caused by an internal error as a passing deny test", async () => {
    const broken = { revision: "r1", needsCertificate: false, policies: [], ruleCount: 0 } as Program; // not built by compile
    const span = { file: "t.ward", start: { offset: 0, line: 1, column: 1 }, end: { offset: 1, line: 1, column: 2 } };
    const test: CheckedTest = { name: "t", file: "t.ward", span, headers: [], context: [], request: { method: "GET", path: "/" }, expect: { effect: "deny", by: [], span } };
    const result = await runTest(test, { program: broken, deps: createDecisionDeps(), absolutePath: (f) => join(ROOT, f) });
    expect(result.outcome?.decision.reason).toBe("internal_error");
    expect(result.status).toBe("error");
    expect(result.problems[0]).toContain("ward failed while deciding (internal_error)");
  });
});

describe("ward test --coverage", () => {
  it("reports rules never matched and conditions not seen both ways, per file, with percentages", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS });
    const r = await ward(["test", "policies", "--coverage"], { cwd });
    expect(r.code).toBe(0);
    // 3 rules, 2 matched; 7 leaf conditions = 14 outcomes, 9 seen (see the walk in docs/testing.md).
    expect(r.stdout).toContain("coverage (2 decisions):\n  policies/payments.ward: rules 2/3 (66.7%), condition outcomes 9/14 (64.3%)\n");
    expect(r.stdout).toContain('    rule never matched: policies/payments.ward:16:3 deny "no cross-environment calls" (policy "payments-api")\n');
    expect(r.stdout).toContain('    condition never false: policies/payments.ward:3:16 `destination.spiffe_id == "spiffe://prod.example.com/ns/payments/sa/payment-api"` in `applies when` of "payments-api"');
    expect(r.stdout).toContain('    condition never false: policies/payments.ward:9:9 `request.method == "POST"` in rule "checkout may charge"');
    expect(r.stdout).toContain('    condition never true: policies/payments.ward:16:42 `caller.trust_domain != "prod.example.com"` in rule "no cross-environment calls"');
    expect(r.stdout).toContain("  total: rules 2/3 (66.7%), condition outcomes 9/14 (64.3%)\n\n2 passed, 0 failed\n");
    // Test-only files are not listed.
    expect(r.stdout).not.toContain("payments_test.ward: rules");
  });

  it("gives the same numbers in the JSON report", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS });
    const r = await ward(["test", "policies", "--coverage", "--format", "json"], { cwd });
    const report = JSON.parse(r.stdout);
    expect(report.coverage.rules).toEqual({ covered: 2, total: 3, percent: 66.7 });
    expect(report.coverage.conditions).toEqual({ covered: 9, total: 14, percent: 64.3 });
    expect(report.coverage.files[0].unmatched_rules).toEqual([{ policy: "payments-api", rule: "no cross-environment calls", effect: "deny", at: "policies/payments.ward:16:3" }]);
  });

  it("covers every rule and both outcomes of every condition of the shipped policies", async () => {
    const r = await ward(["test", "policies/", "--coverage", "--format", "json"], { cwd: ROOT });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThan(50);
    expect(report.coverage.rules.percent).toBe(100);
    expect(report.coverage.conditions.percent).toBe(100);
  });
});

describe("ward test --format", () => {
  it("json: one document with every test, the decision and, for failures, the explanation; the summary on stderr", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "policies/payments_test.ward": PASSING_TESTS + FAILING_TEST });
    const r = await ward(["test", "policies", "--format", "json"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("2 passed, 1 failed\n");
    const report = JSON.parse(r.stdout);
    expect(report.passed).toBe(2);
    expect(report.failed).toBe(1);
    expect(report.tests).toHaveLength(3);
    const failed = report.tests[2];
    expect(failed).toMatchObject({
      name: "staging can charge (wrong on purpose)",
      file: "policies/payments_test.ward",
      line: 15,
      status: "fail",
      expected: { effect: "allow", by: ["checkout may charge"] },
      actual: { outcome: "deny", allowed: false, status: 403, reason: "denied_by_rule", path: "/api/v1/charge" },
    });
    expect(failed.actual.determining).toEqual([{ policy: "payments-api", rule: "no cross-environment calls", effect: "deny", mode: "enforce" }]);
    expect(failed.actual.explanation.policies[0].rules[0].failed.at).toBe("policies/payments.ward:8:5");
    expect(report.tests[0].actual.explanation).toBeUndefined();
  });

  it("junit: valid JUnit XML with a testsuite per file and a failure per failed test", async () => {
    const tricky = `\ntest "names <escape> & \\"quote\\"" {\n  cert "nope.pem"\n  request "GET" "/"\n  expect deny\n}\n`;
    const cwd = project({
      "policies/payments.ward": PAYMENTS_POLICY,
      "policies/payments_test.ward": PASSING_TESTS + FAILING_TEST,
      "policies/more_test.ward": tricky,
    });
    const r = await ward(["test", "policies", "--format", "junit"], { cwd });
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe("2 passed, 2 failed");
    expect(XMLValidator.validate(r.stdout)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@", isArray: (name) => ["testsuite", "testcase"].includes(name) }).parse(r.stdout);
    const suites = doc.testsuites;
    expect(suites["@tests"]).toBe("4");
    expect(suites["@failures"]).toBe("1");
    expect(suites["@errors"]).toBe("1");
    const byName = new Map(suites.testsuite.map((s: any) => [s["@name"], s]));
    const payments: any = byName.get("policies/payments_test.ward");
    expect(payments.testcase.map((t: any) => t["@name"])).toEqual(["checkout can charge", "the web frontend may read", "staging can charge (wrong on purpose)"]);
    const failure = payments.testcase[2].failure;
    expect(failure["@message"]).toContain("expected allow, got deny");
    expect(failure["#text"]).toContain("policies/payments.ward:16:3");
    const more: any = byName.get("policies/more_test.ward");
    expect(more.testcase[0]["@name"]).toBe('names <escape> & "quote"');
    expect(more.testcase[0].error["@message"]).toContain("cannot read certificate file `nope.pem`");
  });
});
