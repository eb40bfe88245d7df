/**
 * Decision → `CheckResponse` bytes (the `toCheckResponse` of the design).
 *
 * The answer (external_auth.proto):
 * - allowed: `status.code = OK` and an `ok_response` whose `headers` set Ward's
 *   upstream headers (decision id, caller SPIFFE ID, would-deny in audit mode)
 *   and whose `headers_to_remove` names every Ward header this answer does not
 *   set, so a client cannot smuggle its own copy to the service. Headers Ward
 *   sets are sent with `append: false` (and `append_action:
 *   OVERWRITE_IF_EXISTS_OR_ADD`), which replaces a client copy in every Envoy
 *   version; they must not also be listed in `headers_to_remove`, because
 *   Envoy applies removals after additions (filters/http/ext_authz/ext_authz.cc).
 * - denied: `status.code = PERMISSION_DENIED` (7) always — errors included —
 *   because with `failure_mode_allow: true` Envoy lets any other failure
 *   through; a `denied_response` with HTTP 403 (401 when the caller has no
 *   valid identity), a small JSON body and the `x-ward-decision-id` header.
 * - every answer: `dynamic_metadata` (a `google.protobuf.Struct`) with the
 *   decision id, outcome, reason, determining rule and revision, which Envoy
 *   stores under `envoy.filters.http.ext_authz` for access logs.
 *
 * Speed: everything but the decision id and the caller repeats across
 * requests, so each distinct answer shape is encoded once and cached as byte
 * chunks; a call only writes the varying strings and the length prefixes.
 */
import type { DecisionOutcome } from "../decide.js";
import { envoyStatus } from "../decision-json.js";
import { isWardError, type Decision, type DecisionReason } from "../engine/decision.js";
import { tag, varintSize, WIRE_LDELIM, WIRE_VARINT, writeVarint } from "./wire.js";

/** Every response field the encoder writes: (message, field, number), checked against the official descriptors. */
export const CHECK_RESPONSE_LAYOUT: readonly (readonly [string, string, number])[] = [
  ["envoy.service.auth.v3.CheckResponse", "status", 1],
  ["envoy.service.auth.v3.CheckResponse", "denied_response", 2],
  ["envoy.service.auth.v3.CheckResponse", "ok_response", 3],
  ["envoy.service.auth.v3.CheckResponse", "dynamic_metadata", 4],
  ["envoy.service.auth.v3.DeniedHttpResponse", "status", 1],
  ["envoy.service.auth.v3.DeniedHttpResponse", "headers", 2],
  ["envoy.service.auth.v3.DeniedHttpResponse", "body", 3],
  ["envoy.service.auth.v3.OkHttpResponse", "headers", 2],
  ["envoy.service.auth.v3.OkHttpResponse", "headers_to_remove", 5],
  ["envoy.type.v3.HttpStatus", "code", 1],
  ["envoy.config.core.v3.HeaderValueOption", "header", 1],
  ["envoy.config.core.v3.HeaderValueOption", "append", 2],
  ["envoy.config.core.v3.HeaderValueOption", "append_action", 3],
  ["envoy.config.core.v3.HeaderValue", "key", 1],
  ["envoy.config.core.v3.HeaderValue", "value", 2],
  ["google.rpc.Status", "code", 1],
  ["google.protobuf.Struct", "fields", 1],
  ["google.protobuf.Value", "string_value", 3],
  ["google.protobuf.Value", "bool_value", 4],
  ["google.protobuf.BoolValue", "value", 1],
];

/** `CheckResponse.status.code` of an allowed request (google.rpc.Code OK). */
export const GRPC_OK = 0;
/** `CheckResponse.status.code` of every denied request, errors included (google.rpc.Code PERMISSION_DENIED). */
export const GRPC_PERMISSION_DENIED = 7;

/** `HeaderValueOption.append_action = OVERWRITE_IF_EXISTS_OR_ADD` (base.proto). */
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

