import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeInput } from "../../src/audit/decode.js";
import {
  AUDIT_SCHEMA_VERSION,
  compareDecisions,
  DEFAULT_REDACTED_HEADERS,
  recordInput,
  REDACTED,
  toAuditRecord,
  toShadowRecord,
} from "../../src/audit/record.js";
import { createAuditLineWriter, type AuditLineWriter } from "../../src/audit/line.js";
import type { AuditMeta } from "../../src/audit/record.js";
import type { DecisionOutcome } from "../../src/decide.js";
import { denyBeforeEvaluation, type Decision } from "../../src/engine/decision.js";
import type { CertificateAttributes, RequestInput } from "../../src/engine/input.js";
import { BATCH, compile, decideWith, FRONTEND, LIVE, ORDERS_API, request, T0, TIGHTENED } from "./helpers.js";
import { inheritsNothing } from "../../src/data-map.js";

const live = compile(LIVE);

const CERT: CertificateAttributes = {
  subject: { commonName: "checkout", organization: ["Example"], organizationalUnit: ["payments", "pci"] },
  issuer: { commonName: "Example Prod Intermediate CA", organization: ["Example"] },
  san: { dns: ["checkout.internal"], uri: ["spiffe://prod.example.com/ns/checkout/sa/checkout"], email: [] },
  serial: "1001",
  fingerprint: "ab".repeat(32),
  notBefore: Date.UTC(2025, 0, 1),
  notAfter: Date.UTC(2125, 0, 1),
  extensions: { "1.3.6.1.4.1.99999.1": "tier-1" },
};

function inputWith(headers: Record<string, string>, query: Record<string, string> = {}): RequestInput {
  return {
    caller: {
      authenticated: true,
      spiffeId: "spiffe://prod.example.com/ns/checkout/sa/checkout",
      trustDomain: "prod.example.com",
      path: "/ns/checkout/sa/checkout",
      source: "certificate",
      certificate: CERT,
    },
    request: { method: "POST", path: "/api/v1/charge", query, headers, host: "payments.internal", scheme: "https" },
    source: { ip: "10.8.3.17", port: 48122 },
    destination: { ip: "10.8.5.2", port: 8443, spiffeId: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
    context: { route: "charge" },
    time: T0,
  };
}

const unauthenticatedCaller = () => ({ authenticated: false, unauthenticatedReason: "not_resolved" });

const meta = { decisionId: "req-1", time: T0, mode: "enforce" as const, micros: 42.123, includeInput: true, redactHeaders: DEFAULT_REDACTED_HEADERS };

/** Every key of a record outside the data maps (header, query, context and extension names are user data). */
function structuralKeys(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => structuralKeys(v, path));
  if (typeof value !== "object" || value === null) return [];
  const keys: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    keys.push(k);
    const dataMap = ["headers", "query", "context", "extensions"].includes(k);
    if (!dataMap) keys.push(...structuralKeys(v, `${path}.${k}`));
  }
  return keys;
}

