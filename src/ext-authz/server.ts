/**
 * The gRPC listener side of `ward serve`: one grpc-js server with the Check
 * service and the standard health service (`grpc.health.v1.Health`, from the
 * grpc-health-check package), bound to any number of addresses — TCP
 * (`host:port`, port 0 picks a free one), Unix domain sockets
 * (`unix:///path`, the cheapest hop for a sidecar), and TCP with TLS or
 * mutual TLS — and a graceful shutdown.
 *
 * Health is SERVING only while `setServing(true)` says policies are loaded,
 * and NOT_SERVING again from the moment shutdown begins, for both the overall
 * status (`""`) and `envoy.service.auth.v3.Authorization`.
 */
import { stat, unlink } from "node:fs/promises";
import { connect } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { CheckService } from "./service.js";
import { AUTHORIZATION_SERVICE } from "./protos.js";
import { startStreamMapRenewal, type StreamMapRenewal } from "./stream-map-renewal.js";

/** A listen address: TCP or a Unix domain socket. */
export type ListenAddress =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** TLS material (PEM). With `clientCa`, clients must present a certificate it signed (mutual TLS). */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
}

/** The operational log the server writes to (pino fits). */
export interface ServerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options for `createExtAuthzServer`. */
export interface ExtAuthzServerOptions {
  readonly service: CheckService;
  readonly addresses: readonly ListenAddress[];
  /** Applies to every TCP address; Unix sockets are protected by file permissions and stay plaintext. */
  readonly tls?: TlsMaterial;
  /**
   * The hard transport limit (grpc `max_receive_message_length`): larger
   * messages are refused by grpc-js with RESOURCE_EXHAUSTED before Ward sees
   * them. Keep it above the service's own limit, which answers a proper deny.
   */
  readonly maxReceiveMessageBytes: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: Check calls one connection may have open at once. */
  readonly maxConcurrentStreams: number;
  /**
   * Renew each connection's HTTP/2 stream table after every full garbage
   * collection (stream-map-renewal.ts); default true.
   */
  readonly streamTableRenewal?: boolean;
  readonly log?: ServerLog;
}

/** A started-or-not server. */
export interface ExtAuthzServer {
  /** Binds every address; resolves with them as bound (`127.0.0.1:43117`, `unix:///run/ward.sock`). */
  start(): Promise<string[]>;
  /** Sets the health status of the overall server and the Authorization service. */
  setServing(serving: boolean): void;
  /**
   * Graceful shutdown: health NOT_SERVING, stop accepting, let in-flight calls
   * finish within `graceMs`, then cancel whatever remains. Resolves with
   * `true` when everything finished in time.
   */
  shutdown(graceMs: number): Promise<boolean>;
  /**
   * The stream table renewal's state: whether it works here (undefined until a
   * full collection found a connection, and when it is off) and how many
   * tables it replaced.
   */
  streamTableRenewal(): { readonly supported: boolean | undefined; readonly renewals: number };
}

/**
 * grpc-js options for speed, shared with the benchmark's floor server so that
 * the comparison stays about Ward's own work. Channelz (grpc-js's call
 * statistics, on by default) is off: Ward serves no channelz service, and
 * its tracking costs every call a few objects, closures and clock reads.
 */
export const TRANSPORT_OPTIONS = { "grpc.enable_channelz": 0 } as const;

/** Formats an address the way it is given on the command line. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === "unix") return `unix://${address.path}`;
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Creates the server (nothing is bound until `start`). */
export function createExtAuthzServer(options: ExtAuthzServerOptions): ExtAuthzServer {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes,
    "grpc.max_send_message_length": 1024 * 1024,
    "grpc.max_concurrent_streams": options.maxConcurrentStreams,
    ...TRANSPORT_OPTIONS,
  });
  server.addService(options.service.definition, options.service.implementation);
  const health = new HealthImplementation({ "": "NOT_SERVING", [AUTHORIZATION_SERVICE]: "NOT_SERVING" });
  health.addToServer(server);

  let shuttingDown = false;
  const unixPaths: string[] = [];
  const renewal: StreamMapRenewal | undefined = options.streamTableRenewal === false ? undefined : startStreamMapRenewal(server, options.log);

  function credentialsFor(address: ListenAddress): grpc.ServerCredentials {
    if (address.kind === "unix" || !options.tls) return grpc.ServerCredentials.createInsecure();
    const tls = options.tls;
    return grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.clientCa !== undefined);
  }

  function bind(address: ListenAddress): Promise<string> {
    const target = address.kind === "unix" ? `unix://${address.path}` : formatListenAddress(address);
    return new Promise((resolve, reject) => {
      server.bindAsync(target, credentialsFor(address), (err, port) => {
        if (err) {
          reject(new Error(`cannot listen on \`${target}\`: ${err.message}`));
          return;
        }
        if (address.kind === "unix") {
          unixPaths.push(address.path);
          resolve(target);
        } else {
          resolve(formatListenAddress({ ...address, port }));
        }
      });
    });
  }

  return {
    async start() {
      const bound: string[] = [];
      for (const address of options.addresses) {
        if (address.kind === "unix") await removeStaleSocket(address.path);
        bound.push(await bind(address));
      }
      return bound;
    },

    setServing(serving) {
      const status = serving && !shuttingDown ? "SERVING" : "NOT_SERVING";
      health.setStatus("", status);
      health.setStatus(AUTHORIZATION_SERVICE, status);
    },

    shutdown(graceMs) {
      shuttingDown = true;
      health.setStatus("", "NOT_SERVING");
      health.setStatus(AUTHORIZATION_SERVICE, "NOT_SERVING");
      return new Promise<boolean>((resolve) => {
        let settled = false;
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          options.log?.warn({ graceMs }, "shutdown grace period over: cancelling the calls still open");
          server.forceShutdown();
          resolve(false);
        }, graceMs);
        // tryShutdown stops accepting connections and calls, and waits for the open calls to finish.
        server.tryShutdown(() => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(true);
        });
      }).finally(async () => {
        renewal?.stop();
        for (const path of unixPaths) await unlink(path).catch(() => undefined);
      });
    },

    streamTableRenewal() {
      return { supported: renewal?.supported(), renewals: renewal?.renewals() ?? 0 };
    },
  };
}

/**
 * A socket file left by a previous run makes `bind` fail with EADDRINUSE.
 * Remove it only when nothing answers on it (a live server keeps its socket).
 */
async function removeStaleSocket(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isSocket()) return;
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
  if (!alive) await unlink(path).catch(() => undefined);
}
