import { describe, expect, it } from "vitest";
import type { Expr, PolicyDecl, RuleDecl, TestDecl } from "../../src/dsl/ast.js";
import { MAX_NESTING, parseSource } from "../../src/dsl/parse.js";
import { ISSUE_EXAMPLE, ISSUE_TESTS, withoutSpans } from "./helpers.js";

function parseOk(text: string) {
  const r = parseSource("t.ward", text);
  expect(r.diagnostics).toEqual([]);
  if (!r.ast) throw new Error("no ast");
  return r.ast;
}

function conditionOf(text: string): Expr {
  const ast = parseOk(`policy "p" { allow "r" when ${text} }`);
  const rule = (ast.declarations[0] as PolicyDecl).items[0] as RuleDecl;
  return rule.condition;
}

/** A compact rendering of a condition's tree, with explicit grouping. */
function shape(e: Expr): string {
  switch (e.kind) {
    case "or":
    case "and":
      return `${e.kind}(${e.operands.map(shape).join(", ")})`;
    case "not":
      return `not(${shape(e.operand)})`;
    case "paren":
      return `(${shape(e.expr)})`;
    case "compare":
      return `${shape(e.left)} ${e.op} ${shape(e.right)}`;
    case "presence":
      return `${shape(e.subject)} is ${e.present ? "present" : "absent"}`;
    case "name":
      return e.key ? `${e.name}[${e.key.raw}]` : e.name;
    case "list":
      return `[${e.elements.map(shape).join(", ")}]`;
    case "string":
      return e.raw;
    case "number":
      return e.raw;
    case "duration":
      return e.raw;
    case "bool":
      return String(e.value);
  }
}

describe("parseSource: the issue 2 example", () => {
  it("parses verbatim, without any diagnostic", () => {
    const ast = parseOk(ISSUE_EXAMPLE);
    expect(ast.declarations).toHaveLength(1);
    const policy = ast.declarations[0] as PolicyDecl;
    expect(policy.name.value).toBe("payments-api");
    expect(policy.items.map((i) => i.kind)).toEqual(["applies", "mode", "let", "let", "rule", "rule", "rule", "rule"]);
    const rules = policy.items.filter((i): i is RuleDecl => i.kind === "rule");
    expect(rules.map((r) => [r.effect, r.name.value])).toEqual([
      ["allow", "checkout may charge"],
      ["allow", "readers may read"],
      ["deny", "no cross-environment calls"],
      ["deny", "cards need a pci workload"],
    ]);
    expect(rules.map((r) => shape(r.condition))).toEqual([
      'and(caller.spiffe_id == checkout, request.method == "POST", request.path == "/api/v1/charge")',
      'and(caller.spiffe_id matches readers, request.method in ["GET", "HEAD"], request.path matches "/api/v1/**")',
      'caller.trust_domain != "prod.example.com"',
      'and(request.path starts_with "/api/v1/cards/", not((cert.extension["1.3.6.1.4.1.99999.1"] == "pci")))',
    ]);
    expect(ast.comments.map((c) => c.text)).toEqual([
      "# comments start with # or //",
      "# optional: which requests this policy governs",
      "# optional: enforce (default) or audit",
    ]);
  });

  it("puts a span on every node, inside the file and ordered", () => {
    const ast = parseOk(ISSUE_EXAMPLE);
    let count = 0;
    const visit = (node: unknown, parent?: { start: number; end: number }): void => {
      if (Array.isArray(node)) return node.forEach((n) => visit(n, parent));
      if (node === null || typeof node !== "object") return;
      const o = node as Record<string, unknown>;
      let here = parent;
      if ("kind" in o) {
        const span = o["span"] as { file: string; start: { offset: number; line: number; column: number }; end: { offset: number } } | undefined;
        expect(span, `span on ${String(o["kind"])}`).toBeDefined();
        expect(span!.file).toBe("t.ward");
        expect(span!.start.offset).toBeLessThanOrEqual(span!.end.offset);
        if (parent) {
          expect(span!.start.offset).toBeGreaterThanOrEqual(parent.start);
          expect(span!.end.offset).toBeLessThanOrEqual(parent.end);
        }
        // The line/column agree with the offset.
        const before = ISSUE_EXAMPLE.slice(0, span!.start.offset).split("\n");
        expect(span!.start.line).toBe(before.length);
        expect(span!.start.column).toBe(before[before.length - 1]!.length + 1);
        here = { start: span!.start.offset, end: span!.end.offset };
        count++;
      }
      for (const [k, v] of Object.entries(o)) if (k !== "span" && k !== "comments") visit(v, here);
    };
    visit(ast);
    expect(count).toBeGreaterThan(50);
  });

  it("keeps the source text of literals and the spans that print them back", () => {
    const ast = parseOk(ISSUE_EXAMPLE);
    const policy = ast.declarations[0] as PolicyDecl;
    for (const item of policy.items) {
      const text = ISSUE_EXAMPLE.slice(item.span.start.offset, item.span.end.offset);
      expect(text.length).toBeGreaterThan(0);
      if (item.kind === "let") expect(text.startsWith(`let ${item.name.name}`)).toBe(true);
      if (item.kind === "rule") expect(text.startsWith(item.effect)).toBe(true);
    }
  });
});

