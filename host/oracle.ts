// The oracle: what the host wrote, what was acknowledged, and what a read may return.
//
// Every block the host writes carries a self-describing pattern (magic, LUN, LBA,
// write id, then bytes from a PRNG seeded by all three), so any block read back can be
// recognised: which write it came from, or garbage. Each block is a register whose
// writes may overlap in time (several in flight at once, in any order on the disk).
// Per block the oracle keeps the values the block may hold now, each with the time
// its write ended (Infinity while in flight):
//   - a write acknowledged at t_ack that went out at t_sub leaves its own value and
//     every value whose write ended after t_sub (it may have landed after this one);
//     everything older is gone: reading it back is a lost write;
//   - a write that failed, or was in flight when the controller lost power, may or may
//     not have landed, whole or torn (a torn sector reads MEDIUM ERROR);
//   - a write refused with BUSY never ran;
//   - WRITE LONG (WR_UNCOR) writes the value "unreadable";
//   - a read that returns v at [t_sub, t_done] leaves v and every value whose write
//     ended after t_sub.
// Reading a value outside the set is a lost write (an older version) or a corrupt
// read (garbage, or another block's data); MEDIUM ERROR where no unreadable value is
// possible is a detected loss: reported by the controller, never served as good data.

import { Rng } from "./rng.js";

export const BLOCK = 512;
const MAGIC = 0x50444c48; // "HLDP"

/** The value of a block marked unreadable (WR_UNCOR, a torn sector): reads MEDIUM ERROR. */
export const UNREADABLE = -2;
/** Never written: zeros. */
export const ZEROS = 0;

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
  if (zero) return ZEROS;
  const v = new DataView(data.buffer, data.byteOffset, BLOCK);
  if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== lun || v.getUint32(8, true) !== lba) return -1;
  const id = v.getUint32(12, true);
  const expect = blockPattern(lun, lba, id);
  return Buffer.from(data.buffer, data.byteOffset + 16, BLOCK - 16).equals(expect.subarray(16)) ? id : -1;
}

interface Cand {
  /** A write id, ZEROS, or UNREADABLE. */
  v: number;
  /** When the write that put it there ended: Infinity while in flight. */
  end: number;
  /** Acknowledged (the host was told it is there). */
  acked: boolean;
  /** The op that wrote it (0: none). */
  op: number;
}

interface BlockState {
  cands: Cand[];
  /** Values dropped from cands lately, with when: a read that went out before then may
   * still return them (it may have sampled the block before the newer write landed). */
  gone: Array<{ v: number; at: number }>;
  /** The controller reported this block's acknowledged data lost (or the host gave
   * it up): any recognisable content is accepted until the next write. */
  unknown: boolean;
  /** Written since the last full read-back. */
  epoch: boolean;
}

export interface Op { id: number; lun: number; lba: number; n: number; sub_ns: number; uncor: boolean }

export type ReadVerdict = "ok" | "lost" | "corrupt" | "unchecked" | "detected";

/** Dropped values remembered per block (reads in flight are few and short). */
const gone_max = 16;

export class Oracle {
  private blocks = new Map<number, BlockState>();
  private nextId = 1;
  readonly stats = {
    acked_writes: 0, acked_blocks: 0, lost_writes: 0, corrupt_reads: 0, detected_errors: 0,
    detected_losses: 0, excused_losses: 0, checked_blocks: 0, disk_fault_losses: 0,
  };
  readonly problems: string[] = [];
  /** The host's clock (set by the scenario), for the history of dropped values. */
  now: () => number = () => 0;

  /** Did a disk fault touch this block behind the controller's back (a misdirected
   * write landed there or missed it)? A loss there is the disk's, counted apart
   * (disk_fault_losses). */
  diskFault: (lun: number, lba: number) => boolean = () => false;
  /** Called for every write that goes out (data or WRITE LONG), before it does. */
  onBegin: ((lun: number, lba: number, n: number) => void) | null = null;
  /** Called for each block of an acknowledged write (not WRITE LONG) with its id. */
  onAcked: ((lun: number, lba: number, id: number) => void) | null = null;
  /** Detected losses are excused (a fault beyond the design is in effect). */
  excuse: string | null = null;
  /** LUNs whose disk is dead: their blocks may be unreadable, excused. */
  readonly deadLuns = new Set<number>();
  /** Array members that died with the power (a second fault at the cut): a block of
   * theirs that an update had in flight cannot be known; reported, excused. */
  readonly deadMembers = new Set<number>();
  /** Is (lun, lba) on a member in deadMembers? (The scenario knows the geometry.) With
   * two members dead (a --fail-disk and the swarm's), the whole array is beyond RAID. */
  onDeadMember: (lun: number, lba: number) => boolean = () => false;

