/**
 * Argument parsing shared by the CLI commands: node's `util.parseArgs` in
 * strict mode, with its errors turned into data so a typo is a usage error
 * (exit 2) with a readable message, never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** The exit codes every command uses (see docs/cli.md). */
export const EXIT_OK = 0;
/** A finding: failed tests, policy errors, files that need formatting. */
export const EXIT_FINDING = 1;
/** Usage or setup errors: bad flags, unreadable files, policies that do not compile (`ward test`, `ward eval`). */
export const EXIT_USAGE = 2;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flags and positionals, or the usage error that stopped parsing. */
export type ParsedArgs<T extends Options> =
  | {
      readonly ok: true;
      readonly values: { readonly [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : T[K]["multiple"] extends true ? string[] : string } & {
        readonly help?: boolean;
      };
      readonly positionals: readonly string[];
    }
  | { readonly ok: false; readonly message: string };

/** Parses `argv` against `options` (strict: unknown flags are errors). `--help`/`-h` is always accepted. */
export function parseCommandArgs<T extends Options>(argv: readonly string[], options: T): ParsedArgs<T> {
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { ok: true, values: parsed.values as never, positionals: parsed.positionals };
  } catch (err) {
    // parseArgs throws TypeErrors with an ERR_PARSE_ARGS_* code and a sentence for a message.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, message: lowerFirst(message) };
  }
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

/** Writes a usage error and the command's usage text; returns exit code 2. */
export function usageError(io: { readonly stderr: (text: string) => void }, message: string, usage: string): number {
  io.stderr(`error: ${message}\n\n${usage}\n`);
  return EXIT_USAGE;
}
