// docs/envoy.md promises a working Envoy configuration: check every typed block of it
// against the official Envoy protos (field names, nesting and enum values), since Envoy itself
// is not available to the tests.
import { readFileSync } from "node:fs";
import * as protoLoader from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import { envoyProtoIncludeDirs, PROTO_LOADER_OPTIONS } from "../../src/ext-authz/protos.js";

/** The proto file declaring each `@type` the document uses. */
const TYPE_FILES: Record<string, string> = {
  "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz": "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute": "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy.extensions.filters.http.router.v3.Router": "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext": "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog": "envoy/extensions/access_loggers/stream/v3/stream.proto",
};

const definitions = protoLoader.loadSync([...Object.values(TYPE_FILES), "envoy/config/bootstrap/v3/bootstrap.proto"], {
  ...PROTO_LOADER_OPTIONS,
  includeDirs: envoyProtoIncludeDirs(),
});

interface Field {
  name: string;
  type: string;
  typeName?: string;
  label?: string;
}
interface Message {
  name: string;
  field: Field[];
  nestedType?: Message[];
  enumType?: { name: string; value: { name: string }[] }[];
  options?: { mapEntry?: boolean };
}


/** Finds a message or enum by full name (nested ones live inside their parent's descriptor). */
function lookup(fullName: string): { kind: "message"; msg: Message; fullName: string } | { kind: "enum"; values: string[] } | undefined {
  const parts = fullName.split(".");
  for (let cut = parts.length; cut > 0; cut--) {
    const top = definitions[parts.slice(0, cut).join(".")] as { type?: Message & { value?: { name: string }[] }; format?: string } | undefined;
    if (!top?.type) continue;
    if (top.format?.includes("EnumDescriptorProto")) return cut === parts.length ? { kind: "enum", values: top.type.value!.map((v) => v.name) } : undefined;
    let msg: Message | undefined = top.type;
    const rest = parts.slice(cut);
    for (let i = 0; i < rest.length; i++) {
      const nested: Message | undefined = msg?.nestedType?.find((n) => n.name === rest[i]);
      if (nested) {
        msg = nested;
        continue;
      }
      const en = i === rest.length - 1 ? msg?.enumType?.find((e) => e.name === rest[i]) : undefined;
      return en ? { kind: "enum", values: en.value.map((v) => v.name) } : undefined;
    }
    return msg ? { kind: "message", msg, fullName } : undefined;
  }
  return undefined;
}

/** Resolves a field's type name the way protoc does: innermost scope first. */
function resolve(scope: string, typeName: string): ReturnType<typeof lookup> {
  if (typeName.startsWith(".")) return lookup(typeName.slice(1));
  const parts = scope.split(".");
  for (let cut = parts.length; cut >= 0; cut--) {
    const found = lookup([...parts.slice(0, cut), typeName].join("."));
    if (found) return found;
  }
  return undefined;
}

interface Node {
  key: string;
  value: string;
  line: number;
  children: Node[];
}

/** A small reader for the block-style YAML the document uses (keys, nesting by indentation, inline `{ k: v }` maps). */
function readYaml(text: string, firstLine: number): Node[] {
  const root: Node = { key: "", value: "", line: 0, children: [] };
  const stack: { indent: number; node: Node }[] = [{ indent: -1, node: root }];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\s+#.*$/, "");
    if (line.trim() === "" || line.trim().startsWith("#")) return;
    let indent = line.length - line.trimStart().length;
    let content = line.trim();
    if (content.startsWith("- ")) {
      indent += 2;
      content = content.slice(2);
    }
    const m = /^("[^"]+"|[A-Za-z0-9_.@]+):\s*(.*)$/.exec(content);
    if (!m) return;
    const node: Node = { key: m[1]!.replace(/"/g, ""), value: m[2]!, line: firstLine + i, children: [] };
    while (stack[stack.length - 1]!.indent >= indent) stack.pop();
    stack[stack.length - 1]!.node.children.push(node);
    stack.push({ indent, node });
    const inline = /^\{(.*)\}$/.exec(node.value.trim());
    if (inline) {
      for (const pair of inline[1]!.split(",")) {
        const kv = /^\s*([A-Za-z0-9_]+):\s*(.*?)\s*$/.exec(pair);
        if (kv) node.children.push({ key: kv[1]!, value: kv[2]!, line: node.line, children: [] });
      }
    }
  });
  return root.children;
}

/** Checks `nodes` as the fields of message `fullName`; returns the problems. */
function check(fullName: string, nodes: Node[], problems: string[]): void {
  const found = lookup(fullName);
  if (!found || found.kind !== "message") {
    problems.push(`unknown message ${fullName}`);
    return;
  }
  for (const node of nodes) {
    if (node.key === "@type") continue;
    const field = found.msg.field.find((f) => f.name === node.key);
    if (!field) {
      problems.push(`line ${node.line}: \`${node.key}\` is not a field of ${fullName}`);
      continue;
    }
    if (field.type === "TYPE_ENUM") {
      const en = resolve(fullName, field.typeName!);
      if (en?.kind === "enum" && !en.values.includes(node.value.trim())) problems.push(`line ${node.line}: \`${node.value}\` is not a value of ${field.typeName}`);
    }
    if (field.type !== "TYPE_MESSAGE" || node.children.length === 0) continue;
    const type = resolve(fullName, field.typeName!);
    if (!type || type.kind !== "message") continue;
    if (type.msg.options?.mapEntry) continue; // map keys are free-form
    // google.protobuf wrappers and Any/Struct are written in their JSON forms.
    if (type.fullName.startsWith("google.protobuf.")) continue;
    check(type.fullName, node.children, problems);
  }
}

describe("docs/envoy.md", () => {
  const doc = readFileSync(new URL("../../docs/envoy.md", import.meta.url), "utf8");
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)];

  it("has an Envoy configuration with the choices the server relies on", () => {
    const config = blocks[0]![1]!;
    for (const setting of ["transport_api_version: V3", "failure_mode_allow: false", "include_peer_certificate: true", "http2_protocol_options: {}", "pipe: { path: /run/ward/ward.sock }", "timeout: 0.25s", "status_on_error:"]) {
      expect(config).toContain(setting);
    }
  });

  it("uses only fields and enum values that exist in the official protos", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const block of blocks) {
      const firstLine = doc.slice(0, block.index).split("\n").length + 1;
      const visit = (nodes: Node[]) => {
        for (const node of nodes) {
          const type = node.children.find((c) => c.key === "@type");
          if (type) {
            const fullName = type.value.replace(/^type\.googleapis\.com\//, "").trim();
            expect(TYPE_FILES[fullName], `no proto file known for ${fullName}`).toBeDefined();
            check(fullName, node.children, problems);
            checked++;
          }
          visit(node.children);
        }
      };
      visit(readYaml(block[1]!, firstLine));
    }
    // The complete configuration is a bootstrap: listeners, filter chains, clusters, endpoints, health checks.
    const firstLine = doc.slice(0, blocks[0]!.index).split("\n").length + 1;
    check("envoy.config.bootstrap.v3.Bootstrap", readYaml(blocks[0]![1]!, firstLine), problems);
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(problems).toEqual([]);
  });

  it("catches a misspelled field (the check itself can fail)", () => {
    const problems: string[] = [];
    check("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", readYaml("failure_mode_alow: false\nstatus_on_error:\n  code: Forbiden\n", 1), problems);
    expect(problems).toHaveLength(2);
  });
});
