// The backup director (build/director.wasm, seed 004) in its first form: the backup
// server writes through it; the server sees the director's identity, not the drive's;
// every block goes to the drive and to the caching disk; the tapes restore exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { loadDirectorMetered, readBuild, BUILD } from "../host/firmware.js";
import { dataSegments } from "../host/meter/instrument.js";
import { DIRECTOR_TORTURE_FAULTS } from "../host/backup/torture_director.js";
import { makeDirectorInstallation, runServerThroughDirector, tapeInSlot, SPARE_TAPE_BARCODE, directorLog } from "../host/backup/director_run.js";
import { BackupServer } from "../host/backup/server.js";
import { ADDR } from "../host/backup/library.js";
import { readBackJobs, tapeMismatches } from "../host/backup/tapes.js";
import { FILEMARK } from "../host/devices/tape_media.js";
import { makeTree, tarStream } from "../host/backup/tar.js";
import { ssc, parseElementStatus } from "../host/scsi/ssc.js";
import type { ServerScript } from "../host/backup/server.js";

test("the director's build: its own HAL imports only, 2 pages that cannot grow, MCU features, static data below its map", () => {
  const bytes = readBuild("director.wasm");
  const m = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(m);
  assert.ok(imports.every((i) => i.module === "hal"), JSON.stringify(imports));
  const inst = new WebAssembly.Instance(m, { hal: new Proxy({}, { get: () => () => 0 }) as never });
  const mem = inst.exports.memory as WebAssembly.Memory;
  assert.equal(mem.buffer.byteLength, 2 * 65536);
  assert.throws(() => mem.grow(1));
  const out = execFileSync("wasm-validate", [
    "--disable-bulk-memory", "--disable-simd", "--disable-reference-types", "--disable-multi-value", join(BUILD, "director.wasm"),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  assert.equal(out.toString(), "");
  // assembly/director/layout.ts: the compiler's data below 0x4000, the mailbox there.
  for (const [off, len] of dataSegments(bytes)) assert.ok(off + len <= 0x4000, `segment ${off}+${len}`);
  assert.equal((inst.exports.mailbox_addr as () => number)(), 0x4000);
  assert.ok(bytes.length < 24 * 1024, `${bytes.length} bytes`);
});

test("through the director: its identity to the server, every block to the drive and the caching disk, the jobs restore", () => {
  const inst = makeDirectorInstallation(loadDirectorMetered(), 5);
  const streams = [0, 1].map((j) => tarStream(makeTree(300 + j, 40, 300_000)));
  const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [ADDR.STORAGE, ADDR.STORAGE + 1] }, streams);
  server.now = () => inst.board.now_ns;
  // Before the jobs: what the server sees of "its drive".
  let serial = "", real = "";
  const ask = function* (): ServerScript {
    const a = yield { to: "drive" as const, cdb: ssc.inquiry(96, true, 0x80) };
    serial = new TextDecoder().decode(a!.dataIn!.subarray(4)).trim();
    const b = yield { to: "drive" as const, cdb: ssc.inquiry(96, true, 0xc0) };
    real = new TextDecoder().decode(b!.dataIn!.subarray(4)).trim();
    yield* server.run();
  };
  assert.ok(runServerThroughDirector(inst, ask(), 3_600_000), "the server finished");
  assert.equal(serial, "HUDIR00001", "the director's serial, whichever drive is behind");
  assert.equal(real, "HU5D000001", "the real drive's, in the vendor page");
  assert.deepEqual(server.jobErrors, []);
  assert.equal(tapeMismatches(streams, readBackJobs(server.tapes, inst.lib.cartridge)), 0);
  assert.deepEqual(inst.board.faults, []);
  assert.deepEqual(inst.board.violations, []);
  // The caching disk holds every record the server wrote (labels included), in order.
  const cache = inst.cache;
  const first = streams[0].subarray(0, 4096);
  let found = -1;
  for (let lba = 0; lba < 64 && found < 0; lba++) {
    const b = cache.durable(lba) ?? new Uint8Array(512);
    if (Buffer.from(b).equals(Buffer.from(first.subarray(0, 512)))) found = lba;
  }
  assert.ok(found >= 0, "the first job's first record is on the caching disk");
});

