/**
 * The engine's public surface: compile a checked policy set once, evaluate
 * requests many times, and (for `ward test --coverage`) record coverage.
 */
export { compile, type CompileOptions } from "./compile.js";
export { evaluate, type EngineEvaluateOptions } from "./evaluate.js";
export {
  createCoverageRecorder,
  summarizeCoverage,
  CoverageRecorder,
  type CoverageRatio,
  type CoverageSummary,
  type FileCoverage,
  type PartialCondition,
  type UncoveredRule,
} from "./coverage.js";
export { conditionsRun, programStats, type ProgramStats } from "./stats.js";
