// The host as a pair of processors (seed 003 claims 1, 4, 9, 14): the primary sends a
// write only after checkpointing it, data included, to the secondary. The secondary
// takes over when the primary dies and re-issues every write whose outcome it never
// saw; after the controller loses power, the host re-issues the writes the controller
// reports it could not complete (ARRAY STATUS). A re-issued write carries the same
// data as the first attempt, so it completes exactly once in effect.

import type { Op } from "./oracle.js";

export interface Checkpoint {
  op: Op;
  data: Uint8Array;
  /** The primary saw no outcome: lost with the controller or with the primary. */
  unknown: boolean;
}

export class HostPair {
  /** The secondary's copies, by op id, of the writes whose outcome is not known yet. */
  private readonly checkpoints = new Map<number, Checkpoint>();
  readonly stats = { checkpointed: 0, reissued: 0, primary_deaths: 0 };

  /** The primary is about to send `op`: the secondary keeps a copy first. A newer
   * write supersedes what it overlaps: re-issuing the older one would undo it. */
  checkpoint(op: Op, data: Uint8Array): void {
    for (const [id, c] of this.checkpoints) {
      if (c.unknown && c.op.lun === op.lun && c.op.lba < op.lba + op.n && op.lba < c.op.lba + c.op.n) {
        this.checkpoints.delete(id);
      }
    }
    this.checkpoints.set(op.id, { op, data, unknown: false });
    this.stats.checkpointed++;
  }

  /** The primary saw the write end (GOOD, or an answer that says it did not run). */
  retire(op: Op): void { this.checkpoints.delete(op.id); }

  /** The write's outcome is unknown (the controller or the primary went down with it). */
  lost(op: Op): void {
    const c = this.checkpoints.get(op.id);
    if (c) c.unknown = true;
  }

  /** Every write in flight: its outcome is unknown from now on (the primary died). */
  allLost(): void { for (const c of this.checkpoints.values()) c.unknown = true; }

  /** The writes with an unknown outcome, oldest first; with `blocks`, only those that
   * cover one of them (lun, lba). */
  unknown(blocks?: Array<{ lun: number; lba: number }>): Checkpoint[] {
    const out = [...this.checkpoints.values()].filter((c) => c.unknown &&
      (!blocks || blocks.some((b) => b.lun === c.op.lun && b.lba >= c.op.lba && b.lba < c.op.lba + c.op.n)));
    return out.sort((a, b) => a.op.id - b.op.id);
  }

  /** A re-issue the controller answered BUSY (it never ran): still to be sent. */
  again(c: Checkpoint): void {
    c.unknown = true;
    this.checkpoints.set(c.op.id, c);
  }

  /** A re-issue goes out: the checkpoint waits for its outcome again. */
  reissuing(c: Checkpoint): void {
    c.unknown = false;
    this.stats.reissued++;
  }
}
