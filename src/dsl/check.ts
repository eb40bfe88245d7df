/**
 * `check`: ASTs → `CheckedPolicySet` (checked.ts), the contract the engine
 * compiles. Resolves `let` names, types every condition against the
 * attribute vocabulary (vocabulary.ts), validates every literal (SPIFFE IDs
 * and patterns, CIDRs, globs, RE2 regexes, durations, RFC 3339 timestamps,
 * weekdays, hours, ports), checks names (duplicates, undefined and unused
 * lets) and the form of test blocks, and warns about rules that can never
 * match, rules shadowed by an identical earlier rule (the analysis is in
 * analysis.ts) and policies without an allow rule.
 *
 * Errors are collected, never thrown: every problem of every file is
 * reported, each with a span. The set is produced only when there are no
 * errors; warnings travel with it.
 */
import type { Diagnostic, Span } from "../diagnostics.js";
import { validateSpiffePath, validateTrustDomain } from "../spiffe-id.js";
import type {
  CompareExpr,
  Expr,
  LetDecl,
  ListLiteral,
  Literal,
  NameRef,
  Operand,
  PolicyDecl,
  PolicyFileAst,
  RuleDecl,
  StringLiteral,
  TestDecl,
  TestGiven,
} from "./ast.js";
import type {
  AttributeRef,
  CheckedExpr,
  CheckedPolicy,
  CheckedRule,
  CheckedTest,
  CheckedValue,
  CompareOp,
  Effect,
  PolicyMode,
} from "./checked.js";
import {
  canonicalPathProblem,
  isDottedOid,
  isHeaderName,
  isLowerCaseHeaderName,
  parseCidr,
  parseDuration,
  parseIp,
  parseTimestamp,
  validateGlob,
  validateRegex,
  validateSpiffeId,
  validateSpiffePattern,
  type Parsed,
} from "./literals.js";
import { canonicalKey, isUnsatisfiable } from "./analysis.js";
import { nearest } from "./suggest.js";
import { ATTRIBUTE_BY_NAME, ATTRIBUTES, WEEKDAYS, type AttributeSpec, type AttributeType } from "./vocabulary.js";

// ---------------------------------------------------------------------------
// Tables

/** Which operators each attribute type takes (docs/language.md, "Operators by type"). */
export const OPERATORS_BY_TYPE: Readonly<Record<AttributeType, readonly CompareOp[]>> = {
  string: ["==", "!=", "in", "matches", "starts_with", "ends_with", "contains", "matches_regex"],
  spiffe_id: ["==", "!=", "in", "matches", "matches_regex"],
  path: ["==", "!=", "in", "matches", "starts_with", "ends_with", "contains", "matches_regex"],
  string_list: ["contains", "in", "matches", "matches_regex"],
  number: ["==", "!=", "in", "<", "<=", ">", ">="],
  bool: ["==", "!="],
  duration: ["==", "!=", "<", "<=", ">", ">="],
  timestamp: ["==", "!=", "<", "<=", ">", ">="],
  ip: ["==", "!=", "in"],
};

/** Attributes whose operators are narrower than their type's. */
const OPERATORS_BY_ATTRIBUTE: Readonly<Record<string, readonly CompareOp[]>> = {
  "time.weekday": ["==", "!=", "in"],
};

/** The first segment of every attribute: a `let` may not take one of these names. */
const ATTRIBUTE_ROOTS: ReadonlySet<string> = new Set(ATTRIBUTES.map((a) => a.name.split(".")[0] as string));

const TYPE_WORDS: Readonly<Record<AttributeType, string>> = {
  string: "a string",
  spiffe_id: "a SPIFFE ID",
  path: "a path",
  string_list: "a list of strings",
  number: "a number",
  bool: "a boolean",
  duration: "a duration",
  timestamp: "a timestamp",
  ip: "an IP address",
};

const LITERAL_WORDS: Readonly<Record<Literal["kind"] | "list", string>> = {
  string: "a string",
  number: "a number",
  duration: "a duration",
  bool: "a boolean",
  list: "a list",
};

/** The literal kind each attribute type is compared with. */
const LITERAL_FOR_TYPE: Readonly<Record<AttributeType, Literal["kind"]>> = {
  string: "string",
  spiffe_id: "string",
  path: "string",
  string_list: "string",
  number: "number",
  bool: "bool",
  duration: "duration",
  timestamp: "string",
  ip: "string",
};

const ORDERING: ReadonlySet<CompareOp> = new Set(["<", "<=", ">", ">="]);
const PORT_ATTRIBUTES: ReadonlySet<string> = new Set(["source.port", "destination.port"]);

/** Test statements: keyword → the values it takes (all strings). */
const TEST_STATEMENTS: Readonly<Record<string, { readonly args: readonly string[]; readonly repeatable: boolean }>> = {
  caller: { args: ["a SPIFFE ID"], repeatable: false },
  cert: { args: ["a PEM file path"], repeatable: false },
  request: { args: ["a method", "a path"], repeatable: false },
  header: { args: ["a header name", "a value"], repeatable: true },
  source: { args: ["an IP address"], repeatable: false },
  destination: { args: ["a SPIFFE ID"], repeatable: false },
  context: { args: ["a key", "a value"], repeatable: true },
  at: { args: ["an RFC 3339 timestamp"], repeatable: false },
  input: { args: ["a JSON file path"], repeatable: false },
};

// ---------------------------------------------------------------------------
// Diagnostics

function error(code: string, message: string, span: Span | undefined, help?: string): Diagnostic {
  const base = span === undefined ? { code, severity: "error" as const, message } : { code, severity: "error" as const, message, span };
  return help === undefined ? base : { ...base, help };
}

function warning(code: string, message: string, span: Span, help?: string): Diagnostic {
  return help === undefined ? { code, severity: "warning", message, span } : { code, severity: "warning", message, span, help };
}

function quote(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return `\`${shown.replace(/`/g, "'")}\``;
}

// ---------------------------------------------------------------------------
// Results of checking one file

/** What `checkFile` produces: the checked policies and tests of one file, and its diagnostics. */
export interface CheckedFile {
  readonly policies: CheckedPolicy[];
  readonly tests: CheckedTest[];
  readonly diagnostics: Diagnostic[];
}

/** Options for `checkFile`. */
export interface CheckFileOptions {
  /**
   * The file had syntax errors, so parts of it are missing from the AST:
   * skip the checks that a missing part could make wrong (unused `let`s,
   * policies without an allow rule, test blocks without `expect`).
   */
  readonly partial?: boolean;
}

/** Checks one file's AST on its own (names across files are `checkSet`'s job). */
export function checkFile(ast: PolicyFileAst, options: CheckFileOptions = {}): CheckedFile {
  return checkFileWith(ast, options, new LiteralCache());
}