/** Header names and switches that shape every answer. */
export interface AnswerOptions {
  /** Upstream header carrying the caller's SPIFFE ID on allowed requests (default `x-ward-caller`). */
  readonly callerHeader: string;
  /** Upstream header saying an audit-mode request would have been denied (default `x-ward-would-deny`). */
  readonly wouldDenyHeader: string;
  /** Header carrying the decision id, upstream on allow and to the client on deny (`x-ward-decision-id`). */
  readonly decisionIdHeader: string;
  /** Put the reason code, determining rule and detail in the deny body (off: a generic reason only). */
  readonly exposeDenyReason: boolean;
}

/** The header carrying the decision id (not configurable: logs and tools look for it). */
export const DEFAULT_DECISION_ID_HEADER = "x-ward-decision-id";
/** The default upstream header carrying the caller's SPIFFE ID (`--caller-header`). */
export const DEFAULT_CALLER_HEADER = "x-ward-caller";
/** The default upstream header marking audit-mode would-deny requests (`--would-deny-header`). */
export const DEFAULT_WOULD_DENY_HEADER = "x-ward-would-deny";

/** The HTTP status Envoy sends for a decision (the one rule in src/decision-json.ts). */
export function answerHttpStatus(outcome: DecisionOutcome): 200 | 401 | 403 {
  return envoyStatus(outcome.decision, outcome.identity);
}

/** The generic reason a denied client sees (details stay in the audit record unless exposed). */
export function genericDenyReason(reason: DecisionReason, httpStatus: number): string {
  if (isWardError(reason)) return "authorization unavailable";
  if (httpStatus === 401) return "unauthenticated";
  if (reason === "malformed_path" || reason === "malformed_request") return "malformed request";
  if (reason === "request_too_large") return "request too large";
  return "forbidden";
}

/** The value of the would-deny header: the reason code, then the determining rule when there is one. */
export function wouldDenyValue(decision: Decision): string {
  const rule = decision.determining[0];
  return sanitizeHeaderValue(rule ? `${decision.reason} ${rule.policy}/${rule.rule}` : decision.reason);
}

/** Replaces characters Envoy refuses in header values (controls, DEL) with `?`; bounds the length. */
export function sanitizeHeaderValue(value: string): string {
  const clean = value.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, "?");
  return clean.length > 1024 ? clean.slice(0, 1024) : clean;
}

/** Encodes answers. One per server (it holds the cache of answer shapes). */
export interface CheckResponseEncoder {
  /** The complete `CheckResponse` bytes for a decision. `decisionId` must be ASCII without `"` or `\` (see decision-id.ts). */
  encode(outcome: DecisionOutcome, decisionId: string): Buffer;
}

/** A cached answer shape: constant byte chunks around the per-call strings. */
interface Template {
  readonly allowed: boolean;
  /** Allowed: the `ok_response` fields after the varying headers. Denied: status and content-type of `denied_response`. */
  readonly httpConst: Buffer;
  /** Denied: the JSON body before and after the decision id. */
  readonly bodyPrefix: string;
  readonly bodySuffix: string;
  /** The constant `dynamic_metadata` entries. */
  readonly metaConst: Buffer;
  /** Allowed: whether the caller header is set (else it is in `headers_to_remove`). */
  readonly setsCaller: boolean;
}

const MAX_TEMPLATES = 4096;