describe("decision records", () => {
  it("carries every field of schema v1 for an audit-mode would-deny", () => {
    const raw = request(BATCH, "DELETE", "/orders/17?force=1");
    const outcome = decideWith(live, raw, { auditAll: true });
    const record = toAuditRecord(outcome, { ...meta, mode: "audit", raw });
    expect(record).toMatchObject({
      version: AUDIT_SCHEMA_VERSION,
      type: "decision",
      time: "2027-01-06T09:00:00.000Z",
      decision_id: "req-1",
      revision: live.revision,
      mode: "audit",
      outcome: "deny",
      allowed: true,
      enforced: false,
      would_deny: true,
      determining: [],
      reason: "no_matching_allow",
      caller: { authenticated: true, spiffe_id: BATCH, trust_domain: "prod.example.com", source: "principal" },
      request: { method: "DELETE", path: "/orders/17", path_normalized: true, host: "orders.internal", source_address: "10.1.2.3", source_port: 40000 },
      decision_us: 42.1,
    });
    expect(record.input?.request.query).toEqual({ force: "1" });
    expect(record.input?.destination.spiffe_id).toBe(ORDERS_API);
    expect(record.error).toBeUndefined();
  });

  it("names the determining rule of an allow, and would_deny is false for an enforced deny", () => {
    const allowed = toAuditRecord(decideWith(live, request(FRONTEND, "GET", "/orders/1")), meta);
    expect(allowed).toMatchObject({ outcome: "allow", allowed: true, enforced: true, would_deny: false, reason: "allowed" });
    expect(allowed.determining).toEqual([{ policy: "orders", rule: "frontend reads orders", effect: "allow", mode: "enforce" }]);
    const denied = toAuditRecord(decideWith(live, request(FRONTEND, "DELETE", "/orders/1")), meta);
    expect(denied).toMatchObject({ outcome: "deny", allowed: false, enforced: true, would_deny: false });
  });

  it("uses snake_case for every structural key", () => {
    const outcome: DecisionOutcome = {
      decision: { allowed: true, outcome: "allow", enforced: true, determining: [], reason: "allowed", revision: "r1", detail: "x" },
      identity: inputWith({}).caller,
      input: inputWith({ "X-Mixed": "kept as data" }),
    };
    const keys = structuralKeys(toAuditRecord(outcome, meta));
    expect(keys.length).toBeGreaterThan(40);
    expect(keys.filter((k) => !/^[a-z0-9_]+$/.test(k))).toEqual([]);
    expect(keys).toContain("not_before");
    expect(keys).toContain("organizational_unit");
  });

  it("records the certificate's serial and fingerprint in the caller summary", () => {
    const input = inputWith({});
    const record = toAuditRecord({ decision: { allowed: true, outcome: "allow", enforced: true, determining: [], reason: "allowed", revision: "r" }, identity: input.caller, input }, meta);
    expect(record.caller).toEqual({
      authenticated: true,
      spiffe_id: "spiffe://prod.example.com/ns/checkout/sa/checkout",
      trust_domain: "prod.example.com",
      source: "certificate",
      cert_serial: "1001",
      cert_fingerprint: "ab".repeat(32),
    });
  });

  it("says why a caller is unauthenticated", () => {
    const record = toAuditRecord(decideWith(live, request(undefined, "GET", "/orders/1")), meta);
    expect(record.caller.authenticated).toBe(false);
    expect(record.caller.unauthenticated_reason).toBe("no_identity");
    expect(record.caller.spiffe_id).toBeUndefined();
  });

  it("falls back to the raw request, without its query, when the request was refused before evaluation", () => {
    const raw = request(FRONTEND, "GET", "/orders%2F1/admin?access_token=s3cret");
    const outcome = decideWith(live, raw);
    expect(outcome.input).toBeUndefined();
    const record = toAuditRecord(outcome, { ...meta, raw });
    expect(record.reason).toBe("malformed_path");
    expect(record.request).toEqual({ method: "GET", path: "/orders%2F1/admin", path_normalized: false, host: "orders.internal", source_address: "10.1.2.3", source_port: 40000 });
    expect(record.input).toBeUndefined();
    expect(JSON.stringify(record)).not.toContain("s3cret");
  });

  it("records internal errors in `error` and leaves out `request` when nothing is known", () => {
    const outcome: DecisionOutcome = {
      decision: denyBeforeEvaluation("internal_error", "r9", "boom"),
      identity: { authenticated: false, unauthenticatedReason: "not_resolved" },
      error: "boom",
    };
    const record = toAuditRecord(outcome, meta);
    expect(record).toMatchObject({ outcome: "deny", allowed: false, reason: "internal_error", detail: "boom", error: "boom" });
    expect("request" in record).toBe(false);
  });
});

