/**
 * `ward eval [paths...] --input FILE [--explain] [--mode enforce|audit]`:
 * decides one request against the policies, through the same `decide()` the
 * server uses, and prints the decision as one JSON object. The input is a
 * compact JSON request, an Envoy `CheckRequest` in proto3 JSON, or a decision
 * record; `--input -` reads standard input.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { decide } from "../decide.js";
import { EXIT_OK, EXIT_USAGE, parseCommandArgs, usageError } from "./args.js";
import { decisionDepsFromFlags, IDENTITY_FLAGS, IDENTITY_FLAGS_USAGE } from "./deps.js";
import type { CliIo } from "./io.js";
import { DEFAULT_POLICY_PATHS, fsReason, loadForCommand } from "./load.js";
import { decisionToJson } from "../decision-json.js";
import { rawOfRecorded, readRequestDocument, recordedInputDeps } from "./request-document.js";

/** Usage text of `ward eval`. */
export const EVAL_USAGE = `usage: ward eval [paths...] --input FILE [--explain] [--mode enforce|audit]

Decides one request against the policies under each path (default: policies/)
and prints the decision as one JSON object.
  --input FILE, -i FILE  the request: compact JSON, an Envoy CheckRequest (proto3 JSON)
                         or a decision record; "-" reads standard input
  --explain              add the explanation: every rule, matched or the first failed condition
  --mode enforce|audit   audit: every policy in audit mode (allowed reports what Envoy would get)
${IDENTITY_FLAGS_USAGE}
The decision time is the input's own time, else the current time.
Exit status: 0 decided (allowed or denied), 2 usage error, unreadable input or policies that do not compile.`;

/** Runs `ward eval`. */
export async function runEval(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(argv, {
    input: { type: "string", short: "i" },
    explain: { type: "boolean" },
    mode: { type: "string" },
    ...IDENTITY_FLAGS,
  });
  if (!args.ok) return usageError(io, args.message, EVAL_USAGE);
  if (args.values.help) {
    io.stdout(`${EVAL_USAGE}\n`);
    return EXIT_OK;
  }
  const inputPath = args.values.input;
  if (inputPath === undefined) return usageError(io, "`--input FILE` is required", EVAL_USAGE);
  const mode = args.values.mode ?? "enforce";
  if (mode !== "enforce" && mode !== "audit") return usageError(io, `unknown mode \`${mode}\` (expected enforce or audit)`, EVAL_USAGE);

  let text: string;
  try {
    text = inputPath === "-" ? await io.readStdin() : await readFile(resolve(io.cwd, inputPath), "utf8");
  } catch (err) {
    io.stderr(`error: cannot read input \`${inputPath}\`: ${fsReason(err)}\n`);
    return EXIT_USAGE;
  }
  const inputName = inputPath === "-" ? "standard input" : `\`${inputPath}\``;
  const read = readRequestDocument(text);
  if (!read.ok) {
    io.stderr(`error: input ${inputName} cannot be used: ${read.message}\n`);
    return EXIT_USAGE;
  }
  const document = read.document;

  const paths = args.positionals.length > 0 ? args.positionals : DEFAULT_POLICY_PATHS;
  const loaded = await loadForCommand(paths, io, { showWarnings: true });
  if (!loaded.ok) return loaded.exitCode;

  const configured = await decisionDepsFromFlags(args.values, io);
  if (!configured) return EXIT_USAGE;
  const deps = document.kind === "recorded" ? recordedInputDeps(document.input) : configured;
  const raw = document.kind === "recorded" ? rawOfRecorded(document.input, document.input.time) : document.raw;
  const outcome = decide(loaded.load.program, raw, deps, {
    now: io.now(),
    explain: args.values.explain === true,
    auditAll: mode === "audit",
  });
  io.stdout(`${JSON.stringify(decisionToJson(outcome.decision, outcome.identity), null, 2)}\n`);
  return EXIT_OK;
}