  private key(lun: number, lba: number): number { return lun * 2 ** 32 + lba; }
  /** HOLDUP_TRACE_BLOCK="lun:lba": print what the oracle learns about one block. */
  private readonly watch = process.env.HOLDUP_TRACE_BLOCK;
  private trace(lun: number, lba: number, what: string): void {
    if (this.watch === `${lun}:${lba}`) console.log(`oracle ${lun}:${lba} ${what} -> ${this.show(this.state(lun, lba))}`);
  }
  private state(lun: number, lba: number): BlockState {
    const k = this.key(lun, lba);
    let s = this.blocks.get(k);
    if (!s) { s = { cands: [{ v: ZEROS, end: -Infinity, acked: true, op: 0 }], gone: [], unknown: false, epoch: false }; this.blocks.set(k, s); }
    return s;
  }

  /** Keep only `keep` of the candidates; the rest go to the recent history. */
  private narrow(s: BlockState, keep: Cand[], now_ns: number): void {
    for (const c of s.cands) if (!keep.includes(c)) s.gone.push({ v: c.v, at: now_ns });
    if (s.gone.length > gone_max) s.gone.splice(0, s.gone.length - gone_max);
    s.cands = keep;
  }

  /** Was `v` possible at some time since sub_ns (in cands now, or dropped after it)? */
  private possible(s: BlockState, v: number, sub_ns: number): boolean {
    return s.cands.some((c) => c.v === v) || s.gone.some((g) => g.v === v && g.at > sub_ns);
  }

  /** A write (or, with uncor, a WRITE LONG of one block) goes out now. */
  begin(lun: number, lba: number, n: number, now_ns: number, uncor = false): { op: Op; data: Uint8Array | null } {
    const id = this.nextId++;
    const op: Op = { id, lun, lba, n, sub_ns: now_ns, uncor };
    this.onBegin?.(lun, lba, n);
    const data = uncor ? null : new Uint8Array(n * BLOCK);
    for (let i = 0; i < n; i++) {
      if (data) data.set(blockPattern(lun, lba + i, id), i * BLOCK);
      this.state(lun, lba + i).cands.push({ v: uncor ? UNREADABLE : id, end: Infinity, acked: false, op: id });
    }
    return { op, data };
  }

  /** The host sends op again (its secondary re-issues a write whose outcome it never
   * saw, or one the controller reported it could not complete): the same data, from
   * now. Returns the op for end(). */
  reissue(op: Op, now_ns: number): Op {
    const again: Op = { ...op, sub_ns: now_ns };
    for (let i = 0; i < op.n; i++) {
      this.state(op.lun, op.lba + i).cands.push({ v: op.uncor ? UNREADABLE : op.id, end: Infinity, acked: false, op: op.id });
      if (this.watch) this.trace(op.lun, op.lba + i, `op ${op.id} re-issued at ${now_ns}`);
    }
    return again;
  }