function checkFileWith(ast: PolicyFileAst, options: CheckFileOptions, literals: LiteralCache): CheckedFile {
  const checker = new FileChecker(options.partial === true, literals);
  const policies: CheckedPolicy[] = [];
  const tests: CheckedTest[] = [];
  const testNames = new Map<string, StringLiteral>();
  for (const decl of ast.declarations) {
    if (decl.kind === "policy") {
      const policy = checker.policy(decl, ast.file);
      if (policy) policies.push(policy);
    } else {
      const earlier = testNames.get(decl.name.value);
      if (earlier) {
        checker.report(
          error("duplicate_test", `duplicate test name ${quote(decl.name.value)}`, decl.name.span, `the first test with this name is at line ${earlier.span.start.line}`),
        );
      } else {
        testNames.set(decl.name.value, decl.name);
      }
      const test = checker.test(decl, ast.file);
      if (test) tests.push(test);
    }
  }
  return { policies, tests, diagnostics: checker.diagnostics };
}

// ---------------------------------------------------------------------------
// Values after let resolution

/** A value operand after `let` resolution: one literal, or a list of literals. */
type Resolved = { readonly kind: "scalar"; readonly value: Literal } | { readonly kind: "list"; readonly elements: readonly Literal[]; readonly span: Span };

interface LetBinding {
  readonly decl: LetDecl;
  used: boolean;
}

/** A resolved attribute read: the vocabulary entry and the checked reference. */
interface AttributeUse {
  readonly spec: AttributeSpec;
  readonly ref: AttributeRef;
}

/**
 * Validation results by literal, shared by the files of one check: real
 * policy sets repeat the same SPIFFE IDs, globs and regexes many times, and
 * compiling a regex is not cheap. Lives for one `checkFiles` call only.
 */
class LiteralCache {
  private readonly byKind = new Map<string, Map<string, Parsed<unknown>>>();

  get<T>(kind: string, text: string, validate: (text: string) => Parsed<T>): Parsed<T> {
    let results = this.byKind.get(kind);
    if (results === undefined) {
      results = new Map();
      this.byKind.set(kind, results);
    }
    let r = results.get(text) as Parsed<T> | undefined;
    if (r === undefined) {
      r = validate(text);
      results.set(text, r);
    }
    return r;
  }
}

class FileChecker {
  readonly diagnostics: Diagnostic[] = [];
  private readonly seen = new Set<string>();
  private errors = 0;
  private lets = new Map<string, LetBinding>();

  constructor(
    private readonly partial: boolean,
    private readonly literals: LiteralCache = new LiteralCache(),
  ) {}

