// A medium changer (SMC-3) as an emulated SCSI target: one robot, storage slots, an
// import/export slot and the library's drives, addressed as SMC elements; MOVE MEDIUM,
// READ ELEMENT STATUS (with barcodes), INITIALIZE ELEMENT STATUS. A cartridge moved
// into a drive loads there (tape.ts); one moved out of a drive must have been unloaded
// by the drive first (else MEDIUM REMOVAL PREVENTED), as in mhVTL's library.
//
// Timing: a move takes `move_s`, an inventory `scan_s` per element: assumptions for a
// small library, stated here and in docs/DIRECTOR.md. Faults: the robot fails (every
// move HARDWARE ERROR).

import type { VirtualClock } from "../clock.js";
import { SerialTarget, type ScsiResult, type QueuedCommand } from "./target.js";
import type { TapeDrive } from "./tape.js";
import type { Cartridge } from "./tape_media.js";
import { SSC_OP, TKEY, TASC, TapeSense, tapeSense, ELEMENT } from "../scsi/ssc.js";
import { putBe16, be16 } from "../scsi/spc.js";

export const ADDR = { TRANSPORT: 0x0000, IMPORT_EXPORT: 0x0010, DRIVE: 0x0100, STORAGE: 0x1000 } as const;

export interface ChangerParams { slots: number; move_s: number; scan_s: number; overhead_us: number }
export const DEFAULT_CHANGER: ChangerParams = { slots: 16, move_s: 8, scan_s: 0.5, overhead_us: 200 };


export class Changer extends SerialTarget {
  readonly slots: (Cartridge | null)[];
  importExport: Cartridge | null = null;
  /** robotFailed: every move fails (HARDWARE ERROR); failAfterMoves: the robot fails
   * once it has made this many moves. */
  readonly faults = { robotFailed: false, dead: false, failAfterMoves: Infinity };
  /** Where each cartridge came from (SMC's source element), by barcode. */
  private readonly source = new Map<string, number>();
  readonly stats = { moves: 0 };

  constructor(clock: VirtualClock, readonly drives: TapeDrive[], readonly p: ChangerParams = DEFAULT_CHANGER) {
    super(clock, "changer");
    this.slots = new Array(p.slots).fill(null);
  }

  protected unreachable(): boolean { return this.faults.dead; }

  protected run(job: QueuedCommand): { r: ScsiResult; ns: number } {
    const { r, s } = this.execute(job.cdb);
    return { r, ns: this.p.overhead_us * 1e3 + s * 1e9 };
  }

  private good(dataIn: Uint8Array | null = null): ScsiResult { return { status: 0, hostStatus: 0, sense: null, dataIn }; }
  private check(s: TapeSense): ScsiResult { return { status: 2, hostStatus: 0, sense: tapeSense(s), dataIn: null }; }

