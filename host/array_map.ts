// The host's own view of the array (seed 003): where an array block lives on the
// member disks, written from docs/SPEC.md "Array geometry" and not from the firmware,
// and the independent parity checker that reads the raw disks.

import type { Board } from "./board.js";
import { BLOCK_BYTES } from "./devices/disk_media.js";

export class ArrayMap {
  readonly level: number;
  readonly members: number;
  readonly rows: number;
  constructor(readonly board: Board) {
    this.level = board.cfg.raid;
    this.members = board.cfg.disks - board.cfg.spares;
    // Each member's last two blocks are its label's copies, the one before them its
    // intent block; the others are rows.
    this.rows = board.cfg.disk.blocks - 3;
  }

  get enabled(): boolean { return this.level === 3 || this.level === 4 || this.level === 5; }
  get dataPerRow(): number { return this.members - 1; }

  parityMember(row: number): number {
    return this.level === 5 ? this.members - 1 - (row % this.members) : this.members - 1;
  }
  dataMember(row: number, k: number): number {
    return this.level === 5 ? (this.parityMember(row) + 1 + k) % this.members : k;
  }
  /** The disk that holds member (slot) m now. */
  memberDisk(m: number): number { return this.layout().targets[m]; }

  /** Array block → (member, disk LBA). */
  locate(lba: number): { member: number; diskLba: number; row: number } {
    const row = Math.floor(lba / this.dataPerRow);
    return { member: this.dataMember(row, lba % this.dataPerRow), diskLba: row, row };
  }

  /** Members the firmware has failed (its own report), which the checker skips. */
  failedMask(): number {
    const fw = this.board.mcu.fw;
    if (!fw || typeof fw.array_stat !== "function") return 0;
    return (fw.array_stat as (i: number) => number)(7) >>> 0;
  }

  /** Where each slot lives now, from the member labels on the raw disks (docs/SPEC.md
   * "Member label": the newest good copy on any disk): the bus ID per slot, the slot
   * being rebuilt (-1: none) and its rows done. */
  layout(): { targets: number[]; rebuildSlot: number; rebuildRows: number } {
    let best: DataView | null = null;
    const last = this.board.cfg.disk.blocks - 1;
    for (const d of this.board.disks) {
      for (const lba of [last, last - 1]) {
        const b = d.durable(lba);
        if (!b || Buffer.from(b.subarray(0, 8)).toString() !== "HOLDUPAR") continue;
        const v = new DataView(b.buffer, b.byteOffset, 512);
        if (v.getUint32(8, true) !== 2) continue;
        if (!best || v.getUint32(44, true) > best.getUint32(44, true)) best = v;
      }
    }
    const targets = [...Array(this.members).keys()];
    if (!best) return { targets, rebuildSlot: -1, rebuildRows: 0 };
    for (let m = 0; m < this.members; m++) targets[m] = best.getUint8(56 + m);
    const rb = best.getUint8(64);
    return { targets, rebuildSlot: rb === 0xff ? -1 : rb, rebuildRows: Number(best.getBigUint64(72, true)) };
  }

  /** Rows whose parity disagrees with their data on the disks' media (what would be
   * there after a power loss now). Unreadable sectors count as zeros, the pattern the
   * firmware writes under a mark. Rows with a member the firmware failed are skipped:
   * that member's content is not the array's any more. */
  parityMismatches(rows: Iterable<number>, failed = this.failedMask()): number[] {
    const bad: number[] = [];
    const acc = new Uint8Array(BLOCK_BYTES);
    const lay = this.layout();
    for (const row of rows) {
      // A failed slot's rows are checked only where a rebuild has put them back.
      let skip = false;
      for (let m = 0; m < this.members; m++) {
        if (failed & (1 << m) && !(m === lay.rebuildSlot && row < lay.rebuildRows)) skip = true;
      }
      if (skip) continue;
      acc.fill(0);
      for (let m = 0; m < this.members; m++) {
        const d = this.board.disks[lay.targets[m]]?.durable(row);
        if (d) for (let i = 0; i < BLOCK_BYTES; i++) acc[i] ^= d[i];
      }
      if (acc.some((x) => x !== 0)) bad.push(row);
    }
    return bad;
  }

  /** Rows that array blocks [lba, lba+n) touch. */
  rowsOf(lba: number, n: number): number[] {
    const out: number[] = [];
    if (n <= 0) return out;
    const first = Math.floor(lba / this.dataPerRow), last = Math.floor((lba + n - 1) / this.dataPerRow);
    for (let r = first; r <= last; r++) out.push(r);
    return out;
  }
}