  /** Records a diagnostic once (a `let` used in several places would otherwise repeat its literal's error). */
  report(d: Diagnostic): void {
    const key = `${d.code}\u0000${d.span?.file ?? ""}\u0000${d.span?.start.offset ?? -1}\u0000${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.diagnostics.push(d);
    if (d.severity === "error") this.errors++;
  }

  // ---- policies -----------------------------------------------------------

  policy(decl: PolicyDecl, file: string): CheckedPolicy | undefined {
    let failed = false;
    const errorsBefore = this.errorCount();
    if (decl.name.value.trim() === "") this.report(error("empty_name", "a policy needs a name", decl.name.span));

    // Lets are visible in the whole policy, wherever they are declared.
    this.lets = new Map();
    for (const item of decl.items) {
      if (item.kind !== "let") continue;
      const name = item.name.name;
      const earlier = this.lets.get(name);
      if (earlier) {
        this.report(error("duplicate_let", `duplicate \`let\` name ${quote(name)}`, item.name.span, `the first \`let ${name}\` is at line ${earlier.decl.span.start.line}`));
        continue;
      }
      if (ATTRIBUTE_ROOTS.has(name)) {
        this.report(error("reserved_name", `${quote(name)} is an attribute name and cannot be a \`let\` name`, item.name.span, "choose another name"));
      }
      this.lets.set(name, { decl: item, used: false });
      if (item.value.kind === "list") {
        for (const el of item.value.elements) {
          if (el.kind === "name") {
            this.report(error("invalid_let", "a `let` list holds literal values only", el.span, "write the value itself, not another `let` name"));
          }
        }
      }
    }
    // A name inside a `let` list was reported above; the `let` it names is not also "unused".
    for (const { decl: d } of this.lets.values()) {
      if (d.value.kind !== "list") continue;
      for (const el of d.value.elements) {
        const named = el.kind === "name" ? this.lets.get(el.name) : undefined;
        if (named) named.used = true;
      }
    }

    let mode: PolicyMode = "enforce";
    let modeSeen: Span | undefined;
    let appliesSeen: Span | undefined;
    let appliesWhen: CheckedExpr | undefined;
    const rules: CheckedRule[] = [];
    const ruleNames = new Map<string, RuleDecl>();
    let hasAllow = false;

    for (const item of decl.items) {
      switch (item.kind) {
        case "mode": {
          if (modeSeen) {
            this.report(error("duplicate_clause", "a policy takes one `mode`", item.span, `the first \`mode\` is at line ${modeSeen.start.line}`));
            break;
          }
          modeSeen = item.span;
          const value = item.value.name;
          if (value === "enforce" || value === "audit") mode = value;
          else {
            const guess = nearest(value, ["enforce", "audit"]);
            this.report(error("invalid_mode", `unknown mode ${quote(value)}`, item.value.span, guess ? `did you mean \`${guess}\`? (modes: \`enforce\`, \`audit\`)` : "modes: `enforce` (the default) or `audit`"));
          }
          break;
        }
        case "applies": {
          if (appliesSeen) {
            this.report(error("duplicate_clause", "a policy takes one `applies when`", item.span, `the first \`applies when\` is at line ${appliesSeen.start.line}; join the conditions with \`and\``));
            break;
          }
          appliesSeen = item.span;
          appliesWhen = this.condition(item.condition);
          if (!appliesWhen) failed = true;
          break;
        }
        case "let":
          break;
        case "rule": {
          if (item.effect === "allow") hasAllow = true;
          const name = item.name.value;
          if (name.trim() === "") this.report(error("empty_name", "a rule needs a name", item.name.span));
          const earlier = ruleNames.get(name);
          if (earlier) {
            this.report(
              error("duplicate_rule", `duplicate rule name ${quote(name)} in policy ${quote(decl.name.value)}`, item.name.span, `the first rule with this name is at line ${earlier.span.start.line}`),
            );
          } else {
            ruleNames.set(name, item);
          }
          const condition = this.condition(item.condition);
          if (!condition) {
            failed = true;
            break;
          }
          rules.push({ name, effect: item.effect, condition, span: item.span });
          break;
        }
      }
    }

    if (!this.partial) {
      for (const [name, binding] of this.lets) {
        if (!binding.used) {
          this.report(error("unused_let", `\`let\` ${quote(name)} is never used`, binding.decl.name.span, "use it in a rule or remove it"));
        }
      }
      if (!hasAllow) {
        this.report(
          warning(
            "no_allow_rule",
            `policy ${quote(decl.name.value)} has no allow rule`,
            decl.name.span,
            "it can only deny: a request is allowed only when some applicable policy's allow rule matches",
          ),
        );
      }
    }

    if (!this.partial && mode === "audit" && appliesWhen === undefined) {
      // Audit mode lets through what only audit-mode policies govern, so an unscoped
      // audit policy quietly lifts default deny from every request no enforce-mode policy covers.
      this.report(
        warning(
          "unscoped_audit_policy",
          `audit-mode policy ${quote(decl.name.value)} applies to every request`,
          decl.name.span,
          "requests that no enforce-mode policy governs will be let through while it is in audit mode; scope it with `applies when`",
        ),
      );
    }

    if (failed || this.errorCount() > errorsBefore) return undefined;
    this.lintRules(rules, decl);
    if (appliesWhen && isUnsatisfiable(appliesWhen) && appliesSeen) {
      this.report(warning("unreachable_policy", `policy ${quote(decl.name.value)} never applies: its \`applies when\` condition can never be true`, appliesSeen));
    }
    const policy: CheckedPolicy = { name: decl.name.value, file, mode, rules, span: decl.span };
    return appliesWhen ? { ...policy, appliesWhen } : policy;
  }

  private errorCount(): number {
    return this.errors;
  }

  /** Warnings about rules that can never match or are shadowed by an identical rule. */
  private lintRules(rules: readonly CheckedRule[], decl: PolicyDecl): void {
    const nameSpans = new Map<string, Span>();
    for (const item of decl.items) if (item.kind === "rule" && !nameSpans.has(item.name.value)) nameSpans.set(item.name.value, item.name.span);
    const firstByKey = new Map<string, CheckedRule>();
    const denyByKey = new Map<string, CheckedRule>();
    const keys = rules.map((rule) => canonicalKey(rule.condition));
    rules.forEach((rule, i) => {
      const key = keys[i] as string;
      if (rule.effect === "deny" && !denyByKey.has(key)) denyByKey.set(key, rule);
    });
    rules.forEach((rule, i) => {
      const span = nameSpans.get(rule.name) ?? rule.span;
      if (isUnsatisfiable(rule.condition)) {
        this.report(warning("unreachable_rule", `rule ${quote(rule.name)} can never match`, span, "its conditions contradict each other (missing attributes make comparisons false)"));
        return;
      }
      const condition = keys[i] as string;
      const key = `${rule.effect} ${condition}`;
      const earlier = firstByKey.get(key);
      if (earlier) {
        this.report(
          warning("shadowed_rule", `rule ${quote(rule.name)} is shadowed by rule ${quote(earlier.name)}`, span, `rule ${quote(earlier.name)} at line ${earlier.span.start.line} has the same effect and an equivalent condition`),
        );
        return;
      }
      firstByKey.set(key, rule);
      if (rule.effect === "allow") {
        const deny = denyByKey.get(condition);
        if (deny) {
          this.report(
            warning("shadowed_rule", `allow rule ${quote(rule.name)} can never allow a request`, span, `deny rule ${quote(deny.name)} at line ${deny.span.start.line} has an equivalent condition, and deny overrides allow`),
          );
        }
      }
    });
  }

  // ---- conditions ---------------------------------------------------------

  /** Checks a condition; undefined when it has errors (all of them reported). */
  condition(expr: Expr): CheckedExpr | undefined {
    switch (expr.kind) {
      case "paren":
        return this.condition(expr.expr);
      case "and":
      case "or": {
        const operands = expr.operands.map((o) => this.condition(o));
        if (operands.some((o) => o === undefined)) return undefined;
        return { kind: expr.kind, operands: operands as CheckedExpr[], span: expr.span };
      }
      case "not": {
        const operand = this.condition(expr.operand);
        return operand && { kind: "not", operand, span: expr.span };
      }
      case "compare":
        return this.compare(expr);
      case "presence": {
        const use = this.attributeOnLeft(expr.subject, undefined);
        return use && { kind: "presence", attribute: use.ref, present: expr.present, span: expr.span };
      }
      case "bool":
        return { kind: "const", value: expr.value, span: expr.span };
      case "name":
        return this.bareName(expr);
      case "string":
      case "number":
      case "duration":
      case "list":
        this.report(
          error("not_a_condition", `${LITERAL_WORDS[expr.kind]} is not a condition`, expr.span, "a condition compares an attribute with a value, e.g. `request.method == \"GET\"`"),
        );
        return undefined;
    }
  }

  /** A bare name as a condition: a boolean attribute (`caller.authenticated`), or a mistake. */
  private bareName(ref: NameRef): CheckedExpr | undefined {
    const binding = ref.path.length === 1 && ref.key === undefined ? this.lets.get(ref.name) : undefined;
    if (binding) {
      binding.used = true;
      this.report(error("not_a_condition", `${quote(ref.name)} is a \`let\` value, not a condition`, ref.span, `compare an attribute with it, e.g. \`caller.spiffe_id == ${ref.name}\``));
      return undefined;
    }
    const use = this.attribute(ref);
    if (!use) return undefined;
    if (use.spec.type !== "bool") {
      this.report(
        error(
          "not_a_condition",
          `${quote(ref.name)} is ${TYPE_WORDS[use.spec.type]}, not a condition`,
          ref.span,
          `compare it with a value (\`${displayName(use.ref)} == …\`) or test it with \`${displayName(use.ref)} is present\``,
        ),
      );
      return undefined;
    }
    return { kind: "truthy", attribute: use.ref, span: ref.span };
  }

  /** Resolves the left side of a comparison or presence test, which must be an attribute. */
  private attributeOnLeft(left: Operand, right: Operand | undefined): AttributeUse | undefined {
    if (left.kind !== "name") {
      const rightIsAttribute = right?.kind === "name" && this.isAttributeName(right);
      this.report(
        error(
          "invalid_comparison",
          "the left side of a comparison must be an attribute",
          left.span,
          rightIsAttribute ? "put the attribute on the left, e.g. `request.method == \"GET\"`" : "a condition reads an attribute, e.g. `request.method == \"GET\"`",
        ),
      );
      return undefined;
    }
    if (left.path.length === 1 && left.key === undefined) {
      const binding = this.lets.get(left.name);
      if (binding) {
        binding.used = true;
        this.report(
          error("invalid_comparison", `${quote(left.name)} is a \`let\` name; the left side of a comparison must be an attribute`, left.span, `put the attribute on the left, e.g. \`caller.spiffe_id == ${left.name}\``),
        );
        return undefined;
      }
    }
    return this.attribute(left);
  }

  private isAttributeName(ref: NameRef): boolean {
    return ATTRIBUTE_BY_NAME.has(ref.name);
  }

  /** Resolves an attribute read against the vocabulary, checking its key. */
  private attribute(ref: NameRef): AttributeUse | undefined {
    const spec = ATTRIBUTE_BY_NAME.get(ref.name);
    if (!spec) {
      this.report(this.unknownAttribute(ref));
      return undefined;
    }
    if (spec.keyed && ref.key === undefined) {
      const example = spec.name === "request.headers" ? "x-request-id" : spec.name === "cert.extension" ? "1.3.6.1.4.1.99999.1" : "name";
      this.report(error("missing_key", `${quote(spec.name)} needs a key`, ref.span, `write \`${spec.name}["${example}"]\``));
      return undefined;
    }
    if (!spec.keyed && ref.key !== undefined) {
      this.report(error("unexpected_key", `${quote(spec.name)} takes no key`, ref.key.span, `write \`${spec.name}\``));
      return undefined;
    }
    const base = { name: spec.name, type: spec.type, span: ref.span };
    if (ref.key === undefined) return { spec, ref: base };
    const key = ref.key.value;
    if (!this.validKey(spec, ref.key)) return undefined;
    return { spec, ref: { ...base, key } };
  }

  private validKey(spec: AttributeSpec, keyLit: StringLiteral): boolean {
    const key = keyLit.value;
    if (key.length === 0) {
      this.report(error("empty_key", `the key of ${quote(spec.name)} is empty`, keyLit.span));
      return false;
    }
    if (spec.name === "request.headers") {
      if (key.startsWith(":")) {
        this.report(
          error("invalid_header_name", `pseudo-header ${quote(key)} is not a header`, keyLit.span, "use `request.path`, `request.method`, `request.host` or `request.scheme`, which are normalized"),
        );
        return false;
      }
      if (!isLowerCaseHeaderName(key)) {
        const lower = key.toLowerCase();
        this.report(
          error(
            "invalid_header_name",
            isHeaderName(key) ? `header names are lower-case: ${quote(key)} never matches` : `invalid header name ${quote(key)}`,
            keyLit.span,
            isHeaderName(key) ? `write \`request.headers["${lower}"]\`` : "header names are letters, digits and `!#$%&'*+-.^_|~`",
          ),
        );
        return false;
      }
    }
    if (spec.name === "cert.extension" && !isDottedOid(key)) {
      this.report(error("invalid_oid", `invalid OID ${quote(key)}`, keyLit.span, "write the extension's OID in dotted decimal, e.g. `1.3.6.1.4.1.99999.1`"));
      return false;
    }
    return true;
  }

  private unknownAttribute(ref: NameRef): Diagnostic {
    // `request.headers.x_env`: a keyed attribute read with a dot instead of a key.
    const keyed = ATTRIBUTES.find((a) => a.keyed && ref.name.startsWith(`${a.name}.`));
    if (keyed && ref.key === undefined) {
      const rest = ref.name.slice(keyed.name.length + 1);
      return error("unknown_attribute", `unknown attribute ${quote(ref.name)}`, ref.span, `write \`${keyed.name}["${rest}"]\``);
    }
    if (ref.path.length === 1 && ref.key === undefined) {
      return this.undefinedName(ref);
    }
    const guess = nearest(ref.name, ATTRIBUTE_BY_NAME.keys());
    return error("unknown_attribute", `unknown attribute ${quote(ref.name)}`, ref.span, guess ? `did you mean \`${guess}\`?` : "see the attribute list in docs/language.md");
  }

  private undefinedName(ref: NameRef): Diagnostic {
    const guess = nearest(ref.name, this.lets.keys());
    // The misspelled use is reported here; do not also call the intended `let` unused.
    const intended = guess === undefined ? undefined : this.lets.get(guess);
    if (intended) intended.used = true;
    let help: string;
    if (guess) help = `did you mean \`${guess}\`?`;
    else if (ATTRIBUTE_ROOTS.has(ref.name)) help = `${quote(ref.name)} is the start of an attribute name, e.g. \`${ATTRIBUTES.find((a) => a.name.startsWith(`${ref.name}.`) || a.name === ref.name)?.name ?? ref.name}\``;
    else help = `no \`let ${ref.name}\` in this policy; if you meant text, quote it: \`"${ref.name}"\``;
    return error("undefined_name", `undefined name ${quote(ref.name)}`, ref.span, help);
  }

  /** Resolves a value operand: a literal, a list, or a `let` name. */
  private value(operand: Operand): Resolved | undefined {
    switch (operand.kind) {
      case "string":
      case "number":
      case "duration":
      case "bool":
        return { kind: "scalar", value: operand };
      case "list":
        return this.list(operand);
      case "name": {
        if (operand.path.length === 1 && operand.key === undefined) {
          const binding = this.lets.get(operand.name);
          if (binding) {
            binding.used = true;
            const v = binding.decl.value;
            return v.kind === "list" ? this.list(v, true) : { kind: "scalar", value: v };
          }
        }
        if (this.isAttributeName(operand)) {
          this.report(
            error("invalid_comparison", "comparing two attributes is not supported", operand.span, "the right side of a comparison is a value: a literal, a list or a `let` name"),
          );
          return undefined;
        }
        this.report(operand.path.length === 1 && operand.key === undefined ? this.undefinedName(operand) : this.unknownAttribute(operand));
        return undefined;
      }
    }
  }

  /** Resolves a list; `ofLet`: the list is a `let`'s value, whose names `policy` already reported (`invalid_let`). */
  private list(list: ListLiteral, ofLet = false): Resolved | undefined {
    const elements: Literal[] = [];
    let ok = true;
    for (const el of list.elements) {
      if (el.kind !== "name") {
        elements.push(el);
        continue;
      }
      if (ofLet) {
        ok = false;
        continue;
      }
      const binding = el.path.length === 1 && el.key === undefined ? this.lets.get(el.name) : undefined;
      if (!binding) {
        this.report(this.isAttributeName(el) ? error("invalid_comparison", "a list holds values, not attributes", el.span) : this.undefinedName(el));
        ok = false;
        continue;
      }
      binding.used = true;
      if (binding.decl.value.kind === "list") {
        this.report(error("type_mismatch", `${quote(el.name)} is a list; lists do not nest`, el.span, "list its values here, or use the `let` on its own"));
        ok = false;
        continue;
      }
      elements.push(binding.decl.value);
    }
    return ok ? { kind: "list", elements, span: list.span } : undefined;
  }

  private compare(expr: CompareExpr): CheckedExpr | undefined {
    const use = this.attributeOnLeft(expr.left, expr.right);
    // An attribute on the right of a failed left side: the left's error says what to fix (often "put it on the left").
    if (!use && expr.right.kind === "name" && this.isAttributeName(expr.right)) return undefined;
    // Otherwise resolve the right side even when the left failed: it reports its own errors and marks lets used.
    const value = this.value(expr.right);
    if (!use || !value) return undefined;
    const checked = this.compareValue(use, expr, value);
    return checked && { kind: "compare", attribute: use.ref, op: expr.op, value: checked, span: expr.span };
  }

  /** Checks the operator against the attribute's type and turns the value into a `CheckedValue`. */
  private compareValue(use: AttributeUse, expr: CompareExpr, value: Resolved): CheckedValue | undefined {
    const { spec } = use;
    const op = expr.op;
    const allowed = OPERATORS_BY_ATTRIBUTE[spec.name] ?? OPERATORS_BY_TYPE[spec.type];
    if (!allowed.includes(op)) {
      this.report(this.operatorError(use, op, expr.opSpan));
      return undefined;
    }
    const wantList = op === "in";
    const listOk = op === "in" || op === "matches";
    if (value.kind === "list" && !listOk) {
      this.report(
        error("type_mismatch", `\`${op}\` compares with a single value, not a list`, value.span, spec.type === "string_list" ? undefined : `to test membership, write \`${displayName(use.ref)} in [...]\``),
      );
      return undefined;
    }
    if (value.kind === "scalar" && wantList) {
      this.report(
        error(
          "type_mismatch",
          "`in` takes a list",
          value.value.span,
          value.value.kind === "string" ? `write \`${displayName(use.ref)} in [${value.value.raw}]\` or \`${displayName(use.ref)} == ${value.value.raw}\`` : "write the values in `[…]`",
        ),
      );
      return undefined;
    }
    const elements = value.kind === "list" ? value.elements : [value.value];
    if (value.kind === "list" && elements.length === 0) {
      this.report(warning("empty_list", `\`${displayName(use.ref)} ${op} []\` is never true`, value.span, "an empty list matches nothing"));
    }
    // Every element must be the literal kind the attribute compares with.
    const want = LITERAL_FOR_TYPE[spec.type];
    let ok = true;
    for (const el of elements) {
      if (el.kind !== want) {
        this.report(this.literalTypeError(use, el, want));
        ok = false;
      }
    }
    if (!ok) return undefined;

    switch (op) {
      case "matches":
        return this.globs(use, elements as StringLiteral[]);
      case "matches_regex":
        return this.regex(use, elements[0] as StringLiteral);
      case "starts_with":
      case "ends_with":
      case "contains":
        return this.fragment(use, op, elements[0] as StringLiteral);
      case "in":
        return this.set(use, elements);
      default: {
        const single = this.scalar(use, elements[0] as Literal, op);
        if (single === undefined) return undefined;
        return single;
      }
    }
  }

  private operatorError(use: AttributeUse, op: CompareOp, span: Span): Diagnostic {
    const { spec } = use;
    const name = displayName(use.ref);
    const message = `\`${op}\` does not apply to ${quote(name)}, which is ${TYPE_WORDS[spec.type]}`;
    const allowed = OPERATORS_BY_ATTRIBUTE[spec.name] ?? OPERATORS_BY_TYPE[spec.type];
    if (spec.type === "spiffe_id" && (op === "starts_with" || op === "ends_with" || op === "contains")) {
      return error(
        "unsafe_operator",
        `\`${op}\` is not allowed on ${quote(name)}: text tests on SPIFFE IDs are easy to bypass`,
        span,
        "`starts_with \"spiffe://prod.example.com\"` also matches `spiffe://prod.example.com.evil.org/…`; use `matches \"spiffe://prod.example.com/**\"` or compare `caller.trust_domain`",
      );
    }
    let help = `${quote(name)} takes ${allowed.map((o) => `\`${o}\``).join(", ")}`;
    if (spec.type === "string_list" && (op === "==" || op === "!=")) help = `${quote(name)} is a list: use \`contains\` to test for an element`;
    else if (spec.type === "ip" && op === "matches") help = `to test an address range, write \`${name} in ["10.0.0.0/8"]\``;
    else if (ORDERING.has(op)) help = `ordering compares numbers, durations and timestamps; ${help}`;
    return error("type_mismatch", message, span, help);
  }

  private literalTypeError(use: AttributeUse, el: Literal, want: Literal["kind"]): Diagnostic {
    const { spec } = use;
    const name = displayName(use.ref);
    const shown = el.kind === "string" ? el.raw : el.kind === "number" ? el.raw : el.kind === "duration" ? el.raw : String(el.value);
    let help: string | undefined;
    if (spec.type === "duration" && el.kind === "number") help = `give a unit: \`${el.raw}s\`, \`${el.raw}m\`, \`${el.raw}h\` or \`${el.raw}d\``;
    else if (spec.type === "timestamp") help = "write an RFC 3339 timestamp in quotes, e.g. `\"2026-11-22T10:00:00Z\"`";
    else if (want === "number" && el.kind === "string" && /^\d+(\.\d+)?$/.test(el.value)) help = `write the number without quotes: \`${el.value}\``;
    else if (want === "string" && el.kind !== "string") help = `write it in quotes: \`"${shown}"\``;
    return error("type_mismatch", `${quote(name)} is ${TYPE_WORDS[spec.type]} but ${quote(shown)} is ${LITERAL_WORDS[el.kind]}`, el.span, help);
  }

  /** `==` / `!=` / ordering: one value, validated for the attribute. */
  private scalar(use: AttributeUse, el: Literal, op: CompareOp): CheckedValue | undefined {
    const { spec } = use;
    switch (spec.type) {
      case "number": {
        const n = el as Extract<Literal, { kind: "number" }>;
        return this.numberInRange(use, n) ? { kind: "number", value: n.value } : undefined;
      }
      case "bool":
        return { kind: "bool", value: (el as Extract<Literal, { kind: "bool" }>).value };
      case "duration": {
        const parsed = parseDuration((el as Extract<Literal, { kind: "duration" }>).raw);
        return this.accept("invalid_duration", parsed, el.span, (ms) => ({ kind: "duration", ms }));
      }
      case "timestamp": {
        const parsed = parseTimestamp((el as StringLiteral).value);
        return this.accept("invalid_timestamp", parsed, el.span, (ms) => ({ kind: "timestamp", ms }));
      }
      case "ip": {
        const parsed = this.literals.get("ip", (el as StringLiteral).value, parseIp);
        if (!parsed.ok && parseCidr((el as StringLiteral).value).ok) {
          this.report(error("invalid_ip", `\`${op}\` compares with one address, not a range`, el.span, `to test a range, write \`${displayName(use.ref)} in [${(el as StringLiteral).raw}]\``));
          return undefined;
        }
        return this.accept("invalid_ip", parsed, el.span, (value) => ({ kind: "string", value }));
      }
      default: {
        const s = el as StringLiteral;
        return this.stringValue(use, s) ? { kind: "string", value: s.value } : undefined;
      }
    }
  }

  /** `in [...]`: a set of values. */
  private set(use: AttributeUse, elements: readonly Literal[]): CheckedValue | undefined {
    const { spec } = use;
    let ok = true;
    if (spec.type === "number") {
      const values: number[] = [];
      for (const el of elements as Extract<Literal, { kind: "number" }>[]) {
        if (!this.numberInRange(use, el)) ok = false;
        else values.push(el.value);
      }
      return ok ? { kind: "number_set", values: unique(values) } : undefined;
    }
    if (spec.type === "ip") {
      const cidrs: string[] = [];
      for (const el of elements as StringLiteral[]) {
        const parsed = this.literals.get("cidr", el.value, parseCidr);
        if (!parsed.ok) {
          this.report(error("invalid_cidr", parsed.reason, el.span, parsed.help));
          ok = false;
          continue;
        }
        if (parsed.value.hostBitsSet) {
          this.report(
            warning("cidr_host_bits", `${quote(el.value)} has bits set after the prefix; it means ${quote(parsed.value.cidr)}`, el.span, `write \`"${parsed.value.cidr}"\``),
          );
        }
        cidrs.push(parsed.value.cidr);
      }
      return ok ? { kind: "cidr_set", cidrs: unique(cidrs) } : undefined;
    }
    const values: string[] = [];
    for (const el of elements as StringLiteral[]) {
      if (!this.stringValue(use, el)) ok = false;
      else values.push(el.value);
    }
    return ok ? { kind: "string_set", values: unique(values) } : undefined;
  }

  /** `matches`: segment globs, validated as SPIFFE ID patterns or paths where the attribute is one. */
  private globs(use: AttributeUse, elements: readonly StringLiteral[]): CheckedValue | undefined {
    const patterns: string[] = [];
    let ok = true;
    for (const el of elements) {
      const glob = this.literals.get("glob", el.value, validateGlob);
      if (!glob.ok) {
        this.report(error("invalid_glob", glob.reason, el.span, glob.help));
        ok = false;
        continue;
      }
      if (use.spec.type === "spiffe_id") {
        const pattern = this.literals.get("spiffe_pattern", el.value, validateSpiffePattern);
        if (!pattern.ok) {
          this.report(error("invalid_spiffe_id", pattern.reason, el.span, pattern.help));
          ok = false;
          continue;
        }
      } else if (use.spec.type === "path" && !el.value.startsWith("/")) {
        this.report(error("invalid_path", `a path pattern starts with \`/\`: ${quote(el.value)}`, el.span, `write \`"/${el.value.replace(/^\/*/, "")}"\``));
        ok = false;
        continue;
      } else if (use.spec.name === "request.path" && !this.canonicalPath(el)) {
        ok = false;
        continue;
      } else if (!this.caseNormalized(use, el)) {
        ok = false;
        continue;
      }
      patterns.push(el.value);
    }
    return ok ? { kind: "glob", patterns: unique(patterns) } : undefined;
  }

  private regex(use: AttributeUse, el: StringLiteral): CheckedValue | undefined {
    const parsed = this.literals.get("regex", el.value, validateRegex);
    if (!parsed.ok) {
      this.report(error("invalid_regex", parsed.reason, el.span, parsed.help));
      return undefined;
    }
    if (!el.value.startsWith("^") && !el.value.startsWith("\\A") && use.spec.type !== "string_list") {
      this.report(
        warning("unanchored_regex", `the regex ${quote(el.value)} can match anywhere in ${quote(displayName(use.ref))}`, el.span, "`matches_regex` finds a match anywhere in the value; anchor it with `^…$` to match the whole value"),
      );
    }
    return { kind: "regex", pattern: el.value };
  }

  private fragment(use: AttributeUse, op: CompareOp, el: StringLiteral): CheckedValue | undefined {
    if (el.value.length === 0) {
      this.report(warning("empty_string", `\`${op} ""\` is true for every value that is present`, el.span, "use `is present`"));
    }
    if (use.spec.type === "path" && op === "starts_with" && !el.value.startsWith("/")) {
      this.report(error("invalid_path", `a path starts with \`/\`, so ${quote(el.value)} never matches`, el.span, `write \`"/${el.value}"\``));
      return undefined;
    }
    if (use.spec.name === "request.path" && !this.canonicalPath(el)) return undefined;
    if (use.spec.type !== "string_list" && !this.caseNormalized(use, el)) return undefined;
    return { kind: "string", value: el.value };
  }

  /** Checks a string compared for equality (or set membership) with the attribute. */
  private stringValue(use: AttributeUse, el: StringLiteral): boolean {
    const { spec } = use;
    const v = el.value;
    switch (spec.type) {
      case "spiffe_id": {
        const parsed = this.literals.get("spiffe_id", v, validateSpiffeId);
        if (!parsed.ok) this.report(error("invalid_spiffe_id", parsed.reason, el.span, parsed.help));
        return parsed.ok;
      }
      case "path":
        return this.pathValue(use, el);
      default:
        break;
    }
    if (spec.name === "time.weekday") {
      if ((WEEKDAYS as readonly string[]).includes(v)) return true;
      const lower = v.toLowerCase();
      const guess = WEEKDAYS.find((d) => lower.length >= 3 && d.startsWith(lower)) ?? nearest(v, WEEKDAYS);
      this.report(error("invalid_weekday", `invalid weekday ${quote(v)}`, el.span, guess ? `did you mean \`"${guess}"\`? (weekdays are lower-case English names)` : "weekdays are `monday` … `sunday`, lower-case"));
      return false;
    }
    if (spec.name === "caller.trust_domain") {
      const problem = validateTrustDomain(v);
      if (problem && !problem.ok) {
        this.report(error("invalid_trust_domain", `invalid trust domain ${quote(v)}: ${problem.message}`, el.span, v.startsWith("spiffe://") ? `write the trust domain alone: \`"${v.slice(9).split("/")[0]}"\`` : undefined));
        return false;
      }
      return true;
    }
    if (spec.name === "request.method" && v !== v.toUpperCase()) {
      this.report(warning("lowercase_method", `HTTP methods are case-sensitive: ${quote(v)} does not match \`${v.toUpperCase()}\``, el.span, `write \`"${v.toUpperCase()}"\` unless clients really send ${quote(v)}`));
    }
    if ((spec.name === "cert.serial" || spec.name === "cert.fingerprint") && !/^[0-9a-f]*$/.test(v)) {
      this.report(
        error("literal_never_matches", `${quote(spec.name)} is lower-case hex without separators, so ${quote(v)} never matches`, el.span, `write \`"${v.toLowerCase().replace(/[^0-9a-f]/g, "")}"\``),
      );
      return false;
    }
    return this.caseNormalized(use, el);
  }

  /** Host and scheme are lower-cased by Ward (and the host has no port): other literals never match. */
  private caseNormalized(use: AttributeUse, el: StringLiteral): boolean {
    const name = use.spec.name;
    if (name !== "request.host" && name !== "request.scheme") return true;
    const v = el.value;
    if (v !== v.toLowerCase()) {
      this.report(error("literal_never_matches", `${quote(name)} is lower-case, so ${quote(v)} never matches`, el.span, `write \`"${v.toLowerCase()}"\``));
      return false;
    }
    if (name === "request.host" && v.length > 1 && v.endsWith(".")) {
      this.report(error("literal_never_matches", `\`request.host\` has no trailing dot, so ${quote(v)} never matches`, el.span, `write \`"${v.slice(0, -1)}"\``));
      return false;
    }
    if (name === "request.host" && (v.startsWith("[") ? /\]:\d+$/.test(v) : /:\d+$/.test(v))) {
      this.report(error("literal_never_matches", `\`request.host\` has no port, so ${quote(v)} never matches`, el.span, `write \`"${v.replace(/:\d+$/, "")}"\` and test \`destination.port\``));
      return false;
    }
    return true;
  }

  private pathValue(use: AttributeUse, el: StringLiteral): boolean {
    const v = el.value;
    if (use.spec.name === "caller.path") {
      const problem = validateSpiffePath(v);
      if (problem && !problem.ok) {
        this.report(error("invalid_path", `invalid SPIFFE ID path ${quote(v)}: ${problem.message}`, el.span, v.startsWith("spiffe://") ? "compare the whole ID with `caller.spiffe_id`" : undefined));
        return false;
      }
      return true;
    }
    if (!v.startsWith("/")) {
      this.report(error("invalid_path", `a request path starts with \`/\`, so ${quote(v)} never matches`, el.span, `write \`"/${v}"\``));
      return false;
    }
    if (v.includes("?") || v.includes("#")) {
      this.report(error("invalid_path", `\`request.path\` has no query or fragment, so ${quote(v)} never matches`, el.span, "test query parameters with `request.query[\"name\"]`"));
      return false;
    }
    if (v.split("/").some((s) => s === "." || s === "..")) {
      this.report(error("invalid_path", `\`request.path\` is canonical (no \`.\` or \`..\` segments), so ${quote(v)} never matches`, el.span));
      return false;
    }
    return this.canonicalPath(el);
  }

  /** `request.path` is canonical (docs/paths.md): a literal in another form can never match. */
  private canonicalPath(el: StringLiteral): boolean {
    const problem = canonicalPathProblem(el.value);
    if (!problem) return true;
    this.report(error("literal_never_matches", `${problem.reason}, so ${quote(el.value)} never matches`, el.span, problem.help));
    return false;
  }

  private numberInRange(use: AttributeUse, n: Extract<Literal, { kind: "number" }>): boolean {
    const name = use.spec.name;
    if (name === "time.hour" && (!Number.isInteger(n.value) || n.value < 0 || n.value > 23)) {
      this.report(error("hour_out_of_range", `hour ${n.raw} is out of range`, n.span, "`time.hour` is a whole number from 0 to 23 (UTC)"));
      return false;
    }
    if (PORT_ATTRIBUTES.has(name) && (!Number.isInteger(n.value) || n.value < 0 || n.value > 65535)) {
      this.report(error("port_out_of_range", `port ${n.raw} is out of range`, n.span, "a port is a whole number from 0 to 65535"));
      return false;
    }
    return true;
  }

  private accept<T>(code: string, parsed: Parsed<T>, span: Span, build: (value: T) => CheckedValue): CheckedValue | undefined {
    if (parsed.ok) return build(parsed.value);
    this.report(error(code, parsed.reason, span, parsed.help));
    return undefined;
  }

  // ---- tests --------------------------------------------------------------

  test(decl: TestDecl, file: string): CheckedTest | undefined {
    const errorsBefore = this.errorCount();
    if (decl.name.value.trim() === "") this.report(error("empty_name", "a test needs a name", decl.name.span));
    const seen = new Map<string, Span>();
    const single: Record<string, string> = {};
    const headers: { name: string; value: string }[] = [];
    const context: { key: string; value: string }[] = [];
    let request: { method: string; path: string } | undefined;
    let expect: CheckedTest["expect"] | undefined;
    let expectSpan: Span | undefined;
    for (const statement of decl.statements) {
      if (statement.kind === "expect") {
        if (expectSpan) {
          this.report(error("duplicate_clause", "a test takes one `expect`", statement.span, `the first \`expect\` is at line ${expectSpan.start.line}`));
          continue;
        }
        expectSpan = statement.span;
        const by: string[] = [];
        for (const rule of statement.by) {
          if (rule.value.trim() === "") this.report(error("empty_name", "a rule name in `by` is empty", rule.span));
          else if (!by.includes(rule.value)) by.push(rule.value);
        }
        let status: number | undefined;
        if (statement.status) {
          const s = statement.status;
          if (!Number.isInteger(s.value) || s.value < 100 || s.value > 599) {
            this.report(error("invalid_status", `HTTP status ${s.raw} is out of range`, s.span, "a status is a whole number from 100 to 599"));
          } else status = s.value;
        }
        expect = status === undefined ? { effect: statement.effect, by, span: statement.span } : { effect: statement.effect, by, status, span: statement.span };
        continue;
      }
      const args = this.testArgs(statement, seen);
      if (!args) continue;
      const keyword = statement.keyword.name;
      switch (keyword) {
        case "request":
          request = { method: args[0] as string, path: args[1] as string };
          break;
        case "header":
          headers.push({ name: args[0] as string, value: args[1] as string });
          break;
        case "context":
          context.push({ key: args[0] as string, value: args[1] as string });
          break;
        default:
          single[keyword] = args[0] as string;
      }
    }
    const callerSpan = seen.get("caller");
    const certSpan = seen.get("cert");
    if (callerSpan && certSpan) {
      this.report(error("conflicting_test_statements", "a test gives the caller either by `caller` or by `cert`, not both", certSpan, `\`caller\` is at line ${callerSpan.start.line}`));
    }
    if (!expect) {
      if (!this.partial) this.report(error("missing_expect", `test ${quote(decl.name.value)} has no \`expect\``, decl.name.span, "add `expect allow` or `expect deny`"));
      return undefined;
    }
    if (this.errorCount() > errorsBefore) return undefined;
    const test: CheckedTest = {
      name: decl.name.value,
      file,
      span: decl.span,
      headers,
      context,
      expect,
      ...(single["caller"] !== undefined ? { caller: single["caller"] } : {}),
      ...(single["cert"] !== undefined ? { cert: single["cert"] } : {}),
      ...(request ? { request } : {}),
      ...(single["source"] !== undefined ? { source: single["source"] } : {}),
      ...(single["destination"] !== undefined ? { destination: single["destination"] } : {}),
      ...(single["at"] !== undefined ? { at: single["at"] } : {}),
      ...(single["input"] !== undefined ? { input: single["input"] } : {}),
    };
    return test;
  }

  /** Checks one input statement of a test; returns its string values when well-formed. */
  private testArgs(statement: TestGiven, seen: Map<string, Span>): string[] | undefined {
    const keyword = statement.keyword.name;
    const shape = TEST_STATEMENTS[keyword];
    if (!shape) {
      const guess = nearest(keyword, Object.keys(TEST_STATEMENTS).concat("expect"));
      this.report(
        error(
          "unknown_test_statement",
          `unknown test statement ${quote(keyword)}`,
          statement.keyword.span,
          guess ? `did you mean \`${guess}\`?` : `a test takes ${Object.keys(TEST_STATEMENTS).map((k) => `\`${k}\``).join(", ")} and \`expect\``,
        ),
      );
      return undefined;
    }
    const earlier = seen.get(keyword);
    if (earlier && !shape.repeatable) {
      this.report(error("duplicate_clause", `a test takes one \`${keyword}\``, statement.span, `the first \`${keyword}\` is at line ${earlier.start.line}`));
      return undefined;
    }
    if (!earlier) seen.set(keyword, statement.span);
    const strings = statement.args.filter((a): a is StringLiteral => a.kind === "string");
    if (statement.args.length !== shape.args.length || strings.length !== shape.args.length) {
      const wanted = shape.args.length === 1 ? `one string (${shape.args[0]})` : `two strings (${shape.args.join(" and ")})`;
      const example = keyword === "request" ? "`request \"GET\" \"/api/v1/items\"`" : keyword === "header" ? "`header \"x-request-id\" \"abc\"`" : undefined;
      this.report(error("invalid_test_statement", `\`${keyword}\` takes ${wanted}`, statement.span, example ? `for example ${example}` : undefined));
      return undefined;
    }
    const values = strings.map((s) => s.value);
    const [first, second] = strings as [StringLiteral, StringLiteral | undefined];
    switch (keyword) {
      case "caller":
      case "destination": {
        const parsed = validateSpiffeId(first.value);
        if (!parsed.ok) {
          this.report(error("invalid_spiffe_id", parsed.reason, first.span, parsed.help));
          return undefined;
        }
        break;
      }
      case "source": {
        const parsed = parseIp(first.value);
        if (!parsed.ok) {
          this.report(error("invalid_ip", parsed.reason, first.span, parsed.help));
          return undefined;
        }
        break;
      }
      case "at": {
        const parsed = parseTimestamp(first.value);
        if (!parsed.ok) {
          this.report(error("invalid_timestamp", parsed.reason, first.span, parsed.help));
          return undefined;
        }
        break;
      }
      case "request":
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(first.value)) {
          this.report(error("invalid_test_statement", `invalid HTTP method ${quote(first.value)}`, first.span, "write the method first, then the path: `request \"GET\" \"/x\"`"));
          return undefined;
        }
        if ((second as StringLiteral).value.length === 0) {
          this.report(error("invalid_test_statement", "the request path is empty", (second as StringLiteral).span, "write a path such as `\"/\"`"));
          return undefined;
        }
        break;
      case "header":
        // Pseudo-headers (`:authority`) are allowed here: a test may set what Envoy would send.
        if (!isHeaderName(first.value.startsWith(":") ? first.value.slice(1) : first.value)) {
          this.report(error("invalid_header_name", `invalid header name ${quote(first.value)}`, first.span, "header names are letters, digits and `!#$%&'*+-.^_|~`"));
          return undefined;
        }
        break;
      case "context":
      case "cert":
      case "input":
        if (first.value.length === 0) {
          this.report(error("invalid_test_statement", `the value of \`${keyword}\` is empty`, first.span));
          return undefined;
        }
        break;
    }
    return values;
  }
}