  /** The op ended: acknowledged (GOOD), refused (BUSY: never ran), or unknown (failed,
   * or lost with the controller: it may have landed, whole or torn). */
  end(op: Op, outcome: "acked" | "refused" | "unknown", now_ns: number): void {
    if (outcome === "acked") { this.stats.acked_writes++; this.stats.acked_blocks += op.n; }
    for (let i = 0; i < op.n; i++) {
      const s = this.state(op.lun, op.lba + i);
      const mine = s.cands.filter((c) => c.op === op.id && c.end === Infinity);
      if (outcome === "refused") { s.cands = s.cands.filter((c) => !mine.includes(c)); continue; }
      for (const c of mine) { c.end = now_ns; c.acked = outcome === "acked"; }
      if (outcome === "unknown" && !op.uncor) s.cands.push({ v: UNREADABLE, end: now_ns, acked: false, op: op.id });
      if (outcome === "acked") {
        s.unknown = false;
        s.epoch = true;
        if (!op.uncor) this.onAcked?.(op.lun, op.lba + i, op.id);
        // Everything that ended before this write went out is overwritten (an earlier
        // attempt of the same op that may have torn the block too).
        this.narrow(s, s.cands.filter((c) => (c.op === op.id && (op.uncor || c.v !== UNREADABLE)) || c.end > op.sub_ns), now_ns);
      }
      if (this.watch) this.trace(op.lun, op.lba + i, `op ${op.id}${op.uncor ? " (uncor)" : ""} sent ${op.sub_ns} ${outcome} at ${now_ns}`);
    }
  }

  /** Everything written so far has been read back: start a new epoch. */
  beginEpoch(): void { for (const s of this.blocks.values()) s.epoch = false; }

  /** The controller reported its cache image lost: every block acknowledged in this
   * epoch may hold older data now. Detected (reported), so not a lost write. */
  epochLost(): void {
    for (const s of this.blocks.values()) {
      if (!s.epoch || s.unknown) continue;
      this.markUnknown(s);
    }
  }

  /** The host gave up what the controller held for `lun` (NV ACTION DISCARD): its
   * blocks written this epoch may hold older data. */
  lunLost(lun: number): void {
    for (const [k, s] of this.blocks) {
      if (Math.floor(k / 2 ** 32) === lun && s.epoch && !s.unknown) this.markUnknown(s);
    }
  }

  private markUnknown(s: BlockState): void {
    s.unknown = true;
    this.stats.detected_errors++;
    this.stats.detected_losses++;
    if (this.excuse) this.stats.excused_losses++;
  }

  /** Check one block read with GOOD status over [sub_ns, now_ns]. */
  checkRead(lun: number, lba: number, data: Uint8Array, sub_ns: number): ReadVerdict {
    const s = this.state(lun, lba);
    const got = identify(lun, lba, data);
    if (this.watch) this.trace(lun, lba, `read sent ${sub_ns} got ${got}`);
    if (s.unknown) {
      if (got === -1) return this.bad("corrupt", lun, lba, `corrupt read of a block reported lost: lun ${lun} lba ${lba}`);
      this.collapse(s, got, sub_ns);
      return "unchecked";
    }
    this.stats.checked_blocks++;
    if (got === -1) return this.bad("corrupt", lun, lba, `corrupt read: lun ${lun} lba ${lba} (may hold ${this.show(s)})`);
    if (s.cands.some((c) => c.v === got)) { this.collapse(s, got, sub_ns); return "ok"; }
    if (this.possible(s, got, sub_ns)) return "ok"; // it sampled the block before a newer write landed
    if (got !== ZEROS && got >= this.nextId) {
      return this.bad("corrupt", lun, lba, `read returned a write never sent here: lun ${lun} lba ${lba} id ${got}`);
    }
    this.bad("lost", lun, lba, `lost write: lun ${lun} lba ${lba} returned ${got}, may hold ${this.show(s)}`);
    this.narrow(s, [{ v: got, end: -Infinity, acked: true, op: 0 }], this.now());
    return "lost";
  }

  /** A read failed with MEDIUM ERROR. Fine where the block may be unreadable (WRITE
   * LONG, a torn never-acknowledged write); else acknowledged data the controller
   * says it cannot give back: a detected loss. */
  checkMediumError(lun: number, lba: number, sub_ns: number): ReadVerdict {
    const s = this.state(lun, lba);
    if (this.watch) this.trace(lun, lba, `read sent ${sub_ns} got MEDIUM ERROR`);
    if (s.unknown) { this.collapse(s, UNREADABLE, sub_ns); return "unchecked"; }
    this.stats.checked_blocks++;
    this.stats.detected_errors++;
    if (s.cands.some((c) => c.v === UNREADABLE)) { this.collapse(s, UNREADABLE, sub_ns); return "ok"; }
    if (this.possible(s, UNREADABLE, sub_ns)) return "ok";
    if (this.diskFault(lun, lba)) {
      // A misdirected write left the disk's older copy (or its mark) in place.
      this.stats.disk_fault_losses++;
      this.narrow(s, [{ v: UNREADABLE, end: -Infinity, acked: true, op: 0 }], this.now());
      return "unchecked";
    }
    this.stats.detected_losses++;
    if (this.excuse || this.onDeadMember(lun, lba)) {
      this.stats.excused_losses++;
      this.narrow(s, [{ v: UNREADABLE, end: -Infinity, acked: true, op: 0 }], this.now());
      return "detected";
    }
    this.problem(`detected loss: lun ${lun} lba ${lba} reported unreadable, may hold ${this.show(s)}`);
    this.narrow(s, [{ v: UNREADABLE, end: -Infinity, acked: true, op: 0 }], this.now());
    return "detected";
  }

