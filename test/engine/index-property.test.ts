// Property tests: the indexed evaluation equals a naive full evaluation (the
// engine's own explain path, and an independent tree-walking reference) on
// random programs and random inputs drawn from a shared small vocabulary, so
// that rules do match often. Plus checks that the index really pre-filters.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CompareOp } from "../../src/dsl/checked.js";
import { compile } from "../../src/engine/compile.js";
import { evaluate } from "../../src/engine/evaluate.js";
import type { RequestInput } from "../../src/engine/input.js";
import { conditionsRun, programStats } from "../../src/engine/stats.js";
import {
  absent,
  allow,
  and,
  anonymous,
  attr,
  caller,
  cidrs,
  cmp,
  deny,
  glob,
  konst,
  not,
  num,
  nums,
  or,
  policy,
  policySet,
  present,
  regex,
  request,
  str,
  strs,
  truthy,
  type Attr,
  type Ex,
  type PolicySpec,
} from "./builders.js";
import { refDecide, refGlob } from "./reference.js";

const METHODS = ["GET", "POST", "HEAD", "DELETE"];
const PATHS = ["/api/v1/orders", "/api/v1/orders/42", "/api/v1/cards/9", "/api/v2/x", "/health", "/api/v1/orders/42/items", "/api/v1", "/"];
const PATH_GLOBS = ["/api/v1/**", "/api/*/orders", "/api/v1/orders/*", "/api/**/items", "/api/v1/*/4*", "/health", "/api/v*/cards/*", "/**"];
const PREFIXES = ["/api/v1/", "/api/v1/orders", "/health", "/api/v2/x/", "/a"];
const IDS = [
  "spiffe://prod.example.com/ns/payments/sa/api",
  "spiffe://prod.example.com/ns/checkout/sa/checkout",
  "spiffe://prod.example.com/ns/ops/sa/admin",
  "spiffe://staging.example.com/ns/checkout/sa/checkout",
];
const ID_GLOBS = [
  "spiffe://prod.example.com/ns/*/sa/checkout",
  "spiffe://prod.example.com/**",
  "spiffe://*.example.com/ns/checkout/**",
  "spiffe://prod.example.com/ns/ops/sa/*",
  "spiffe://staging.example.com/ns/checkout/sa/checkout",
];
const DESTS = ["spiffe://prod.example.com/ns/payments/sa/payment-api", "spiffe://prod.example.com/ns/orders/sa/orders", "spiffe://prod.example.com/ns/admin/sa/admin"];
const TDS = ["prod.example.com", "staging.example.com"];
const ENVS = ["prod", "dev"];
const IPS = ["10.1.2.3", "192.168.0.1", "::1", "2001:db8::5", "::ffff:10.9.9.9", "172.16.0.9"];
const CIDRS = ["10.0.0.0/8", "2001:db8::/32", "::1/128", "192.168.0.0/16", "::ffff:172.16.0.0/108"];
const OUS = ["payments", "ops", "payments-contractors"];

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const subset = <T>(xs: readonly T[]) => fc.uniqueArray(pick(xs), { minLength: 1, maxLength: 3 });

function stringLeaf(a: Attr, values: readonly string[], globs: readonly string[], prefixes: readonly string[]): fc.Arbitrary<Ex> {
  return fc.oneof(
    fc.tuple(pick(["==", "!="] as CompareOp[]), pick(values)).map(([op, v]) => cmp(a, op, str(v))),
    subset(values).map((vs) => cmp(a, "in", strs(...vs))),
    subset(globs).map((gs) => cmp(a, "matches", glob(...gs))),
    subset(globs).map((gs) => cmp(a, "in", glob(...gs))),
    pick(prefixes).map((p) => cmp(a, "starts_with", str(p))),
    pick(values).map((v) => cmp(a, "ends_with", str(v.slice(-4)))),
    pick(values).map((v) => cmp(a, "contains", str(v.slice(3, 8)))),
    pick(["^/api/v[0-9]+/", "orders$", "checkout", "^GET|HEAD$"]).map((r) => cmp(a, "matches_regex", regex(r))),
    fc.boolean().map((b) => (b ? present(a) : absent(a))),
  );
}

