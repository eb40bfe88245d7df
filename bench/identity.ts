// Identity benchmark: `npm run bench:identity` (pin it: `taskset -c 1 npm run bench:identity`).
// Measures, per operation and as a ratio to the principal-only resolve (the
// cheapest real decision, measured in the same run):
//   - first sight of a certificate (parse + X509-SVID checks), with and without a trust bundle,
//   - a repeat of a cached certificate,
//   - XFCC parsing of realistic 1-3 element headers, and a full XFCC resolve,
//   - the principal-only resolve.
import "reflect-metadata";
import { readFileSync } from "node:fs";
import { parseCertificateText } from "../src/identity/certificate-cache.js";
import { createIdentityResolver } from "../src/identity/resolve.js";
import { parseXfcc } from "../src/identity/xfcc.js";
import { parseSpiffeId } from "../src/spiffe-id.js";

const dir = new URL("../test/fixtures/certs/", import.meta.url);
const pem = (name: string): string => readFileSync(new URL(`${name}.pem`, dir), "utf8");
const NOW = Date.UTC(2026, 0, 1);
const LEAVES = ["prod-checkout", "staging-checkout", "prod-web", "staging-web", "subject-attrs", "custom-extension", "othername-san", "short-ca-leaf"];
const encoded = LEAVES.map((n) => encodeURIComponent(pem(n)));
const bundle = pem("bundle");

let sink = 0;

/** Runs `op` in batches; returns the median nanoseconds per operation. */
function measure(op: (i: number) => void, perBatch: number, batches = 7): number {
  for (let i = 0; i < Math.min(perBatch, 2000); i++) op(i); // warm-up
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) op(i);
    samples.push(Number(process.hrtime.bigint() - start) / perBatch);
  }
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length / 2)] as number;
}

const GATEWAY = "spiffe://prod.example.com/ns/edge/sa/gateway";
const HASH = "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688";
const el = (uri: string): string => `By=${GATEWAY};Hash=${HASH};Subject="O=Example,CN=checkout";URI=${uri}`;
const XFCC_1 = el("spiffe://prod.example.com/ns/web/sa/frontend");
const XFCC_2 = `${el("spiffe://prod.example.com/ns/a/sa/a")},${XFCC_1}`;
const XFCC_3_CERT = `${el("spiffe://prod.example.com/ns/a/sa/a")},${el("spiffe://prod.example.com/ns/b/sa/b")},By=${GATEWAY};Hash=${HASH};Cert="${encoded[0]}";URI=spiffe://prod.example.com/ns/checkout/sa/checkout`;

const rows: [string, number][] = [];
const baseline = (() => {
  const resolver = createIdentityResolver();
  const evidence = { principal: "spiffe://prod.example.com/ns/checkout/sa/checkout" };
  return measure(() => {
    sink += resolver.resolve(evidence, { needCertificate: false, now: NOW }).authenticated ? 1 : 0;
  }, 200_000);
})();
rows.push(["resolve: principal only (baseline)", baseline]);
rows.push(["parseSpiffeId alone", measure(() => (sink += parseSpiffeId("spiffe://prod.example.com/ns/checkout/sa/checkout").ok ? 1 : 0), 200_000)]);

rows.push([
  "certificate first sight: parse + SVID rules (no cache)",
  measure((i) => {
    sink += parseCertificateText({ text: encoded[i % encoded.length] as string, encoding: "url" }).ok ? 1 : 0;
  }, 200),
]);

// First sight through the resolver: fresh resolvers (made before the clock starts, so
// the bundle load is not counted), so every certificate is new to the one resolving it.
function firstSight(trustBundle: string | undefined): number {
  const rounds = 25;
  const resolvers = Array.from({ length: rounds }, () => createIdentityResolver(trustBundle === undefined ? {} : { trustBundle }));
  const start = process.hrtime.bigint();
  for (const resolver of resolvers) {
    for (const text of encoded) sink += resolver.resolve({ certificate: { text, encoding: "url" } }, { needCertificate: true, now: NOW }).authenticated ? 1 : 0;
  }
  return Number(process.hrtime.bigint() - start) / (rounds * encoded.length);
}
firstSight(undefined); // warm-up
rows.push(["resolve: certificate first sight", firstSight(undefined)]);
rows.push(["resolve: certificate first sight + chain verification", firstSight(bundle)]);
rows.push(["trust bundle load (4 CAs, once per resolver)", measure(() => (sink += createIdentityResolver({ trustBundle: bundle }).diagnostics.length), 10, 5)]);

for (const [label, config] of [
  ["resolve: cached certificate", {}],
  ["resolve: cached certificate + trust bundle", { trustBundle: bundle }],
] as const) {
  const resolver = createIdentityResolver(config);
  rows.push([
    label,
    measure((i) => {
      sink += resolver.resolve({ certificate: { text: encoded[i % encoded.length] as string, encoding: "url" } }, { needCertificate: true, now: NOW }).authenticated ? 1 : 0;
    }, 100_000),
  ]);
}
{
  const resolver = createIdentityResolver();
  const evidence = { principal: "spiffe://prod.example.com/ns/checkout/sa/checkout", certificate: { text: encoded[0] as string, encoding: "url" as const } };
  rows.push(["resolve: principal + cached certificate, cert.* needed", measure(() => (sink += resolver.resolve(evidence, { needCertificate: true, now: NOW }).authenticated ? 1 : 0), 100_000)]);
}

{
  // Each request brings a new string object, whose hash V8 has not cached yet: copy the text per lookup.
  const resolver = createIdentityResolver();
  rows.push([
    "resolve: cached certificate, fresh text object per request",
    measure((i) => {
      const text = ` ${encoded[i % encoded.length] as string}`.slice(1);
      sink += resolver.resolve({ certificate: { text, encoding: "url" } }, { needCertificate: true, now: NOW }).authenticated ? 1 : 0;
    }, 100_000),
  ]);
}

rows.push([`parseXfcc: 1 element (${XFCC_1.length} B)`, measure(() => (sink += parseXfcc(XFCC_1, 16).ok ? 1 : 0), 100_000)]);
rows.push([`parseXfcc: 2 elements (${XFCC_2.length} B)`, measure(() => (sink += parseXfcc(XFCC_2, 16).ok ? 1 : 0), 100_000)]);
rows.push([`parseXfcc: 3 elements with Cert (${XFCC_3_CERT.length} B)`, measure(() => (sink += parseXfcc(XFCC_3_CERT, 16).ok ? 1 : 0), 50_000)]);
{
  const resolver = createIdentityResolver({ sources: ["xfcc", "principal"], xfcc: { trustedProxies: [GATEWAY] } });
  rows.push(["resolve: XFCC 2 elements, URI only", measure(() => (sink += resolver.resolve({ principal: GATEWAY, xfcc: XFCC_2 }, { needCertificate: false, now: NOW }).authenticated ? 1 : 0), 100_000)]);
  rows.push(["resolve: XFCC 3 elements, cached Cert, cert.* needed", measure(() => (sink += resolver.resolve({ principal: GATEWAY, xfcc: XFCC_3_CERT }, { needCertificate: true, now: NOW }).authenticated ? 1 : 0), 50_000)]);
}

const fmt = (ns: number): string => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const width = Math.max(...rows.map(([name]) => name.length));
console.log(`identity benchmark (node ${process.version}; median of batches; ratio to the principal-only resolve)`);
for (const [name, ns] of rows) console.log(`${name.padEnd(width)}  ${fmt(ns).padStart(10)}  ${(ns / baseline).toFixed(1).padStart(8)}x`);
if (sink === -1) console.log(sink);
