// A SCSI disk as docs/docs/BOARD.md describes it: 512-byte blocks, 1 GiB stored sparsely,
// 7200 rpm, a seek curve through track-to-track 0.8 ms / average 8.5 ms / full stroke
// 16 ms (√d for short seeks, linear for long: Ruemmler & Wilkes, "An introduction to
// disk drive modeling", IEEE Computer 1994, §"Seek time"), 100 MB/s at the media, and
// a volatile write cache (WCE=1) that is lost when the power goes. FUA and
// SYNCHRONIZE CACHE make data durable; a sector being written when the power goes is
// torn and reads back as MEDIUM ERROR until it is written again.
//
// Storage and mechanics (disk_media.ts: DiskMedia, SeekCurve) are kept apart from the
// command set and timing (Disk).

import type { VirtualClock, Alarm } from "../clock.js";
import type { Rng } from "../rng.js";
import {
  OP, KEY, ASC, STATUS, SENSE_BYTES, Sense, senseBytes, checkLength, checkOpcode, checkFields,
  putBe32, Command,
} from "../scsi/spc.js";

import { BLOCK_BYTES, DiskParams, DiskMedia, SeekCurve } from "./disk_media.js";
import { inquiryData, modeSenseData, readCapacity10Data, readCapacity16Data } from "./disk_pages.js";
import type { ScsiTarget } from "./target.js";
import { STATUS_TASK_ABORTED } from "./disk_reservations.js";
import { DiskNexus } from "./disk_nexus.js";
import { DiskFaults, noDiskFaults } from "./disk_faults.js";
export type { DiskFaults } from "./disk_faults.js";
export { BLOCK_BYTES, DEFAULT_DISK, DiskMedia, SeekCurve } from "./disk_media.js";
export type { DiskParams } from "./disk_media.js";

export interface DiskResult {
  status: number;
  /** 0 ok, 1 selection timeout (no such target / dead disk), 2 aborted (power). */
  hostStatus: number;
  sense: Uint8Array | null;
  dataIn: Uint8Array | null;
}

interface Job {
  cdb: Uint8Array;
  dataOut: Uint8Array | null;
  done: (r: DiskResult) => void;
  /** The I_T nexus it came on (a port of a dual-ported disk: port()). */
  initiator: number;
}

/** A media write in progress: for tearing at power loss. */
interface MediaWrite {
  lba: number;
  data: Uint8Array[];
  start_ns: number;
  perBlock_ns: number;
}

/** SCSI selection time-out delay: 250 ms recommended (SPI-5 §"Selection time-out"). */
export const SELECTION_TIMEOUT_NS = 250e6;

export class Disk {
  readonly media = new DiskMedia();
  /** What a read of these blocks returns may have changed: a write taken, a mark, a
   * power loss that dropped the write cache or tore a sector (host/readback_scope.ts). */
  onTouch: ((lba: number, n: number) => void) | null = null;
  /** Blocks written to the media at `lba` (durable now). */
  onDurable: ((lba: number, data: Uint8Array[]) => void) | null = null;
  readonly faults: DiskFaults = noDiskFaults();
  /** Media writes that landed somewhere else: [intended LBA, where it went]. The
   * checkers use it to tell a disk's silent corruption from the controller's. */
  readonly misdirected: Array<[number, number]> = [];
  readonly seek: SeekCurve;
  readonly sectorsPerTrack: number;
  readonly rotation_ns: number;
  private cache = new Map<number, Uint8Array>();
  private queue: Job[] = [];
  private busy = false;
  private cylinder = 0;
  private powered = true;
  private readyAt_ns = 0;
  /** Per initiator: unit attentions, persistent reservations (disk_nexus.ts). */
  readonly nexus = new DiskNexus();
  get reservations() { return this.nexus.reservations; }
  private inflight: { alarm: Alarm; write: MediaWrite | null; job: Job | null } | null = null;
  private flushAlarm: Alarm | null = null;
  /** Generation: bumped at power loss so stale callbacks are dropped. */
  private gen = 0;
  readonly stats = { commands: 0, mediaWrites: 0, mediaReads: 0, seeks: 0, seek_ms: 0, rotation_ms: 0, tornSectors: 0 };
  writeCacheEnabled: boolean;

