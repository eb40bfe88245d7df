/**
 * Reading audit logs back: one JSON line at a time into a decision record, a
 * shadow record, an Envoy `CheckRequest`, or a reason to skip the line. Used by
 * `ward replay` and `ward audit summary`, and by anything else that wants to
 * turn a recorded `input` back into the engine's `RequestInput`. Pure; never
 * throws on bad input: a log may be truncated, interleaved with other logs or
 * written by another version.
 */
import type { CertificateAttributes, Identity, IdentitySource, RequestInput } from "../engine/input.js";
import { AUDIT_SCHEMA_VERSION, type DecisionRecord, type ShadowRecord } from "./record.js";
import { createDataMap } from "../data-map.js";

/** Why a line was skipped: stable codes for reports and tests. */
export type SkipReason =
  /** The line starts a JSON object that never ends (a crash or a copy cut it short). */
  | "truncated_line"
  /** The line is not JSON. */
  | "not_json"
  /** JSON, but neither an audit record nor an Envoy CheckRequest (e.g. an operational log line). */
  | "unrecognized_line"
  /** An audit record of a schema version this Ward does not read. */
  | "unsupported_version"
  /** An audit record with a missing or mistyped field. */
  | "invalid_record"
  /** A shadow record: it compares two policy sets, there is no single verdict to replay. */
  | "not_a_decision"
  /** A decision record without `input` (written with `--audit-input none`). */
  | "missing_input"
  /** A decision refused before the policies ran (malformed path, oversized request): no policy change can flip it. */
  | "not_evaluated"
  /** A decision whose verdict came from an error (`internal_error`, `timeout`, …), not from the policies. */
  | "recorded_error"
  /** A CheckRequest the input module could not translate. */
  | "invalid_check_request";

/** One classified line. */
export type LogEntry =
  | { readonly kind: "blank" }
  | { readonly kind: "decision"; readonly record: DecisionRecord }
  | { readonly kind: "shadow"; readonly record: ShadowRecord }
  | { readonly kind: "check_request"; readonly json: Readonly<Record<string, unknown>> }
  | { readonly kind: "skip"; readonly reason: SkipReason; readonly message: string };

/** Reasons for requests refused before the policies ran. */
const PRE_EVALUATION_REASONS: ReadonlySet<string> = new Set(["malformed_path", "malformed_request", "request_too_large"]);

/** True when a recorded reason means the request never reached the policies. */
export function isPreEvaluationReason(reason: string): boolean {
  return PRE_EVALUATION_REASONS.has(reason);
}

function skip(reason: SkipReason, message: string): LogEntry {
  return { kind: "skip", reason, message };
}

/** Classifies one line of a log (without its newline). */
export function parseLogLine(text: string): LogEntry {
  const line = text.trim();
  if (line === "") return { kind: "blank" };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    if (line.startsWith("{") && endsOpen(line)) return skip("truncated_line", "line ends before its JSON object does");
    return skip("not_json", "line is not JSON");
  }
  if (!isObject(json)) return skip("unrecognized_line", "line is JSON but not an object");
  // `ward serve` prints its ready line on stdout, where audit records go by default; it carries no decision.
  if (json.ward === "ready") return { kind: "blank" };
  if ("decision_id" in json || (("type" in json) && (json.type === "decision" || json.type === "shadow"))) {
    if (json.version !== AUDIT_SCHEMA_VERSION) {
      return skip("unsupported_version", `record has schema version \`${String(json.version)}\`; this ward reads version ${AUDIT_SCHEMA_VERSION}`);
    }
    if (json.type === "shadow") {
      const problem = checkShadow(json);
      return problem ? skip("invalid_record", problem) : { kind: "shadow", record: json as unknown as ShadowRecord };
    }
    const problem = checkDecision(json);
    return problem ? skip("invalid_record", problem) : { kind: "decision", record: json as unknown as DecisionRecord };
  }
  if (isObject(json.attributes)) return { kind: "check_request", json };
  return skip("unrecognized_line", "line is neither a ward audit record nor an Envoy CheckRequest");
}

/**
 * True when text that starts a JSON object ends inside a string or with
 * brackets still open: a line cut short (a crash mid-write, a partial copy),
 * as opposed to text that is simply not JSON.
 */
function endsOpen(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
  }
  return inString || depth > 0;
}

// ---- shape checks: each returns a lower-case problem description, or undefined when the shape is right ----

type Obj = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function want(o: Obj, key: string, type: "string" | "boolean" | "number", where = ""): string | undefined {
  return typeof o[key] === type ? undefined : `field \`${where}${key}\` is missing or not a ${type}`;
}

function optional(o: Obj, key: string, type: "string" | "boolean" | "number", where = ""): string | undefined {
  return o[key] === undefined ? undefined : want(o, key, type, where);
}

