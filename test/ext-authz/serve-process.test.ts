// `ward serve` as a real process: `node dist/main.js serve` (npm test builds dist/ first).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { answerHeaders, answerMetadata, authorizationClient, envoyCheckRequest, type DecodedCheckResponse } from "./envoy.js";
import { generatedPolicyText } from "../generated-policies.js";
import { CHECKOUT, FRONTEND, TEST_POLICIES } from "./ward.js";

const ROOT = resolve(import.meta.dirname, "../..");
const MAIN = join(ROOT, "dist/main.js");
const PAYMENTS_API = "spiffe://prod.example.com/ns/payments/sa/payment-api";

let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error("dist/main.js is missing: run `npm run build` first (npm test does)");
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A sample's value in Prometheus exposition text (`name` with its labels, as written), or NaN when absent. */
const sample = (text: string, name: string) => Number(text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1] ?? Number.NaN);

/** Waits until `condition` holds or `ms` pass; says whether it held. */
const until = async (condition: () => boolean | Promise<boolean>, ms = 20_000): Promise<boolean> => {
  const start = Date.now();
  let held = await condition();
  while (!held && Date.now() - start < ms) {
    await new Promise((r) => setTimeout(r, 20));
    held = await condition();
  }
  return held;
};

interface Ready {
  ward: string;
  grpc: string[];
  http: string;
  revision: string;
  mode: string;
  pid: number;
}