  constructor(
    readonly id: number,
    readonly p: DiskParams,
    private readonly clock: VirtualClock,
    private readonly rng: Rng,
  ) {
    this.rotation_ns = 60e9 / p.rpm;
    this.sectorsPerTrack = Math.floor(p.media_bytes_per_s * (this.rotation_ns / 1e9) / BLOCK_BYTES);
    const cylinders = Math.ceil(p.blocks / this.sectorsPerTrack);
    this.seek = new SeekCurve(cylinders, p.track_to_track_ms, p.average_seek_ms, p.full_stroke_ms);
    this.writeCacheEnabled = p.write_cache;
    this.readyAt_ns = clock.now_ns; // first boot: already spun up
  }

  /** A write the disk admitted (past the reservations), from initiator port n. */
  onWrite: ((initiator: number, lba: number, n: number) => void) | null = null;

  get isPowered(): boolean { return this.powered; }
  get cachedBlocks(): number { return this.cache.size; }

  /** Blocks that would be durable if power failed now (media contents). */
  durable(lba: number): Uint8Array | null { return this.media.read(lba); }

  /** The disk as initiator `n` reaches it (a dual-ported disk has one per controller):
   * its commands carry that I_T nexus (reservations, unit attentions). */
  port(n: number): ScsiTarget {
    return { submit: (cdb, dataOut, done) => this.submit(cdb, dataOut, done, n), abort: (h) => this.abort(h) };
  }

  submit(cdb: Uint8Array, dataOut: Uint8Array | null, done: (r: DiskResult) => void, initiator = 0): object | null {
    if (!this.powered || this.faults.dead) {
      const gen = this.gen;
      this.clock.after(SELECTION_TIMEOUT_NS, `disk${this.id} selection timeout`, () => {
        if (gen === this.gen || this.faults.dead) done({ status: 0, hostStatus: 1, sense: null, dataIn: null });
      });
      return null;
    }
    const job: Job = { cdb: cdb.slice(), dataOut, done, initiator };
    this.queue.push(job);
    this.kick();
    return job;
  }

  /** ABORT TASK (SAM-5 §7.2): a command still in the queue is dropped; one the disk
   * has started runs on (its media effects stay), but nobody hears of its end. */
  abort(handle: object | null): void {
    if (!handle) return;
    const job = handle as Job;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    job.done = () => {};
  }

  private kick(): void {
    if (this.busy || !this.powered) return;
    const job = this.queue.shift();
    if (job) {
      this.clock.cancel(this.flushAlarm);
      this.flushAlarm = null;
      this.busy = true;
      this.execute(job);
      return;
    }
    if (this.cache.size && !this.flushAlarm) {
      this.flushAlarm = this.clock.after(this.p.cache_flush_idle_ms * 1e6, `disk${this.id} idle flush`, () => {
        this.flushAlarm = null;
        if (!this.busy && this.queue.length === 0 && this.cache.size) this.backgroundFlush();
      });
    }
  }

  private finish(job: Job | null, at_ns: number, r: DiskResult | null, write: MediaWrite | null,
    effect: (() => void) | null = null): void {
    const gen = this.gen;
    const alarm = this.clock.at(at_ns, `disk${this.id} done`, () => {
      if (gen !== this.gen) return;
      this.inflight = null;
      if (write) this.commitWrite(write, write.data.length);
      effect?.();
      this.busy = false;
      if (job && r) job.done(r);
      this.kick();
    });
    this.inflight = { alarm, write, job };
  }

  private good(dataIn: Uint8Array | null = null): DiskResult {
    return { status: STATUS.GOOD, hostStatus: 0, sense: null, dataIn };
  }
  private check(s: Sense): DiskResult {
    return { status: STATUS.CHECK_CONDITION, hostStatus: 0, sense: senseBytes(s), dataIn: null };
  }

