// An LTO-class tape drive (SSC-3) as an emulated SCSI target, the way mhVTL models
// one: a cartridge put in by the changer loads (12 s) and is then read and written
// at the drive's position as logical objects (tape_media.ts); early warning shows as
// NO SENSE with EOM on a write that succeeded, the end of the medium as VOLUME
// OVERFLOW with the residue in INFORMATION; reading a filemark says FILEMARK and moves
// past it, the end of data BLANK CHECK. Buffered (mode 1): a WRITE is GOOD once its
// data is in the drive's buffer and reaches the medium at the drive's rate after the
// data before it; WRITE FILEMARKS without IMMED, and every command that moves the tape,
// first waits until the buffer is on the medium. A drive that fails loses what its
// buffer held. One command at a time, timed by the data moved and the tape wound.
//
// Faults on demand: the drive dead (selection time-out), failed (every command
// HARDWARE ERROR from a given byte count on, but an unload: a drive that dies
// mid-write, its buffer lost; or tearing the block it was writing), hung (commands
// never end), a cartridge that will not unload; a damaged cartridge
// (Cartridge.badFrom) gives MEDIUM ERROR. The data pages: tape_pages.ts.

import type { VirtualClock } from "../clock.js";
import { SerialTarget, type ScsiResult, type QueuedCommand } from "./target.js";
import { Cartridge, FILEMARK, TapeObject, TapeParams, LTO5_SCALED } from "./tape_media.js";
import { SSC_OP, TKEY, TASC, TapeSense, tapeSense } from "../scsi/ssc.js";
import { putBe16, putBe32, be32 } from "../scsi/spc.js";
import { tapeInquiry, tapeModeSense, tapeReadPosition } from "./tape_pages.js";

export { LTO5_SCALED } from "./tape_media.js";
import { TapeFaults, noTapeFaults } from "./tape_faults.js";
export type { TapeFaults } from "./tape_faults.js";

export class TapeDrive extends SerialTarget {
  readonly faults: TapeFaults = noTapeFaults();
  cartridge: Cartridge | null = null;
  /** Loaded and threaded: commands reach the medium. */
  private loadedAt_ns = Infinity;
  /** An unload ended: the cartridge waits at the drive's mouth for the robot. */
  ejected = false;
  private position = 0;
  /** 0: variable-length blocks; otherwise the fixed block size (MODE SELECT). */
  blockSize = 0;
  private unitAttention = true;
  private failed = false;
  /** Taken (GOOD) but not yet on the medium, each with when it lands there. */
  private pending: Array<{ o: TapeObject; land_ns: number }> = [];
  private lastLand_ns = 0;
  /** Called after each WRITE with the bytes written so far (a test's trigger). */
  onWritten: ((bytes: number) => void) | null = null;
  /** When a failAfterBytes fault struck (the block that crossed it was landing). */
  failedAt_ns = NaN;
  readonly stats = { commands: 0, bytesWritten: 0, bytesLanded: 0, bytesLost: 0, bytesRead: 0, wound_bytes: 0 };

  constructor(readonly id: number, readonly serial: string, clock: VirtualClock,
    readonly p: TapeParams = LTO5_SCALED) {
    super(clock, `tape${id}`);
  }

  /** The changer puts a cartridge in, arriving `after_s` from now (the robot's move):
   * the drive loads it from then on. */
  insert(c: Cartridge, after_s = 0): boolean {
    if (this.cartridge) return false;
    this.cartridge = c;
    this.ejected = false;
    this.position = 0;
    this.pending = [];
    this.lastLand_ns = 0;
    this.loadedAt_ns = this.clock.now_ns + (after_s + this.p.load_s) * 1e9;
    this.unitAttention = true;
    return true;
  }

  /** The changer takes the cartridge out: only once the drive has unloaded it. */
  remove(): Cartridge | null {
    if (!this.cartridge || !this.ejected) return null;
    const c = this.cartridge;
    this.cartridge = null;
    this.ejected = false;
    this.loadedAt_ns = Infinity;
    return c;
  }

  get ready(): boolean { return this.cartridge !== null && !this.ejected && this.clock.now_ns >= this.loadedAt_ns; }
  get objectPosition(): number { return this.position; }

  protected unreachable(): boolean { return this.faults.dead; }