test("holdup backup --json: the keys the contract names; a drive that fails or hangs mid-job is taken over, its tape stuck in it or not (exit 0); a dead robot is not yet (exit 1)", () => {
  const bin = join(BUILD, "..", "bin", "holdup.js");
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, "backup", "--seed", "4", "--jobs-count", "2", "--json", ...args], { encoding: "utf8" });
    return { status: r.status, j: JSON.parse(r.stdout.trim().split("\n").at(-1)!), err: r.stderr };
  };
  const ok = run();
  assert.equal(ok.status, 0, ok.err);
  for (const k of ["seed", "job_bytes", "tapes_written", "tape_mismatches", "tar_verified", "failovers_drive", "failovers_medium",
    "failovers_director", "replayed_bytes", "job_errors", "server_stall_ms_max", "cycles", "virtual_ms"]) assert.ok(k in ok.j, k);
  assert.equal(ok.j.tape_mismatches, 0);
  assert.equal(ok.j.tar_verified, true);
  assert.equal(ok.j.failovers_drive, 0);
  const fo = run("--faults", "drive-fail");
  assert.equal(fo.status, 0, fo.err);
  assert.equal(fo.j.failovers_drive, 1);
  assert.equal(fo.j.job_errors, 0);
  assert.equal(fo.j.tape_mismatches, 0);
  assert.ok(fo.j.server_stall_ms_max > 30_000 && fo.j.server_stall_ms_max < 120_000, `the server waited ${fo.j.server_stall_ms_max} ms`);
  const stuck = run("--faults", "no-unload");
  assert.equal(stuck.status, 0, stuck.err);
  assert.equal(stuck.j.failovers_drive, 1);
  assert.equal(stuck.j.tape_mismatches, 0);
  assert.ok(stuck.j.replayed_bytes > 1_000_000, `the whole image onto the spare tape: ${stuck.j.replayed_bytes} bytes`);
  const hang = run("--faults", "drive-hang");
  assert.equal(hang.status, 0, hang.err);
  assert.equal(hang.j.failovers_drive, 1, "a hung drive is aborted after 300 s and taken over (its tape stays in it)");
  assert.equal(hang.j.tape_mismatches, 0);
  assert.ok(hang.j.server_stall_ms_max >= 300_000 && hang.j.server_stall_ms_max < 600_000, `${hang.j.server_stall_ms_max} ms`);
  const medium = run("--faults", "medium-error");
  assert.equal(medium.status, 0, medium.err);
  assert.equal(medium.j.failovers_medium, 1, "a damaged tape: the spare tape takes the medium's whole image");
  assert.equal(medium.j.failovers_drive, 0);
  assert.equal(medium.j.tape_mismatches, 0);
  assert.ok(medium.j.replayed_bytes > 1_000_000, `${medium.j.replayed_bytes} bytes`);
  // The robot dies after the first load, then the drive fails: no spare can be had.
  const robot = run("--faults", "robot-fail");
  assert.equal(robot.status, 1, "no spare: the server is told");
  assert.ok(robot.j.job_errors > 0);
  assert.match(robot.j.errors[0], /sense \{"key":4,"asc":15873\}/, "HARDWARE ERROR, LOGICAL UNIT FAILURE (3E/01)");
  assert.equal(robot.j.completed_mismatches, 0);
  assert.equal(spawnSync(process.execPath, [bin, "backup", "--faults", "gremlins"]).status, 2);
});

