import { randomBytes } from "node:crypto";
import { connect as connectHttp2, constants as h2 } from "node:http2";
import { connect as connectTcp } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CHECK_METHOD_PATH } from "../../src/ext-authz/protos.js";
import {
  answerHeaders,
  answerMetadata,
  authorizationClient,
  decodeCheckResponse,
  encodeCheckRequest,
  envoyCheckRequest,
  makeTestPki,
  openCheckCall,
  type DecodedCheckResponse,
  type EnvoyRequestSpec,
  type RawCheckAnswer,
  type TestPki,
} from "./envoy.js";
import { busyWait, CHECKOUT, FRONTEND, PAYMENTS, startWard, type RunningWard } from "./ward.js";

const charge = (spec: EnvoyRequestSpec = {}) =>
  envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS, ...spec });

const running: RunningWard[] = [];
const clients: grpc.Client[] = [];
async function ward(options: Parameters<typeof startWard>[0] = {}): Promise<RunningWard> {
  const w = await startWard(options);
  running.push(w);
  return w;
}
function client(target: string, credentials?: grpc.ChannelCredentials) {
  const c = authorizationClient(target, credentials);
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(running.splice(0).map((w) => w.stop(500)));
});

/** Waits for the decision hook (it runs once the answers of a read are handed to grpc-js). */
async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}

function health(target: string, service: string): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const c = new Health(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  };
  clients.push(c);
  return new Promise((resolve, reject) => c.check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));
}

/** Sends one raw gRPC message over HTTP/2, on a connection of its own, and returns the grpc-status and the answer bytes. */
async function rawCall(target: string, message: Buffer, compressedFlag = 0, extraHeaders: Record<string, string> = {}): Promise<RawCheckAnswer> {
  const session = connectHttp2(`http://${target}`);
  try {
    const failed = new Promise<never>((_, reject) => session.once("error", reject));
    const call = openCheckCall(session, extraHeaders);
    call.send(message, compressedFlag);
    return await Promise.race([call.done, failed]);
  } finally {
    session.close();
  }
}