const leaf: fc.Arbitrary<Ex> = fc.oneof(
  stringLeaf(attr("request.method"), METHODS, METHODS, ["G", "PO"]),
  stringLeaf(attr("request.path"), PATHS, PATH_GLOBS, PREFIXES),
  stringLeaf(attr("caller.spiffe_id"), IDS, ID_GLOBS, ["spiffe://prod.example.com/ns/", "spiffe://staging.example.com/"]),
  stringLeaf(attr("destination.spiffe_id"), DESTS, DESTS, ["spiffe://prod.example.com/ns/orders/"]),
  stringLeaf(attr("caller.trust_domain"), TDS, TDS, ["prod"]),
  stringLeaf(attr("request.headers", "x-env"), ENVS, ENVS, ["pr"]),
  fc.tuple(pick(["in", "==", "!="] as CompareOp[]), subset(CIDRS)).map(([op, cs]) => cmp("source.ip", op, cidrs(...cs))),
  fc.tuple(pick(["==", "!=", "<", "<=", ">", ">="] as CompareOp[]), pick([443, 8080, 9000])).map(([op, n]) => cmp("destination.port", op, num(n))),
  subset([443, 8080]).map((ns) => cmp("destination.port", "in", nums(...ns))),
  fc.tuple(pick(["contains", "==", "!=", "in"] as CompareOp[]), pick(OUS)).map(([op, v]) =>
    cmp("cert.subject.organizational_unit", op, op === "in" ? strs(v) : str(v)),
  ),
  fc.constant(truthy("caller.authenticated")),
  fc.boolean().map((b) => konst(b)),
);

const expr: fc.Arbitrary<Ex> = fc.letrec<{ e: Ex }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("e"), { minLength: 2, maxLength: 3 }).map((xs) => and(...xs)),
    fc.array(tie("e"), { minLength: 2, maxLength: 3 }).map((xs) => or(...xs)),
    tie("e").map((x) => not(x)),
  ),
})).e;

// Rules are mostly conjunctions of leaves, as people write them.
const condition: fc.Arbitrary<Ex> = fc.oneof(
  fc.array(leaf, { minLength: 1, maxLength: 4 }).map((xs) => (xs.length === 1 ? xs[0]! : and(...xs))),
  expr,
);

const policies: fc.Arbitrary<PolicySpec[]> = fc
  .array(
    fc.record({
      applies: fc.option(condition, { nil: undefined, freq: 2 }),
      mode: pick(["enforce", "enforce", "audit"] as const),
      rules: fc.array(fc.tuple(fc.boolean(), condition), { minLength: 1, maxLength: 5 }),
    }),
    { minLength: 0, maxLength: 5 },
  )
  .map((ps) =>
    ps.map((p, i) =>
      policy(
        `p${i}`,
        p.rules.map(([isAllow, c], j) => (isAllow ? allow(`r${j}`, c) : deny(`r${j}`, c))),
        { mode: p.mode, ...(p.applies ? { applies: p.applies } : {}) },
      ),
    ),
  );

const input: fc.Arbitrary<RequestInput> = fc
  .record({
    authenticated: fc.boolean(),
    id: pick(IDS),
    ous: fc.option(fc.subarray(OUS), { nil: undefined }),
    method: pick(METHODS),
    path: pick(PATHS),
    env: fc.option(pick(ENVS), { nil: undefined }),
    dest: fc.option(pick(DESTS), { nil: undefined }),
    ip: fc.option(pick(IPS), { nil: undefined }),
    port: fc.option(pick([443, 8080, 9000]), { nil: undefined }),
  })
  .map((r) =>
    request({
      caller: r.authenticated ? caller(r.id, r.ous ? { subject: { organization: [], organizationalUnit: r.ous } } : undefined) : anonymous,
      method: r.method,
      path: r.path,
      headers: r.env === undefined ? {} : { "x-env": r.env },
      destination: { ...(r.dest ? { spiffeId: r.dest } : {}), ...(r.port ? { port: r.port } : {}) },
      source: r.ip ? { ip: r.ip } : {},
    }),
  );

