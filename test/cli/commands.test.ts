// `ward check`, `ward eval`, `ward fmt` and the dispatcher: exit codes and
// output (golden where the format is the contract), run in-process.
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lastLine, PAYMENTS_POLICY, project, ROOT, ward } from "./helpers.js";

const CHECKOUT = "spiffe://prod.example.com/ns/checkout/sa/checkout";
const PAYMENTS = "spiffe://prod.example.com/ns/payments/sa/payment-api";

describe("ward (dispatcher)", () => {
  it("prints the usage for `ward help` (exit 0) and for no command (exit 2)", async () => {
    const help = await ward(["help"], { cwd: ROOT });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: ward <command>");
    for (const cmd of ["check", "eval", "test", "fmt", "serve"]) expect(help.stdout).toContain(`  ${cmd} `);
    const none = await ward([], { cwd: ROOT });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("usage: ward <command>");
  });

  it("prints a command's usage for `ward help test` and `ward test --help`", async () => {
    expect((await ward(["help", "test"], { cwd: ROOT })).stdout).toContain("usage: ward test [paths...]");
    const flag = await ward(["test", "--help"], { cwd: ROOT });
    expect(flag.code).toBe(0);
    expect(flag.stdout).toContain("--coverage");
  });

  it("prints the version from package.json", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const r = await ward(["--version"], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`ward ${pkg.version}\n`);
  });

  it("rejects an unknown command with exit 2 and the usage", async () => {
    const r = await ward(["frobnicate"], { cwd: ROOT });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown command `frobnicate`");
    expect(r.stderr).toContain("usage: ward <command>");
  });
});

describe("ward check", () => {
  it("exits 0 on a clean set and prints one summary line", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY });
    const r = await ward(["check"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^checked 1 file: 1 policy, 3 rules, 0 tests; 0 errors, 0 warnings; revision [0-9a-f]{16}\n$/);
  });

  it("prints warnings with file:line:col, source line and caret, and still exits 0", async () => {
    const cwd = project({ "p/only-deny.ward": 'policy "lockdown" {\n  deny "nobody" when request.method == "DELETE"\n}\n' });
    const r = await ward(["check", "p"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^p\/only-deny\.ward:1:8: warning: .*\[no_allow_rule\]\n 1 \| policy "lockdown" \{\n {3}\| {8}\^{10}\n/);
    expect(r.stdout).toMatch(/^checked 1 file: 1 policy, 1 rule, 0 tests; 0 errors, 1 warning; revision [0-9a-f]{16}\n$/);
  });

  it("prints every error of every file, rendered, and exits 1", async () => {
    const cwd = project({
      "p/a.ward": 'policy "a" {\n  allow "r" when request.paht == "/x"\n}\n',
      "p/b.ward": 'policy "b" {\n  allow "r" when request.method > 3\n  allow "s" when caller.spiffe_id == "spiffe://Prod.example.com/x"\n}\n',
    });
    const r = await ward(["check", "p"], { cwd });
    expect(r.code).toBe(1);
    // Golden for the first diagnostic: location, message, code, the source line and a caret under the attribute.
    expect(r.stderr.startsWith(
      [
        "p/a.ward:2:18: error: unknown attribute `request.paht` [unknown_attribute]",
        ' 2 |   allow "r" when request.paht == "/x"',
        "   |                  ^^^^^^^^^^^^",
        "  = help: did you mean `request.path`?",
      ].join("\n"),
    )).toBe(true);
    expect(r.stderr).toMatch(/p\/b\.ward:2:\d+: error: /);
    expect(r.stderr).toMatch(/p\/b\.ward:3:\d+: error: /);
    expect(r.stdout).toMatch(/^checked 2 files: 3 errors, 0 warnings; revision [0-9a-f]{16} not compiled\n$/);
  });

  it("exits 2 on usage errors: unknown flags, missing paths, no policy files", async () => {
    const cwd = project({ "empty/README.md": "nothing here" });
    const flag = await ward(["check", "--strict"], { cwd });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("usage: ward check");
    const missing = await ward(["check", "nope/"], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: cannot read \`${join(cwd, "nope")}\`: no such file or directory`);
    const empty = await ward(["check", "empty"], { cwd });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("no `.ward` files found in `empty`");
  });

  it("names a policy file that is listed but gone (a symlink to nothing) and skips other names that are", async () => {
    const cwd = project({ "p/a.ward": 'policy "a" {\n  allow "r" when request.path == "/x"\n}\n' });
    symlinkSync(join(cwd, "p/nowhere"), join(cwd, "p/a.ward.tmp"));
    expect((await ward(["check", "p"], { cwd })).code).toBe(0);
    symlinkSync(join(cwd, "p/nowhere"), join(cwd, "p/b.ward"));
    const gone = await ward(["check", "p"], { cwd });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`error: cannot read \`${join(cwd, "p/b.ward")}\`: listed, then gone: removed or renamed while being read, or a symlink to nothing`);
  });

  it("checks the shipped policies clean: no errors, no warnings", async () => {
    const r = await ward(["check", "policies/"], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/0 errors, 0 warnings/);
  });
});

