/**
 * `ward test [paths...] [--run PATTERN] [--verbose] [--coverage] [--format text|json|junit]`:
 * runs every `test` block of the `.ward` files under the paths against the
 * policies under the same paths. Exit 0 when all pass, 1 when any fails (a
 * test that cannot be run counts as failed), 2 when the policies do not
 * compile or on usage errors. The text report ends with the line
 * `N passed, N failed`. See docs/testing.md.
 */
import type { CheckedTest } from "../dsl/checked.js";
import { EXIT_FINDING, EXIT_OK, EXIT_USAGE, parseCommandArgs, usageError } from "./args.js";
import { computeCoverage, coverageToJson, coverageToText, createCoverageSession } from "./coverage.js";
import { decisionDepsFromFlags, IDENTITY_FLAGS, IDENTITY_FLAGS_USAGE } from "./deps.js";
import type { CliIo } from "./io.js";
import { DEFAULT_POLICY_PATHS, loadForCommand } from "./load.js";
import { jsonReport, junitReport, summaryLine, textReport } from "./test-report.js";
import { runTests, summarize } from "./test-runner.js";

/** Usage text of `ward test`. */
export const TEST_USAGE = `usage: ward test [paths...] [--run PATTERN] [--verbose] [--coverage] [--format text|json|junit]

Runs every test block in the .ward files under each path (default: policies/)
against the policies under the same paths.
  --run PATTERN   only tests whose name matches this regular expression
  --verbose, -v   list every test, passing ones too, with its decision
  --coverage      report rules no test made match and conditions not seen both true and false
  --format F      text (default), json or junit (JUnit XML on stdout)
${IDENTITY_FLAGS_USAGE}
Exit status: 0 all passed, 1 a test failed, 2 policies do not compile or usage error.`;

const FORMATS = ["text", "json", "junit"] as const;
type Format = (typeof FORMATS)[number];

/** Runs `ward test`. */
export async function runTest(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(argv, {
    run: { type: "string" },
    verbose: { type: "boolean", short: "v" },
    coverage: { type: "boolean" },
    format: { type: "string" },
    ...IDENTITY_FLAGS,
  });
  if (!args.ok) return usageError(io, args.message, TEST_USAGE);
  if (args.values.help) {
    io.stdout(`${TEST_USAGE}\n`);
    return EXIT_OK;
  }
  const format = (args.values.format ?? "text") as Format;
  if (!FORMATS.includes(format)) return usageError(io, `unknown format \`${format}\` (expected text, json or junit)`, TEST_USAGE);
  let pattern: RegExp | undefined;
  if (args.values.run !== undefined) {
    try {
      pattern = new RegExp(args.values.run, "u");
    } catch (err) {
      return usageError(io, `\`--run ${args.values.run}\` is not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`, TEST_USAGE);
    }
  }
  const verbose = args.values.verbose === true;
  const paths = args.positionals.length > 0 ? args.positionals : DEFAULT_POLICY_PATHS;

  const loaded = await loadForCommand(paths, io, { showWarnings: format === "text" });
  if (!loaded.ok) return loaded.exitCode;
  const { load, files } = loaded;

  const tests = orderTests(load.checked.tests).filter((t) => pattern === undefined || pattern.test(t.name));
  if (tests.length === 0) {
    const why = pattern !== undefined ? `no test matches \`${args.values.run}\`` : "no tests found";
    io.stderr(`warning: ${why} in ${paths.map((p) => `\`${p}\``).join(", ")}\n`);
  }

  const deps = await decisionDepsFromFlags(args.values, io);
  if (!deps) return EXIT_USAGE;
  const coverage = args.values.coverage ? createCoverageSession(load.program) : undefined;
  const results = await runTests(tests, {
    program: load.program,
    deps,
    absolutePath: (file) => files.absolute.get(file) ?? file,
    ...(coverage ? { evaluateOptions: coverage.evaluateOptions } : {}),
  });
  const summary = summarize(results);
  const report = coverage ? computeCoverage(coverage) : undefined;

  switch (format) {
    case "text":
      io.stdout(textReport(results, verbose, report ? coverageToText(report) : undefined));
      break;
    case "json":
      io.stdout(jsonReport(results, verbose, report ? { coverage: coverageToJson(report) } : {}));
      // stdout stays one JSON document; the line CI reads goes to stderr.
      io.stderr(`${summaryLine(summary)}\n`);
      break;
    case "junit":
      io.stdout(junitReport(results));
      if (report) io.stderr(`${coverageToText(report)}\n`);
      io.stderr(`${summaryLine(summary)}\n`);
      break;
  }
  return summary.failed > 0 ? EXIT_FINDING : EXIT_OK;
}

/** Tests in file order, then source order, so reports are stable whatever order the checker returns. */
function orderTests(tests: readonly CheckedTest[]): CheckedTest[] {
  return [...tests].sort((a, b) => (a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.span.start.offset - b.span.start.offset));
}
