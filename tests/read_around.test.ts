// Issue 7: a read covering a block whose newest data is in the cache returns it,
// whatever the disk says about its own older copy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, Script, untilReady, untilWriteBack } from "../host/session.js";
import { loadMetered } from "../host/firmware.js";
import { cdb, STATUS, KEY, ASC } from "../host/scsi/spc.js";
import { senseInfo } from "../host/workload.js";
import type { Cmd } from "../host/session.js";
import type { HostResult } from "../host/host.js";
import type { Board } from "../host/board.js";

/** Boot, wait until writes are acknowledged from the cache, then run the commands one
 * at a time (the board is set up by `setup` first). */
function run(setup: (b: Board) => void, cmds: Cmd[]): { board: Board; r: HostResult[] } {
  const s = new Session(loadMetered(), { seed: 3 }, 1);
  setup(s.board);
  const r: HostResult[] = [];
  function* script(): Script {
    for (const lun of [0, 1, 2, 3]) yield* untilReady(lun);
    yield* untilWriteBack();
    for (const c of cmds) r.push((yield c)!);
  }
  s.run(script());
  return { board: s.board, r };
}

const block = (v: number, n = 1) => new Uint8Array(512 * n).fill(v);

test("WRITE LONG, a rewrite from the cache, then READ (16) of the range around it: GOOD, the newest data", () => {
  const { r } = run(() => {}, [
    { lun: 0, cdb: cdb.tur() },
    { lun: 0, cdb: cdb.writeLongUncor(5000) },                               // 1
    { lun: 0, cdb: cdb.rw16(false, 5000, 1), dataIn: 512 },                 // 2: MEDIUM ERROR
    { lun: 0, cdb: cdb.rw16(true, 5000, 1), dataOut: block(7) },             // 3
    { lun: 0, cdb: cdb.rw16(false, 5000, 1), dataIn: 512 },                 // 4
    { lun: 0, cdb: cdb.rw16(false, 4998, 4), dataIn: 2048 },                // 5: the range around it
    { lun: 0, cdb: cdb.rw10(false, 4998, 4, true), dataIn: 2048 },          // 6: READ (10) with FUA
  ]);
  assert.equal(r[1].status, STATUS.GOOD);
  assert.deepEqual(r[2].sense, { key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR });
  assert.equal(r[3].status, STATUS.GOOD);
  assert.deepEqual(r[4].data, block(7));
  for (const k of [5, 6]) {
    assert.equal(r[k].status, STATUS.GOOD, `read ${k}: ${JSON.stringify(r[k].sense)}`);
    assert.deepEqual(r[k].data.subarray(1024, 1536), block(7));
    assert.deepEqual(r[k].data.subarray(0, 1024), block(0, 2));
  }
});

test("a disk error on a block the cache does not hold still fails the read, with that LBA in INFORMATION", () => {
  const { r } = run((board) => board.disks[1].media.mediumErrors.add(302), [
    { lun: 1, cdb: cdb.tur() },
    { lun: 1, cdb: cdb.rw16(true, 300, 1), dataOut: block(9) },  // cached, newer than the disk
    { lun: 1, cdb: cdb.rw16(false, 299, 6), dataIn: 3072 },      // covers 300 (cached) and 302 (bad)
  ]);
  assert.equal(r[2].status, STATUS.CHECK_CONDITION);
  assert.deepEqual(r[2].sense, { key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR });
  assert.equal(senseInfo(r[2].senseRaw), 302);
});

test("injected medium errors under cached blocks: the read goes around them, in pieces", () => {
  const { board, r } = run((b) => { for (const lba of [100, 103, 106]) b.disks[2].media.mediumErrors.add(lba); }, [
    { lun: 2, cdb: cdb.tur() },
    { lun: 2, cdb: cdb.rw16(true, 100, 1), dataOut: block(1) },
    { lun: 2, cdb: cdb.rw16(true, 103, 1), dataOut: block(2) },
    { lun: 2, cdb: cdb.rw16(true, 106, 1), dataOut: block(3) },
    { lun: 2, cdb: cdb.rw16(false, 100, 8), dataIn: 4096 },
  ]);
  assert.equal(r[4].status, STATUS.GOOD, JSON.stringify(r[4].sense));
  const d = r[4].data;
  assert.deepEqual(d.subarray(0, 512), block(1));
  assert.deepEqual(d.subarray(3 * 512, 4 * 512), block(2));
  assert.deepEqual(d.subarray(6 * 512, 7 * 512), block(3));
  assert.deepEqual(d.subarray(512, 1024), block(0));
  assert.deepEqual(board.violations, []);
});
