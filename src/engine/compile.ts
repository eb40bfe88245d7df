/**
 * `compile`: a checked policy set → an immutable decision `Program`.
 *
 * All constant work happens here, once per policy-set revision:
 * - every leaf condition becomes a closure with its literal pre-processed
 *   (matchers.ts: sets, segment globs, RE2 programs, parsed CIDRs), and
 *   `and` / `or` / `not` closures over those; identical conditions share one closure;
 * - every rule (and every policy's `applies when`) becomes a plan of its
 *   top-level conjuncts (plan.ts): a few integers per common leaf, a closure
 *   call for the rest; that is what a request runs;
 * - every rule and policy is filed in a pre-filter index (rule-index.ts);
 * - a condition tree is kept for explanations and coverage (explain.ts), whose
 *   texts are sliced from the sources only when asked for.
 * A request then runs plans and closures (evaluate.ts): no tree walk on the hot path.
 */
import type { CheckedExpr, CheckedPolicySet } from "../dsl/checked.js";
import { ATTRIBUTE_BY_NAME } from "../dsl/vocabulary.js";
import type { RuleRef } from "./decision.js";
import {
  INTERNALS,
  PM_BOUND_END,
  PM_BOUND_FROM,
  PM_ENFORCED,
  PM_PLAN_END,
  PM_PLAN_FROM,
  POLICY_META,
  RM_PLAN_END,
  RM_PLAN_FROM,
  RM_POLICY,
  RULE_META,
  type CompiledPolicy,
  type CompiledProgram,
  type CompiledRule,
  type ConditionNode,
  type LeafInfo,
  type ProgramInternals,
} from "./internal.js";
import { attributeId, type AttributeReader } from "./attributes.js";
import type { RequestInput } from "./input.js";
import { compileLeaf, type LeafExpr, type Test } from "./matchers.js";
import type { Program, ProgramPolicyInfo } from "./program.js";
import { PlanBuilder } from "./plan.js";
import { conjunctsOf, ruleIndexSteps, type IndexEntry } from "./rule-index.js";

/** Options for `compile`. */
export interface CompileOptions {
  /** Content hash of the policy set, carried into every decision. */
  readonly revision: string;
}

/** Rules of one policy compiled between two pauses of `compileSteps`. */
const RULES_PER_STEP = 256;

const TRUE: Test = () => true;
const FALSE: Test = () => false;

/** `a and b and …` over compiled operands (short-circuit, in order). */
function andOf(tests: readonly Test[]): Test {
  const [a, b, c] = tests;
  if (a === undefined) return TRUE;
  if (b === undefined) return a;
  if (c === undefined) return (i) => a(i) && b(i);
  if (tests.length === 3) return (i) => a(i) && b(i) && c(i);
  return (i) => {
    for (let k = 0; k < tests.length; k++) if (!(tests[k] as Test)(i)) return false;
    return true;
  };
}

/** `a or b or …` over compiled operands (short-circuit, in order). */
function orOf(tests: readonly Test[]): Test {
  const [a, b, c] = tests;
  if (a === undefined) return FALSE;
  if (b === undefined) return a;
  if (c === undefined) return (i) => a(i) || b(i);
  if (tests.length === 3) return (i) => a(i) || b(i) || c(i);
  return (i) => {
    for (let k = 0; k < tests.length; k++) if ((tests[k] as Test)(i)) return true;
    return false;
  };
}

/** Compiles the conditions of one policy set, collecting leaves and whether any reads the certificate. */
class ConditionCompiler {
  readonly leaves: LeafInfo[] = [];
  needsCertificate = false;
  /**
   * Hash-consing: structurally identical conditions (same attribute, operator
   * and literal; same operands) share one compiled closure. Real policy sets
   * repeat `request.method == "GET"` or a whole `health` rule thousands of
   * times; sharing keeps the program small and its hot closures in cache.
   * Keys are interned to small numbers so composite keys stay short.
   */
  private readonly shared = new Map<string, { readonly id: number; readonly test: Test; readonly read?: AttributeReader }>();

  private intern(key: string, make: () => { test: Test; read?: AttributeReader }): { readonly id: number; readonly test: Test; readonly read?: AttributeReader } {
    let entry = this.shared.get(key);
    if (entry === undefined) {
      entry = { id: this.shared.size, ...make() };
      this.shared.set(key, entry);
    }
    return entry;
  }

