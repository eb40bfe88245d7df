/**
 * Rule plans: the hot-path form of rule conditions, a small instruction set
 * laid out in flat arrays.
 *
 * A rule's condition is its top-level conjuncts (`a and b and c`), run in
 * source order and stopping at the first false one, exactly like the closure
 * form. The common leaf shapes (`attr == lit`, `attr != lit`, `attr in [set]`,
 * `attr matches "a/b/**"`, `attr starts_with lit` on single-valued attributes)
 * are one instruction of three integers each: opcode, reader, argument. Any
 * other conjunct (`or`, `not`, lists, addresses, regexes, general globs, …)
 * is a `call` of its compiled closure.
 *
 * Why: with thousands of rules a decision's cost is memory traffic, not
 * arithmetic. A closure-per-leaf rule touches a dozen scattered heap objects;
 * a plan touches a few contiguous ints and its literals. Semantics are the closures' (matchers.ts); the
 * property tests check both forms agree.
 */
import type { CheckedExpr } from "../dsl/checked.js";
import { attributeId, readerFor, type AttributeReader } from "./attributes.js";
import { globShape } from "./glob.js";
import type { RequestInput } from "./input.js";
import { typeError, type Test } from "./matchers.js";

const CALL = 0;
const EQ = 1;
const NE = 2;
const IN_SET = 3;
const SUBTREE = 4;
const PREFIX = 5;

/** All rules' plans. */
export interface RulePlans {
  /** Rule id → first instruction offset; `start[id + 1]` ends it. */
  readonly start: Int32Array;
  /** Instructions: (opcode, reader index, argument) triples. */
  readonly code: Int32Array;
  readonly readers: readonly AttributeReader[];
  /** Attribute ids of `readers`, for error messages. */
  readonly readerNames: readonly string[];
  readonly lits: readonly unknown[];
  readonly sets: readonly ReadonlySet<unknown>[];
  readonly calls: readonly Test[];
}

/** Builds plans rule by rule, in rule id order. */
export class PlanBuilder {
  private readonly start: number[] = [0];
  private readonly code: number[] = [];
  private readonly readers: AttributeReader[] = [];
  private readonly readerNames: string[] = [];
  private readonly readerIndex = new Map<string, number>();
  private readonly lits: unknown[] = [];
  private readonly litIndex = new Map<unknown, number>();
  private readonly sets: ReadonlySet<unknown>[] = [];
  private readonly setIndex = new Map<string, number>();
  private readonly calls: Test[] = [];
  private readonly callIndex = new Map<Test, number>();

  private reader(e: Extract<CheckedExpr, { kind: "compare" }>): number {
    const id = attributeId(e.attribute);
    let k = this.readerIndex.get(id);
    if (k === undefined) {
      k = this.readers.length;
      this.readers.push(readerFor(e.attribute));
      this.readerNames.push(id);
      this.readerIndex.set(id, k);
    }
    return k;
  }

  /**
   * A literal's slot. Equal literals share one slot (and one string object, the
   * checker's own, which the index's keys are too), so a literal repeated over
   * many rules stays in cache.
   */
  private lit(v: unknown): number {
    let k = this.litIndex.get(v);
    if (k === undefined) {
      k = this.lits.length;
      this.lits.push(v);
      this.litIndex.set(v, k);
    }
    return k;
  }

  private set(values: readonly unknown[]): number {
    const key = JSON.stringify(values);
    let k = this.setIndex.get(key);
    if (k === undefined) {
      k = this.sets.length;
      this.sets.push(new Set(values));
      this.setIndex.set(key, k);
    }
    return k;
  }

  private call(test: Test): number {
    let k = this.callIndex.get(test);
    if (k === undefined) {
      k = this.calls.length;
      this.calls.push(test);
      this.callIndex.set(test, k);
    }
    return k;
  }

  private emit(op: number, reader: number, arg: number): void {
    this.code.push(op, reader, arg);
  }

