import { describe, expect, it } from "vitest";
import { parseGrpcAddress, parseServeConfig, SERVE_FLAGS, serveUsage, type ServeConfig } from "../../src/config.js";
import { readFileSync } from "node:fs";

function ok(argv: string[], env: Record<string, string> = {}): ServeConfig {
  const result = parseServeConfig(argv, env);
  if (!result.ok) throw new Error(`expected a config, got ${JSON.stringify(result)}`);
  return result.config;
}

function errors(argv: string[], env: Record<string, string> = {}): string[] {
  const result = parseServeConfig(argv, env);
  if (result.ok || result.help) throw new Error(`expected errors, got ${JSON.stringify(result)}`);
  return [...result.errors];
}

describe("ward serve configuration", () => {
  it("has safe defaults", () => {
    const c = ok(["--policies", "policies"]);
    expect(c).toMatchObject({
      policies: ["policies"],
      grpc: [{ kind: "tcp", host: "127.0.0.1", port: 9191 }],
      mode: "enforce",
      identitySources: ["principal", "certificate"],
      certificateChecks: "always",
      callerHeader: "x-ward-caller",
      wouldDenyHeader: "x-ward-would-deny",
      exposeDenyReason: false,
      audit: { destination: { kind: "stdout" }, input: "full", redact: [], sampleAllowed: 1, bufferBytes: 262144, maxPendingBytes: 64 * 1024 * 1024, backlogFull: "drop" },
      http: { host: "127.0.0.1", port: 8181 },
      policyCheckThread: "auto",
      streamTableRenewal: true,
      heapGrowingPercent: { percent: 50, explicit: false },
      logLevel: "info",
    });
    expect(c.tls).toBeUndefined();
    expect(Object.isFrozen(c) && Object.isFrozen(c.grpc) && Object.isFrozen(c.audit)).toBe(true);
  });

  it("takes the device paths of standard output as stdout, not as files to open", () => {
    for (const name of ["stdout", "-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]) {
      expect(ok(["--policies", "p", "--audit-log", name]).audit.destination).toEqual({ kind: "stdout" });
    }
    expect(ok(["--policies", "p", "--audit-log", "/dev/stderr"]).audit.destination).toEqual({ kind: "file", path: "/dev/stderr" });
  });

  it("reads every flag, in both --flag value and --flag=value forms", () => {
    const c = ok([
      "--policies", "a", "--policies=b",
      "--grpc", "0.0.0.0:9000", "--grpc", "unix:///run/ward/ward.sock", "--grpc", "[::1]:0",
      "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem",
      "--mode", "audit", "--trust-bundle", "bundle.pem",
      "--identity-sources", "xfcc,principal", "--xfcc-trusted-by", "spiffe://prod.example.com/ns/ingress/sa/envoy", "--xfcc-proxy-may-call-as-itself",
      "--certificate-checks", "when-needed",
      "--caller-header", "x-peer", "--would-deny-header=x-audit", "--expose-deny-reason",
      "--max-message-bytes", "65536", "--max-headers", "50", "--max-header-bytes", "8192", "--max-body-bytes", "0",
      "--decision-timeout-ms", "250", "--max-in-flight", "64", "--stream-table-renewal", "off", "--heap-growing-percent", "80", "--shutdown-grace-ms", "0",
      "--audit-log", "/var/log/ward.log", "--audit-input", "none", "--audit-redact", "X-Api-Key", "--audit-sample-allowed", "0.25", "--audit-buffer-bytes", "65536",
      "--audit-max-pending-bytes", "8388608", "--audit-backlog-full", "deny",
      "--shadow", "candidate", "--policy-check-thread", "never", "--http", "off", "--log-level", "debug",
    ]);
    expect(c).toMatchObject({
      policies: ["a", "b"],
      grpc: [
        { kind: "tcp", host: "0.0.0.0", port: 9000 },
        { kind: "unix", path: "/run/ward/ward.sock" },
        { kind: "tcp", host: "::1", port: 0 },
      ],
      tls: { certFile: "c.pem", keyFile: "k.pem", clientCaFile: "ca.pem" },
      mode: "audit",
      trustBundle: "bundle.pem",
      identitySources: ["xfcc", "principal"],
      xfccTrustedBy: ["spiffe://prod.example.com/ns/ingress/sa/envoy"],
      xfccProxyMayCallAsItself: true,
      certificateChecks: "when-needed",
      callerHeader: "x-peer",
      wouldDenyHeader: "x-audit",
      exposeDenyReason: true,
      maxMessageBytes: 65536,
      maxHeaders: 50,
      maxHeaderBytes: 8192,
      maxBodyBytes: 0,
      decisionTimeoutMs: 250,
      maxInFlight: 64,
      streamTableRenewal: false,
      heapGrowingPercent: { percent: 80, explicit: true },
      shutdownGraceMs: 0,
      audit: { destination: { kind: "file", path: "/var/log/ward.log" }, input: "none", redact: ["x-api-key"], sampleAllowed: 0.25, bufferBytes: 65536, maxPendingBytes: 8388608, backlogFull: "deny" },
      shadow: ["candidate"],
      policyCheckThread: "never",
      logLevel: "debug",
    });
    expect(c.http).toBeUndefined();
  });

  it("takes --heap-growing-percent as a percentage from 10 to 1000, or node", () => {
    expect(ok(["--policies", "p", "--heap-growing-percent", "node"]).heapGrowingPercent).toBe("node");
    expect(ok(["--policies", "p"], { WARD_HEAP_GROWING_PERCENT: "200" }).heapGrowingPercent).toEqual({ percent: 200, explicit: true });
    expect(errors(["--policies", "p", "--heap-growing-percent", "5"])).toEqual(["`--heap-growing-percent` must be between 10 and 1000, not 5"]);
    expect(errors(["--policies", "p", "--heap-growing-percent", "half"])).toEqual(["`--heap-growing-percent` must be a whole number, not `half`"]);
  });

  it("takes every flag from its WARD_* variable, flags winning", () => {
    const env = {
      WARD_POLICIES: "p1, p2",
      WARD_GRPC: "127.0.0.1:7000,unix:///tmp/w.sock",
      WARD_MODE: "audit",
      WARD_EXPOSE_DENY_REASON: "true",
      WARD_AUDIT_LOG: "off",
      WARD_HTTP: "127.0.0.1:0",
      WARD_MAX_IN_FLIGHT: "5",
    };
    const c = ok([], env);
    expect(c.policies).toEqual(["p1", "p2"]);
    expect(c.grpc).toEqual([{ kind: "tcp", host: "127.0.0.1", port: 7000 }, { kind: "unix", path: "/tmp/w.sock" }]);
    expect(c.mode).toBe("audit");
    expect(c.exposeDenyReason).toBe(true);
    expect(c.audit.destination).toEqual({ kind: "off" });
    expect(c.http).toEqual({ host: "127.0.0.1", port: 0 });
    expect(c.maxInFlight).toBe(5);
    const overridden = ok(["--mode", "enforce", "--policies", "x"], env);
    expect(overridden.mode).toBe("enforce");
    expect(overridden.policies).toEqual(["x"]);
  });

  it("every flag has an environment variable, and docs/serve.md documents both", () => {
    const doc = readFileSync(new URL("../../docs/serve.md", import.meta.url), "utf8");
    for (const f of SERVE_FLAGS) {
      expect(f.env).toBe(`WARD_${f.flag.toUpperCase().replace(/-/g, "_")}`);
      expect(doc).toContain(`--${f.flag}`);
      expect(doc).toContain(f.env);
      expect(serveUsage()).toContain(`--${f.flag}`);
    }
  });

  it("reports usage errors clearly", () => {
    expect(errors([])).toEqual(["`--policies DIR` is required (or set `WARD_POLICIES`)"]);
    expect(errors(["--policies", "p", "--mode", "permissive"])).toEqual(["`--mode` must be one of enforce, audit, not `permissive`"]);
    expect(errors(["--policies", "p", "--bogus"])).toEqual(["unknown flag `--bogus`"]);
    expect(errors(["--policies", "p", "--grpc"])).toEqual(["`--grpc` needs a value (ADDR)"]);
    expect(errors(["--policies", "p", "--grpc", "localhost"])[0]).toContain("is not host:port");
    expect(errors(["--policies", "p", "--grpc", "unix:relative.sock"])[0]).toContain("unix:///absolute/path");
    expect(errors(["--policies", "p", "--grpc", "127.0.0.1:70000"])[0]).toContain("above 65535");
    expect(errors(["--policies", "p", "--grpc", "127.0.0.1:9000", "--grpc", "127.0.0.1:9000"])[0]).toContain("given twice");
    expect(errors(["--policies", "p", "--tls-cert", "c.pem"])).toEqual(["`--tls-cert` and `--tls-key` go together"]);
    expect(errors(["--policies", "p", "--tls-client-ca", "ca.pem"])).toEqual(["`--tls-client-ca` needs `--tls-cert` and `--tls-key`"]);
    expect(errors(["--policies", "p", "--max-headers", "-1"])).toEqual(["`--max-headers` must be a whole number, not `-1`"]);
    expect(errors(["--policies", "p", "--decision-timeout-ms", "0"])).toEqual(["`--decision-timeout-ms` must be between 1 and 60000, not 0"]);
    expect(errors(["--policies", "p", "--audit-sample-allowed", "1.5"])[0]).toContain("from 0 to 1");
    expect(errors(["--policies", "p", "--caller-header", "X Caller"])[0]).toContain("lower-case HTTP header name");
    expect(errors(["--policies", "p", "--caller-header", "x-ward-decision-id"])[0]).toContain("already uses");
    expect(errors(["--policies", "p", "--caller-header", "x-a", "--would-deny-header", "x-a"])).toEqual(["`--caller-header` and `--would-deny-header` must differ"]);
    expect(errors(["--policies", "p", "--mode", "audit", "--mode", "enforce"])).toEqual(["`--mode` is given more than once"]);
    expect(errors(["--policies", "p", "stray"])).toEqual(["unexpected argument `stray`"]);
    expect(errors(["--policies", "p", "--audit-buffer-bytes", "0"])[0]).toContain("`--audit-buffer-bytes`");
    expect(errors(["--policies", "p"], { WARD_AUDIT_BUFFER_BYTES: "2097152" })[0]).toContain("`WARD_AUDIT_BUFFER_BYTES`");
    // Below two full buffers, a destination could never have one buffer waiting while the next is handed over.
    expect(errors(["--policies", "p", "--audit-max-pending-bytes", "65536"])).toEqual(["`--audit-max-pending-bytes` must be between 2097152 and 68719476736, not 65536"]);
    expect(errors(["--policies", "p"], { WARD_POLICY_CHECK_THREAD: "sometimes" })).toEqual(["`WARD_POLICY_CHECK_THREAD` must be one of auto, always, never, not `sometimes`"]);
    expect(errors(["--policies", "p", "--audit-backlog-full", "block"])).toEqual(["`--audit-backlog-full` must be one of drop, deny, not `block`"]);
    expect(errors(["--policies", "p"], { WARD_STREAM_TABLE_RENEWAL: "yes" })).toEqual(["`WARD_STREAM_TABLE_RENEWAL` must be one of on, off, not `yes`"]);
    // Denying for want of a record only means something when records are written.
    expect(errors(["--policies", "p", "--audit-log", "off"], { WARD_AUDIT_BACKLOG_FULL: "deny" })).toEqual(["`WARD_AUDIT_BACKLOG_FULL` deny needs audit records, but `--audit-log` is off"]);
    expect(errors(["--policies", "p", "--xfcc-proxy-may-call-as-itself"])).toEqual(["`--xfcc-proxy-may-call-as-itself` only means something when `xfcc` is one of the identity sources"]);
    expect(errors(["--policies", "p", "--identity-sources", "xfcc", "--xfcc-trusted-by", "spiffe://a/b"], { WARD_XFCC_PROXY_MAY_CALL_AS_ITSELF: "maybe" })[0]).toContain("takes true or false");
    expect(errors(["--policies", "p"], { WARD_MAX_BODY_BYTES: "lots" })).toEqual(["`WARD_MAX_BODY_BYTES` must be a whole number, not `lots`"]);
  });

  it("reads --certificate-checks from the flag or WARD_CERTIFICATE_CHECKS, and refuses other values", () => {
    expect(ok(["--policies", "p"], { WARD_CERTIFICATE_CHECKS: "when-needed" }).certificateChecks).toBe("when-needed");
    expect(ok(["--policies", "p", "--certificate-checks=always"], { WARD_CERTIFICATE_CHECKS: "when-needed" }).certificateChecks).toBe("always");
    expect(errors(["--policies", "p", "--certificate-checks", "never"])).toEqual(["`--certificate-checks` must be one of always, when-needed, not `never`"]);
    expect(errors(["--policies", "p"], { WARD_CERTIFICATE_CHECKS: "Always" })).toEqual(["`WARD_CERTIFICATE_CHECKS` must be one of always, when-needed, not `Always`"]);
  });

  it("refuses XFCC as an identity source without a trusted proxy (anyone could claim any identity)", () => {
    expect(errors(["--policies", "p", "--identity-sources", "xfcc"])[0]).toContain("needs `--xfcc-trusted-by`");
    expect(errors(["--policies", "p", "--identity-sources", "principal,principal"])[0]).toContain("listed twice");
    expect(errors(["--policies", "p", "--identity-sources", "jwt"])[0]).toContain("unknown identity source `jwt`");
  });

  it("answers --help", () => {
    expect(parseServeConfig(["--help"], {})).toEqual({ ok: false, help: true });
  });

  it("parses listen addresses", () => {
    expect(parseGrpcAddress("unix:///var/run/ward.sock")).toEqual({ kind: "unix", path: "/var/run/ward.sock" });
    expect(parseGrpcAddress("unix:/var/run/ward.sock")).toEqual({ kind: "unix", path: "/var/run/ward.sock" });
    expect(parseGrpcAddress(`unix:///${"x".repeat(120)}`)).toContain("longer than 107 bytes");
    expect(parseGrpcAddress("[::1]:9191")).toEqual({ kind: "tcp", host: "::1", port: 9191 });
    expect(parseGrpcAddress("[nothost]:9191")).toContain("is not host:port");
  });
});
