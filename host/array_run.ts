// The array's part of an end-to-end run (scenario.ts): its figures per boot, the
// independent parity check at the end, the host's re-issue of what the controller
// reports it could not complete, and the progress line's word on the array.

import type { Board } from "./board.js";
import type { Oracle } from "./oracle.js";
import type { Workload } from "./workload.js";
import type { HostResult } from "./host.js";
import { ArrayMap } from "./array_map.js";
import { cdb, STATUS, parseArrayStatus } from "./scsi/spc.js";

type Send = (lun: number, c: Uint8Array, dataIn: number, gen: number, cb: (r: HostResult) => void) => void;

export class ArrayRun {
  readonly map: ArrayMap;
  private bootSeen = -1;
  repairedStripes = 0;
  tornRecords = 0;
  parityMismatches = 0;

  constructor(private readonly board: Board, private readonly oracle: Oracle, private readonly work: Workload) {
    this.map = new ArrayMap(board);
    work.array = this.map;
    // Blocks a member that died with the power had in flight, or every block with two
    // members dead: reported losses there are a second fault's (excused).
    oracle.onDeadMember = (lun, lba) =>
      this.map.enabled && lun === 0 && (oracle.deadMembers.size >= 2 || oracle.deadMembers.has(this.map.locate(lba).member));
  }

  get enabled(): boolean { return this.map.enabled; }

  private stat(i: number): number {
    const fw = this.board.mcu.fw;
    return fw ? (fw.array_stat as (i: number) => number)(i) : 0;
  }

  /** The firmware's figures for this boot, once (when it is ready). */
  noteBoot(): void {
    if (!this.enabled || !this.board.mcu.fw || this.bootSeen === this.board.generation) return;
    this.bootSeen = this.board.generation;
    this.repairedStripes += this.stat(0);
    this.tornRecords += this.stat(1);
  }

  /** The independent check of every row ever written (after a flush of every LUN). */
  checkParity(): void {
    if (!this.enabled) return;
    const rows = new Set<number>();
    for (const [lun, lba] of this.oracle.writtenBlocks()) if (lun === 0) for (const r of this.map.rowsOf(lba, 1)) rows.add(r);
    const bad = this.map.parityMismatches(rows);
    this.parityMismatches = bad.length;
    for (const r of bad.slice(0, 5)) this.oracle.problems.push(`parity: row ${r} disagrees with its data on the disks`);
  }

  /** Blocks the array lists as unreadable now. */
  unreadableBlocks(): number { return this.enabled ? this.stat(8) : 0; }

  /** "" (no array, or whole), "degraded", or "rebuild N%". */
  progressWord(): string {
    if (!this.enabled || !this.board.mcu.fw) return "";
    const permille = this.stat(12);
    if (permille < 1000) return `rebuild ${(permille / 10).toFixed(1)}%`;
    return this.stat(7) ? "degraded" : "";
  }

  /** After a controller power loss: ask the array which records it could not complete
   * (ARRAY STATUS) and re-issue the writes the host checkpointed for them; then(). */
  reissueReported(gen: number, send: Send, then: () => void): void {
    send(0, cdb.arrayStatus(4096), 4096, gen, (r) => {
      if (r.status !== STATUS.GOOD) { then(); return; }
      const todo = this.work.pair.unknown(parseArrayStatus(r.data).unreadable);
      const next = (): void => {
        if (gen !== this.board.generation) return;
        const c = todo.shift();
        if (!c) { then(); return; }
        this.work.reissue(c, (res) => {
          if (res.lost) return;
          if (res.status === STATUS.BUSY) { this.work.pair.again(c); todo.unshift(c); this.board.clock.after(5e6, "host retry", next); return; }
          next();
        });
      };
      next();
    });
  }
}
