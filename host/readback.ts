// The host's read-back after a cut: every block ever written, read through the
// controller and checked against the oracle (old or new data, a reported error, or a
// LUN the controller no longer presents).

import type { Board } from "./board.js";
import type { HostAdapter } from "./host.js";
import { Oracle, BLOCK } from "./oracle.js";
import { senseInfo } from "./workload.js";
import type { WorkloadSpec } from "./workload.js";
import { cdb, KEY, STATUS } from "./scsi/spc.js";

/** Retries of a command that answers BUSY or a transient error, 5 ms apart. */
export const retries_max = 2000;

export class ReadBack {
  constructor(private readonly board: Board, private readonly host: HostAdapter,
    private readonly oracle: Oracle, private readonly w: WorkloadSpec,
    /** LUNs the host cannot use this boot (the scenario's probe fills it). */
    private readonly unavailable: ReadonlySet<number>) {}

  /** Read every block ever written (with `scope`, only those written this epoch or in
   * it), queue_depth chunks at a time; then done(). */
  readAll(gen: number, done: () => void, scope: Set<number> | null = null): void {
    const chunks: Array<[number, number, number]> = [];
    for (const [lun, lba] of this.oracle.writtenBlocks(scope)) {
      const last = chunks[chunks.length - 1];
      if (last && last[0] === lun && last[1] + last[2] === lba && last[2] < this.w.max_blocks) last[2]++;
      else chunks.push([lun, lba, 1]);
    }
    let nextChunk = 0, active = 0;
    const pump = () => {
      while (active < this.w.queue_depth && nextChunk < chunks.length) {
        const [lun, lba, n] = chunks[nextChunk++];
        active++;
        this.readChunk(lun, lba, n, gen, () => {
          active--;
          if (gen !== this.board.generation) return;
          if (nextChunk >= chunks.length && active === 0) done();
          else pump();
        });
      }
    };
    if (!chunks.length) { done(); return; }
    pump();
  }

  /** Read n blocks and check each against the oracle: block by block after a MEDIUM
   * ERROR, again after BUSY or a transient error (bounded). */
  readChunk(lun: number, lba: number, n: number, gen: number, done: () => void, tries = 0): void {
    if (this.unavailable.has(lun)) {
      for (let i = 0; i < n; i++) this.oracle.checkUnreadable(lun, lba + i, "is on a LUN the controller does not present now");
      done();
      return;
    }
    const sub_ns = this.board.now_ns;
    this.host.submit(lun, cdb.rw16(false, lba, n), null, n * BLOCK, (r) => {
      if (gen !== this.board.generation || r.lost) { done(); return; }
      if (r.status === STATUS.GOOD) {
        for (let i = 0; i < n; i++) this.oracle.checkRead(lun, lba + i, r.data.subarray(i * BLOCK, (i + 1) * BLOCK), sub_ns);
        done();
      } else if (r.sense?.key === KEY.MEDIUM_ERROR && n > 1) {
        // Which blocks: one at a time.
        let left = n;
        for (let i = 0; i < n; i++) this.readChunk(lun, lba + i, 1, gen, () => { if (--left === 0) done(); });
      } else if (r.sense?.key === KEY.MEDIUM_ERROR) {
        const info = senseInfo(r.senseRaw);
        if (info !== -1 && info !== lba) this.oracle.problem(`MEDIUM ERROR of lba ${lba} names lba ${info}`);
        this.oracle.checkMediumError(lun, lba, sub_ns);
        done();
      } else if (tries >= retries_max || r.sense?.key === KEY.HARDWARE_ERROR || r.sense?.key === KEY.ILLEGAL_REQUEST) {
        this.board.trace(`host: lun ${lun} lba ${lba}+${n} unreadable (status ${r.status} ${JSON.stringify(r.sense)}, ${tries} tries)`);
        for (let i = 0; i < n; i++) this.oracle.checkUnreadable(lun, lba + i);
        done();
      } else {
        // BUSY or a transient error: retry, a bounded number of times.
        this.board.clock.after(5e6, "verify retry", () => this.readChunk(lun, lba, n, gen, done, tries + 1));
      }
    });
  }
}
