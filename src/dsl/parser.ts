/**
 * The grammar of the Ward policy language as a chevrotain `CstParser`
 * (text_to_cst in Cedar's terms): tokens → concrete syntax tree. Recovery is
 * on, so one pass reports every syntax error it can, and the CST of the parts
 * that did parse still goes on to `cstToAst`. The grammar in EBNF is in
 * docs/language.md; the rule names below match it.
 *
 * Error messages come from one place, `wardErrorMessages` (after chevrotain's
 * examples/parser/custom_errors and Cedar's friendly token names), with help
 * for the usual slips: `=` for `==`, `&&`/`||`/`!` for `and`/`or`/`not`,
 * missing quotes, upper-case keywords, a missing `and` between conditions.
 */
import { CstParser, EOF, tokenMatcher, type CstNode, type IOrAlt, type IParserErrorMessageProvider, type IToken, type TokenType } from "chevrotain";
import type { Diagnostic } from "../diagnostics.js";
import { spanOfToken } from "./lexer.js";
import * as T from "./tokens.js";

/** Separates a message from its help inside chevrotain's single error string. */
const HELP_SEPARATOR = "\u001f";

function friendly(tokenType: TokenType): string {
  if (tokenType === EOF) return "the end of the file";
  return tokenType.LABEL ?? tokenType.name;
}

/** How a found token is shown: its text in backticks (shortened), or "the end of the file". */
function describeToken(token: IToken): string {
  if (tokenMatcher(token, EOF)) return "the end of the file";
  const image = token.image.length > 24 ? `${token.image.slice(0, 24)}…` : token.image;
  return `\`${image.replace(/`/g, "'")}\``;
}

function joinAlternatives(labels: readonly string[]): string {
  const unique = [...new Set(labels)];
  if (unique.length <= 1) return unique[0] ?? "something else";
  return `${unique.slice(0, -1).join(", ")} or ${unique[unique.length - 1]}`;
}

const POLICY_ITEMS = "`allow`, `deny`, `let`, `mode`, `applies when` or `}`";
const TEST_ITEMS = "a test statement (`caller`, `cert`, `request`, `header`, `source`, `destination`, `context`, `at`, `input`, `expect`) or `}`";

/** Token types that can end a condition: after one of these, another value means a missing `and`/`or`. */
const EXPRESSION_ENDS: readonly TokenType[] = [
  T.Identifier,
  T.StringLiteral,
  T.NumberLiteral,
  T.DurationLiteral,
  T.True,
  T.False,
  T.RParen,
  T.RBracket,
  T.Present,
  T.Absent,
];

function isOneOf(token: IToken | undefined, types: readonly TokenType[]): boolean {
  return token !== undefined && types.some((t) => tokenMatcher(token, t));
}

/**
 * Help for a slip, judged from the token found (and the one before it).
 * Returns the message to use when the generic "expected X, found Y" would
 * mislead (for example `&&` in a condition).
 */
function slipHelp(
  actual: IToken,
  previous: IToken | undefined,
  expected: readonly TokenType[],
  ruleName: string,
): { message?: string; help: string } | undefined {
  const image = actual.image;
  if (tokenMatcher(actual, T.Assign) && ruleName !== "letDecl") return { message: "unexpected `=`", help: "to compare two values, write `==`" };
  if (tokenMatcher(actual, T.Slip)) {
    if (image.startsWith("&")) return { message: `unexpected \`${image}\``, help: "write `and` to require both conditions" };
    if (image.startsWith("|")) return { message: `unexpected \`${image}\``, help: "write `or` to accept either condition" };
    return { message: `unexpected \`${image}\``, help: "write `==`" };
  }
  if (tokenMatcher(actual, T.Bang)) return { message: "unexpected `!`", help: "write `not` to negate a condition, or `!=` for inequality" };
  const inBlock = expected.includes(T.RCurly);
  const afterCondition = inBlock && ruleName === "policy" && isOneOf(previous, EXPRESSION_ENDS);
  if (tokenMatcher(actual, T.Identifier) && T.KEYWORDS.has(image.toLowerCase()) && image !== image.toLowerCase()) {
    const help = `keywords are lower-case: write \`${image.toLowerCase()}\``;
    return afterCondition ? { message: `unexpected ${describeToken(actual)} after a condition`, help } : { help };
  }
  if (expected.includes(T.StringLiteral) && tokenMatcher(actual, T.Identifier)) {
    return { help: `names and text values are written in double quotes: \`"${image}"\`` };
  }
  if (inBlock && tokenMatcher(actual, EOF)) return { help: "a `}` is missing: every `{` needs a matching `}`" };
  if (inBlock && (tokenMatcher(actual, T.Policy) || tokenMatcher(actual, T.Test))) {
    return { help: "the block before this one is missing its closing `}`" };
  }
  if (afterCondition && tokenMatcher(actual, T.Not)) {
    return { message: "unexpected `not` after a value", help: "`not` goes before a condition: write `not (request.method in [\"GET\"])`, or use `!=`" };
  }
  if (ruleName === "operand" && tokenMatcher(actual, T.LParen)) {
    return { help: 'lists are written in square brackets: `["GET", "HEAD"]`' };
  }
  const valueStart = [T.Identifier, T.LParen, T.StringLiteral, T.NumberLiteral, T.DurationLiteral, T.True, T.False];
  if (afterCondition && isOneOf(actual, valueStart)) {
    return { message: `unexpected ${describeToken(actual)} after a condition`, help: "conditions are joined with `and` or `or`" };
  }
  if (inBlock && ruleName === "test" && tokenMatcher(actual, T.StringLiteral) && isOneOf(previous, [T.StringLiteral])) {
    return { message: `unexpected ${describeToken(actual)}`, help: "separate rule names with commas: `expect deny by \"a\", \"b\"`" };
  }
  if (ruleName !== "test" && tokenMatcher(actual, T.Comma) && isOneOf(previous, EXPRESSION_ENDS)) {
    return { help: "conditions are joined with `and` or `or`; commas separate list elements inside `[…]`" };
  }
  return undefined;
}

