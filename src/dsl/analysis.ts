/**
 * Static analysis of checked conditions, for the checker's warnings:
 * `isUnsatisfiable` (a rule that can never match: `unreachable_rule`) and
 * `canonicalKey` (equivalent conditions written differently: `shadowed_rule`).
 * Both follow the language's semantics (docs/language.md): a comparison with a
 * missing attribute is false, and `!=` is exactly `not ==`.
 */
import type { AttributeRef, CheckedExpr, CheckedValue, CompareOp } from "./checked.js";
import type { AttributeType } from "./vocabulary.js";

const ORDERING: ReadonlySet<CompareOp> = new Set(["<", "<=", ">", ">="]);

/** One fact a conjunction asserts about an attribute. */
type Fact =
  | { readonly kind: "eq" | "neq"; readonly value: string }
  | { readonly kind: "in"; readonly values: ReadonlySet<string> }
  | { readonly kind: "present" | "absent" | "positive" }
  | { readonly kind: "lower" | "upper"; readonly bound: number; readonly inclusive: boolean };

function attributeId(ref: AttributeRef): string {
  return ref.key === undefined ? ref.name : `${ref.name}[${JSON.stringify(ref.key)}]`;
}

/** A comparable key for a scalar checked value. */
function valueKey(v: CheckedValue): string | undefined {
  switch (v.kind) {
    case "string":
      return `s:${v.value}`;
    case "number":
      return `n:${v.value}`;
    case "bool":
      return `b:${v.value}`;
    case "duration":
    case "timestamp":
      return `n:${v.ms}`;
    default:
      return undefined;
  }
}

function numericValue(v: CheckedValue): number | undefined {
  if (v.kind === "number") return v.value;
  if (v.kind === "duration" || v.kind === "timestamp") return v.ms;
  return undefined;
}

/** The facts an atom asserts, if it is one the analysis understands. `negated` flips it. */
function factsOf(e: CheckedExpr, negated: boolean): { id: string; type: AttributeType; fact: Fact } | undefined {
  if (e.kind === "not") return factsOf(e.operand, !negated);
  if (e.kind === "presence") return { id: attributeId(e.attribute), type: e.attribute.type, fact: { kind: e.present !== negated ? "present" : "absent" } };
  if (e.kind === "truthy") return { id: attributeId(e.attribute), type: "bool", fact: { kind: negated ? "neq" : "eq", value: "b:true" } };
  if (e.kind !== "compare") return undefined;
  const id = attributeId(e.attribute);
  const type = e.attribute.type;
  if (type === "string_list") return negated ? undefined : { id, type, fact: { kind: "positive" } };
  const key = valueKey(e.value);
  if (e.op === "==" || e.op === "!=") {
    if (key === undefined) return undefined;
    const eq = (e.op === "==") !== negated;
    return { id, type, fact: { kind: eq ? "eq" : "neq", value: key } };
  }
  if (negated) return undefined;
  if (e.op === "in") {
    if (e.value.kind === "string_set") return { id, type, fact: { kind: "in", values: new Set(e.value.values.map((v) => `s:${v}`)) } };
    if (e.value.kind === "number_set") return { id, type, fact: { kind: "in", values: new Set(e.value.values.map((v) => `n:${v}`)) } };
    return { id, type, fact: { kind: "positive" } };
  }
  const n = numericValue(e.value);
  if (n !== undefined && ORDERING.has(e.op)) {
    const lower = e.op === ">" || e.op === ">=";
    return { id, type, fact: { kind: lower ? "lower" : "upper", bound: n, inclusive: e.op === ">=" || e.op === "<=" } };
  }
  return { id, type, fact: { kind: "positive" } };
}

/** True when the facts about one attribute cannot all hold. */
function contradictory(facts: readonly Fact[]): boolean {
  let absent = false;
  let needsPresence = false;
  let eq: string | undefined;
  let candidates: Set<string> | undefined;
  const neq = new Set<string>();
  let lo = -Infinity;
  let loInclusive = true;
  let hi = Infinity;
  let hiInclusive = true;
  for (const f of facts) {
    switch (f.kind) {
      case "absent":
        absent = true;
        break;
      case "present":
      case "positive":
        needsPresence = true;
        break;
      case "neq":
        neq.add(f.value);
        break;
      case "eq":
        needsPresence = true;
        if (eq !== undefined && eq !== f.value) return true;
        eq = f.value;
        break;
      case "in":
        needsPresence = true;
        candidates = candidates ? new Set([...candidates].filter((v) => f.values.has(v))) : new Set(f.values);
        break;
      case "lower":
        needsPresence = true;
        if (f.bound > lo || (f.bound === lo && !f.inclusive)) {
          lo = f.bound;
          loInclusive = f.inclusive;
        }
        break;
      case "upper":
        needsPresence = true;
        if (f.bound < hi || (f.bound === hi && !f.inclusive)) {
          hi = f.bound;
          hiInclusive = f.inclusive;
        }
        break;
    }
  }
  if (absent && needsPresence) return true;
  if (lo > hi || (lo === hi && (!loInclusive || !hiInclusive))) return true;
  const inRange = (key: string): boolean => {
    if (!key.startsWith("n:")) return true;
    const n = Number(key.slice(2));
    return (n > lo || (n === lo && loInclusive)) && (n < hi || (n === hi && hiInclusive));
  };
  if (eq !== undefined) {
    if (neq.has(eq) || !inRange(eq)) return true;
    if (candidates && !candidates.has(eq)) return true;
  }
  if (candidates) {
    const left = [...candidates].filter((v) => !neq.has(v) && inRange(v));
    if (left.length === 0) return true;
  }
  return false;
}

/** Beyond this many `and` clauses the normal form is not built (the analysis then answers "maybe satisfiable"). */
const MAX_CLAUSES = 256;