describe("parseSource: test blocks (issue 6)", () => {
  it("parses the issue's test blocks verbatim", () => {
    const ast = parseOk(ISSUE_TESTS);
    const tests = ast.declarations as TestDecl[];
    expect(tests.map((t) => t.name.value)).toEqual(["checkout can charge", "staging cannot reach prod payments"]);
    expect(withoutSpans(tests[1]!.statements).map((s) => (s.kind === "given" ? [s.keyword.name, ...s.args.map((a) => (a.kind === "string" ? a.value : "?"))] : [s.kind, s.effect, ...s.by.map((b) => b.value)]))).toEqual([
      ["cert", "testdata/staging-checkout.pem"],
      ["request", "POST", "/api/v1/charge?amount=10"],
      ["header", "x-request-id", "abc"],
      ["source", "10.1.2.3"],
      ["destination", "spiffe://prod.example.com/ns/payments/sa/payment-api"],
      ["context", "route", "payments"],
      ["at", "2026-11-22T10:00:00Z"],
      ["expect", "deny", "no cross-environment calls"],
    ]);
  });

  it("parses `expect` with several rules and a status", () => {
    const ast = parseOk('test "t" { expect deny by "a", "b" status 403 }');
    const expectation = (ast.declarations[0] as TestDecl).statements[0]!;
    expect(expectation.kind).toBe("expect");
    if (expectation.kind !== "expect") return;
    expect(expectation.effect).toBe("deny");
    expect(expectation.by.map((b) => b.value)).toEqual(["a", "b"]);
    expect(expectation.status?.value).toBe(403);
  });

  it("mixes policies and tests in one file, in order", () => {
    const ast = parseOk(`${ISSUE_EXAMPLE}\n${ISSUE_TESTS}`);
    expect(ast.declarations.map((d) => d.kind)).toEqual(["policy", "test", "test"]);
  });
});

