/**
 * Small builders for checked policy sets and request inputs, so engine tests
 * do not depend on the language front end. A set is rendered to policy text
 * as it is built, so every node gets a real span into a real source (the
 * explanation slices its texts from it).
 */
import type { Pos, Span } from "../../src/diagnostics.js";
import type {
  AttributeRef,
  CheckedExpr,
  CheckedPolicy,
  CheckedPolicySet,
  CheckedRule,
  CheckedValue,
  CompareOp,
  Effect,
  PolicyMode,
} from "../../src/dsl/checked.js";
import { ATTRIBUTE_BY_NAME, type AttributeType } from "../../src/dsl/vocabulary.js";
import type { CertificateAttributes, Identity, RequestInput } from "../../src/engine/input.js";

/** An attribute without a span yet. */
export interface Attr {
  readonly name: string;
  readonly key?: string;
  readonly type: AttributeType;
}

/** An expression without spans yet. */
export type Ex =
  | { readonly kind: "and" | "or"; readonly operands: readonly Ex[] }
  | { readonly kind: "not"; readonly operand: Ex }
  | { readonly kind: "const"; readonly value: boolean }
  | { readonly kind: "compare"; readonly attribute: Attr; readonly op: CompareOp; readonly value: CheckedValue }
  | { readonly kind: "presence"; readonly attribute: Attr; readonly present: boolean }
  | { readonly kind: "truthy"; readonly attribute: Attr };

/** An attribute reference by vocabulary name. */
export function attr(name: string, key?: string): Attr {
  const spec = ATTRIBUTE_BY_NAME.get(name);
  if (!spec) throw new Error(`unknown attribute ${name}`);
  return key === undefined ? { name, type: spec.type } : { name, key, type: spec.type };
}

export const str = (value: string): CheckedValue => ({ kind: "string", value });
export const strs = (...values: string[]): CheckedValue => ({ kind: "string_set", values });
export const glob = (...patterns: string[]): CheckedValue => ({ kind: "glob", patterns });
export const regex = (pattern: string): CheckedValue => ({ kind: "regex", pattern });
export const num = (value: number): CheckedValue => ({ kind: "number", value });
export const nums = (...values: number[]): CheckedValue => ({ kind: "number_set", values });
export const bool = (value: boolean): CheckedValue => ({ kind: "bool", value });
export const dur = (ms: number): CheckedValue => ({ kind: "duration", ms });
export const ts = (iso: string): CheckedValue => ({ kind: "timestamp", ms: Date.parse(iso) });
export const cidrs = (...list: string[]): CheckedValue => ({ kind: "cidr_set", cidrs: list });

export const cmp = (a: Attr | string, op: CompareOp, value: CheckedValue): Ex => ({
  kind: "compare",
  attribute: typeof a === "string" ? attr(a) : a,
  op,
  value,
});
export const and = (...operands: Ex[]): Ex => ({ kind: "and", operands });
export const or = (...operands: Ex[]): Ex => ({ kind: "or", operands });
export const not = (operand: Ex): Ex => ({ kind: "not", operand });
export const konst = (value: boolean): Ex => ({ kind: "const", value });
export const present = (a: Attr | string): Ex => ({ kind: "presence", attribute: typeof a === "string" ? attr(a) : a, present: true });
export const absent = (a: Attr | string): Ex => ({ kind: "presence", attribute: typeof a === "string" ? attr(a) : a, present: false });
export const truthy = (a: Attr | string): Ex => ({ kind: "truthy", attribute: typeof a === "string" ? attr(a) : a });

/** A rule description. */
export interface RuleSpec {
  readonly name: string;
  readonly effect: Effect;
  readonly when: Ex;
}
export const allow = (name: string, when: Ex): RuleSpec => ({ name, effect: "allow", when });
export const deny = (name: string, when: Ex): RuleSpec => ({ name, effect: "deny", when });

/** A policy description. */
export interface PolicySpec {
  readonly name: string;
  readonly file?: string;
  readonly mode?: PolicyMode;
  readonly applies?: Ex;
  readonly rules: readonly RuleSpec[];
}
export const policy = (name: string, rules: RuleSpec[], opts: { applies?: Ex; mode?: PolicyMode; file?: string } = {}): PolicySpec => ({
  name,
  rules,
  ...opts,
});