test("holdup torture --director: each run a fault the director handles, at a seed-chosen instant; every tape exact, the keys backup's plus cuts and traps", () => {
  const bin = join(BUILD, "..", "bin", "holdup.js");
  // drive-fail, no-unload, drive-hang: the first three sets, in turn from a multiple of their count.
  const r = spawnSync(process.execPath, [bin, "torture", "--director", "--seed", String(11 * DIRECTOR_TORTURE_FAULTS.length), "--cuts", "3", "--jobs", "2", "--json", "--quiet"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  for (const k of ["seed", "job_bytes", "tapes_written", "tape_mismatches", "tar_verified", "failovers_drive", "failovers_medium",
    "failovers_director", "replayed_bytes", "job_errors", "server_stall_ms_max", "cycles", "virtual_ms", "cuts", "traps"]) assert.ok(k in j, k);
  assert.equal(j.cuts, 3);
  assert.equal(j.failovers_drive, 3, "one failover per fault (drive-fail, no-unload, drive-hang in turn)");
  assert.equal(j.tape_mismatches, 0);
  assert.equal(j.job_errors, 0);
  assert.equal(j.traps, 0);
  assert.equal(j.tar_verified, true);
  assert.ok(j.server_stall_ms_max >= 300_000, "the hung drive's run waited its 300 s");
  assert.equal(spawnSync(process.execPath, [bin, "torture", "--director", "--raid", "5"]).status, 2);
});

/** The caching disk's records (docs/DIRECTOR.md "The image"), replayed per medium in
 * the order they were written: each medium's objects as the director saw them go on. */
function cacheImages(disk: { durable(lba: number): Uint8Array | null }, blocks: number): Array<Array<Uint8Array | null>> {
  const media = new Map<number, { first: number; objects: Array<Uint8Array | null> }>();
  let lba = 2; // after the two state blocks
  while (lba < blocks) {
    const h = disk.durable(lba);
    if (!h) break;
    const v = new DataView(h.buffer, h.byteOffset, 512);
    if (v.getUint32(0, true) !== 0x49435548) break;
    const kind = v.getUint16(6, true), medium = v.getUint32(8, true), object = v.getUint32(12, true);
    const count = v.getUint32(16, true), bytes = v.getUint32(20, true), seq = v.getUint32(24, true);
    if (!media.has(medium)) media.set(medium, { first: seq, objects: [] });
    const m = media.get(medium)!;
    m.objects.length = Math.min(m.objects.length, object);
    const dataBlocks = Math.ceil(bytes / 512);
    if (kind === 1) {
      const data = new Uint8Array(dataBlocks * 512);
      for (let k = 0; k < dataBlocks; k++) data.set(disk.durable(lba + 1 + k) ?? new Uint8Array(512), k * 512);
      m.objects.push(data.slice(0, bytes));
    } else if (kind === 2) for (let k = 0; k < count; k++) m.objects.push(null);
    lba += 1 + dataBlocks;
  }
  return [...media.values()].sort((a, b) => a.first - b.first).map((m) => m.objects);
}

test("the caching disk holds an exact image of every medium written: labels, blocks, filemarks, in place", () => {
  const inst = makeDirectorInstallation(loadDirectorMetered(), 6);
  const streams = [0, 1, 2, 3].map((j) => tarStream(makeTree(700 + j, 100, 600_000)));
  const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2].map((i) => ADDR.STORAGE + i) }, streams);
  server.now = () => inst.board.now_ns;
  assert.ok(runServerThroughDirector(inst, server.run(), 3_600_000));
  assert.deepEqual(server.jobErrors, []);
  assert.ok(server.tapes.length >= 2, `${server.tapes.length} tapes`);
  const images = cacheImages(inst.cache, 1 << 20);
  assert.equal(images.length, server.tapes.length, "one image per medium written");
  server.tapes.forEach((t, i) => {
    const cart = inst.lib.cartridge(t.barcode)!;
    const img = images[i];
    assert.equal(img.length, cart.objects.length, `tape ${t.barcode}: ${img.length} objects in the image, ${cart.objects.length} on the tape`);
    cart.objects.forEach((o, k) => {
      if (o === null) assert.equal(img[k], null, `object ${k} a filemark`);
      else assert.ok(img[k] && Buffer.from(img[k]!).equals(Buffer.from(o)), `object ${k} of ${t.barcode}`);
    });
  });
});