/** Creates an encoder for the given header names and switches. */
export function createCheckResponseEncoder(options: AnswerOptions): CheckResponseEncoder {
  const idKey = keyField(options.decisionIdHeader);
  const callerKey = keyField(options.callerHeader);
  const metaIdKey = keyField("decision_id");
  const metaCallerKey = keyField("caller");
  const templates = new Map<string, Template>();

  // The last template handed out and what it was for: consecutive calls mostly get the same answer,
  // and comparing the fields directly is cheaper than building and hashing the map key.
  let last: { httpStatus: number; outcome: string; enforced: boolean; reason: string; revision: string; setsCaller: boolean; policy: string | undefined; rule: string | undefined; detail: string | undefined; template: Template } | undefined;

  function templateFor(outcome: DecisionOutcome, httpStatus: 200 | 401 | 403): Template {
    const d = outcome.decision;
    const rule = d.determining[0];
    const setsCaller = d.allowed && outcome.identity.authenticated && outcome.identity.spiffeId !== undefined;
    const detail = options.exposeDenyReason ? d.detail : undefined;
    if (
      last !== undefined &&
      last.httpStatus === httpStatus &&
      last.outcome === d.outcome &&
      last.enforced === d.enforced &&
      last.reason === d.reason &&
      last.revision === d.revision &&
      last.setsCaller === setsCaller &&
      last.policy === rule?.policy &&
      last.rule === rule?.rule &&
      last.detail === detail
    ) {
      return last.template;
    }
    const template = templateByKey(outcome, httpStatus, setsCaller);
    last = { httpStatus, outcome: d.outcome, enforced: d.enforced, reason: d.reason, revision: d.revision, setsCaller, policy: rule?.policy, rule: rule?.rule, detail, template };
    return template;
  }

  function templateByKey(outcome: DecisionOutcome, httpStatus: 200 | 401 | 403, setsCaller: boolean): Template {
    const d = outcome.decision;
    const rule = d.determining[0];
    const key =
      `${httpStatus}|${d.outcome}|${d.enforced ? 1 : 0}|${d.reason}|${d.revision}|${setsCaller ? 1 : 0}|` +
      (rule ? `${rule.policy}\u0000${rule.rule}` : "") +
      (options.exposeDenyReason && d.detail !== undefined ? `|${d.detail}` : "");
    let template = templates.get(key);
    if (template === undefined) {
      template = buildTemplate(outcome, httpStatus, setsCaller, options);
      if (templates.size >= MAX_TEMPLATES) templates.clear();
      templates.set(key, template);
    }
    return template;
  }

  return {
    encode(outcome, decisionId) {
      const httpStatus = answerHttpStatus(outcome);
      const t = templateFor(outcome, httpStatus);
      const idBytes = Buffer.byteLength(decisionId, "utf8");
      const caller = outcome.identity.authenticated ? outcome.identity.spiffeId : undefined;
      const callerBytes = caller === undefined ? 0 : Buffer.byteLength(caller, "utf8");

      // dynamic_metadata: decision_id (+ caller) entries, then the constant ones.
      let metaLen = structEntrySize(metaIdKey.length, idBytes) + t.metaConst.length;
      if (caller !== undefined) metaLen += structEntrySize(metaCallerKey.length, callerBytes);

      let httpLen: number;
      let bodyBytes = 0;
      if (t.allowed) {
        httpLen = headerOptionSize(idKey.length, idBytes) + t.httpConst.length;
        if (t.setsCaller) httpLen += headerOptionSize(callerKey.length, callerBytes);
      } else {
        bodyBytes = Buffer.byteLength(t.bodyPrefix, "utf8") + idBytes + Buffer.byteLength(t.bodySuffix, "utf8");
        httpLen = t.httpConst.length + headerOptionSize(idKey.length, idBytes) + 1 + varintSize(bodyBytes) + bodyBytes;
      }
      const statusField = t.allowed ? STATUS_OK : STATUS_DENIED;
      const total = statusField.length + 1 + varintSize(httpLen) + httpLen + 1 + varintSize(metaLen) + metaLen;
      const out = Buffer.allocUnsafe(total);

      let pos = statusField.copy(out, 0);
      out[pos++] = t.allowed ? TAG_OK_RESPONSE : TAG_DENIED_RESPONSE;
      pos = writeVarint(out, pos, httpLen);
      if (t.allowed) {
        pos = writeHeaderOption(out, pos, idKey, decisionId, idBytes);
        if (t.setsCaller && caller !== undefined) pos = writeHeaderOption(out, pos, callerKey, caller, callerBytes);
        pos += t.httpConst.copy(out, pos);
      } else {
        pos += t.httpConst.copy(out, pos);
        pos = writeHeaderOption(out, pos, idKey, decisionId, idBytes);
        out[pos++] = TAG_BODY;
        pos = writeVarint(out, pos, bodyBytes);
        pos += out.write(t.bodyPrefix, pos, "utf8");
        pos += out.write(decisionId, pos, "utf8");
        pos += out.write(t.bodySuffix, pos, "utf8");
      }
      out[pos++] = TAG_DYNAMIC_METADATA;
      pos = writeVarint(out, pos, metaLen);
      pos = writeStructStringEntry(out, pos, metaIdKey, decisionId, idBytes);
      if (caller !== undefined) pos = writeStructStringEntry(out, pos, metaCallerKey, caller, callerBytes);
      pos += t.metaConst.copy(out, pos);
      if (pos !== total) throw new Error(`check response encoder wrote ${pos} of ${total} bytes`);
      return out;
    },
  };
}