describe("index correctness", () => {
  it("indexed evaluation equals the full evaluation and the reference", () => {
    fc.assert(
      fc.property(policies, fc.array(input, { minLength: 1, maxLength: 8 }), fc.boolean(), (specs, inputs, auditAll) => {
        const set = policySet(...specs);
        const program = compile(set, { revision: "r" });
        for (const i of inputs) {
          const fast = evaluate(program, i, { auditAll });
          const full = evaluate(program, i, { auditAll, explain: true });
          const { explanation: _e, ...fullDecision } = full;
          expect(fast).toEqual(fullDecision);
          expect(fast).toEqual(refDecide(set, i, auditAll, "r"));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the glob matcher agrees with an exhaustive reference", () => {
    const seg = fc.constantFrom("a", "b", "ab", "", "*", "a*", "*b", "a*b", "**");
    const vseg = fc.constantFrom("a", "b", "ab", "", "aab", "ba", "abb");
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 5 }), fc.array(vseg, { maxLength: 6 }), (ps, vs) => {
        const pattern = ps.join("/");
        const value = vs.join("/");
        const program = compile(policySet(policy("p", [allow("r", cmp("request.path", "matches", glob(pattern)))])), { revision: "r" });
        const d = evaluate(program, request({ path: value }));
        expect(d.outcome === "allow").toBe(refGlob(pattern, value));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("index pre-filtering", () => {
  function countingInput(base: RequestInput): { input: RequestInput; reads: () => number } {
    let n = 0;
    const req = { ...base.request };
    const input = {
      ...base,
      request: Object.defineProperty(req, "path", {
        get: () => {
          n++;
          return base.request.path;
        },
      }),
    };
    return { input, reads: () => n };
  }

  it("a decision touches only the rules that can match", () => {
    const rules = Array.from({ length: 1000 }, (_, k) => allow(`r${k}`, and(cmp("request.path", "==", str(`/api/v1/r${k}`)), cmp("request.method", "==", str("GET")))));
    const program = compile(policySet(policy("p", rules)), { revision: "r" });
    expect(programStats(program).rules.byAttribute).toEqual({ "request.path": 1000 });
    const hit = countingInput(request({ path: "/api/v1/r500" }));
    expect(evaluate(program, hit.input).determining.map((r) => r.rule)).toEqual(["r500"]);
    // One read for the index lookup, one for the single candidate's condition.
    expect(hit.reads()).toBe(2);
    expect(conditionsRun(program, request({ path: "/api/v1/r500" }))).toBe(1);
    const miss = countingInput(request({ path: "/nowhere" }));
    expect(evaluate(program, miss.input).reason).toBe("no_matching_allow");
    expect(miss.reads()).toBe(1);
  });

  it("files rules under their most selective conjunct, including `applies when` and globs", () => {
    const ids = Array.from({ length: 50 }, (_, k) => `spiffe://prod.example.com/ns/n${k}/sa/s`);
    const ps = ids.map((id, k) =>
      policy(
        `svc${k}`,
        [
          ...["a", "b", "c"].map((r) => allow(`read-${r}`, and(cmp("request.method", "in", strs("GET", "HEAD")), cmp("request.path", "matches", glob(`/api/v1/svc${k}/${r}/**`))))),
          ...["a", "b"].map((r) =>
            allow(`write-${r}`, and(cmp("request.method", "==", str("POST")), cmp("caller.spiffe_id", "matches", glob(`spiffe://prod.example.com/ns/*/sa/${r}${k}`)))),
          ),
          // Nothing of its own to index: bound to its policy's `applies when`.
          deny("odd", not(cmp("caller.trust_domain", "==", str("prod.example.com")))),
        ],
        { applies: cmp("destination.spiffe_id", "==", str(id)) },
      ),
    );
    const program = compile(policySet(...ps), { revision: "r" });
    const stats = programStats(program);
    expect(stats.policies.byAttribute).toEqual({ "destination.spiffe_id": 50 });
    expect(stats.rules.fallback).toBe(0);
    expect(stats.rules.byAttribute).toEqual({ "request.path": 150, "caller.spiffe_id": 100 });
    // Filed through `applies when`: bound to the policy, evaluated when it applies.
    expect(stats.rules.boundToPolicy).toBe(50);
    const d = evaluate(
      program,
      request({ method: "POST", caller: caller("spiffe://prod.example.com/ns/x/sa/b7"), destination: { spiffeId: ids[7]! } }),
    );
    expect(d.determining.map((r) => `${r.policy}/${r.rule}`)).toEqual(["svc7/write-b"]);
    const odd = evaluate(program, request({ caller: caller("spiffe://staging.example.com/ns/x/sa/b7"), destination: { spiffeId: ids[7]! } }));
    expect(odd.determining.map((r) => `${r.policy}/${r.rule}`)).toEqual(["svc7/odd"]);
    const readInput = request({ path: "/api/v1/svc9/c/x", destination: { spiffeId: ids[9]! } });
    const read = evaluate(program, readInput);
    expect(read.determining.map((r) => `${r.policy}/${r.rule}`)).toEqual(["svc9/read-c"]);
    // The bound `odd` rule of the one applicable policy, and `read-c`: nothing of the other 49 policies.
    expect(conditionsRun(program, readInput)).toBe(2);
  });
});
