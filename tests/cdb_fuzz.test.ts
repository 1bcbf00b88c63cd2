// 10,000 random CDBs: the firmware never traps, and every answer is the one the
// rules in host/scsi/spc.ts (an independent statement of them) say it must be.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newBoard, runCommands, Cmd } from "./helpers.js";
import { Rng } from "../host/rng.js";
import {
  cdb as mk, checkLength, checkOpcode, checkFields, cdbGroupBytes, SUPPORTED_OPS, OP, KEY, ASC,
  STATUS, Sense, putBe32, putBe16, putBe64, parseSense,
} from "../host/scsi/spc.js";

/** Blocks a LUN presents: the disk's, less its label block. */
const CAPACITY = 2 * 1024 * 1024 - 1;
const LUNS = 4;
const MAX_BLOCKS = 8;

interface Expect { status: number; sense?: Sense; inquiryPq3?: boolean; senseData?: Sense }

function randomCdb(rng: Rng): { lun: number; c: Uint8Array; dataOut: Uint8Array | null } {
  const ops = [...SUPPORTED_OPS];
  const op = rng.chance(0.75) ? rng.pick(ops) : rng.int(256);
  const group = cdbGroupBytes(op) || 6 + rng.int(11);
  const len = rng.chance(0.9) ? group : rng.int(18);
  const c = new Uint8Array(len);
  for (let i = 1; i < len; i++) c[i] = rng.chance(0.5) ? 0 : rng.int(256);
  if (len > 0) c[0] = op;
  // Steer toward the valid paths half the time: sane lengths, LBAs in range.
  if (rng.chance(0.6) && len >= group) {
    const blocks = rng.int(MAX_BLOCKS + 3);
    const lba = rng.chance(0.8) ? rng.int(CAPACITY) : CAPACITY - rng.int(12);
    if (op === OP.READ_10 || op === OP.WRITE_10) { c[1] &= 0x18; putBe32(c, 2, lba); putBe16(c, 7, blocks); }
    if (op === OP.READ_16 || op === OP.WRITE_16) { c[1] &= 0x18; putBe64(c, 2, BigInt(lba)); putBe32(c, 10, blocks); }
    if (op === OP.SYNCHRONIZE_CACHE_10 || op === OP.WRITE_LONG_10) { putBe32(c, 2, lba); putBe16(c, 7, blocks); }
    if (op === OP.WRITE_LONG_10 && rng.chance(0.7)) c[1] = 0x40;
    if (op === OP.SERVICE_ACTION_IN_16 && rng.chance(0.7)) { c[1] = 0x10; putBe64(c, 2, 0n); }
    if (op === OP.READ_CAPACITY_10 && rng.chance(0.7)) putBe32(c, 2, 0);
    if (op === OP.INQUIRY && rng.chance(0.5)) { c[1] = rng.int(2); c[2] = rng.pick([0, 0x80, 0x83, 0xb0, 0x42]); }
    if ((op === OP.MODE_SENSE_6 || op === OP.MODE_SENSE_10) && rng.chance(0.6)) { c[2] = rng.pick([0x08, 0x3f, 0x48, 0x88]); c[3] = 0; }
    if (rng.chance(0.8)) c[group - 1] = 0;
  }
  const lun = rng.chance(0.9) ? rng.int(LUNS) : rng.int(256);
  let dataOut: Uint8Array | null = null;
  if ((op === OP.WRITE_10 || op === OP.WRITE_16) && rng.chance(0.9)) {
    dataOut = new Uint8Array(rng.chance(0.8) ? 4096 : rng.int(4097));
    rng.fill(dataOut);
  }
  return { lun, c, dataOut };
}

