/**
 * `ward check [paths...]`: checks and compiles policy files and prints every
 * error and warning as `file:line:col: severity: message [code]` with the
 * source line and a caret, then one summary line. Exit 0 when there are no
 * errors (warnings allowed), 1 when there are errors, 2 on usage errors.
 */
import { compileSources, revisionOf } from "../policy-loader.js";
import { EXIT_FINDING, EXIT_OK, EXIT_USAGE, parseCommandArgs, usageError } from "./args.js";
import type { CliIo } from "./io.js";
import { DEFAULT_POLICY_PATHS, plural, readPolicySources, renderWithSources, summarizeDiagnostics } from "./load.js";

/** Usage text of `ward check`. */
export const CHECK_USAGE = `usage: ward check [paths...]

Checks and compiles the .ward files under each path (default: policies/).
Prints every error and warning with file:line:col, then a summary line.
Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage error.`;

/** Runs `ward check`. */
export async function runCheck(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(argv, {});
  if (!args.ok) return usageError(io, args.message, CHECK_USAGE);
  if (args.values.help) {
    io.stdout(`${CHECK_USAGE}\n`);
    return EXIT_OK;
  }
  const paths = args.positionals.length > 0 ? args.positionals : DEFAULT_POLICY_PATHS;
  const read = await readPolicySources(paths, io);
  if (!read.ok) return usageError(io, read.failure.message, CHECK_USAGE);
  const sources = read.value.sources;
  if (sources.length === 0) {
    io.stderr(`error: no \`.ward\` files found in ${paths.map((p) => `\`${p}\``).join(", ")}\n`);
    return EXIT_USAGE;
  }
  const load = compileSources(sources);
  const diagnostics = load.ok ? load.warnings : load.diagnostics;
  if (diagnostics.length > 0) io.stderr(`${renderWithSources(diagnostics, load.sources)}\n\n`);
  const files = plural(sources.length, "file");
  const counts = summarizeDiagnostics(diagnostics);
  if (!load.ok) {
    io.stdout(`checked ${files}: ${counts}; revision ${revisionOf(sources)} not compiled\n`);
    return EXIT_FINDING;
  }
  const tests = load.checked.tests.length;
  io.stdout(
    `checked ${files}: ${plural(load.program.policies.length, "policy", "policies")}, ` +
      `${plural(load.program.ruleCount, "rule")}, ${plural(tests, "test")}; ${counts}; revision ${load.revision}\n`,
  );
  return EXIT_OK;
}
