/**
 * What the kernel charges for taking audit records into a file: 400 writes of
 * 256 KiB (the sink's piece size) to a new file in DIR, four rounds, each
 * reported as CPU time per write and per 2.5 KB (one decision record with its
 * input). On a virtual machine the figure can change several times over from
 * one minute to the next; run it beside `npm run bench:grpc` to see whether
 * the audit-to-file row was taken in a cheap or a dear spell.
 *
 *   npx tsx bench/disk-write.ts [DIR]   (default: the system's temporary directory; writes 100 MB per round, removed afterwards)
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RECORD_BYTES = 2.5 * 1024;
const WRITES = 400;
const piece = Buffer.alloc(256 * 1024, 0x61);
const dir = mkdtempSync(join(process.argv[2] ?? tmpdir(), "ward-disk-write-"));
try {
  const fd = openSync(join(dir, "audit.log"), "a");
  for (let round = 0; round < 4; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < WRITES; i++) writeSync(fd, piece);
    const used = process.cpuUsage(before);
    const perWrite = (used.user + used.system) / WRITES;
    console.log(`round ${round + 1}: ${perWrite.toFixed(0)} µs CPU per 256 KiB write (kernel ${(used.system / WRITES).toFixed(0)} µs), ${((perWrite * RECORD_BYTES) / piece.length).toFixed(2)} µs per 2.5 KB record`);
  }
  closeSync(fd);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