function withHelp(message: string, help: string | undefined): string {
  return help === undefined ? message : `${message}${HELP_SEPARATOR}${help}`;
}

/** What a rule expects, in words, when the parser cannot choose an alternative. */
const RULE_EXPECTATIONS: Readonly<Record<string, string>> = {
  primary: "a condition",
  operand: "a value (a string, number, duration, list or name)",
  listElement: "a list element (a string, number, duration or `let` name)",
  literal: "a value (a string, number or duration)",
  policyItem: POLICY_ITEMS,
  testStatement: TEST_ITEMS,
  declaration: "`policy` or `test`",
};

/**
 * The friendly message provider: every parser error message is built here.
 * A message may carry help after `HELP_SEPARATOR`; `parseTokens` splits it
 * into the diagnostic's `help`.
 */
export const wardErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous, ruleName }) {
    // The top-level loop's in-repetition recovery reports a stray token as "expected the end of the file".
    if (expected === EOF) return topLevelMessage(actual);
    const slip = slipHelp(actual, previous, [expected], ruleName);
    let wanted = friendly(expected);
    if (expected === T.RCurly && ruleName === "policy") wanted = POLICY_ITEMS;
    if (expected === T.RCurly && ruleName === "test") wanted = TEST_ITEMS;
    if (expected === T.When && ruleName === "ruleDecl") wanted = "`when` and a condition";
    const message = slip?.message ?? `expected ${wanted}, found ${describeToken(actual)}`;
    return withHelp(message, slip?.help);
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return topLevelMessage(firstRedundant);
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, previous, ruleName }) {
    const found = actual[0] as IToken;
    const firsts = expectedPathsPerAlt.flatMap((alt) => alt.map((path) => path[0])).filter((t): t is TokenType => t !== undefined);
    const slip = slipHelp(found, previous, firsts, ruleName);
    const wanted = RULE_EXPECTATIONS[ruleName] ?? joinAlternatives(firsts.map(friendly));
    return withHelp(slip?.message ?? `expected ${wanted}, found ${describeToken(found)}`, slip?.help);
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, previous, ruleName }) {
    const found = actual[0] as IToken;
    const firsts = expectedIterationPaths.map((path) => path[0]).filter((t): t is TokenType => t !== undefined);
    const slip = slipHelp(found, previous, firsts, ruleName);
    const wanted = RULE_EXPECTATIONS[ruleName] ?? joinAlternatives(firsts.map(friendly));
    return withHelp(slip?.message ?? `expected ${wanted}, found ${describeToken(found)}`, slip?.help);
  },
};

/** The message for a token that cannot start a top-level block. */
function topLevelMessage(found: IToken): string {
  let help: string | undefined;
  if (tokenMatcher(found, T.RCurly)) help = "this `}` has no matching `{`";
  else if (isOneOf(found, [T.Allow, T.Deny, T.Let, T.Mode, T.Applies])) {
    help = "rules, `let`, `mode` and `applies when` go inside a `policy \"name\" { … }` block";
  } else if (tokenMatcher(found, T.Expect)) help = "`expect` goes inside a `test \"name\" { … }` block";
  else help = slipHelp(found, undefined, [], "file")?.help;
  return withHelp(`expected \`policy\` or \`test\`, found ${describeToken(found)}`, help);
}

