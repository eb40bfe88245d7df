/**
 * The HTTP listener: binds a built app (`createHttpApp`) to an address and
 * closes it gracefully (in-flight requests finish, idle keep-alive connections
 * are closed). `main.ts` owns when to start and stop it.
 */
import type { FastifyInstance } from "fastify";

/** Where to listen: `host:port`, `[v6]:port`, or the parts. Port 0 picks a free port. */
export type HttpListenAddress = string | { readonly host: string; readonly port: number };

/** A listening HTTP server. */
export interface RunningHttpServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  /** `http://host:port` (IPv6 hosts bracketed). */
  readonly url: string;
  /** Stops accepting connections, lets in-flight requests finish, then resolves. */
  close(): Promise<void>;
}

/** Listens on `address`; rejects (with the system error, e.g. EADDRINUSE) when it cannot. */
export async function startHttpServer(app: FastifyInstance, address: HttpListenAddress): Promise<RunningHttpServer> {
  const { host, port } = typeof address === "string" ? parseListenAddress(address) : address;
  await app.listen({ host, port });
  const bound = app.server.address();
  const actualPort = bound !== null && typeof bound === "object" ? bound.port : port;
  const actualHost = bound !== null && typeof bound === "object" ? bound.address : host;
  const urlHost = actualHost.includes(":") ? `[${actualHost}]` : actualHost;
  return {
    host: actualHost,
    port: actualPort,
    url: `http://${urlHost}:${actualPort}`,
    close: () => app.close(),
  };
}

/**
 * Splits `host:port` / `[v6]:port` / `:port` (all interfaces is spelled out:
 * `0.0.0.0:8181`; a bare `:port` means loopback, the safe default). Throws on
 * malformed text: `config.ts` validates user input before it gets here.
 */
export function parseListenAddress(text: string): { readonly host: string; readonly port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port > 65535) throw new Error(`invalid http listen address \`${text}\`: expected host:port`);
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "127.0.0.1" : host, port };
}
