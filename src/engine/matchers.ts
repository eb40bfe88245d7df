/**
 * Leaf conditions compiled to closures: one comparison, presence test or
 * boolean attribute, with every literal pre-processed (sets, compiled globs,
 * RE2 programs, parsed CIDRs, numbers).
 *
 * Semantics (docs/language.md, "Decision semantics"; security depends on them):
 * - A comparison against a missing attribute is false, whatever the operator;
 *   `!=` is exactly `not ==`, so it is true when the attribute is missing.
 * - On a list attribute (`string_list`) a comparison is true when ANY element
 *   satisfies it. For lists, `contains "x"` means "has an element equal to
 *   `x`" (membership), never a substring of an element: `contains "payments"`
 *   must not accept an OU `payments-contractors`.
 * - `matches_regex` is an unanchored RE2 search (like CEL `matches()`, OPA
 *   `regex.match` and Go's `regexp.MatchString`): write `^…$` to match the whole
 *   value. It runs on re2js, linear in the input, never native `RegExp`.
 * - `starts_with`, `ends_with` and `contains` on strings are case-sensitive
 *   substring tests; `==` is exact (no case folding: inputs are already
 *   canonical where the vocabulary says so).
 * - Numbers, durations (ms) and timestamps (epoch ms) compare numerically; a
 *   non-finite value compares false.
 * - An IP attribute is compared by address: `in [CIDRs]`, and `==` against an
 *   address or CIDR (see ip.ts for IPv4-mapped IPv6). A present value that is
 *   not an address throws, which fails the decision closed.
 * - A present value of the wrong type for a string operator (a bug in the
 *   input builder) throws too: the decision becomes `internal_error`.
 */
import { RE2JS } from "re2js";
import type { AttributeRef, CheckedExpr, CheckedValue, CompareOp } from "../dsl/checked.js";
import { attributeId, readerFor, type AttributeReader } from "./attributes.js";
import { compileGlob, globShape, isGlobPattern, type GlobMatcher } from "./glob.js";
import { compileCidrSet, parseIpAddress } from "./ip.js";
import type { RequestInput } from "./input.js";

/** A compiled condition: true when it holds for the request. May throw on malformed input (fail closed). */
export type Test = (input: RequestInput) => boolean;

/**
 * A predicate on one present, non-list value: either a string check (the test
 * closure checks the type first, so the matcher runs directly) or a check on any value.
 */
type Predicate = { readonly kind: "string"; readonly f: (s: string) => boolean } | { readonly kind: "value"; readonly f: (v: unknown) => boolean };

/** A leaf condition as `compare`, `presence` or `truthy`. */
export type LeafExpr = Extract<CheckedExpr, { kind: "compare" | "presence" | "truthy" }>;

/** A compiled leaf: the test and the reader (the explanation reports the value it read). */
export interface CompiledLeaf {
  readonly test: Test;
  readonly read: AttributeReader;
}

/** The error for a present value of the wrong type (a bug in the input builder; the decision fails closed). */
export function typeError(ref: Pick<AttributeRef, "name" | "key">, want: string, v: unknown): Error {
  return new Error(`attribute \`${attributeId(ref)}\` has a ${typeof v} value where a ${want} was expected`);
}

function stringPred(_ref: AttributeRef, f: (s: string) => boolean): Predicate {
  return { kind: "string", f };
}

function valuePred(f: (v: unknown) => boolean): Predicate {
  return { kind: "value", f };
}

function numberPred(f: (n: number) => boolean): Predicate {
  return valuePred((v) => typeof v === "number" && Number.isFinite(v) && f(v));
}

function stringsOf(value: CheckedValue, op: CompareOp): readonly string[] {
  switch (value.kind) {
    case "string":
      return [value.value];
    case "string_set":
      return value.values;
    case "glob":
      return value.patterns;
    default:
      throw new Error(`compile: \`${op}\` needs string literals, got ${value.kind}`);
  }
}

