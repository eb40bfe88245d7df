/**
 * The rule index: a pre-filter so that a decision touches only the rules (or
 * policies) that can match. It never decides anything: every candidate it
 * returns still runs its full condition, and an entry it does not return is one
 * whose condition is certainly false for the request.
 *
 * Why that holds: an entry is filed under ONE of its top-level conjuncts
 * (`a and b and c` is false whenever one conjunct is), and only under a
 * conjunct that is false when the attribute is missing or when the value is
 * not one of the conjunct's keys:
 * - `attr == "x"`, `attr in ["x", "y"]`, `attr matches "x"` (no wildcard) → exact keys;
 * - `attr matches "glob"` / `attr in [globs]` → the glob's path in a segment
 *   trie (literal segments as edges, a `*` segment as a wildcard edge, `**` as
 *   "anything below");
 * - `attr starts_with "p"` → the whole segments of `p`, open below;
 * - `(c1 or c2 …)` where every `ci` is indexable on the same attribute → the union of their keys.
 * Only single-valued string attributes are indexed (not lists, numbers or
 * addresses), and never through `not`, `!=` or presence tests. Entries without
 * such a conjunct go in the fallback list, which every lookup returns.
 *
 * Which conjunct: the one whose keys are shared by the fewest entries (counted
 * over the whole set at compile time), exact keys preferred over tries. A
 * rule best filed through its policy's `applies when` is instead bound to the
 * policy and run whenever the policy applies.
 *
 * A lookup reads each indexed attribute once: missing skips that index (no
 * conjunct on it can hold); a present non-string value is malformed input and
 * throws, so the decision fails closed instead of silently skipping rules.
 */
import type { AttributeRef, CheckedExpr } from "../dsl/checked.js";
import { attributeId, readerFor, type AttributeReader } from "./attributes.js";
import { globTriePath, isGlobPattern, prefixTriePath, type GlobTriePath } from "./glob.js";
import type { RequestInput } from "./input.js";
import { typeError } from "./matchers.js";

/** One entry to index: an id and the conjuncts it may be filed under. */
export interface IndexEntry {
  readonly id: number;
  readonly conjuncts: readonly CheckedExpr[];
  /**
   * Conjuncts of the entry's policy's `applies when`. When one of them is the
   * best key, the entry is not filed but reported as `bound`: the caller
   * evaluates it whenever its policy applies, which saves a second lookup of
   * the same key (its policy was found through it already).
   */
  readonly policyConjuncts?: readonly CheckedExpr[];
}

/**
 * What lookups return: bucket numbers. Bucket `b` holds the ids
 * `ids[bucketStart[b]] … ids[bucketStart[b + 1] - 1]` (all buckets in one flat
 * array, so reading a bucket touches contiguous memory). An id that can be
 * reached through more than one bucket for the same request (overlapping
 * globs, or an exact key and a glob) is stored as `~id` (negative): callers
 * dedup those, and only those.
 */
export interface RuleIndex {
  /** Appends the numbers of the candidate buckets for a request to `out`. */
  lookup(input: RequestInput, out: number[]): void;
  readonly ids: Int32Array;
  readonly bucketStart: Int32Array;
  /** Entries bound to their policy instead of filed (see `IndexEntry.policyConjuncts`). */
  readonly bound: readonly number[];
  /** Statistics for tests and the benchmark. */
  readonly stats: IndexStats;
}

/** How entries were filed. */
export interface IndexStats {
  readonly entries: number;
  readonly fallback: number;
  /** Attribute id → entries filed under it. */
  readonly byAttribute: Readonly<Record<string, number>>;
  /** Entries bound to their policy's applicability. */
  readonly boundToPolicy: number;
}

/** The keys one conjunct offers. */
interface KeySet {
  readonly attr: AttributeRef;
  readonly attrId: string;
  readonly exact: readonly string[];
  readonly globs: readonly string[];
  readonly prefixes: readonly string[];
}

const INDEXABLE_TYPES = new Set(["string", "spiffe_id", "path"]);

/** Flattens nested top-level `and`s into conjuncts. */
export function conjunctsOf(e: CheckedExpr | undefined): CheckedExpr[] {
  if (e === undefined) return [];
  if (e.kind === "and") return e.operands.flatMap((o) => conjunctsOf(o));
  return [e];
}

/** A trie path is useful only when it pins at least one non-empty literal segment besides the `spiffe:` scheme. */
function isSelective(path: GlobTriePath): boolean {
  return path.steps.some((s, i) => s !== undefined && s.length > 0 && !(i === 0 && s === "spiffe:"));
}

