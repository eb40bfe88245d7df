// STUB (owned by the input work): replaced by the real builder.
import type { InputBuilder } from "./raw.js";

/** Options for canonicalization and limits; every relaxation is explicit. */
export interface InputOptions {
  readonly maxHeaders?: number;
  readonly maxHeaderBytes?: number;
  readonly maxPathBytes?: number;
  readonly maxBodyBytes?: number;
}

/** Creates the input builder with its options bound. */
export function createInputBuilder(_options: InputOptions = {}): InputBuilder {
  throw new Error("createInputBuilder: not implemented yet");
}
