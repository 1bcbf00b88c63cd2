// The oracle: what the host wrote, what was acknowledged, and what a read may return.
//
// Every block the host writes carries a self-describing pattern (magic, LUN, LBA,
// write id, then bytes from a PRNG seeded by all three), so any block read back can be
// recognised: which write it came from, or garbage. The host never has two commands
// in flight on the same block, so per block there is a last acknowledged write and at
// most the writes whose outcome the host never learned (in flight at a power cut, or
// failed): a read must return one of those, and returning anything else is a lost
// write (an older version, or zeros after an acknowledged write) or a corrupt read.

import { Rng } from "./rng.js";

export const BLOCK = 512;
const MAGIC = 0x50444c48; // "HLDP"

export function blockPattern(lun: number, lba: number, writeId: number): Uint8Array {
  const b = new Uint8Array(BLOCK);
  const v = new DataView(b.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, lun, true);
  v.setUint32(8, lba, true);
  v.setUint32(12, writeId, true);
  const rng = new Rng((Math.imul(writeId, 0x9e3779b1) ^ Math.imul(lba + 1, 0x85ebca6b) ^ lun) >>> 0);
  rng.fill(b.subarray(16));
  return b;
}

/** What a block read back holds: 0 for all zeros, a write id, or -1 for garbage. */
export function identify(lun: number, lba: number, data: Uint8Array): number {
  let zero = true;
  for (let i = 0; i < BLOCK; i++) if (data[i] !== 0) { zero = false; break; }
  if (zero) return 0;
  const v = new DataView(data.buffer, data.byteOffset, BLOCK);
  if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== lun || v.getUint32(8, true) !== lba) return -1;
  const id = v.getUint32(12, true);
  const expect = blockPattern(lun, lba, id);
  for (let i = 16; i < BLOCK; i++) if (data[i] !== expect[i]) return -1;
  return id;
}

interface BlockState {
  /** Last acknowledged write id (0: never written, -1: unknown after a detected loss). */
  acked: number;
  /** Writes whose outcome is unknown, newest last. */
  maybe: number[];
}

export type ReadVerdict = "ok" | "lost" | "corrupt" | "unchecked";

export class Oracle {
  private blocks = new Map<number, BlockState>();
  private busy = new Set<number>();
  private nextId = 1;
  readonly stats = {
    acked_writes: 0, acked_blocks: 0, lost_writes: 0, corrupt_reads: 0, detected_errors: 0,
    detected_losses: 0, checked_blocks: 0,
  };
  /** Blocks acknowledged since beginEpoch (the last full read-back). */
  private epoch = new Set<number>();
  readonly problems: string[] = [];

  private key(lun: number, lba: number): number { return lun * 2 ** 32 + lba; }
  private state(lun: number, lba: number): BlockState {
    const k = this.key(lun, lba);
    let s = this.blocks.get(k);
    if (!s) { s = { acked: 0, maybe: [] }; this.blocks.set(k, s); }
    return s;
  }

  /** Is any block of [lba, lba+n) busy with a command in flight? */
  isBusy(lun: number, lba: number, n: number): boolean {
    for (let i = 0; i < n; i++) if (this.busy.has(this.key(lun, lba + i))) return true;
    return false;
  }
  lock(lun: number, lba: number, n: number): void {
    for (let i = 0; i < n; i++) this.busy.add(this.key(lun, lba + i));
  }
  unlock(lun: number, lba: number, n: number): void {
    for (let i = 0; i < n; i++) this.busy.delete(this.key(lun, lba + i));
  }

  /** A write is about to go out: returns its id and data. */
  beginWrite(lun: number, lba: number, n: number): { id: number; data: Uint8Array } {
    const id = this.nextId++;
    const data = new Uint8Array(n * BLOCK);
    for (let i = 0; i < n; i++) {
      data.set(blockPattern(lun, lba + i, id), i * BLOCK);
      this.state(lun, lba + i).maybe.push(id);
    }
    return { id, data };
  }

