/**
 * What a CLI command reads and writes, passed in so commands can be run in
 * tests without spawning a process. Every command is
 * `(argv: string[], io: CliIo) => Promise<number>` and returns its exit code:
 * 0 success, 1 a finding (failed tests, errors, flips), 2 usage or setup errors.
 */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Standard input as text, read lazily (for `ward replay` without `--log`). */
  readonly readStdin: () => Promise<string>;
  readonly cwd: string;
  /** Epoch ms; the clock, injectable for tests. */
  readonly now: () => number;
}

/** A CLI command. */
export type CliCommand = (argv: readonly string[], io: CliIo) => Promise<number>;