function keysOf(e: CheckedExpr): KeySet | undefined {
  if (e.kind === "or") {
    let merged: KeySet | undefined;
    for (const o of e.operands) {
      const k = keysOf(o);
      if (k === undefined) return undefined;
      if (merged === undefined) merged = k;
      else if (merged.attrId !== k.attrId) return undefined;
      else {
        merged = {
          ...merged,
          exact: [...merged.exact, ...k.exact],
          globs: [...merged.globs, ...k.globs],
          prefixes: [...merged.prefixes, ...k.prefixes],
        };
      }
    }
    return merged;
  }
  if (e.kind !== "compare" || !INDEXABLE_TYPES.has(e.attribute.type)) return undefined;
  const attr = e.attribute;
  const attrId = attributeId(attr);
  const v = e.value;
  const fromPatterns = (patterns: readonly string[]): KeySet | undefined => {
    const exact = patterns.filter((p) => !isGlobPattern(p));
    const globs = patterns.filter((p) => isGlobPattern(p));
    if (!globs.every((g) => isSelective(globTriePath(g)))) return undefined;
    return { attr, attrId, exact, globs, prefixes: [] };
  };
  switch (e.op) {
    case "==":
      return v.kind === "string" ? { attr, attrId, exact: [v.value], globs: [], prefixes: [] } : undefined;
    case "in":
      if (v.kind === "string_set") return { attr, attrId, exact: v.values, globs: [], prefixes: [] };
      if (v.kind === "glob") return fromPatterns(v.patterns);
      return undefined;
    case "matches":
      if (v.kind === "glob") return fromPatterns(v.patterns);
      if (v.kind === "string") return fromPatterns([v.value]);
      if (v.kind === "string_set") return fromPatterns(v.values);
      return undefined;
    case "starts_with": {
      const prefixes = v.kind === "string" ? [v.value] : v.kind === "string_set" ? v.values : undefined;
      if (prefixes === undefined || !prefixes.every((p) => isSelective(prefixTriePath(p)))) return undefined;
      return { attr, attrId, exact: [], globs: [], prefixes };
    }
    default:
      return undefined;
  }
}

/** A node of the segment trie. */
interface TrieNode {
  children: Map<string, TrieNode> | undefined;
  star: TrieNode | undefined;
  /** Entries whose pattern may match any continuation from here (`**`, `starts_with`). */
  any: number[] | undefined;
  /** Entries whose pattern ends exactly here. */
  end: number[] | undefined;
}

function newNode(): TrieNode {
  return { children: undefined, star: undefined, any: undefined, end: undefined };
}

function insertPath(root: TrieNode, path: GlobTriePath, id: number): void {
  let node = root;
  for (const step of path.steps) {
    if (step === undefined) {
      node.star ??= newNode();
      node = node.star;
    } else {
      node.children ??= new Map();
      let child = node.children.get(step);
      if (child === undefined) {
        child = newNode();
        node.children.set(step, child);
      }
      node = child;
    }
  }
  const bucket = path.open ? (node.any ??= []) : (node.end ??= []);
  if (bucket[bucket.length - 1] !== id) bucket.push(id);
}

/**
 * The trie as lookups use it: chains of single-child literal nodes are
 * compressed into one edge whose label spans several segments
 * (`spiffe://prod.example.com/ns`), and an edge is matched in place with
 * `startsWith` at an offset, so a walk allocates no substrings except at a
 * node with many children (a `Map` keyed by the next segment).
 */
interface Edge {
  /** One or more literal segments joined by `/`. */
  readonly label: string;
  readonly node: FrozenNode;
}

/** Bucket numbers; -1 for none. */
interface FrozenNode {
  readonly any: number;
  readonly end: number;
  readonly star: FrozenNode | undefined;
  /** Few children: scanned. */
  readonly edges: readonly Edge[] | undefined;
  /** Many children: by their first segment. */
  readonly byFirst: ReadonlyMap<string, Edge> | undefined;
}

const SCAN_LIMIT = 6;

/** Collects buckets into one flat array. */
class BucketTable {
  private readonly ids: number[] = [];
  private readonly starts: number[] = [0];

  /** Adds a bucket; returns its number (-1 for an empty or missing one). */
  add(bucket: readonly number[] | undefined): number {
    if (bucket === undefined || bucket.length === 0) return -1;
    this.ids.push(...bucket);
    this.starts.push(this.ids.length);
    return this.starts.length - 2;
  }

  build(): { ids: Int32Array; bucketStart: Int32Array } {
    return { ids: Int32Array.from(this.ids), bucketStart: Int32Array.from(this.starts) };
  }
}

