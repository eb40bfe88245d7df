// STUB (owned by the engine work): replaced by the real compiler.
import type { CheckedPolicySet } from "../dsl/checked.js";
import type { Program } from "./program.js";

/** Compiles a checked policy set into an immutable decision program. */
export function compile(_set: CheckedPolicySet, _options: { readonly revision: string }): Program {
  throw new Error("compile: not implemented yet");
}
