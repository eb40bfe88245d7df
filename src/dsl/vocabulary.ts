/**
 * The attribute vocabulary: every name a condition may read, with its type.
 * The checker types conditions with it; the compiler maps each name to an
 * accessor on `RequestInput`; docs/language.md lists it. One table, so the
 * three can never disagree.
 */

/**
 * Value types. `spiffe_id` and `path` are strings whose literals are validated
 * and whose globs are segment-aware; `*_list` attributes are lists where
 * `contains`, `matches` and `in` are true when any element satisfies them.
 */
export type AttributeType =
  | "string"
  | "spiffe_id"
  | "path"
  | "string_list"
  | "number"
  | "bool"
  | "duration"
  | "timestamp"
  | "ip";

/** One entry of the vocabulary. */
export interface AttributeSpec {
  readonly name: string;
  readonly type: AttributeType;
  /** Indexed with `["key"]` (headers, query, context, extensions). */
  readonly keyed: boolean;
  /** True when reading it needs the parsed certificate (`cert.*`). */
  readonly needsCertificate: boolean;
  readonly description: string;
}

function attr(name: string, type: AttributeType, description: string, keyed = false): AttributeSpec {
  return { name, type, keyed, needsCertificate: name.startsWith("cert."), description };
}

/** Every attribute, in the order docs/language.md lists them. */
export const ATTRIBUTES: readonly AttributeSpec[] = [
  attr("caller.spiffe_id", "spiffe_id", "The caller's SPIFFE ID, when it is authenticated."),
  attr("caller.trust_domain", "string", "The trust domain of the caller's SPIFFE ID."),
  attr("caller.path", "path", "The path of the caller's SPIFFE ID (`/ns/x/sa/y`)."),
  attr("caller.authenticated", "bool", "True when the caller has a valid SPIFFE identity."),
  attr("cert.subject.common_name", "string", "The certificate subject's CN."),
  attr("cert.subject.organization", "string_list", "The certificate subject's O values."),
  attr("cert.subject.organizational_unit", "string_list", "The certificate subject's OU values."),
  attr("cert.issuer.common_name", "string", "The issuer's CN."),
  attr("cert.issuer.organization", "string_list", "The issuer's O values."),
  attr("cert.san.dns", "string_list", "DNS subject alternative names."),
  attr("cert.san.uri", "string_list", "URI subject alternative names."),
  attr("cert.san.email", "string_list", "Email subject alternative names."),
  attr("cert.serial", "string", "Serial number, lower-case hex."),
  attr("cert.fingerprint", "string", "SHA-256 fingerprint of the DER certificate, lower-case hex."),
  attr("cert.not_before", "timestamp", "Start of the certificate's validity."),
  attr("cert.not_after", "timestamp", "End of the certificate's validity."),
  attr("cert.expires_in", "duration", "Time left until `cert.not_after`, at decision time."),
  attr("cert.extension", "string", "A custom extension's decoded value, by dotted OID.", true),
  attr("request.method", "string", "HTTP method, exactly as sent (`GET`)."),
  attr("request.path", "path", "Canonical request path without the query (docs/paths.md)."),
  attr("request.query", "string", "A percent-decoded query parameter; repeated values joined with `,`.", true),
  attr("request.headers", "string", "A request header by lower-case name; repeated headers joined with `,`.", true),
  attr("request.host", "string", "Host (`:authority`), lower-cased, without the port."),
  attr("request.scheme", "string", "`http` or `https`."),
  attr("source.ip", "ip", "The downstream peer's address."),
  attr("source.port", "number", "The downstream peer's port."),
  attr("destination.spiffe_id", "spiffe_id", "The SPIFFE ID of the workload being called (Envoy's destination principal)."),
  attr("destination.ip", "ip", "The local address the request arrived on."),
  attr("destination.port", "number", "The local port the request arrived on."),
  attr("context", "string", "An Envoy per-route `context_extensions` value.", true),
  attr("time.hour", "number", "Hour of the decision time, 0 to 23, UTC."),
  attr("time.weekday", "string", "Day of the week of the decision time in UTC: `monday` … `sunday`."),
];

/** Lookup by name. */
export const ATTRIBUTE_BY_NAME: ReadonlyMap<string, AttributeSpec> = new Map(ATTRIBUTES.map((a) => [a.name, a]));

/** The weekday names `time.weekday` takes, indexed like `Date#getUTCDay()`. */
export const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"] as const;
