/**
 * Keeps a long-lived HTTP/2 connection out of a garbage-collection trap, by
 * giving each connection's stream table a fresh `Map` after every full
 * collection.
 *
 * Node's HTTP/2 session keeps its open streams in a `Map` (its private state's
 * `streams`), and every call adds one and deletes it. V8 replaces a `Map`'s
 * backing table as entries come and go, and a replaced table keeps the entries
 * it held and a link to its successor. A full collection moves the current
 * table to the old generation; from then on, every young-generation collection
 * finds the chain of dead successor tables through that old one and keeps them,
 * and the streams they hold, alive, and promotes them. Each call's stream and
 * everything it references (about 3 KB) is promoted, full collections follow
 * every second or so, and each of those moves the then current table to the old
 * generation again: the state lasts as long as the connection, and Envoy keeps
 * its connection to Ward open for hours. `npx tsx bench/map-churn-gc.ts` shows
 * it with a plain `Map`.
 *
 * A `Map` created after the full collection starts young. Copying the open
 * streams into one and putting it in place of the old lets the old table's
 * chain end (nothing adds to it any more): measured on the floor server of
 * `npm run bench:grpc` in that state, bytes promoted per call went from about
 * 2,700 to about 80 and CPU per call down by a fifth (docs/serve.md, "A
 * long-lived connection").
 *
 * This reaches into private state: grpc-js's sessions (its `http2Servers`)
 * and Node's session state (`session[kState].streams`, Node 20). It is safe
 * because Node reads that field afresh wherever it uses it, never keeping the
 * `Map` across a turn of the event loop, and the copy is made between turns
 * (in an immediate of its own), with every open stream in it. Where either is not shaped as
 * expected (another Node or grpc-js version), nothing is changed, the
 * renewal stops and says why once; test/ext-authz/stream-map-renewal.test.ts
 * fails on such an upgrade.
 */
import type * as grpc from "@grpc/grpc-js";

/** The part of Node's session state this touches. */
interface SessionState {
  streams: ReadonlyMap<unknown, unknown>;
}

/** What `startStreamMapRenewal` hands back. */
export interface StreamMapRenewal {
  /**
   * `true` once a connection's stream table was renewed, `false` once one was
   * not where expected (or grpc-js keeps its sessions elsewhere: then it
   * stops), `undefined` before any full collection found a connection.
   */
  supported(): boolean | undefined;
  /** How many stream tables were replaced so far. */
  renewals(): number;
  /** Stops: no more renewals. */
  stop(): void;
}

/** Where it reports, once, that it cannot work here. */
export interface RenewalLog {
  warn(obj: object, msg?: string): void;
}

/** Called after every full collection (see `watchFullCollections`). */
const fullCollectionListeners = new Set<() => void>();
/** Whether a canary is registered with `collected` (one at a time). */
let armed = false;

/**
 * Notices full collections without hooking into the collector: a
 * `FinalizationRegistry` reports its target only once a full collection has
 * collected it (V8's young-generation collections keep such targets), so
 * each report means one full collection ran. It registers a fresh canary
 * each time, and nothing ever looks at the canary: an earlier version polled
 * a `WeakRef` every 50 ms, and each `deref()` made during a collection's
 * incremental marking (which under load lasts longer than that) kept the
 * canary alive through it, so about half the full collections a busy server
 * ran on its own went unnoticed, and its connections fell back into the trap
 * this module is for (measured: 9 of 16 noticed, against 16 of 16 now;
 * test/ext-authz/stream-map-renewal.test.ts). A `gc` PerformanceObserver
 * would see every collection too, but it adds a callback and an entry to
 * every young-generation collection (dozens a second under load), and Node 24
 * has a reported loop of back-to-back collections with one connected
 * (nodejs/node#62721).
 *
 * A canary registered while the next full collection is already marking
 * survives that one, so of two back-to-back full collections the second may
 * go unnoticed; the one after is not. The listeners run in a turn of the
 * event loop of their own (`setImmediate`), never inside other JavaScript.
 */
const collected = new FinalizationRegistry<undefined>(() => {
  armed = false;
  if (fullCollectionListeners.size === 0) return;
  arm();
  setImmediate(() => {
    for (const listener of fullCollectionListeners) listener();
  }).unref();
});

