/**
 * Segment globs for SPIFFE IDs and paths alike (docs/language.md, "Globs").
 *
 * A pattern is split on `/` into segments. A segment that is exactly `**`
 * matches any number (zero or more) of whole segments; any other `*` matches
 * zero or more characters *within one segment* and never crosses a `/`.
 * Every other character is literal: there is no `?`, no `[...]` and no escape.
 * Consecutive stars inside a segment (`a**b`) are the same as one star.
 *
 * The matcher is hand-written rather than a regex so that the segment rule is
 * exact and the cost is bounded: the classic "backtrack to the last star"
 * algorithm at the segment level (O(pattern segments × value segments)
 * segment tests, never exponential) and, inside a segment, an in-order
 * `indexOf` search of the literal pieces (linear in the segment length per piece).
 */

/** A compiled glob: true when `value` matches the whole pattern. */
export type GlobMatcher = (value: string) => boolean;

/** One segment of a compiled pattern. */
type Segment =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "globstar" }
  /** `parts` are the literal pieces between stars: `a*b*c` → `["a", "b", "c"]`, `*` → `["", ""]`. */
  | { readonly kind: "wild"; readonly parts: readonly string[]; readonly minLength: number };

/** True when the text contains a glob wildcard, i.e. it is not a plain literal. */
export function isGlobPattern(pattern: string): boolean {
  return pattern.includes("*");
}

function compileSegment(text: string): Segment {
  if (text === "**") return { kind: "globstar" };
  if (!text.includes("*")) return { kind: "literal", text };
  const parts = text.split("*");
  // Collapse runs of stars (`a**b` → pieces "a", "", "b"): empty inner pieces match trivially.
  const kept = [parts[0] as string, ...parts.slice(1, -1).filter((p) => p.length > 0), parts[parts.length - 1] as string];
  return { kind: "wild", parts: kept, minLength: kept.reduce((n, p) => n + p.length, 0) };
}

/** Matches the value segment `s[start, end)` (no `/` in it) against a `wild` segment. */
function matchWild(parts: readonly string[], minLength: number, s: string, start: number, end: number): boolean {
  if (end - start < minLength) return false;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!s.startsWith(first, start) || !s.endsWith(last, end)) return false;
  // Middle pieces, leftmost first, inside the window between the prefix and the suffix.
  // Leftmost placement is optimal for a star-separated sequence, so no backtracking is needed.
  let from = start + first.length;
  const limit = end - last.length;
  for (let k = 1; k < parts.length - 1; k++) {
    const piece = parts[k] as string;
    const at = s.indexOf(piece, from);
    if (at === -1 || at + piece.length > limit) return false;
    from = at + piece.length;
  }
  return true;
}

/** Matches the value segment `s[start, end)` against a literal or `wild` pattern segment. */
function matchSegment(seg: Segment, s: string, start: number, end: number): boolean {
  if (seg.kind === "literal") return end - start === seg.text.length && s.startsWith(seg.text, start);
  if (seg.kind === "wild") return matchWild(seg.parts, seg.minLength, s, start, end);
  return true;
}

/**
 * Matches the segments of `value` (split on `/`, walked in place rather than
 * split: this runs on every decision that reaches a general glob) against
 * pattern segments, `**` consuming any number of whole segments. Every other
 * pattern segment consumes exactly one value segment, so backtracking to the
 * most recent `**` only is complete. A value segment starts at `pos`; past the
 * last one, `pos` is `value.length + 1`.
 */
function matchSegments(pattern: readonly Segment[], value: string): boolean {
  const n = value.length;
  let pi = 0;
  let pos = 0;
  let starP = -1;
  let starPos = 0;
  while (pos <= n) {
    const seg = pattern[pi];
    if (seg !== undefined && seg.kind === "globstar") {
      starP = pi++;
      starPos = pos;
      continue;
    }
    const slash = value.indexOf("/", pos);
    const end = slash === -1 ? n : slash;
    if (seg !== undefined && matchSegment(seg, value, pos, end)) {
      pi++;
      pos = end + 1;
    } else if (starP >= 0) {
      // The `**` takes one more value segment; try the rest of the pattern from the next one.
      pi = starP + 1;
      const next = value.indexOf("/", starPos);
      starPos = next === -1 ? n + 1 : next + 1;
      pos = starPos;
    } else {
      return false;
    }
  }
  while (pi < pattern.length && (pattern[pi] as Segment).kind === "globstar") pi++;
  return pi === pattern.length;
}

/**
 * The simple shapes most globs take, which callers may test inline: a plain
 * literal, everything (`**`), or a literal subtree `a/b/**` (which matches
 * `a/b` itself, zero segments, and anything below `a/b/`).
 */
export type GlobShape =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "everything" }
  | { readonly kind: "subtree"; readonly base: string; readonly below: string }
  | { readonly kind: "general" };

/** Classifies a pattern (see `GlobShape`). */
export function globShape(pattern: string): GlobShape {
  if (!isGlobPattern(pattern)) return { kind: "literal", text: pattern };
  if (pattern === "**") return { kind: "everything" };
  if (pattern.endsWith("/**") && !isGlobPattern(pattern.slice(0, -3))) {
    const base = pattern.slice(0, -3);
    // Flat copies (not ropes), so the hot path compares plain strings.
    return { kind: "subtree", base: flat(base), below: flat(`${base}/`) };
  }
  return { kind: "general" };
}

/** A flat copy of a string (V8 may keep concatenations and slices as ropes or views). */
function flat(s: string): string {
  return Array.from(s).join("");
}

/**
 * Compiles one glob pattern. Plain literals become an equality test and the
 * very common `prefix/**` form a prefix test; everything else runs the segment matcher.
 */
export function compileGlob(pattern: string): GlobMatcher {
  const shape = globShape(pattern);
  switch (shape.kind) {
    case "literal":
      return (v) => v === pattern;
    case "everything":
      return () => true;
    case "subtree": {
      const { base, below } = shape;
      return (v) => v === base || v.startsWith(below);
    }
    case "general": {
      const segments = pattern.split("/").map(compileSegment);
      return (v) => matchSegments(segments, v);
    }
  }
}

/** A glob's place in the segment trie of the rule index: literal segments, `*` edges, then where it stops. */
export interface GlobTriePath {
  /** Literal segment text, or `undefined` for a segment with a star (followed for any value segment). */
  readonly steps: readonly (string | undefined)[];
  /** True when the pattern ends with `**` (or continues after one): any continuation may match. */
  readonly open: boolean;
}

/**
 * Where a glob sits in the segment trie. Segments after the first `**` are
 * ignored (the trie only pre-filters; the full matcher decides).
 */
export function globTriePath(pattern: string): GlobTriePath {
  const steps: (string | undefined)[] = [];
  for (const seg of pattern.split("/")) {
    if (seg === "**") return { steps, open: true };
    steps.push(seg.includes("*") ? undefined : seg);
  }
  return { steps, open: false };
}

/** Where a literal prefix (`starts_with`) sits in the segment trie: its whole segments, open-ended. */
export function prefixTriePath(prefix: string): GlobTriePath {
  const segments = prefix.split("/");
  // The last piece is a partial segment (possibly empty): the value's segment only starts with it.
  return { steps: segments.slice(0, -1), open: true };
}
