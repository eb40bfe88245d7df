/**
 * Renders checked conditions and values as policy-language text. Explanations
 * quote the source itself (sliced by span); this rendering is the fallback when
 * the source text is not at hand, and it renders actual values for humans.
 */
import type { CheckedExpr, CheckedValue } from "../dsl/checked.js";

function quote(s: string): string {
  return JSON.stringify(s);
}

/** Renders a duration in the language's units (`90s`, `30m`, `24h`, `7d`), or `Nms`. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1_000, "s"],
  ];
  for (const [size, unit] of units) if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Renders a literal as it could be written in a policy. */
export function formatValue(v: CheckedValue): string {
  switch (v.kind) {
    case "string":
      return quote(v.value);
    case "string_set":
      return `[${v.values.map(quote).join(", ")}]`;
    case "glob":
      return v.patterns.length === 1 ? quote(v.patterns[0] as string) : `[${v.patterns.map(quote).join(", ")}]`;
    case "regex":
      return quote(v.pattern);
    case "number":
      return String(v.value);
    case "number_set":
      return `[${v.values.join(", ")}]`;
    case "bool":
      return String(v.value);
    case "duration":
      return formatDuration(v.ms);
    case "timestamp":
      return new Date(v.ms).toISOString();
    case "cidr_set":
      return `[${v.cidrs.map(quote).join(", ")}]`;
  }
}

/** Renders a condition (fully parenthesized where precedence could be misread). */
export function formatExpr(e: CheckedExpr): string {
  switch (e.kind) {
    case "and":
    case "or":
      return e.operands.map((o) => (o.kind === "and" || o.kind === "or" ? `(${formatExpr(o)})` : formatExpr(o))).join(` ${e.kind} `);
    case "not":
      return `not (${formatExpr(e.operand)})`;
    case "const":
      return String(e.value);
    case "compare": {
      const a = e.attribute.key === undefined ? e.attribute.name : `${e.attribute.name}[${quote(e.attribute.key)}]`;
      return `${a} ${e.op} ${formatValue(e.value)}`;
    }
    case "presence": {
      const a = e.attribute.key === undefined ? e.attribute.name : `${e.attribute.name}[${quote(e.attribute.key)}]`;
      return `${a} is ${e.present ? "present" : "absent"}`;
    }
    case "truthy":
      return e.attribute.key === undefined ? e.attribute.name : `${e.attribute.name}[${quote(e.attribute.key)}]`;
  }
}