test("failover (FIG. 6): the drive fails mid-job losing its buffer; the director moves the tape to the spare, writes back what was lost from its image, and the server never sees it", () => {
  for (const seed of [11, 12, 13]) {
    const inst = makeDirectorInstallation(loadDirectorMetered(), seed);
    const streams = [0, 1, 2].map((j) => tarStream(makeTree(seed * 10 + j, 60, 400_000)));
    const total = streams.reduce((a, x) => a + x.length, 0);
    // Fail at a point the seed picks, with a buffer's worth written after it.
    inst.lib.drives[0].faults.failAfterBytes = Math.floor(total * (0.2 + 0.15 * (seed - 11)));
    const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2, 3].map((i) => ADDR.STORAGE + i) }, streams);
    server.now = () => inst.board.now_ns;
    assert.ok(runServerThroughDirector(inst, server.run(), 3_600_000));
    assert.deepEqual(server.jobErrors, [], `seed ${seed}`);
    const fo = directorLog(inst).filter((l) => l.includes("fw: director failover"));
    assert.equal(fo.length, 1, `seed ${seed}: one failover`);
    // What the failed drive's buffer lost (the server had been told it was written),
    // and the blocks the director had acknowledged and not yet given the drive (at most
    // its 16-block write-behind ring), is what it wrote back from its image.
    const lost = inst.lib.drives[0].stats.bytesLost;
    const replayed = Number(fo[0].trim().split(" ").at(-1));
    assert.ok(lost > 0, `seed ${seed}: the drive lost ${lost} buffered bytes`);
    assert.ok(replayed >= lost && replayed <= lost + 16 * 4096, `seed ${seed}: replayed ${replayed}, lost ${lost}`);
    assert.equal(tapeMismatches(streams, readBackJobs(server.tapes, inst.lib.cartridge)), 0, `seed ${seed}`);
    // Every tape is back in its slot: the server's moves named the drive it knows.
    for (const t of server.tapes) assert.ok(inst.lib.changer.slots.includes(inst.lib.cartridge(t.barcode)), t.barcode);
  }
});

test("failover with the tape stuck in the failed drive: the director's spare tape gets the whole image and takes the original's place", () => {
  const inst = makeDirectorInstallation(loadDirectorMetered(), 21);
  const streams = [0, 1].map((j) => tarStream(makeTree(210 + j, 60, 400_000)));
  const total = streams.reduce((a, x) => a + x.length, 0);
  const drive = inst.lib.drives[0];
  drive.faults.failAfterBytes = Math.floor(total * 0.6);
  drive.faults.noUnload = true;
  const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2].map((i) => ADDR.STORAGE + i) }, streams);
  server.now = () => inst.board.now_ns;
  // After the jobs, in the same run (the director keeps what it did in RAM): what the
  // changer says is in the original's slot.
  let seen = "";
  const script = function* (): ServerScript {
    yield* server.run();
    const slot = server.tapes[0].slot;
    const r = yield { to: "changer" as const, cdb: ssc.readElementStatus(2, slot, 1) };
    seen = parseElementStatus(r!.dataIn!)[0].barcode;
  };
  assert.ok(runServerThroughDirector(inst, script(), 3_600_000));
  assert.deepEqual(server.jobErrors, []);
  const fo = directorLog(inst).filter((l) => l.includes("fw: director failover"));
  assert.equal(fo.length, 1);
  const original = server.tapes[0];
  assert.equal(drive.cartridge?.barcode, original.barcode, "the original is still in the failed drive");
  const inSlot = inst.lib.changer.slots[original.slot - ADDR.STORAGE]!;
  assert.equal(inSlot.barcode, SPARE_TAPE_BARCODE, "the replacement stands where the original was");
  assert.equal(tapeMismatches(streams, readBackJobs(server.tapes, tapeInSlot(inst))), 0);
  // The replacement holds the whole medium: the label, every file.
  assert.match(new TextDecoder().decode(inSlot.objects[0]!.subarray(0, 32)), new RegExp(`^HOLDUP TAPE LABEL ${original.barcode}`));
  // [030]: through the director, the changer reports the replacement under the
  // original's barcode (the cartridge there is the spare tape).
  assert.equal(seen, original.barcode);
});

