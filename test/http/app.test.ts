import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decisionToJson } from "../../src/decision-json.js";
import { decide, type DecisionOutcome } from "../../src/decide.js";
import { createHttpApp, type HttpDecisionMeta } from "../../src/http/app.js";
import { parseListenAddress, startHttpServer, type RunningHttpServer } from "../../src/http/server.js";
import { fromInputDocument } from "../../src/input/documents.js";
import { createMetrics } from "../../src/metrics.js";
import { revisionOf } from "../../src/policy-loader.js";
import { createPolicyStore, type PolicyStore } from "../../src/policy-store.js";
import { parseExposition, sampleValue, sumSamples } from "./exposition.js";
import { BROKEN, decisionDeps, READS, READS_AND_WRITES, tempPolicyDir } from "./helpers.js";

const CALLER = "spiffe://prod.example.com/ns/web/sa/frontend";
const compact = (method: string, extra: Record<string, unknown> = {}) => ({
  caller: { spiffe_id: CALLER },
  request: { method, path: "/api/v1/items", host: "api.prod.example.com" },
  ...extra,
});

interface Harness {
  server: RunningHttpServer;
  store: PolicyStore;
  dir: string;
  write(name: string, text: string): void;
  hooked: { outcome: DecisionOutcome; meta: HttpDecisionMeta }[];
  setListening(v: boolean): void;
  close(): Promise<void>;
}

async function harness(files: Record<string, string>, options: { bodyLimit?: number } = {}): Promise<Harness> {
  const tmp = tempPolicyDir(files);
  const store = createPolicyStore({ paths: [tmp.dir], settleMs: 0 });
  await store.reload("startup");
  const resolver = decisionDeps().resolver;
  const metrics = createMetrics({ certificateCache: () => resolver.stats() });
  metrics.observePolicyStore(store);
  let listening = false;
  const hooked: Harness["hooked"] = [];
  const app = createHttpApp(
    {
      store,
      decision: { resolver, inputBuilder: decisionDeps().inputBuilder },
      metrics,
      isReady: () => listening,
      onDecision: (outcome, meta) => void hooked.push({ outcome, meta }),
    },
    options,
  );
  const server = await startHttpServer(app, "127.0.0.1:0");
  return {
    server,
    store,
    dir: tmp.dir,
    write: tmp.write,
    hooked,
    setListening: (v) => (listening = v),
    close: async () => {
      await server.close();
      store.close();
      tmp.cleanup();
    },
  };
}

async function call(h: Harness, method: string, path: string, body?: string | object, headers: Record<string, string> = {}) {
  const response = await fetch(h.server.url + path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, type: response.headers.get("content-type") ?? "", text, json };
}

