// Property tests: the front end never throws and always terminates, whatever
// text it gets, and every diagnostic points inside the text it came from.
// Runs are bounded (numRuns) so the file stays fast.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { positionAt, type Diagnostic } from "../../src/diagnostics.js";
import { checkPolicySources, parseSource, tokenize } from "../../src/dsl/index.js";
import { ISSUE_EXAMPLE, ISSUE_TESTS } from "./helpers.js";

/** Every span is inside `text`, and its line/column agree with its offset. */
function spansAreSound(text: string, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    expect(d.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    expect(d.span, `${d.code} has a span`).toBeDefined();
    const { start, end } = d.span!;
    expect(start.offset).toBeGreaterThanOrEqual(0);
    expect(end.offset).toBeGreaterThanOrEqual(start.offset);
    expect(end.offset).toBeLessThanOrEqual(text.length);
    const expected = positionAt(text, start.offset);
    expect([start.line, start.column]).toEqual([expected.line, expected.column]);
  }
}

/** Pieces of the language (and of its usual slips), so random text often gets deep into the parser. */
const FRAGMENTS = [
  "policy", "test", "applies", "when", "mode", "audit", "enforce", "let", "allow", "deny", "and", "or", "not", "in", "is",
  "present", "absent", "matches", "matches_regex", "starts_with", "ends_with", "contains", "true", "false", "expect", "by",
  "status", "caller", "cert", "request", "header", "source", "destination", "context", "at", "input",
  "caller.spiffe_id", "caller.trust_domain", "caller.authenticated", "request.method", "request.path", 'request.headers["x-env"]',
  'cert.extension["1.2.3"]', "source.ip", "time.hour", "time.weekday", "cert.expires_in", "cert.not_after", "cert.san.dns",
  "{", "}", "(", ")", "[", "]", ",", ".", "==", "!=", "<", "<=", ">", ">=", "=", "&&", "||", "!", "\"", "'", "#", "//", "\\",
  '"GET"', '"/api/**"', '"spiffe://prod.example.com/ns/*/sa/x"', '"10.0.0.0/8"', '"2026-01-01T00:00:00Z"', '"monday"', '"^a+$"',
  "30s", "7d", "1.5h", "42", "0", "99999", "\n", " ", "  ", "\t", "é", "\u0000", "/api/v1", "spiffe://td/x",
];

const fragmentText = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 60 }).map((xs) => xs.join(" "));
const anyText = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 }), fragmentText);

function runsAll(text: string): void {
  const lexed = tokenize("p.ward", text);
  spansAreSound(text, lexed.diagnostics);
  const parsed = parseSource("p.ward", text);
  spansAreSound(text, parsed.diagnostics);
  const checked = checkPolicySources([{ file: "p.ward", text }]);
  spansAreSound(text, checked.diagnostics);
  // Errors are never silent: a failed check always says why.
  if (!checked.ok) expect(checked.diagnostics.some((d) => d.severity === "error")).toBe(true);
}