  /** Emits one conjunct: an instruction for a common leaf shape, otherwise a call of its closure. */
  private conjunct(e: CheckedExpr, test: Test): void {
    if (e.kind === "compare" && e.attribute.type !== "string_list" && e.attribute.type !== "ip") {
      const v = e.value;
      if ((e.op === "==" || e.op === "!=") && (v.kind === "string" || v.kind === "number" || v.kind === "bool")) {
        return this.emit(e.op === "==" ? EQ : NE, this.reader(e), this.lit(v.value));
      }
      if (e.op === "in" && (v.kind === "string_set" || v.kind === "number_set")) {
        return this.emit(IN_SET, this.reader(e), this.set(v.values));
      }
      if ((e.op === "matches" || e.op === "in") && v.kind === "glob" && v.patterns.length === 1) {
        const shape = globShape(v.patterns[0] as string);
        if (shape.kind === "literal") return this.emit(EQ, this.reader(e), this.lit(shape.text));
        if (shape.kind === "subtree") {
          // Two adjacent slots, not shared: the base at `arg`, the base with its `/` at `arg + 1`.
          const reader = this.reader(e);
          this.lits.push(shape.base, shape.below);
          return this.emit(SUBTREE, reader, this.lits.length - 2);
        }
      }
      if (e.op === "starts_with" && v.kind === "string") return this.emit(PREFIX, this.reader(e), this.lit(v.value));
    }
    this.emit(CALL, 0, this.call(test));
  }

  /** Adds the next rule: its top-level conjuncts with their compiled closures, in source order. */
  addRule(conjuncts: readonly { readonly expr: CheckedExpr; readonly test: Test }[]): void {
    for (const c of conjuncts) this.conjunct(c.expr, c.test);
    this.start.push(this.code.length);
  }

  build(): RulePlans {
    return {
      start: Int32Array.from(this.start),
      code: Int32Array.from(this.code),
      readers: this.readers,
      readerNames: this.readerNames,
      lits: this.lits,
      sets: this.sets,
      calls: this.calls,
    };
  }
}

function notString(plans: RulePlans, reader: number, v: unknown): Error {
  return typeError({ name: plans.readerNames[reader] ?? "?" }, "string", v);
}

/** Runs one rule's plan: true when every conjunct holds. Throws like the closures do on malformed input. */
export function runPlan(plans: RulePlans, id: number, input: RequestInput): boolean {
  return runCode(plans, plans.start[id] as number, plans.start[id + 1] as number, input);
}

/** Runs the instructions `[from, end)` of `plans.code` (one rule's plan). */
export function runCode(plans: RulePlans, from: number, end: number, input: RequestInput): boolean {
  const code = plans.code;
  for (let pc = from; pc < end; pc += 3) {
    const reader = code[pc + 1] as number;
    const arg = code[pc + 2] as number;
    switch (code[pc]) {
      case CALL:
        if (!(plans.calls[arg] as Test)(input)) return false;
        break;
      case EQ:
        if ((plans.readers[reader] as AttributeReader)(input) !== plans.lits[arg]) return false;
        break;
      case NE:
        if ((plans.readers[reader] as AttributeReader)(input) === plans.lits[arg]) return false;
        break;
      case IN_SET:
        if (!(plans.sets[arg] as ReadonlySet<unknown>).has((plans.readers[reader] as AttributeReader)(input))) return false;
        break;
      case SUBTREE: {
        const v = (plans.readers[reader] as AttributeReader)(input);
        if (typeof v === "string") {
          if (v !== plans.lits[arg] && !v.startsWith(plans.lits[arg + 1] as string)) return false;
        } else if (v === undefined || v === null) {
          return false;
        } else {
          throw notString(plans, reader, v);
        }
        break;
      }
      case PREFIX: {
        const v = (plans.readers[reader] as AttributeReader)(input);
        if (typeof v === "string") {
          if (!v.startsWith(plans.lits[arg] as string)) return false;
        } else if (v === undefined || v === null) {
          return false;
        } else {
          throw notString(plans, reader, v);
        }
        break;
      }
      default:
        throw new Error(`rule plan: bad opcode ${String(code[pc])}`);
    }
  }
  return true;
}
