/**
 * Generated policy text for tests and benchmarks that need a large, valid set:
 * `policies` policies of ten rules each, one per destination service, with
 * globs (as bench/engine.ts shapes real sets). `variant` changes the callers,
 * so each variant is a different revision.
 */
export function generatedPolicyText(policies: number, variant = 0): string {
  let text = "";
  for (let p = 0; p < policies; p++) {
    text += `policy "generated${p}" {\n  applies when destination.spiffe_id == "spiffe://prod.example.com/ns/generated/sa/svc${p}"\n`;
    for (let r = 0; r < 10; r++) {
      const client = `spiffe://prod.example.com/ns/c${r}/sa/client${(p * 7 + r + variant) % 50}`;
      text += `  allow "r${r}" when caller.spiffe_id == "${client}" and request.method in ["GET", "HEAD"] and request.path matches "/api/v1/res${p}-${r}/**"\n`;
    }
    text += "}\n";
  }
  return text;
}
