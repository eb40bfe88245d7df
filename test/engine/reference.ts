/**
 * A deliberately naive reference evaluator for the property tests: a direct
 * tree walk over the checked set, written from the documented semantics
 * without sharing code with src/engine (other than the input types). Slow and
 * simple on purpose; the compiled engine must agree with it on every input.
 */
import ipaddr from "ipaddr.js";
import { RE2JS } from "re2js";
import type { AttributeRef, CheckedExpr, CheckedPolicySet, CheckedValue } from "../../src/dsl/checked.js";
import type { RequestInput } from "../../src/engine/input.js";

const DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

function ownGet(o: Record<string, string> | undefined, k: string): string | undefined {
  if (!o) return undefined;
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

/** Reads an attribute the slow way; undefined when missing. */
export function refRead(a: AttributeRef, i: RequestInput): unknown {
  const auth = i.caller.authenticated === true;
  const c = auth ? i.caller.certificate : undefined;
  const lst = (x: readonly string[] | undefined) => (x && x.length > 0 ? x : undefined);
  const k = a.key ?? "";
  const d = new Date(i.time);
  const timeOk = Number.isFinite(i.time);
  const table: Record<string, () => unknown> = {
    "caller.spiffe_id": () => (auth ? i.caller.spiffeId : undefined),
    "caller.trust_domain": () => (auth ? i.caller.trustDomain : undefined),
    "caller.path": () => (auth ? i.caller.path : undefined),
    "caller.authenticated": () => auth,
    "cert.subject.common_name": () => c?.subject.commonName,
    "cert.subject.organization": () => lst(c?.subject.organization),
    "cert.subject.organizational_unit": () => lst(c?.subject.organizationalUnit),
    "cert.issuer.common_name": () => c?.issuer.commonName,
    "cert.issuer.organization": () => lst(c?.issuer.organization),
    "cert.san.dns": () => lst(c?.san.dns),
    "cert.san.uri": () => lst(c?.san.uri),
    "cert.san.email": () => lst(c?.san.email),
    "cert.serial": () => c?.serial,
    "cert.fingerprint": () => c?.fingerprint,
    "cert.not_before": () => c?.notBefore,
    "cert.not_after": () => c?.notAfter,
    "cert.expires_in": () => (c && timeOk ? c.notAfter - i.time : undefined),
    "cert.extension": () => ownGet(c?.extensions, k),
    "request.method": () => i.request.method,
    "request.path": () => i.request.path,
    "request.query": () => ownGet(i.request.query, k),
    "request.headers": () => ownGet(i.request.headers, k),
    "request.host": () => i.request.host,
    "request.scheme": () => i.request.scheme,
    "source.ip": () => i.source.ip,
    "source.port": () => i.source.port,
    "destination.spiffe_id": () => i.destination.spiffeId,
    "destination.ip": () => i.destination.ip,
    "destination.port": () => i.destination.port,
    context: () => ownGet(i.context, k),
    "time.hour": () => (timeOk ? d.getUTCHours() : undefined),
    "time.weekday": () => (timeOk ? DAYS[d.getUTCDay()] : undefined),
  };
  const f = table[a.name];
  if (!f) throw new Error(`reference: unknown attribute ${a.name}`);
  return f();
}

/** Segment glob, by exhaustive recursion (fine for short test values). */
export function refGlob(pattern: string, value: string): boolean {
  const ps = pattern.split("/");
  const vs = value.split("/");
  const seg = (p: string, v: string): boolean => {
    const re = new RegExp("^" + p.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*") + "$");
    return re.test(v);
  };
  const go = (pi: number, vi: number): boolean => {
    if (pi === ps.length) return vi === vs.length;
    if (ps[pi] === "**") {
      for (let k = vi; k <= vs.length; k++) if (go(pi + 1, k)) return true;
      return false;
    }
    return vi < vs.length && seg(ps[pi]!, vs[vi]!) && go(pi + 1, vi + 1);
  };
  return go(0, 0);
}

function refIpIn(addrText: string, list: readonly string[]): boolean {
  if (!ipaddr.isValid(addrText.split("%")[0]!)) throw new Error("not an address");
  const addr = ipaddr.process(addrText.split("%")[0]!);
  return list.some((c) => {
    const text = c.includes("/") ? c : c.includes(":") ? `${c}/128` : `${c}/32`;
    let [net, bits] = ipaddr.parseCIDR(text);
    if (net.kind() === "ipv6" && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      net = (net as ipaddr.IPv6).toIPv4Address();
      bits -= 96;
    }
    return net.kind() === addr.kind() && addr.match(net, bits);
  });
}

function scalarCompare(op: string, v: unknown, lit: CheckedValue, type: string): boolean {
  const strings = (): string[] =>
    lit.kind === "string" ? [lit.value] : lit.kind === "string_set" ? [...lit.values] : lit.kind === "glob" ? [...lit.patterns] : [];
  const n = lit.kind === "number" ? lit.value : lit.kind === "duration" || lit.kind === "timestamp" ? lit.ms : NaN;
  if (type === "ip") {
    const list = lit.kind === "cidr_set" ? lit.cidrs : strings();
    return refIpIn(String(v), list);
  }
  switch (op) {
    case "==":
    case "in":
      if (lit.kind === "glob") return lit.patterns.some((p) => refGlob(p, String(v)));
      if (lit.kind === "string_set" || lit.kind === "number_set") return (lit.values as readonly unknown[]).includes(v);
      if (lit.kind === "duration" || lit.kind === "timestamp") return v === lit.ms;
      return v === (lit as { value: unknown }).value;
    case "matches":
      return strings().some((p) => refGlob(p, String(v)));
    case "starts_with":
      return strings().some((p) => String(v).startsWith(p));
    case "ends_with":
      return strings().some((p) => String(v).endsWith(p));
    case "contains":
      return type === "string_list" ? strings().includes(String(v)) : strings().some((p) => String(v).includes(p));
    case "matches_regex":
      return RE2JS.compile(lit.kind === "regex" ? lit.pattern : strings()[0]!).test(String(v));
    case "<":
      return typeof v === "number" && v < n;
    case "<=":
      return typeof v === "number" && v <= n;
    case ">":
      return typeof v === "number" && v > n;
    case ">=":
      return typeof v === "number" && v >= n;
  }
  throw new Error(`reference: op ${op}`);
}

/** Evaluates a condition by walking the tree. */
export function refEval(e: CheckedExpr, i: RequestInput): boolean {
  switch (e.kind) {
    case "and":
      return e.operands.every((o) => refEval(o, i));
    case "or":
      return e.operands.some((o) => refEval(o, i));
    case "not":
      return !refEval(e.operand, i);
    case "const":
      return e.value;
    case "truthy":
      return refRead(e.attribute, i) === true;
    case "presence": {
      const v = refRead(e.attribute, i);
      const isPresent = v !== undefined && v !== null;
      return e.present ? isPresent : !isPresent;
    }
    case "compare": {
      if (e.op === "!=") return !refEval({ ...e, op: "==" }, i);
      const v = refRead(e.attribute, i);
      if (v === undefined || v === null) return false;
      if (Number.isNaN(v)) return false;
      if (e.attribute.type === "string_list") return (v as string[]).some((x) => scalarCompare(e.op, x, e.value, "string_list"));
      return scalarCompare(e.op, v, e.value, e.attribute.type);
    }
  }
}

/** The reference decision (without explanation). */
export function refDecide(set: CheckedPolicySet, i: RequestInput, auditAll: boolean, revision: string) {
  const matched: { policy: string; rule: string; effect: "allow" | "deny"; mode: "enforce" | "audit" }[] = [];
  let enforceApplies = false;
  let auditApplies = false;
  for (const p of set.policies) {
    if (p.appliesWhen && !refEval(p.appliesWhen, i)) continue;
    if (p.mode === "enforce") enforceApplies = true;
    else auditApplies = true;
    for (const r of p.rules) {
      if (refEval(r.condition, i)) matched.push({ policy: p.name, rule: r.name, effect: r.effect, mode: auditAll ? "audit" : p.mode });
    }
  }
  if (!enforceApplies && !auditApplies) {
    return { allowed: auditAll, outcome: "deny", enforced: !auditAll, determining: [], reason: "no_applicable_policy", revision };
  }
  const denies = matched.filter((m) => m.effect === "deny");
  const allows = matched.filter((m) => m.effect === "allow");
  const outcome = denies.length > 0 ? "deny" : allows.length > 0 ? "allow" : "deny";
  const reason = denies.length > 0 ? "denied_by_rule" : allows.length > 0 ? "allowed" : "no_matching_allow";
  const determining = denies.length > 0 ? denies : allows;
  let allowed: boolean;
  if (auditAll) allowed = true;
  else if (enforceApplies) {
    const ed = denies.some((m) => m.mode === "enforce");
    const ea = allows.some((m) => m.mode === "enforce");
    allowed = !ed && ea;
  } else allowed = true;
  return { allowed, outcome, enforced: allowed === (outcome === "allow"), determining, reason, revision };
}
