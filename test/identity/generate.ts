// Test helper: certificate chains openssl's config files make awkward
// (path length violations, forged issuer names), built with @peculiar/x509.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
  type Extension,
} from "@peculiar/x509";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const crypto = webcrypto as unknown as Parameters<typeof X509CertificateGenerator.create>[1];
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** A generated certificate with its key, to sign the next one. */
export interface Generated {
  readonly pem: string;
  readonly name: string;
  readonly keys: CryptoKeyPair;
}

let serial = 0x100;

/** Issues a certificate for `name`; `issuer` undefined makes it self-signed. */
export async function issue(
  name: string,
  options: { issuer?: Generated; issuerName?: string; ca?: boolean; pathLength?: number; uri?: string; notAfter?: Date },
): Promise<Generated> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const extensions: Extension[] = [];
  if (options.ca) {
    extensions.push(new BasicConstraintsExtension(true, options.pathLength, true));
    extensions.push(new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true));
  } else {
    extensions.push(new BasicConstraintsExtension(false, undefined, true));
    extensions.push(new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true));
  }
  if (options.uri) extensions.push(new SubjectAlternativeNameExtension([{ type: "url", value: options.uri }]));
  serial++;
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: serial.toString(16).padStart(4, "0"),
      subject: `CN=${name}`,
      issuer: options.issuerName ?? (options.issuer ? options.issuer.name : `CN=${name}`),
      notBefore: new Date("2025-01-01T00:00:00Z"),
      notAfter: options.notAfter ?? new Date("2125-01-01T00:00:00Z"),
      signingKey: (options.issuer?.keys ?? keys).privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: alg,
      extensions,
    },
    crypto,
  );
  return { pem: cert.toString("pem"), name: `CN=${name}`, keys };
}
