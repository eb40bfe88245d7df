// Input-builder benchmark: per-call cost of canonicalization on realistic requests,
// against a naive baseline (split query, lower-case and join headers, no checks) in the same run.
import { createInputBuilder } from "../src/input/build.js";
import { canonicalizePath } from "../src/input/path.js";
import type { RawRequest } from "../src/input/raw.js";
import type { Identity } from "../src/engine/input.js";

const caller: Identity = { authenticated: true, spiffeId: "spiffe://prod.example.com/ns/checkout/sa/checkout", trustDomain: "prod.example.com", path: "/ns/checkout/sa/checkout" };
const headers: [string, string][] = [
  [":authority", "payments.prod.svc.cluster.local:8443"], [":path", "/api/v1/charges/ch_3Mv0q2/refunds?expand=balance&limit=10"], [":method", "POST"], [":scheme", "https"],
  ["content-type", "application/json"], ["content-length", "187"], ["accept", "application/json"], ["user-agent", "checkout/2.14.1 grpc-go/1.62"],
  ["x-request-id", "6a3b0c2e-8f4d-4b0e-9a51-1f2e3d4c5b6a"], ["x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"], ["x-b3-spanid", "e457b5a2e4d86bd1"],
  ["x-b3-sampled", "1"], ["x-forwarded-proto", "https"], ["x-envoy-expected-rq-timeout-ms", "15000"],
  ["x-forwarded-client-cert", "By=spiffe://prod.example.com/ns/payments/sa/payment-api;Hash=4f1c2e;URI=spiffe://prod.example.com/ns/checkout/sa/checkout"],
];
const raw: RawRequest = {
  method: "POST", path: "/api/v1/charges/ch_3Mv0q2/refunds?expand=balance&limit=10", host: "payments.prod.svc.cluster.local:8443", scheme: "https",
  headers, source: { address: "10.12.3.7", port: 51234 },
  destination: { address: "10.12.4.9", port: 8443, principal: "spiffe://prod.example.com/ns/payments/sa/payment-api" },
  identity: {}, contextExtensions: { route: "refunds" },
};

function naive(r: RawRequest) {
  const q = r.path.indexOf("?");
  const path = q === -1 ? r.path : r.path.slice(0, q);
  const query: Record<string, string> = {};
  if (q !== -1) for (const pair of r.path.slice(q + 1).split("&")) { const [k, v = ""] = pair.split("="); query[k!] = v; }
  const h: Record<string, string> = {};
  for (const [k, v] of r.headers) { const n = k.toLowerCase(); h[n] = h[n] === undefined ? v : h[n] + "," + v; }
  const c = r.host.indexOf(":");
  return { caller, request: { method: r.method, path, query, headers: h, host: (c === -1 ? r.host : r.host.slice(0, c)).toLowerCase(), scheme: r.scheme },
    source: { ip: r.source.address, port: r.source.port }, destination: { ip: r.destination.address, port: r.destination.port, spiffeId: r.destination.principal },
    context: r.contextExtensions, time: 0 };
}

let sink = 0;
function bench(name: string, fn: () => unknown, ms = 400): number {
  for (let i = 0; i < 20000; i++) fn(); // warm-up
  let n = 0; const start = performance.now(); let now = start;
  while (now - start < ms) { for (let i = 0; i < 1000; i++) { const r = fn(); if (r) sink++; } n += 1000; now = performance.now(); }
  const ns = ((now - start) * 1e6) / n;
  console.log(`${name.padEnd(52)} ${(1e9 / ns / 1e6).toFixed(2).padStart(6)} M/s  ${ns.toFixed(0).padStart(6)} ns/call`);
  return ns;
}

const builder = createInputBuilder();
const b = bench("baseline: naive split/lower-case/join (no checks)", () => naive(raw));
const w = bench("ward: createInputBuilder().build (15 headers)", () => builder.build(raw, caller, 0));
const p1 = bench("canonicalizePath: canonical path + query (fast path)", () => canonicalizePath("/api/v1/charges/ch_3Mv0q2/refunds?expand=balance&limit=10"));
const p2 = bench("canonicalizePath: /api/./v1//x/%61b/../c%C3%A9 (slow path)", () => canonicalizePath("/api/./v1//x/%61b/../c%C3%A9"));
const p3 = bench("baseline: decodeURIComponent of the same slow path", () => decodeURIComponent("/api/./v1//x/%61b/../c%C3%A9"));
console.log(`build / naive baseline: ${(w / b).toFixed(2)}x; slow / fast path: ${(p2 / p1).toFixed(1)}x; slow path / decodeURIComponent: ${(p2 / p3).toFixed(1)}x  (sink ${sink > 0})`);