function numberOf(value: CheckedValue, op: CompareOp): number {
  switch (value.kind) {
    case "number":
      return value.value;
    case "duration":
    case "timestamp":
      return value.ms;
    default:
      throw new Error(`compile: \`${op}\` needs a number, duration or timestamp, got ${value.kind}`);
  }
}

/** A set of globs: plain literals in a `Set`, the rest as compiled matchers. */
export function compileGlobSet(patterns: readonly string[]): GlobMatcher {
  const exact = new Set<string>();
  const wild: GlobMatcher[] = [];
  for (const p of patterns) {
    if (isGlobPattern(p)) wild.push(compileGlob(p));
    else exact.add(p);
  }
  if (wild.length === 0) {
    if (exact.size === 1) {
      const only = [...exact][0] as string;
      return (v) => v === only;
    }
    return (v) => exact.has(v);
  }
  if (exact.size === 0 && wild.length === 1) return wild[0] as GlobMatcher;
  return (v) => {
    if (exact.has(v)) return true;
    for (const m of wild) if (m(v)) return true;
    return false;
  };
}

/** Equality / membership against literal values of any scalar kind. */
function equalityPred(ref: AttributeRef, value: CheckedValue, op: CompareOp): Predicate {
  if (ref.type === "ip") return ipPred(ref, value, op);
  switch (value.kind) {
    case "string":
    case "bool": {
      const lit: unknown = value.value;
      return valuePred((v) => v === lit);
    }
    case "number": {
      const lit = value.value;
      return valuePred((v) => v === lit);
    }
    case "duration":
    case "timestamp": {
      const lit = value.ms;
      return valuePred((v) => v === lit);
    }
    case "string_set":
    case "number_set": {
      const set = new Set<unknown>(value.values);
      return valuePred((v) => set.has(v));
    }
    case "glob": {
      // `in` with patterns in the list: membership by glob.
      const m = compileGlobSet(value.patterns);
      return stringPred(ref, m);
    }
    default:
      throw new Error(`compile: \`${op}\` cannot compare \`${attributeId(ref)}\` with a ${value.kind}`);
  }
}

function ipPred(ref: AttributeRef, value: CheckedValue, op: CompareOp): Predicate {
  const cidrs = value.kind === "cidr_set" ? value.cidrs : stringsOf(value, op);
  const inSet = compileCidrSet(cidrs);
  return stringPred(ref, (v) => {
    const addr = parseIpAddress(v);
    if (addr === undefined) throw new Error(`attribute \`${attributeId(ref)}\` is not an IP address: \`${v}\``);
    return inSet(addr);
  });
}

function predicateFor(ref: AttributeRef, op: CompareOp, value: CheckedValue): Predicate {
  switch (op) {
    case "==":
    case "!=":
    case "in":
      return equalityPred(ref, value, op);
    case "matches": {
      if (value.kind === "regex") return regexPred(ref, value.pattern);
      return stringPred(ref, compileGlobSet(stringsOf(value, op)));
    }
    case "starts_with": {
      const xs = stringsOf(value, op);
      if (xs.length === 1) {
        const x = xs[0] as string;
        return stringPred(ref, (s) => s.startsWith(x));
      }
      return stringPred(ref, (s) => xs.some((x) => s.startsWith(x)));
    }
    case "ends_with": {
      const xs = stringsOf(value, op);
      return stringPred(ref, (s) => xs.some((x) => s.endsWith(x)));
    }
    case "contains": {
      const xs = stringsOf(value, op);
      if (ref.type === "string_list") {
        // Membership: an element equal to one of the literals (see the module comment).
        const set = new Set<string>(xs);
        return stringPred(ref, (s) => set.has(s));
      }
      return stringPred(ref, (s) => xs.some((x) => s.includes(x)));
    }
    case "matches_regex": {
      if (value.kind === "regex") return regexPred(ref, value.pattern);
      if (value.kind === "string") return regexPred(ref, value.value);
      throw new Error(`compile: \`matches_regex\` needs a regex, got ${value.kind}`);
    }
    case "<": {
      const n = numberOf(value, op);
      return numberPred((x) => x < n);
    }
    case "<=": {
      const n = numberOf(value, op);
      return numberPred((x) => x <= n);
    }
    case ">": {
      const n = numberOf(value, op);
      return numberPred((x) => x > n);
    }
    case ">=": {
      const n = numberOf(value, op);
      return numberPred((x) => x >= n);
    }
  }
}

