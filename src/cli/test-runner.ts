/**
 * Runs policy tests (`test "..." { ... }` blocks) through the one decision
 * path: each test becomes a `RawRequest` exactly like a live request would
 * (the path is canonicalized by the input builder, a `cert` goes through the
 * identity resolver), `decide()` answers, and the answer is compared with the
 * test's `expect`. See docs/testing.md.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { decide, type DecideOptions, type DecisionDeps, type DecisionOutcome } from "../decide.js";
import type { CheckedTest } from "../dsl/checked.js";
import type { EngineEvaluateOptions } from "../engine/index.js";
import type { Program } from "../engine/program.js";
import type { RawRequest } from "../input/raw.js";
import { parseRfc3339 } from "../input/time.js";
import { fsReason } from "./load.js";
import { rawOfRecorded, readRequestDocument, recordedInputDeps } from "./request-document.js";
import { envoyStatus } from "../decision-json.js";

/**
 * The decision time of a test without `at` (and whose recorded input carries
 * no time): a fixed instant, never the wall clock, so a test gives the same
 * answer every day. A Wednesday, 12:00 UTC (`time.hour` 12, `time.weekday`
 * `wednesday`). Documented in docs/testing.md.
 */
export const DEFAULT_TEST_TIME = "2027-01-06T12:00:00Z";

/** `DEFAULT_TEST_TIME` in epoch milliseconds. */
export const DEFAULT_TEST_TIME_MS = parseRfc3339(DEFAULT_TEST_TIME) as number;

/** What running tests needs. */
export interface TestRunContext {
  readonly program: Program;
  readonly deps: DecisionDeps;
  /** Test file display name → absolute path (cert and input files are relative to the test file). */
  readonly absolutePath: (file: string) => string;
  /** Extra evaluation options (the coverage recorder, when coverage is on). */
  readonly evaluateOptions?: Omit<EngineEvaluateOptions, "explain">;
}

/** `pass`; `fail`: the decision differs from `expect`; `error`: the test could not be run as written (counted as failed). */
export type TestStatus = "pass" | "fail" | "error";

/** The result of one test. */
export interface TestResult {
  readonly test: CheckedTest;
  readonly status: TestStatus;
  /** For `fail`: each way the decision differs from the expectation. For `error`: why the test is unusable. */
  readonly problems: readonly string[];
  /** The decision and the identity it was made for; absent when the test could not be run. */
  readonly outcome?: DecisionOutcome;
  /** The HTTP status Envoy would have returned. */
  readonly httpStatus?: number;
  /** The request as sent to `decide` (before canonicalization). */
  readonly raw?: RawRequest;
}

/** Totals of a run. */
export interface TestSummary {
  readonly passed: number;
  readonly failed: number;
}

/** Counts results: errors count as failures. */
export function summarize(results: readonly TestResult[]): TestSummary {
  const passed = results.filter((r) => r.status === "pass").length;
  return { passed, failed: results.length - passed };
}

/** Runs tests one after another, in the order given. */
export async function runTests(tests: readonly CheckedTest[], context: TestRunContext): Promise<TestResult[]> {
  const results: TestResult[] = [];
  for (const test of tests) results.push(await runTest(test, context));
  return results;
}

/** Runs one test. Never throws: an unusable test is a result with status `error`. */
export async function runTest(test: CheckedTest, context: TestRunContext): Promise<TestResult> {
  const built = await buildTestRequest(test, context);
  if (!built.ok) return { test, status: "error", problems: [built.message] };
  const { raw, deps } = built;
  // `decide` hands its options to the engine's `evaluate` as they are, so the coverage recorder rides along.
  const options: DecideOptions & EngineEvaluateOptions = { ...context.evaluateOptions, now: DEFAULT_TEST_TIME_MS, explain: true };
  const outcome = decide(context.program, raw, deps, options);
  const httpStatus = envoyStatus(outcome.decision, outcome.identity);
  const base = { test, outcome, httpStatus, raw };
  // Ward fails closed, so an internal error denies; a deny test must not pass because Ward broke.
  if (outcome.decision.reason === "internal_error") {
    return { ...base, status: "error", problems: [`ward failed while deciding (internal_error): ${outcome.error ?? outcome.decision.detail ?? "no detail"}`] };
  }
  const problems = compareWithExpectation(test, outcome, httpStatus);
  return { ...base, status: problems.length === 0 ? "pass" : "fail", problems };
}

/** Lists how a decision differs from a test's `expect` (empty when it matches). */
export function compareWithExpectation(test: CheckedTest, outcome: DecisionOutcome, httpStatus: number): string[] {
  const problems: string[] = [];
  const decision = outcome.decision;
  if (decision.outcome !== test.expect.effect) problems.push(`expected ${test.expect.effect}, got ${decision.outcome}`);
  for (const rule of test.expect.by) {
    if (!decision.determining.some((r) => r.rule === rule)) {
      problems.push(`expected rule ${JSON.stringify(rule)} among the determining rules`);
    }
  }
  if (test.expect.status !== undefined && test.expect.status !== httpStatus) {
    problems.push(`expected status ${test.expect.status}, got ${httpStatus}`);
  }
  return problems;
}

