// STUB (owned by the identity work): replaced by the real resolver.
import type { IdentityResolver } from "../input/raw.js";

/** Identity configuration: which evidence to use, in which order, and what to trust. */
export interface IdentityConfig {
  readonly sources?: readonly ("principal" | "certificate" | "xfcc")[];
}

/** Creates the resolver (with its certificate cache). */
export function createIdentityResolver(_config: IdentityConfig = {}): IdentityResolver {
  throw new Error("createIdentityResolver: not implemented yet");
}