/** What the firmware must answer, in its documented order of checks. */
function expected(lun: number, c: Uint8Array, dataOut: Uint8Array | null, uncor: Set<number>): Expect {
  const len = c.length;
  const lenV = checkLength(len);
  if (lenV && !lenV.ok) return { status: STATUS.CHECK_CONDITION, sense: lenV.sense };
  if (lun >= LUNS) {
    if (c[0] === OP.INQUIRY && len >= 6) return { status: STATUS.GOOD, inquiryPq3: true };
    if (c[0] === OP.REQUEST_SENSE && len >= 6) {
      return { status: STATUS.GOOD, senseData: { key: KEY.ILLEGAL_REQUEST, asc: ASC.LUN_NOT_SUPPORTED } };
    }
    return { status: STATUS.CHECK_CONDITION, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.LUN_NOT_SUPPORTED } };
  }
  const opV = checkOpcode(c, len);
  if (opV && !opV.ok) return { status: STATUS.CHECK_CONDITION, sense: opV.sense };
  const v = checkFields(c, BigInt(CAPACITY), MAX_BLOCKS);
  if (!v.ok) return { status: STATUS.CHECK_CONDITION, sense: v.sense };
  const cmd = v.cmd;
  const lba = Number(cmd.lba);
  if (cmd.write && cmd.blocks > 0 && (dataOut?.length ?? 0) < cmd.blocks * 512) {
    return { status: STATUS.CHECK_CONDITION, sense: { key: KEY.ABORTED_COMMAND, asc: ASC.DATA_PHASE_ERROR } };
  }
  const key = (i: number) => lun * CAPACITY + lba + i;
  if (cmd.op === OP.WRITE_LONG_10) uncor.add(key(0));
  if (cmd.write) for (let i = 0; i < cmd.blocks; i++) uncor.delete(key(i));
  if ((cmd.op === OP.READ_10 || cmd.op === OP.READ_16)) {
    for (let i = 0; i < cmd.blocks; i++) {
      if (uncor.has(key(i))) {
        return { status: STATUS.CHECK_CONDITION, sense: { key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR } };
      }
    }
  }
  return { status: STATUS.GOOD };
}

test("10,000 random CDBs: no trap, and the status and sense the rules require", () => {
  const seed = 20261123;
  const rng = new Rng(seed);
  const { board, host } = newBoard({ seed }, 1);
  const cmds: Cmd[] = [];
  const exp: Expect[] = [];
  const uncor = new Set<number>();
  for (let lun = 0; lun < LUNS; lun++) {
    cmds.push({ lun, cdb: mk.tur() });
    exp.push({ status: STATUS.CHECK_CONDITION, sense: { key: KEY.UNIT_ATTENTION, asc: ASC.POWER_ON_RESET } });
  }
  const N = 10_000;
  for (let i = 0; i < N; i++) {
    const { lun, c, dataOut } = randomCdb(rng);
    // The slot's length field is the data-out length for a write (0 if the host sends
    // none) and the buffer size for anything else.
    const write = c[0] === OP.WRITE_10 || c[0] === OP.WRITE_16;
    cmds.push({ lun, cdb: c, dataOut: dataOut ?? undefined, dataIn: write ? 0 : 4096 });
    exp.push(expected(lun, c, dataOut, uncor));
  }
  const results = runCommands(board, host, cmds);
  let good = 0, check = 0;
  const seen = new Set<string>();
  for (let i = 0; i < cmds.length; i++) {
    const r = results[i], e = exp[i];
    const what = `#${i} seed ${seed} lun ${cmds[i].lun} cdb [${[...cmds[i].cdb].map((b) => b.toString(16)).join(" ")}]`;
    assert.equal(r.status, e.status, `${what}: status`);
    if (e.sense) assert.deepEqual(r.sense, e.sense, `${what}: sense`);
    if (e.inquiryPq3) {
      const alloc = (cmds[i].cdb[3] << 8) | cmds[i].cdb[4];
      assert.equal(r.data.length, Math.min(alloc, 36), `${what}: INQUIRY length`);
      if (alloc > 0) assert.equal(r.data[0], 0x7f, `${what}: PQ 011b`);
    }
    if (e.senseData) {
      const alloc = cmds[i].cdb[4];
      assert.equal(r.data.length, Math.min(alloc, 18), `${what}: sense data length`);
      if (r.data.length >= 14) {
        const s = parseSense(r.data);
        assert.deepEqual({ key: s.key, asc: s.asc }, e.senseData, `${what}: sense data`);
      }
    }
    if (r.status === STATUS.GOOD) good++; else check++;
    if (e.sense) seen.add(`${e.sense.key.toString(16)}/${e.sense.asc.toString(16)}`);
  }
  // The generator reached every kind of answer, not just one.
  for (const k of ["5/2000", "5/2100", "5/2400", "5/2500", "b/4b00", "5/3900", "3/1100"]) {
    assert.ok(seen.has(k), `no command drew sense ${k}`);
  }
  assert.ok(good > 1000 && check > 1000, `good ${good}, check ${check}`);
  assert.deepEqual(board.faults, []);
  assert.deepEqual(board.violations, []);
});