describe("redaction", () => {
  it("replaces the default sensitive headers and keeps the others", () => {
    const input = inputWith({
      authorization: "Bearer abc.def.ghi",
      "proxy-authorization": "Basic dXNlcjpwYXNz",
      cookie: "session=s3cr3t",
      "set-cookie": "id=x",
      "x-forwarded-client-cert": "By=spiffe://a;Hash=00;Cert=\"...\"",
      "x-request-id": "r-1",
      "content-type": "application/json",
    });
    const recorded = recordInput(input, DEFAULT_REDACTED_HEADERS);
    expect(recorded.request.headers).toEqual({
      authorization: REDACTED,
      "proxy-authorization": REDACTED,
      cookie: REDACTED,
      "set-cookie": REDACTED,
      "x-forwarded-client-cert": REDACTED,
      "x-request-id": "r-1",
      "content-type": "application/json",
    });
    expect(recorded.redacted_headers).toEqual(["authorization", "cookie", "proxy-authorization", "set-cookie", "x-forwarded-client-cert"]);
    const text = JSON.stringify(recorded);
    for (const secret of ["abc.def.ghi", "dXNlcjpwYXNz", "s3cr3t", "id=x", "Hash=00"]) expect(text).not.toContain(secret);
  });

  it("redacts a configured header in any case, and the access_token query parameter", () => {
    const input = inputWith({ "x-api-key": "k-123", authorization: "Bearer t" }, { access_token: "tok", page: "2" });
    const redact = new Set([...DEFAULT_REDACTED_HEADERS, "X-Api-Key".toLowerCase()]);
    const recorded = recordInput(input, redact);
    expect(recorded.request.headers["x-api-key"]).toBe(REDACTED);
    expect(recorded.request.query).toEqual({ access_token: REDACTED, page: "2" });
    expect(recorded.redacted_query).toEqual(["access_token"]);
    // An explicit empty set redacts nothing: the list is what the caller configures.
    expect(recordInput(input, new Set(), new Set()).request.headers.authorization).toBe("Bearer t");
  });

  it("redacts through the live decision path too (real input builder)", () => {
    const raw = request(FRONTEND, "GET", "/orders/1", { Authorization: "Bearer live-secret", Cookie: "a=b", "X-Trace": "t" });
    const record = toAuditRecord(decideWith(live, raw), { ...meta, raw });
    expect(record.input?.request.headers["authorization"]).toBe(REDACTED);
    expect(record.input?.request.headers["cookie"]).toBe(REDACTED);
    expect(record.input?.request.headers["x-trace"]).toBe("t");
    expect(JSON.stringify(record)).not.toContain("live-secret");
  });

  it("leaves the input out entirely with --audit-input none, keeping caller and request", () => {
    const raw = request(FRONTEND, "GET", "/orders/1", { authorization: "Bearer x" });
    const record = toAuditRecord(decideWith(live, raw), { ...meta, raw, includeInput: false });
    expect("input" in record).toBe(false);
    expect(record.caller.spiffe_id).toBe(FRONTEND);
    expect(record.request?.path).toBe("/orders/1");
    expect(JSON.stringify(record)).not.toContain("Bearer");
  });
});

describe("recorded inputs read back", () => {
  it("decode to the same RequestInput, certificate attributes included", () => {
    const input = inputWith({ "x-a": "1" }, { q: "v" });
    const decoded = decodeInput(JSON.parse(JSON.stringify(recordInput(input, new Set()))));
    expect(decoded).toEqual({ ok: true, input });
  });

  it("round-trip for arbitrary header, query and context maps (names like __proto__ stay data)", () => {
    const name = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom("__proto__", "constructor", "toString"));
    const map = fc.dictionary(name, fc.string({ maxLength: 20 }), { maxKeys: 6 });
    fc.assert(
      fc.property(map, map, map, (headers, query, context) => {
        const input: RequestInput = { ...inputWith(headers, query), context };
        const decoded = decodeInput(JSON.parse(JSON.stringify(recordInput(input, new Set(), new Set()))));
        if (!decoded.ok) return false;
        expect({ ...decoded.input.request.headers }).toEqual({ ...headers });
        expect({ ...decoded.input.request.query }).toEqual({ ...query });
        expect({ ...decoded.input.context }).toEqual({ ...context });
        return inheritsNothing(decoded.input.request.headers);
      }),
      { numRuns: 200 },
    );
  });

  it("report the first mistyped field by its path", () => {
    const recorded = JSON.parse(JSON.stringify(recordInput(inputWith({}), new Set()))) as Record<string, any>;
    recorded.request.headers = { a: 1 };
    expect(decodeInput(recorded)).toEqual({ ok: false, message: "field `input.request.headers.a` is not a string" });
    const noTime = { ...JSON.parse(JSON.stringify(recordInput(inputWith({}), new Set()))), time: "yesterday" };
    expect(decodeInput(noTime)).toEqual({ ok: false, message: "field `input.time` is missing or not a number" });
    const badCert = JSON.parse(JSON.stringify(recordInput(inputWith({}), new Set()))) as Record<string, any>;
    delete badCert.caller.certificate.serial;
    expect(decodeInput(badCert)).toEqual({ ok: false, message: "field `input.caller.certificate.serial` is missing or not a string" });
    expect(decodeInput([1])).toEqual({ ok: false, message: "field `input` is not an object" });
  });
});