/** Edits a valid file: deletes, duplicates or replaces a slice, or inserts a fragment. */
const mutated = (base: string) =>
  fc
    .array(
      fc.record({
        at: fc.nat({ max: base.length }),
        length: fc.nat({ max: 40 }),
        kind: fc.constantFrom("delete", "insert", "duplicate", "replace"),
        fragment: fc.constantFrom(...FRAGMENTS),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let text = base;
      for (const e of edits) {
        const at = Math.min(e.at, text.length);
        const end = Math.min(text.length, at + e.length);
        if (e.kind === "delete") text = text.slice(0, at) + text.slice(end);
        else if (e.kind === "insert") text = `${text.slice(0, at)} ${e.fragment} ${text.slice(at)}`;
        else if (e.kind === "duplicate") text = text.slice(0, end) + text.slice(at, end) + text.slice(end);
        else text = text.slice(0, at) + e.fragment + text.slice(end);
      }
      return text;
    });

describe("the front end never throws and always finishes", () => {
  it("on arbitrary text", () => {
    fc.assert(fc.property(anyText, (text) => runsAll(text)), { numRuns: 300 });
  });

  it("on mutated valid policies and tests", () => {
    fc.assert(fc.property(mutated(`${ISSUE_EXAMPLE}\n${ISSUE_TESTS}`), (text) => runsAll(text)), { numRuns: 300 });
  });

  it("on deeply nested and very long input", () => {
    for (const text of [
      "(".repeat(50_000),
      "[".repeat(50_000),
      `policy "p" { allow "r" when ${"not ".repeat(50_000)} x }`,
      `policy "p" { allow "r" when x in [${'"a",'.repeat(20_000)}] }`,
      '"'.repeat(10_001),
      "{".repeat(10_000) + "}".repeat(10_000),
    ]) {
      runsAll(text);
    }
  });
});

// ---- well-typed policies always check ------------------------------------

/** For each attribute, conditions that are valid whatever else the rule holds. */
const VALID_CONDITIONS: readonly string[] = [
  'caller.spiffe_id == "spiffe://prod.example.com/ns/a/sa/b"',
  'caller.spiffe_id matches "spiffe://prod.example.com/ns/*/sa/**"',
  'caller.spiffe_id in ["spiffe://prod.example.com/ns/a/sa/b", "spiffe://staging.example.com"]',
  'caller.trust_domain != "prod.example.com"',
  'caller.path matches "/ns/*/sa/*"',
  "caller.authenticated",
  "caller.authenticated == true",
  'cert.subject.common_name starts_with "api"',
  'cert.subject.organizational_unit contains "payments"',
  'cert.issuer.organization in ["Acme CA"]',
  'cert.san.dns matches "*.example.com"',
  'cert.san.uri contains "spiffe://prod.example.com/ns/a/sa/b"',
  'cert.san.email matches_regex "^[a-z]+@example\\\\.com$"',
  'cert.serial == "0af3"',
  'cert.fingerprint != "ab"',
  'cert.not_before <= "2025-01-01T00:00:00Z"',
  'cert.not_after > "2030-01-01T00:00:00.5+01:00"',
  "cert.expires_in >= 1h30m",
  'cert.extension["1.3.6.1.4.1.99999.1"] == "pci"',
  'request.method in ["GET", "HEAD"]',
  'request.path matches "/api/v1/**"',
  'request.path ends_with ".json"',
  'request.query["page"] == "2"',
  'request.headers["x-env"] is present',
  'request.host matches "*.example.com"',
  'request.scheme == "https"',
  'source.ip in ["10.0.0.0/8", "fd00::/8"]',
  "source.port > 1023",
  'destination.spiffe_id == "spiffe://prod.example.com/ns/payments/sa/api"',
  'destination.ip == "10.1.2.3"',
  "destination.port in [443, 8443]",
  'context["route"] != "admin"',
  "time.hour >= 9",
  'time.weekday in ["saturday", "sunday"]',
  "true",
];

type Cond = { text: string };
const condition: fc.Memo<Cond> = fc.memo((depth) =>
  depth <= 1
    ? fc.constantFrom(...VALID_CONDITIONS).map((text) => ({ text }))
    : fc.oneof(
        fc.constantFrom(...VALID_CONDITIONS).map((text) => ({ text })),
        fc.tuple(condition(depth - 1), fc.constantFrom("and", "or"), condition(depth - 1)).map(([a, op, b]) => ({ text: `${a.text} ${op} ${b.text}` })),
        condition(depth - 1).map((a) => ({ text: `not (${a.text})` })),
        condition(depth - 1).map((a) => ({ text: `(${a.text})` })),
      ),
);

describe("well-typed policies", () => {
  it("always check, with one checked rule per written rule", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("allow", "deny"), condition(4)), { minLength: 1, maxLength: 6 }), (rules) => {
        const body = rules.map(([effect, c], i) => `  ${effect} "r${i}" when ${c.text}`).join("\n");
        const text = `policy "p" {\n  mode audit\n${body}\n}\n`;
        const r = checkPolicySources([{ file: "p.ward", text }]);
        if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.code}: ${d.message}`).join("\n") + `\n${text}`);
        expect(r.value.policies[0]!.rules.map((x) => [x.name, x.effect])).toEqual(rules.map(([effect], i) => [`r${i}`, effect]));
        // Only warnings remain, and they are of the documented kinds.
        for (const d of r.diagnostics) expect(["unreachable_rule", "shadowed_rule", "no_allow_rule", "unscoped_audit_policy"]).toContain(d.code);
      }),
      { numRuns: 150 },
    );
  });
});