function regexPred(ref: AttributeRef, pattern: string): Predicate {
  const re = RE2JS.compile(pattern);
  return stringPred(ref, (s) => re.test(s));
}

/** Applies a predicate to a read value: false when missing, any element for lists; a string check throws on a non-string. */
function testOf(ref: AttributeRef, read: AttributeReader, pred: Predicate): Test {
  if (ref.type === "string_list") {
    return (i) => {
      const v = read(i);
      if (v === undefined || v === null) return false;
      if (!Array.isArray(v)) throw typeError(ref, "list", v);
      for (const e of v) {
        if (pred.kind === "string" && typeof e !== "string") throw typeError(ref, "string", e);
        if (pred.f(e)) return true;
      }
      return false;
    };
  }
  if (pred.kind === "string") {
    const f = pred.f;
    return (i) => {
      const v = read(i);
      if (v === undefined || v === null) return false;
      if (typeof v !== "string") throw typeError(ref, "string", v);
      return f(v);
    };
  }
  const f = pred.f;
  return (i) => {
    const v = read(i);
    return v !== undefined && v !== null && f(v);
  };
}

function compileCompare(e: Extract<CheckedExpr, { kind: "compare" }>): Test {
  const ref = e.attribute;
  const read = readerFor(ref);
  // Hot shapes get a closure with no extra call: `attr == "lit"` and `attr in [...]` on scalars.
  if (ref.type !== "string_list" && ref.type !== "ip") {
    if ((e.op === "==" || e.op === "!=") && (e.value.kind === "string" || e.value.kind === "number" || e.value.kind === "bool")) {
      const lit: unknown = e.value.value;
      return e.op === "==" ? (i) => read(i) === lit : (i) => read(i) !== lit;
    }
    if (e.op === "in" && (e.value.kind === "string_set" || e.value.kind === "number_set")) {
      const set = new Set<unknown>(e.value.values);
      return (i) => set.has(read(i));
    }
    // One glob of the `a/b/**` shape, or one `starts_with` literal: tested inline (one closure, no matcher call).
    const single = e.value.kind === "glob" && e.value.patterns.length === 1 ? e.value.patterns[0] : e.value.kind === "string" ? e.value.value : undefined;
    const shape = (e.op === "matches" || (e.op === "in" && e.value.kind === "glob")) && single !== undefined ? globShape(single) : undefined;
    if (shape?.kind === "subtree") {
      const { base, below } = shape;
      return (i) => {
        const v = read(i);
        if (typeof v === "string") return v === base || v.startsWith(below);
        if (v === undefined || v === null) return false;
        throw typeError(ref, "string", v);
      };
    }
    if (e.op === "starts_with" && e.value.kind === "string") {
      const prefix = e.value.value;
      return (i) => {
        const v = read(i);
        if (typeof v === "string") return v.startsWith(prefix);
        if (v === undefined || v === null) return false;
        throw typeError(ref, "string", v);
      };
    }
  }
  const test = testOf(ref, read, predicateFor(ref, e.op, e.value));
  // `!=` is exactly `not ==`: true when the attribute is missing.
  return e.op === "!=" ? (i) => !test(i) : test;
}

/** Compiles one leaf condition. Throws only for shapes the checker never produces (a bug). */
export function compileLeaf(e: LeafExpr): CompiledLeaf {
  const read = readerFor(e.attribute);
  switch (e.kind) {
    case "compare":
      return { test: compileCompare(e), read };
    case "presence": {
      const present = e.present;
      return {
        test: (i) => {
          const v = read(i);
          const missing = v === undefined || v === null || (Array.isArray(v) && v.length === 0);
          return present ? !missing : missing;
        },
        read,
      };
    }
    case "truthy":
      return { test: (i) => read(i) === true, read };
  }
}