/**
 * The grammar. Rule names are the nonterminals of docs/language.md's EBNF.
 * Precedence is encoded by the rule chain expression (or) → andExpr →
 * notExpr → primary (comparison), loosest first.
 */
export class PolicyParser extends CstParser {
  // Alternatives of each OR, built on first use and reused: chevrotain's
  // performance guide (creating the closures on every call costs a lot on big files).
  private declarationAlts?: IOrAlt<unknown>[];
  private policyItemAlts?: IOrAlt<unknown>[];
  private letValueAlts?: IOrAlt<unknown>[];
  private effectAlts?: IOrAlt<unknown>[];
  private primaryAlts?: IOrAlt<unknown>[];
  private comparisonAlts?: IOrAlt<unknown>[];
  private presenceAlts?: IOrAlt<unknown>[];
  private compareOpAlts?: IOrAlt<unknown>[];
  private operandAlts?: IOrAlt<unknown>[];
  private listElementAlts?: IOrAlt<unknown>[];
  private literalAlts?: IOrAlt<unknown>[];
  private testStatementAlts?: IOrAlt<unknown>[];
  private expectEffectAlts?: IOrAlt<unknown>[];

  constructor() {
    super([...T.ALL_TOKENS], {
      recoveryEnabled: true,
      // AST spans are built from the tokens, which carry full positions
      // (lexer.ts); CST node locations would duplicate them and cost a fifth
      // of the parse time on a 10,000-rule file.
      nodeLocationTracking: "none",
      errorMessageProvider: wardErrorMessages,
      maxLookahead: 2,
    });
    this.performSelfAnalysis();
  }

  /** file = { declaration } ; */
  public file = this.RULE("file", () => {
    this.MANY(() => this.SUBRULE(this.declaration));
  });

  /** declaration = policy | test ; */
  public declaration = this.RULE("declaration", () => {
    this.OR((this.declarationAlts ??= [{ ALT: () => this.SUBRULE(this.policy) }, { ALT: () => this.SUBRULE(this.test) }]));
  });

