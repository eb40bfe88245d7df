/**
 * The floor server for `npm run bench:grpc`: grpc-js serving
 * `envoy.service.auth.v3.Authorization/Check` with raw buffers and one
 * constant pre-encoded answer, no protobuf work at all. Whatever Ward costs
 * beyond this is Ward's own work. It runs grpc-js as `ward serve` does: the
 * same options for speed (TRANSPORT_OPTIONS), V8's heap growth as `ward serve`
 * sets it by default (heap-growth.ts), and each connection's HTTP/2 stream
 * table renewed after every full collection (stream-map-renewal.ts), unless
 * WARD_STREAM_TABLE_RENEWAL=off, the variable `ward serve` reads for the same
 * switch. With `plain`, it is grpc-js as anyone would run it: default
 * options (channelz on), V8's own heap growth and no renewal, the floor as issue 4 describes it,
 * shown beside the other so that both ratios are on record. Run as a separate
 * process:
 *   tsx bench/floor-server.ts [port] [plain]   (prints `listening <port>` when ready)
 */
import * as grpc from "@grpc/grpc-js";
import { TRANSPORT_OPTIONS } from "../src/ext-authz/server.js";
import { applyHeapGrowth, DEFAULT_HEAP_GROWING_PERCENT } from "../src/heap-growth.js";
import { startStreamMapRenewal } from "../src/ext-authz/stream-map-renewal.js";

const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";
// CheckResponse { status: { code: 0 }, ok_response: {} }: `0a 00 1a 00`.
const ANSWER = Buffer.from([0x0a, 0x00, 0x1a, 0x00]);

const service: grpc.ServiceDefinition = {
  Check: {
    path: CHECK_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

const plain = process.argv[3] === "plain";
if (!plain) applyHeapGrowth({ percent: DEFAULT_HEAP_GROWING_PERCENT, explicit: false });
// The same grpc-js options for speed as `ward serve` (channelz off), so the floor measures grpc-js as Ward runs it.
const server = new grpc.Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024, ...(plain ? {} : TRANSPORT_OPTIONS) });
server.addService(service, {
  Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, ANSWER),
});
if (!plain && process.env["WARD_STREAM_TABLE_RENEWAL"] !== "off") startStreamMapRenewal(server, console);
const port = Number(process.argv[2] ?? 0);
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(`listening ${bound}`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
