/** Facts about file descriptors that decide how Ward writes to them. */
import { fstatSync } from "node:fs";

/**
 * Whether `fd` is a pipe or a socket: how container runtimes and supervisors
 * take a process's output. Such a destination can stop taking bytes when its
 * reader stalls, so Ward writes it through a libuv stream (never blocking)
 * rather than with synchronous writes. False when `fd` cannot be examined.
 */
export function isPipeOrSocket(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}
