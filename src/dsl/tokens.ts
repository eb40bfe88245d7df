/**
 * The token vocabulary of the Ward policy language (docs/language.md, "Lexical
 * structure"). Every token type carries a `label`: the friendly name parser
 * errors use ("expected a string, found `}`"), after Cedar's table of friendly
 * token names.
 *
 * Order matters: chevrotain tries patterns in the order of `ALL_TOKENS` and
 * takes the first that matches, so longer operators come before their
 * prefixes (`==` before `=`, `matches_regex` before `matches`), and keywords
 * name `Identifier` as their `longer_alt` so that `inbound` stays a name.
 */
import { createToken, Lexer, type TokenType } from "chevrotain";

/** The lexer group that holds comments: they are kept (not skipped) so the formatter can print them back. */
export const COMMENT_GROUP = "comments";

/** Spaces, tabs, line breaks and a byte-order mark: skipped. */
export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\uFEFF]+/, group: Lexer.SKIPPED, line_breaks: true });

/** `# …` or `// …` up to the end of the line. */
export const Comment = createToken({ name: "Comment", pattern: /(?:#|\/\/)[^\n\r]*/, group: COMMENT_GROUP, label: "a comment" });

/**
 * A double-quoted string on one line. Escapes: `\"`, `\\`, `\n`, `\r`, `\t`,
 * `\uXXXX` and `\u{X…}`; the lexer reports any other escape.
 */
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/, label: "a string" });

/**
 * A string whose closing quote is missing before the end of the line. Never
 * reaches the parser: `tokenize` reports it and hands on a `StringLiteral`.
 */
export const UnterminatedString = createToken({ name: "UnterminatedString", pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?/, label: "an unterminated string" });

/** `'…'`: a slip for a double-quoted string. Never reaches the parser: `tokenize` reports it and hands on a `StringLiteral`. */
export const SingleQuotedString = createToken({ name: "SingleQuotedString", pattern: /'[^'\n\r]*'/, label: "a single-quoted string" });

/**
 * A path or SPIFFE ID written without quotes (`/api/v1/**`, `spiffe://td/x`):
 * a common slip. Never reaches the parser: `tokenize` reports it and hands on
 * a `StringLiteral`, so the rest of the condition is still checked. (Without
 * this token, `spiffe://…` would lex as a name, a stray `:` and a `//` comment.)
 */
export const UnquotedText = createToken({
  name: "UnquotedText",
  pattern: /spiffe:\/\/[^\s"'#,()[\]{}]*|\/[A-Za-z0-9_.*~-][A-Za-z0-9_.*~\/-]*/,
  label: "unquoted text",
});

/**
 * A number with a unit, such as `30s`, `15m`, `24h`, `7d`, `250ms` or `1h30m`.
 * Anything of the form digits-then-letters lexes as a duration so that a bad
 * unit (`30x`, `1.5h`) is one token with one clear error from the checker.
 */
export const DurationLiteral = createToken({ name: "DurationLiteral", pattern: /\d+(?:\.\d+)?[A-Za-z_][A-Za-z0-9_]*/, label: "a duration" });

/** A non-negative decimal number: `443`, `0.5`. */
export const NumberLiteral = createToken({ name: "NumberLiteral", pattern: /\d+(?:\.\d+)?/, label: "a number" });

/** A name: a `let` name, an attribute path segment, a `mode` value or a test statement keyword. */
export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: "a name" });

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(word), longer_alt: Identifier, label: `\`${word}\`` });
}

