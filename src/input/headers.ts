/**
 * Request headers → the map `request.headers["name"]` reads: names
 * lower-cased, repeated headers joined with `,` in arrival order (exactly
 * what Envoy's `headers` map does in check_request_utils.cc, so `header_map`
 * entries give the same value as the `headers` form). A condition therefore
 * sees the whole joined value, never only the first one (the class of
 * Istio CVE-2026-31838). Pseudo-headers (`:path`, `:authority`, ...) are
 * dropped: the canonical `request.path`, `request.host`, `request.method` and
 * `request.scheme` are the one way to read them.
 */
import { TCHAR, codeUnitName, quote, utf8Length } from "./text.js";
import { createDataMap } from "../data-map.js";

/** Header limits, all required here (the builder fills defaults). */
export interface HeaderLimits {
  /** Most header entries, as received (before joining). */
  readonly maxHeaders: number;
  /** Most bytes of names and values together (UTF-8), as received. */
  readonly maxHeaderBytes: number;
}

/** Longest header value a `NameMemo` keeps as checked. */
const MAX_REMEMBERED_VALUE = 256;

/** Marks a pseudo-header in a `NameMemo`. */
const PSEUDO = ":";

/**
 * Valid header names seen before (raw name → lower-case name, or `:` for a
 * pseudo-header): names repeat on every request, so a builder keeps one.
 * Bounded; only valid names are remembered.
 */
export class NameMemo {
  private readonly map = new Map<string, string>();
  /**
   * The entries of the last header lists, by position: raw name, value, and
   * the name they were collected under (or `:`). An entry equal to the one
   * at the same position before passed every check then, so it needs none
   * now; with the decoder handing out the same string objects for the same
   * bytes, that is a pointer comparison for most of a request's headers.
   */
  readonly lastRaw: string[] = [];
  readonly lastValues: string[] = [];
  readonly lastNames: string[] = [];
  constructor(private readonly capacity = 1024) {}
  get(raw: string): string | undefined {
    return this.map.get(raw);
  }
  remember(raw: string, name: string): void {
    // Cleared when full: a client sending endless new names costs what no memo would.
    if (this.map.size >= this.capacity) this.map.clear();
    this.map.set(raw, name);
  }
}

/** The result of `collectHeaders`. */
export type CollectedHeaders =
  | { readonly ok: true; readonly headers: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly reason: "malformed_request" | "request_too_large"; readonly detail: string };

/** What a header value must not contain: control characters other than horizontal tab (RFC 9110 §5.5). */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Validates, lower-cases and joins header entries. Names must be RFC 9110
 * tokens (a leading `:` marks a pseudo-header); values must not hold control
 * characters other than tab (RFC 9110 §5.5). Never throws.
 */
export function collectHeaders(entries: readonly (readonly [string, string])[], limits: HeaderLimits, names?: NameMemo): CollectedHeaders {
  if (entries.length > limits.maxHeaders) {
    return { ok: false, reason: "request_too_large", detail: `header_count: ${entries.length} header entries exceed the limit of ${limits.maxHeaders} (maxHeaders)` };
  }
  // Limits before validation: a cheap upper bound (3 bytes per UTF-16 unit) first, the exact count only near the limit.
  let units = 0;
  for (const [name, value] of entries) units += name.length + value.length;
  if (units * 3 > limits.maxHeaderBytes) {
    let bytes = 0;
    for (const [name, value] of entries) bytes += utf8Length(name) + utf8Length(value);
    if (bytes > limits.maxHeaderBytes) {
      return { ok: false, reason: "request_too_large", detail: `header_bytes: ${bytes} bytes of headers exceed the limit of ${limits.maxHeaderBytes} (maxHeaderBytes)` };
    }
  }

  const headers = createDataMap();
  for (let k = 0; k < entries.length; k++) {
    const [rawName, value] = entries[k]!;
    if (names !== undefined && k < names.lastRaw.length && names.lastRaw[k] === rawName && names.lastValues[k] === value) {
      const known = names.lastNames[k]!;
      if (known === PSEUDO) continue;
      const seen = headers[known];
      headers[known] = seen === undefined ? value : seen + "," + value;
      continue;
    }
    // One native scan per value; the offending character is looked for only when there is one.
    if (CONTROL_CHARACTER.test(value)) {
      const i = value.search(CONTROL_CHARACTER);
      return {
        ok: false,
        reason: "malformed_request",
        detail: `invalid_header_value: the value of ${quote(rawName, 48)} contains the control character ${codeUnitName(value.charCodeAt(i))} at offset ${i}`,
      };
    }
    let name = names?.get(rawName);
    if (name === undefined) {
      const length = rawName.length;
      const pseudo = length > 1 && rawName.charCodeAt(0) === 58;
      let upper = false;
      for (let i = pseudo ? 1 : 0; i < length; i++) {
        const c = rawName.charCodeAt(i);
        if (c >= 128 || TCHAR[c] === 0) {
          return { ok: false, reason: "malformed_request", detail: `invalid_header_name: ${quote(rawName, 48)} is not a header name (${codeUnitName(c)} at offset ${i})` };
        }
        if (c >= 65 && c <= 90) upper = true;
      }
      if (length === 0) return { ok: false, reason: "malformed_request", detail: "invalid_header_name: a header has an empty name" };
      name = pseudo ? PSEUDO : upper ? rawName.toLowerCase() : rawName;
      names?.remember(rawName, name);
    }
    // Long values are checked every time rather than kept alive here.
    if (names !== undefined && value.length <= MAX_REMEMBERED_VALUE) {
      names.lastRaw[k] = rawName;
      names.lastValues[k] = value;
      names.lastNames[k] = name;
    }
    if (name === PSEUDO) continue;
    const seen = headers[name];
    headers[name] = seen === undefined ? value : seen + "," + value;
  }
  return { ok: true, headers };
}