  protected run(job: QueuedCommand): { r: ScsiResult; ns: number } | null {
    this.stats.commands++;
    if (job.cdb[0] === SSC_OP.WRITE_6 && this.stats.bytesWritten >= this.faults.hangAfterBytes) this.faults.hang = true;
    if (this.faults.hang) return null;
    const { r, s } = this.execute(job);
    let stall = 0;
    if (job.cdb[0] === SSC_OP.WRITE_6 && this.stats.bytesWritten >= this.faults.stallAfterBytes) {
      this.faults.stallAfterBytes = Infinity;
      stall = this.faults.stall_s;
    }
    return { r, ns: this.p.overhead_us * 1e3 + (s + stall) * 1e9 };
  }

  private good(dataIn: Uint8Array | null = null): ScsiResult { return { status: 0, hostStatus: 0, sense: null, dataIn }; }
  private check(s: TapeSense, dataIn: Uint8Array | null = null): ScsiResult {
    return { status: 2, hostStatus: 0, sense: tapeSense(s), dataIn };
  }

  /** Run a command now; its result and how long it takes (s, past the overhead). */
  private execute(job: QueuedCommand): { r: ScsiResult; s: number } {
    const c = job.cdb, op = c[0];
    const now = (r: ScsiResult) => ({ r, s: 0 });
    if (op === SSC_OP.INQUIRY) return now(this.good(tapeInquiry(this.serial, c)));
    if (op === SSC_OP.REQUEST_SENSE) return now(this.good(tapeSense({ key: TKEY.NO_SENSE, asc: TASC.NONE }).slice(0, c[4])));
    this.settle(this.clock.now_ns);
    if (this.failed) {
      // A failed drive (its write channel) still unloads its cartridge, unless that
      // fails too (faults.noUnload): the robot can take the tape to another drive.
      if (op === SSC_OP.LOAD_UNLOAD && !(c[4] & 1) && this.cartridge && !this.ejected) {
        // It tries for as long as an unload takes, stuck or not.
        if (this.faults.noUnload) return { r: this.check({ key: TKEY.HARDWARE_ERROR, asc: TASC.LOAD_OR_EJECT_FAILED }), s: this.p.unload_s };
        this.ejected = true;
        return { r: this.good(), s: this.p.unload_s };
      }
      return now(this.check({ key: TKEY.HARDWARE_ERROR, asc: TASC.INTERNAL_TARGET_FAILURE }));
    }
    if (op === SSC_OP.READ_BLOCK_LIMITS) {
      const d = new Uint8Array(6);
      putBe32(d, 0, this.p.max_block_bytes);
      d[0] = 0; // granularity 0
      putBe16(d, 4, 1);
      return now(this.good(d));
    }
    if (op === SSC_OP.MODE_SENSE_6) return now(this.good(tapeModeSense(this.blockSize, c)));
    if (op === SSC_OP.MODE_SELECT_6) return now(this.modeSelect(job.dataOut));
    if (!this.cartridge || this.ejected) return now(this.check({ key: TKEY.NOT_READY, asc: TASC.MEDIUM_NOT_PRESENT }));
    if (this.clock.now_ns < this.loadedAt_ns) {
      if (op === SSC_OP.LOAD_UNLOAD && (c[4] & 1)) return { r: this.good(), s: (this.loadedAt_ns - this.clock.now_ns) / 1e9 };
      return now(this.check({ key: TKEY.NOT_READY, asc: TASC.BECOMING_READY }));
    }
    if (this.unitAttention) {
      this.unitAttention = false;
      return now(this.check({ key: TKEY.UNIT_ATTENTION, asc: TASC.NOT_READY_TO_READY }));
    }
    const cart = this.cartridge;
    switch (op) {
      case SSC_OP.TEST_UNIT_READY: return now(this.good());
      case SSC_OP.READ_POSITION: return now(this.good(this.readPosition()));
      case SSC_OP.WRITE_6: return this.write(c, job.dataOut);
      case SSC_OP.WRITE_FILEMARKS_6: return this.writeFilemarks(c);
    }
    // Everything else moves the tape or reads it: the buffer goes to the medium first.
    const f = this.flush();
    if (!f.ok) return this.failedResult(f.s);
    const then = (x: { r: ScsiResult; s: number }) => ({ r: x.r, s: x.s + f.s });
    switch (op) {
      case SSC_OP.REWIND: return then({ r: this.good(), s: this.windTo(0) });
      case SSC_OP.LOAD_UNLOAD: return then(this.loadUnload(c));
      case SSC_OP.LOCATE_10: {
        const target = be32(c, 3);
        if (target > cart.eod) {
          const s = this.windTo(cart.eod);
          return then({ r: this.check({ key: TKEY.BLANK_CHECK, asc: TASC.END_OF_DATA }), s });
        }
        return then({ r: this.good(), s: this.windTo(target) });
      }
      case SSC_OP.SPACE_6: return then(this.space(c));
      case SSC_OP.READ_6: return then(this.read(c));
    }
    return now(this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_OPCODE, field: [0, -1] }));
  }

  /** Put on the medium what the buffer has landed by `t_ns`. The drive fails (a
   * failAfterBytes fault) as it lands the block that crosses its limit: that block
   * and the rest of the buffer are lost. */
  settle(t_ns: number): void {
    const cart = this.cartridge;
    while (cart && this.pending.length && this.pending[0].land_ns <= t_ns && !this.failed) {
      const { o } = this.pending[0];
      const n = o === FILEMARK ? 0 : o.length;
      if (this.stats.bytesLanded + n > this.faults.failAfterBytes) {
        this.failed = true;
        this.failedAt_ns = this.pending[0].land_ns;
        if (this.faults.tornOnFail && o !== FILEMARK) {
          // It tears the block it was writing: on the medium, its second half lost.
          const torn = o.slice();
          torn.fill(0, torn.length >> 1);
          cart.append(torn);
          this.pending.shift();
        }
        break;
      }
      this.pending.shift();
      cart.append(o);
      this.stats.bytesLanded += n;
    }
    if (this.failed && this.pending.length) {
      for (const { o } of this.pending) this.stats.bytesLost += o === FILEMARK ? 0 : o.length;
      this.pending = [];
    }
  }

  private get pendingBytes(): number {
    let n = 0;
    for (const { o } of this.pending) n += o === FILEMARK ? 0 : o.length;
    return n;
  }

  /** Wait until the buffer is on the medium: the wait (s), and false if the drive
   * failed meanwhile. */
  private flush(): { s: number; ok: boolean } {
    const now = this.clock.now_ns;
    const end = Math.max(now, this.lastLand_ns);
    this.settle(end);
    return { s: (end - now) / 1e9, ok: !this.failed };
  }

  private failedResult(s: number): { r: ScsiResult; s: number } {
    return { r: this.check({ key: TKEY.HARDWARE_ERROR, asc: TASC.INTERNAL_TARGET_FAILURE }), s };
  }

  /** Wind to object `target`: the time it takes (s). */
  private windTo(target: number): number {
    const cart = this.cartridge!;
    const from = cart.bytesBefore(this.position), to = cart.bytesBefore(target);
    this.position = target;
    const d = Math.abs(to - from);
    this.stats.wound_bytes += d;
    return (d / cart.capacity_bytes) * this.p.wind_full_s;
  }

  private modeSelect(p: Uint8Array | null): ScsiResult {
    if (!p || p.length < 12 || p[3] !== 8) return this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_FIELD_IN_PARAMETERS });
    const size = (p[9] << 16) | (p[10] << 8) | p[11];
    if (size > this.p.max_block_bytes) return this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_FIELD_IN_PARAMETERS, field: [9, -1] });
    this.blockSize = size;
    return this.good();
  }

  private readPosition(): Uint8Array {
    const cart = this.cartridge!;
    return tapeReadPosition(this.position, cart.bytesBefore(this.position) >= cart.capacity_bytes - this.p.early_warning_bytes,
      this.pending.length, this.pendingBytes);
  }

  private loadUnload(c: Uint8Array): { r: ScsiResult; s: number } {
    if (c[4] & 1) return { r: this.good(), s: 0 }; // loaded already
    if (this.faults.noUnload) return { r: this.check({ key: TKEY.HARDWARE_ERROR, asc: TASC.LOAD_OR_EJECT_FAILED }), s: this.p.unload_s };
    const s = this.windTo(0) + this.p.unload_s;
    this.ejected = true;
    return { r: this.good(), s };
  }

  /** SPACE(6): blocks (stopping at a filemark), filemarks, or to the end of data. */
  private space(c: Uint8Array): { r: ScsiResult; s: number } {
    const cart = this.cartridge!;
    const code = c[1] & 0x0f;
    let n = (c[2] << 16) | (c[3] << 8) | c[4];
    if (n & 0x800000) n -= 0x1000000;
    const from = this.position;
    if (code === 3) return { r: this.good(), s: this.windTo(cart.eod) };
    if (code !== 0 && code !== 1) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_FIELD_IN_CDB, field: [1, 0] }), s: 0 };
    const step = n >= 0 ? 1 : -1;
    let left = Math.abs(n);
    let p = from;
    while (left > 0) {
      if (step > 0 && p >= cart.eod) {
        return { r: this.check({ key: TKEY.BLANK_CHECK, asc: TASC.END_OF_DATA, info: left }), s: this.windTo(p) };
      }
      if (step < 0 && p === 0) {
        return { r: this.check({ key: TKEY.NO_SENSE, asc: TASC.BEGINNING_OF_MEDIUM, eom: true, info: left }), s: this.windTo(p) };
      }
      const o = step > 0 ? cart.objects[p] : cart.objects[p - 1];
      p += step;
      if (o === FILEMARK) {
        if (code === 1) { left--; continue; }
        // Spacing over blocks stops at a filemark, past it (SSC-3 §7.10).
        return { r: this.check({ key: TKEY.NO_SENSE, asc: TASC.FILEMARK_DETECTED, filemark: true, info: left }), s: this.windTo(p) };
      }
      if (code === 0) left--;
    }
    return { r: this.good(), s: this.windTo(p) };
  }

  /** Past the early-warning point after this write? */
  private pastEarlyWarning(): boolean {
    const cart = this.cartridge!;
    return cart.bytesUsed + cart.cost(this.pendingBytes) >= cart.capacity_bytes - this.p.early_warning_bytes;
  }

  /** Take objects into the buffer (waiting for room), each landing after the one
   * before it: when the command ends (s from now), or null if the drive failed while
   * the command waited for room. */
  private buffer(objects: TapeObject[]): number | null {
    const now = this.clock.now_ns;
    const bytes = objects.reduce((n, o) => n + (o === FILEMARK ? 0 : o.length), 0);
    // Room: wait until enough of the buffer has landed.
    let accept = now;
    let held = this.pendingBytes;
    for (let i = 0; i < this.pending.length && held + bytes > this.p.buffer_bytes; i++) {
      const { o, land_ns } = this.pending[i];
      held -= o === FILEMARK ? 0 : o.length;
      accept = Math.max(accept, land_ns);
    }
    if (accept > now) {
      this.settle(accept);
      if (this.failed) return null;
    }
    const done = accept + (bytes / this.p.burst_bytes_per_s) * 1e9;
    let land = Math.max(done, this.lastLand_ns);
    for (const o of objects) {
      land += ((o === FILEMARK ? 0 : o.length) / this.p.bytes_per_s) * 1e9;
      this.pending.push({ o, land_ns: land });
      this.position++;
    }
    this.lastLand_ns = land;
    return (done - now) / 1e9;
  }

  private write(c: Uint8Array, data: Uint8Array | null): { r: ScsiResult; s: number } {
    const cart = this.cartridge!;
    const fixed = (c[1] & 1) !== 0;
    const n = (c[2] << 16) | (c[3] << 8) | c[4];
    if (fixed && this.blockSize === 0) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_FIELD_IN_CDB, field: [1, 0] }), s: 0 };
    const blockLen = fixed ? this.blockSize : n;
    const blocks = fixed ? n : 1;
    if (blockLen > this.p.max_block_bytes || !data || data.length < blocks * blockLen) {
      return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_FIELD_IN_CDB, field: [2, -1] }), s: 0 };
    }
    // Writing after a repositioning replaces the rest of the tape.
    if (!this.pending.length) cart.truncate(this.position);
    const take: TapeObject[] = [];
    let logical = cart.bytesUsed + cart.cost(this.pendingBytes);
    let stop: TapeSense | null = null;
    for (let i = 0; i < blocks; i++) {
      if (this.position + take.length >= cart.badFrom) {
        stop = { key: TKEY.MEDIUM_ERROR, asc: TASC.WRITE_ERROR, info: fixed ? blocks - i : blockLen };
        break;
      }
      if (logical + cart.cost(blockLen) > cart.capacity_bytes) {
        // The end of the medium: this block and the rest are not written.
        stop = { key: TKEY.VOLUME_OVERFLOW, asc: TASC.END_OF_MEDIUM, eom: true, info: fixed ? blocks - i : blockLen };
        break;
      }
      take.push(data.slice(i * blockLen, (i + 1) * blockLen));
      logical += cart.cost(blockLen);
    }
    const s = this.buffer(take);
    if (s === null) return this.failedResult(0);
    this.stats.bytesWritten += take.length * blockLen;
    this.onWritten?.(this.stats.bytesWritten);
    if (stop) return { r: this.check(stop), s };
    if (this.pastEarlyWarning()) return { r: this.check({ key: TKEY.NO_SENSE, asc: TASC.END_OF_MEDIUM, eom: true, info: 0 }), s };
    return { r: this.good(), s };
  }

  private writeFilemarks(c: Uint8Array): { r: ScsiResult; s: number } {
    const cart = this.cartridge!;
    const immed = (c[1] & 1) !== 0;
    const n = (c[2] << 16) | (c[3] << 8) | c[4];
    if (!this.pending.length) cart.truncate(this.position);
    const marks: TapeObject[] = [];
    for (let i = 0; i < n && this.position + marks.length < cart.badFrom; i++) marks.push(FILEMARK);
    let s = this.buffer(marks);
    if (s === null) return this.failedResult(0);
    if (marks.length < n) return { r: this.check({ key: TKEY.MEDIUM_ERROR, asc: TASC.WRITE_ERROR, info: n - marks.length }), s };
    if (!immed) {
      // Without IMMED the command ends when everything before it is on the medium.
      const f = this.flush();
      s = Math.max(s, f.s);
      if (!f.ok) return this.failedResult(s);
    }
    if (n > 0 && this.pastEarlyWarning()) return { r: this.check({ key: TKEY.NO_SENSE, asc: TASC.END_OF_MEDIUM, eom: true, info: 0 }), s };
    return { r: this.good(), s };
  }

  private read(c: Uint8Array): { r: ScsiResult; s: number } {
    const cart = this.cartridge!;
    const fixed = (c[1] & 1) !== 0, sili = (c[1] & 2) !== 0;
    const n = (c[2] << 16) | (c[3] << 8) | c[4];
    if (fixed && this.blockSize === 0) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_FIELD_IN_CDB, field: [1, 0] }), s: 0 };
    const blocks = fixed ? n : 1;
    const want = fixed ? this.blockSize : n;
    const out = new Uint8Array(blocks * want);
    let got = 0;
    for (let i = 0; i < blocks; i++) {
      if (this.position >= cart.eod) {
        return { r: this.check({ key: TKEY.BLANK_CHECK, asc: TASC.END_OF_DATA, info: fixed ? blocks - i : want }, got ? out.slice(0, got) : null), s: got / this.p.bytes_per_s };
      }
      const o = cart.objects[this.position++];
      if (o === FILEMARK) {
        return { r: this.check({ key: TKEY.NO_SENSE, asc: TASC.FILEMARK_DETECTED, filemark: true, info: fixed ? blocks - i : want }, got ? out.slice(0, got) : null), s: got / this.p.bytes_per_s };
      }
      this.stats.bytesRead += o.length;
      out.set(o.subarray(0, want), got);
      if (o.length !== want && !(sili && !fixed && o.length < want)) {
        // The block's length differs from the one asked for (SSC-3 §7.8): INFORMATION
        // is the difference, requested less actual (negative when the block is longer).
        got += Math.min(o.length, want);
        const info = fixed ? blocks - i : want - o.length;
        return { r: this.check({ key: TKEY.NO_SENSE, asc: TASC.NONE, ili: true, info }, got ? out.slice(0, got) : null), s: got / this.p.bytes_per_s };
      }
      got += Math.min(o.length, want);
    }
    return { r: this.good(got ? out.slice(0, got) : null), s: got / this.p.bytes_per_s };
  }
}
