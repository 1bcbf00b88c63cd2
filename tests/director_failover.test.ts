// The director while a failover runs ([031], [049]-[051], [032]) and its own early
// warning ([027]): the server's writes taken at a reduced rate and written after the
// failover (the catch-up), BUSY when the caching disk cannot take more, and an early
// warning that leaves a spare tape room for the medium's image.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadDirectorMetered } from "../host/firmware.js";
import { makeDirectorInstallation, runServerThroughDirector, tapeInSlot, directorLog, DirectorOptions } from "../host/backup/director_run.js";
import { BackupServer } from "../host/backup/server.js";
import { ADDR } from "../host/backup/library.js";
import { readBackJobs, tapeMismatches } from "../host/backup/tapes.js";
import { makeTree, tarStream } from "../host/backup/tar.js";

const MiB = 1024 * 1024;

/** Jobs of about `mb` MB each through the director, the drive failing (`noUnload`: its
 * tape stuck) once it has written `failAt` bytes; the spare tape rewriting `sparePpm`. */
function failoverRun(opts: Partial<DirectorOptions> & {
  jobs: number; fileBytes: number; failAt: number; noUnload?: boolean; sparePpm?: number; stallAt?: number; hangAt?: number;
}) {
  const inst = makeDirectorInstallation(loadDirectorMetered(), 21, {}, opts);
  const streams = Array.from({ length: opts.jobs }, (_, j) => tarStream(makeTree(700 + j, 60, opts.fileBytes)));
  const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2, 3].map((i) => ADDR.STORAGE + i) }, streams);
  server.now = () => inst.board.now_ns;
  const drive = inst.lib.drives[0];
  drive.faults.failAfterBytes = opts.failAt;
  drive.faults.noUnload = !!opts.noUnload;
  if (opts.stallAt !== undefined) { drive.faults.stallAfterBytes = opts.stallAt; drive.faults.stall_s = 40; }
  if (opts.hangAt !== undefined) drive.faults.hangAfterBytes = opts.hangAt;
  const spare = inst.lib.changer.slots[inst.lib.changer.slots.length - 1]!;
  spare.rewritePpm = opts.sparePpm ?? 0;
  assert.ok(runServerThroughDirector(inst, server.run(), 4 * 3600 * 1000), "the server finished");
  const back = readBackJobs(server.tapes, (b, t) => tapeInSlot(inst)(b, t) ?? inst.lib.cartridge(b));
  const log = directorLog(inst);
  const at = (what: string) => log.filter((l) => l.includes(what)).map((l) => ({ ms: parseFloat(l), args: l.trim().split(" ").slice(-2).map(Number) }));
  return { inst, server, streams, mismatches: tapeMismatches(streams, back), log, at };
}

test("[051] the drive fails mid-job: the server's writes go on into the image at the reduced rate, each acknowledged no sooner than the rate allows, and reach the tape after the failover; the filemark waits for the tape", () => {
  const rate = 1024;
  const r = failoverRun({ jobs: 2, fileBytes: 400_000, failAt: 6 * MiB, failoverRateKiBs: rate });
  assert.deepEqual(r.server.jobErrors, []);
  assert.equal(r.mismatches, 0);
  assert.deepEqual(r.inst.board.faults, []);
  assert.deepEqual(r.inst.board.violations, []);
  const begin = r.at("director lost the drive")[0], done = r.at("director failover ")[0], caught = r.at("director wrote what it took")[0];
  assert.ok(begin && done && caught, r.log.join("\n"));
  const taken = caught.args[0];
  assert.ok(taken > 2 * MiB, `taken during the failover: ${taken} bytes`);
  assert.equal(caught.args[1], taken, "the catch-up wrote everything taken");
  // Taken no faster than the rate: over the failover and its catch-up.
  assert.ok(taken <= (rate * 1024 * (caught.ms - begin.ms)) / 1000 + 4096, `${taken} bytes in ${caught.ms - begin.ms} ms`);
  // The stream stalled for the rate's few milliseconds a block, not the failover's tens of seconds.
  assert.ok(done.ms - begin.ms > 30_000, `the failover took ${done.ms - begin.ms} ms`);
  assert.ok(r.server.writeStallMaxMs < 50, `the longest write: ${r.server.writeStallMaxMs} ms`);
  // Without the reduced rate, the server waits for the failover.
  const held = failoverRun({ jobs: 2, fileBytes: 400_000, failAt: 6 * MiB, failoverRateKiBs: 0 });
  assert.equal(held.mismatches, 0);
  assert.equal(held.at("director wrote what it took").length, 0);
  assert.ok(held.server.writeStallMaxMs > 30_000, `${held.server.writeStallMaxMs} ms`);
});

test("[032] the caching disk cannot take more while the failover runs: the server is answered BUSY, sends again, and nothing is lost", () => {
  // 16 MiB of caching disk: the medium's image and what the failover takes must fit
  // without wrapping over the image's start. At 8 MiB/s (faster than the catch-up
  // writes back) the disk is full long before the failover ends.
  const r = failoverRun({ jobs: 1, fileBytes: 800_000, failAt: 6 * MiB, failoverRateKiBs: 8192, cacheMiB: 16 });
  assert.deepEqual(r.server.jobErrors, []);
  assert.equal(r.mismatches, 0);
  assert.ok(r.server.busyAnswers > 10, `${r.server.busyAnswers} BUSY answers`);
  const caught = r.at("director wrote what it took")[0];
  assert.ok(caught && caught.args[0] > 4 * MiB && caught.args[0] < 10 * MiB, JSON.stringify(caught));
  assert.deepEqual(r.inst.board.violations, []);
});