  /** A read kept failing, or the controller presents no such LUN now (gone, failed):
   * the acknowledged data is not there, and the host was told so (an error, not
   * data). A detected loss: excused on a dead disk's LUN (or under the run's excuse),
   * a failure of the design anywhere else. */
  checkUnreadable(lun: number, lba: number, why = "cannot be read"): ReadVerdict {
    const s = this.state(lun, lba);
    if (s.unknown || !s.cands.some((c) => c.acked && c.v !== ZEROS)) return "unchecked";
    this.stats.checked_blocks++;
    s.unknown = true;
    this.stats.detected_errors++;
    this.stats.detected_losses++;
    if (this.deadLuns.has(lun) || this.excuse || this.onDeadMember(lun, lba)) {
      this.stats.excused_losses++;
      return "detected";
    }
    this.problem(`detected loss: lun ${lun} lba ${lba} ${why}, may hold ${this.show(s)}`);
    return "detected";
  }

  /** Could the block hold `v` (a write id, ZEROS or UNREADABLE) now? For checks of a
   * disk's media, where nothing collapses. */
  mayHold(lun: number, lba: number, v: number): boolean {
    const s = this.state(lun, lba);
    return s.unknown || s.cands.some((c) => c.v === v);
  }

  private collapse(s: BlockState, v: number, sub_ns: number): void {
    const found = s.cands.find((c) => c.v === v);
    // A read of a write nobody acknowledged yet proves nothing durable: that write may
    // still be lost with the controller, and the block go back to what it held.
    if (found && !found.acked) return;
    const keep = s.cands.filter((c) => c.end > sub_ns);
    const mine = found ?? { v, end: -Infinity, acked: true, op: 0 };
    this.narrow(s, [mine, ...keep.filter((c) => c !== mine)], this.now());
    s.unknown = false;
  }

  private bad(kind: "lost" | "corrupt", lun: number, lba: number, msg: string): ReadVerdict {
    if (this.diskFault(lun, lba)) {
      this.stats.disk_fault_losses++;
      this.problem(`${msg} (a misdirected disk write touched it)`);
      return "unchecked";
    }
    if (kind === "lost") this.stats.lost_writes++; else this.stats.corrupt_reads++;
    this.problem(msg);
    return kind;
  }

  private show(s: BlockState): string {
    return s.cands.map((c) => `${c.v === UNREADABLE ? "unreadable" : c.v}${c.acked ? "" : "?"}`).join(",");
  }

  /** A disk's media holds `v` for the block after SYNCHRONIZE CACHE said it is
   * durable: it must be a value the block may hold. */
  checkMedia(lun: number, lba: number, v: number): void {
    if (this.mayHold(lun, lba, v)) return;
    this.bad("lost", lun, lba, `media check after SYNCHRONIZE CACHE: lun ${lun} lba ${lba} holds ${v} on the disk`);
  }

  /** Every block the host ever wrote, for the verify pass; with `also`, only those
   * written this epoch or in it (readback_scope.ts). */
  writtenBlocks(also: Set<number> | null = null): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const [k, s] of this.blocks) {
      if (also && !s.epoch && !also.has(k)) continue;
      out.push([Math.floor(k / 2 ** 32), k % 2 ** 32]);
    }
    return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  }

  problem(msg: string): void {
    if (this.problems.length < 100) this.problems.push(msg);
  }
}