describe("ward eval", () => {
  const compact = JSON.stringify({
    caller: { spiffe_id: "spiffe://staging.example.com/ns/checkout/sa/checkout" },
    request: { method: "POST", path: "/api/v1/charge" },
    destination: { spiffe_id: PAYMENTS },
  });

  it("decides a compact input and prints one JSON object", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "in.json": compact });
    const r = await ward(["eval", "--input", "in.json"], { cwd });
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({
      allowed: false,
      outcome: "deny",
      enforced: true,
      status: 403,
      determining: [{ policy: "payments-api", rule: "no cross-environment calls", effect: "deny" }],
      reason: "denied_by_rule",
    });
    expect(d.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(d.explanation).toBeUndefined();
  });

  it("decides an Envoy CheckRequest in proto3 JSON", async () => {
    const r = await ward(["eval", "policies/", "--input", "policies/recorded/checkout-charge.checkrequest.json"], { cwd: ROOT });
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({ allowed: true, outcome: "allow", reason: "allowed", caller: { authenticated: true, spiffe_id: CHECKOUT } });
    expect(d.determining).toEqual([{ policy: "payments-api", rule: "checkout may charge", effect: "allow", mode: "enforce" }]);
  });

  it("--xfcc-proxy-may-call-as-itself: a trusted proxy without an XFCC element is itself, not unauthenticated", async () => {
    const request = ["eval", "policies/", "--input", "policies/recorded/checkout-charge.checkrequest.json", "--identity-sources", "xfcc,principal", "--xfcc-trusted-by", CHECKOUT];
    const hop = JSON.parse((await ward(request, { cwd: ROOT })).stdout);
    expect(hop).toMatchObject({ allowed: false, status: 401, caller: { authenticated: false, unauthenticated_reason: "xfcc_missing" } });
    const itself = await ward([...request, "--xfcc-proxy-may-call-as-itself"], { cwd: ROOT });
    expect(itself.code).toBe(0);
    expect(JSON.parse(itself.stdout)).toMatchObject({ allowed: true, caller: { authenticated: true, spiffe_id: CHECKOUT } });
    const alone = await ward(["eval", "policies/", "--input", "policies/recorded/checkout-charge.checkrequest.json", "--xfcc-proxy-may-call-as-itself"], { cwd: ROOT });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("only means something when `xfcc` is one of the identity sources");
  });

  it("--certificate-checks when-needed: an expired certificate beside the principal is not checked while no policy reads cert.*", async () => {
    // Envoy's recorded CheckRequest, with the same caller's expired certificate in `source.certificate`.
    const recorded = JSON.parse(readFileSync(join(ROOT, "policies/recorded/checkout-charge.checkrequest.json"), "utf8")) as { attributes: { source: { certificate: string } } };
    recorded.attributes.source.certificate = encodeURIComponent(readFileSync(join(ROOT, "test/fixtures/certs/expired.pem"), "utf8"));
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "in.json": JSON.stringify(recorded) });
    // The server's default checks every certificate Envoy sends: expired, so the caller is no one.
    const always = JSON.parse((await ward(["eval", "--input", "in.json"], { cwd })).stdout);
    expect(always).toMatchObject({ allowed: false, status: 401, caller: { authenticated: false, unauthenticated_reason: "expired_certificate" } });
    const whenNeeded = await ward(["eval", "--input", "in.json", "--certificate-checks", "when-needed"], { cwd });
    expect(whenNeeded.code).toBe(0);
    expect(JSON.parse(whenNeeded.stdout)).toMatchObject({ allowed: true, caller: { authenticated: true, spiffe_id: CHECKOUT, source: "principal" } });
    const bad = await ward(["eval", "--input", "in.json", "--certificate-checks", "sometimes"], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("certificate_checks_invalid");
  });

  it("--explain adds every rule, matched or the first failed condition with file:line:col", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "in.json": compact });
    const d = JSON.parse((await ward(["eval", "--input", "in.json", "--explain"], { cwd })).stdout);
    const rules = d.explanation.policies[0].rules;
    expect(rules[0]).toMatchObject({ rule: "checkout may charge", matched: false, at: "policies/payments.ward:7:3" });
    expect(rules[0].failed).toEqual({ condition: "caller.spiffe_id == checkout", at: "policies/payments.ward:8:5", actual: "spiffe://staging.example.com/ns/checkout/sa/checkout" });
    expect(rules[2]).toMatchObject({ rule: "no cross-environment calls", matched: true });
  });

  it("--mode audit lets the denied request through and says it would have been denied", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "in.json": compact });
    const d = JSON.parse((await ward(["eval", "--input", "in.json", "--mode", "audit"], { cwd })).stdout);
    expect(d).toMatchObject({ allowed: true, outcome: "deny", enforced: false, status: 200 });
    expect((await ward(["eval", "--input", "in.json", "--mode", "lenient"], { cwd })).code).toBe(2);
  });

  it("reads the input from standard input with `--input -`, and decides at the current time when the input has none", async () => {
    const policy = 'policy "noon" {\n  allow "at noon" when time.hour == 12\n}\n';
    const cwd = project({ "p/noon.ward": policy });
    const input = JSON.stringify({ request: { method: "GET", path: "/" } });
    const noon = await ward(["eval", "p", "--input", "-"], { cwd, stdin: input, now: Date.parse("2027-05-05T12:30:00Z") });
    expect(JSON.parse(noon.stdout).allowed).toBe(true);
    const evening = await ward(["eval", "p", "--input", "-"], { cwd, stdin: input, now: Date.parse("2027-05-05T18:30:00Z") });
    expect(JSON.parse(evening.stdout).allowed).toBe(false);
    const stamped = JSON.stringify({ request: { method: "GET", path: "/" }, time: "2027-05-05T12:00:00Z" });
    expect(JSON.parse((await ward(["eval", "p", "--input", "-"], { cwd, stdin: stamped, now: Date.parse("2027-05-05T18:30:00Z") })).stdout).allowed).toBe(true);
  });

  it("decides a decision record from the audit log as recorded", async () => {
    const r = await ward(["eval", "policies/", "--input", "policies/recorded/ledger-card-read.decision.json"], { cwd: ROOT });
    expect(JSON.parse(r.stdout)).toMatchObject({ allowed: true, determining: [{ rule: "pci workloads in payments may read cards" }] });
  });

  it("exits 2 without --input, on unreadable or invalid input, and when the policies do not compile", async () => {
    const cwd = project({ "policies/payments.ward": PAYMENTS_POLICY, "bad.json": "{ not json", "odd.json": '{"hello": 1}', "in.json": compact });
    const none = await ward(["eval"], { cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("`--input FILE` is required");
    const missing = await ward(["eval", "--input", "nope.json"], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: cannot read input `nope.json`: no such file or directory");
    const bad = await ward(["eval", "--input", "bad.json"], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error: input `bad.json` cannot be used: not valid JSON");
    const odd = await ward(["eval", "--input", "odd.json"], { cwd });
    expect(odd.code).toBe(2);
    expect(odd.stderr).toContain("error: input `odd.json` cannot be used:");
    const broken = project({ "p/x.ward": 'policy "x" { allow "r" when nope }', "in.json": compact });
    const r = await ward(["eval", "p", "--input", "in.json"], { cwd: broken });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("p/x.ward:1:");
  });
});

describe("ward fmt", () => {
  const ugly = 'policy "p" {\nallow "r" when request.method=="GET"   and request.path  matches "/api/**"\n}\n';
  const pretty = 'policy "p" {\n  allow "r" when\n    request.method == "GET"\n    and request.path matches "/api/**"\n}\n';

  it("--check lists the files that differ, writes nothing and exits 1; fmt rewrites them; then --check passes", async () => {
    const cwd = project({ "p/ugly.ward": ugly, "p/pretty.ward": pretty });
    const check = await ward(["fmt", "--check", "p"], { cwd });
    expect(check.code).toBe(1);
    expect(check.stdout).toBe("p/ugly.ward\n");
    expect(readFileSync(join(cwd, "p/ugly.ward"), "utf8")).toBe(ugly);

    const write = await ward(["fmt", "p"], { cwd });
    expect(write.code).toBe(0);
    expect(write.stdout).toBe("formatted p/ugly.ward\n");
    expect(readFileSync(join(cwd, "p/ugly.ward"), "utf8")).toBe(pretty);

    const again = await ward(["fmt", "p"], { cwd });
    expect(again.stdout).toBe("");
    expect((await ward(["fmt", "--check", "p"], { cwd })).code).toBe(0);
  });

  it("refuses files with syntax errors (exit 2, diagnostics, file untouched) and still formats the others", async () => {
    const broken = 'policy "p" {\n  allow "r" when request.method = "GET"\n}\n';
    const cwd = project({ "p/broken.ward": broken, "p/ugly.ward": ugly });
    const r = await ward(["fmt", "p"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("p/broken.ward:2:");
    expect(r.stderr).toContain("write `==`");
    expect(readFileSync(join(cwd, "p/broken.ward"), "utf8")).toBe(broken);
    expect(readFileSync(join(cwd, "p/ugly.ward"), "utf8")).toBe(pretty);
  });

  it("finds the shipped policies in the canonical layout", async () => {
    const r = await ward(["fmt", "--check", "policies/"], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
  });

  it("exits 2 on usage errors", async () => {
    const r = await ward(["fmt", "--diff"], { cwd: ROOT });
    expect(r.code).toBe(2);
    expect(lastLine(r.stderr)).toContain("2 usage error");
  });
});

describe("the HTTP status a test expects", () => {
  // One rule for the gRPC answer, `status N` in tests and POST /v1/check (src/decision-json.ts).
  it("is 200 when allowed, 401 for an unauthenticated caller unless Ward itself failed, else 403", async () => {
    const { envoyStatus } = await import("../../src/decision-json.js");
    const { unauthenticated } = await import("../../src/engine/input.js");
    type Identity = import("../../src/engine/input.js").Identity;
    const authenticated: Identity = { authenticated: true, spiffeId: CHECKOUT, trustDomain: "prod.example.com", path: "/ns/checkout/sa/checkout" };
    const cases: { reason: import("../../src/engine/decision.js").DecisionReason; allowed: boolean; identity: Identity; status: number }[] = [
      { reason: "allowed", allowed: true, identity: unauthenticated("no_identity"), status: 200 },
      { reason: "denied_by_rule", allowed: false, identity: authenticated, status: 403 },
      { reason: "no_matching_allow", allowed: false, identity: unauthenticated("no_identity"), status: 401 },
      { reason: "malformed_path", allowed: false, identity: unauthenticated("expired_certificate"), status: 401 },
      { reason: "internal_error", allowed: false, identity: unauthenticated("no_identity"), status: 403 },
      { reason: "timeout", allowed: false, identity: unauthenticated("no_identity"), status: 403 },
      { reason: "no_policies_loaded", allowed: false, identity: unauthenticated("not_resolved"), status: 403 },
      { reason: "malformed_request", allowed: false, identity: unauthenticated("not_resolved"), status: 403 },
    ];
    for (const c of cases) {
      const decision = { allowed: c.allowed, outcome: c.allowed ? ("allow" as const) : ("deny" as const), enforced: true, determining: [], reason: c.reason, revision: "r" };
      expect(envoyStatus(decision, c.identity), `${c.reason} ${c.identity.unauthenticatedReason}`).toBe(c.status);
    }
  });
});