  private execute(c: Uint8Array): { r: ScsiResult; s: number } {
    const now = (r: ScsiResult) => ({ r, s: 0 });
    switch (c[0]) {
      case SSC_OP.INQUIRY: {
        const d = new Uint8Array(96);
        d[0] = 0x08; d[1] = 0x80; d[2] = 0x06; d[3] = 0x02; d[4] = 91;
        d.set(new TextEncoder().encode("HOLDUP  VIRTUAL-LIBRARY 0100"), 8);
        return now(this.good(d.slice(0, (c[3] << 8) | c[4])));
      }
      case SSC_OP.TEST_UNIT_READY: return now(this.good());
      case SSC_OP.REQUEST_SENSE: return now(this.good(tapeSense({ key: TKEY.NO_SENSE, asc: TASC.NONE }).slice(0, c[4])));
      case SSC_OP.INITIALIZE_ELEMENT_STATUS: return { r: this.good(), s: this.p.scan_s * (this.slots.length + 1 + this.drives.length) };
      case SSC_OP.READ_ELEMENT_STATUS: return now(this.readElementStatus(c));
      case SSC_OP.MOVE_MEDIUM: return this.move(be16(c, 4), be16(c, 6));
    }
    return now(this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_OPCODE, field: [0, -1] }));
  }

  /** The element at an address: its type, and get/put of its cartridge (null: no such element). */
  private element(addr: number): { type: number; get: () => Cartridge | null; take: () => Cartridge | null; put: (c: Cartridge) => boolean } | null {
    if (addr === ADDR.IMPORT_EXPORT) {
      return {
        type: ELEMENT.IMPORT_EXPORT, get: () => this.importExport,
        take: () => { const x = this.importExport; this.importExport = null; return x; },
        put: (x) => { this.importExport = x; return true; },
      };
    }
    if (addr >= ADDR.STORAGE && addr < ADDR.STORAGE + this.slots.length) {
      const i = addr - ADDR.STORAGE;
      return {
        type: ELEMENT.STORAGE, get: () => this.slots[i],
        take: () => { const x = this.slots[i]; this.slots[i] = null; return x; },
        put: (x) => { this.slots[i] = x; return true; },
      };
    }
    if (addr >= ADDR.DRIVE && addr < ADDR.DRIVE + this.drives.length) {
      const d = this.drives[addr - ADDR.DRIVE];
      return { type: ELEMENT.DRIVE, get: () => d.cartridge, take: () => d.remove(), put: (x) => d.insert(x, this.p.move_s) };
    }
    return null;
  }

  private move(from: number, to: number): { r: ScsiResult; s: number } {
    const src = this.element(from), dst = this.element(to);
    if (!src) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_ELEMENT, field: [4, -1] }), s: 0 };
    if (!dst) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.INVALID_ELEMENT, field: [6, -1] }), s: 0 };
    if (this.stats.moves >= this.faults.failAfterMoves) this.faults.robotFailed = true;
    if (this.faults.robotFailed) return { r: this.check({ key: TKEY.HARDWARE_ERROR, asc: TASC.INTERNAL_TARGET_FAILURE }), s: this.p.move_s };
    const cart = src.get();
    if (!cart) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.SOURCE_EMPTY }), s: 0 };
    if (dst.get()) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.DESTINATION_FULL }), s: 0 };
    const taken = src.take();
    if (!taken) return { r: this.check({ key: TKEY.ILLEGAL_REQUEST, asc: TASC.REMOVAL_PREVENTED }), s: this.p.move_s / 2 };
    if (!dst.put(taken)) {
      src.put(taken);
      return { r: this.check({ key: TKEY.HARDWARE_ERROR, asc: TASC.LOAD_OR_EJECT_FAILED }), s: this.p.move_s };
    }
    if (src.type !== ELEMENT.DRIVE) this.source.set(taken.barcode, from);
    this.stats.moves++;
    return { r: this.good(), s: this.p.move_s };
  }

  /** READ ELEMENT STATUS (SMC-3 §6.10): the requested elements, one page per type. */
  private readElementStatus(c: Uint8Array): ScsiResult {
    const volTag = (c[1] & 0x10) !== 0, want = c[1] & 0x0f;
    const first = be16(c, 2), count = be16(c, 4);
    const alloc = (c[7] << 16) | (c[8] << 8) | c[9];
    const all: number[] = [ADDR.TRANSPORT, ADDR.IMPORT_EXPORT,
      ...this.drives.map((_, i) => ADDR.DRIVE + i), ...this.slots.map((_, i) => ADDR.STORAGE + i)];
    const typeOf = (a: number) => a === ADDR.TRANSPORT ? ELEMENT.TRANSPORT : this.element(a)!.type;
    const picked = all.filter((a) => a >= first && (want === 0 || typeOf(a) === want)).slice(0, count);
    const descLen = 12 + (volTag ? 36 : 0);
    const pages: Uint8Array[] = [];
    for (const type of [ELEMENT.TRANSPORT, ELEMENT.STORAGE, ELEMENT.IMPORT_EXPORT, ELEMENT.DRIVE]) {
      const addrs = picked.filter((a) => typeOf(a) === type);
      if (!addrs.length) continue;
      const page = new Uint8Array(8 + addrs.length * descLen);
      page[0] = type; page[1] = volTag ? 0x80 : 0;
      putBe16(page, 2, descLen);
      const bytes = addrs.length * descLen;
      page[5] = (bytes >> 16) & 0xff; page[6] = (bytes >> 8) & 0xff; page[7] = bytes & 0xff;
      addrs.forEach((a, k) => {
        const p = 8 + k * descLen;
        const cart = a === ADDR.TRANSPORT ? null : this.element(a)!.get();
        putBe16(page, p, a);
        page[p + 2] = (cart ? 1 : 0) | (type === ELEMENT.IMPORT_EXPORT ? 0x02 : 0) | 0x08;
        const src = cart ? this.source.get(cart.barcode) : undefined;
        if (src !== undefined) { page[p + 9] = 0x80; putBe16(page, p + 10, src); }
        if (volTag && cart) page.set(new TextEncoder().encode(cart.barcode.padEnd(32).slice(0, 32)), p + 12);
      });
      pages.push(page);
    }
    const body = pages.reduce((n, p) => n + p.length, 0);
    const d = new Uint8Array(8 + body);
    putBe16(d, 0, picked[0] ?? first);
    putBe16(d, 2, picked.length);
    d[5] = (body >> 16) & 0xff; d[6] = (body >> 8) & 0xff; d[7] = body & 0xff;
    let at = 8;
    for (const p of pages) { d.set(p, at); at += p.length; }
    return this.good(d.slice(0, alloc));
  }
}