  /** Mechanical time to reach `lba` from the current cylinder at time t: seek, then
   * rotational latency to the sector. Returns the time the transfer starts. */
  private position(lba: number, t_ns: number): number {
    const cyl = Math.floor(lba / this.sectorsPerTrack);
    const seek_ms = this.seek.time_ms(cyl - this.cylinder);
    this.stats.seeks++;
    this.stats.seek_ms += seek_ms;
    this.cylinder = cyl;
    const afterSeek = t_ns + seek_ms * 1e6;
    const sectorAngle = (lba % this.sectorsPerTrack) / this.sectorsPerTrack;
    const headAngle = (afterSeek % this.rotation_ns) / this.rotation_ns;
    const wait = ((sectorAngle - headAngle + 1) % 1) * this.rotation_ns;
    this.stats.rotation_ms += wait / 1e6;
    return afterSeek + wait;
  }

  private get perBlock_ns(): number { return this.rotation_ns / this.sectorsPerTrack; }

  private execute(job: Job): void {
    this.stats.commands++;
    if (this.faults.hang) {
      // Accepted and never finished: the slot stays busy until an abort or power loss.
      const never: Alarm = { at_ns: Infinity, name: `disk${this.id} hung`, seq: -1, cancelled: true, fn: () => {} };
      this.inflight = { alarm: never, write: null, job };
      return;
    }
    let t = this.clock.now_ns + this.p.overhead_us * 1e3;
    if (this.faults.latencySpikeProb > 0 && this.rng.chance(this.faults.latencySpikeProb)) {
      t += this.faults.latencySpike_ms * 1e6;
    }
    if (this.faults.slowCommands > 0) {
      this.faults.slowCommands--;
      t += this.faults.slow_ms * 1e6;
    }
    const c = job.cdb;
    const op = c[0];
    const reply = (r: DiskResult) => this.finish(job, t, r, null);
    const vendor = op === OP.NV_STATUS || op === OP.NV_ACTION || op === OP.ARRAY_STATUS;
    const verdict = vendor
      ? { ok: false as const, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_OPCODE, field: [0, -1] as [number, number] } }
      : checkLength(c.length) ?? checkOpcode(c, c.length);
    const pr = DiskNexus.isPr(op);
    if (verdict && !pr) { reply(this.check((verdict as { sense: Sense }).sense)); return; }
    const refused = this.nexus.admit(job.initiator, op);
    if (refused) { reply(refused); return; }
    if (pr) { this.persistentReserve(job, t); return; }
    const v = checkFields(c, BigInt(this.p.blocks), this.p.max_transfer_blocks);
    if (!v.ok) { reply(this.check(v.sense)); return; }
    const cmd = v.cmd;
    const notReady = this.clock.now_ns < this.readyAt_ns;
    const mediaOp = op !== OP.INQUIRY && op !== OP.REQUEST_SENSE;
    if (notReady && mediaOp) {
      reply(this.check({ key: KEY.NOT_READY, asc: ASC.BECOMING_READY }));
      return;
    }
    switch (op) {
      case OP.TEST_UNIT_READY: case OP.START_STOP_UNIT: reply(this.good()); return;
      case OP.REQUEST_SENSE: reply(this.good(senseBytes({ key: KEY.NO_SENSE, asc: 0 }).slice(0, cmd.alloc))); return;
      case OP.INQUIRY: reply(this.good(inquiryData(cmd, this.id, this.p.max_transfer_blocks))); return;
      case OP.MODE_SENSE_6: case OP.MODE_SENSE_10: reply(this.good(modeSenseData(cmd, this.writeCacheEnabled, this.p.blocks))); return;
      case OP.READ_CAPACITY_10: reply(this.good(readCapacity10Data(this.p.blocks))); return;
      case OP.SERVICE_ACTION_IN_16: reply(this.good(readCapacity16Data(this.p.blocks, cmd.alloc))); return;
      case OP.READ_10: case OP.READ_16: this.read(job, cmd, t); return;
      case OP.WRITE_10: case OP.WRITE_16: this.write(job, cmd, t); return;
      case OP.SYNCHRONIZE_CACHE_10: this.syncCache(job, t); return;
      case OP.WRITE_LONG_10: {
        if (this.faults.noWriteLong) {
          reply(this.check({ key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_OPCODE, field: [0, -1] }));
          return;
        }
        // The mark lands when the command ends: a power loss before then leaves the
        // block as it was.
        const lba = Number(cmd.lba);
        this.finish(job, t, this.good(), null, () => {
          this.cache.delete(lba);
          this.media.uncorrectable.add(lba);
          this.onTouch?.(lba, 1);
        });
        return;
      }
    }
    reply(this.check({ key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_OPCODE, field: [0, -1] }));
  }

  /** PERSISTENT RESERVE IN/OUT; PREEMPT AND ABORT ends the preempted initiators'
   * queued commands with TASK ABORTED (the control mode page's TAS = 1). */
  private persistentReserve(job: Job, t: number): void {
    const { r, abort } = this.nexus.persistentReserve(job.initiator, job.cdb, job.dataOut);
    const victims = this.queue.filter((j) => abort.includes(j.initiator));
    this.queue = this.queue.filter((j) => !abort.includes(j.initiator));
    for (const v of victims) {
      this.clock.after(0, `disk${this.id} task aborted`, () => v.done({ status: STATUS_TASK_ABORTED, hostStatus: 0, sense: null, dataIn: null }));
    }
    this.finish(job, t, r, null);
  }

  private read(job: Job, cmd: Command, t: number): void {
    const lba = Number(cmd.lba);
    const n = cmd.blocks;
    const out = new Uint8Array(n * BLOCK_BYTES);
    let allCached = true;
    for (let i = 0; i < n; i++) if (!this.cache.has(lba + i)) allCached = false;
    let end = t;
    if (!allCached && n > 0) {
      end = this.position(lba, t) + n * this.perBlock_ns;
      this.stats.mediaReads++;
    } else {
      end += n * BLOCK_BYTES / this.p.bus_bytes_per_s * 1e9;
    }
    for (let i = 0; i < n; i++) {
      const cached = this.cache.get(lba + i);
      const data = cached ?? this.media.read(lba + i);
      if (!data) {
        // Unrecovered read error; INFORMATION holds the failing LBA (SPC-4 4.5.3).
        const sense = senseBytes({ key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR });
        sense[0] |= 0x80;
        putBe32(sense, 3, lba + i);
        this.finish(job, end, { status: STATUS.CHECK_CONDITION, hostStatus: 0, sense, dataIn: null }, null);
        return;
      }
      out.set(data, i * BLOCK_BYTES);
    }
    this.finish(job, end, this.good(out), null);
  }

  private write(job: Job, cmd: Command, t: number): void {
    const lba = Number(cmd.lba);
    const n = cmd.blocks;
    const data = job.dataOut;
    if (!data || data.length < n * BLOCK_BYTES) {
      this.finish(job, t, this.check({ key: KEY.ABORTED_COMMAND, asc: ASC.DATA_PHASE_ERROR }), null);
      return;
    }
    const blocks: Uint8Array[] = [];
    for (let i = 0; i < n; i++) blocks.push(data.slice(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES));
    if (n === 0) { this.finish(job, t, this.good(), null); return; }
    this.onTouch?.(lba, n);
    this.onWrite?.(job.initiator, lba, n);
    if (this.writeCacheEnabled && (!cmd.fua || this.faults.ignoreFua)) {
      for (let i = 0; i < n; i++) {
        this.cache.delete(lba + i); // keep insertion order = age
        this.cache.set(lba + i, blocks[i]);
      }
      this.finish(job, t + n * BLOCK_BYTES / this.p.bus_bytes_per_s * 1e9, this.good(), null);
      return;
    }
    for (let i = 0; i < n; i++) this.cache.delete(lba + i);
    let target = lba;
    if (this.faults.misdirectProb > 0 && this.rng.chance(this.faults.misdirectProb)) {
      target = Math.max(0, Math.min(this.p.blocks - n, lba + this.faults.misdirectOffset));
      for (let i = 0; i < n; i++) this.misdirected.push([lba + i, target + i]);
      this.onTouch?.(target, n);
    }
    const start = this.position(target, t);
    this.stats.mediaWrites++;
    const mw: MediaWrite = { lba: target, data: blocks, start_ns: start, perBlock_ns: this.perBlock_ns };
    this.finish(job, start + n * this.perBlock_ns, this.good(), mw);
  }

  private syncCache(job: Job, t: number): void {
    // Write the whole cache back in LBA order as one pass, then answer.
    const lbas = [...this.cache.keys()].sort((a, b) => a - b);
    if (!lbas.length) { this.finish(job, t, this.good(), null); return; }
    this.flushRun(lbas, 0, t, job);
  }

  /** Write cached blocks lbas[i..] back, one contiguous run per media write. */
  private flushRun(lbas: number[], i: number, t: number, job: Job | null): void {
    let j = i + 1;
    while (j < lbas.length && lbas[j] === lbas[j - 1] + 1) j++;
    const run = lbas.slice(i, j);
    const data = run.map((l) => this.cache.get(l)!);
    const start = this.position(run[0], t);
    const end = start + run.length * this.perBlock_ns;
    const mw: MediaWrite = { lba: run[0], data, start_ns: start, perBlock_ns: this.perBlock_ns };
    this.stats.mediaWrites++;
    const gen = this.gen;
    const alarm = this.clock.at(end, `disk${this.id} flush`, () => {
      if (gen !== this.gen) return;
      this.inflight = null;
      this.commitWrite(mw, run.length);
      for (let k = 0; k < run.length; k++) {
        if (this.cache.get(run[k]) === data[k]) this.cache.delete(run[k]);
      }
      if (j < lbas.length) { this.flushRun(lbas, j, end, job); return; }
      this.busy = false;
      if (job) job.done(this.good());
      this.kick();
    });
    this.inflight = { alarm, write: mw, job };
  }

  private backgroundFlush(): void {
    const oldest = this.cache.keys().next();
    if (oldest.done) return;
    const lbas = [...this.cache.keys()].sort((a, b) => a - b);
    this.busy = true;
    this.flushRun(lbas, lbas.indexOf(oldest.value), this.clock.now_ns, null);
  }

  private commitWrite(w: MediaWrite, blocks: number): void {
    for (let i = 0; i < blocks; i++) this.media.write(w.lba + i, w.data[i]);
    if (blocks > 0) this.onDurable?.(w.lba, w.data.slice(0, blocks));
  }

  /** Power lost: the cache is gone, the queue is dropped, and a media write in
   * progress keeps the blocks it finished; the one under the head is torn. The
   * initiator sees every command it had out on this disk end with host status 2
   * (the target dropped off the bus: a bus reset), right away. */
  powerOff(): void {
    if (!this.powered) return;
    const now = this.clock.now_ns;
    const f = this.inflight;
    const dropped: Job[] = [...(f?.job ? [f.job] : []), ...this.queue];
    for (const job of dropped) {
      this.clock.after(0, `disk${this.id} reset`, () => job.done({ status: 0, hostStatus: 2, sense: null, dataIn: null }));
    }
    if (f) {
      this.clock.cancel(f.alarm);
      const w = f.write;
      if (w && now > w.start_ns) {
        const done = Math.min(w.data.length, Math.floor((now - w.start_ns) / w.perBlock_ns));
        this.commitWrite(w, done);
        if (done < w.data.length) {
          this.media.torn.add(w.lba + done);
          this.stats.tornSectors++;
          this.onTouch?.(w.lba + done, 1);
        }
      }
    }
    this.inflight = null;
    this.clock.cancel(this.flushAlarm);
    this.flushAlarm = null;
    for (const lba of this.cache.keys()) this.onTouch?.(lba, 1);
    this.cache.clear();
    this.queue = [];
    this.busy = false;
    this.powered = false;
    this.nexus.powerOff();
    this.gen++;
  }

  powerOn(): void {
    if (this.powered) return;
    this.powered = true;
    this.nexus.powerOn();
    this.readyAt_ns = this.clock.now_ns + this.p.spinup_ms * 1e6;
    this.writeCacheEnabled = this.p.write_cache;
  }
}

export { SENSE_BYTES };
