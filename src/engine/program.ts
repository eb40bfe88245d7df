/**
 * The compiled decision program: immutable, built once per policy-set
 * revision by `compile`, run per request by `evaluate`.
 */
import type { PolicyMode } from "../dsl/checked.js";

/** Summary of one compiled policy, for `/v1/policies`, metrics and the CLI. */
export interface ProgramPolicyInfo {
  readonly name: string;
  readonly file: string;
  readonly mode: PolicyMode;
  readonly ruleCount: number;
}

/**
 * A compiled policy set. Only the public fields are part of the contract;
 * the evaluation structures behind them belong to `engine/`.
 */
export interface Program {
  /** Content hash of the policy set, carried into every decision. */
  readonly revision: string;
  /** True when some condition reads `cert.*`: only then must the caller's certificate be parsed. */
  readonly needsCertificate: boolean;
  readonly policies: readonly ProgramPolicyInfo[];
  readonly ruleCount: number;
}
