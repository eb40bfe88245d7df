/**
 * Attribute readers: how each vocabulary name (src/dsl/vocabulary.ts) is read
 * from a `RequestInput`. Built once per attribute reference at compile time.
 *
 * A reader returns `undefined` when the attribute is missing. Decisions that
 * security depends on (docs/language.md, "Missing attributes"):
 * - `caller.spiffe_id`, `caller.trust_domain`, `caller.path` and every `cert.*`
 *   attribute are missing unless `caller.authenticated` is true: nothing about
 *   an identity Ward did not establish is offered to a rule.
 * - Keyed lookups (`request.headers["x"]`, `request.query`, `context`,
 *   `cert.extension`) read own properties only, so `request.headers["constructor"]`
 *   or `["__proto__"]` can never see `Object.prototype`.
 * - A list attribute with no elements is missing (`cert.san.dns is absent` is
 *   true for a certificate without DNS names).
 * - `time.hour` / `time.weekday` are computed from `input.time` in UTC;
 *   `cert.expires_in` is `notAfter - input.time` (negative once expired).
 */
import type { AttributeRef } from "../dsl/checked.js";
import { ATTRIBUTES, WEEKDAYS } from "../dsl/vocabulary.js";
import type { CertificateAttributes, RequestInput } from "./input.js";

/** Reads one attribute; `undefined` means missing. */
export type AttributeReader = (input: RequestInput) => unknown;

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

function certOf(i: RequestInput): CertificateAttributes | undefined {
  return i.caller.authenticated === true ? i.caller.certificate : undefined;
}

function own(record: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  return record !== undefined && record !== null && Object.hasOwn(record, key) ? record[key] : undefined;
}

function list(values: readonly string[] | undefined): readonly string[] | undefined {
  return values !== undefined && values.length > 0 ? values : undefined;
}

/** The UTC hour (0–23) of an epoch-ms time. */
export function utcHour(time: number): number {
  return Math.floor((((time % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY) / MS_PER_HOUR);
}

/** The UTC weekday name of an epoch-ms time (1970-01-01 was a Thursday). */
export function utcWeekday(time: number): string {
  const day = Math.floor(time / MS_PER_DAY);
  return WEEKDAYS[(((day + 4) % 7) + 7) % 7] as string;
}

/** An attribute reference as one string (`request.headers["x-env"]`), for index keys and messages. */
export function attributeId(ref: Pick<AttributeRef, "name" | "key">): string {
  return ref.key === undefined ? ref.name : `${ref.name}[${JSON.stringify(ref.key)}]`;
}

/**
 * The reader for an attribute reference; throws for a name outside the
 * vocabulary (a checker bug). Readers of unkeyed attributes are shared
 * (one closure per attribute for the whole process: they are pure and hold no state).
 */
export function readerFor(ref: AttributeRef): AttributeReader {
  if (ref.key === undefined) {
    const shared = UNKEYED_READERS.get(ref.name);
    if (shared !== undefined) return shared;
  }
  return makeReader(ref.name, ref.key ?? "");
}

function makeReader(name: string, key: string): AttributeReader {
  switch (name) {
    case "caller.spiffe_id":
      return (i) => (i.caller.authenticated === true ? i.caller.spiffeId : undefined);
    case "caller.trust_domain":
      return (i) => (i.caller.authenticated === true ? i.caller.trustDomain : undefined);
    case "caller.path":
      return (i) => (i.caller.authenticated === true ? i.caller.path : undefined);
    case "caller.authenticated":
      return (i) => i.caller.authenticated === true;
    case "cert.subject.common_name":
      return (i) => certOf(i)?.subject.commonName;
    case "cert.subject.organization":
      return (i) => list(certOf(i)?.subject.organization);
    case "cert.subject.organizational_unit":
      return (i) => list(certOf(i)?.subject.organizationalUnit);
    case "cert.issuer.common_name":
      return (i) => certOf(i)?.issuer.commonName;
    case "cert.issuer.organization":
      return (i) => list(certOf(i)?.issuer.organization);
    case "cert.san.dns":
      return (i) => list(certOf(i)?.san.dns);
    case "cert.san.uri":
      return (i) => list(certOf(i)?.san.uri);
    case "cert.san.email":
      return (i) => list(certOf(i)?.san.email);
    case "cert.serial":
      return (i) => certOf(i)?.serial;
    case "cert.fingerprint":
      return (i) => certOf(i)?.fingerprint;
    case "cert.not_before":
      return (i) => certOf(i)?.notBefore;
    case "cert.not_after":
      return (i) => certOf(i)?.notAfter;
    case "cert.expires_in":
      return (i) => {
        const c = certOf(i);
        if (c === undefined || !Number.isFinite(c.notAfter) || !Number.isFinite(i.time)) return undefined;
        return c.notAfter - i.time;
      };
    case "cert.extension":
      return (i) => own(certOf(i)?.extensions, key);
    case "request.method":
      return (i) => i.request.method;
    case "request.path":
      return (i) => i.request.path;
    case "request.query":
      return (i) => own(i.request.query, key);
    case "request.headers":
      return (i) => own(i.request.headers, key);
    case "request.host":
      return (i) => i.request.host;
    case "request.scheme":
      return (i) => i.request.scheme;
    case "source.ip":
      return (i) => i.source.ip;
    case "source.port":
      return (i) => i.source.port;
    case "destination.spiffe_id":
      return (i) => i.destination.spiffeId;
    case "destination.ip":
      return (i) => i.destination.ip;
    case "destination.port":
      return (i) => i.destination.port;
    case "context":
      return (i) => own(i.context, key);
    case "time.hour":
      return (i) => (Number.isFinite(i.time) ? utcHour(i.time) : undefined);
    case "time.weekday":
      return (i) => (Number.isFinite(i.time) ? utcWeekday(i.time) : undefined);
    default:
      throw new Error(`compile: unknown attribute \`${name}\` (the checker should have rejected it)`);
  }
}

/** One reader per unkeyed attribute, built once (an immutable table). */
const UNKEYED_READERS: ReadonlyMap<string, AttributeReader> = new Map(ATTRIBUTES.filter((a) => !a.keyed).map((a) => [a.name, makeReader(a.name, "")]));

/** True when a read value counts as missing (`undefined`, `null`, or an empty list). */
export function isMissing(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}