describe("the audit line writer", () => {
  const outcomeWith = (input: RequestInput, decision: Decision, error?: string): DecisionOutcome => ({
    decision,
    identity: input.caller,
    input,
    ...(error !== undefined && { error }),
  });
  const allowed: Decision = {
    allowed: true,
    outcome: "allow",
    enforced: true,
    determining: [{ policy: "payments", rule: "checkout \"may\" charge", effect: "allow", mode: "enforce" }],
    reason: "allowed",
    revision: "r1",
  };
  /** What the writer must write: the record toAuditRecord builds, as JSON.stringify writes it, in UTF-8. */
  const expected = (outcome: DecisionOutcome, m: AuditMeta) => Buffer.from(`${JSON.stringify(toAuditRecord(outcome, m))}\n`, "utf8");
  const written = (lines: AuditLineWriter, outcome: DecisionOutcome, m: AuditMeta) => Buffer.from(lines.decisionBytes(outcome, m));

  it("writes exactly what JSON.stringify writes for the record of a decision (every optional field, both ways)", () => {
    const lines = createAuditLineWriter();
    const raw = request(BATCH, "DELETE", "/orders/17?force=1");
    const cases: [DecisionOutcome, AuditMeta][] = [
      [decideWith(live, raw, { auditAll: true }), { ...meta, mode: "audit", raw }],
      [decideWith(live, request(undefined, "GET", "/orders/1")), { ...meta, includeInput: false }],
      [outcomeWith(inputWith({ authorization: "Bearer x", "x-\u0001\"q": "v\u2028\ud800" }, { access_token: "t", a: "b" }), allowed), meta],
      [outcomeWith(inputWith({}), { ...allowed, detail: "d\n", determining: [] }, "boom \\ \"x\""), { ...meta, micros: Number.NaN }],
      [{ decision: denyBeforeEvaluation("internal_error", "r", "x", {}), identity: { authenticated: false, unauthenticatedReason: "not_resolved", detail: "é" }, error: "x" }, meta],
      // Long values (copied natively rather than in a loop), one beyond the writer's first buffer, and long non-ASCII text.
      [outcomeWith(inputWith({ "user-agent": "a".repeat(200), "x-big": "b".repeat(40_000), "x-text": "é€😀".repeat(100) }), allowed), meta],
      // Refused before evaluation: the request summary comes from the raw request, without its query.
      [{ decision: denyBeforeEvaluation("malformed_path", "r", "bad", {}), identity: unauthenticatedCaller() }, { ...meta, raw: request(BATCH, "GET", "/a/../b?access_token=t") }],
    ];
    for (const [outcome, m] of cases) {
      expect(written(lines, outcome, m)).toEqual(expected(outcome, m));
      // Twice: the second time the verdict and the caller come from the caches.
      expect(written(lines, outcome, m)).toEqual(expected(outcome, m));
    }
  });

  it("never answers from a cache for a decision that differs in any field the cached text stands for", () => {
    const lines = createAuditLineWriter();
    const input = inputWith({ a: "1" });
    const rule = allowed.determining[0]!;
    const variants: DecisionOutcome[] = [
      outcomeWith(input, allowed),
      outcomeWith(input, { ...allowed, revision: "r2" }),
      outcomeWith(input, { ...allowed, allowed: false, enforced: false }),
      outcomeWith(input, { ...allowed, outcome: "deny", reason: "denied_by_rule", determining: [{ ...rule, effect: "deny" }] }),
      outcomeWith(input, { ...allowed, determining: [rule, { ...rule, rule: "second" }] }),
      outcomeWith({ ...input, caller: { ...input.caller, spiffeId: "spiffe://prod.example.com/other" } }, allowed),
      outcomeWith({ ...input, caller: { ...input.caller, source: "principal" } }, allowed),
      outcomeWith({ ...input, caller: { ...input.caller, certificate: undefined } } as RequestInput, allowed),
      outcomeWith({ ...input, caller: { authenticated: true, spiffeId: "spiffe://prod.example.com/x", trustDomain: "prod.example.com", path: "/x", source: "principal" } }, allowed),
      outcomeWith({ ...input, caller: { authenticated: true, spiffeId: "spiffe://prod.example.com/x", trustDomain: "prod.example.com", path: "/x", source: "xfcc" } }, allowed),
    ];
    for (let round = 0; round < 2; round++) {
      for (const outcome of variants) {
        for (const mode of ["enforce", "audit"] as const) {
          expect(written(lines, outcome, { ...meta, mode })).toEqual(expected(outcome, { ...meta, mode }));
        }
      }
    }
  });

  it("round-trips arbitrary header, query and context maps and caller strings, redacting in any case", () => {
    const lines = createAuditLineWriter();
    const name = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom("__proto__", "constructor", "1", "0", "Authorization", "cookie", "access_token"));
    const map = fc.dictionary(name, fc.string({ maxLength: 20 }), { maxKeys: 6 });
    fc.assert(
      fc.property(map, map, map, fc.string(), fc.boolean(), (headers, query, context, text, redact) => {
        const input: RequestInput = { ...inputWith(headers, query), context, caller: { ...inputWith({}).caller, spiffeId: text } };
        const m: AuditMeta = redact ? { ...meta, decisionId: text } : { ...meta, decisionId: text, redactHeaders: new Set(), redactQuery: new Set() };
        const outcome = outcomeWith(input, { ...allowed, detail: text });
        return written(lines, outcome, m).equals(expected(outcome, m));
      }),
      { numRuns: 300 },
    );
  });

  it("writes values kept from earlier lines exactly, and never a kept value for a changed one (property)", () => {
    const lines = createAuditLineWriter();
    const name = fc.constantFrom("accept", "x-role", "authorization", "user-agent", "__proto__");
    const value = fc.oneof(fc.constantFrom("user", "admin", 'a"b', "é", "v".repeat(300)), fc.string({ maxLength: 12 }));
    const map = fc.dictionary(name, value, { maxKeys: 5 });
    fc.assert(
      fc.property(fc.array(fc.tuple(map, map), { minLength: 1, maxLength: 6 }), (steps) => {
        for (const [headers, query] of steps) {
          const outcome = outcomeWith(inputWith(headers, query), allowed);
          // Three times: written, then kept as JSON (seen twice in a row), then copied from what was kept.
          for (let k = 0; k < 3; k++) if (!written(lines, outcome, meta).equals(expected(outcome, meta))) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });

  it("escapes strings exactly as JSON.stringify does (quotes, backslashes, control characters, lone surrogates)", () => {
    const lines = createAuditLineWriter();
    const tricky = ['a"b', "a\\b", "a\nb", "\u0000", "\u001f", "\u007f", "\u2028\u2029", "\ud800", "x\udfff", "\ud83d\ude00", "é", "plain"];
    const m: AuditMeta = { ...meta, redactHeaders: new Set(), redactQuery: new Set() };
    for (const text of tricky) {
      const input: RequestInput = { ...inputWith({ [text]: text }, { [text]: text }), context: { [text]: text }, caller: { ...inputWith({}).caller, spiffeId: text } };
      const outcome = outcomeWith(input, { ...allowed, detail: text, determining: [{ policy: text, rule: text, effect: "allow", mode: "enforce" }] });
      expect(written(lines, outcome, { ...m, decisionId: text })).toEqual(expected(outcome, { ...m, decisionId: text }));
    }
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme-composite" }), (a, b) => {
        const input: RequestInput = { ...inputWith({}), caller: { ...inputWith({}).caller, spiffeId: b } };
        const outcome = outcomeWith(input, { ...allowed, detail: a });
        return written(lines, outcome, { ...m, decisionId: a + b }).equals(expected(outcome, { ...m, decisionId: a + b }));
      }),
      { numRuns: 300 },
    );
  });

  it("shares one frozen recorded certificate per parsed certificate, and writes it the same every time", () => {
    const a = recordInput(inputWith({}), new Set());
    const b = recordInput(inputWith({ x: "1" }), new Set());
    expect(a.caller.certificate).toBe(b.caller.certificate);
    expect(Object.isFrozen(a.caller.certificate)).toBe(true);
    expect(Object.isFrozen(a.caller.certificate?.subject.organization)).toBe(true);
    const other = recordInput({ ...inputWith({}), caller: { ...inputWith({}).caller, certificate: { ...CERT, serial: "1002" } } }, new Set());
    expect(other.caller.certificate?.serial).toBe("1002");
    expect(a.caller.certificate?.serial).toBe("1001");
  });

  it("writes records of another shape (hand-built, shadow) as JSON.stringify does", () => {
    const lines = createAuditLineWriter();
    const shadow = toShadowRecord(decideWith(live, request(BATCH, "GET", "/orders/1")), decideWith(compile(TIGHTENED), request(BATCH, "GET", "/orders/1")), "outcome", { ...meta, raw: request(BATCH, "GET", "/orders/1") });
    expect(lines.record(shadow)).toBe(`${JSON.stringify(shadow)}\n`);
  });
});