/** Renders a literal in policy syntax. */
function valueText(v: CheckedValue): string {
  const q = (s: string): string => JSON.stringify(s);
  switch (v.kind) {
    case "string":
      return q(v.value);
    case "string_set":
      return `[${v.values.map(q).join(", ")}]`;
    case "glob":
      return v.patterns.length === 1 ? q(v.patterns[0]!) : `[${v.patterns.map(q).join(", ")}]`;
    case "regex":
      return q(v.pattern);
    case "number":
    case "bool":
      return String(v.value);
    case "number_set":
      return `[${v.values.join(", ")}]`;
    case "duration":
      return `${v.ms}ms`;
    case "timestamp":
      return new Date(v.ms).toISOString();
    case "cidr_set":
      return `[${v.cidrs.map(q).join(", ")}]`;
  }
}

function attrText(a: Attr): string {
  return a.key === undefined ? a.name : `${a.name}[${JSON.stringify(a.key)}]`;
}

/** Accumulates a file's text; spans are offsets until the text is complete. */
class Writer {
  text = "";
  private readonly pending: { offsets: [number, number]; set: (s: Span) => void }[] = [];
  constructor(readonly file: string) {}
  write(s: string): void {
    this.text += s;
  }
  /** Writes what `body` writes and returns a span placeholder resolved by `finish`. */
  spanOf(body: () => void): Span {
    const start = this.text.length;
    body();
    const end = this.text.length;
    const span = { file: this.file, start: { offset: start, line: 0, column: 0 }, end: { offset: end, line: 0, column: 0 } };
    this.pending.push({
      offsets: [start, end],
      set: (s) => Object.assign(span, s),
    });
    return span;
  }
  finish(): void {
    // Line starts once, then a binary search per offset (positionAt per span would be quadratic).
    const starts = [0];
    for (let i = 0; i < this.text.length; i++) if (this.text.charCodeAt(i) === 10) starts.push(i + 1);
    const pos = (offset: number): Pos => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      return { offset, line: lo + 1, column: offset - starts[lo]! + 1 };
    };
    for (const p of this.pending) {
      p.set({ file: this.file, start: pos(p.offsets[0]), end: pos(p.offsets[1]) });
    }
  }
}

function renderExpr(w: Writer, e: Ex): CheckedExpr {
  let out: CheckedExpr | undefined;
  const span = w.spanOf(() => {
    switch (e.kind) {
      case "and":
      case "or": {
        const operands: CheckedExpr[] = [];
        e.operands.forEach((o, i) => {
          if (i > 0) w.write(` ${e.kind} `);
          const paren = o.kind === "and" || o.kind === "or";
          if (paren) w.write("(");
          operands.push(renderExpr(w, o));
          if (paren) w.write(")");
        });
        out = { kind: e.kind, operands, span: undefined as unknown as Span };
        break;
      }
      case "not": {
        w.write("not (");
        const operand = renderExpr(w, e.operand);
        w.write(")");
        out = { kind: "not", operand, span: undefined as unknown as Span };
        break;
      }
      case "const":
        w.write(String(e.value));
        out = { kind: "const", value: e.value, span: undefined as unknown as Span };
        break;
      case "compare":
      case "presence":
      case "truthy": {
        const aspan = w.spanOf(() => w.write(attrText(e.attribute)));
        const attribute: AttributeRef = { ...e.attribute, span: aspan };
        if (e.kind === "compare") {
          w.write(` ${e.op} ${valueText(e.value)}`);
          out = { kind: "compare", attribute, op: e.op, value: e.value, span: undefined as unknown as Span };
        } else if (e.kind === "presence") {
          w.write(e.present ? " is present" : " is absent");
          out = { kind: "presence", attribute, present: e.present, span: undefined as unknown as Span };
        } else {
          out = { kind: "truthy", attribute, span: undefined as unknown as Span };
        }
        break;
      }
    }
  });
  (out as { span: Span }).span = span;
  return out!;
}