test("FIG. 7: the director dies mid-stream with blocks in its write-behind ring; the spare takes the port and the caching disk, writes those blocks from the image, runs the server's lost command once; every tape exact", () => {
  let resentDone = 0;
  // Killed as the drive takes a block (the ring full behind it), or as the caching disk
  // takes a record (the server's write recorded, not yet answered).
  for (const [seed, on] of [[31, "drive"], [32, "drive"], [33, "cache"], [34, "cache"]] as const) {
    const inst = makeDirectorInstallation(loadDirectorMetered(), seed, {}, { spareDirector: true });
    const streams = [0, 1].map((j) => tarStream(makeTree(seed * 10 + j, 60, 400_000)));
    const at = Math.floor(streams[0].length * (0.3 + 0.1 * (seed - 31)));
    const drive = inst.lib.drives[0];
    const kill = () => inst.board.clock.after(0, "director dies", () => inst.board.brownout("killed by the test"));
    if (on === "drive") drive.onWritten = (n) => { if (n >= at) { drive.onWritten = null; kill(); } };
    else inst.cache.onTouch = (_lba, n) => { if (n === 9 && drive.stats.bytesWritten >= at) { inst.cache.onTouch = null; kill(); } };
    const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2].map((i) => ADDR.STORAGE + i) }, streams);
    server.now = () => inst.board.now_ns;
    assert.ok(runServerThroughDirector(inst, server.run(), 3_600_000));
    assert.deepEqual(server.jobErrors, [], `seed ${seed}`);
    assert.equal(inst.takeovers, 1);
    assert.equal(inst.host.active, 1, "the spare holds the port");
    const log = directorLog(inst);
    const took = log.find((l) => l.includes("fw: director took up the image"));
    assert.ok(took, `seed ${seed}: the spare took up the image`);
    if (on === "drive") assert.ok(Number(took!.trim().split(" ").at(-1)) > 0, `seed ${seed}: it wrote the ring's blocks from the image: ${took}`);
    assert.ok(inst.host.stats.resent >= 1, "the server sent its lost command again");
    resentDone += log.filter((l) => l.includes("fw: director answered a re-sent command")).length;
    assert.equal(tapeMismatches(streams, readBackJobs(server.tapes, tapeInSlot(inst))), 0, `seed ${seed}`);
    for (const b of inst.boards) { assert.deepEqual(b.faults, []); assert.deepEqual(b.violations, []); }
  }
  assert.ok(resentDone >= 1, "a re-sent write the dead director had done was answered without being done again");
});

test("[035] an append to a tape below the threshold is protected: read into the image at load, the whole medium (old jobs too) rewritten onto the spare tape when the drive fails with it stuck; above the threshold the server is told", () => {
  for (const threshold of [50, 10]) {
    const inst = makeDirectorInstallation(loadDirectorMetered(), 41, {}, { appendThresholdPct: threshold });
    // Slot 0 holds a tape written before: its label and one job (about 16 % of it).
    const old = tarStream(makeTree(4100, 60, 400_000));
    const cart = inst.lib.changer.slots[0]!;
    const label = new Uint8Array(4096);
    label.set(new TextEncoder().encode(`HOLDUP TAPE LABEL ${cart.barcode}\n`));
    cart.append(label);
    cart.append(FILEMARK);
    for (let at = 0; at < old.length; at += 4096) cart.append(old.slice(at, at + 4096));
    cart.append(FILEMARK);
    const before = cart.objects.slice();
    const streams = [tarStream(makeTree(4101, 60, 400_000))];
    const drive = inst.lib.drives[0];
    drive.faults.failAfterBytes = Math.floor(streams[0].length * 0.5);
    drive.faults.noUnload = true;
    const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [ADDR.STORAGE] }, streams);
    server.now = () => inst.board.now_ns;
    assert.ok(runServerThroughDirector(inst, server.run(), 3_600_000));
    assert.equal(server.tapes[0].startObject, before.length, "the job went after the tape's end of data");
    if (threshold === 50) {
      assert.deepEqual(server.jobErrors, []);
      const spare = inst.lib.changer.slots[0]!;
      assert.equal(spare.barcode, SPARE_TAPE_BARCODE, "the spare tape stands in the original's slot");
      assert.ok(before.every((o, i) => o === FILEMARK ? spare.objects[i] === FILEMARK : Buffer.from(o as Uint8Array).equals(Buffer.from(spare.objects[i] as Uint8Array))),
        "the old label and job are on the spare tape as they were");
      assert.equal(tapeMismatches(streams, readBackJobs(server.tapes, tapeInSlot(inst))), 0);
    } else {
      assert.equal(server.jobErrors.length > 0, true, "past the threshold the failure is reported");
      assert.match(server.jobErrors[0], /sense \{"key":4,"asc":15873\}/);
      assert.ok(directorLog(inst).some((l) => l.includes("fw: director cannot take a spare 12")), "the reason logged: the image lacks the tape's old data");
    }
  }
});