// CheckResponse fields, pre-computed tag bytes.
const TAG_DENIED_RESPONSE = tag(2, WIRE_LDELIM);
const TAG_OK_RESPONSE = tag(3, WIRE_LDELIM);
const TAG_DYNAMIC_METADATA = tag(4, WIRE_LDELIM);
const TAG_BODY = tag(3, WIRE_LDELIM); // DeniedHttpResponse.body
/** `status: {}` (code 0 is the proto3 default, so the message is empty). */
const STATUS_OK = Buffer.from([tag(1, WIRE_LDELIM), 0x00]);
/** `status: { code: 7 }`. */
const STATUS_DENIED = Buffer.from([tag(1, WIRE_LDELIM), 0x02, tag(1, WIRE_VARINT), GRPC_PERMISSION_DENIED]);

/** A pre-encoded `key` field (field 1, a string) of a HeaderValue or a Struct entry. */
function keyField(name: string): Buffer {
  return encodeFields([[1, name]]);
}

// HeaderValueOption as OkHttpResponse/DeniedHttpResponse field 2:
//   [0x12 len] { [0x0a len] HeaderValue { key, [0x12 len] value } , append {} = [0x12 0x00], append_action = [0x18 0x02] }
const HEADER_OPTION_TAIL = Buffer.from([tag(2, WIRE_LDELIM), 0x00, tag(3, WIRE_VARINT), OVERWRITE_IF_EXISTS_OR_ADD]);

function headerValueSize(keyLen: number, valueBytes: number): number {
  return keyLen + 1 + varintSize(valueBytes) + valueBytes;
}

function headerOptionSize(keyLen: number, valueBytes: number): number {
  const hv = headerValueSize(keyLen, valueBytes);
  const hvo = 1 + varintSize(hv) + hv + HEADER_OPTION_TAIL.length;
  return 1 + varintSize(hvo) + hvo;
}

function writeHeaderOption(out: Buffer, pos: number, key: Buffer, value: string, valueBytes: number): number {
  const hv = headerValueSize(key.length, valueBytes);
  const hvo = 1 + varintSize(hv) + hv + HEADER_OPTION_TAIL.length;
  out[pos++] = tag(2, WIRE_LDELIM);
  pos = writeVarint(out, pos, hvo);
  out[pos++] = tag(1, WIRE_LDELIM);
  pos = writeVarint(out, pos, hv);
  pos += key.copy(out, pos);
  out[pos++] = tag(2, WIRE_LDELIM);
  pos = writeVarint(out, pos, valueBytes);
  pos += out.write(value, pos, "utf8");
  pos += HEADER_OPTION_TAIL.copy(out, pos);
  return pos;
}

// Struct.fields entry (field 1): [0x0a len] { key, [0x12 len] Value { [0x1a len] string_value } }
function structEntrySize(keyLen: number, valueBytes: number): number {
  const value = 1 + varintSize(valueBytes) + valueBytes;
  const entry = keyLen + 1 + varintSize(value) + value;
  return 1 + varintSize(entry) + entry;
}

function writeStructStringEntry(out: Buffer, pos: number, key: Buffer, value: string, valueBytes: number): number {
  const valueLen = 1 + varintSize(valueBytes) + valueBytes;
  const entry = key.length + 1 + varintSize(valueLen) + valueLen;
  out[pos++] = tag(1, WIRE_LDELIM);
  pos = writeVarint(out, pos, entry);
  pos += key.copy(out, pos);
  out[pos++] = tag(2, WIRE_LDELIM);
  pos = writeVarint(out, pos, valueLen);
  out[pos++] = tag(3, WIRE_LDELIM);
  pos = writeVarint(out, pos, valueBytes);
  pos += out.write(value, pos, "utf8");
  return pos;
}

