// Random CDBs against the controller: it never traps, and every answer is the one the
// rules in host/scsi/spc.ts (an independent statement of them) say it must be. A test
// runs it on a few seeds; `holdup fuzz` runs as many as you like.

import { Board } from "./board.js";
import { HostAdapter, HostResult } from "./host.js";
import { Rng } from "./rng.js";
import {
  cdb as mk, checkLength, checkOpcode, checkFields, cdbGroupBytes, SUPPORTED_OPS, OP, KEY, ASC,
  STATUS, Sense, putBe32, putBe16, putBe64, parseSense,
} from "./scsi/spc.js";

/** What the controller presents: LUNs 0..luns-1 of `capacity` blocks each. */
export interface FuzzShape { luns: number; capacity: number; raid: number }
/** Four disks as LUNs: each the disk's blocks less its label block. */
export const DISKS_SHAPE: FuzzShape = { luns: 4, capacity: 2 * 1024 * 1024 - 1, raid: 0 };
/** An array of four disks as LUN 0: rows (each member's blocks less its two label
 * copies and its intent block) × 3 data blocks, less the volume's label block. */
export function arrayShape(raid: number): FuzzShape {
  return { luns: 1, capacity: (2 * 1024 * 1024 - 3) * 3 - 1, raid };
}
const MAX_BLOCKS = 8;
/** Blocks an array can list as unreadable (assembly/layout.ts array_list_max). */
const ARRAY_LIST_MAX = 53;

interface Expect { status: number; sense?: Sense; inquiryPq3?: boolean; senseData?: Sense }