function freeze(node: TrieNode, table: BucketTable): FrozenNode {
  const edges: Edge[] = [];
  const byFirst = new Map<string, Edge>();
  for (const [first, child] of node.children ?? []) {
    let label = first;
    let c = child;
    // Compress: walk down while the node is a bare link (one literal child, nothing else).
    while (c.star === undefined && c.any === undefined && c.end === undefined && c.children?.size === 1) {
      const [seg, next] = c.children.entries().next().value as [string, TrieNode];
      label += "/" + seg;
      c = next;
    }
    const edge = { label, node: freeze(c, table) };
    edges.push(edge);
    byFirst.set(first, edge);
  }
  return {
    any: table.add(node.any),
    end: table.add(node.end),
    star: node.star === undefined ? undefined : freeze(node.star, table),
    edges: edges.length > 0 && edges.length <= SCAN_LIMIT ? edges : undefined,
    byFirst: edges.length > SCAN_LIMIT ? byFirst : undefined,
  };
}

/** True when `label` sits at `from` in `value` and ends at a segment boundary. */
function edgeMatches(label: string, value: string, from: number): boolean {
  const endPos = from + label.length;
  return (endPos === value.length || value.charCodeAt(endPos) === 47) && value.startsWith(label, from);
}

/**
 * Walks the trie along the value's `/`-separated segments from offset `from`,
 * collecting every bucket that may hold a match. `from > value.length` means
 * every segment was consumed (so `""` is one empty segment, as `split` has it).
 * A literal edge and a `*` edge may both match: the walk follows both
 * (recursion only there). Siblings never share a first segment, so at most one
 * literal edge matches.
 */
function walkTrie(start: FrozenNode, value: string, from: number, out: number[]): void {
  let node = start;
  for (;;) {
    if (node.any >= 0) out.push(node.any);
    if (from > value.length) {
      if (node.end >= 0) out.push(node.end);
      return;
    }
    let next: FrozenNode | undefined;
    let nextFrom = 0;
    if (node.edges !== undefined) {
      for (let k = 0; k < node.edges.length; k++) {
        const e = node.edges[k] as Edge;
        if (edgeMatches(e.label, value, from)) {
          next = e.node;
          nextFrom = from + e.label.length + 1;
          break;
        }
      }
    } else if (node.byFirst !== undefined) {
      const slash = value.indexOf("/", from);
      const e = node.byFirst.get(value.slice(from, slash === -1 ? value.length : slash));
      if (e !== undefined && edgeMatches(e.label, value, from)) {
        next = e.node;
        nextFrom = from + e.label.length + 1;
      }
    }
    if (node.star !== undefined) {
      // `*` consumes exactly one segment.
      const slash = value.indexOf("/", from);
      if (next !== undefined) walkTrie(next, value, nextFrom, out);
      node = node.star;
      from = slash === -1 ? value.length + 1 : slash + 1;
      continue;
    }
    if (next === undefined) return;
    node = next;
    from = nextFrom;
  }
}

/** The index over one attribute. */
interface AttributeIndex {
  readonly read: AttributeReader;
  readonly exact: Map<string, number[]>;
  trie: TrieNode | undefined;
}

/** The index over one attribute, as lookups use it: exact keys map to bucket numbers. */
interface FrozenIndex {
  readonly attrId: string;
  readonly read: AttributeReader;
  readonly exact: ReadonlyMap<string, number> | undefined;
  readonly trie: FrozenNode | undefined;
}

/** Entries a build handles between two pauses (`ruleIndexSteps`). */
const ENTRIES_PER_STEP = 256;

