// `ward fmt`'s formatter (src/dsl/format.ts): the canonical layout, comments
// kept, idempotence and meaning preservation — on hand-written cases, on
// generated policies (fast-check) and on the shipped policies.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkPolicySources } from "../../src/dsl/index.js";
import { formatSource, sameSyntax, stripPositions } from "../../src/dsl/format.js";
import { parseSource } from "../../src/dsl/parse.js";

function fmt(text: string, file = "t.ward"): string {
  const r = formatSource(file, text);
  if (!r.ok) throw new Error(`format failed: ${JSON.stringify(r.diagnostics)}`);
  return r.value;
}

/** The checked policy set without positions (what the engine would compile). */
function checkedShape(text: string, file = "t.ward"): unknown {
  const r = checkPolicySources([{ file, text }]);
  if (!r.ok) return { errors: r.diagnostics.map((d) => d.code) };
  return stripPositions({ policies: r.value.policies, tests: r.value.tests });
}

describe("canonical layout", () => {
  it("lays out a messy policy canonically", () => {
    const messy = [
      '# header comment',
      'policy   "payments-api"{applies when destination.spiffe_id=="spiffe://prod.example.com/ns/payments/sa/payment-api"',
      '  let  checkout="spiffe://prod.example.com/ns/checkout/sa/checkout"',
      '',
      '',
      '',
      ' allow "checkout may charge" when caller.spiffe_id == checkout and request.method=="POST"   and request.path == "/api/v1/charge"  # trailing',
      'deny "no staging" when caller.trust_domain != "prod.example.com"',
      '  deny "headers" when request . headers [ "x-env" ] == "staging" or (request.method in ["PUT","DELETE"] and not request.path starts_with "/ok")',
      '}',
      'test "t" { caller "spiffe://prod.example.com/ns/a/sa/b"   request "GET"  "/x"',
      'expect deny by "no staging" , "headers" status 403 }',
    ].join("\n");
    expect(fmt(messy)).toBe(
      [
        "# header comment",
        'policy "payments-api" {',
        '  applies when destination.spiffe_id == "spiffe://prod.example.com/ns/payments/sa/payment-api"',
        '  let checkout = "spiffe://prod.example.com/ns/checkout/sa/checkout"',
        "",
        '  allow "checkout may charge" when',
        "    caller.spiffe_id == checkout",
        '    and request.method == "POST"',
        '    and request.path == "/api/v1/charge"  # trailing',
        '  deny "no staging" when caller.trust_domain != "prod.example.com"',
        '  deny "headers" when',
        '    request.headers["x-env"] == "staging"',
        '    or (request.method in ["PUT", "DELETE"] and not request.path starts_with "/ok")',
        "}",
        "",
        'test "t" {',
        '  caller "spiffe://prod.example.com/ns/a/sa/b"',
        '  request "GET" "/x"',
        '  expect deny by "no staging", "headers" status 403',
        "}",
        "",
      ].join("\n"),
    );
  });

  it("keeps comments in their places: leading, trailing, dangling, end of file", () => {
    const text = [
      "// file comment",
      "",
      "policy \"p\" {",
      "  # about the rule",
      "  allow \"r\" when",
      "    # about the first condition",
      "    request.method == \"GET\"   # why GET",
      "    and request.path == \"/x\"",
      "  # dangling at the end of the policy",
      "}",
      "# the end",
    ].join("\n");
    const out = fmt(text);
    expect(out).toBe(
      [
        "// file comment",
        "",
        'policy "p" {',
        "  # about the rule",
        '  allow "r" when',
        "    # about the first condition",
        '    request.method == "GET"  # why GET',
        '    and request.path == "/x"',
        "  # dangling at the end of the policy",
        "}",
        "# the end",
        "",
      ].join("\n"),
    );
  });

  it("breaks a long list one element per line with trailing commas, and keeps a short one inline", () => {
    const ids = Array.from({ length: 4 }, (_, i) => `"spiffe://prod.example.com/ns/team-${i}/sa/service-${i}"`);
    const out = fmt(`policy "p" {\n  let ids = [${ids.join(", ")}]\n  allow "r" when caller.spiffe_id in ids and request.method in ["GET", "HEAD"]\n}\n`);
    expect(out).toContain("  let ids = [\n    " + ids.join(",\n    ") + ",\n  ]\n");
    expect(out).toContain('    and request.method in ["GET", "HEAD"]\n');
  });

  it("breaks a long parenthesised chain inside a rule", () => {
    const long = Array.from({ length: 6 }, (_, i) => `request.path == "/a/fairly/long/path/number/${i}"`).join(" or ");
    const out = fmt(`policy "p" {\n  allow "r" when request.method == "GET" and (${long})\n}\n`);
    expect(out).toContain('    and (\n      request.path == "/a/fairly/long/path/number/0"\n      or request.path');
    expect(out).toContain('"/a/fairly/long/path/number/5"\n    )\n}');
  });

  it("refuses a file with a syntax error and reports where", () => {
    const r = formatSource("bad.ward", 'policy "p" {\n  allow "r" when request.method = "GET"\n}\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.diagnostics[0]?.span?.start.line).toBe(2);
    expect(r.diagnostics[0]?.severity).toBe("error");
  });

  it("formats a file whose only problems are semantic (unknown attribute)", () => {
    expect(fmt('policy "p" { allow "r" when request.paht == "/x" }')).toBe('policy "p" {\n  allow "r" when request.paht == "/x"\n}\n');
  });
});

// ---------------------------------------------------------------- generated policies

const LEAVES = [
  'request.method == "GET"',
  'request.method in ["GET", "HEAD"]',
  'request.path matches "/api/v1/**"',
  'request.path starts_with "/admin"',
  'caller.spiffe_id == "spiffe://prod.example.com/ns/checkout/sa/checkout"',
  'caller.spiffe_id matches ["spiffe://prod.example.com/ns/*/sa/reporting", "spiffe://prod.example.com/ns/ops/sa/*"]',
  'caller.trust_domain != "prod.example.com"',
  "caller.authenticated",
  'request.headers["x-env"] == "prod"',
  'request.headers["x-request-id"] is present',
  'source.ip in ["10.0.0.0/8", "192.168.1.1"]',
  "time.hour >= 9",
  "destination.port == 443",
  "cert.expires_in < 24h",
  'cert.subject.organizational_unit contains "Platform"',
];

/** Whitespace between tokens: spaces, line breaks, blank lines, and comments (which always end their line). */
const sep = fc.oneof(
  { weight: 6, arbitrary: fc.constant(" ") },
  { weight: 2, arbitrary: fc.constantFrom("  ", "\n", "\n    ", "\t", "\n\n  ") },
  { weight: 1, arbitrary: fc.constantFrom("  # c\n  ", " // note: why\n", "\n  # lead\n  ", "  #\n") },
);

type Gen = fc.Arbitrary<string>;

/** Conditions built from the leaves with `and`, `or`, `not` and parentheses, respecting precedence. */
const condition: Gen = fc.letrec<{ or: string; and: string; unary: string }>((tie) => ({
  or: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("and"),
    fc.tuple(tie("and"), fc.array(fc.tuple(sep, sep, tie("and")), { minLength: 1, maxLength: 3 })).map(
      ([first, rest]) => first + rest.map(([a, b, e]) => `${a}or${b}${e}`).join(""),
    ),
  ),
  and: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("unary"),
    fc.tuple(tie("unary"), fc.array(fc.tuple(sep, sep, tie("unary")), { minLength: 1, maxLength: 4 })).map(
      ([first, rest]) => first + rest.map(([a, b, e]) => `${a}and${b}${e}`).join(""),
    ),
  ),
  unary: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...LEAVES),
    fc.tuple(sep, tie("unary")).map(([s, e]) => `not${s === " " ? " " : s}${e}`),
    fc.tuple(sep, tie("or"), sep).map(([a, e, b]) => `(${a.trimStart()}${e}${b.replace(/#.*$/s, "")})`),
  ),
})).or;