function first(...problems: (string | undefined)[]): string | undefined {
  return problems.find((p) => p !== undefined);
}

function checkRules(v: unknown, where: string): string | undefined {
  if (!Array.isArray(v)) return `field \`${where}\` is missing or not an array`;
  for (const [i, r] of v.entries()) {
    if (!isObject(r)) return `\`${where}[${i}]\` is not an object`;
    const problem = first(want(r, "policy", "string", `${where}[${i}].`), want(r, "rule", "string", `${where}[${i}].`));
    if (problem) return problem;
    if (r.effect !== "allow" && r.effect !== "deny") return `\`${where}[${i}].effect\` is not \`allow\` or \`deny\``;
  }
  return undefined;
}

function checkCaller(v: unknown, where: string): string | undefined {
  if (!isObject(v)) return `field \`${where}\` is missing or not an object`;
  return first(
    want(v, "authenticated", "boolean", `${where}.`),
    optional(v, "spiffe_id", "string", `${where}.`),
    optional(v, "unauthenticated_reason", "string", `${where}.`),
  );
}

function checkRequest(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) return `field \`${where}\` is not an object`;
  return first(want(v, "method", "string", `${where}.`), want(v, "path", "string", `${where}.`), want(v, "host", "string", `${where}.`));
}

function checkVerdict(o: Obj, where: string): string | undefined {
  if (o.outcome !== "allow" && o.outcome !== "deny") return `field \`${where}outcome\` is not \`allow\` or \`deny\``;
  return first(want(o, "reason", "string", where), checkRules(o.determining, `${where}determining`));
}

function checkDecision(o: Obj): string | undefined {
  return first(
    want(o, "decision_id", "string"),
    want(o, "time", "string"),
    want(o, "revision", "string"),
    checkVerdict(o, ""),
    want(o, "allowed", "boolean"),
    want(o, "enforced", "boolean"),
    want(o, "would_deny", "boolean"),
    checkCaller(o.caller, "caller"),
    checkRequest(o.request, "request"),
    o.input === undefined || isObject(o.input) ? undefined : "field `input` is not an object",
  );
}

function checkShadow(o: Obj): string | undefined {
  if (!isObject(o.live)) return "field `live` is missing or not an object";
  if (!isObject(o.candidate)) return "field `candidate` is missing or not an object";
  return first(
    want(o, "decision_id", "string"),
    want(o, "time", "string"),
    checkVerdict(o.live, "live."),
    checkVerdict(o.candidate, "candidate."),
    checkCaller(o.caller, "caller"),
    checkRequest(o.request, "request"),
  );
}

// ---- recorded input → RequestInput ----

/** The result of decoding a recorded input. */
export type DecodedInput = { readonly ok: true; readonly input: RequestInput } | { readonly ok: false; readonly message: string };

class ShapeError extends Error {}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new ShapeError(`field \`${where}${key}\` is missing or not a string`);
  return v;
}

function optStr(o: Obj, key: string, where: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, where);
}

function num(o: Obj, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ShapeError(`field \`${where}${key}\` is missing or not a number`);
  return v;
}

function optNum(o: Obj, key: string, where: string): number | undefined {
  return o[key] === undefined ? undefined : num(o, key, where);
}

function obj(o: Obj, key: string, where: string): Obj {
  const v = o[key];
  if (!isObject(v)) throw new ShapeError(`field \`${where}${key}\` is missing or not an object`);
  return v;
}

function strings(o: Obj, key: string, where: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new ShapeError(`field \`${where}${key}\` is not a list of strings`);
  return v as string[];
}

function stringMap(o: Obj, key: string, where: string): Record<string, string> {
  const v = o[key];
  if (v === undefined) return {};
  if (!isObject(v)) throw new ShapeError(`field \`${where}${key}\` is not an object`);
  // A data map (src/data-map.ts): recorded keys such as `__proto__` stay plain data.
  const out: Record<string, string> = createDataMap();
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") throw new ShapeError(`field \`${where}${key}.${k}\` is not a string`);
    out[k] = x;
  }
  return out;
}

const IDENTITY_SOURCES: ReadonlySet<string> = new Set(["principal", "certificate", "xfcc"]);

