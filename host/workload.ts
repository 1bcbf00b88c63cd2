// The host's workload: commands at a queue depth to the controller's LUNs, each
// checked against the oracle as it completes. Writes may overlap reads and other
// writes of the same blocks (the oracle accepts any order); WRITE LONG and
// SYNCHRONIZE CACHE are in the mix, and a SYNCHRONIZE CACHE that answers GOOD is
// checked against the disks' media: what it promised durable must be there.

import type { ArrayMap } from "./array_map.js";
import type { Board } from "./board.js";
import type { HostAdapter, HostResult } from "./host.js";
import { Oracle, BLOCK, UNREADABLE, identify } from "./oracle.js";
import type { Op } from "./oracle.js";
import { HostPair, Checkpoint } from "./host_pair.js";
import { Rng } from "./rng.js";
import { cdb, KEY, STATUS, Sense } from "./scsi/spc.js";

export interface WorkloadSpec {
  /** Commands in flight at once (at most the mailbox's slots). */
  queue_depth: number;
  /** Fraction of commands that are reads. */
  read_fraction: number;
  /** Fraction of commands that continue the previous one's LBA on their LUN. */
  sequential_fraction: number;
  /** Blocks per command: uniform in 1..max_blocks. */
  max_blocks: number;
  /** LBAs used per LUN: [0, span), so that blocks get rewritten (a few dozen make a
   * hot span: blocks still NV in the cache are written again). */
  lba_span: number;
  /** Commands on blocks that a command in flight also covers are allowed. */
  overlap: boolean;
  /** Fractions of commands that are WRITE LONG (WR_UNCOR) and SYNCHRONIZE CACHE. */
  write_long_fraction: number;
  sync_fraction: number;
  /** The power is cut at a uniform instant in (0, cut_window_ms] of each workload. */
  cut_window_ms: number;
  /** Power stays off for a uniform time in [min, max] ms. */
  off_min_ms: number;
  off_max_ms: number;
}

export const DEFAULT_WORKLOAD: WorkloadSpec = {
  queue_depth: 4,
  read_fraction: 0.3,
  sequential_fraction: 0.3,
  max_blocks: 8,
  lba_span: 4096,
  overlap: true,
  write_long_fraction: 0.01,
  sync_fraction: 0.02,
  cut_window_ms: 400,
  off_min_ms: 1,
  off_max_ms: 2000,
};

export interface Lun { lun: number; blocks: number }

/** The failing LBA of a MEDIUM ERROR, from the sense INFORMATION field, or -1. */
export function senseInfo(raw: Uint8Array | null): number {
  if (!raw || raw.length < 7 || !(raw[0] & 0x80)) return -1;
  return ((raw[3] << 24) | (raw[4] << 16) | (raw[5] << 8) | raw[6]) >>> 0;
}

export class Workload {
  luns: Lun[] = [];
  outstanding = 0;
  private running = false;
  private gen = -1;
  private seq = new Map<number, number>();
  private busy = new Set<number>();
  /** Called when the last command of a stopped workload completes. */
  onDrained: (() => void) | null = null;
  readonly stats = { commands: 0, media_checked: 0 };
  /** The array's geometry, when the board runs one (checkMedia reads its members). */
  array: ArrayMap | null = null;
  /** The host's two processors: every write is checkpointed to the secondary first. */
  readonly pair = new HostPair();
  /** Writes the secondary sends again before new work (after the primary died). */
  private reissueQueue: Checkpoint[] = [];
  /** Bumped when the primary dies: completions of commands it sent are not heard. */
  private primaryGen = 0;
  /** Writes in flight, by op id (the primary's death ends them unknown). */
  private inflight = new Map<number, Op>();

  constructor(private readonly board: Board, private readonly host: HostAdapter,
    private readonly oracle: Oracle, private readonly w: WorkloadSpec, private readonly rng: Rng) {}

  start(gen: number): void {
    this.running = true;
    this.gen = gen;
    for (let i = 0; i < this.w.queue_depth; i++) this.issue();
  }

  stop(): void { this.running = false; }

  /** The controller lost power: every command in flight is gone. */
  lost(): void {
    this.outstanding = 0;
    this.busy.clear();
    this.gen = -1;
    this.inflight.clear();
  }

