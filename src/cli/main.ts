/**
 * The `ward` command line, minus `serve` (which `src/main.ts`, the
 * composition root, runs itself): one dispatcher over the subcommands, each a
 * `CliCommand` that returns its exit code. Exit codes: 0 success, 1 a finding
 * (policy errors, failed tests, files that need formatting), 2 usage or setup
 * errors. Every command, flag and output format is in docs/cli.md.
 */
import { readFileSync } from "node:fs";
import { EXIT_OK, EXIT_USAGE } from "./args.js";
import { AUDIT_SUMMARY_USAGE, runAuditSummary } from "./audit-summary.js";
import { runCheck } from "./check.js";
import { runEval } from "./eval.js";
import { runFmt } from "./fmt.js";
import type { CliCommand, CliIo } from "./io.js";
import { runReplay } from "./replay.js";
import { runTest } from "./test.js";

/** The top-level usage text (`ward help`). */
export const USAGE = `usage: ward <command> [arguments]

Commands:
  serve                 run the ext_authz gRPC server and the HTTP API
  check [paths...]      check and compile policies; print errors and warnings
  eval [paths...] --input FILE [--explain] [--mode enforce|audit]
                        decide one request and print the decision as JSON
  test [paths...] [--run PATTERN] [--verbose] [--coverage] [--format text|json|junit]
                        run the policy tests (test blocks in .ward files)
  fmt [paths...] [--check]
                        rewrite .ward files in the canonical layout
  replay --policies CANDIDATE [--log FILE ...]
                        decide recorded traffic with candidate policies; report what flips
  audit summary [--log FILE ...]
                        group an audit log's would-deny decisions by caller and path
  help [command]        show this help, or a command's
  --version             print the version

Paths default to policies/. Exit status: 0 success, 1 a finding (errors,
failed tests, unformatted files, flips), 2 usage or setup error.
See docs/cli.md.`;

const COMMANDS: ReadonlyMap<string, CliCommand> = new Map<string, CliCommand>([
  ["check", runCheck],
  ["eval", runEval],
  ["test", runTest],
  ["fmt", runFmt],
  ["replay", runReplay],
  ["audit", runAudit],
]);

/** `ward audit <subcommand>`: only `summary` so far. */
async function runAudit(argv: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "summary") return runAuditSummary(rest, io);
  if (sub === "--help" || sub === "-h") {
    io.stdout(`${AUDIT_SUMMARY_USAGE}\n`);
    return EXIT_OK;
  }
  io.stderr(`error: ${sub === undefined ? "`ward audit` needs a subcommand" : `unknown subcommand \`audit ${sub}\``}\n\n${AUDIT_SUMMARY_USAGE}\n`);
  return EXIT_USAGE;
}

/** Ward's version, from package.json (two levels up from both `src/cli/` and `dist/cli/`). */
export function wardVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Runs one `ward` command. `argv` excludes node and the script
 * (`["test", "policies/"]`). Resolves to the exit code; never rejects: an
 * unexpected exception is reported as an internal error with exit code 2.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(`${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    io.stdout(`ward ${wardVersion()}\n`);
    return EXIT_OK;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    const topic = rest[0];
    const command = topic !== undefined ? COMMANDS.get(topic) : undefined;
    if (command) return command(["--help"], io);
    if (topic !== undefined && topic !== "serve") {
      io.stderr(`error: unknown command \`${topic}\`\n\n${USAGE}\n`);
      return EXIT_USAGE;
    }
    io.stdout(`${USAGE}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.get(name);
  if (!command) {
    const hint = name === "serve" ? "`ward serve` is run by the ward binary (dist/main.js), not by runCli" : `unknown command \`${name}\``;
    io.stderr(`error: ${hint}\n\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    // A bug, not a user error: say so plainly, with the stack for the report.
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr(`error: internal error in \`ward ${name}\` (please report it): ${detail}\n`);
    return EXIT_USAGE;
  }
}
