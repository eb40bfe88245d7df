// STUB (owned by the engine work): replaced by the real evaluator.
import type { Decision, EvaluateOptions } from "./decision.js";
import type { RequestInput } from "./input.js";
import type { Program } from "./program.js";

/** Decides one request. Never throws: an internal error yields a deny whose reason says so. */
export function evaluate(_program: Program, _input: RequestInput, _options: EvaluateOptions = {}): Decision {
  throw new Error("evaluate: not implemented yet");
}