describe("parseSource: conditions", () => {
  it.each([
    // Precedence, tightest first: comparison, not, and, or.
    ["a == 1 or b == 2 and c == 3", "or(a == 1, and(b == 2, c == 3))"],
    ["a == 1 and b == 2 or c == 3", "or(and(a == 1, b == 2), c == 3)"],
    ["not a == 1 and b == 2", "and(not(a == 1), b == 2)"],
    ["not a == 1 or not b == 2", "or(not(a == 1), not(b == 2))"],
    ["not not a", "not(not(a))"],
    ["(a == 1 or b == 2) and c == 3", "and((or(a == 1, b == 2)), c == 3)"],
    ["a and (b or c)", "and(a, (or(b, c)))"],
    ["a and b and c and d", "and(a, b, c, d)"],
    ["((a))", "((a))"],
    // Every operator.
    ['x == "v"', 'x == "v"'],
    ['x != "v"', 'x != "v"'],
    ['x in ["a", "b",]', 'x in ["a", "b"]'],
    ["x in []", "x in []"],
    ['x matches "/a/*"', 'x matches "/a/*"'],
    ['x matches ["/a/*", "/b/**"]', 'x matches ["/a/*", "/b/**"]'],
    ['x starts_with "/a"', 'x starts_with "/a"'],
    ['x ends_with ".json"', 'x ends_with ".json"'],
    ['x contains "pci"', 'x contains "pci"'],
    ['x matches_regex "^a+$"', 'x matches_regex "^a+$"'],
    ["x < 1", "x < 1"],
    ["x <= 1.5", "x <= 1.5"],
    ["x > 30m", "x > 30m"],
    ["x >= 7d", "x >= 7d"],
    ["x is present", "x is present"],
    ["x is absent", "x is absent"],
    ["caller.authenticated", "caller.authenticated"],
    ["true", "true"],
    ["false or x", "or(false, x)"],
    ['request.headers["x-env"] == "prod"', 'request.headers["x-env"] == "prod"'],
    ["x in [a, b]", "x in [a, b]"],
    ["x == true", "x == true"],
  ])("parses %s", (text, expected) => {
    expect(shape(conditionOf(text))).toBe(expected);
  });

  it("keeps the operator's own span", () => {
    const e = conditionOf('x matches_regex "a"');
    expect(e.kind).toBe("compare");
    if (e.kind === "compare") expect([e.opSpan.start.column, e.opSpan.end.column]).toEqual([31, 44]);
  });

  it("parses every policy item", () => {
    const ast = parseOk('policy "p" {\n applies when x\n mode enforce\n let a = 1\n let b = [1, 2]\n let c = 30s\n let d = true\n let e = "s"\n deny "r" when x\n}');
    const items = (ast.declarations[0] as PolicyDecl).items;
    expect(items.map((i) => i.kind)).toEqual(["applies", "mode", "let", "let", "let", "let", "let", "rule"]);
  });

  it("parses an empty file and a file of comments", () => {
    expect(parseOk("").declarations).toEqual([]);
    expect(parseOk("# nothing\n// here\n").comments).toHaveLength(2);
  });
});