type Built = { readonly ok: true; readonly raw: RawRequest; readonly deps: DecisionDeps } | { readonly ok: false; readonly message: string };

/**
 * Builds the raw request of a test: from its recorded `input` file when it
 * has one, then every statement of the test on top (a statement replaces the
 * recorded value; headers and context entries are added or replaced by name).
 * A decision record is decided as recorded: only `at` may change it.
 */
export async function buildTestRequest(test: CheckedTest, context: TestRunContext): Promise<Built> {
  const dir = dirname(context.absolutePath(test.file));
  let base: RawRequest = EMPTY_REQUEST;
  // The same strict RFC 3339 reading as an input document's `time`.
  const at = test.at !== undefined ? parseRfc3339(test.at) : undefined;
  if (test.at !== undefined && at === undefined) return { ok: false, message: `\`at ${JSON.stringify(test.at)}\` is not an RFC 3339 timestamp` };
  if (test.input !== undefined) {
    const text = await readTestFile(dir, test.input, "recorded input");
    if (!text.ok) return text;
    const read = readRequestDocument(text.text);
    if (!read.ok) return { ok: false, message: `recorded input \`${test.input}\` cannot be used: ${read.message}` };
    if (read.document.kind === "recorded") {
      const changed = statementsBesidesAt(test);
      if (changed.length > 0) {
        return {
          ok: false,
          message: `recorded input \`${test.input}\` is a decision record, which is decided as recorded; remove ${changed.map((s) => `\`${s}\``).join(", ")} (only \`at\` may change it)`,
        };
      }
      const input = read.document.input;
      return { ok: true, raw: rawOfRecorded(input, at ?? input.time), deps: recordedInputDeps(input) };
    }
    base = read.document.raw;
  }

  let identity = base.identity;
  if (test.caller !== undefined || test.cert !== undefined) {
    // The test names its caller: recorded identity evidence is replaced, not merged.
    identity = {};
    if (test.caller !== undefined) identity = { ...identity, principal: test.caller };
    if (test.cert !== undefined) {
      const pem = await readTestFile(dir, test.cert, "certificate");
      if (!pem.ok) return pem;
      identity = { ...identity, certificate: { text: pem.text, encoding: "pem" } };
    }
  }
  const headers = mergeHeaders(base.headers, test.headers);
  // Like the ext_authz front end, an `x-forwarded-client-cert` header is identity evidence too.
  const xfcc = test.headers.filter((h) => h.name.toLowerCase() === "x-forwarded-client-cert").map((h) => h.value);
  if (xfcc.length > 0) identity = { ...identity, xfcc: xfcc.join(",") };
  // The host is `request.host`; a test sets it with a `host` (or `:authority`) header, as the request line would.
  const hostHeader = [...test.headers].reverse().find((h) => h.name.toLowerCase() === "host" || h.name === ":authority");

  const time = at ?? base.time ?? DEFAULT_TEST_TIME_MS;
  const contextExtensions: Record<string, string> = { ...base.contextExtensions };
  for (const { key, value } of test.context) contextExtensions[key] = value;

  const raw: RawRequest = {
    ...base,
    method: test.request?.method ?? base.method,
    path: test.request?.path ?? base.path,
    host: hostHeader ? hostHeader.value : base.host,
    headers,
    source: test.source !== undefined ? { ...base.source, address: test.source } : base.source,
    destination: test.destination !== undefined ? { ...base.destination, principal: test.destination } : base.destination,
    identity,
    contextExtensions,
    time,
  };
  return { ok: true, raw, deps: context.deps };
}

/** The statements of a test that would change a recorded request, as keywords. */
function statementsBesidesAt(test: CheckedTest): string[] {
  const used: string[] = [];
  if (test.caller !== undefined) used.push("caller");
  if (test.cert !== undefined) used.push("cert");
  if (test.request !== undefined) used.push("request");
  if (test.headers.length > 0) used.push("header");
  if (test.source !== undefined) used.push("source");
  if (test.destination !== undefined) used.push("destination");
  if (test.context.length > 0) used.push("context");
  return used;
}

/** The request a test starts from when it has no recorded input. */
const EMPTY_REQUEST: RawRequest = {
  method: "GET",
  path: "/",
  host: "",
  scheme: "https",
  headers: [],
  source: {},
  destination: {},
  identity: {},
  contextExtensions: {},
};

function mergeHeaders(
  base: readonly (readonly [string, string])[],
  extra: readonly { readonly name: string; readonly value: string }[],
): (readonly [string, string])[] {
  if (extra.length === 0) return [...base];
  const replaced = new Set(extra.map((h) => h.name.toLowerCase()));
  return [...base.filter(([name]) => !replaced.has(name.toLowerCase())), ...extra.map((h) => [h.name, h.value] as const)];
}

async function readTestFile(dir: string, file: string, what: string): Promise<{ readonly ok: true; readonly text: string } | { readonly ok: false; readonly message: string }> {
  const path = resolve(dir, file);
  try {
    return { ok: true, text: await readFile(path, "utf8") };
  } catch (err) {
    return { ok: false, message: `cannot read ${what} file \`${file}\` (${path}): ${fsReason(err)}` };
  }
}
