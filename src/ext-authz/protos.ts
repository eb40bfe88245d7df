/**
 * The official Envoy protos, loaded at runtime with @grpc/proto-loader from the
 * copies that ship inside `@grpc/grpc-js-xds` (its `deps/` folder holds
 * envoy-api, xds, googleapis and protoc-gen-validate). Nothing is hand-copied:
 * the field numbers the hand-written codecs use (`check-request.ts`,
 * `check-response.ts`) are checked against these descriptors at startup
 * (`verifyWireLayout`) and by the tests, which encode and decode with protobufjs
 * through this package definition.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as protoLoader from "@grpc/proto-loader";

/** The fully qualified gRPC method path Envoy calls. */
export const CHECK_METHOD_PATH = "/envoy.service.auth.v3.Authorization/Check";

/** The service name used by the health service and in the package definition. */
export const AUTHORIZATION_SERVICE = "envoy.service.auth.v3.Authorization";

/** Include directories of the Envoy API and its dependencies inside `@grpc/grpc-js-xds`. */
export function envoyProtoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  return [join(root, "envoy-api"), join(root, "xds"), join(root, "googleapis"), join(root, "protoc-gen-validate")];
}

/** Options shared by every loader of the Envoy protos (snake_case names as in the .proto files). */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;

/**
 * Loads `envoy/service/auth/v3/external_auth.proto` and everything it imports.
 * Loading takes a few hundred milliseconds, so the definition is loaded once
 * per process and reused (it is immutable).
 */
export function loadAuthorizationProtos(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync("envoy/service/auth/v3/external_auth.proto", {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: envoyProtoIncludeDirs(),
  });
  return cached;
}

/** The `Check` method definition (protobufjs serializers), for clients and tests. */
export function checkMethodDefinition(): protoLoader.MethodDefinition<object, object> {
  const service = loadAuthorizationProtos()[AUTHORIZATION_SERVICE] as protoLoader.ServiceDefinition | undefined;
  const method = service?.["Check"];
  if (!method) throw new Error(`the Envoy protos do not define ${CHECK_METHOD_PATH}`);
  return method as protoLoader.MethodDefinition<object, object>;
}

interface FieldDescriptor {
  readonly name: string;
  readonly number: number;
}

interface MessageDescriptor {
  readonly name?: string;
  readonly field?: readonly FieldDescriptor[];
  readonly nestedType?: readonly MessageDescriptor[];
}

/** Finds a message descriptor by full name; nested messages (`AttributeContext.HttpRequest`) live in `nestedType`. */
function fieldsOf(typeName: string): readonly FieldDescriptor[] {
  const definitions = loadAuthorizationProtos();
  const parts = typeName.split(".");
  for (let cut = parts.length; cut > 0; cut--) {
    const top = definitions[parts.slice(0, cut).join(".")] as { type?: MessageDescriptor } | undefined;
    if (!top?.type) continue;
    let descriptor: MessageDescriptor | undefined = top.type;
    for (const nested of parts.slice(cut)) descriptor = descriptor?.nestedType?.find((n) => n.name === nested);
    if (descriptor?.field) return descriptor.field;
    break;
  }
  throw new Error(`the Envoy protos do not define message \`${typeName}\``);
}

/**
 * Checks that each (message, field name, field number) the hand-written codecs
 * rely on matches the official descriptors. Returns the mismatches (empty when
 * all agree); the server refuses to start on a mismatch.
 */
export function verifyWireLayout(expected: readonly (readonly [message: string, field: string, number: number])[]): string[] {
  const problems: string[] = [];
  for (const [message, field, number] of expected) {
    let fields: readonly FieldDescriptor[];
    try {
      fields = fieldsOf(message);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
      continue;
    }
    // protobufjs ships its own copy of the google.protobuf types with camelCase field names.
    const camel = field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    const found = fields.find((f) => f.name === field || f.name === camel);
    if (!found) problems.push(`\`${message}.${field}\` is not in the Envoy protos`);
    else if (found.number !== number) problems.push(`\`${message}.${field}\` is field ${found.number}, the codec uses ${number}`);
  }
  return problems;
}
