/**
 * `ward audit summary --log FILE`: the would-deny decisions of an audit log
 * grouped by caller, method and path pattern, largest first: what a service
 * owner works through before switching from audit to enforce. Exit codes: 0
 * the summary was printed (whatever it shows), 2 bad flags or unreadable logs.
 * docs/audit.md, "Audit summary".
 */
import { createSummary, renderSummaryText } from "../audit/summary.js";
import { EXIT_OK, parseCommandArgs, usageError } from "./args.js";
import type { CliIo } from "./io.js";
import { checkLogs, readLogs } from "./replay.js";

/** Usage text of `ward audit summary`. */
export const AUDIT_SUMMARY_USAGE = `usage: ward audit summary [--log FILE ...] [--format text|json] [--all-denies] [--limit N] [--examples N]

Lists the would-deny decisions of an audit log grouped by caller, method and
path pattern (numbers, UUIDs and long ids collapsed into *), largest first.
  --log FILE      decision records, JSON lines (repeatable; also accepted as
                  positional arguments; "-" or none: standard input)
  --format FORMAT text (default) or json (one object)
  --all-denies    also list enforced denials, not only would-denials
  --limit N       text format: show only the N largest groups
  --examples N    distinct example paths per group (default 3)
Exit status: 0 printed, 2 usage error or unreadable log.
See docs/audit.md.`;

/** Runs `ward audit summary` (argv after `audit summary`; a leading `summary` is accepted too). */
export async function runAuditSummary(argv: readonly string[], io: CliIo): Promise<number> {
  // The dispatcher may hand over `["summary", ...]` when it routes `ward audit`; accept both forms.
  const args = argv[0] === "summary" ? argv.slice(1) : argv;
  const parsed = parseCommandArgs(args, {
    log: { type: "string", multiple: true, short: "l" },
    format: { type: "string" },
    "all-denies": { type: "boolean" },
    limit: { type: "string" },
    examples: { type: "string" },
  });
  if (!parsed.ok) return usageError(io, parsed.message, AUDIT_SUMMARY_USAGE);
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`${AUDIT_SUMMARY_USAGE}\n`);
    return EXIT_OK;
  }
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") return usageError(io, `unknown format \`${format}\` (expected text or json)`, AUDIT_SUMMARY_USAGE);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    return usageError(io, `\`--limit\` must be a positive whole number, got \`${values.limit ?? ""}\``, AUDIT_SUMMARY_USAGE);
  }
  const examples = values.examples === undefined ? 3 : Number(values.examples);
  if (!Number.isInteger(examples) || examples < 0) {
    return usageError(io, `\`--examples\` must be a whole number, got \`${values.examples ?? ""}\``, AUDIT_SUMMARY_USAGE);
  }
  const logs = await checkLogs(io, [...(values.log ?? []), ...positionals], AUDIT_SUMMARY_USAGE);
  if (typeof logs === "number") return logs;

  const summary = createSummary({ allDenies: values["all-denies"] === true, examples });
  const failed = await readLogs(io, summary, logs);
  if (failed !== undefined) return failed;
  const report = summary.report();
  io.stdout(format === "json" ? `${JSON.stringify(report, null, 2)}\n` : renderSummaryText(report, limit));
  return EXIT_OK;
}
