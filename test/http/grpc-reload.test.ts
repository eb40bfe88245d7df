// Hot reload under a steady load of real gRPC Check calls (the server Envoy talks to),
// with decisions counted in the metrics as main.ts wires them.
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CALLER_HEADER, DEFAULT_DECISION_ID_HEADER, DEFAULT_WOULD_DENY_HEADER } from "../../src/ext-authz/check-response.js";
import { checkMethodDefinition } from "../../src/ext-authz/protos.js";
import { createExtAuthzServer } from "../../src/ext-authz/server.js";
import { createCheckService } from "../../src/ext-authz/service.js";
import { createMetrics } from "../../src/metrics.js";
import { revisionOf } from "../../src/policy-loader.js";
import { createPolicyStore } from "../../src/policy-store.js";
import { parseExposition, sumSamples } from "./exposition.js";
import { BROKEN, decisionDeps, READS, READS_AND_WRITES, tempPolicyDir } from "./helpers.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What the test reads from a CheckResponse: `status.code` and the string entries of `dynamic_metadata`. */
interface CheckAnswer {
  readonly code: number;
  readonly metadata: Record<string, string>;
}

// A small protobuf reader for the two fields the test needs (external_auth.proto:
// CheckResponse.status = 1 (google.rpc.Status.code = 1), dynamic_metadata = 4
// (Struct.fields = 1: map entries key = 1, value = 2; Value.string_value = 3)).
function readFields(buf: Buffer): { field: number; wire: number; value: number | Buffer }[] {
  const out: { field: number; wire: number; value: number | Buffer }[] = [];
  let i = 0;
  const varint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = buf[i++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = varint();
      out.push({ field, wire, value: buf.subarray(i, i + len) });
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

function decodeCheckResponse(buf: Buffer): CheckAnswer {
  let code = 0;
  const metadata: Record<string, string> = {};
  for (const f of readFields(buf)) {
    if (f.field === 1 && f.value instanceof Buffer) {
      for (const s of readFields(f.value)) if (s.field === 1 && typeof s.value === "number") code = s.value;
    } else if (f.field === 4 && f.value instanceof Buffer) {
      for (const entry of readFields(f.value)) {
        if (entry.field !== 1 || !(entry.value instanceof Buffer)) continue;
        let key = "";
        let text: string | undefined;
        for (const kv of readFields(entry.value)) {
          if (kv.field === 1 && kv.value instanceof Buffer) key = kv.value.toString("utf8");
          if (kv.field === 2 && kv.value instanceof Buffer) {
            for (const v of readFields(kv.value)) if (v.field === 3 && v.value instanceof Buffer) text = v.value.toString("utf8");
          }
        }
        if (text !== undefined) metadata[key] = text;
      }
    }
  }
  return { code, metadata };
}

describe("reloading under gRPC Check load", () => {
  it("answers every call, each from the old or the new revision, consistently with it", async () => {
    const tmp = tempPolicyDir({ "api.ward": READS });
    cleanups.push(tmp.cleanup);
    const store = createPolicyStore({ paths: [tmp.dir], settleMs: 0 });
    cleanups.push(() => store.close());
    await store.reload("startup");
    const file = join(tmp.dir, "api.ward");
    const a = revisionOf([{ file, text: READS }]);
    const b = revisionOf([{ file, text: READS_AND_WRITES }]);

    const metrics = createMetrics({ processMetrics: false });
    const service = createCheckService({
      policies: store,
      deps: decisionDeps(),
      answer: { callerHeader: DEFAULT_CALLER_HEADER, wouldDenyHeader: DEFAULT_WOULD_DENY_HEADER, decisionIdHeader: DEFAULT_DECISION_ID_HEADER, exposeDenyReason: false },
      auditAll: false,
      maxMessageBytes: 1 << 20,
      decisionTimeoutMs: 5000,
      onDecision: (event) => metrics.recordDecision("grpc", event.outcome.decision, event.decisionMicros / 1e6),
    });
    const server = createExtAuthzServer({ service, addresses: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], maxReceiveMessageBytes: 2 << 20, maxConcurrentStreams: 100 });
    const [address] = await server.start();
    server.setServing(true);
    cleanups.push(() => server.shutdown(1000));

    const method = checkMethodDefinition();
    const client = new grpc.Client(address!, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const request = {
      attributes: {
        source: { principal: "spiffe://prod.example.com/ns/web/sa/frontend" },
        request: { http: { method: "POST", path: "/api/v1/items", host: "api.prod.example.com", headers: {} } },
      },
    };
    const check = () =>
      new Promise<CheckAnswer>((resolve, reject) => {
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          (bytes: Buffer) => bytes,
          request,
          { deadline: Date.now() + 5000 },
          (err, value) => (err || !value ? reject(err ?? new Error("no answer")) : resolve(decodeCheckResponse(value))),
        );
      });

    let done = false;
    let reloads = 0;
    const reloader = (async () => {
      const texts = [READS_AND_WRITES, BROKEN, READS];
      while (!done && reloads < 200) {
        tmp.write("api.ward", texts[reloads % texts.length]!);
        await store.reload("test");
        reloads++;
      }
    })();

    const CALLS = 400;
    const CONCURRENCY = 8;
    const answers: { code: number | undefined; revision: string | undefined }[] = [];
    const failures: unknown[] = [];
    let next = 0;
    const deadline = Date.now() + 20_000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CALLS && Date.now() < deadline) {
          next++;
          try {
            const answer = await check();
            answers.push({ code: answer.code, revision: answer.metadata["revision"] });
          } catch (err) {
            failures.push(err);
          }
        }
      }),
    );
    done = true;
    await reloader;

    expect(failures).toEqual([]);
    expect(answers).toHaveLength(CALLS);
    expect(answers.filter((x) => x.revision !== a && x.revision !== b)).toEqual([]);
    // POST is allowed (gRPC OK) exactly under revision b, denied (PERMISSION_DENIED) under a.
    expect(answers.filter((x) => (x.code === 0) !== (x.revision === b) || (x.code !== 0 && x.code !== 7))).toEqual([]);
    expect(reloads).toBeGreaterThan(1);
    expect(new Set(answers.map((x) => x.revision)).size).toBe(2);

    service.flushEvents();
    const scraped = parseExposition((await metrics.render()).text);
    expect(sumSamples(scraped, "ward_decisions_total", { api: "grpc" })).toBe(CALLS);
  });
});
