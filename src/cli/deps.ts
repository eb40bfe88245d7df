/**
 * The decision collaborators the CLI uses, built the way `ward serve` builds
 * them (src/main.ts), from the same identity flags with the same defaults,
 * so `ward eval` and `ward test` decide exactly as a server started with
 * those flags would.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { renderDiagnostics } from "../diagnostics.js";
import type { DecisionDeps } from "../decide.js";
import { createIdentityResolver, type IdentityConfig } from "../identity/resolve.js";
import { createInputBuilder } from "../input/build.js";
import type { CliIo } from "./io.js";
import { fsReason } from "./load.js";

/** The identity flags `eval` and `test` share with `ward serve` (docs/serve.md). */
export const IDENTITY_FLAGS = {
  "trust-bundle": { type: "string" },
  "identity-sources": { type: "string" },
  "xfcc-trusted-by": { type: "string", multiple: true },
  "xfcc-proxy-may-call-as-itself": { type: "boolean" },
  "certificate-checks": { type: "string" },
} as const;

/** Usage lines for the identity flags. */
export const IDENTITY_FLAGS_USAGE = `  --trust-bundle FILE         SPIFFE trust bundle (PEM) certificates must chain to, as for ward serve
  --identity-sources LIST     evidence for the caller identity, in order (default principal,certificate)
  --xfcc-trusted-by ID        proxy whose x-forwarded-client-cert is believed (repeatable; needed for xfcc)
  --xfcc-proxy-may-call-as-itself
                              a trusted proxy's request without an XFCC element is the proxy itself
  --certificate-checks always|when-needed
                              when a certificate beside a principal is checked, as for ward serve (default always)`;

/** The identity flags as parsed. */
export interface IdentityFlags {
  readonly "trust-bundle"?: string;
  readonly "identity-sources"?: string;
  readonly "xfcc-trusted-by"?: readonly string[];
  readonly "xfcc-proxy-may-call-as-itself"?: boolean;
  readonly "certificate-checks"?: string;
}

/** Builds the identity resolver and input builder with the server's defaults and the given identity flags. */
export function createDecisionDeps(config: IdentityConfig = {}): DecisionDeps & { readonly problems: string | undefined } {
  const resolver = createIdentityResolver(config);
  const errors = resolver.diagnostics.filter((d) => d.severity === "error");
  return { resolver, inputBuilder: createInputBuilder(), problems: errors.length > 0 ? renderDiagnostics(errors) : undefined };
}

/**
 * Reads the identity flags (the trust bundle file relative to `io.cwd`) into
 * decision collaborators; on a problem, prints it and resolves to undefined
 * (the command then exits 2, as `ward serve` would refuse to start).
 */
export async function decisionDepsFromFlags(flags: IdentityFlags, io: CliIo): Promise<DecisionDeps | undefined> {
  let trustBundle: string | undefined;
  if (flags["trust-bundle"] !== undefined) {
    try {
      trustBundle = await readFile(resolve(io.cwd, flags["trust-bundle"]), "utf8");
    } catch (err) {
      io.stderr(`error: cannot read trust bundle \`${flags["trust-bundle"]}\`: ${fsReason(err)}\n`);
      return undefined;
    }
  }
  const sources = flags["identity-sources"]?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const trusted = flags["xfcc-trusted-by"] ?? [];
  if (flags["xfcc-proxy-may-call-as-itself"] === true && !(sources ?? []).includes("xfcc")) {
    io.stderr("error: --xfcc-proxy-may-call-as-itself only means something when `xfcc` is one of the identity sources\n");
    return undefined;
  }
  const config: IdentityConfig = {
    ...(sources !== undefined ? { sources: sources as IdentityConfig["sources"] } : {}),
    ...(trusted.length > 0 ? { xfcc: { trustedProxies: trusted, proxyMayCallAsItself: flags["xfcc-proxy-may-call-as-itself"] === true } } : {}),
    ...(trustBundle !== undefined ? { trustBundle } : {}),
    // Checked by the resolver like the rest (an unknown value is `certificate_checks_invalid`, exit 2).
    ...(flags["certificate-checks"] !== undefined ? { certificateChecks: flags["certificate-checks"] as IdentityConfig["certificateChecks"] } : {}),
  };
  const deps = createDecisionDeps(config);
  if (deps.problems !== undefined) {
    io.stderr(`error: identity configuration:\n${deps.problems}\n`);
    return undefined;
  }
  return { resolver: deps.resolver, inputBuilder: deps.inputBuilder };
}