function arm(): void {
  if (armed) return;
  armed = true;
  collected.register({}, undefined);
}

/**
 * Calls `listener` after every full garbage collection (see `collected`
 * above for which ones); returns the function that stops it. Exported for the
 * tests; the renewal below is its only user.
 */
export function watchFullCollections(listener: () => void): () => void {
  fullCollectionListeners.add(listener);
  arm();
  return () => {
    fullCollectionListeners.delete(listener);
  };
}

/** Finds the session's private state (`session[kState]`) and checks its shape; undefined when it is not as expected. */
function sessionState(session: object): SessionState | undefined {
  const key = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === "state");
  if (key === undefined) return undefined;
  const state = (session as Record<symbol, unknown>)[key];
  if (typeof state !== "object" || state === null) return undefined;
  const streams = (state as { streams?: unknown }).streams;
  if (!isMapLike(streams)) return undefined;
  return state as SessionState;
}

/** Node's stream table is a `SafeMap` (a `Map` subclass from Node's primordials, not `instanceof Map` here). */
function isMapLike(value: unknown): value is ReadonlyMap<unknown, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const map = value as Partial<Map<unknown, unknown>>;
  return (
    typeof map.get === "function" &&
    typeof map.set === "function" &&
    typeof map.delete === "function" &&
    typeof map.forEach === "function" &&
    typeof map.size === "number" &&
    typeof (value as { constructor?: unknown }).constructor === "function"
  );
}

/** The table's copy, of the same class, with the same entries in the same order. */
function copyOf(streams: ReadonlyMap<unknown, unknown>): ReadonlyMap<unknown, unknown> {
  const Ctor = streams.constructor as new (entries: Iterable<readonly [unknown, unknown]>) => ReadonlyMap<unknown, unknown>;
  const copy = new Ctor(streams);
  if (copy.size !== streams.size) throw new Error("the copied stream table lost entries");
  return copy;
}

/** The part of a session this reads besides its state. */
interface SessionLike {
  readonly destroyed?: boolean;
}

/**
 * The sessions grpc-js keeps for each of its HTTP/2 servers (its private
 * `http2Servers`, each entry's `sessions`), or undefined when it keeps them
 * elsewhere. They are read afresh at each renewal rather than followed
 * through events, so the renewal holds no session and adds no listener.
 */
function sessionsOf(server: grpc.Server): SessionLike[] | undefined {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return undefined;
  const all: SessionLike[] = [];
  for (const info of servers.values() as Iterable<unknown>) {
    const sessions = (info as { sessions?: unknown } | null)?.sessions;
    if (!(sessions instanceof Set)) return undefined;
    for (const session of sessions as Set<unknown>) if (typeof session === "object" && session !== null) all.push(session);
  }
  return all;
}

/**
 * Starts renewing the stream tables of the connections to `server`'s HTTP/2
 * servers after every full collection. Never throws: whatever goes wrong turns
 * it off and is logged once.
 */
export function startStreamMapRenewal(server: grpc.Server, log?: RenewalLog): StreamMapRenewal {
  let supported: boolean | undefined;
  let renewals = 0;
  let stopped = false;

  function unsupported(why: string): void {
    supported = false;
    stop();
    log?.warn({ why }, "HTTP/2 stream table renewal is off: long-lived connections will cost more garbage collection (docs/serve.md)");
  }

  function renewAll(): void {
    const sessions = sessionsOf(server);
    if (sessions === undefined) {
      unsupported("grpc-js keeps its HTTP/2 sessions elsewhere than this grpc-js version did");
      return;
    }
    for (const session of sessions) {
      if (session.destroyed === true) continue;
      const state = sessionState(session);
      if (state === undefined) {
        unsupported("Node's HTTP/2 session state is not shaped as this Node version's was");
        return;
      }
      state.streams = copyOf(state.streams);
      supported = true;
      renewals++;
    }
  }

  function onFullCollection(): void {
    if (stopped) return;
    try {
      renewAll();
    } catch (err) {
      unsupported(`renewing failed: ${(err as Error).message}`);
    }
  }

  function stop(): void {
    stopped = true;
    unwatch();
  }

  const unwatch = watchFullCollections(onFullCollection);
  return { supported: () => supported, renewals: () => renewals, stop };
}
