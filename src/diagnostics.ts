/**
 * Locations and diagnostics shared by every stage. Errors are data: each stage
 * returns a `Result` that carries diagnostics instead of throwing (throwing is
 * reserved for bugs). This module imports nothing.
 */

/** A position in a source text: `offset` is 0-based, `line` and `column` are 1-based. */
export interface Pos {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/** A half-open range `[start, end)` in one source file. */
export interface Span {
  readonly file: string;
  readonly start: Pos;
  readonly end: Pos;
}

export type Severity = "error" | "warning";

/**
 * One problem found in user input. `code` is a stable snake_case identifier
 * (users grep for it and tests pin it); `message` is lower-case with user text
 * in backticks; `help` is an optional hint such as "did you mean `==`?".
 */
export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
  readonly span?: Span;
  readonly help?: string;
}

/** The outcome of a stage: a value (with any warnings) or the errors that stopped it. */
export type Result<T> =
  | { readonly ok: true; readonly value: T; readonly diagnostics: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/** Builds a successful result. */
export function ok<T>(value: T, diagnostics: readonly Diagnostic[] = []): Result<T> {
  return { ok: true, value, diagnostics };
}

/** Builds a failed result. */
export function fail<T>(diagnostics: readonly Diagnostic[]): Result<T> {
  return { ok: false, diagnostics };
}

/** True when any diagnostic is an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

/** Sorts diagnostics by file, then position, then code, so output is stable. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort((a, b) => {
    const fa = a.span?.file ?? "";
    const fb = b.span?.file ?? "";
    if (fa !== fb) return fa < fb ? -1 : 1;
    const oa = a.span?.start.offset ?? -1;
    const ob = b.span?.start.offset ?? -1;
    if (oa !== ob) return oa - ob;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}

/** Computes the position of `offset` in `text`. */
export function positionAt(text: string, offset: number): Pos {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: end - lineStart + 1 };
}

/** Formats `file:line:col` for a span (or just the file name when there is no position). */
export function formatLocation(span: Span): string {
  return `${span.file}:${span.start.line}:${span.start.column}`;
}

/**
 * Renders a diagnostic the way compilers do:
 *
 * ```
 * policies/payments.ward:12:5: error: unknown attribute `request.paht` [unknown_attribute]
 *    12 |     request.paht == "/x"
 *       |     ^^^^^^^^^^^^
 *   = help: did you mean `request.path`?
 * ```
 *
 * `source` returns the text of a file, when it is known, to show the line and caret.
 */
export function renderDiagnostic(d: Diagnostic, source?: (file: string) => string | undefined): string {
  const where = d.span ? `${formatLocation(d.span)}: ` : "";
  const lines = [`${where}${d.severity}: ${d.message} [${d.code}]`];
  const text = d.span ? source?.(d.span.file) : undefined;
  if (d.span && text !== undefined) {
    const lineText = text.split(/\r?\n/)[d.span.start.line - 1];
    if (lineText !== undefined) {
      const gutter = String(d.span.start.line);
      const pad = " ".repeat(gutter.length);
      const startCol = d.span.start.column;
      const sameLine = d.span.end.line === d.span.start.line;
      const width = sameLine ? Math.max(1, d.span.end.column - startCol) : Math.max(1, lineText.length - startCol + 1);
      const visible = lineText.replace(/\t/g, " ");
      lines.push(` ${gutter} | ${visible}`);
      lines.push(` ${pad} | ${" ".repeat(Math.max(0, startCol - 1))}${"^".repeat(width)}`);
    }
  }
  if (d.help) lines.push(`  = help: ${d.help}`);
  return lines.join("\n");
}

/** Renders many diagnostics, sorted, separated by blank lines. */
export function renderDiagnostics(diagnostics: readonly Diagnostic[], source?: (file: string) => string | undefined): string {
  return sortDiagnostics(diagnostics)
    .map((d) => renderDiagnostic(d, source))
    .join("\n\n");
}