/**
 * A field list for the slow, general encoder used to build templates once:
 * a string (length-delimited), a number (varint), a boolean (varint 0/1),
 * bytes (a pre-encoded message or raw bytes, length-delimited), or a nested list.
 */
type FieldSpec = readonly [number, string | number | boolean | Uint8Array | readonly FieldSpec[]];

function encodeFields(fields: readonly FieldSpec[]): Buffer {
  const chunks: Buffer[] = [];
  for (const [number, value] of fields) {
    if (typeof value === "number" || typeof value === "boolean") {
      const v = typeof value === "boolean" ? (value ? 1 : 0) : value;
      const b = Buffer.allocUnsafe(1 + 5 + 5);
      let p = writeVarint(b, 0, tag(number, WIRE_VARINT));
      p = writeVarint(b, p, v);
      chunks.push(b.subarray(0, p));
    } else {
      const body = typeof value === "string" ? Buffer.from(value, "utf8") : value instanceof Uint8Array ? Buffer.from(value) : encodeFields(value);
      const head = Buffer.allocUnsafe(10);
      let p = writeVarint(head, 0, tag(number, WIRE_LDELIM));
      p = writeVarint(head, p, body.length);
      chunks.push(head.subarray(0, p), body);
    }
  }
  return Buffer.concat(chunks);
}

function headerOptionSpec(name: string, value: string): FieldSpec {
  return [2, [[1, [[1, name], [2, value]]], [2, []], [3, OVERWRITE_IF_EXISTS_OR_ADD]]];
}

function structEntrySpec(key: string, value: string | boolean): FieldSpec {
  return [1, [[1, key], [2, [typeof value === "string" ? [3, value] : [4, value]]]]];
}

function buildTemplate(outcome: DecisionOutcome, httpStatus: 200 | 401 | 403, setsCaller: boolean, options: AnswerOptions): Template {
  const d = outcome.decision;
  const rule = d.determining[0];
  const wouldDeny = d.allowed && d.outcome === "deny";

  const meta: FieldSpec[] = [
    structEntrySpec("allowed", d.allowed),
    structEntrySpec("outcome", d.outcome),
    structEntrySpec("enforced", d.enforced),
    structEntrySpec("would_deny", wouldDeny),
    structEntrySpec("reason", d.reason),
    structEntrySpec("revision", d.revision),
  ];
  if (rule) meta.push(structEntrySpec("policy", rule.policy), structEntrySpec("rule", rule.rule));

  if (d.allowed) {
    const fields: FieldSpec[] = [];
    if (wouldDeny) fields.push(headerOptionSpec(options.wouldDenyHeader, wouldDenyValue(d)));
    // Every Ward header this answer does not set is removed, so a client-supplied copy never reaches the service.
    if (!setsCaller) fields.push([5, options.callerHeader]);
    if (!wouldDeny) fields.push([5, options.wouldDenyHeader]);
    return { allowed: true, httpConst: encodeFields(fields), bodyPrefix: "", bodySuffix: "", metaConst: encodeFields(meta), setsCaller };
  }

  const status = encodeFields([[1, [[1, httpStatus]]], headerOptionSpec("content-type", "application/json")]);
  const rest: Record<string, string> = { reason: options.exposeDenyReason ? d.reason : genericDenyReason(d.reason, httpStatus) };
  if (options.exposeDenyReason) {
    if (rule) {
      rest["policy"] = rule.policy;
      rest["rule"] = rule.rule;
    }
    // Internal error messages are for the audit record only, even when reasons are exposed.
    if (d.detail !== undefined && d.reason !== "internal_error") rest["detail"] = d.detail;
  }
  return {
    allowed: false,
    httpConst: status,
    bodyPrefix: '{"decision_id":"',
    bodySuffix: `",${JSON.stringify(rest).slice(1)}`,
    metaConst: encodeFields(meta),
    setsCaller: false,
  };
}
