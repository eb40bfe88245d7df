// STUB (owned by the language work): replaced by tokenize → parse → cstToAst → check.
import type { Result } from "../diagnostics.js";
import type { CheckedPolicySet } from "./checked.js";

/** One source file handed to the checker. */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
}

/** Parses and checks a set of policy files together (names are unique across the set). */
export function checkPolicySources(_files: readonly PolicySource[]): Result<CheckedPolicySet> {
  throw new Error("checkPolicySources: not implemented yet");
}