// Keywords: reserved, lower-case words (docs/language.md, "Lexical structure").
/** `policy`: starts a policy block. */
export const Policy = keyword("policy");
/** The `test` token. */
export const Test = keyword("test");
/** The `applies` token. */
export const Applies = keyword("applies");
/** The `when` token. */
export const When = keyword("when");
/** The `mode` token. */
export const Mode = keyword("mode");
/** The `let` token. */
export const Let = keyword("let");
/** The `allow` token. */
export const Allow = keyword("allow");
/** The `deny` token. */
export const Deny = keyword("deny");
/** The `and` token. */
export const And = keyword("and");
/** The `or` token. */
export const Or = keyword("or");
/** The `not` token. */
export const Not = keyword("not");
/** The `in` token. */
export const In = keyword("in");
/** The `is` token. */
export const Is = keyword("is");
/** The `present` token. */
export const Present = keyword("present");
/** The `absent` token. */
export const Absent = keyword("absent");
/** The `matches_regex` token. */
export const MatchesRegex = keyword("matches_regex");
/** The `matches` token. */
export const Matches = keyword("matches");
/** The `starts_with` token. */
export const StartsWith = keyword("starts_with");
/** The `ends_with` token. */
export const EndsWith = keyword("ends_with");
/** The `contains` token. */
export const Contains = keyword("contains");
/** The `true` token. */
export const True = keyword("true");
/** The `false` token. */
export const False = keyword("false");
/** The `expect` token. */
export const Expect = keyword("expect");
/** The `by` token. */
export const By = keyword("by");
/** The `status` token. */
export const Status = keyword("status");

function punct(name: string, pattern: RegExp, text: string): TokenType {
  return createToken({ name, pattern, label: `\`${text}\`` });
}

/** The `{` token. */
export const LCurly = punct("LCurly", /\{/, "{");
/** The `}` token. */
export const RCurly = punct("RCurly", /\}/, "}");
/** The `(` token. */
export const LParen = punct("LParen", /\(/, "(");
/** The `)` token. */
export const RParen = punct("RParen", /\)/, ")");
/** The `[` token. */
export const LBracket = punct("LBracket", /\[/, "[");
/** The `]` token. */
export const RBracket = punct("RBracket", /\]/, "]");
/** The `,` token. */
export const Comma = punct("Comma", /,/, ",");
/** The `.` token. */
export const Dot = punct("Dot", /\./, ".");
/** The `==` token. */
export const Equal = punct("Equal", /==/, "==");
/** The `!=` token. */
export const NotEqual = punct("NotEqual", /!=/, "!=");
/** The `<=` token. */
export const LessEqual = punct("LessEqual", /<=/, "<=");
/** The `>=` token. */
export const GreaterEqual = punct("GreaterEqual", />=/, ">=");
/** The `<` token. */
export const Less = punct("Less", /</, "<");
/** The `>` token. */
export const Greater = punct("Greater", />/, ">");
/** `=` binds a `let`; in a condition it is the classic slip for `==`. */
export const Assign = punct("Assign", /=/, "=");

/**
 * Operators from other languages (`&&`, `||`, `!`, `===`). The grammar never
 * accepts them; they are tokens only so the parser can say "use `and`".
 */
export const Slip = createToken({ name: "Slip", pattern: /===|&&|\|\||&|\|/, label: "an operator" });

/** A lone `!` (after `!=` in matching order): the slip for `not`. */
export const Bang = createToken({ name: "Bang", pattern: /!/, label: "`!`" });

/** Every token type, in matching order. */
export const ALL_TOKENS: readonly TokenType[] = [
  WhiteSpace,
  Comment,
  StringLiteral,
  UnterminatedString,
  SingleQuotedString,
  UnquotedText,
  DurationLiteral,
  NumberLiteral,
  Policy,
  Test,
  Applies,
  When,
  Mode,
  Let,
  Allow,
  Deny,
  And,
  Or,
  Not,
  In,
  Is,
  Present,
  Absent,
  MatchesRegex,
  Matches,
  StartsWith,
  EndsWith,
  Contains,
  True,
  False,
  Expect,
  By,
  Status,
  Identifier,
  LCurly,
  RCurly,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Dot,
  Slip,
  Equal,
  NotEqual,
  Bang,
  LessEqual,
  GreaterEqual,
  Less,
  Greater,
  Assign,
];

/** The keywords, as written; a name that is one of these cannot be a `let` name. */
export const KEYWORDS: ReadonlySet<string> = new Set(
  ALL_TOKENS.filter((t) => t.name.startsWith("Kw_")).map((t) => t.name.slice(3)),
);

/** The comparison operator tokens, in the order docs/language.md lists them. */
export const COMPARE_OPERATORS: readonly TokenType[] = [
  Equal,
  NotEqual,
  In,
  Matches,
  StartsWith,
  EndsWith,
  Contains,
  MatchesRegex,
  Less,
  LessEqual,
  Greater,
  GreaterEqual,
];