function decodeCertificate(c: Obj, where: string): CertificateAttributes {
  const subject = obj(c, "subject", where);
  const issuer = obj(c, "issuer", where);
  const san = obj(c, "san", where);
  const subjectCn = optStr(subject, "common_name", `${where}subject.`);
  const issuerCn = optStr(issuer, "common_name", `${where}issuer.`);
  return {
    subject: {
      ...(subjectCn !== undefined && { commonName: subjectCn }),
      organization: strings(subject, "organization", `${where}subject.`),
      organizationalUnit: strings(subject, "organizational_unit", `${where}subject.`),
    },
    issuer: { ...(issuerCn !== undefined && { commonName: issuerCn }), organization: strings(issuer, "organization", `${where}issuer.`) },
    san: { dns: strings(san, "dns", `${where}san.`), uri: strings(san, "uri", `${where}san.`), email: strings(san, "email", `${where}san.`) },
    serial: str(c, "serial", where),
    fingerprint: str(c, "fingerprint", where),
    notBefore: num(c, "not_before", where),
    notAfter: num(c, "not_after", where),
    extensions: stringMap(c, "extensions", where),
  };
}

function decodeIdentity(c: Obj, where: string): Identity {
  if (typeof c.authenticated !== "boolean") throw new ShapeError(`field \`${where}authenticated\` is missing or not a boolean`);
  const source = optStr(c, "source", where);
  if (source !== undefined && !IDENTITY_SOURCES.has(source)) throw new ShapeError(`field \`${where}source\` has unknown value \`${source}\``);
  const spiffeId = optStr(c, "spiffe_id", where);
  const trustDomain = optStr(c, "trust_domain", where);
  const path = optStr(c, "path", where);
  const reason = optStr(c, "unauthenticated_reason", where);
  const detail = optStr(c, "detail", where);
  const certificate = c.certificate === undefined ? undefined : decodeCertificate(obj(c, "certificate", where), `${where}certificate.`);
  return {
    authenticated: c.authenticated,
    ...(spiffeId !== undefined && { spiffeId }),
    ...(trustDomain !== undefined && { trustDomain }),
    ...(path !== undefined && { path }),
    ...(source !== undefined && { source: source as IdentitySource }),
    ...(certificate && { certificate }),
    ...(reason !== undefined && { unauthenticatedReason: reason }),
    ...(detail !== undefined && { detail }),
  };
}

function decodePeer(p: Obj, where: string): { ip?: string; port?: number } {
  const ip = optStr(p, "ip", where);
  const port = optNum(p, "port", where);
  return { ...(ip !== undefined && { ip }), ...(port !== undefined && { port }) };
}

/**
 * Turns a record's `input` back into the engine's `RequestInput`, checking
 * every field's type (a log is untrusted text). Redacted values stay
 * `[redacted]`: a rule that compares a redacted header sees the placeholder.
 */
export function decodeInput(json: unknown): DecodedInput {
  try {
    if (!isObject(json)) throw new ShapeError("field `input` is not an object");
    const request = obj(json, "request", "input.");
    const destination = obj(json, "destination", "input.");
    const destinationId = optStr(destination, "spiffe_id", "input.destination.");
    const input: RequestInput = {
      caller: decodeIdentity(obj(json, "caller", "input."), "input.caller."),
      request: {
        method: str(request, "method", "input.request."),
        path: str(request, "path", "input.request."),
        query: stringMap(request, "query", "input.request."),
        headers: stringMap(request, "headers", "input.request."),
        host: str(request, "host", "input.request."),
        scheme: str(request, "scheme", "input.request."),
      },
      source: decodePeer(obj(json, "source", "input."), "input.source."),
      destination: { ...decodePeer(destination, "input.destination."), ...(destinationId !== undefined && { spiffeId: destinationId }) },
      context: stringMap(json, "context", "input."),
      time: num(json, "time", "input."),
    };
    return { ok: true, input };
  } catch (err) {
    if (err instanceof ShapeError) return { ok: false, message: err.message };
    throw err;
  }
}

/** A log line that was not used, with where it was and why. */
export interface SkippedLine {
  readonly source: string;
  readonly line: number;
  readonly reason: SkipReason;
  readonly message: string;
}

/** The skipped lines of a report: counts by reason and the first few lines themselves. */
export interface SkippedLines {
  readonly total: number;
  readonly by_reason: Readonly<Partial<Record<SkipReason, number>>>;
  /** The first few skipped lines; `total` counts them all. */
  readonly lines: readonly SkippedLine[];
}

/** The text report's account of skipped lines (no lines when nothing was skipped). */
export function renderSkipped(skipped: SkippedLines): string[] {
  if (skipped.total === 0) return [];
  const reasons = Object.entries(skipped.by_reason)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(", ");
  const out = ["", `skipped ${skipped.total} line${skipped.total === 1 ? "" : "s"}: ${reasons}`];
  for (const s of skipped.lines) out.push(`  ${s.source}:${s.line}: ${s.reason}: ${s.message}`);
  const unlisted = skipped.total - skipped.lines.length;
  if (unlisted > 0) out.push(`  … and ${unlisted} more`);
  return out;
}
