/**
 * `ward replay --policies CANDIDATE [--log FILE ...]`: decides recorded
 * traffic (decision records and/or Envoy CheckRequests, JSON lines) with a
 * candidate policy set and reports what would flip, so a policy change can be
 * guarded in CI. Exit codes: 0 nothing flips, 1 something flips (see
 * `--fail-on`), 2 it cannot run (bad flags, unreadable logs, policies that do
 * not compile, nothing to replay). docs/audit.md, "Replay".
 */
import { createReadStream } from "node:fs";
import { access, constants } from "node:fs/promises";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { candidateFromProgram, createReplay, hasFailingFlips, renderReplayText, type FailOn, type Replay } from "../audit/replay.js";
import { fromCheckRequestJson } from "../input/documents.js";
import { EXIT_FINDING, EXIT_OK, EXIT_USAGE, parseCommandArgs, usageError } from "./args.js";
import { createDecisionDeps } from "./deps.js";
import type { CliIo } from "./io.js";
import { fsReason, loadForCommand } from "./load.js";

/** Usage text of `ward replay`. */
export const REPLAY_USAGE = `usage: ward replay --policies CANDIDATE [--log FILE ...] [--format text|json] [--examples N]
                   [--fail-on any|allow-to-deny|deny-to-allow|none] [--allow-empty]

Decides recorded traffic again with the candidate policies and reports what flips.
  --policies PATH   candidate policy file or directory (repeatable; required)
  --log FILE        JSON lines: ward decision records and/or Envoy CheckRequests
                    (repeatable; also accepted as positional arguments; "-" or none: standard input)
  --format FORMAT   text (default) or json (one object)
  --examples N      example requests shown per group (default 3)
  --fail-on WHICH   flips that make the exit status 1 (default any)
  --allow-empty     exit 0 instead of 2 when no line could be replayed
Exit status: 0 nothing flips, 1 something flips, 2 cannot run.
See docs/audit.md.`;

const FAIL_ON: readonly FailOn[] = ["any", "allow-to-deny", "deny-to-allow", "none"];

/** Runs `ward replay`. */
export async function runReplay(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandArgs(argv, {
    policies: { type: "string", multiple: true, short: "p" },
    log: { type: "string", multiple: true, short: "l" },
    format: { type: "string" },
    examples: { type: "string" },
    "fail-on": { type: "string" },
    "allow-empty": { type: "boolean" },
  });
  if (!parsed.ok) return usageError(io, parsed.message, REPLAY_USAGE);
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`${REPLAY_USAGE}\n`);
    return EXIT_OK;
  }
  const policies = values.policies ?? [];
  if (policies.length === 0) return usageError(io, "`--policies CANDIDATE` is required", REPLAY_USAGE);
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") return usageError(io, `unknown format \`${format}\` (expected text or json)`, REPLAY_USAGE);
  const examples = values.examples === undefined ? 3 : Number(values.examples);
  if (!Number.isInteger(examples) || examples < 0) return usageError(io, `\`--examples\` must be a whole number, got \`${values.examples ?? ""}\``, REPLAY_USAGE);
  const failOn = (values["fail-on"] ?? "any") as FailOn;
  if (!FAIL_ON.includes(failOn)) return usageError(io, `unknown \`--fail-on\` value \`${failOn}\` (expected ${FAIL_ON.join(", ")})`, REPLAY_USAGE);
  const logs = await checkLogs(io, [...(values.log ?? []), ...positionals], REPLAY_USAGE);
  if (typeof logs === "number") return logs;

  const loaded = await loadForCommand(policies, io, { showWarnings: false });
  if (!loaded.ok) return loaded.exitCode;

  let replay: Replay;
  try {
    const candidate = candidateFromProgram(loaded.load.program, { deps: createDecisionDeps(), fromCheckRequest: fromCheckRequestJson, now: io.now });
    replay = createReplay(candidate, { examples });
  } catch (err) {
    io.stderr(`error: cannot set up the decision path: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_USAGE;
  }

  const failed = await readLogs(io, replay, logs);
  if (failed !== undefined) return failed;

  const report = replay.report();
  io.stdout(format === "json" ? `${JSON.stringify(report, null, 2)}\n` : renderReplayText(report));
  if (report.total === 0 && values["allow-empty"] !== true) {
    io.stderr("error: nothing was replayed (no decision record with an input and no CheckRequest); `--allow-empty` accepts that\n");
    return EXIT_USAGE;
  }
  return hasFailingFlips(report, failOn) ? EXIT_FINDING : EXIT_OK;
}

/**
 * The logs a command was given (`--log` and positional), each checked readable
 * before anything is read: a typo is a setup error, not a silent empty report.
 * Returns the exit code instead when they cannot be used.
 */
export async function checkLogs(io: CliIo, logs: readonly string[], usage: string): Promise<readonly string[] | number> {
  if (logs.filter((l) => l === "-").length > 1) return usageError(io, "standard input (`-`) can be read only once", usage);
  for (const log of logs) {
    if (log === "-") continue;
    try {
      await access(resolve(io.cwd, log), constants.R_OK);
    } catch (err) {
      io.stderr(`error: cannot read log \`${log}\`: ${fsReason(err)}\n`);
      return EXIT_USAGE;
    }
  }
  return logs;
}

/** Feeds every log (standard input when none is given) to `into`; returns the exit code when one cannot be read. */
export async function readLogs(io: CliIo, into: Pick<Replay, "add">, logs: readonly string[]): Promise<number | undefined> {
  for (const source of logs.length === 0 ? ["-"] : logs) {
    try {
      if (source === "-") addText(into, await io.readStdin(), "-");
      else await addFile(into, resolve(io.cwd, source), source);
    } catch (err) {
      io.stderr(`error: cannot read log \`${source}\`: ${fsReason(err)}\n`);
      return EXIT_USAGE;
    }
  }
  return undefined;
}

/** Feeds text split into lines (`\n` or `\r\n`) to a replay. */
export function addText(replay: Pick<Replay, "add">, text: string, source: string): void {
  const lines = text.split(/\r?\n/);
  // A final newline ends the last line; it does not start an empty one.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((line, i) => replay.add(line, { source, line: i + 1 }));
}

/** Streams a file line by line into a replay, so a large log is never held in memory whole. */
export async function addFile(replay: Pick<Replay, "add">, path: string, source: string): Promise<void> {
  const stream = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) replay.add(line, { source, line: ++n });
}