describe("parseSource: syntax errors", () => {
  function errors(text: string): string[] {
    return parseSource("t.ward", text).diagnostics.map(
      (d) => `${d.code}@${d.span?.start.line}:${d.span?.start.column} ${d.message}${d.help ? ` | ${d.help}` : ""}`,
    );
  }

  it.each([
    ['policy "p" { allow "r" when x = "a" }', 'syntax_error@1:31 unexpected `=` | to compare two values, write `==`'],
    ['policy "p" { allow "r" when x == "a" && y == "b" }', "syntax_error@1:38 unexpected `&&` | write `and` to require both conditions"],
    ['policy "p" { allow "r" when x == "a" || y == "b" }', "syntax_error@1:38 unexpected `||` | write `or` to accept either condition"],
    ['policy "p" { allow "r" when !x }', "syntax_error@1:29 unexpected `!` | write `not` to negate a condition, or `!=` for inequality"],
    ['policy "p" { allow "r" when x === "a" }', "syntax_error@1:31 unexpected `===` | write `==`"],
    ['policy "p" { allow "r" when x == "a" AND y == "b" }', "syntax_error@1:38 unexpected `AND` after a condition | keywords are lower-case: write `and`"],
    ['policy "p" { allow "r" when x == "a" y == "b" }', "syntax_error@1:38 unexpected `y` after a condition | conditions are joined with `and` or `or`"],
    ["policy p { }", 'syntax_error@1:8 expected a string, found `p` | names and text values are written in double quotes: `"p"`'],
    ['policy "p" { allow r when x }', 'syntax_error@1:20 expected a string, found `r` | names and text values are written in double quotes: `"r"`'],
    ['policy "p" { allow "r" x }', "syntax_error@1:24 expected `when` and a condition, found `x`"],
    ['policy "p" { allow "r" when }', "syntax_error@1:29 expected a condition, found `}`"],
    ['policy "p" { allow "r" when x ==  }', "syntax_error@1:35 expected a value (a string, number, duration, list or name), found `}`"],
    ['policy "p" { allow "r" when (x }', "syntax_error@1:32 expected `)`, found `}`"],
    ['policy "p" { allow "r" when x is here }', "syntax_error@1:34 expected `present` or `absent`, found `here`"],
    ['policy "p" { allow "r" when x', "syntax_error@1:30 expected `allow`, `deny`, `let`, `mode`, `applies when` or `}`, found the end of the file | a `}` is missing: every `{` needs a matching `}`"],
    ['allow "r" when x', "syntax_error@1:1 expected `policy` or `test`, found `allow` | rules, `let`, `mode` and `applies when` go inside a `policy \"name\" { … }` block"],
    ['policy "p" { } }', "syntax_error@1:16 expected `policy` or `test`, found `}` | this `}` has no matching `{`"],
    ['policy "p" { let = 1 }', "syntax_error@1:18 expected a name, found `=`"],
    ['policy "p" { let x 1 }', "syntax_error@1:20 expected `=`, found `1`"],
    ['test "t" { expect maybe }', "syntax_error@1:19 expected `allow` or `deny`, found `maybe`"],
    ['test "t" { expect deny by "a" "b" }', 'syntax_error@1:31 unexpected `"b"` | separate rule names with commas: `expect deny by "a", "b"`'],
    ['policy "p" { allow "r" when x not in ["a"] }', 'syntax_error@1:31 unexpected `not` after a value | `not` goes before a condition: write `not (request.method in ["GET"])`, or use `!=`'],
    ['policy "p" { allow "r" when x in ("a", "b") }', 'syntax_error@1:34 expected a value (a string, number, duration, list or name), found `(` | lists are written in square brackets: `["GET", "HEAD"]`'],
    ['policy "p" { allow "r" when x in ["a" "b"] }', 'syntax_error@1:38 expected `,` between list elements | separate list elements with commas: `["a", "b"]`'],
  ])("reports %s", (text, expected) => {
    expect(errors(text)).toEqual([expected]);
  });

  it("reports an unfinished block at the next block's keyword and goes on", () => {
    const text = 'policy "a" { allow "x" when\npolicy "b" { allow "y" when z == }\npolicy "c" { allow "z" when q }';
    expect(errors(text)).toEqual([
      "syntax_error@2:1 expected a condition, found `policy` | `policy` starts a new block, so the block before it is unfinished (is a `}` missing?)",
      "syntax_error@2:34 expected a value (a string, number, duration, list or name), found `}`",
    ]);
    // The complete block still reaches the AST.
    const ast = parseSource("t.ward", text).ast!;
    expect(ast.declarations.map((d) => d.name.value)).toEqual(["a", "b", "c"]);
    expect((ast.declarations[2] as PolicyDecl).items).toHaveLength(1);
  });

  it("reports errors in every block, not just the first", () => {
    const text = [
      'policy "a" { allow "x" when x = 1 }',
      "garbage here",
      'policy "b" { allow "y" when y && z }',
      'test "t" { expect }',
    ].join("\n");
    expect(errors(text).map((e) => e.split(" ")[0])).toEqual(["syntax_error@1:31", "syntax_error@2:1", "syntax_error@3:31", "syntax_error@4:19"]);
  });

  it("does not repeat a lexical error as a syntax error", () => {
    expect(errors('policy "p" { allow "r" when x == 1 + 2 }')).toEqual(["unexpected_character@1:36 unexpected character `+`"]);
  });

  it("refuses absurd nesting instead of overflowing the stack", () => {
    const deep = `policy "p" { allow "r" when ${"(".repeat(MAX_NESTING + 1)}x${")".repeat(MAX_NESTING + 1)} }`;
    const r = parseSource("t.ward", deep);
    expect(r.ast).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toEqual(["nesting_too_deep"]);
    const nots = `policy "p" { allow "r" when ${"not ".repeat(100_000)}x }`;
    expect(parseSource("t.ward", nots).diagnostics.map((d) => d.code)).toEqual(["nesting_too_deep"]);
    const fine = `policy "p" { allow "r" when ${"(".repeat(MAX_NESTING - 1)}x${")".repeat(MAX_NESTING - 1)} }`;
    expect(parseSource("t.ward", fine).diagnostics).toEqual([]);
  });

  it("handles a long flat chain without recursion trouble", () => {
    const chain = Array.from({ length: 5_000 }, (_, i) => `x == "${i}"`).join(" or ");
    const r = parseSource("t.ward", `policy "p" { allow "r" when ${chain} }`);
    expect(r.diagnostics).toEqual([]);
    const rule = (r.ast!.declarations[0] as PolicyDecl).items[0] as RuleDecl;
    expect(rule.condition.kind === "or" && rule.condition.operands.length).toBe(5_000);
  });
});