/** The values without repeats, in first-seen order (linear: lists may be long). */
function unique<T>(values: T[]): T[] {
  if (values.length < 2) return values;
  return [...new Set(values)];
}

/** How an attribute reference reads in messages: `request.headers["x-env"]`. */
function displayName(ref: AttributeRef): string {
  return ref.key === undefined ? ref.name : `${ref.name}[${JSON.stringify(ref.key)}]`;
}

// ---------------------------------------------------------------------------
// Set-level checks

/** One parsed file handed to `checkFiles`. */
export interface ParsedFile {
  readonly ast: PolicyFileAst;
  /** The file had syntax errors (see `CheckFileOptions.partial`). */
  readonly partial: boolean;
}

/** Every checked policy and test of a set of files, and every diagnostic. */
export interface CheckedFiles {
  readonly policies: CheckedPolicy[];
  readonly tests: CheckedTest[];
  readonly diagnostics: Diagnostic[];
}

/**
 * Checks files together: each file on its own, then the names that must be
 * unique or must exist across the set (policy names; rules named by tests).
 */
export function checkFiles(files: readonly ParsedFile[]): CheckedFiles {
  const policies: CheckedPolicy[] = [];
  const tests: CheckedTest[] = [];
  const diagnostics: Diagnostic[] = [];
  const literals = new LiteralCache();
  for (const f of files) {
    const checked = checkFileWith(f.ast, { partial: f.partial }, literals);
    policies.push(...checked.policies);
    tests.push(...checked.tests);
    diagnostics.push(...checked.diagnostics);
  }

  // Policy names are unique across the set: decisions and audit records name rules by policy.
  const firstPolicy = new Map<string, { file: string; decl: PolicyDecl }>();
  const ruleEffects = new Map<string, Set<Effect>>();
  for (const f of files) {
    for (const decl of f.ast.declarations) {
      if (decl.kind !== "policy") continue;
      const earlier = firstPolicy.get(decl.name.value);
      if (earlier) {
        diagnostics.push(
          error("duplicate_policy", `duplicate policy name ${quote(decl.name.value)}`, decl.name.span, `the first policy with this name is at ${earlier.file}:${earlier.decl.span.start.line}`),
        );
      } else {
        firstPolicy.set(decl.name.value, { file: f.ast.file, decl });
      }
      for (const item of decl.items) {
        if (item.kind !== "rule") continue;
        const set = ruleEffects.get(item.name.value) ?? new Set<Effect>();
        set.add(item.effect);
        ruleEffects.set(item.name.value, set);
      }
    }
  }

  // `expect … by "rule"` must name a rule of the set whose effect can determine that outcome.
  // A file with syntax errors may be missing rules, so then this check would mislead.
  if (!files.some((f) => f.partial)) {
    for (const f of files) {
      for (const decl of f.ast.declarations) {
        if (decl.kind !== "test") continue;
        for (const statement of decl.statements) {
          if (statement.kind !== "expect") continue;
          for (const rule of statement.by) {
            const found = ruleEffects.get(rule.value);
            if (!found) {
              const guess = nearest(rule.value, ruleEffects.keys());
              diagnostics.push(error("unknown_rule", `no rule is named ${quote(rule.value)}`, rule.span, guess ? `did you mean \`"${guess}"\`?` : undefined));
            } else if (!found.has(statement.effect)) {
              const other = statement.effect === "allow" ? "deny" : "allow";
              diagnostics.push(
                error(
                  "expect_effect_mismatch",
                  `rule ${quote(rule.value)} is ${other === "allow" ? "an allow" : "a deny"} rule, so it cannot determine \`${statement.effect}\``,
                  rule.span,
                  `expect \`${other}\`, or name ${statement.effect === "allow" ? "an allow" : "a deny"} rule`,
                ),
              );
            }
          }
        }
      }
    }
  }
  return { policies, tests, diagnostics };
}
