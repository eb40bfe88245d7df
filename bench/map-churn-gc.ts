/**
 * `npx tsx bench/map-churn-gc.ts`: shows, without any server, the garbage
 * collector state a long-lived HTTP/2 connection falls into (docs/serve.md,
 * "A long-lived connection").
 *
 * Node's HTTP/2 session keeps its open streams in a `Map`: each call adds one
 * and deletes it. This does the same with a long-lived `Map` (16 open entries
 * of about 4 KB each) and reports the young-generation collections' pause per
 * 100,000 entries, before and after one full collection. V8 replaces a `Map`'s
 * table as entries come and go, and the replaced table keeps the entries it
 * held and a link to its successor. Once a full collection has moved the
 * current table to the old generation, every young collection keeps the
 * recent entries alive through that chain, and the pauses grow many times
 * over for as long as the `Map` lives. Set `MAP_CHURN_PLAIN=1` to hold the
 * entries in an array instead: then nothing changes. Set `MAP_CHURN_RENEW=1`
 * to put a copy of the `Map` in its place after every full collection, which
 * is what `ward serve` does to each connection's stream table
 * (src/ext-authz/stream-map-renewal.ts): then nothing changes either.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
const plain = process.env["MAP_CHURN_PLAIN"] === "1";
const renew = !plain && process.env["MAP_CHURN_RENEW"] === "1";
const ENTRIES_PER_PHASE = 400_000;
const OPEN = 16;

let minorMs = 0;
let majorCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minorMs += entry.duration;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      majorCount++;
      if (renew) streams = new Map(streams);
    }
  }
}).observe({ entryTypes: ["gc"] });

let streams = new Map<number, { id: number; state: number[] }>();
const open: { id: number; state: number[] }[] = [];
let nextId = 0;
function churn(count: number): void {
  for (let i = 0; i < count; i++) {
    const stream = { id: nextId, state: new Array<number>(500).fill(nextId) };
    nextId++;
    open.push(stream);
    if (!plain) streams.set(stream.id, stream);
    const done = open.length > OPEN ? open.shift()! : undefined;
    if (done && !plain) streams.delete(done.id);
  }
}

/** Churns in slices, letting the observer run between them; resolves with the minor GC pause per 100,000 entries. */
function phase(): Promise<{ minorMsPer100k: number; fullCollections: number }> {
  const startMinor = minorMs;
  const startMajor = majorCount;
  let done = 0;
  return new Promise((resolve) => {
    const slice = () => {
      churn(5_000);
      done += 5_000;
      if (done < ENTRIES_PER_PHASE) setImmediate(slice);
      else setTimeout(() => resolve({ minorMsPer100k: ((minorMs - startMinor) * 100_000) / done, fullCollections: majorCount - startMajor }), 50);
    };
    slice();
  });
}

const before = await phase();
collect();
const after = await phase();
const fmt = (p: { minorMsPer100k: number; fullCollections: number }) => `${p.minorMsPer100k.toFixed(1)} ms of young-generation pauses per 100,000 entries (${p.fullCollections} full collections)`;
const what = plain ? "array" : renew ? "long-lived Map, renewed after full collections" : "long-lived Map";
console.log(`${what}, before one full collection: ${fmt(before)}`);
console.log(`${what}, after it:                  ${fmt(after)}`);