/**
 * The condition in disjunctive normal form: a list of clauses (each a list
 * of atoms joined by `and`), joined by `or`. `negated` pushes a `not` inward
 * (De Morgan); an atom under a `not` is kept wrapped in one. Undefined when
 * the form would exceed `MAX_CLAUSES`.
 */
function toDnf(e: CheckedExpr, negated: boolean): CheckedExpr[][] | undefined {
  switch (e.kind) {
    case "const":
      return e.value !== negated ? [[]] : [];
    case "not":
      return toDnf(e.operand, !negated);
    case "and":
    case "or": {
      const conjunction = (e.kind === "and") !== negated;
      const parts: CheckedExpr[][][] = [];
      for (const o of e.operands) {
        const d = toDnf(o, negated);
        if (!d) return undefined;
        parts.push(d);
      }
      if (!conjunction) {
        const union = parts.flat();
        return union.length > MAX_CLAUSES ? undefined : union;
      }
      if (parts.every((d) => d.length === 1)) return [parts.flatMap((d) => d[0] as CheckedExpr[])];
      let product: CheckedExpr[][] = [[]];
      for (const d of parts) {
        if (product.length * d.length > MAX_CLAUSES) return undefined;
        product = product.flatMap((clause) => d.map((c) => clause.concat(c)));
      }
      return product;
    }
    default:
      return [[negated ? { kind: "not", operand: e, span: e.span } : e]];
  }
}

function emptyValue(e: CheckedExpr): boolean {
  return (
    e.kind === "compare" &&
    ((e.value.kind === "string_set" && e.value.values.length === 0) ||
      (e.value.kind === "number_set" && e.value.values.length === 0) ||
      (e.value.kind === "cidr_set" && e.value.cidrs.length === 0) ||
      (e.value.kind === "glob" && e.value.patterns.length === 0))
  );
}

/** True when the atoms of one `and` clause cannot all hold. */
function clauseContradicts(atoms: readonly CheckedExpr[]): boolean {
  const byAttribute = new Map<string, Fact[]>();
  for (const atom of atoms) {
    if (emptyValue(atom)) return true;
    const f = factsOf(atom, false);
    if (!f) continue;
    const list = byAttribute.get(f.id);
    if (list) list.push(f.fact);
    else byAttribute.set(f.id, [f.fact]);
  }
  for (const facts of byAttribute.values()) if (facts.length > 1 && contradictory(facts)) return true;
  return false;
}

/**
 * True when a condition can never be true, whatever the request: every
 * clause of its disjunctive normal form holds a contradiction
 * (`request.method == "GET" and request.method == "POST"`, `x is absent and
 * x == "a"`, an empty range, an empty list, `false`). Sound but not complete:
 * `false` means "not shown impossible".
 */
export function isUnsatisfiable(e: CheckedExpr): boolean {
  const clauses = toDnf(e, false);
  if (!clauses) return false;
  return clauses.every(clauseContradicts);
}

function sortedList(kind: string, items: readonly (string | number)[]): string {
  const sorted = [...items].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `${kind}[${sorted.map((x) => JSON.stringify(x)).join(",")}]`;
}

function canonicalValue(v: CheckedValue): string {
  switch (v.kind) {
    case "string_set":
      return sortedList(v.kind, v.values);
    case "number_set":
      return sortedList(v.kind, v.values);
    case "cidr_set":
      return sortedList(v.kind, v.cidrs);
    case "glob":
      return sortedList(v.kind, v.patterns);
    case "string":
      return `string ${JSON.stringify(v.value)}`;
    case "regex":
      return `regex ${JSON.stringify(v.pattern)}`;
    case "number":
    case "bool":
      return `${v.kind} ${v.value}`;
    case "duration":
    case "timestamp":
      return `${v.kind} ${v.ms}`;
  }
}

/**
 * A canonical text for a condition, equal for equivalent conditions written
 * differently: operand order of `and`/`or`, nesting, parentheses, list order,
 * `not (a == b)` versus `a != b`, double negation and one-element `in`.
 */
export function canonicalKey(e: CheckedExpr): string {
  switch (e.kind) {
    case "const":
      return e.value ? "true" : "false";
    case "truthy":
      return `${attributeId(e.attribute)} truthy`;
    case "presence":
      return `${attributeId(e.attribute)} ${e.present ? "present" : "absent"}`;
    case "compare": {
      let op: string = e.op;
      let value = canonicalValue(e.value);
      if (e.op === "in" && e.value.kind === "string_set" && e.value.values.length === 1) {
        op = "==";
        value = canonicalValue({ kind: "string", value: e.value.values[0] as string });
      } else if (e.op === "in" && e.value.kind === "number_set" && e.value.values.length === 1) {
        op = "==";
        value = canonicalValue({ kind: "number", value: e.value.values[0] as number });
      }
      return `${attributeId(e.attribute)} ${op} ${value}`;
    }
    case "not": {
      const inner = e.operand;
      if (inner.kind === "not") return canonicalKey(inner.operand);
      if (inner.kind === "presence") return canonicalKey({ ...inner, present: !inner.present });
      if (inner.kind === "compare" && (inner.op === "==" || inner.op === "!=")) return canonicalKey({ ...inner, op: inner.op === "==" ? "!=" : "==" });
      return `not(${canonicalKey(inner)})`;
    }
    case "and":
    case "or": {
      const parts = new Set<string>();
      const collect = (x: CheckedExpr): void => {
        if (x.kind === e.kind) for (const o of x.operands) collect(o);
        else parts.add(canonicalKey(x));
      };
      collect(e);
      const sorted = [...parts].sort();
      return sorted.length === 1 ? (sorted[0] as string) : `${e.kind}(${sorted.join(",")})`;
    }
  }
}

