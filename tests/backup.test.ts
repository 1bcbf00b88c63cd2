// The backup server against the tape library, with no director between them (the
// baseline the director must beat): GNU tar streams in 4 KiB records, a label and a
// filemark per tape, early warning handled by moving to the next tape, appends after
// the end of data; the tapes read back and checked byte for byte and by GNU tar.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualClock } from "../host/clock.js";
import { makeLibrary, ADDR } from "../host/backup/library.js";
import { BackupServer } from "../host/backup/server.js";
import { runServer, readBackJobs, tapeMismatches } from "../host/backup/tapes.js";
import { makeTree, tarStream, TreeEntry } from "../host/backup/tar.js";

function setup(jobs: number, files = 100, maxBytes = 600_000) {
  const clock = new VirtualClock();
  const lib = makeLibrary(clock);
  const trees = Array.from({ length: jobs }, (_, j) => makeTree(100 + j, files, maxBytes));
  const streams = trees.map(tarStream);
  const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2, 3].map((i) => ADDR.STORAGE + i) }, streams);
  server.now = () => clock.now_ns;
  return { clock, lib, trees, streams, server };
}

/** GNU tar lists and extracts the stream to exactly the tree. */
function tarVerified(stream: Uint8Array, tree: TreeEntry[]): boolean {
  const dir = mkdtempSync(join(tmpdir(), "holdup-tar-"));
  try {
    writeFileSync(join(dir, "job.tar"), stream);
    const list = spawnSync("tar", ["-b", "8", "-tf", join(dir, "job.tar")], { encoding: "utf8" });
    assert.equal(list.error, undefined, "GNU tar (Debian package tar) must be installed");
    const names = list.stdout.trim().split("\n");
    if (names.length !== tree.length) return false;
    const x = spawnSync("tar", ["-b", "8", "-xf", join(dir, "job.tar"), "-C", dir]);
    if (x.status !== 0) return false;
    return tree.every((e) => e.dir || readFileSync(join(dir, e.path)).equals(Buffer.from(e.data)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("backup jobs across tapes: label, jobs, filemarks, early warning to the next tape; GNU tar restores every job", () => {
  const { clock, lib, trees, streams, server } = setup(4);
  const total = streams.reduce((a, s) => a + s.length, 0);
  assert.ok(total > 64 * 1024 * 1024 * 1.2, `${total} bytes: more than a tape`);
  assert.ok(runServer(clock, server.run(), { drive: lib.drives[0], changer: lib.changer }), "the server finished");
  assert.deepEqual(server.jobErrors, []);
  assert.ok(server.tapes.length >= 2, `${server.tapes.length} tapes`);
  const back = readBackJobs(server.tapes, lib.cartridge);
  assert.equal(tapeMismatches(streams, back), 0);
  for (let j = 0; j < streams.length; j++) assert.ok(tarVerified(back.get(j)!, trees[j]), `job ${j + 1} restores`);
  // Every tape begins with its label and ends with a filemark; the cartridges are back
  // in their slots.
  for (const t of server.tapes) {
    const c = lib.cartridge(t.barcode)!;
    assert.match(new TextDecoder().decode(c.objects[0]!.subarray(0, 32)), /^HOLDUP TAPE LABEL HU/);
    assert.equal(c.objects[1], null);
    assert.equal(c.objects[c.objects.length - 1], null);
    assert.ok(lib.changer.slots.includes(c));
  }
  // The drive ran at its native rate while it wrote: the data took about total / 140 MB/s.
  const mbS = server.bytesWritten / (clock.now_ns / 1e9) / 1e6;
  assert.ok(mbS > 0, `${mbS} MB/s overall`);
});

test("a second run appends to the tape the first left partly used", () => {
  const { clock, lib, streams, server } = setup(1, 30, 300_000);
  runServer(clock, server.run(), { drive: lib.drives[0], changer: lib.changer });
  const first = lib.cartridge(server.tapes[0].barcode)!;
  const used = first.objects.length;
  const more = [tarStream(makeTree(7, 20, 100_000))];
  const again = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [server.tapes[0].slot] }, more);
  again.now = () => clock.now_ns;
  assert.ok(runServer(clock, again.run(), { drive: lib.drives[0], changer: lib.changer }));
  assert.deepEqual(again.jobErrors, []);
  assert.equal(again.tapes[0].startObject, used, "the new job starts at the old end of data");
  assert.equal(tapeMismatches(streams, readBackJobs(server.tapes, lib.cartridge)), 0, "the first run's job is intact");
  assert.equal(tapeMismatches(more, readBackJobs(again.tapes, lib.cartridge)), 0);
});

test("without a director, a drive that fails mid-job is an error the server sees (the job is given up)", () => {
  const { clock, lib, server } = setup(2, 40, 400_000);
  lib.drives[0].faults.failAfterBytes = 5 * 1024 * 1024;
  runServer(clock, server.run(), { drive: lib.drives[0], changer: lib.changer });
  assert.ok(server.jobErrors.length > 0, "the server saw the failure");
  assert.match(server.jobErrors[0], /job 1: write at byte/);
});