export function randomCdb(rng: Rng, shape = DISKS_SHAPE): { lun: number; c: Uint8Array; dataOut: Uint8Array | null } {
  const CAPACITY = shape.capacity, LUNS = shape.luns;
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
    // An array lists its marks (ARRAY_LIST_MAX of them) until the blocks are written
    // again, which a write-back cache does later: marks go to a pool small enough that
    // the list never fills, so every answer stays predictable.
    if (op === OP.WRITE_LONG_10 && shape.raid) putBe32(c, 2, (lba % 40) * 1009);
    if (op === OP.READ_16 && shape.raid && rng.chance(0.3)) putBe64(c, 2, BigInt((lba % 40) * 1009));
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
export function expected(lun: number, c: Uint8Array, dataOut: Uint8Array | null, uncor: Set<number>, shape = DISKS_SHAPE): Expect {
  const CAPACITY = shape.capacity, LUNS = shape.luns;
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
  if (cmd.op === OP.WRITE_LONG_10) {
    // An array keeps its marks in a list of ARRAY_LIST_MAX blocks (its member labels);
    // a mark past that fails and marks nothing.
    if (shape.raid && !uncor.has(key(0)) && uncor.size >= ARRAY_LIST_MAX) {
      return { status: STATUS.CHECK_CONDITION, sense: { key: KEY.MEDIUM_ERROR, asc: ASC.WRITE_ERROR } };
    }
    uncor.add(key(0));
  }
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


export interface FuzzReport {
  seed: number;
  cdbs: number;
  good: number;
  check: number;
  /** Answers that differ from the rules (each with its CDB). */
  mismatches: string[];
  /** Sense codes the run drew, as "key/asc". */
  seen: string[];
  traps: number;
  violations: string[];
}

/** Send `n` random CDBs (after clearing each LUN's unit attention), one at a time,
 * to a fresh board seeded with `seed`, and check every answer. */
export function runFuzz(module: WebAssembly.Module, seed: number, n: number, shape = DISKS_SHAPE): FuzzReport {
  const rng = new Rng(seed);
  const LUNS = shape.luns;
  const board = new Board(module, shape.raid ? { seed, raid: shape.raid, spares: 1, disks: 5 } : { seed });
  const host = new HostAdapter(board, 1);
  const cmds: Array<{ lun: number; c: Uint8Array; dataOut: Uint8Array | null; dataIn: number }> = [];
  const exp: Expect[] = [];
  const uncor = new Set<number>();
  for (let lun = 0; lun < LUNS; lun++) {
    cmds.push({ lun, c: mk.tur(), dataOut: null, dataIn: 0 });
    exp.push({ status: STATUS.CHECK_CONDITION, sense: { key: KEY.UNIT_ATTENTION, asc: ASC.POWER_ON_RESET } });
  }
  for (let i = 0; i < n; i++) {
    const { lun, c, dataOut } = randomCdb(rng, shape);
    // The slot's length field is the data-out length for a write (0 if the host sends
    // none) and the buffer size for anything else: 4 KiB, or now and then less.
    const write = c[0] === OP.WRITE_10 || c[0] === OP.WRITE_16;
    cmds.push({ lun, c, dataOut, dataIn: write ? 0 : rng.chance(0.9) ? 4096 : rng.int(4097) });
    exp.push(expected(lun, c, dataOut, uncor, shape));
  }
  const results: HostResult[] = [];
  let next = 0;
  const send = () => {
    const k = next++;
    if (k >= cmds.length) return;
    const x = cmds[k];
    host.submit(x.lun, x.c, x.dataOut, x.dataIn, (r) => { results[k] = r; send(); });
  };
  send();
  const report: FuzzReport = { seed, cdbs: n, good: 0, check: 0, mismatches: [], seen: [], traps: 0, violations: [] };
  try {
    board.run(() => results.length === cmds.length && results[cmds.length - 1] !== undefined, 60 * 60e9);
  } catch (e) {
    report.traps++;
    report.mismatches.push(String((e as Error).message));
  }
  const seen = new Set<string>();
  const bad = (i: number, what: string) => {
    if (report.mismatches.length < 20) {
      report.mismatches.push(`#${i} seed ${seed} lun ${cmds[i].lun} cdb [${[...cmds[i].c].map((b) => b.toString(16)).join(" ")}]: ${what}`);
    } else report.mismatches.length++;
  };
  for (let i = 0; i < results.length; i++) {
    const r = results[i], e = exp[i];
    if (!r) { bad(i, "no answer"); continue; }
    if (r.status !== e.status) { bad(i, `status ${r.status}, expected ${e.status} (sense ${JSON.stringify(r.sense)})`); continue; }
    if (e.sense && JSON.stringify(r.sense) !== JSON.stringify(e.sense)) bad(i, `sense ${JSON.stringify(r.sense)}, expected ${JSON.stringify(e.sense)}`);
    if (r.data.length > cmds[i].dataIn) bad(i, `${r.data.length} bytes into a ${cmds[i].dataIn}-byte buffer`);
    if (e.inquiryPq3) {
      const alloc = (cmds[i].c[3] << 8) | cmds[i].c[4];
      if (r.data.length !== Math.min(alloc, 36, cmds[i].dataIn)) bad(i, `INQUIRY length ${r.data.length}`);
      if (r.data.length > 0 && r.data[0] !== 0x7f) bad(i, "INQUIRY without PQ 011b");
    }
    if (e.senseData) {
      const alloc = cmds[i].c[4];
      if (r.data.length !== Math.min(alloc, 18, cmds[i].dataIn)) bad(i, `sense data length ${r.data.length}`);
      if (r.data.length >= 14) {
        const s = parseSense(r.data);
        if (s.key !== e.senseData.key || s.asc !== e.senseData.asc) bad(i, `sense data ${JSON.stringify(s)}`);
      }
    }
    if (r.status === STATUS.GOOD) report.good++; else report.check++;
    if (e.sense) seen.add(`${e.sense.key.toString(16)}/${e.sense.asc.toString(16)}`);
  }
  report.seen = [...seen].sort();
  report.traps += board.faults.length;
  report.violations = board.violations;
  return report;
}