  /** The primary host processor dies: what it had in flight, it never hears of. The
   * secondary takes over after takeover_ms: it re-issues every checkpointed write whose
   * outcome is unknown, then goes on with the workload. */
  primaryDies(takeover_ms: number): void {
    this.primaryGen++;
    this.pair.stats.primary_deaths++;
    this.pair.allLost();
    this.outstanding = 0;
    this.busy.clear();
    const gen = this.gen;
    // The secondary fences the dead primary first: it takes over once the adapter has
    // finished every command the primary had sent (their outcomes go unheard), so no
    // re-issue or new write can be overtaken by an old one still in the controller.
    const takeover = () => {
      if (gen !== this.gen || gen !== this.board.generation) return;
      if (this.host.inFlight > 0) { this.board.clock.after(1e6, "host: the secondary waits", takeover); return; }
      this.reissueQueue.push(...this.pair.unknown());
      for (let i = 0; i < this.w.queue_depth; i++) this.issue();
    };
    this.board.clock.after(takeover_ms * 1e6, "host: the secondary takes over", takeover);
  }

  /** Send a checkpointed write again (same data, same op); cb when it ends. */
  reissue(c: Checkpoint, cb: (r: HostResult) => void): void {
    const again = this.oracle.reissue(c.op, this.board.now_ns);
    c.op = again;
    this.pair.reissuing(c);
    this.sendWrite(again, c.data, cb);
  }

  /** A write goes out (checkpointed already); its outcome goes to the oracle and the
   * pair, then to cb. */
  private sendWrite(op: Op, data: Uint8Array, cb: (r: HostResult) => void): void {
    const pg = this.primaryGen;
    this.inflight.set(op.id, op);
    this.host.submit(op.lun, cdb.rw16(true, op.lba, op.n), data, 0, (res) => {
      this.inflight.delete(op.id);
      if (pg !== this.primaryGen) {
        // The primary that sent it is gone: the write ended now, unheard.
        this.oracle.end(op, "unknown", this.board.now_ns);
        return;
      }
      this.ended(op, res);
      cb(res);
    });
  }

  private key(lun: number, lba: number): number { return lun * 2 ** 32 + lba; }

  private pickRange(l: Lun): { lba: number; n: number } | null {
    const n = 1 + this.rng.int(this.w.max_blocks);
    const span = Math.max(n, Math.min(this.w.lba_span, l.blocks));
    for (let tries = 0; tries < 16; tries++) {
      const seq = this.seq.get(l.lun);
      const lba = seq !== undefined && this.rng.chance(this.w.sequential_fraction) ? seq : this.rng.int(span - n + 1);
      if (lba + n > span) continue;
      let free = true;
      if (!this.w.overlap) for (let i = 0; i < n; i++) if (this.busy.has(this.key(l.lun, lba + i))) free = false;
      if (!free) continue;
      this.seq.set(l.lun, (lba + n) % Math.max(1, span - this.w.max_blocks));
      return { lba, n };
    }
    return null;
  }

