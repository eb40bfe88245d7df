// Lint rules, including the module boundaries of docs/architecture.md:
// dependencies point inward, the pure core does no I/O, shells never import each other.
import tseslint from "typescript-eslint";

const nodeIo = ["node:fs", "node:fs/promises", "fs", "fs/promises", "node:net", "node:http", "node:http2", "node:child_process", "node:os", "node:process", "pino", "fastify", "@grpc/grpc-js", "@grpc/proto-loader"];

function restrict(files, groups, message) {
  return {
    files,
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: groups, message }] }],
    },
  };
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "test/fixtures/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  { files: ["test/**", "bench/**"], rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-non-null-assertion": "off" } },
  restrict(["src/diagnostics.ts", "src/spiffe-id.ts"], ["./*", "../*", ...nodeIo], "diagnostics and spiffe-id import nothing"),
  restrict(["src/dsl/**"], ["../engine/*", "../identity/*", "../input/*", "../ext-authz/*", "../audit/*", "../http/*", "../cli/*", "../policy-*", "../main*", "../config*", ...nodeIo], "dsl is the pure core: it imports diagnostics, spiffe-id and chevrotain only"),
  restrict(["src/engine/**"], ["../identity/*", "../input/*", "../ext-authz/*", "../audit/*", "../http/*", "../cli/*", "../policy-*", "../main*", "../config*", ...nodeIo], "engine is pure: it imports dsl types and diagnostics only"),
  restrict(["src/identity/**"], ["../dsl/*", "../input/build*", "../ext-authz/*", "../audit/*", "../http/*", "../cli/*", "../policy-*", "../main*", "../config*", ...nodeIo], "identity is pure: evidence in, Identity out"),
  restrict(["src/input/**"], ["../identity/*", "../ext-authz/*", "../audit/*", "../http/*", "../cli/*", "../policy-*", "../main*", "../config*", ...nodeIo], "input is pure: raw request pieces in, RequestInput out"),
  restrict(["src/ext-authz/**"], ["../http/*", "../cli/*", "../main*"], "shells never import each other; only main.ts wires servers"),
  restrict(["src/http/**"], ["../ext-authz/*", "../cli/*", "../main*"], "shells never import each other; only main.ts wires servers"),
  restrict(["src/cli/**"], ["../ext-authz/*", "../http/*"], "shells never import each other; `ward serve` goes through main.ts"),
  restrict(["src/audit/**"], ["../ext-authz/*", "../http/*", "../cli/*", "../main*"], "audit is used by the shells, never the other way round"),
);