describe("HTTP API over a real listener", () => {
  let h: Harness;
  let revision: string;
  beforeAll(async () => {
    h = await harness({ "api.ward": READS });
    revision = h.store.current()!.revision;
  });
  afterAll(async () => h.close());

  it("listens on loopback with a real port", () => {
    expect(h.server.host).toBe("127.0.0.1");
    expect(h.server.port).toBeGreaterThan(0);
    expect(h.server.url).toBe(`http://127.0.0.1:${h.server.port}`);
  });

  it("GET /health answers while the process lives", async () => {
    const r = await call(h, "GET", "/health");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "ok" });
  });

  it("GET /ready needs loaded policies and the gRPC server", async () => {
    h.setListening(false);
    let r = await call(h, "GET", "/ready");
    expect(r.status).toBe(503);
    expect(r.json).toEqual({ ready: false, revision, reasons: ["not_serving"] });
    h.setListening(true);
    r = await call(h, "GET", "/ready");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ready: true, revision, reasons: [] });
  });

  it("POST /v1/check decides a compact input like `ward eval`", async () => {
    const r = await call(h, "POST", "/v1/check", compact("GET"));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      allowed: true,
      outcome: "allow",
      enforced: true,
      status: 200,
      reason: "allowed",
      revision,
      determining: [{ policy: "api", rule: "reads", effect: "allow", mode: "enforce" }],
      caller: { authenticated: true, spiffe_id: CALLER },
    });
    expect(r.json.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json.explanation).toBeUndefined();

    const denied = await call(h, "POST", "/v1/check", compact("DELETE"));
    expect(denied.json).toMatchObject({ allowed: false, outcome: "deny", status: 403, reason: "no_matching_allow", determining: [] });
  });

  it("answers with exactly what `ward eval` prints, plus the decision id, with ?explain=true", async () => {
    const doc = compact("DELETE");
    const r = await call(h, "POST", "/v1/check?explain=true", doc);
    const raw = fromInputDocument(doc);
    if (!raw.ok) throw new Error("bad input");
    const direct = decide(h.store.current()!.program, raw.value, decisionDeps(), { now: Date.now(), explain: true });
    const { decision_id, ...rest } = r.json;
    expect(typeof decision_id).toBe("string");
    expect(rest).toEqual(JSON.parse(JSON.stringify(decisionToJson(direct.decision, direct.identity))));
    expect(rest.explanation.policies[0]).toMatchObject({ policy: "api", applicable: true, rules: [{ rule: "reads", matched: false }] });
    expect(rest.explanation.policies[0].rules[0].at).toBe(`${join(h.dir, "api.ward")}:2:3`);
  });

  it("takes an Envoy CheckRequest in JSON and reuses its x-request-id as the decision id", async () => {
    const r = await call(h, "POST", "/v1/check", {
      attributes: {
        source: { principal: CALLER },
        request: { http: { id: "1", method: "GET", path: "/api/v1/items", host: "api.prod.example.com", headers: { "x-request-id": "req-42" } } },
      },
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ allowed: true, decision_id: "req-42", revision });
    const last = h.hooked[h.hooked.length - 1]!;
    expect(last.meta.decisionId).toBe("req-42");
    expect(last.outcome.decision.allowed).toBe(true);
    expect(last.meta.micros).toBeGreaterThan(0);
  });

  it("refuses bad bodies with 400 and a clear message", async () => {
    let r = await call(h, "POST", "/v1/check", '{"request": {"method": "GET",}}');
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_json");
    expect(r.json.error.message).toBe("request body is not valid JSON: unexpected `}`, expected a property name in double quotes at line 1, column 30");

    r = await call(h, "POST", "/v1/check", "{\n  \"request\": \n}");
    expect(r.json.error.message).toBe("request body is not valid JSON: unexpected `}`, expected a value at line 3, column 1");

    r = await call(h, "POST", "/v1/check", "");
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("empty_body");

    r = await call(h, "POST", "/v1/check", { request: { method: 5, path: "/" } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_input");
    expect(r.json.error.diagnostics[0].code).toMatch(/^input_/);

    r = await call(h, "POST", "/v1/check", { hello: "world" });
    expect(r.status).toBe(400);
    expect(r.json.error.diagnostics[0].code).toBe("input_unrecognized_document");

    r = await call(h, "POST", "/v1/check", '{"request": {"method": "GET", "path": "/"}, "__proto__": {"allowed": true}}');
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("forbidden_key");

    r = await call(h, "POST", "/v1/check?explain=maybe", compact("GET"));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_query");
  });

  it("parses the body whatever its content type (curl -d sends form encoding)", async () => {
    const response = await fetch(`${h.server.url}/v1/check`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify(compact("GET")),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { allowed: boolean }).allowed).toBe(true);
  });

  it("bounds the body size", async () => {
    const big = JSON.stringify(compact("GET", { context: { pad: "x".repeat(300 * 1024) } }));
    const r = await call(h, "POST", "/v1/check", big);
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe("body_too_large");
  });

  it("answers unknown routes with a JSON 404, and wrong methods with 405", async () => {
    const r = await call(h, "GET", "/v2/nothing?x=1");
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: "not_found", message: "no route `GET /v2/nothing`" } });
    const wrongMethod = await fetch(`${h.server.url}/v1/check`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(((await wrongMethod.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
  });

  it("GET /metrics serves valid exposition text whose counters move with traffic", async () => {
    const before = parseExposition((await call(h, "GET", "/metrics")).text);
    const allowedBefore = sumSamples(before, "ward_decisions_total", { api: "http", reason: "allowed" });
    for (let i = 0; i < 3; i++) await call(h, "POST", "/v1/check", compact("GET"));
    await call(h, "POST", "/v1/check", compact("PUT"));
    const r = await call(h, "GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parseExposition(r.text);
    expect(sumSamples(after, "ward_decisions_total", { api: "http", reason: "allowed" }) - allowedBefore).toBe(3);
    expect(sampleValue(after, "ward_decisions_total", { api: "http", outcome: "deny", allowed: "false", mode: "enforce", reason: "no_matching_allow" })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(after, "ward_policy_decisions_total", { policy: "api", effect: "allow", mode: "enforce" })).toBeGreaterThanOrEqual(3);
    const count = (f: typeof after) => sampleValue(f, "ward_decision_duration_seconds_count", { api: "http" }) ?? 0;
    expect(count(after) - count(before)).toBe(4);
    expect(sampleValue(after, "ward_policy_info", { revision })).toBe(1);
    expect(sampleValue(after, "ward_policy_reloads_total", { result: "success" })).toBe(1);
    expect(after.get("process_resident_memory_bytes")?.type).toBe("gauge");
    expect(sampleValue(after, "ward_certificate_cache_hits_total")).toBeGreaterThanOrEqual(0);
  });

  it("GET /v1/policies shows the set, and a rejected reload with file:line:col", async () => {
    let r = await call(h, "GET", "/v1/policies");
    expect(r.status).toBe(200);
    const file = join(h.dir, "api.ward");
    expect(r.json).toMatchObject({
      revision,
      files: [file],
      policy_count: 1,
      rule_count: 1,
      policies: [{ name: "api", file, mode: "enforce", rules: 1 }],
      last_reload: { trigger: "startup", result: "success", revision },
      last_error: null,
    });
    expect(Date.parse(r.json.loaded_at)).toBeGreaterThan(0);

    h.write("api.ward", BROKEN);
    await h.store.reload("sighup");
    r = await call(h, "GET", "/v1/policies");
    expect(r.json.revision).toBe(revision);
    expect(r.json.last_error).toMatchObject({ trigger: "sighup", result: "failure" });
    const error = r.json.last_error.diagnostics.find((d: { severity: string }) => d.severity === "error");
    expect(error.location).toBe(`${file}:2:22`);
    expect(error.rendered).toContain("request.methd");
    expect(error.rendered).toContain("^");
    // The broken edit changed nothing for callers.
    expect((await call(h, "POST", "/v1/check", compact("GET"))).json).toMatchObject({ allowed: true, revision });
    const metrics = parseExposition((await call(h, "GET", "/metrics")).text);
    expect(sampleValue(metrics, "ward_policy_reloads_total", { result: "failure" })).toBe(1);
    expect(sampleValue(metrics, "ward_policy_last_reload_successful")).toBe(0);

    h.write("api.ward", READS);
    await h.store.reload("sighup");
    expect((await call(h, "GET", "/v1/policies")).json.last_error).toBeNull();
  });
});

describe("HTTP API without policies", () => {
  it("denies every check with no_policies_loaded and is not ready", async () => {
    const h = await harness({});
    try {
      h.setListening(true);
      const ready = await call(h, "GET", "/ready");
      expect(ready.status).toBe(503);
      expect(ready.json).toEqual({ ready: false, revision: null, reasons: ["no_policies_loaded"] });
      const r = await call(h, "POST", "/v1/check", compact("GET"));
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ allowed: false, reason: "no_policies_loaded", revision: "none" });
      const policies = await call(h, "GET", "/v1/policies");
      expect(policies.json).toMatchObject({ revision: null, policies: [], last_error: { result: "failure", diagnostics: [{ code: "no_policy_files" }] } });
    } finally {
      await h.close();
    }
  });
});