  /** policy = "policy" STRING "{" { policyItem } "}" ; */
  public policy = this.RULE("policy", () => {
    this.CONSUME(T.Policy);
    this.CONSUME(T.StringLiteral);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.policyItem));
    this.CONSUME(T.RCurly);
  });

  /** policyItem = appliesClause | modeClause | letDecl | ruleDecl ; */
  public policyItem = this.RULE("policyItem", () => {
    this.OR(
      (this.policyItemAlts ??= [
        { ALT: () => this.SUBRULE(this.appliesClause) },
        { ALT: () => this.SUBRULE(this.modeClause) },
        { ALT: () => this.SUBRULE(this.letDecl) },
        { ALT: () => this.SUBRULE(this.ruleDecl) },
      ]),
    );
  });

  /** appliesClause = "applies" "when" expression ; */
  public appliesClause = this.RULE("appliesClause", () => {
    this.CONSUME(T.Applies);
    this.CONSUME(T.When);
    this.SUBRULE(this.expression);
  });

  /** modeClause = "mode" NAME ; */
  public modeClause = this.RULE("modeClause", () => {
    this.CONSUME(T.Mode);
    this.CONSUME(T.Identifier);
  });

  /** letDecl = "let" NAME "=" ( literal | list ) ; */
  public letDecl = this.RULE("letDecl", () => {
    this.CONSUME(T.Let);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Assign);
    this.OR((this.letValueAlts ??= [{ ALT: () => this.SUBRULE(this.literal) }, { ALT: () => this.SUBRULE(this.list) }]));
  });

  /** ruleDecl = ( "allow" | "deny" ) STRING "when" expression ; */
  public ruleDecl = this.RULE("ruleDecl", () => {
    this.OR((this.effectAlts ??= [{ ALT: () => this.CONSUME(T.Allow) }, { ALT: () => this.CONSUME(T.Deny) }]));
    this.CONSUME(T.StringLiteral);
    this.CONSUME(T.When);
    this.SUBRULE(this.expression);
  });

  /** expression = andExpr { "or" andExpr } ; */
  public expression = this.RULE("expression", () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  /** andExpr = notExpr { "and" notExpr } ; */
  public andExpr = this.RULE("andExpr", () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  /** notExpr = { "not" } primary ; (iterative, so a long `not not …` chain cannot exhaust the stack) */
  public notExpr = this.RULE("notExpr", () => {
    this.MANY(() => this.CONSUME(T.Not));
    this.SUBRULE(this.primary);
  });

  /** primary = "(" expression ")" | comparison ; */
  public primary = this.RULE("primary", () => {
    this.OR(
      (this.primaryAlts ??= [
        {
          ALT: () => {
            this.CONSUME(T.LParen);
            this.SUBRULE(this.expression);
            this.CONSUME(T.RParen);
          },
        },
        { ALT: () => this.SUBRULE(this.comparison) },
      ]),
    );
  });

  /** comparison = operand [ compareOp operand | "is" ( "present" | "absent" ) ] ; */
  public comparison = this.RULE("comparison", () => {
    this.SUBRULE(this.operand);
    this.OPTION(() => {
      this.OR(
        (this.comparisonAlts ??= [
          {
            ALT: () => {
              this.SUBRULE(this.compareOp);
              this.SUBRULE2(this.operand);
            },
          },
          {
            ALT: () => {
              this.CONSUME(T.Is);
              this.OR2((this.presenceAlts ??= [{ ALT: () => this.CONSUME(T.Present) }, { ALT: () => this.CONSUME(T.Absent) }]));
            },
          },
        ]),
      );
    });
  });

  /** compareOp = "==" | "!=" | "in" | "matches" | "starts_with" | "ends_with" | "contains" | "matches_regex" | "<" | "<=" | ">" | ">=" ; */
  public compareOp = this.RULE("compareOp", () => {
    this.OR((this.compareOpAlts ??= T.COMPARE_OPERATORS.map((op) => ({ ALT: () => this.CONSUME(op) }))));
  });

  /** operand = literal | list | nameRef ; */
  public operand = this.RULE("operand", () => {
    this.OR(
      (this.operandAlts ??= [{ ALT: () => this.SUBRULE(this.literal) }, { ALT: () => this.SUBRULE(this.list) }, { ALT: () => this.SUBRULE(this.nameRef) }]),
    );
  });

  /** nameRef = NAME { "." NAME } [ "[" STRING "]" ] ; */
  public nameRef = this.RULE("nameRef", () => {
    this.CONSUME(T.Identifier);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME2(T.Identifier);
    });
    this.OPTION(() => {
      this.CONSUME(T.LBracket);
      this.CONSUME(T.StringLiteral);
      this.CONSUME(T.RBracket);
    });
  });

  /** list = "[" [ listElement { "," listElement } [ "," ] ] "]" ; (commas are checked in cstToAst) */
  public list = this.RULE("list", () => {
    this.CONSUME(T.LBracket);
    this.MANY(() => {
      this.SUBRULE(this.listElement);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBracket);
  });

  /** listElement = literal | NAME ; */
  public listElement = this.RULE("listElement", () => {
    this.OR((this.listElementAlts ??= [{ ALT: () => this.SUBRULE(this.literal) }, { ALT: () => this.SUBRULE(this.nameRef) }]));
  });

  /** literal = STRING | NUMBER | DURATION | "true" | "false" ; */
  public literal = this.RULE("literal", () => {
    this.OR(
      (this.literalAlts ??= [
        { ALT: () => this.CONSUME(T.StringLiteral) },
        { ALT: () => this.CONSUME(T.NumberLiteral) },
        { ALT: () => this.CONSUME(T.DurationLiteral) },
        { ALT: () => this.CONSUME(T.True) },
        { ALT: () => this.CONSUME(T.False) },
      ]),
    );
  });

  /** test = "test" STRING "{" { testStatement } "}" ; */
  public test = this.RULE("test", () => {
    this.CONSUME(T.Test);
    this.CONSUME(T.StringLiteral);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.testStatement));
    this.CONSUME(T.RCurly);
  });

  /** testStatement = expectStatement | givenStatement ; */
  public testStatement = this.RULE("testStatement", () => {
    this.OR((this.testStatementAlts ??= [{ ALT: () => this.SUBRULE(this.expectStatement) }, { ALT: () => this.SUBRULE(this.givenStatement) }]));
  });

  /** givenStatement = NAME { literal } ; e.g. `request "GET" "/x"` */
  public givenStatement = this.RULE("givenStatement", () => {
    this.CONSUME(T.Identifier);
    this.MANY(() => this.SUBRULE(this.literal));
  });

  /** expectStatement = "expect" ( "allow" | "deny" ) [ "by" STRING { "," STRING } ] [ "status" NUMBER ] ; */
  public expectStatement = this.RULE("expectStatement", () => {
    this.CONSUME(T.Expect);
    this.OR((this.expectEffectAlts ??= [{ ALT: () => this.CONSUME(T.Allow) }, { ALT: () => this.CONSUME(T.Deny) }]));
    this.OPTION(() => {
      this.CONSUME(T.By);
      this.CONSUME(T.StringLiteral);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.CONSUME2(T.StringLiteral);
      });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Status);
      this.CONSUME(T.NumberLiteral);
    });
  });
}