  /**
   * Compiles a rule condition as its top-level conjuncts (nested `and`s
   * flattened): the tree of the whole (for explanations and coverage) and
   * each conjunct's closure (for the rule plan, plan.ts).
   */
  compileConjunction(
    e: CheckedExpr,
    owner: { readonly file: string; readonly policy: string; readonly rule?: string },
  ): { node: ConditionNode; conjuncts: { expr: CheckedExpr; test: Test }[] } {
    if (e.kind !== "and") {
      const c = this.compile(e, owner);
      return { node: c.node, conjuncts: [{ expr: e, test: c.test }] };
    }
    const flat = conjunctsOf(e);
    const parts = flat.map((o) => this.compile(o, owner));
    return {
      node: { kind: "and", operands: parts.map((p) => p.node), expr: e },
      conjuncts: flat.map((expr, k) => ({ expr, test: (parts[k] as { test: Test }).test })),
    };
  }

  /** Compiles an expression into the hot-path closure and the explain/coverage tree. */
  compile(e: CheckedExpr, owner: { readonly file: string; readonly policy: string; readonly rule?: string }): { test: Test; node: ConditionNode; id: number } {
    switch (e.kind) {
      case "and":
      case "or": {
        // Flatten nested `and`s (`a and (b and c)`): same result, fewer closures.
        const flat = e.kind === "and" ? conjunctsOf(e) : flattenOr(e);
        const parts = flat.map((o) => this.compile(o, owner));
        const shared = this.intern(`${e.kind}(${parts.map((p) => p.id).join(",")})`, () => {
          const tests = parts.map((p) => p.test);
          return { test: e.kind === "and" ? andOf(tests) : orOf(tests) };
        });
        return { test: shared.test, id: shared.id, node: { kind: e.kind, operands: parts.map((p) => p.node), expr: e } };
      }
      case "not": {
        const inner = this.compile(e.operand, owner);
        const shared = this.intern(`not(${inner.id})`, () => {
          const t = inner.test;
          return { test: (i: RequestInput) => !t(i) };
        });
        return { test: shared.test, id: shared.id, node: { kind: "not", operand: inner.node, expr: e } };
      }
      case "const": {
        const shared = this.intern(String(e.value), () => ({ test: e.value ? TRUE : FALSE }));
        return { test: shared.test, id: shared.id, node: { kind: "const", value: e.value, expr: e } };
      }
      case "compare":
      case "presence":
      case "truthy": {
        const spec = ATTRIBUTE_BY_NAME.get(e.attribute.name);
        if (spec?.needsCertificate) this.needsCertificate = true;
        const shared = this.intern(leafKey(e), () => compileLeaf(e));
        const leaf: LeafInfo = {
          kind: "leaf",
          id: this.leaves.length,
          test: shared.test,
          read: shared.read as AttributeReader,
          attributeType: e.attribute.type,
          expr: e,
          file: owner.file,
          policy: owner.policy,
          ...(owner.rule === undefined ? {} : { rule: owner.rule }),
        };
        this.leaves.push(leaf);
        return { test: shared.test, id: shared.id, node: leaf };
      }
    }
  }
}

/** A leaf's identity for sharing: everything but its span. */
function leafKey(e: LeafExpr): string {
  const a = attributeId(e.attribute);
  switch (e.kind) {
    case "compare":
      return `c\0${a}\0${e.op}\0${JSON.stringify(e.value)}`;
    case "presence":
      return `p\0${a}\0${e.present}`;
    case "truthy":
      return `t\0${a}`;
  }
}

function flattenOr(e: CheckedExpr): CheckedExpr[] {
  return e.kind === "or" ? e.operands.flatMap(flattenOr) : [e];
}

/**
 * Compiles a checked policy set into an immutable decision program.
 * Throws only when the set breaks the checker's guarantees (a bug, not user input).
 */