describe("HTTP checks while policies reload", () => {
  it("never fails a request and attributes each answer to the old or the new revision", async () => {
    const h = await harness({ "api.ward": READS });
    try {
      const file = join(h.dir, "api.ward");
      const a = revisionOf([{ file, text: READS }]);
      const b = revisionOf([{ file, text: READS_AND_WRITES }]);
      let done = false;
      let reloads = 0;
      const reloader = (async () => {
        while (!done && reloads < 200) {
          h.write("api.ward", reloads % 2 === 0 ? READS_AND_WRITES : READS);
          await h.store.reload("test");
          reloads++;
        }
      })();
      const REQUESTS = 400;
      const CONCURRENCY = 8;
      const answers: { status: number; allowed: boolean; revision: string }[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            next++;
            const r = await call(h, "POST", "/v1/check", compact("POST"));
            answers.push({ status: r.status, allowed: r.json?.allowed, revision: r.json?.revision });
          }
        }),
      );
      done = true;
      await reloader;
      expect(answers).toHaveLength(REQUESTS);
      expect(answers.filter((x) => x.status !== 200)).toEqual([]);
      expect(answers.filter((x) => x.revision !== a && x.revision !== b)).toEqual([]);
      // POST is allowed exactly by revision b.
      expect(answers.filter((x) => x.allowed !== (x.revision === b))).toEqual([]);
      expect(reloads).toBeGreaterThan(1);
      expect(new Set(answers.map((x) => x.revision)).size).toBe(2);
    } finally {
      await h.close();
    }
  });
});