/** Node options and environment for the child, beside `ward serve`'s own arguments. */
interface ChildOptions {
  readonly nodeArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

function serve(args: string[], options: ChildOptions = {}): { child: ChildProcess; ready: Promise<Ready>; exit: Promise<number | null>; closed: Promise<void>; stderr: () => string; stdout: () => string } {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), MAIN, "serve", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  // `close` comes after `exit`, once everything the process wrote to stdout and stderr has been read.
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  let out = "";
  const ready = new Promise<Ready>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 20 s; stderr:\n${stderr}`)), 20_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl === -1) return;
      clearTimeout(timer);
      try {
        resolvePromise(JSON.parse(out.slice(0, nl)) as Ready);
      } catch (err) {
        reject(err);
      }
    });
    void exit.then((code) => reject(new Error(`exited with ${code} before ready; stderr:\n${stderr}`)));
  });
  return { child, ready, exit, closed, stderr: () => stderr, stdout: () => out };
}

/** The gRPC health status of the Authorization service at `target`. */
async function healthStatus(target: string): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const health = new Health(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  };
  try {
    return await new Promise<string>((r, j) => health.check({ service: "envoy.service.auth.v3.Authorization" }, (e, res) => (e ? j(e) : r(res!.status))));
  } finally {
    health.close();
  }
}

describe("ward serve (a real process)", () => {
  it("prints one ready line, serves, and on SIGTERM finishes its calls, flushes the audit log and exits 0", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    const audit = join(dir, "audit.log");
    const sock = join(dir, "ward.sock");
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--grpc", `unix://${sock}`, "--http", "127.0.0.1:0", "--audit-log", audit, "--log-level", "warn"]);
    const ready = await ward.ready;
    expect(ready).toMatchObject({ ward: "ready", mode: "enforce", pid: ward.child.pid });
    expect(ready.grpc).toHaveLength(2);
    expect(ready.grpc[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ready.grpc[0]).not.toBe("127.0.0.1:0");
    expect(ready.grpc[1]).toBe(`unix://${sock}`);
    expect(ready.revision).toMatch(/^[0-9a-f]{16}$/);

    const Health = grpc.makeGenericClientConstructor(healthService, "Health");
    const health = new Health(ready.grpc[1]!, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
    };
    const status = await new Promise<string>((r, j) => health.check({ service: "envoy.service.auth.v3.Authorization" }, (e, res) => (e ? j(e) : r(res!.status))));
    health.close();
    expect(status).toBe("SERVING");
    const httpHealth = await fetch(`http://${ready.http}/health`);
    expect(httpHealth.status).toBe(200);

    const client = authorizationClient(ready.grpc[0]!);
    const request = (i: number) =>
      envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: i % 2 ? FRONTEND : CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: `proc-${i}` });
    const first = await client.check(request(0));
    expect(first.status?.code ?? 0).toBe(0);
    expect(answerHeaders(first)["x-ward-caller"]).toBe(CHECKOUT);

    // Calls in flight when SIGTERM arrives: every one is answered, or refused before it started (UNAVAILABLE).
    const calls = Array.from({ length: 60 }, (_, i) => client.check(request(i + 1)).then((r) => ({ ok: true as const, r }), (e: grpc.ServiceError) => ({ ok: false as const, code: e.code })));
    await new Promise((r) => setTimeout(r, 5));
    ward.child.kill("SIGTERM");
    const results = await Promise.all(calls);
    const code = await ward.exit;
    client.close();
    expect(code).toBe(0);
    const answered = results.filter((r) => r.ok);
    for (const r of results) if (!r.ok) expect(r.code).toBe(grpc.status.UNAVAILABLE);
    expect(answered.length).toBeGreaterThan(0);
    for (const [i, r] of results.entries()) {
      if (r.ok) expect(r.r.status?.code ?? 0).toBe((i + 1) % 2 ? 7 : 0);
    }
    // Every answered call has its record, flushed before exit.
    const records = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { decision_id: string; type: string });
    const ids = new Set(records.map((r) => r.decision_id));
    expect(ids.has("proc-0")).toBe(true);
    for (const [i, r] of results.entries()) if (r.ok) expect(ids.has(`proc-${i + 1}`)).toBe(true);
    expect(existsSync(sock)).toBe(false);
  });

  it("wires audit mode, audit records and shadow policies", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    const audit = join(dir, "audit.log");
    const candidate = join(dir, "candidate");
    spawnSync("mkdir", ["-p", candidate]);
    writeFileSync(join(candidate, "lockdown.ward"), 'policy "lockdown" {\n  deny "no posts" when request.method == "POST"\n}\n');
    const ward = serve(["--policies", "policies", "--shadow", candidate, "--mode", "audit", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", audit, "--log-level", "warn"]);
    const ready = await ward.ready;
    expect(ready.mode).toBe("audit");
    const client = authorizationClient(ready.grpc[0]!);
    const allowed = await client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: "shadow-1" }));
    const wouldDeny = await client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: FRONTEND, destinationPrincipal: PAYMENTS_API, requestId: "audit-1" }));
    client.close();
    expect(allowed.status?.code ?? 0).toBe(0);
    expect(wouldDeny.status?.code ?? 0).toBe(0);
    expect(answerHeaders(wouldDeny)["x-ward-would-deny"]).toMatch(/^denied_by_rule /);
    ward.child.kill("SIGTERM");
    expect(await ward.exit).toBe(0);
    const records = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r["type"] === "decision" && r["decision_id"] === "audit-1")).toMatchObject({ mode: "audit", outcome: "deny", allowed: true, would_deny: true });
    // Live allowed the charge, the candidate denies it: a shadow record says so.
    expect(records.find((r) => r["type"] === "shadow" && r["decision_id"] === "shadow-1")).toBeDefined();
  });

  it("renews its connections' HTTP/2 stream tables after a full collection, as /metrics counts, unless --stream-table-renewal off", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    for (const renewal of ["on", "off"] as const) {
      const collectFile = join(dir, `collect-${renewal}`);
      const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--audit-log", "off", "--log-level", "warn", "--stream-table-renewal", renewal], {
        nodeArgs: ["--expose-gc", "--import", join(ROOT, "test/ext-authz/fixtures/collect-on-request.mjs")],
        env: { WARD_TEST_COLLECT_FILE: collectFile },
      });
      const ready = await ward.ready;
      const renewals = async () => sample(await (await fetch(`http://${ready.http}/metrics`)).text(), "ward_http2_stream_table_renewals_total");
      expect(await renewals()).toBe(0);
      // A connection that stays open across the collection, as Envoy's does.
      const client = authorizationClient(ready.grpc[0]!);
      const call = () => client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API }));
      expect((await call()).status?.code ?? 0).toBe(0);
      writeFileSync(collectFile, "");
      expect(await until(() => !existsSync(collectFile))).toBe(true);
      if (renewal === "on") {
        expect(await until(async () => (await renewals()) >= 1)).toBe(true);
      } else {
        await new Promise((r) => setTimeout(r, 300)); // ample time for a renewal, had it been running
        expect(await renewals()).toBe(0);
      }
      // The renewed connection goes on deciding.
      expect((await call()).status?.code ?? 0).toBe(0);
      client.close();
      ward.child.kill("SIGTERM");
      expect(await ward.exit).toBe(0);
      expect(ward.stderr()).not.toContain("renewal is off");
    }
  });

  it("sets V8's heap growth (50% by default), leaves one given to Node alone, and says which in its serving line", async () => {
    const cases: { nodeArgs: string[]; args: string[]; logged: number | string }[] = [
      { nodeArgs: [], args: [], logged: 50 },
      { nodeArgs: ["--heap-growing-percent=30"], args: [], logged: "node" },
      { nodeArgs: ["--heap-growing-percent=30"], args: ["--heap-growing-percent", "70"], logged: 70 },
      { nodeArgs: [], args: ["--heap-growing-percent", "node"], logged: "node" },
    ];
    for (const c of cases) {
      const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", "off", "--log-level", "info", ...c.args], { nodeArgs: c.nodeArgs });
      await ward.ready;
      expect(await until(() => ward.stderr().includes('"msg":"ward serving"'))).toBe(true);
      const line = ward.stderr().split("\n").find((l) => l.includes('"msg":"ward serving"'))!;
      expect(JSON.parse(line)).toMatchObject({ heap_growing_percent: c.logged });
      ward.child.kill("SIGTERM");
      expect(await ward.exit).toBe(0);
    }
  });

  it("wires --xfcc-proxy-may-call-as-itself: a trusted proxy calling without XFCC is itself", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", "off", "--log-level", "warn", "--identity-sources", "xfcc,principal", "--xfcc-trusted-by", CHECKOUT, "--xfcc-proxy-may-call-as-itself"]);
    const ready = await ward.ready;
    const client = authorizationClient(ready.grpc[0]!);
    const answer = await client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: "as-itself-1" }));
    client.close();
    expect(answer.status?.code ?? 0).toBe(0);
    expect(answerHeaders(answer)["x-ward-caller"]).toBe(CHECKOUT);
    ward.child.kill("SIGTERM");
    expect(await ward.exit).toBe(0);
  });

  it("with --audit-buffer-bytes 1 hands each record to the file at once: a hard kill right after loses none", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    const audit = join(dir, "audit.log");
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", audit, "--audit-buffer-bytes", "1", "--log-level", "warn"]);
    const ready = await ward.ready;
    const client = authorizationClient(ready.grpc[0]!);
    for (let i = 0; i < 5; i++) {
      await client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: `buffer-${i}` }));
    }
    client.close();
    // Well inside the once-a-second flush: with the default 256 KiB buffer these records would still be in memory.
    await new Promise((r) => setTimeout(r, 150));
    ward.child.kill("SIGKILL");
    await ward.exit;
    const ids = readFileSync(audit, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
    expect(ids).toEqual(["buffer-0", "buffer-1", "buffer-2", "buffer-3", "buffer-4"]);
  });

  it.each([
    ["by default", []],
    ["with --audit-log /dev/stdout", ["--audit-log", "/dev/stdout"]],
  ])("writes records to stdout %s: through a pipe that fills while nobody reads, every record arrives, and shutdown reports no error", async (_how, auditLog) => {
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-buffer-bytes", "1", "--log-level", "warn", ...auditLog]);
    const ready = await ward.ready;
    // About 150 KB of records while the pipe (64 KiB) is not read: Ward's writes wait for room, calls go on.
    ward.child.stdout!.pause();
    const client = authorizationClient(ready.grpc[0]!);
    for (let i = 0; i < 60; i++) {
      const answer = await client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: `pipe-${i}` }));
      expect(answer.status?.code ?? 0).toBe(0);
    }
    client.close();
    ward.child.stdout!.resume();
    ward.child.kill("SIGTERM");
    expect(await ward.exit).toBe(0);
    await ward.closed;
    const lines = ward.stdout().trim().split("\n");
    expect(JSON.parse(lines[0]!)).toMatchObject({ ward: "ready" });
    const ids = lines.slice(1).map((l) => (JSON.parse(l) as { type: string; decision_id: string }).decision_id);
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => `pipe-${i}`));
    expect(ward.stderr()).not.toContain("audit log write failed");
  }, 30_000);

  it("bounds the records waiting for a log reader that stops: past --audit-max-pending-bytes it drops and counts them, and keeps deciding", async () => {
    const bound = 2 * 1024 * 1024;
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--audit-buffer-bytes", "1", "--audit-max-pending-bytes", String(bound)]);
    const ready = await ward.ready;
    // Nobody reads stdout: about 6 MB of records (each about 10 KB) against a 64 KiB pipe and a 2 MiB bound.
    ward.child.stdout!.pause();
    const client = authorizationClient(ready.grpc[0]!);
    const calls = 600;
    for (let batch = 0; batch < calls; batch += 50) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, k) =>
          client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: `drop-${batch + k}`, headers: { "x-trace-context": "t".repeat(8000) } })),
        ),
      );
      for (const answer of answers) expect(answer.status?.code ?? 0).toBe(0);
    }
    client.close();
    const metrics = await (await fetch(`http://${ready.http}/metrics`)).text();
    const value = (name: string) => sample(metrics, name);
    const written = value('ward_audit_records_total{result="written"}');
    const dropped = value('ward_audit_records_total{result="dropped"}');
    expect(written + dropped).toBe(calls);
    expect(dropped).toBeGreaterThan(300);
    expect(value("ward_audit_pending_bytes")).toBeLessThanOrEqual(bound);
    // Reported on stderr at the first drop (then at most every 10 s), with what to look at.
    const reports = ward.stderr().split("\n").filter((l) => l.includes("audit records dropped")).map((l) => JSON.parse(l) as { dropped_records: number });
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(reports[0]).toMatchObject({ max_pending_bytes: bound });
    expect(reports.reduce((sum, r) => sum + r.dropped_records, 0)).toBeLessThanOrEqual(dropped);

    ward.child.stdout!.resume();
    ward.child.kill("SIGTERM");
    expect(await ward.exit).toBe(0);
    await ward.closed;
    // Every line that reached stdout is a whole record, and all the written ones did.
    const records = ward.stdout().trim().split("\n").slice(1).map((l) => JSON.parse(l) as { decision_id: string });
    expect(records).toHaveLength(written);
    expect(new Set(records.map((r) => r.decision_id)).size).toBe(written);
    expect(ward.stderr()).not.toContain("audit log write failed");
  }, 60_000);

  it("with --audit-backlog-full deny, denies calls audit_unavailable while the log reader has stopped, lets none through unrecorded, and decides again once it reads", async () => {
    const bound = 2 * 1024 * 1024;
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--audit-buffer-bytes", "1", "--audit-max-pending-bytes", String(bound), "--audit-backlog-full", "deny"]);
    const ready = await ward.ready;
    ward.child.stdout!.pause();
    const client = authorizationClient(ready.grpc[0]!);
    const charge = (id: string) => envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: id, headers: { "x-trace-context": "t".repeat(8000) } });
    // Records of about 10 KB against a 64 KiB pipe and a 2 MiB bound: the backlog fills within a few hundred calls.
    const allowedIds: string[] = [];
    let unavailable: DecodedCheckResponse | undefined;
    let deniedUnavailable = 0;
    for (let batch = 0; batch < 1000 && unavailable === undefined; batch += 50) {
      const ids = Array.from({ length: 50 }, (_, k) => `full-${batch + k}`);
      const answers = await Promise.all(ids.map((id) => client.check(charge(id))));
      answers.forEach((answer, k) => {
        if ((answer.status?.code ?? 0) === 0) allowedIds.push(ids[k]!);
        else if (answerMetadata(answer)["reason"] === "audit_unavailable") {
          unavailable ??= answer;
          deniedUnavailable++;
        }
      });
    }
    expect(unavailable).toBeDefined();
    expect(allowedIds.length).toBeGreaterThan(100);
    // A fail-closed deny: PERMISSION_DENIED, 403, the generic "unavailable" body; the reason in the metadata for Envoy's access log.
    expect(unavailable!.status?.code).toBe(7);
    expect(unavailable!.denied_response?.status?.code).toBe("Forbidden");
    expect(unavailable!.denied_response?.body).toContain("authorization unavailable");
    expect(answerMetadata(unavailable!)).toMatchObject({ allowed: false, reason: "audit_unavailable" });
    // /v1/check answers alike while the backlog is full.
    const http = (await (await fetch(`http://${ready.http}/v1/check`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ caller: { spiffe_id: CHECKOUT }, request: { method: "POST", path: "/api/v1/charge", headers: { host: "payments.internal" } } }) })).json()) as { allowed: boolean; reason: string };
    expect(http).toMatchObject({ allowed: false, reason: "audit_unavailable" });
    await until(() => ward.stderr().includes("audit log backlog full"), 5_000);
    expect(ward.stderr()).toContain("audit log backlog full");
    // Not ready while it denies every call: /ready at once, gRPC health within its once-a-second look.
    const notReady = await fetch(`http://${ready.http}/ready`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { reasons: string[] }).reasons).toEqual(["audit_unavailable"]);
    expect(await until(async () => (await healthStatus(ready.grpc[0]!)) === "NOT_SERVING", 5_000)).toBe(true);

    // The reader comes back: the backlog drains and calls are decided (and allowed) again.
    ward.child.stdout!.resume();
    let after: DecodedCheckResponse | undefined;
    for (let k = 0; k < 200 && (after === undefined || (after.status?.code ?? 0) !== 0); k++) {
      await new Promise((r) => setTimeout(r, 25));
      after = await client.check(charge(`after-${k}`));
      if ((after.status?.code ?? 0) === 0) allowedIds.push(`after-${k}`);
      else if (answerMetadata(after)["reason"] === "audit_unavailable") deniedUnavailable++;
    }
    expect(after).toBeDefined();
    expect(after!.status?.code ?? 0).toBe(0);
    await until(() => ward.stderr().includes("audit log takes records again"), 5_000);
    expect(await until(async () => (await healthStatus(ready.grpc[0]!)) === "SERVING", 5_000)).toBe(true);
    expect((await fetch(`http://${ready.http}/ready`)).status).toBe(200);
    const metrics = await (await fetch(`http://${ready.http}/metrics`)).text();
    const counted = metrics
      .split("\n")
      .filter((l) => l.startsWith("ward_decisions_total{") && l.includes('reason="audit_unavailable"'))
      .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
    // Every such deny counted, the /v1/check one included.
    expect(counted).toBe(deniedUnavailable + 1);
    client.close();

    ward.child.kill("SIGTERM");
    expect(await ward.exit).toBe(0);
    await ward.closed;
    // Every call that was let through has its record; only records of denied calls may be missing.
    const records = ward.stdout().trim().split("\n").slice(1).map((l) => JSON.parse(l) as { decision_id: string; allowed: boolean });
    const recordedAllowed = new Set(records.filter((r) => r.allowed).map((r) => r.decision_id));
    for (const id of allowedIds) expect(recordedAllowed.has(id), id).toBe(true);
    expect(recordedAllowed.size).toBe(allowedIds.length);
    expect(ward.stderr()).not.toContain("audit log write failed");
  }, 60_000);

  it("exits on SIGTERM even when its stdout is never read again: the audit log gets the grace period, then the process goes", async () => {
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-buffer-bytes", "1", "--shutdown-grace-ms", "500"]);
    const ready = await ward.ready;
    // About 300 KB of records, more than the pipe (64 KiB) holds, and nobody will read them.
    ward.child.stdout!.pause();
    const client = authorizationClient(ready.grpc[0]!);
    for (let i = 0; i < 30; i++) {
      const answer = await client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API, requestId: `stall-${i}`, headers: { "x-trace-context": "t".repeat(8000) } }));
      expect(answer.status?.code ?? 0).toBe(0);
    }
    client.close();
    ward.child.kill("SIGTERM");
    const exited = await Promise.race([ward.exit, new Promise<"still running">((r) => setTimeout(() => r("still running"), 15_000))]);
    expect(exited).toBe(0);
    const stopped = ward.stderr().split("\n").filter((l) => l.includes("did not take the last records"));
    expect(stopped).toHaveLength(1);
    // The audit log gets at least 2 s whatever the call grace; what was still waiting is reported.
    expect(JSON.parse(stopped[0]!)).toMatchObject({ grace_ms: 2000 });
    expect((JSON.parse(stopped[0]!) as { pending_bytes: number }).pending_bytes).toBeGreaterThan(0);
    expect(ward.stderr()).toContain('"clean":false');
  }, 30_000);

  it("keeps deciding when its stderr is never read: operational log lines past the bound are dropped, counted and reported once stderr is read again", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    const policy = join(dir, "payments.ward");
    writeFileSync(policy, TEST_POLICIES);
    const ward = serve(["--policies", dir, "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--audit-log", "off"]);
    const ready = await ward.ready;
    await until(() => ward.stderr().includes("ward serving"));
    ward.child.stderr!.pause();
    // Every rejected reload logs its errors: with 2,000 of them, one line of about 500 KB. A dozen
    // such lines are more than stderr's socket and the 4 MiB bound hold together.
    writeFileSync(policy, `policy "broken" {\n${Array.from({ length: 2000 }, (_, k) => `  allow "r${k}" when caller.no_such_${k} == "x"\n`).join("")}}\n`);
    const metric = async (name: string) => {
      // Before the fix the event loop stopped at the first log line that did not fit: this request then never got an answer.
      const text = await (await fetch(`http://${ready.http}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return sample(text, name);
    };
    for (let k = 0; k < 14; k++) {
      ward.child.kill("SIGHUP");
      const before = Date.now();
      while ((await metric('ward_policy_reloads_total{result="failure"}')) < k + 1 && Date.now() - before < 10_000) await new Promise((r) => setTimeout(r, 20));
    }
    const dropped = await metric("ward_log_lines_dropped_total");
    expect(dropped).toBeGreaterThan(0);
    // Every reload was checked on the checker thread; only the startup load on the main thread. (The file
    // watcher may add a reload of its own, and one may still run: wait until each counted check has ended
    // in a counted reload.)
    const checks = async () => {
      const text = await (await fetch(`http://${ready.http}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      const value = (name: string) => sample(text, name);
      return {
        checker: value('ward_policy_checks_total{thread="checker"}'),
        main: value('ward_policy_checks_total{thread="main"}'),
        rejected: value('ward_policy_reloads_total{result="failure"}'),
      };
    };
    let counted = await checks();
    for (const started = Date.now(); counted.checker !== counted.rejected && Date.now() - started < 10_000; ) {
      await new Promise((r) => setTimeout(r, 50));
      counted = await checks();
    }
    expect(counted.rejected).toBeGreaterThanOrEqual(14);
    expect(counted).toEqual({ checker: counted.rejected, main: 1, rejected: counted.rejected });
    // Still deciding with the last good policies. (A stall of the machine running the tests can make an
    // answer the overload deny: asked again until the loop has caught up.)
    const client = authorizationClient(ready.grpc[0]!);
    const ask = () => client.check(envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API }));
    let answer = await ask();
    for (let k = 0; k < 50 && JSON.stringify(answer).includes('"overloaded"'); k++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await ask();
    }
    client.close();
    expect(answer.status?.code ?? 0).toBe(0);

    ward.child.stderr!.resume();
    await until(() => ward.stderr().includes("operational log lines dropped"), 10_000);
    const lines = ward.stderr().trim().split("\n").map((l) => JSON.parse(l) as { msg: string; dropped_lines?: number });
    const reports = lines.filter((l) => l.msg.startsWith("operational log lines dropped"));
    expect(reports).toHaveLength(1);
    expect(reports[0]!.dropped_lines).toBe(await metric("ward_log_lines_dropped_total"));
    ward.child.kill("SIGTERM");
    expect(await ward.exit).toBe(0);
    await ward.closed;
    expect(ward.stderr()).toContain('"msg":"stopped"');
    // The checker thread started for every reload (src/policy-compiler.ts).
    expect(ward.stderr()).not.toContain("checked on the main thread");
  }, 90_000);

  it("--policy-check-thread always checks even a small reloaded set on the checker thread; never checks a large one on the main thread", async () => {
    type Counts = { checker: number; main: number; swapped: number; failed: number };
    const checksAfterReloads = async (threadFlag: string, first: string, next: (k: number) => string, settled: (c: Counts) => boolean) => {
      dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
      const policy = join(dir, "set.ward");
      writeFileSync(policy, first);
      const ward = serve(["--policies", dir, "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--audit-log", "off", "--policy-check-thread", threadFlag]);
      const ready = await ward.ready;
      const metrics = async () => {
        const text = await (await fetch(`http://${ready.http}/metrics`)).text();
        const value = (name: string) => sample(text, name);
        return {
          checker: value('ward_policy_checks_total{thread="checker"}'),
          main: value('ward_policy_checks_total{thread="main"}'),
          // The startup load counts as one.
          swapped: value('ward_policy_reloads_total{result="success"}'),
          // Every check ends in a swap or a failure (a reload of unchanged content is not checked).
          failed: value('ward_policy_reloads_total{result="failure"}'),
        };
      };
      // Two new revisions, each swapped in before the next. The file watcher may reload too, and a
      // reload may be between its check and its swap: wait until the counts have settled.
      for (let k = 1; k <= 2; k++) {
        // Written beside and renamed over: the file watcher must never read a half-written set.
        writeFileSync(`${policy}.tmp`, next(k));
        renameSync(`${policy}.tmp`, policy);
        ward.child.kill("SIGHUP");
        const before = Date.now();
        while ((await metrics()).swapped < k + 1 && Date.now() - before < 20_000) await new Promise((r) => setTimeout(r, 20));
      }
      let counted = await metrics();
      for (const before = Date.now(); !settled(counted) && Date.now() - before < 10_000; counted = await metrics()) await new Promise((r) => setTimeout(r, 50));
      ward.child.kill("SIGTERM");
      expect(await ward.exit).toBe(0);
      return counted;
    };
    // A small set (under 64 KiB): checked on the main thread by default (`auto`).
    const small = await checksAfterReloads("always", TEST_POLICIES, (k) => `${TEST_POLICIES}\n// edit ${k}\n`, (c) => c.checker === c.swapped + c.failed - 1);
    expect(small.swapped).toBeGreaterThanOrEqual(3);
    expect(small).toEqual({ main: 1, checker: small.swapped + small.failed - 1, swapped: small.swapped, failed: small.failed });
    // About 130 KiB: checked on the checker thread by default (`auto`).
    const large = await checksAfterReloads("never", generatedPolicyText(60), (k) => generatedPolicyText(60, k), (c) => c.main === c.swapped + c.failed);
    expect(large.swapped).toBeGreaterThanOrEqual(3);
    expect(large).toEqual({ checker: 0, main: large.swapped + large.failed, swapped: large.swapped, failed: large.failed });
  }, 60_000);

  it("survives SIGHUP and SIGUSR2 sent while it starts, and acts on them once it serves", async () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    // Opening a FIFO for writing waits for a reader, and the audit log is opened after the policies
    // have loaded: the server is held mid-startup, with the signals' default action (exit) in reach.
    const fifo = join(dir, "audit.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const ward = serve(["--policies", "policies", "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", fifo, "--log-level", "info"]);
    const startedAt = Date.now();
    while (!ward.stderr().includes("policy set loaded") && Date.now() - startedAt < 20_000) await new Promise((r) => setTimeout(r, 20));
    ward.child.kill("SIGHUP");
    ward.child.kill("SIGUSR2");
    await new Promise((r) => setTimeout(r, 200));
    expect(ward.child.exitCode).toBeNull();
    const reader = createReadStream(fifo);
    try {
      await ward.ready;
      const acted = Date.now();
      const both = () => /SIGHUP( during startup)?: reloading policies/.test(ward.stderr()) && /SIGUSR2( during startup)?: audit log reopened/.test(ward.stderr());
      while (!both() && Date.now() - acted < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(both()).toBe(true);
      expect(ward.child.exitCode).toBeNull();
      ward.child.kill("SIGTERM");
      expect(await ward.exit).toBe(0);
    } finally {
      reader.destroy();
    }
  }, 30_000);

  it("exits 2 with a clear message on a usage error", () => {
    const run = spawnSync(process.execPath, [MAIN, "serve", "--policies", "policies", "--mode", "permissive"], { cwd: ROOT, encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("`--mode` must be one of enforce, audit, not `permissive`");
    const help = spawnSync(process.execPath, [MAIN, "serve", "--help"], { cwd: ROOT, encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--decision-timeout-ms");
  });

  it("exits 1 and shows file:line:col when the policies do not compile", () => {
    dir = mkdtempSync(join(tmpdir(), "ward-serve-"));
    writeFileSync(join(dir, "broken.ward"), 'policy "p" {\n  allow "r" when request.method = "GET"\n}\n');
    const run = spawnSync(process.execPath, [MAIN, "serve", "--policies", dir, "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", "off"], { cwd: ROOT, encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/broken\.ward:2:\d+/);
  });
});