  /** The write was acknowledged (GOOD): it is the block's only allowed content. */
  acked(lun: number, lba: number, n: number, id: number): void {
    this.stats.acked_writes++;
    this.stats.acked_blocks += n;
    for (let i = 0; i < n; i++) {
      const s = this.state(lun, lba + i);
      s.acked = id;
      s.maybe = [];
      this.epoch.add(this.key(lun, lba + i));
    }
  }

  /** Everything written so far has been read back: start a new epoch. */
  beginEpoch(): void { this.epoch.clear(); }

  /** The controller reported its cache image lost: every block acknowledged in this
   * epoch may hold older data now. Detected (reported), so not a lost write. */
  epochLost(): void {
    for (const k of this.epoch) {
      const s = this.blocks.get(k);
      if (!s || s.acked < 0) continue;
      s.acked = -1;
      s.maybe = [];
      this.stats.detected_errors++;
      this.stats.detected_losses++;
    }
    this.epoch.clear();
  }

  /** The write was refused before it ran (BUSY): it cannot have changed anything. */
  refused(lun: number, lba: number, n: number, id: number): void {
    for (let i = 0; i < n; i++) {
      const s = this.state(lun, lba + i);
      s.maybe = s.maybe.filter((m) => m !== id);
    }
  }

  /** Check one block read with GOOD status. */
  checkRead(lun: number, lba: number, data: Uint8Array): ReadVerdict {
    const s = this.state(lun, lba);
    if (s.acked < 0) return "unchecked";
    this.stats.checked_blocks++;
    const got = identify(lun, lba, data);
    if (got === -1) {
      this.stats.corrupt_reads++;
      this.problem(`corrupt read: lun ${lun} lba ${lba} (acked ${s.acked}, maybe ${s.maybe})`);
      return "corrupt";
    }
    if (got === s.acked || s.maybe.includes(got)) {
      // The host now knows the block's content.
      s.acked = got;
      s.maybe = [];
      return "ok";
    }
    if (got !== 0 && got > Math.max(s.acked, ...s.maybe)) {
      this.stats.corrupt_reads++;
      this.problem(`read returned a write never sent here: lun ${lun} lba ${lba} id ${got}`);
      return "corrupt";
    }
    this.stats.lost_writes++;
    this.problem(`lost write: lun ${lun} lba ${lba} returned ${got}, acked ${s.acked}, maybe ${s.maybe}`);
    s.acked = got;
    s.maybe = [];
    return "lost";
  }

  /** A read failed with MEDIUM ERROR: an unacknowledged write cut while writing it, or
   * acknowledged data the controller could not recover. Either way it was reported,
   * not served as good data: a detected error (and a detected loss if acknowledged). */
  checkMediumError(lun: number, lba: number): ReadVerdict {
    const s = this.state(lun, lba);
    if (s.acked < 0) return "unchecked";
    this.stats.checked_blocks++;
    if (s.maybe.length > 0 || s.acked === 0) {
      this.stats.detected_errors++;
      s.acked = -1;
      s.maybe = [];
      return "ok";
    }
    // Acknowledged data the controller reports it cannot give back: detected.
    this.stats.detected_errors++;
    this.stats.detected_losses++;
    this.problem(`detected loss: lun ${lun} lba ${lba} reported unreadable, acked ${s.acked}`);
    s.acked = -1;
    return "ok";
  }

  /** A read kept failing (no LUN, hardware error): acknowledged data is not there. */
  checkUnreadable(lun: number, lba: number): ReadVerdict {
    const s = this.state(lun, lba);
    if (s.acked <= 0) return "unchecked";
    this.stats.checked_blocks++;
    this.stats.lost_writes++;
    this.problem(`lost write: lun ${lun} lba ${lba} cannot be read, acked ${s.acked}`);
    s.acked = -1;
    return "lost";
  }

  /** Every block the host ever wrote, for the verify pass. */
  writtenBlocks(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const k of this.blocks.keys()) out.push([Math.floor(k / 2 ** 32), k % 2 ** 32]);
    return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  }

  private problem(msg: string): void {
    if (this.problems.length < 100) this.problems.push(msg);
  }
}