/**
 * The one module-level parser instance (design.md allows exactly this one
 * piece of shared state). Building a chevrotain parser runs its grammar
 * analysis, which is too slow to repeat per file; between calls the instance
 * holds no data that outlives `parseTokens` (its `input` is reset each time),
 * and JavaScript runs one `parseTokens` at a time.
 */
const parser = new PolicyParser();

/** The CSTs of the declarations that parsed, and the syntax errors. */
export interface ParseTokensResult {
  /** One `declaration` CST node per top-level block, in source order (some may be partial after recovery). */
  readonly declarations: CstNode[];
  readonly diagnostics: Diagnostic[];
}

function isStartOfDeclaration(token: IToken): boolean {
  return tokenMatcher(token, T.Policy) || tokenMatcher(token, T.Test);
}

/**
 * Parses tokens into declaration CSTs. When the top level meets a token that
 * cannot start a block, it reports it and resumes at the next `policy` or
 * `test`, so errors in later blocks are reported too. `next` is the token
 * after `tokens` when the caller parses a file block by block: an error at
 * the end of `tokens` is then reported at `next` (a block missing its `}`).
 */
export function parseTokens(file: string, tokens: readonly IToken[], next?: IToken): ParseTokensResult {
  const declarations: CstNode[] = [];
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<number>();
  let rest = tokens.slice();
  while (rest.length > 0) {
    parser.input = rest;
    const cst = parser.file();
    const found = (cst.children["declaration"] ?? []) as CstNode[];
    declarations.push(...found);
    let resumeAt = -1;
    for (const error of parser.errors) {
      const notAllParsed = error.name === "NotAllInputParsedException";
      const previous = (error as { previousToken?: IToken }).previousToken;
      const diagnostic =
        next !== undefined && tokenMatcher(error.token, EOF)
          ? // The run ends where the next block starts: report what the parser really met there.
            toDiagnostic(file, atNextBlock(error.message, next), next, previous, tokens)
          : toDiagnostic(file, error.message, error.token, previous, tokens);
      const key = diagnostic.span?.start.offset ?? -1;
      if (!seen.has(key)) {
        seen.add(key);
        diagnostics.push(diagnostic);
      }
      if (notAllParsed) resumeAt = rest.indexOf(error.token);
    }
    if (resumeAt === -1) break;
    let resume = resumeAt + 1;
    while (resume < rest.length && !isStartOfDeclaration(rest[resume] as IToken)) resume++;
    rest = rest.slice(resume);
  }
  parser.input = [];
  return { declarations, diagnostics };
}

/** Rewrites an "…, found the end of the file" message for a run that really ends at the next block's keyword. */
function atNextBlock(message: string, next: IToken): string {
  const [text] = message.split(HELP_SEPARATOR) as [string];
  const found = text.replace(/found the end of the file$/, `found ${describeToken(next)}`);
  return withHelp(found, `\`${next.image}\` starts a new block, so the block before it is unfinished (is a \`}\` missing?)`);
}

function toDiagnostic(file: string, fullMessage: string, token: IToken, previous: IToken | undefined, tokens: readonly IToken[]): Diagnostic {
  const [message, help] = fullMessage.split(HELP_SEPARATOR) as [string, string | undefined];
  let span;
  if (tokenMatcher(token, EOF) || Number.isNaN(token.startOffset)) {
    // At the end of the file: point just past the last token, where the missing piece belongs.
    const last = previous !== undefined && !Number.isNaN(previous.startOffset) ? previous : tokens[tokens.length - 1];
    if (last === undefined) {
      span = { file, start: { offset: 0, line: 1, column: 1 }, end: { offset: 0, line: 1, column: 1 } };
    } else {
      const end = spanOfToken(file, last).end;
      span = { file, start: end, end };
    }
  } else {
    span = spanOfToken(file, token);
  }
  return help === undefined
    ? { code: "syntax_error", severity: "error", message, span }
    : { code: "syntax_error", severity: "error", message, span, help };
}