describe("shadow records", () => {
  const tightened = compile(TIGHTENED);

  it("compare verdicts, and determining rules only when asked", () => {
    const allowA: Decision = { allowed: true, outcome: "allow", enforced: true, reason: "allowed", revision: "a", determining: [{ policy: "p", rule: "r1", effect: "allow", mode: "enforce" }] };
    const allowB: Decision = { ...allowA, revision: "b", determining: [{ policy: "p", rule: "r2", effect: "allow", mode: "enforce" }] };
    const deny: Decision = { allowed: false, outcome: "deny", enforced: true, reason: "no_matching_allow", revision: "b", determining: [] };
    // Audit mode lets the deny through, but the verdict differs: still a disagreement.
    const auditDeny: Decision = { ...deny, allowed: true, enforced: false };
    expect(compareDecisions(allowA, deny, false)).toBe("outcome");
    expect(compareDecisions(allowA, auditDeny, false)).toBe("outcome");
    expect(compareDecisions(allowA, allowB, false)).toBeUndefined();
    expect(compareDecisions(allowA, allowB, true)).toBe("rules");
    expect(compareDecisions(allowA, { ...allowA, revision: "c" }, true)).toBeUndefined();
  });

  it("show both verdicts and both determining rule lists", () => {
    const raw = request(BATCH, "POST", "/orders");
    const liveOutcome = decideWith(live, raw);
    const candidate = decideWith(tightened, raw);
    const record = toShadowRecord(liveOutcome, candidate, "outcome", { decisionId: "d1", time: T0, mode: "enforce", raw, includeInput: false, redactHeaders: DEFAULT_REDACTED_HEADERS });
    expect(record).toEqual({
      version: 1,
      type: "shadow",
      time: "2027-01-06T09:00:00.000Z",
      decision_id: "d1",
      mode: "enforce",
      disagreement: "outcome",
      live: {
        revision: live.revision,
        outcome: "allow",
        allowed: true,
        reason: "allowed",
        determining: [{ policy: "orders", rule: "batch writes orders", effect: "allow", mode: "enforce" }],
      },
      candidate: { revision: tightened.revision, outcome: "deny", reason: "no_matching_allow", determining: [] },
      caller: { authenticated: true, spiffe_id: BATCH, trust_domain: "prod.example.com", source: "principal" },
      request: { method: "POST", path: "/orders", path_normalized: true, host: "orders.internal", source_address: "10.1.2.3", source_port: 40000 },
    });
  });
});
