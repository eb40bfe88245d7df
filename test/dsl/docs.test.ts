// docs/language.md must say what the code does: these tests fail when the
// attribute table, the operator table, the grammar or the list of diagnostic
// codes drifts from the source.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OPERATORS_BY_TYPE } from "../../src/dsl/check.js";
import { ATTRIBUTES } from "../../src/dsl/vocabulary.js";

const root = join(import.meta.dirname, "..", "..");
const doc = readFileSync(join(root, "docs", "language.md"), "utf8");

/** The rows of the markdown table that follows `heading`. */
function tableAfter(heading: string): string[][] {
  const start = doc.indexOf(heading);
  expect(start, `docs/language.md has ${heading}`).toBeGreaterThanOrEqual(0);
  const lines = doc.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .replace(/\\\|/g, "\u0000")
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim().replace(/\u0000/g, "|")),
    );
  }
  return rows;
}

/** Diagnostic codes the language front end can produce, by severity, read from its source. */
function emittedCodes(): { errors: Set<string>; warnings: Set<string> } {
  const errors = new Set<string>();
  const warnings = new Set<string>();
  const dir = join(root, "src", "dsl");
  for (const f of readdirSync(dir)) {
    // format.ts belongs to `ward fmt` (docs/cli.md documents its codes).
    if (!f.endsWith(".ts") || f === "format.ts") continue;
    const text = readFileSync(join(dir, f), "utf8");
    for (const m of text.matchAll(/\bwarning\(\s*"([a-z_]+)"/g)) warnings.add(m[1]!);
    for (const m of text.matchAll(/\berror\(\s*"([a-z_]+)"|code: "([a-z_]+)"|accept\(\s*"([a-z_]+)"/g)) errors.add((m[1] ?? m[2] ?? m[3])!);
  }
  return { errors, warnings };
}

describe("docs/language.md", () => {
  it("lists every attribute of the vocabulary, in order, with its type and description", () => {
    const rows = tableAfter("## Attributes");
    expect(rows.map(([name, type, meaning]) => [name, type, meaning])).toEqual(
      ATTRIBUTES.map((a) => [`\`${a.keyed ? `${a.name}["…"]` : a.name}\``, a.type, a.description]),
    );
  });

  it("lists the operators of every type as the checker allows them", () => {
    const rows = tableAfter("## Operators by type");
    const allOps = new Set(Object.values(OPERATORS_BY_TYPE).flat());
    const documented = new Map(rows.map(([type, ops]) => [type!.replace(/`/g, ""), [...ops!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((o) => allOps.has(o as never))]));
    expect([...documented.keys()].sort()).toEqual(Object.keys(OPERATORS_BY_TYPE).sort());
    for (const [type, ops] of Object.entries(OPERATORS_BY_TYPE)) expect(documented.get(type), type).toEqual([...ops]);
  });

  it("documents every diagnostic code the front end emits, with its severity, and no other", () => {
    const rows = tableAfter("## Diagnostics");
    const documented = new Map(rows.map(([code, severity]) => [code!.replace(/`/g, ""), severity]));
    const { errors, warnings } = emittedCodes();
    expect(errors.size + warnings.size).toBeGreaterThan(40);
    for (const code of errors) expect(documented.get(code), code).toBe("error");
    for (const code of warnings) expect(documented.get(code), code).toBe("warning");
    expect([...documented.keys()].filter((c) => !errors.has(c) && !warnings.has(c))).toEqual([]);
  });

  it("gives the EBNF of every grammar rule of the parser", () => {
    const parser = readFileSync(join(root, "src", "dsl", "parser.ts"), "utf8");
    const rules = [...parser.matchAll(/this\.RULE\("([A-Za-z]+)"/g)].map((m) => m[1]!);
    expect(rules.length).toBeGreaterThan(15);
    const grammar = doc.slice(doc.indexOf("## Grammar"));
    for (const rule of rules) expect(grammar, rule).toMatch(new RegExp(`^${rule}\\s+=`, "m"));
  });

  it("lists every keyword", () => {
    const parserTokens = readFileSync(join(root, "src", "dsl", "tokens.ts"), "utf8");
    const keywords = [...parserTokens.matchAll(/keyword\("([a-z_]+)"\)/g)].map((m) => m[1]!);
    const section = doc.slice(doc.indexOf("**Keywords**"), doc.indexOf("Punctuation and operators"));
    for (const k of keywords) expect(section, k).toMatch(new RegExp(`\\b${k}\\b`));
  });
});