function* keyCounts(entries: readonly IndexEntry[]): Generator<void, Map<string, number>, void> {
  const counts = new Map<string, number>();
  let handled = 0;
  for (const entry of entries) {
    if (++handled % ENTRIES_PER_STEP === 0) yield;
    const seen = new Set<string>();
    for (const c of [...entry.conjuncts, ...(entry.policyConjuncts ?? [])]) {
      const k = keysOf(c);
      if (k === undefined) continue;
      for (const x of k.exact) seen.add(`${k.attrId}\0=${x}`);
      for (const x of k.globs) seen.add(`${k.attrId}\0g${x}`);
      for (const x of k.prefixes) seen.add(`${k.attrId}\0p${x}`);
    }
    for (const s of seen) counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  return counts;
}

/** Estimated candidates a conjunct's keys bring per lookup (lower is better). */
function costOf(k: KeySet, counts: ReadonlyMap<string, number>): number {
  let cost = 0;
  for (const x of k.exact) cost += counts.get(`${k.attrId}\0=${x}`) ?? 1;
  // Trie entries are shared with neighbouring patterns and cost a walk: weigh them more.
  for (const x of k.globs) cost += 2 * (counts.get(`${k.attrId}\0g${x}`) ?? 1) + 2;
  for (const x of k.prefixes) cost += 2 * (counts.get(`${k.attrId}\0p${x}`) ?? 1) + 4;
  return cost;
}

/** Builds the index over a set of entries. */
export function buildRuleIndex(entries: readonly IndexEntry[]): RuleIndex {
  const steps = ruleIndexSteps(entries);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** The work of `buildRuleIndex`, paused (`yield`) every `ENTRIES_PER_STEP` entries, so a compile can be sliced. */
export function* ruleIndexSteps(entries: readonly IndexEntry[]): Generator<void, RuleIndex, void> {
  const counts = yield* keyCounts(entries);
  const byAttr = new Map<string, AttributeIndex>();
  const fallback: number[] = [];
  const bound: number[] = [];
  const filed: Record<string, number> = {};
  let handled = 0;
  for (const entry of entries) {
    if (++handled % ENTRIES_PER_STEP === 0) yield;
    let best: KeySet | undefined;
    let bestCost = Infinity;
    let bestIsPolicy = false;
    // The entry's own conjuncts first: on a tie it is filed rather than bound.
    const own = entry.conjuncts.length;
    const all = entry.policyConjuncts === undefined ? entry.conjuncts : [...entry.conjuncts, ...entry.policyConjuncts];
    for (let c = 0; c < all.length; c++) {
      const k = keysOf(all[c] as CheckedExpr);
      if (k === undefined) continue;
      const cost = costOf(k, counts);
      if (cost < bestCost) {
        best = k;
        bestCost = cost;
        bestIsPolicy = c >= own;
      }
    }
    if (best === undefined) {
      fallback.push(entry.id);
      continue;
    }
    if (bestIsPolicy) {
      bound.push(entry.id);
      continue;
    }
    filed[best.attrId] = (filed[best.attrId] ?? 0) + 1;
    let ix = byAttr.get(best.attrId);
    if (ix === undefined) {
      ix = { read: readerFor(best.attr), exact: new Map(), trie: undefined };
      byAttr.set(best.attrId, ix);
    }
    // Distinct exact keys never match the same value; patterns may overlap each other or an exact key.
    const patterns = best.globs.length + best.prefixes.length;
    const stored = patterns >= 2 || (patterns >= 1 && best.exact.length >= 1) ? ~entry.id : entry.id;
    for (const x of best.exact) {
      let bucket = ix.exact.get(x);
      if (bucket === undefined) {
        bucket = [];
        ix.exact.set(x, bucket);
      }
      if (bucket[bucket.length - 1] !== stored) bucket.push(stored);
    }
    for (const g of best.globs) {
      ix.trie ??= newNode();
      insertPath(ix.trie, globTriePath(g), stored);
    }
    for (const p of best.prefixes) {
      ix.trie ??= newNode();
      insertPath(ix.trie, prefixTriePath(p), stored);
    }
  }
  // An attribute with a trie is walked anyway: its exact keys become trie leaves
  // (a key's own segments, ending there), which saves a separate map lookup.
  for (const ix of byAttr.values()) {
    if (ix.trie === undefined) continue;
    for (const [key, ids] of ix.exact) {
      for (const id of ids) insertPath(ix.trie, { steps: key.split("/"), open: false }, id);
    }
    ix.exact.clear();
  }
  const table = new BucketTable();
  const indexes: FrozenIndex[] = [...byAttr].map(([attrId, ix]) => ({
    attrId,
    read: ix.read,
    exact: ix.exact.size > 0 ? new Map([...ix.exact].map(([key, ids]) => [key, table.add(ids)])) : undefined,
    trie: ix.trie === undefined ? undefined : freeze(ix.trie, table),
  }));
  const fallbackBucket = table.add(fallback);
  const { ids, bucketStart } = table.build();
  const stats: IndexStats = { entries: entries.length, fallback: fallback.length, byAttribute: filed, boundToPolicy: bound.length };
  return {
    stats,
    bound,
    ids,
    bucketStart,
    lookup(input, out) {
      for (let k = 0; k < indexes.length; k++) {
        const ix = indexes[k] as FrozenIndex;
        const v = ix.read(input);
        if (typeof v !== "string") {
          if (v === undefined || v === null) continue; // missing: no conjunct on it can hold
          // Malformed input (a bug upstream): fail the decision closed, never skip the rules silently.
          throw typeError({ name: ix.attrId }, "string", v);
        }
        if (ix.exact !== undefined) {
          const bucket = ix.exact.get(v);
          if (bucket !== undefined) out.push(bucket);
        }
        if (ix.trie !== undefined) walkTrie(ix.trie, v, 0, out);
      }
      if (fallbackBucket >= 0) out.push(fallbackBucket);
    },
  };
}
