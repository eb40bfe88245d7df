// Test helpers: the openssl-generated fixtures (test/fixtures/make-certs.sh).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../fixtures/certs/", import.meta.url));

/** The PEM text of a fixture, e.g. `pem("prod-checkout")`. */
export function pem(name: string): string {
  return readFileSync(`${dir}${name}.pem`, "utf8");
}

/** node:crypto's view of a fixture: an independent parser to check ours against. */
export function oracle(name: string): X509Certificate {
  return new X509Certificate(pem(name));
}

/** A decision time inside every ordinary fixture's validity (they run 2025-01-01 .. 2125-01-01). */
export const NOW = Date.UTC(2026, 0, 1);

export const PROD_CHECKOUT = "spiffe://prod.example.com/ns/checkout/sa/checkout";
export const STAGING_CHECKOUT = "spiffe://staging.example.com/ns/checkout/sa/checkout";
export const PROD_WEB = "spiffe://prod.example.com/ns/web/sa/frontend";
export const PROD_PAYMENTS_API = "spiffe://prod.example.com/ns/payments/sa/api";