describe("ward ext_authz server (in-process, real policies, engine, identity and input)", () => {
  it("allows a permitted call: OK, caller and decision id upstream, metadata, a decision event after the answer", async () => {
    const w = await ward();
    const r = await client(w.tcp).check(charge({ requestId: "req-allow-1", headers: { "x-ward-caller": "spiffe://evil/forged" } }));
    expect(r.status?.code ?? 0).toBe(0);
    expect(r.http_response).toBe("ok_response");
    // The forged x-ward-caller is replaced (append false / OVERWRITE), the would-deny header is removed.
    expect(answerHeaders(r)).toEqual({ "x-ward-decision-id": "req-allow-1", "x-ward-caller": CHECKOUT });
    expect(r.ok_response!.headers_to_remove).toEqual(["x-ward-would-deny"]);
    expect(answerMetadata(r)).toMatchObject({ decision_id: "req-allow-1", allowed: true, reason: "allowed", policy: "payments-api", rule: "checkout may charge", revision: w.store.current()!.revision });
    await settle();
    expect(w.events).toHaveLength(1);
    const event = w.events[0]!;
    expect(event).toMatchObject({ decisionId: "req-allow-1", httpStatus: 200 });
    expect(event.outcome.decision.allowed).toBe(true);
    expect(event.raw?.path).toBe("/api/v1/charge");
    expect(event.outcome.input?.request.path).toBe("/api/v1/charge");
    expect(event.decisionMicros).toBeGreaterThan(0);
  });

  it("denies by rule with PERMISSION_DENIED, 403 and the decision id", async () => {
    const w = await ward();
    const r = await client(w.tcp).check(charge({ principal: FRONTEND, requestId: "req-deny-1" }));
    expect(r.status?.code).toBe(7);
    expect(r.denied_response?.status?.code).toBe("Forbidden");
    expect(answerHeaders(r)["x-ward-decision-id"]).toBe("req-deny-1");
    expect(JSON.parse(r.denied_response!.body!)).toEqual({ decision_id: "req-deny-1", reason: "forbidden" });
    expect(answerMetadata(r)).toMatchObject({ allowed: false, reason: "no_matching_allow" });
    const admin = await client(w.tcp).check(charge({ method: "GET", path: "/admin/users" }));
    expect(answerMetadata(admin)).toMatchObject({ allowed: false, reason: "denied_by_rule", rule: "only ops may administer" });
  });

  it("answers 401 to a caller without an identity", async () => {
    const w = await ward();
    const noPrincipal = charge({});
    delete (noPrincipal["attributes"] as { source: Record<string, unknown> }).source["principal"];
    const r = await client(w.tcp).check(noPrincipal);
    expect(r.status?.code).toBe(7);
    expect(r.denied_response?.status?.code).toBe("Unauthorized");
    expect(JSON.parse(r.denied_response!.body!).reason).toBe("unauthenticated");
  });

  it("in audit mode lets a would-deny request through, says so upstream and records it", async () => {
    const w = await ward({ auditAll: true });
    const r = await client(w.tcp).check(charge({ principal: FRONTEND }));
    expect(r.status?.code ?? 0).toBe(0);
    expect(answerHeaders(r)["x-ward-would-deny"]).toBe("no_matching_allow");
    expect(answerMetadata(r)).toMatchObject({ allowed: true, outcome: "deny", enforced: false, would_deny: true });
    await settle();
    expect(w.events[0]!.outcome.decision).toMatchObject({ allowed: true, outcome: "deny", enforced: false });
    // Errors are never let through, audit mode or not: a request Ward cannot read is denied.
    const unreadable = await client(w.tcp).check({});
    expect(unreadable.status?.code).toBe(7);
  });

  it("denies malformed paths before the policies run, and canonicalizes the rest", async () => {
    const w = await ward();
    const c = client(w.tcp);
    for (const path of ["/admin%2F..", "/api\\v1", "/admin;x", "/%2e%2e/admin%00", "api/v1/charge", "/a b"]) {
      const r = await c.check(charge({ path }));
      expect({ path, code: r.status?.code, reason: answerMetadata(r)["reason"] }).toEqual({ path, code: 7, reason: "malformed_path" });
    }
    // `/public/../api/v1/charge` is `/api/v1/charge` once dot segments are removed: decided on the canonical path.
    const dotted = await c.check(charge({ path: "/public/../api/v1/charge" }));
    expect(answerMetadata(dotted)).toMatchObject({ allowed: true, reason: "allowed" });
    // `//admin` keeps its `admin` segment (OPA-Envoy CVE-2026-26205): the admin deny rule applies.
    const doubleSlash = await c.check(charge({ method: "GET", path: "//admin/users" }));
    expect(answerMetadata(doubleSlash)).toMatchObject({ allowed: false, reason: "denied_by_rule" });
  });

  it("denies oversized input with request_too_large, and refuses what exceeds the transport limit", async () => {
    const w = await ward({ maxMessageBytes: 8 * 1024, maxReceiveMessageBytes: 32 * 1024, maxHeaders: 20, maxBodyBytes: 100 });
    const c = client(w.tcp);
    const big = await c.check(charge({ headers: { "x-padding": "p".repeat(12 * 1024) } }));
    expect(big.status?.code).toBe(7);
    expect(answerMetadata(big)["reason"]).toBe("request_too_large");
    const many: Record<string, string> = {};
    for (let i = 0; i < 30; i++) many[`x-h${i}`] = "v";
    const tooManyHeaders = await c.check(charge({ headers: many }));
    expect(answerMetadata(tooManyHeaders)["reason"]).toBe("request_too_large");
    const body = await c.check(charge({ body: "b".repeat(200) }));
    expect(answerMetadata(body)["reason"]).toBe("request_too_large");
    // Beyond the transport limit grpc-js refuses the call itself (RESOURCE_EXHAUSTED): Envoy then
    // applies status_on_error, a deny unless failure_mode_allow is on (docs/envoy.md says why it must not be).
    await expect(c.check(charge({ headers: { "x-padding": "p".repeat(40 * 1024) } }))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
  });

  it("denies a CheckRequest without attributes, and one without request.http", async () => {
    const w = await ward();
    const empty = await client(w.tcp).check({});
    expect(empty.status?.code).toBe(7);
    expect(answerMetadata(empty)).toMatchObject({ allowed: false, reason: "malformed_request" });
    const tcpFilter = await client(w.tcp).check({ attributes: { source: { principal: CHECKOUT } } });
    expect(answerMetadata(tcpFilter)["reason"]).toBe("malformed_request");
    await settle();
    expect(w.events[0]!.error).toContain("`attributes`");
    expect(w.events[0]!.raw).toBeUndefined();
  });

  it("survives garbage on the wire: random message bytes are denied, non-HTTP/2 bytes close only that connection", async () => {
    const w = await ward();
    for (let i = 0; i < 20; i++) {
      const { grpcStatus, body } = await rawCall(w.tcp, randomBytes(1 + (i * 37) % 500));
      expect(grpcStatus).toBe("0");
      const answer: DecodedCheckResponse = decodeCheckResponse(body);
      expect(answer.status?.code).toBe(7);
      expect(answerMetadata(answer)["reason"]).toMatch(/^malformed_request$/);
    }
    // "gzip" bytes that are not gzip: grpc-js itself refuses the call (INTERNAL), the server lives on.
    const compressed = await rawCall(w.tcp, encodeCheckRequest(charge()), 1, { "grpc-encoding": "gzip" });
    expect(compressed.grpcStatus).toBe(String(grpc.status.INTERNAL));
    // Not HTTP/2 at all.
    await new Promise<void>((resolve) => {
      const socket = connectTcp(Number(w.tcp.split(":")[1]), "127.0.0.1", () => socket.write(randomBytes(4096)));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
      setTimeout(() => socket.destroy(), 300).unref();
    });
    const after = await client(w.tcp).check(charge());
    expect(after.status?.code ?? 0).toBe(0);
  });

  it("reports health: NOT_SERVING until policies are loaded, SERVING, then NOT_SERVING while draining", async () => {
    const w = await ward({ notServing: true });
    expect(await health(w.tcp, "")).toBe("NOT_SERVING");
    expect(await health(w.tcp, "envoy.service.auth.v3.Authorization")).toBe("NOT_SERVING");
    w.server.setServing(true);
    expect(await health(w.tcp, "")).toBe("SERVING");
    expect(await health(w.unix, "envoy.service.auth.v3.Authorization")).toBe("SERVING");
    // Watch the status while shutting down: it turns NOT_SERVING before the server stops.
    const Health = grpc.makeGenericClientConstructor(healthService, "Health");
    const watcher = new Health(w.tcp, grpc.credentials.createInsecure()) as unknown as grpc.Client & { watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }> };
    clients.push(watcher);
    const seen: string[] = [];
    const stream = watcher.watch({ service: "" });
    stream.on("data", (m: { status: string }) => seen.push(m.status));
    stream.on("error", () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const stopping = w.stop(300);
    await stopping;
    expect(seen[0]).toBe("SERVING");
    expect(seen).toContain("NOT_SERVING");
  });

  it("serves over a Unix domain socket", async () => {
    const w = await ward();
    expect(w.unix).toMatch(/^unix:\/\/\/.*ward\.sock$/);
    const r = await client(w.unix).check(charge());
    expect(r.status?.code ?? 0).toBe(0);
    const denied = await client(w.unix).check(charge({ principal: FRONTEND }));
    expect(denied.status?.code).toBe(7);
  });

  describe("TLS", () => {
    let pki: TestPki;
    beforeAll(() => {
      pki = makeTestPki();
    });
    afterAll(() => pki.cleanup());

    it("mutual TLS: accepts a client signed by the client CA, refuses others and plaintext", async () => {
      const w = await ward({ tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caPem } });
      const good = client(w.tcp, grpc.credentials.createSsl(pki.caPem, pki.clientKey, pki.clientCert));
      expect((await good.check(charge())).status?.code ?? 0).toBe(0);
      const noCert = client(w.tcp, grpc.credentials.createSsl(pki.caPem));
      await expect(noCert.check(charge(), { deadline: Date.now() + 3000 })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      const rogue = client(w.tcp, grpc.credentials.createSsl(pki.caPem, pki.rogueKey, pki.rogueCert));
      await expect(rogue.check(charge(), { deadline: Date.now() + 3000 })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      const plain = client(w.tcp);
      await expect(plain.check(charge(), { deadline: Date.now() + 3000 })).rejects.toBeDefined();
      // The Unix socket stays plaintext (file permissions protect it).
      expect((await client(w.unix).check(charge())).status?.code ?? 0).toBe(0);
    });

    it("server-only TLS", async () => {
      const w = await ward({ tls: { cert: pki.serverCert, key: pki.serverKey } });
      const c = client(w.tcp, grpc.credentials.createSsl(pki.caPem));
      expect((await c.check(charge())).status?.code ?? 0).toBe(0);
    });
  });

  it("shuts down gracefully: calls in flight are answered, new calls are refused", async () => {
    // Each decision takes 15 ms, so the calls queue up behind each other.
    let stopping: Promise<boolean> | undefined;
    const w = await ward({
      wrapDeps: (deps) => ({
        resolver: deps.resolver,
        inputBuilder: { build: (raw, caller, now) => (busyWait(15), deps.inputBuilder.build(raw, caller, now)) },
      }),
      onDecision: () => {
        stopping ??= w.stop(5000);
      },
    });
    const c = client(w.tcp);
    const calls = Array.from({ length: 12 }, (_, i) => c.check(charge({ requestId: `inflight-${i}` })));
    const answers = await Promise.all(calls);
    expect(answers.map((a) => a.status?.code ?? 0)).toEqual(Array(12).fill(0));
    expect(new Set(answers.map((a) => answerHeaders(a)["x-ward-decision-id"])).size).toBe(12);
    expect(stopping).toBeDefined();
    expect(await stopping).toBe(true);
    await expect(client(w.tcp).check(charge(), { deadline: Date.now() + 1000 })).rejects.toBeDefined();
  });

  it("denies with `timeout` when a decision overruns its budget", async () => {
    const w = await ward({
      decisionTimeoutMs: 20,
      wrapDeps: (deps) => ({
        resolver: deps.resolver,
        inputBuilder: { build: (raw, caller, now) => (busyWait(40), deps.inputBuilder.build(raw, caller, now)) },
      }),
    });
    const r = await client(w.tcp).check(charge());
    expect(r.status?.code).toBe(7);
    expect(r.denied_response?.status?.code).toBe("Forbidden");
    expect(answerMetadata(r)["reason"]).toBe("timeout");
  });

  // The calls these tests need decided carry a long gRPC timeout: on a busy machine the test's own
  // event loop (which the server shares) can run late by more than the test's 50 ms threshold.
  const patient = () => ({ deadline: Date.now() + 30_000 });

  it("denies with `overloaded` while the event loop runs later than the budget, then recovers", async () => {
    const w = await ward({ overloadThresholdMs: 50 });
    const c = client(w.tcp);
    expect((await c.check(charge(), patient())).status?.code ?? 0).toBe(0);
    // Stall the loop the server shares with this test; the monitor's next tick is 150 ms late.
    busyWait(150);
    const during = await c.check(charge());
    expect(answerMetadata(during)).toMatchObject({ allowed: false, reason: "overloaded" });
    // The next on-time tick clears the flag: a call without a timeout is decided again.
    let after = await c.check(charge());
    for (let tries = 0; tries < 40 && answerMetadata(after)["reason"] === "overloaded"; tries++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await c.check(charge());
    }
    expect(answerMetadata(after)).toMatchObject({ allowed: true, reason: "allowed" });
  });

  it("sheds after a stall only the calls whose gRPC timeout the stall could have used up", async () => {
    const w = await ward({ overloadThresholdMs: 50 });
    const c = client(w.tcp);
    expect((await c.check(charge(), patient())).status?.code ?? 0).toBe(0);
    // A 200 ms stall (a long garbage collection, say), then three calls read right after it.
    busyWait(200);
    const [noTimeout, longTimeout, shortTimeout] = await Promise.all([
      c.check(charge()),
      c.check(charge(), { deadline: Date.now() + 5000 }),
      // On a busy machine the client may give up on this one before the answer comes: the record says what Ward did.
      c.check(charge(), { deadline: Date.now() + 150 }).catch(() => undefined),
    ]);
    // Without a timeout, Ward cannot tell how long the caller waits: shed, as before.
    expect(answerMetadata(noTimeout)).toMatchObject({ allowed: false, reason: "overloaded" });
    // Envoy still waits for this one (5 s from when it was sent): decided, allowed.
    expect(longTimeout.status?.code ?? 0).toBe(0);
    expect(answerMetadata(longTimeout)).toMatchObject({ allowed: true, reason: "allowed" });
    // 150 ms is less than the stall: the caller may have given up; shed, and the record says why.
    if (shortTimeout !== undefined) expect(answerMetadata(shortTimeout)).toMatchObject({ allowed: false, reason: "overloaded" });
    const details = w.events.filter((e) => e.outcome.decision.reason === "overloaded").map((e) => e.error);
    expect(details).toContainEqual(expect.stringMatching(/^the event loop stalled for up to \d+ ms, at least the \d+ ms the caller's gRPC timeout gave the call$/));
    expect(details).toContainEqual(expect.stringMatching(/^the event loop stalled for up to \d+ ms, over the decision budget, and the call carries no gRPC timeout$/));
    expect(w.events.filter((e) => e.outcome.decision.reason === "allowed")).toHaveLength(2);
  });

  it("fails closed on exceptions and with no policy set; a failing hook changes nothing", async () => {
    const w = await ward({
      wrapDeps: (deps) => ({
        inputBuilder: deps.inputBuilder,
        resolver: {
          resolve: (evidence, opts) => {
            if (evidence.principal === FRONTEND) throw new Error("resolver exploded");
            return deps.resolver.resolve(evidence, opts);
          },
        },
      }),
      onDecision: () => {
        throw new Error("audit sink exploded");
      },
    });
    const c = client(w.tcp);
    const r = await c.check(charge({ principal: FRONTEND }));
    expect(r.status?.code).toBe(7);
    expect(answerMetadata(r)["reason"]).toBe("internal_error");
    // The exception text stays out of the answer.
    expect(r.denied_response!.body).not.toContain("exploded");
    const fine = await c.check(charge());
    expect(fine.status?.code ?? 0).toBe(0);
    await settle();
    expect(w.hookErrors).toHaveLength(2);
    expect(w.service.stats()).toMatchObject({ calls: 2, allowed: 1, denied: 1, errors: 1, hookErrors: 2 });

    const empty = await ward({ policies: { current: () => undefined } });
    const none = await client(empty.tcp).check(charge());
    expect(answerMetadata(none)).toMatchObject({ allowed: false, reason: "no_policies_loaded", revision: "none" });

    // A policy source that throws while the handler reads it still ends in PERMISSION_DENIED, never a gRPC error.
    const broken = await ward({
      policies: {
        current: () => ({
          get program(): never {
            throw new Error("store exploded");
          },
        }),
      },
    });
    const refused = await client(broken.tcp).check(charge());
    expect(refused.status?.code).toBe(7);
    expect(answerMetadata(refused)).toMatchObject({ allowed: false, reason: "internal_error", revision: "none" });
  });

  it("bounds the calls one connection may hold open (--max-in-flight)", async () => {
    const w = await ward({ maxConcurrentStreams: 2 });
    const session = connectHttp2(`http://${w.tcp}`);
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
    const open = () =>
      session.request({
        [h2.HTTP2_HEADER_METHOD]: "POST",
        [h2.HTTP2_HEADER_PATH]: CHECK_METHOD_PATH,
        [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
        te: "trailers",
      });
    // Two calls that never send their message hold both slots; a third cannot start on this connection.
    const held = [open(), open()];
    for (const s of held) s.on("error", () => undefined);
    const third = open();
    const refused = await new Promise<unknown>((resolve) => {
      third.on("error", resolve);
      third.on("response", () => resolve(undefined));
      setTimeout(() => resolve("pending"), 500).unref();
    });
    expect(refused).not.toBeUndefined();
    session.destroy();
    // Other connections are unaffected.
    expect((await client(w.tcp).check(charge())).status?.code ?? 0).toBe(0);
  });

  it("answers many concurrent calls correctly, each with its own decision id", async () => {
    const w = await ward();
    const c = client(w.tcp);
    const requests = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? charge({ principal: FRONTEND, requestId: `c-${i}` }) : charge({ requestId: `c-${i}` })));
    const answers = await Promise.all(requests.map((r) => c.check(r)));
    answers.forEach((a, i) => {
      expect(answerHeaders(a)["x-ward-decision-id"]).toBe(`c-${i}`);
      expect(a.status?.code ?? 0).toBe(i % 3 === 0 ? 7 : 0);
    });
    await settle();
    expect(w.events).toHaveLength(300);
  });

  it("takes the decoded request out of the message grpc-js keeps, and denies a message handled twice", async () => {
    const w = await ward();
    const check = w.service.definition["Check"]!;
    const handler = w.service.implementation["Check"] as (call: object, callback: (err: unknown, answer?: Buffer) => void) => void;
    // The message as grpc-js holds it, with the call, after the handler has answered.
    const message = check.requestDeserialize(encodeCheckRequest(charge({ requestId: "taken-1" }))) as { decoded?: unknown };
    expect(message.decoded).toMatchObject({ ok: true });
    const call = { request: message, getDeadline: () => Infinity };
    const answers: Buffer[] = [];
    handler(call, (err, answer) => {
      expect(err).toBeNull();
      answers.push(answer!);
    });
    expect(message.decoded).toBeUndefined();
    handler(call, (_err, answer) => answers.push(answer!));
    const [first, second] = answers.map((a) => decodeCheckResponse(a));
    expect(first!.status?.code ?? 0).toBe(0);
    expect(second!.status?.code).toBe(7);
    expect(answerMetadata(second!)).toMatchObject({ allowed: false, reason: "malformed_request" });
    await settle();
    expect(w.events.map((e) => e.outcome.decision.reason)).toEqual(["allowed", "malformed_request"]);
    expect(w.events[0]!.raw?.path).toBe("/api/v1/charge");
  });

  it("generates a decision id when x-request-id is missing or unusable", async () => {
    const w = await ward();
    const c = client(w.tcp);
    const weird = await c.check(charge({ requestId: "bad id\" with quotes" }));
    const id = answerHeaders(weird)["x-ward-decision-id"]!;
    expect(id).toMatch(/^w-[0-9a-f]{12}-[0-9a-z]+$/);
    expect(answerMetadata(weird)["decision_id"]).toBe(id);
  });
});
