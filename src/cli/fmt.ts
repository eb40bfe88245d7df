/**
 * `ward fmt [paths...] [--check]`: rewrites `.ward` files in the canonical
 * layout (src/dsl/format.ts). With `--check` nothing is written: the files
 * that would change are listed and the exit status is 1. Files with syntax
 * errors are never touched: their diagnostics are printed and the exit status is 2.
 */
import { writeFile } from "node:fs/promises";
import { formatSource } from "../dsl/format.js";
import { EXIT_FINDING, EXIT_OK, EXIT_USAGE, parseCommandArgs, usageError } from "./args.js";
import type { CliIo } from "./io.js";
import { DEFAULT_POLICY_PATHS, fsReason, plural, readPolicySources, renderWithSources } from "./load.js";

/** Usage text of `ward fmt`. */
export const FMT_USAGE = `usage: ward fmt [paths...] [--check]

Rewrites the .ward files under each path (default: policies/) in the canonical layout.
  --check   write nothing; list the files whose layout differs
Exit status: 0 formatted (or, with --check, nothing to change), 1 files differ (--check),
2 usage error or syntax errors (such files are left untouched).`;

/** Runs `ward fmt`. */
export async function runFmt(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(argv, { check: { type: "boolean" } });
  if (!args.ok) return usageError(io, args.message, FMT_USAGE);
  if (args.values.help) {
    io.stdout(`${FMT_USAGE}\n`);
    return EXIT_OK;
  }
  const check = args.values.check === true;
  const paths = args.positionals.length > 0 ? args.positionals : DEFAULT_POLICY_PATHS;
  const read = await readPolicySources(paths, io);
  if (!read.ok) return usageError(io, read.failure.message, FMT_USAGE);
  const { sources, absolute } = read.value;
  if (sources.length === 0) {
    io.stderr(`error: no \`.ward\` files found in ${paths.map((p) => `\`${p}\``).join(", ")}\n`);
    return EXIT_USAGE;
  }

  const texts = new Map(sources.map((s) => [s.file, s.text]));
  const differing: string[] = [];
  let broken = 0;
  for (const source of sources) {
    const formatted = formatSource(source.file, source.text);
    if (!formatted.ok) {
      broken++;
      io.stderr(`${renderWithSources(formatted.diagnostics, texts)}\n\n`);
      continue;
    }
    if (formatted.value === source.text) continue;
    differing.push(source.file);
    if (check) {
      io.stdout(`${source.file}\n`);
      continue;
    }
    try {
      await writeFile(absolute.get(source.file) ?? source.file, formatted.value, "utf8");
    } catch (err) {
      io.stderr(`error: cannot write \`${source.file}\`: ${fsReason(err)}\n`);
      broken++;
      continue;
    }
    io.stdout(`formatted ${source.file}\n`);
  }
  if (broken > 0) {
    io.stderr(`error: ${plural(broken, "file")} not formatted (see above)\n`);
    return EXIT_USAGE;
  }
  if (check && differing.length > 0) {
    io.stderr(`${plural(differing.length, "file")} not in the canonical layout; run \`ward fmt\`\n`);
    return EXIT_FINDING;
  }
  return EXIT_OK;
}