  private issue(): void {
    const gen = this.gen;
    if (!this.running || gen !== this.board.generation || this.outstanding >= this.w.queue_depth || !this.luns.length) return;
    const re = this.reissueQueue.shift();
    if (re) {
      this.outstanding++;
      this.stats.commands++;
      this.reissue(re, (res) => {
        if (gen !== this.gen) return;
        if (res.status === STATUS.BUSY) { this.pair.again(re); this.reissueQueue.push(re); }
        this.outstanding--;
        if (this.running) this.issue();
        else if (this.outstanding === 0) this.onDrained?.();
      });
      return;
    }
    const l = this.luns[this.rng.int(this.luns.length)];
    const r = this.pickRange(l);
    if (!r) {
      const pg = this.primaryGen;
      this.board.clock.after(1e6, "host backoff", () => { if (pg === this.primaryGen) this.issue(); });
      return;
    }
    const { lba, n } = r;
    for (let i = 0; i < n; i++) this.busy.add(this.key(l.lun, lba + i));
    this.outstanding++;
    this.stats.commands++;
    const pg = this.primaryGen;
    const done = () => {
      // A command the adapter held through a reboot completes in the next firmware
      // generation: the counters were reset then (lost()), it is not counted again;
      // nor is one the dead primary sent.
      if (gen !== this.gen || pg !== this.primaryGen) return;
      for (let i = 0; i < n; i++) this.busy.delete(this.key(l.lun, lba + i));
      this.outstanding--;
      if (gen !== this.board.generation) return;
      if (this.running) this.issue();
      else if (this.outstanding === 0) this.onDrained?.();
    };
    const roll = this.rng.float();
    const sub_ns = this.board.now_ns;
    if (roll < this.w.read_fraction) {
      this.host.submit(l.lun, cdb.rw16(false, lba, n), null, n * BLOCK, (res) => { this.checkRead(l.lun, lba, n, res, sub_ns); done(); });
    } else if (roll < this.w.read_fraction + this.w.write_long_fraction) {
      const { op } = this.oracle.begin(l.lun, lba, 1, sub_ns, true);
      this.host.submit(l.lun, cdb.writeLongUncor(lba), null, 0, (res) => { this.ended(op, res); done(); });
    } else if (roll < this.w.read_fraction + this.w.write_long_fraction + this.w.sync_fraction) {
      this.host.submit(l.lun, cdb.syncCache10(lba, n), null, 0, (res) => {
        if (res.status === STATUS.GOOD && gen === this.board.generation) this.checkMedia(l.lun, lba, n);
        done();
      });
    } else {
      const { op, data } = this.oracle.begin(l.lun, lba, n, sub_ns);
      this.pair.checkpoint(op, data!);
      this.sendWrite(op, data!, () => done());
    }
  }

  private ended(op: Op, r: HostResult): void {
    const outcome = r.lost ? "unknown" : r.status === STATUS.GOOD ? "acked" : r.status === STATUS.BUSY ? "refused" : "unknown";
    this.oracle.end(op, outcome, this.board.now_ns);
    if (outcome === "unknown") this.pair.lost(op); else this.pair.retire(op);
  }

  private checkRead(lun: number, lba: number, n: number, r: HostResult, sub_ns: number): void {
    if (r.lost) return;
    if (r.status === STATUS.GOOD) {
      for (let i = 0; i < n; i++) this.oracle.checkRead(lun, lba + i, r.data.subarray(i * BLOCK, (i + 1) * BLOCK), sub_ns);
      return;
    }
    if (r.sense?.key !== KEY.MEDIUM_ERROR) return;
    const info = senseInfo(r.senseRaw);
    if (info >= lba && info < lba + n) this.oracle.checkMediumError(lun, info, sub_ns);
    else if (n === 1) this.oracle.checkMediumError(lun, lba, sub_ns);
  }

  /** SYNCHRONIZE CACHE said the range is durable: its disk's media must hold, for each
   * block, a value the block may hold (blocks that may read MEDIUM ERROR, and those
   * the controller lists as unreadable in its labels, are skipped). */
  checkMedia(lun: number, lba: number, n: number): void {
    const lbas: number[] = [];
    for (let i = 0; i < n; i++) lbas.push(lba + i);
    this.checkMediaBlocks(lun, lbas);
  }

  /** checkMedia for any set of blocks of one LUN (the array's layout read once). */
  checkMediaBlocks(lun: number, lbas: Iterable<number>): void {
    const array = this.array?.enabled ? this.array : null;
    const disk = this.board.disks[lun];
    if (!disk && !array) return;
    const failed = array ? array.failedMask() : 0;
    const slotDisk = array ? array.layout().targets : [];
    for (const lba of lbas) {
      if (this.oracle.mayHold(lun, lba, UNREADABLE)) continue;
      let data: Uint8Array | null;
      if (array) {
        // The block's member disk, unless the firmware failed that member.
        const at = array.locate(lba);
        if (failed & (1 << at.member)) continue;
        data = this.board.disks[slotDisk[at.member]].durable(at.diskLba);
      } else data = disk.durable(lba);
      const v = data ? identify(lun, lba, data) : UNREADABLE;
      this.stats.media_checked++;
      this.oracle.checkMedia(lun, lba, v);
    }
  }
}

export type { Sense };
