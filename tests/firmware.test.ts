// The firmware on the board, driven through the mailbox as the host would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newBoard, runCommands } from "./helpers.js";
import { asString } from "../host/board.js";
import { cdb, KEY, ASC, STATUS, OP, be32, be64, putBe16 } from "../host/scsi/spc.js";

const block = (v: number, n = 1) => new Uint8Array(512 * n).fill(v);
const clearUa = (luns: number[]) => luns.map((lun) => ({ lun, cdb: cdb.tur() }));

test("boots, finds the four disks and presents LUNs 0-3; LUN 4 answers with PQ 011b", () => {
  const { board, host } = newBoard();
  const r = runCommands(board, host, [0, 1, 2, 3, 4, 7].map((lun) => ({ lun, cdb: cdb.inquiry(36), dataIn: 36 })));
  for (let i = 0; i < 4; i++) {
    assert.equal(r[i].status, STATUS.GOOD);
    assert.equal(r[i].data[0], 0x00);
    assert.equal(new TextDecoder().decode(r[i].data.subarray(8, 14)), "HOLDUP");
  }
  assert.equal(r[4].data[0], 0x7f);
  assert.equal(r[5].data[0], 0x7f);
  assert.equal(board.firmware, null, "the run is over");
  assert.deepEqual(board.violations, []);
  assert.deepEqual(board.faults, []);
});

test("the first command after boot gets UNIT ATTENTION, POWER ON OCCURRED, then GOOD", () => {
  const { board, host } = newBoard();
  const r = runCommands(board, host, [{ lun: 0, cdb: cdb.tur() }, { lun: 0, cdb: cdb.tur() }], 10_000);
  assert.equal(r[0].status, STATUS.CHECK_CONDITION);
  assert.deepEqual(r[0].sense, { key: KEY.UNIT_ATTENTION, asc: ASC.POWER_ON_RESET });
  assert.equal(r[1].status, STATUS.GOOD);
});

test("READ CAPACITY (10) and (16) report the disk's size less its label block", () => {
  const { board, host } = newBoard();
  const r = runCommands(board, host, [
    ...clearUa([1]),
    { lun: 1, cdb: cdb.readCapacity10(), dataIn: 8 },
    { lun: 1, cdb: cdb.readCapacity16(), dataIn: 32 },
  ]);
  assert.equal(be32(r[1].data, 0), 2 * 1024 * 1024 - 2);
  assert.equal(be32(r[1].data, 4), 512);
  assert.equal(be64(r[2].data, 0), BigInt(2 * 1024 * 1024 - 2));
  assert.equal(be32(r[2].data, 8), 512);
});

test("a write is read back at once, and reaches the disk's media (not its cache) by destage", () => {
  const { board, host } = newBoard();
  const data = new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff);
  host.submit(2, cdb.tur(), null, 0, () => {});
  let acked = false;
  host.submit(2, cdb.rw16(true, 1234, 8), data, 0, (r) => { acked = r.status === STATUS.GOOD; });
  let got: Uint8Array | null = null;
  host.submit(2, cdb.rw10(false, 1234, 8), null, 4096, (r) => { got = r.data; });
  const onMedia = () => {
    for (let i = 0; i < 8; i++) {
      const b = board.disks[2].durable(1234 + i);
      if (!b || !b.every((v, k) => v === data[i * 512 + k])) return false;
    }
    return true;
  };
  board.run(() => got !== null && acked && onMedia(), 60e9);
  assert.ok(acked);
  assert.deepEqual(got, data);
  assert.ok(onMedia(), "destaged with FUA: on the media");
  assert.equal(board.disks[2].cachedBlocks, 0, "nothing left in the disk's volatile cache");
});

test("MODE SENSE shows the caching page with WCE 1 (write-back) and DPOFUA", () => {
  const { board, host } = newBoard();
  const r = runCommands(board, host, [...clearUa([0]), { lun: 0, cdb: cdb.modeSense6(0x08, 255), dataIn: 255 }]);
  const d = r[1].data;
  assert.equal(r[1].status, STATUS.GOOD);
  assert.equal(d[0], d.length - 1);
  assert.equal(d[2] & 0x10, 0x10);
  assert.equal(d[3], 8);
  assert.equal(d[12], 0x08);
  assert.equal(d[14] & 0x04, 0x04);
});

test("VPD pages: supported list, serial number, and Block Limits with the mailbox size", () => {
  const { board, host } = newBoard();
  const r = runCommands(board, host, [
    { lun: 3, cdb: cdb.inquiry(255, true, 0x00), dataIn: 255 },
    { lun: 3, cdb: cdb.inquiry(255, true, 0x80), dataIn: 255 },
    { lun: 3, cdb: cdb.inquiry(255, true, 0xb0), dataIn: 255 },
    { lun: 3, cdb: cdb.inquiry(255, true, 0x83), dataIn: 255 },
  ]);
  assert.deepEqual([...r[0].data.subarray(4, 8)], [0x00, 0x80, 0x83, 0xb0]);
  assert.equal(new TextDecoder().decode(r[1].data.subarray(4, 12)), "HOLDUP03");
  assert.equal(be32(r[2].data, 8), 8, "4 KiB mailbox: 8 blocks");
  assert.equal(r[3].data[1], 0x83);
});