const rule = fc.tuple(fc.constantFrom("allow", "deny"), sep, condition, sep).map(([effect, s, cond, s2]) => ({ effect, text: (name: string) => `${effect}${s}"${name}"${s2}when${s}${cond}` }));

const policyText = fc
  .record({
    comment: fc.constantFrom("", "# a policy\n", "// two\n// comment lines\n\n"),
    applies: fc.option(condition, { nil: undefined }),
    mode: fc.constantFrom(undefined, "enforce", "audit"),
    rules: fc.array(rule, { minLength: 1, maxLength: 4 }),
    gaps: fc.array(sep, { minLength: 8, maxLength: 8 }),
  })
  .map(({ comment, applies, mode, rules, gaps }) => {
    const g = (i: number): string => (gaps[i % gaps.length] as string).replace(/^[^\n#/]*$/, "\n  ");
    const items: string[] = [];
    if (applies !== undefined) items.push(`applies when ${applies}`);
    if (mode !== undefined) items.push(`mode ${mode}`);
    rules.forEach((r, i) => items.push(r.text(`rule ${i}`)));
    return `${comment}policy "generated"${g(0).includes("#") ? " " : g(0)}{${g(1)}${items.map((it, i) => it + g(i + 2)).join("")}\n}\n`;
  });

/** A test block with random statements, spacing and comments. */
const testText = fc
  .record({
    statements: fc.subarray(
      [
        'caller "spiffe://prod.example.com/ns/checkout/sa/checkout"',
        'request "POST" "/api/v1/charge?x=1"',
        'header "x-env" "prod"',
        'source "10.1.2.3"',
        'destination "spiffe://prod.example.com/ns/payments/sa/payment-api"',
        'context "route" "payments"',
        'at "2027-01-06T10:00:00Z"',
      ],
      { minLength: 1 },
    ),
    // Rule names in `by` must name rules of that effect (the checker says so), so the generated tests name none.
    expectation: fc.constantFrom("expect allow", "expect deny", "expect deny  status 403", "expect allow status\n 200"),
    gaps: fc.array(sep, { minLength: 9, maxLength: 9 }),
  })
  .map(({ statements, expectation, gaps }) => {
    const g = (i: number): string => (gaps[i % gaps.length] as string).replace(/^[^\n#/]*$/, "\n  ");
    return `test${g(0).includes("#") ? " " : " "}"generated test" {${g(1)}${[...statements, expectation].map((st, i) => st + g(i + 2)).join("")}}\n`;
  });

const fileText = fc.tuple(policyText, fc.option(testText, { nil: undefined }), fc.constantFrom("\n", "", "\n\n\n# between\n")).map(([p, t, between]) => (t === undefined ? p : `${p}${between}${t}`));

describe("formatting generated policies", () => {
  it("always parses, is idempotent, and keeps the syntax tree and comments", () => {
    fc.assert(
      fc.property(fileText, (text) => {
        const parsed = parseSource("g.ward", text);
        fc.pre(parsed.ast !== undefined && !parsed.diagnostics.some((d) => d.severity === "error"));
        const once = fmt(text, "g.ward");
        const twice = fmt(once, "g.ward");
        expect(twice).toBe(once);
        const again = parseSource("g.ward", once);
        expect(again.ast && parsed.ast && sameSyntax(parsed.ast, again.ast)).toBe(true);
        expect(again.ast?.comments.length).toBe(parsed.ast?.comments.length);
      }),
      { numRuns: 150 },
    );
  });

  it("never changes the checked policy set (what the engine compiles)", () => {
    fc.assert(
      fc.property(fileText, (text) => {
        const parsed = parseSource("g.ward", text);
        fc.pre(parsed.ast !== undefined && !parsed.diagnostics.some((d) => d.severity === "error"));
        const before = checkedShape(text, "g.ward");
        expect(before).not.toHaveProperty("errors"); // the generator only writes valid policies
        expect(checkedShape(fmt(text, "g.ward"), "g.ward")).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });
});

describe("formatting arbitrary text", () => {
  it("never throws: a file either formats (idempotently) or is refused with diagnostics", () => {
    const pieces = fc.constantFrom("policy", "test", '"p"', "{", "}", "(", ")", "[", "]", ",", "allow", "deny", "when", "and", "or", "not", "request.method", "==", '"GET"', "# c\n", "\n", " ", "expect", "let", "x", "=", "in", "3", "24h");
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(pieces, { maxLength: 60 }).map((p) => p.join(" "))), (text) => {
        const r = formatSource("any.ward", text);
        if (r.ok) expect(fmt(r.value, "any.ward")).toBe(r.value);
        else expect(r.diagnostics.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe("the shipped policies", () => {
  const dir = "policies";
  const files = readdirSync(dir).filter((f) => f.endsWith(".ward"));

  it("are all in the canonical layout", () => {
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = readFileSync(join(dir, f), "utf8");
      expect(fmt(text, f), f).toBe(text);
    }
  });

  it("format to the same checked set, and formatting twice changes nothing (even from a scrambled layout)", () => {
    const sources = files.map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), "utf8") }));
    const formatted = sources.map(({ file, text }) => {
      // Scramble the layout: squeeze indentation and join continuation lines.
      const scrambled = text.replace(/\n {4}(and|or) /g, " $1 ").replace(/^ {2}/gm, "");
      const once = fmt(scrambled, file);
      expect(fmt(once, file), file).toBe(once);
      return { file, text: once };
    });
    const before = checkPolicySources(sources);
    const after = checkPolicySources(formatted);
    expect(before.ok).toBe(true);
    if (!before.ok || !after.ok) throw new Error("the shipped policies must check");
    expect(stripPositions({ p: after.value.policies, t: after.value.tests })).toEqual(stripPositions({ p: before.value.policies, t: before.value.tests }));
  });
});
