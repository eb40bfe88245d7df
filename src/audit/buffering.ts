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

/**
 * Default bound on record bytes handed to the destination and not yet written
 * (a log collector that stops reading, a hung disk): 64 MiB, about 25,000
 * records with their input, some seconds of a busy server. Past it records are
 * dropped, whole, and counted (docs/audit.md).
 */
export const DEFAULT_AUDIT_MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** Smallest bound `--audit-max-pending-bytes` takes: a full buffer must always fit. */
export const MIN_AUDIT_MAX_PENDING_BYTES = 2 * MAX_AUDIT_BUFFER_BYTES;

/** Largest bound `--audit-max-pending-bytes` takes (64 GiB). */
export const MAX_AUDIT_MAX_PENDING_BYTES = 64 * 1024 * 1024 * 1024;

/**
 * What the sink and the server do when the backlog reaches that bound:
 * `drop` records (whole, counted) and keep deciding, as OPA's decision logger
 * does; or `deny` calls (`audit_unavailable`) until the destination catches
 * up, so that no request is let through without its record.
 */
export type AuditBacklogFull = "drop" | "deny";

/** The values `--audit-backlog-full` takes. */
export const AUDIT_BACKLOG_FULL: readonly AuditBacklogFull[] = ["drop", "deny"];