test("bad requests get CHECK CONDITION with the right sense and field pointer", () => {
  const { board, host } = newBoard();
  const bigRead = cdb.rw10(false, 0, 9);
  const pastEnd = cdb.rw16(false, 2 * 1024 * 1024 - 3, 4);
  const badOp = new Uint8Array(6); badOp[0] = 0x02;
  const badPage = cdb.inquiry(36, true, 0x42);
  const naca = cdb.tur(); naca[5] = 0x04;
  const protect = cdb.rw10(true, 0, 1); protect[1] = 0x20;
  const r = runCommands(board, host, [
    ...clearUa([0]),
    { lun: 0, cdb: bigRead, dataIn: 4608 },
    { lun: 0, cdb: pastEnd, dataIn: 2048 },
    { lun: 0, cdb: badOp },
    { lun: 0, cdb: badPage, dataIn: 36 },
    { lun: 0, cdb: naca },
    { lun: 0, cdb: protect, dataOut: block(1) },
    { lun: 0, cdb: cdb.rw10(true, 0, 2), dataOut: block(1) },
  ]);
  assert.deepEqual(r[1].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB, field: [7, -1] });
  assert.deepEqual(r[2].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.LBA_OUT_OF_RANGE });
  assert.deepEqual(r[3].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_OPCODE, field: [0, -1] });
  assert.deepEqual(r[4].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB, field: [2, -1] });
  assert.deepEqual(r[5].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB, field: [5, 2] });
  assert.deepEqual(r[6].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB, field: [1, 7] });
  assert.deepEqual(r[7].sense, { key: KEY.ABORTED_COMMAND, asc: ASC.DATA_PHASE_ERROR });
  for (const x of r.slice(1)) assert.equal(x.status, STATUS.CHECK_CONDITION);
});

test("a medium error on the disk reaches the host as MEDIUM ERROR", () => {
  const { board, host } = newBoard();
  board.disks[1].media.mediumErrors.add(500);
  const r = runCommands(board, host, [...clearUa([1]), { lun: 1, cdb: cdb.rw16(false, 499, 2), dataIn: 1024 }]);
  assert.equal(r[1].status, STATUS.CHECK_CONDITION);
  assert.deepEqual(r[1].sense, { key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR });
});

test("a disk that dies fails its LUN with HARDWARE ERROR, LOGICAL UNIT FAILURE; others go on", () => {
  const { board, host } = newBoard();
  const r1 = runCommands(board, host, [...clearUa([0, 1]), { lun: 1, cdb: cdb.rw16(true, 0, 1), dataOut: block(5) }]);
  assert.equal(r1[2].status, STATUS.GOOD);
  board.disks[1].faults.dead = true;
  const r = runCommands(board, host, [
    ...clearUa([0]),
    { lun: 0, cdb: cdb.rw16(true, 0, 1), dataOut: block(6) },
    { lun: 0, cdb: cdb.rw16(false, 0, 1), dataIn: 512 },
  ]);
  assert.equal(r[1].status, STATUS.GOOD);
  assert.deepEqual(r[2].data, block(6));
  // LUN 1's disk is dead at boot: the LUN is not presented.
  const r2 = runCommands(board, host, [{ lun: 1, cdb: cdb.tur() }]);
  assert.deepEqual(r2[0].sense, { key: KEY.ILLEGAL_REQUEST, asc: ASC.LUN_NOT_SUPPORTED });
});

test("a disk that dies while running fails its LUN's commands with LOGICAL UNIT FAILURE", () => {
  const { board, host } = newBoard();
  const results: number[] = [];
  let sense: unknown = null;
  host.submit(2, cdb.tur(), null, 0, () => {});
  host.submit(2, cdb.tur(), null, 0, () => {
    board.disks[2].faults.dead = true;
    host.submit(2, cdb.rw16(false, 0, 1), null, 512, (r) => {
      results.push(r.status);
      sense = r.sense;
      // Once a command has seen the disk gone, the LUN stays failed.
      host.submit(2, cdb.tur(), null, 0, (t) => { results.push(t.status); });
    });
  });
  board.run(() => results.length === 2, 60e9);
  assert.deepEqual(results, [STATUS.CHECK_CONDITION, STATUS.CHECK_CONDITION]);
  assert.deepEqual(sense, { key: KEY.HARDWARE_ERROR, asc: ASC.LUN_FAILURE });
});