describe("HTTP server errors", () => {
  it("answers 500 without details and logs the error to the pino logger it was given", async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const metrics = createMetrics({ processMetrics: false });
    const broken = { ...metrics, render: () => Promise.reject(new Error("registry exploded")) };
    const tmp = tempPolicyDir({ "api.ward": READS });
    const store = createPolicyStore({ paths: [tmp.dir], settleMs: 0 });
    await store.reload("startup");
    const app = createHttpApp({ store, decision: decisionDeps(), metrics: broken, isReady: () => true }, { logger });
    const server = await startHttpServer(app, { host: "127.0.0.1", port: 0 });
    try {
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: { code: "internal_error", message: "internal error" } });
      expect(lines.some((l) => l.includes("registry exploded") && l.includes('"level":50'))).toBe(true);
      // Requests themselves are not logged (scrapes and checks are frequent).
      expect(lines.some((l) => l.includes("incoming request"))).toBe(false);
    } finally {
      await server.close();
      store.close();
      tmp.cleanup();
    }
  });
});

describe("startHttpServer", () => {
  it("parses listen addresses", () => {
    expect(parseListenAddress("127.0.0.1:8181")).toEqual({ host: "127.0.0.1", port: 8181 });
    expect(parseListenAddress("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(parseListenAddress(":9000")).toEqual({ host: "127.0.0.1", port: 9000 });
    expect(parseListenAddress("0.0.0.0:80")).toEqual({ host: "0.0.0.0", port: 80 });
    for (const bad of ["8181", "host", "a:b", "1.2.3.4:70000", "[::1:80", "::1:80"]) expect(() => parseListenAddress(bad), bad).toThrow();
  });

  it("closes gracefully: the port stops answering", async () => {
    const h = await harness({ "api.ward": READS });
    const url = h.server.url;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    await h.close();
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it("rejects when the address is taken", async () => {
    const h = await harness({ "api.ward": READS });
    try {
      const other = await harness({ "api.ward": READS });
      await other.close();
      const { createHttpApp: make } = await import("../../src/http/app.js");
      const app = make({ store: h.store, decision: decisionDeps(), metrics: createMetrics({ processMetrics: false }), isReady: () => true });
      await expect(startHttpServer(app, `127.0.0.1:${h.server.port}`)).rejects.toThrow(/EADDRINUSE/);
      await app.close();
    } finally {
      await h.close();
    }
  });
});
