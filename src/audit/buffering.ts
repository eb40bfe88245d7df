/**
 * How much the audit sink buffers before it writes: shared by the sink and by
 * `ward serve`'s `--audit-buffer-bytes` (which must not load pino to parse a flag).
 */

/**
 * Default: a write per 256 KiB (about 100 records with their input). Each
 * write is a round trip to libuv's thread pool, which on a busy core costs
 * about as much as the write itself: at 64 KiB, about 2–3 µs per decision on
 * the bench machine (`npm run bench:grpc`, audit to file).
 */
export const DEFAULT_AUDIT_BUFFER_BYTES = 256 * 1024;

/** Largest: what a crash can lose is bounded by it. */
export const MAX_AUDIT_BUFFER_BYTES = 1024 * 1024;