test("[027] the director's early warning comes before the drive's, leaving room for the medium's image on a spare tape that rewrites 5 % of its data; at the drive's own point (no allowance) that tape cannot take it and the server is told", () => {
  // Three jobs of about 24 MB: the first tape fills. The drive fails with its tape
  // stuck once it has written 60 MiB, near that tape's end.
  const base = { jobs: 3, fileBytes: 800_000, failAt: 60 * MiB, noUnload: true, sparePpm: 50_000 };
  const r = failoverRun({ ...base });
  assert.deepEqual(r.server.jobErrors, []);
  assert.equal(r.mismatches, 0);
  const ew = r.at("director reported early warning");
  assert.ok(ew.length > 0);
  // Its warning at the object it gave: 4 KiB records, before the drive's (2 MiB before the end).
  assert.ok(ew[0].args[0] * 4096 < 62 * MiB, `at object ${ew[0].args[0]}`);
  assert.ok(r.at("director failover ").length === 1 && r.at("cannot take a spare").length === 0, r.log.join("\n"));
  const bare = failoverRun({ ...base, replayAllowancePermille: 0 });
  assert.ok(bare.server.jobErrors.length > 0, "no room on the spare tape: the server is told");
  assert.ok(bare.at("cannot take a spare").length > 0, bare.log.join("\n"));
  const done = bare.server.jobsDone.map((j) => bare.streams[j]);
  assert.ok(done.length >= 1);
});

test("[031] a drive that stops taking blocks is suspected after 5 s: the server's writes are taken at the reduced rate while the director finds out; a drive that goes on (40 s of error recovery) gets the ring's blocks and then what was taken, with no failover; a hung one is failed over at 300 s, the same writes taken meanwhile", () => {
  const stall = failoverRun({ jobs: 2, fileBytes: 400_000, failAt: Infinity, stallAt: 6 * MiB });
  assert.deepEqual(stall.server.jobErrors, []);
  assert.equal(stall.mismatches, 0);
  assert.equal(stall.at("director suspects the drive").length, 1);
  assert.equal(stall.at("director lost the drive").length, 0, "no failover: the drive went on");
  const caught = stall.at("director wrote what it took")[0];
  assert.ok(caught && caught.args[0] > MiB && caught.args[1] === caught.args[0], stall.log.join("\n"));
  assert.ok(stall.server.writeStallMaxMs < 5_100, `${stall.server.writeStallMaxMs} ms`);
  const hang = failoverRun({ jobs: 2, fileBytes: 400_000, failAt: Infinity, hangAt: 6 * MiB });
  assert.deepEqual(hang.server.jobErrors, []);
  assert.equal(hang.mismatches, 0);
  const suspected = hang.at("director suspects the drive")[0], lost = hang.at("director lost the drive")[0];
  assert.ok(suspected && lost && lost.ms - suspected.ms > 290_000, hang.log.join("\n"));
  assert.ok(hang.server.writeStallMaxMs < 5_100, `a write waited ${hang.server.writeStallMaxMs} ms, not the 300 s`);
  assert.ok(hang.at("director wrote what it took")[0].args[0] > MiB);
});

test("the director loses its power 10 s and 30 s into a failover (thousands of blocks taken; the tape moved to the spare drive by then): it comes back, reads on the records past its state block, finds the tape where the robot put it, and goes on; every tape exact, no error", () => {
  for (const cutAfter_s of [10, 30]) {
    const inst = makeDirectorInstallation(loadDirectorMetered(), 23, {}, {});
    const streams = Array.from({ length: 2 }, (_, j) => tarStream(makeTree(900 + j, 60, 400_000)));
    const server = new BackupServer({ transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [0, 1, 2, 3].map((i) => ADDR.STORAGE + i) }, streams);
    server.now = () => inst.board.now_ns;
    const drive = inst.lib.drives[0];
    drive.faults.failAfterBytes = 3 * MiB;
    const board = inst.board, clock = board.clock;
    board.onLog = (name) => {
      if (!name.includes("lost the drive")) return;
      board.onLog = null;
      clock.after(cutAfter_s * 1e9, "director power cut", () => { board.cutPowerAt(clock.now_ns); board.restorePowerAt(clock.now_ns + 20e9); });
    };
    assert.ok(runServerThroughDirector(inst, server.run(), 4 * 3600 * 1000), "the server finished");
    const back = readBackJobs(server.tapes, (b, t) => tapeInSlot(inst)(b, t) ?? inst.lib.cartridge(b));
    const done = server.jobsDone;
    const completed = tapeMismatches(done.map((j) => streams[j]), new Map(done.map((j, k) => [k, back.get(j) ?? new Uint8Array(0)])));
    const log = directorLog(inst);
    assert.ok(log.some((l) => l.includes("took up the image")), log.join("\n"));
    assert.equal(completed, 0, `cut ${cutAfter_s} s in: a finished job differs\n${log.join("\n")}\n${server.jobErrors.join("\n")}`);
    assert.deepEqual(server.jobErrors, [], `cut ${cutAfter_s} s in\n${log.join("\n")}`);
    assert.equal(tapeMismatches(streams, back), 0);
  }
});