export function compile(set: CheckedPolicySet, options: CompileOptions): Program {
  const steps = compileSteps(set, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * `compile`, handing the event loop back whenever a slice of `sliceMs` has
 * passed, so a server keeps answering while a large set compiles. Slices end
 * between policies, every 256 rules of a policy and every 256 entries of an
 * index build. The program is the one `compile` builds; the set must not
 * change until the promise settles.
 */
export async function compileInSlices(set: CheckedPolicySet, options: CompileOptions & { readonly sliceMs: number }): Promise<Program> {
  const steps = compileSteps(set, options);
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - sliceStart >= options.sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}

/** The work of `compile`, paused (`yield`) where `compileInSlices` may end a slice. */
function* compileSteps(set: CheckedPolicySet, options: CompileOptions): Generator<void, Program, void> {
  const cc = new ConditionCompiler();
  const plans = new PlanBuilder();
  const policyPlans = new PlanBuilder();
  const policies: CompiledPolicy[] = [];
  const rules: CompiledRule[] = [];
  const policyEntries: IndexEntry[] = [];
  const ruleEntries: IndexEntry[] = [];
  let alwaysEnforce = 0;
  let alwaysAudit = 0;

  for (let policyId = 0; policyId < set.policies.length; policyId++) {
    const p = set.policies[policyId]!;
    const applies = p.appliesWhen === undefined ? undefined : cc.compileConjunction(p.appliesWhen, { file: p.file, policy: p.name });
    policyPlans.addRule(applies?.conjuncts ?? []);
    const appliesConjuncts = conjunctsOf(p.appliesWhen);
    if (p.appliesWhen === undefined) {
      if (p.mode === "enforce") alwaysEnforce++;
      else alwaysAudit++;
    } else {
      policyEntries.push({ id: policyId, conjuncts: appliesConjuncts });
    }
    const policyRules: CompiledRule[] = [];
    for (const r of p.rules) {
      // A policy of thousands of rules is paused inside too.
      if (policyRules.length > 0 && policyRules.length % RULES_PER_STEP === 0) yield;
      const c = cc.compileConjunction(r.condition, { file: p.file, policy: p.name, rule: r.name });
      plans.addRule(c.conjuncts);
      const ref: RuleRef = Object.freeze({ policy: p.name, rule: r.name, effect: r.effect, mode: p.mode });
      const rule: CompiledRule = {
        id: rules.length,
        policyId,
        name: r.name,
        effect: r.effect,
        span: r.span,
        node: c.node,
        ref,
        auditRef: p.mode === "audit" ? ref : Object.freeze({ ...ref, mode: "audit" }),
        enforced: p.mode === "enforce",
      };
      rules.push(rule);
      // A rule can only matter when its policy applies, so its policy's conjuncts may file it too
      // (the index then binds it to the policy instead of filing it a second time).
      ruleEntries.push({ id: rule.id, conjuncts: conjunctsOf(r.condition), policyConjuncts: appliesConjuncts });
      policyRules.push(rule);
    }
    policies.push({
      id: policyId,
      name: p.name,
      file: p.file,
      mode: p.mode,
      ...(applies === undefined ? {} : { appliesNode: applies.node }),
      rules: policyRules,
    });
    yield;
  }

  const alwaysApplicable = policies.filter((p) => p.appliesNode === undefined).map((p) => p.id);
  const ruleIndex = yield* ruleIndexSteps(ruleEntries);
  yield;
  const policyIndex = yield* ruleIndexSteps(policyEntries);
  yield;
  // Bound rules grouped by policy, in rule order (rule ids ascend with policy ids).
  const boundIds = Int32Array.from([...ruleIndex.bound].sort((a, b) => a - b));
  const builtPolicyPlans = policyPlans.build();
  const builtPlans = plans.build();
  const policyMeta = new Int32Array(POLICY_META * policies.length);
  let cursor = 0;
  for (const p of policies) {
    const at = POLICY_META * p.id;
    policyMeta[at + PM_ENFORCED] = p.mode === "enforce" ? 1 : 0;
    policyMeta[at + PM_PLAN_FROM] = builtPolicyPlans.start[p.id] as number;
    policyMeta[at + PM_PLAN_END] = builtPolicyPlans.start[p.id + 1] as number;
    policyMeta[at + PM_BOUND_FROM] = cursor;
    while (cursor < boundIds.length && (rules[boundIds[cursor] as number] as CompiledRule).policyId === p.id) cursor++;
    policyMeta[at + PM_BOUND_END] = cursor;
  }
  const ruleMeta = new Int32Array(RULE_META * rules.length);
  for (const r of rules) {
    const at = RULE_META * r.id;
    ruleMeta[at + RM_POLICY] = r.policyId;
    ruleMeta[at + RM_PLAN_FROM] = builtPlans.start[r.id] as number;
    ruleMeta[at + RM_PLAN_END] = builtPlans.start[r.id + 1] as number;
  }

  const internals: ProgramInternals = {
    sources: set.sources,
    policies,
    rules,
    leaves: cc.leaves,
    alwaysApplicable,
    alwaysEnforce,
    alwaysAudit,
    policyIndex,
    ruleIndex,
    policyPlans: builtPolicyPlans,
    policyMeta,
    boundIds,
    ruleMeta,
    plans: builtPlans,
    scratch: {
      generation: 0,
      policyApplicable: new Uint32Array(policies.length),
      policySeen: new Uint32Array(policies.length),
      ruleSeen: new Uint32Array(rules.length),
    },
  };
  const info: ProgramPolicyInfo[] = policies.map((p) => Object.freeze({ name: p.name, file: p.file, mode: p.mode, ruleCount: p.rules.length }));
  const program: CompiledProgram = {
    revision: options.revision,
    needsCertificate: cc.needsCertificate,
    policies: Object.freeze(info),
    ruleCount: rules.length,
    [INTERNALS]: internals,
  };
  return Object.freeze(program);
}
