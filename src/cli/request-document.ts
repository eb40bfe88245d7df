/**
 * Request documents for `ward eval --input` and a test's `input "file.json"`:
 * a compact input or an Envoy `CheckRequest` (proto3 JSON), read by the input
 * module into raw request pieces exactly as a live request would be; or a
 * decision record from Ward's audit log, whose `input` is what the server's
 * identity resolver and input builder produced at the time, so it is decided
 * as recorded (certificate attributes included).
 */
import { decodeInput, parseLogLine } from "../audit/decode.js";
import type { DecisionDeps } from "../decide.js";
import type { RequestInput } from "../engine/input.js";
import { fromInputDocument } from "../input/documents.js";
import type { RawRequest } from "../input/raw.js";

/** What a request document holds. */
export type RequestDocument =
  /** A compact input or a CheckRequest: raw pieces, still to be canonicalized and resolved. */
  | { readonly kind: "raw"; readonly raw: RawRequest }
  /** A decision record's `input`: canonical, caller already resolved. */
  | { readonly kind: "recorded"; readonly input: RequestInput };

/** A document read, or why it cannot be used (a lower-case sentence). */
export type RequestDocumentResult = { readonly ok: true; readonly document: RequestDocument } | { readonly ok: false; readonly message: string };

/** Reads a request document from its text (any of the three forms; detected from its fields). */
export function readRequestDocument(text: string): RequestDocumentResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (isDecisionRecord(json)) {
    const entry = parseLogLine(text);
    if (entry.kind === "skip") return { ok: false, message: `not a usable decision record: ${entry.message}` };
    if (entry.kind !== "decision") return { ok: false, message: "not a decision record" };
    if (entry.record.input === undefined) {
      return { ok: false, message: "the decision record has no `input` (the server was run with `--audit-input none`, or the request was refused before evaluation)" };
    }
    const decoded = decodeInput(entry.record.input);
    if (!decoded.ok) return { ok: false, message: `the decision record's input cannot be read: ${decoded.message}` };
    return { ok: true, document: { kind: "recorded", input: decoded.input } };
  }
  const read = fromInputDocument(json);
  if (!read.ok) return { ok: false, message: read.diagnostics.map((d) => (d.help !== undefined ? `${d.message} (${d.help})` : d.message)).join("; ") };
  return { ok: true, document: { kind: "raw", raw: read.value } };
}

function isDecisionRecord(json: unknown): boolean {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return false;
  const o = json as Record<string, unknown>;
  return "decision_id" in o || o.type === "decision" || o.type === "shadow";
}

/**
 * The raw request that stands for a recorded input in `decide`: its fields
 * are only shown in reports; the recorded input itself is what gets decided
 * (see `recordedInputDeps`).
 */
export function rawOfRecorded(input: RequestInput, time: number): RawRequest {
  return {
    method: input.request.method,
    path: input.request.path,
    host: input.request.host,
    scheme: input.request.scheme,
    headers: Object.entries(input.request.headers),
    source: { ...(input.source.ip !== undefined ? { address: input.source.ip } : {}), ...(input.source.port !== undefined ? { port: input.source.port } : {}) },
    destination: input.destination.spiffeId !== undefined ? { principal: input.destination.spiffeId } : {},
    identity: input.caller.spiffeId !== undefined ? { principal: input.caller.spiffeId } : {},
    contextExtensions: input.context,
    time,
  };
}

/**
 * Decision collaborators that hand `decide` a recorded input as if the
 * resolver and builder had just produced it: the caller as recorded, the
 * request as recorded, at the decision time `decide` passes (the record's, or
 * a test's `at`). Everything after that is the one decision path.
 */
export function recordedInputDeps(input: RequestInput): DecisionDeps {
  return {
    resolver: { resolve: () => input.caller },
    inputBuilder: { build: (_raw, caller, now) => ({ ok: true, input: { ...input, caller, time: now } }) },
  };
}
