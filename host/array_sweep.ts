// The array's linear sweep (seed 003): one update of one row, cut after its k-th
// member write for every k — data written and parity not, parity and not data, one of
// two data blocks — for a full row, one block (read-modify-write) and two blocks,
// write-back and write-through, with every member there and with one missing. After
// the boot, every block of the row holds its old or its new data (its new data if the
// write was acknowledged), the blocks the update did not write hold their old data
// (the hidden block too), and the row's parity agrees with its data.

import { Session, Script, untilReady, untilWriteBack } from "./session.js";
import { cdb, STATUS } from "./scsi/spc.js";
import { ArrayMap } from "./array_map.js";
import type { HostResult } from "./host.js";

export interface SweepCase { blocks: number[]; degraded: boolean; writeBack: boolean; cutAfter: number }
export interface ArraySweepReport { runs: number; cuts: number; failures: string[] }

const ROW = 1000;
const OLD = 0x11, NEW = 0x22;

/** One case; returns the problems found (none: fine), or null if the update finished
 * before its cutAfter-th member write (the sweep is past its last write). */
export function sweepCase(module: WebAssembly.Module, raid: number, c: SweepCase, seed: number): string[] | null {
  const s = new Session(module, { seed, raid, spares: 1, disks: 5, ...(c.writeBack ? {} : { power: { capacity_pct: 1 } }) }, 1);
  const b = s.board;
  const map = new ArrayMap(b);
  const d = map.dataPerRow;
  const first = ROW * d;
  // Degraded: the member of a block the update leaves alone (or, for a full row, of the
  // first block) is dead.
  const spared = [...Array(d).keys()].find((k) => !c.blocks.includes(k)) ?? 0;
  const dead = map.dataMember(ROW, spared);
  let armed = false, writes = 0, cut = false;
  for (const [m, disk] of b.disks.entries()) {
    const w = disk.media.write.bind(disk.media);
    disk.media.write = (lba: number, data: Uint8Array) => {
      w(lba, data);
      if (!armed || lba !== ROW || m >= map.members) return;
      if (++writes === c.cutAfter) {
        armed = false;
        cut = true;
        b.cutPowerAt(b.now_ns);
        b.restorePowerAt(b.now_ns + 3000e6);
      }
    };
  }
  const got: HostResult[] = [];
  let acked = false;
  function* script(): Script {
    yield* untilReady(0);
    if (c.writeBack) yield* untilWriteBack(0);
    yield { lun: 0, cdb: cdb.rw16(true, first, d), dataOut: new Uint8Array(512 * d).fill(OLD) };
    yield { lun: 0, cdb: cdb.syncCache10(0, 0) };
    if (c.degraded) {
      b.disks[dead].faults.dead = true;
      yield { lun: 0, cdb: cdb.rw16(false, first + spared, 1), dataIn: 512 }; // finds it dead
    }
    armed = true;
    const lo = Math.min(...c.blocks), n = c.blocks.length;
    const r = yield { lun: 0, cdb: cdb.rw16(true, first + lo, n), dataOut: new Uint8Array(512 * n).fill(NEW) };
    acked = r !== null && r.status === STATUS.GOOD;
    if (r !== null) {
      // Write-back: the update is the destage that follows; flush to meet it.
      const f = yield { lun: 0, cdb: cdb.syncCache10(0, 0) };
      if (f !== null) { armed = false; return; }
    }
    yield* untilReady(0);
    for (let k = 0; k < d; k++) got.push((yield { lun: 0, cdb: cdb.rw16(false, first + k, 1), dataIn: 512 })!);
  }
  s.run(script());
  if (!cut) return null;
  const bad: string[] = [];
  for (let k = 0; k < d; k++) {
    const r = got[k];
    const changed = c.blocks.includes(k);
    const v = r.status === STATUS.GOOD ? r.data[0] : -1;
    const whole = r.status !== STATUS.GOOD || r.data.every((x) => x === r.data[0]);
    if (!whole) bad.push(`block ${k}: a mix of values`);
    else if (!changed && v !== OLD) bad.push(`block ${k} (not written) holds ${v}`);
    else if (changed && acked && v !== NEW) bad.push(`block ${k} (acknowledged) holds ${v}`);
    else if (changed && v !== OLD && v !== NEW && v !== -1) bad.push(`block ${k} holds ${v}`);
  }
  if (!c.degraded && map.parityMismatches([ROW], 0).length) bad.push("parity disagrees with the row");
  return bad;
}

/** Every case, every k. */
export function arraySweep(module: WebAssembly.Module, raid: number, seed = 1): ArraySweepReport {
  const rep: ArraySweepReport = { runs: 0, cuts: 0, failures: [] };
  const shapes = [[0, 1, 2], [1], [0, 1]];
  for (const blocks of shapes) {
    for (const degraded of [false, true]) {
      for (const writeBack of [true, false]) {
        for (let k = 1; k <= 8; k++) {
          const c: SweepCase = { blocks, degraded, writeBack, cutAfter: k };
          const bad = sweepCase(module, raid, c, seed + rep.runs);
          rep.runs++;
          if (bad === null) break;
          rep.cuts++;
          for (const x of bad) rep.failures.push(`RAID ${raid} blocks ${blocks.join(",")}${degraded ? " degraded" : ""} ${writeBack ? "write-back" : "write-through"} cut after member write ${k}: ${x}`);
        }
      }
    }
  }
  return rep;
}
