/**
 * Reloads under load, end to end: a built `ward serve` (the shipped policies
 * plus a generated 2,000-rule file), 8 gRPC callers each sending Check calls
 * one after another, and 8 reloads (`SIGHUP`, a new variant of the generated
 * file each time, 1.5 s apart). Printed: the answers counted by gRPC status
 * and reason. Every call asks for something the shipped policies allow, so any
 * other reason (`overloaded`, `timeout`) is a deny the reloads caused.
 *
 * To compare with an older Ward, build it into another directory and pass that:
 *
 *   npm run build && npx tsx bench/reload-serve.ts            (dist/)
 *   npx tsx bench/reload-serve.ts /tmp/ward-old/dist
 *
 * Loopback only; about 15 s; the server is stopped by its PID at the end.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { answerMetadata, authorizationClient, envoyCheckRequest } from "../test/ext-authz/envoy.js";
import { CHECKOUT } from "../test/ext-authz/ward.js";
import { generatedPolicyText } from "../test/generated-policies.js";

const DIST = resolve(process.argv[2] ?? "dist");
const CALLERS = 8;
const RELOADS = 8;
const RELOAD_EVERY_MS = 1500;
const PAYMENTS_API = "spiffe://prod.example.com/ns/payments/sa/payment-api";

const dir = mkdtempSync(join(tmpdir(), "ward-reload-serve-"));
cpSync("policies", dir, { recursive: true });

/** 200 policies of 10 rules, for destinations the calls never name: only the reload's cost matters. */
function writeGenerated(variant: number): void {
  writeFileSync(join(dir, "generated.ward"), generatedPolicyText(200, variant));
}

writeGenerated(0);
const child = spawn(process.execPath, [join(DIST, "main.js"), "serve", "--policies", dir, "--grpc", "127.0.0.1:0", "--http", "off", "--audit-log", "off", "--log-level", "warn"], {
  stdio: ["ignore", "pipe", "inherit"],
});
try {
  const ready = await new Promise<{ grpc: string[] }>((done, fail) => {
    const timer = setTimeout(() => fail(new Error("no ready line within 30 s")), 30_000);
    child.stdout!.once("data", (d: Buffer) => {
      clearTimeout(timer);
      done(JSON.parse(String(d).split("\n")[0]!) as { grpc: string[] });
    });
  });
  const client = authorizationClient(ready.grpc[0]!);
  const request = envoyCheckRequest({ method: "POST", path: "/api/v1/charge", principal: CHECKOUT, destinationPrincipal: PAYMENTS_API });
  const answers = new Map<string, number>();
  let calling = true;
  const caller = async (): Promise<void> => {
    while (calling) {
      const answer = await client.check(request);
      const key = `status ${answer.status?.code ?? 0}, ${String(answerMetadata(answer)["reason"] ?? "no reason")}`;
      answers.set(key, (answers.get(key) ?? 0) + 1);
    }
  };
  const callers = Array.from({ length: CALLERS }, caller);
  await new Promise((r) => setTimeout(r, 1000));
  for (let k = 1; k <= RELOADS; k++) {
    writeGenerated(k);
    child.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, RELOAD_EVERY_MS));
  }
  calling = false;
  await Promise.all(callers);
  client.close();
  const total = [...answers.values()].reduce((a, b) => a + b, 0);
  console.log(`${DIST}: ${total} answers during ${RELOADS} reloads of a 2,000-rule set, ${CALLERS} calls in flight`);
  for (const [key, n] of [...answers].sort((a, b) => b[1] - a[1])) console.log(`  ${key}: ${n}`);
} finally {
  child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