/** Builds a checked policy set (with sources) from policy descriptions. */
export function policySet(...specs: PolicySpec[]): CheckedPolicySet {
  const writers = new Map<string, Writer>();
  const policies: CheckedPolicy[] = [];
  for (const p of specs) {
    const file = p.file ?? "policies/test.ward";
    let w = writers.get(file);
    if (!w) {
      w = new Writer(file);
      writers.set(file, w);
    }
    const ww = w;
    let appliesWhen: CheckedExpr | undefined;
    const rules: CheckedRule[] = [];
    const span = ww.spanOf(() => {
      ww.write(`policy ${JSON.stringify(p.name)} {\n`);
      if (p.applies) {
        ww.write("  applies when ");
        appliesWhen = renderExpr(ww, p.applies);
        ww.write("\n");
      }
      if (p.mode) ww.write(`  mode ${p.mode}\n`);
      for (const r of p.rules) {
        ww.write("  ");
        let condition: CheckedExpr | undefined;
        const rspan = ww.spanOf(() => {
          ww.write(`${r.effect} ${JSON.stringify(r.name)} when `);
          condition = renderExpr(ww, r.when);
        });
        ww.write("\n");
        rules.push({ name: r.name, effect: r.effect, condition: condition!, span: rspan });
      }
      ww.write("}");
    });
    ww.write("\n\n");
    policies.push({
      name: p.name,
      file,
      mode: p.mode ?? "enforce",
      ...(appliesWhen ? { appliesWhen } : {}),
      rules,
      span,
    });
  }
  for (const w of writers.values()) w.finish();
  return { policies, tests: [], sources: new Map([...writers.values()].map((w) => [w.file, w.text])) };
}

/** An authenticated caller. */
export function caller(spiffeId: string, certificate?: Partial<CertificateAttributes>): Identity {
  const rest = spiffeId.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  return {
    authenticated: true,
    spiffeId,
    trustDomain,
    path,
    source: "principal",
    ...(certificate ? { certificate: cert(certificate) } : {}),
  };
}

/** A certificate with defaults. */
export function cert(c: Partial<CertificateAttributes> = {}): CertificateAttributes {
  return {
    subject: { organization: [], organizationalUnit: [], ...c.subject },
    issuer: { organization: [], ...c.issuer },
    san: { dns: [], uri: [], email: [], ...c.san },
    serial: c.serial ?? "01",
    fingerprint: c.fingerprint ?? "ab".repeat(32),
    notBefore: c.notBefore ?? Date.parse("2025-01-01T00:00:00Z"),
    notAfter: c.notAfter ?? Date.parse("2025-12-31T00:00:00Z"),
    extensions: c.extensions ?? {},
  };
}

/** Overrides for `request()`. */
export interface RequestOverrides {
  caller?: Identity;
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  host?: string;
  scheme?: string;
  source?: { ip?: string; port?: number };
  destination?: { ip?: string; port?: number; spiffeId?: string };
  context?: Record<string, string>;
  time?: number | string;
}

/** The default decision time: Wednesday 2025-06-11 14:30 UTC. */
export const NOON = Date.parse("2025-06-11T14:30:00Z");

/** A request input with sensible defaults (an authenticated checkout caller GETting /api/v1/orders). */
export function request(o: RequestOverrides = {}): RequestInput {
  return {
    caller: o.caller ?? caller("spiffe://prod.example.com/ns/checkout/sa/checkout"),
    request: {
      method: o.method ?? "GET",
      path: o.path ?? "/api/v1/orders",
      query: o.query ?? {},
      headers: o.headers ?? {},
      host: o.host ?? "payments.internal",
      scheme: o.scheme ?? "https",
    },
    source: o.source ?? { ip: "10.1.2.3", port: 51234 },
    destination: o.destination ?? { ip: "10.0.0.1", port: 8443, spiffeId: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
    context: o.context ?? {},
    time: typeof o.time === "string" ? Date.parse(o.time) : (o.time ?? NOON),
  };
}

/** An unauthenticated caller. */
export const anonymous: Identity = { authenticated: false, unauthenticatedReason: "no_identity" };