test("a board with three disks presents three LUNs", () => {
  const { board, host } = newBoard({ disks: 3 });
  const r = runCommands(board, host, [0, 1, 2, 3].map((lun) => ({ lun, cdb: cdb.inquiry(36), dataIn: 36 })));
  assert.deepEqual(r.map((x) => x.data[0]), [0, 0, 0, 0x7f]);
});

test("WRITE LONG with WR_UNCOR makes the block read as MEDIUM ERROR until rewritten", () => {
  // One command at a time: concurrent commands on one block may run in any order.
  const { board, host } = newBoard({}, 1);
  const r = runCommands(board, host, [
    ...clearUa([0]),
    { lun: 0, cdb: cdb.writeLongUncor(42) },
    { lun: 0, cdb: cdb.rw16(false, 42, 1), dataIn: 512 },
    { lun: 0, cdb: cdb.rw16(true, 42, 1), dataOut: block(3) },
    { lun: 0, cdb: cdb.rw16(false, 42, 1), dataIn: 512 },
  ]);
  assert.equal(r[1].status, STATUS.GOOD);
  assert.deepEqual(r[2].sense, { key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR });
  assert.deepEqual(r[4].data, block(3));
});

test("SYNCHRONIZE CACHE and START STOP UNIT answer GOOD; REQUEST SENSE reports no sense", () => {
  const { board, host } = newBoard();
  const ss = new Uint8Array(6); ss[0] = OP.START_STOP_UNIT;
  const r = runCommands(board, host, [
    { lun: 0, cdb: cdb.requestSense(18), dataIn: 18 },
    { lun: 0, cdb: cdb.requestSense(18), dataIn: 18 },
    { lun: 0, cdb: cdb.syncCache10() },
    { lun: 0, cdb: ss },
  ]);
  assert.equal(r[0].data[2] & 0x0f, KEY.UNIT_ATTENTION, "REQUEST SENSE reports and clears the UA");
  assert.equal(r[1].data[2] & 0x0f, KEY.NO_SENSE);
  assert.equal(r[2].status, STATUS.GOOD);
  assert.equal(r[3].status, STATUS.GOOD);
});

test("MODE SENSE (10) with a long allocation length and a truncated INQUIRY", () => {
  const { board, host } = newBoard();
  const ms10 = new Uint8Array(10); ms10[0] = OP.MODE_SENSE_10; ms10[2] = 0x3f; putBe16(ms10, 7, 1000);
  const r = runCommands(board, host, [...clearUa([0]), { lun: 0, cdb: ms10, dataIn: 1000 }, { lun: 0, cdb: cdb.inquiry(5), dataIn: 5 }]);
  assert.equal(r[1].data.length, 8 + 8 + 20 + 12); // header, block descriptor, caching and control pages
  const d = r[1].data;
  assert.deepEqual([d[36], d[37]], [0x0a, 0x0a], "the control mode page after the caching page");
  assert.equal(r[2].data.length, 5);
});

test("INQUIRY claims SAM-5, SPC-4 and SBC-3 in its version descriptors; MODE SENSE page 0Ah alone is the control page", () => {
  const { board, host } = newBoard();
  const r = runCommands(board, host, [...clearUa([0]), { lun: 0, cdb: cdb.inquiry(96), dataIn: 96 },
    { lun: 0, cdb: cdb.modeSense6(0x0a, 255), dataIn: 255 }]);
  const q = r[1].data;
  assert.equal(q.length, 74);
  assert.equal(q[4], 69);
  assert.deepEqual([...q.subarray(58, 64)], [0x00, 0xa0, 0x04, 0x60, 0x04, 0xc0]);
  const m = r[2].data;
  assert.equal(r[2].status, STATUS.GOOD);
  assert.equal(m.length, 4 + 8 + 12);
  assert.deepEqual([m[12], m[13]], [0x0a, 0x0a]);
});

test("a failed assert reaches the host with its text and file: the fault import's strings decode from the firmware's memory", () => {
  const { board, host } = newBoard();
  runCommands(board, host, [{ lun: 0, cdb: cdb.tur() }], 5_000);
  const mem = board.memory;
  // The one assert in the firmware (target/rw.ts): its text is an AssemblyScript
  // string in the data segment, where fw_abort passes it to hal.fault.
  const want = "space was counted";
  const utf16 = new Uint8Array(want.length * 2);
  for (let i = 0; i < want.length; i++) utf16[2 * i] = want.charCodeAt(i);
  let at = -1;
  for (let p = 0; p + utf16.length <= mem.length && at < 0; p += 2) {
    if (mem[p] === utf16[0] && utf16.every((b, i) => mem[p + i] === b)) at = p;
  }
  assert.ok(at > 0, "the assert's text is in memory");
  assert.equal(asString(mem, at), want);
  assert.equal(asString(mem, 0), null);
  assert.equal(asString(mem, 3), null);
});
