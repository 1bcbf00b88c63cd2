// SPI EEPROM: the front end of the parts in eeprom_part.ts (Microchip 25LC1024,
// DS22064D, and the options docs/docs/BOARD.md offers): chip select, command decoding, WEL/WIP
// and timing, over the array (EepromStore). The model checks the firmware's use of the
// part and records every misuse in `violations`, which the tests require to stay empty.

import type { VirtualClock, Alarm } from "../clock.js";
import type { Rng } from "../rng.js";
import {
  CMD_READ, CMD_WRITE, CMD_WREN, CMD_WRDI, CMD_RDSR, CMD_WRSR, CMD_PE, CMD_SE, CMD_CE,
  CMD_RDID, CMD_DPD, SR_WIP, SR_WEL, SR_BP0, SR_BP1, SR_WPEN, EepromStore,
} from "./eeprom_part.js";
import type { EepromPart } from "./eeprom_part.js";
export * from "./eeprom_part.js";

interface PendingWrite {
  kind: "page" | "erase" | "status";
  /** First byte and images to commit: [addr, bytes] pairs. */
  page?: number;
  image?: Uint8Array;
  eraseFrom?: number;
  eraseBytes?: number;
  status?: number;
  started_ns: number;
  alarm: Alarm;
  /** Its cycle time (a torn write's progress is measured against it). */
  t_ns?: number;
}

type Phase =
  | "idle" | "cmd" | "addr" | "addr_done" | "data" | "status_in" | "status_out"
  | "id_addr" | "id_out" | "ignored";

/** The SPI front end of the part: chip select, command decoding, WEL/WIP, timing. */
export class Eeprom {
  readonly store: EepromStore;
  readonly violations: string[] = [];
  /** Transient read faults: address -> XOR mask applied to the next read of it. */
  readonly flipOnRead = new Map<number, number>();
  /** Probability per byte read of a one-bit transient flip. */
  readBitFlipRate = 0;
  /** Tear the next page write even without a power loss (a write that does not fully
   * take: the fault "torn page on demand"). */
  tearNextWrite = false;
  /** Write-cycle time of each page write, as a fraction of the datasheet maximum
   * tWC drawn uniformly from [lo, hi] (real parts are faster than the maximum and
   * vary with temperature and wear; null: always the maximum). hi > 1 is a part out
   * of its specification. */
  writeTimeSpread: [number, number] | null = null;
  /** Or a function of the page and the write's ordinal that returns the time in ns. */
  writeTimeFn: ((page: number, n: number) => number) | null = null;

  private selected = false;
  private phase: Phase = "idle";
  private cmd = 0;
  private addr = 0;
  private addrBytes = 0;
  private pageBuf: Uint8Array | null = null;
  private pageBase = 0;
  private pageOffset = 0;
  private dataBytes = 0;
  private wel = false;
  private bp = 0;      // BP1:BP0
  private wpen = false;
  private deepPowerDown = false;
  private powered = true;
  private pending: PendingWrite | null = null;
  /** Counters for the benchmarks and tests. */
  readonly stats = { pageWrites: 0, bytesRead: 0, commands: 0, tornWrites: 0 };
  /** Each command as the part decoded it, at CS rise: its opcode and, for commands
   * with one, the address its 3 address bytes gave (else -1). For trace checks. */
  onCommand: ((op: number, addr: number) => void) | null = null;
  private cmdAddr = -1;
  /** Observers of page write cycles (the torture's save sweep counts them). */
  onWriteStart: ((page: number) => void) | null = null;
  onWriteDone: ((page: number) => void) | null = null;

  constructor(
    readonly part: EepromPart,
    private readonly clock: VirtualClock,
    private readonly rng: Rng,
    store?: EepromStore,
  ) {
    this.store = store ?? new EepromStore(part);
  }

  get wip(): boolean { return this.pending !== null; }
  get statusRegister(): number {
    return (this.wip ? SR_WIP : 0) | (this.wel ? SR_WEL : 0) | (this.bp << 2) | (this.wpen ? SR_WPEN : 0);
  }
  get writeEnabled(): boolean { return this.wel; }

  /** Bus time of one byte at the given SPI clock. */
  byteTime_ns(spi_hz: number): number {
    return 8e9 / Math.min(spi_hz, this.part.max_clock_hz);
  }

  private violation(msg: string): void {
    this.violations.push(`${(this.clock.now_ns / 1e6).toFixed(6)} ms: ${this.part.name}: ${msg}`);
  }

  select(): void {
    if (!this.powered) return;
    if (this.selected) this.violation("CS asserted twice");
    this.selected = true;
    this.phase = "cmd";
  }

  deselect(): void {
    if (!this.powered) return;
    if (!this.selected) { this.violation("CS released while not selected"); return; }
    this.selected = false;
    const phase = this.phase;
    this.phase = "idle";
    if (phase !== "cmd") this.onCommand?.(this.cmd, this.cmdAddr);
    if (phase === "ignored" || phase === "cmd") return;
    switch (this.cmd) {
      case CMD_WRITE: {
        // DS22064D §2.3: the write starts when CS rises after a whole byte; it
        // needs at least one data byte.
        if (phase !== "data" || this.dataBytes === 0) {
          this.violation("WRITE ended before any data byte: nothing written");
          this.wel = false;
          return;
        }
        this.startPageWrite();
        return;
      }
      case CMD_PE: case CMD_SE: case CMD_CE: {
        if (this.cmd !== CMD_CE && this.addrBytes < 3) {
          this.violation("erase ended before its address");
          return;
        }
        this.startErase();
        return;
      }
    }
  }

  /** Exchange one byte: returns what the part drives on SO. */
  transfer(out: number): number {
    if (!this.powered || !this.selected) return 0xff;
    out &= 0xff;
    switch (this.phase) {
      case "cmd": return this.command(out);
      case "addr": {
        this.addr = ((this.addr << 8) | out) >>> 0;
        this.addrBytes++;
        if (this.addrBytes === 3) {
          this.addr &= this.part.size_bytes - 1;
          this.cmdAddr = this.addr;
          if (this.cmd === CMD_READ || this.cmd === CMD_WRITE) this.phase = "data";
          if (this.cmd === CMD_WRITE) this.beginPage();
          if (this.cmd === CMD_PE || this.cmd === CMD_SE) this.phase = "addr_done";
        }
        return 0xff;
      }
      case "data": {
        if (this.cmd === CMD_READ) return this.readByte();
        // WRITE: bytes past the page end wrap to its start (DS22064D §2.3).
        if (this.pageOffset >= this.part.page_bytes) {
          if (this.pageOffset === this.part.page_bytes) this.violation(
            `WRITE at 0x${this.addr.toString(16)} runs past the page end: wraps within the page`);
        }
        this.pageBuf![this.pageOffset % this.part.page_bytes] = out;
        this.pageOffset++;
        this.dataBytes++;
        return 0xff;
      }
      case "status_out": return this.statusRegister;
      case "status_in": {
        this.statusWrite(out);
        this.phase = "ignored";
        return 0xff;
      }
      case "id_addr": {
        this.addrBytes++;
        if (this.addrBytes === 3) this.phase = "id_out";
        return 0xff;
      }
      case "id_out": return this.part.signature ?? 0xff;
      default: return 0xff;
    }
  }

  private command(op: number): number {
    this.cmd = op;
    this.cmdAddr = -1;
    this.addr = 0;
    this.addrBytes = 0;
    this.dataBytes = 0;
    this.stats.commands++;
    if (this.deepPowerDown && op !== CMD_RDID) {
      this.violation(`command 0x${op.toString(16)} in deep power-down (ignored)`);
      this.phase = "ignored";
      return 0xff;
    }
    if (this.wip && op !== CMD_RDSR) {
      // DS22064D §2.10: only RDSR may be sent while a write is in progress.
      this.violation(`command 0x${op.toString(16)} while WIP (ignored)`);
      this.phase = "ignored";
      return 0xff;
    }
    switch (op) {
      case CMD_READ: this.phase = "addr"; break;
      case CMD_WRITE: case CMD_PE: case CMD_SE:
        if (!this.wel) {
          this.violation(`command 0x${op.toString(16)} without WREN (WEL=0): ignored`);
          this.phase = "ignored";
          break;
        }
        this.phase = "addr";
        break;
      case CMD_CE:
        if (!this.wel) {
          this.violation("CE without WREN (WEL=0): ignored");
          this.phase = "ignored";
          break;
        }
        this.phase = "addr"; // no address: deselect starts it
        this.addrBytes = 3;
        break;
      case CMD_WREN: this.wel = true; this.phase = "ignored"; break;
      case CMD_WRDI: this.wel = false; this.phase = "ignored"; break;
      case CMD_RDSR: this.phase = "status_out"; break;
      case CMD_WRSR:
        if (!this.wel) {
          this.violation("WRSR without WREN (WEL=0): ignored");
          this.phase = "ignored";
          break;
        }
        this.phase = "status_in";
        break;
      case CMD_RDID:
        if (this.part.signature === null) { this.phase = "ignored"; break; }
        this.deepPowerDown = false;
        this.phase = "id_addr";
        break;
      case CMD_DPD: this.deepPowerDown = true; this.phase = "ignored"; break;
      default:
        this.violation(`unknown command 0x${op.toString(16)}`);
        this.phase = "ignored";
    }
    return 0xff;
  }

  private readByte(): number {
    // Sequential read wraps at the end of the array (DS22064D §2.2).
    const a = this.addr;
    this.addr = (this.addr + 1) & (this.part.size_bytes - 1);
    this.stats.bytesRead++;
    let v = this.store.read(a);
    const flip = this.flipOnRead.get(a);
    if (flip !== undefined) { v ^= flip; this.flipOnRead.delete(a); }
    if (this.readBitFlipRate > 0 && this.rng.chance(this.readBitFlipRate)) v ^= 1 << this.rng.int(8);
    return v;
  }

  private beginPage(): void {
    const pb = this.part.page_bytes;
    this.pageBase = this.addr - (this.addr % pb);
    // The whole page is rewritten: start from its current contents.
    this.pageBuf = this.store.bytes.slice(this.pageBase, this.pageBase + pb);
    this.pageOffset = this.addr - this.pageBase;
  }

  private protectedFrom(): number {
    // DS22064D Table 2-3: BP1:BP0 = 00 none, 01 upper 1/4, 10 upper 1/2, 11 all.
    const size = this.part.size_bytes;
    return [size, size * 3 / 4, size / 2, 0][this.bp];
  }

  private startPageWrite(): void {
    const page = this.pageBase / this.part.page_bytes;
    if (this.pageBase >= this.protectedFrom()) {
      this.wel = false;
      this.violation(`WRITE to protected page ${page} (BP=${this.bp}): ignored`);
      return;
    }
    const image = this.pageBuf!;
    this.pageBuf = null;
    this.stats.pageWrites++;
    const started_ns = this.clock.now_ns;
    const t_ns = this.pageWriteTime_ns(page);
    const alarm = this.clock.after(t_ns, "eeprom write", () => this.finishWrite());
    this.pending = { kind: "page", page, image, started_ns, alarm, t_ns };
    this.onWriteStart?.(page);
    if (t_ns === 0) { this.clock.cancel(alarm); this.finishWrite(); }
  }

  /** This write's cycle time: the datasheet maximum unless a spread is set. */
  private pageWriteTime_ns(page: number): number {
    const n = this.stats.pageWrites;
    if (this.writeTimeFn) return this.writeTimeFn(page, n);
    if (!this.writeTimeSpread) return this.part.t_wc_ns;
    const [lo, hi] = this.writeTimeSpread;
    return this.part.t_wc_ns * (lo + this.rng.float() * (hi - lo));
  }

  private startErase(): void {
    const { part } = this;
    let from = 0, bytes = part.size_bytes, t = part.t_ce_ns;
    if (this.cmd === CMD_PE) { from = this.addr - (this.addr % part.page_bytes); bytes = part.page_bytes; t = part.t_pe_ns; }
    if (this.cmd === CMD_SE) { from = this.addr - (this.addr % part.sector_bytes); bytes = part.sector_bytes; t = part.t_se_ns; }
    if (this.cmd === CMD_CE ? this.bp !== 0 : from + bytes > this.protectedFrom()) {
      this.wel = false;
      this.violation(`erase of protected area at 0x${from.toString(16)}: ignored`);
      return;
    }
    const started_ns = this.clock.now_ns;
    const alarm = this.clock.after(t, "eeprom erase", () => this.finishWrite());
    this.pending = { kind: "erase", eraseFrom: from, eraseBytes: bytes, started_ns, alarm };
    if (t === 0) { this.clock.cancel(alarm); this.finishWrite(); }
  }

  private statusWrite(v: number): void {
    // WRSR writes BP1, BP0 and WPEN; it is a write cycle (tWC) like a page write.
    const status = v & (SR_BP0 | SR_BP1 | SR_WPEN);
    const started_ns = this.clock.now_ns;
    const alarm = this.clock.after(this.part.t_wc_ns, "eeprom wrsr", () => this.finishWrite());
    this.pending = { kind: "status", status, started_ns, alarm };
    if (this.part.t_wc_ns === 0) { this.clock.cancel(alarm); this.finishWrite(); }
  }

  /** End of a write cycle: WIP and WEL both clear (DS22064D §2.10: WEL is reset
   * when the write cycle completes). */
  private finishWrite(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.wel = false;
    if (p.kind === "page") {
      if (this.tearNextWrite) {
        this.tearNextWrite = false;
        this.commitTorn(p, 0.5);
        return;
      }
      this.commitPage(p.page!, p.image!);
      this.onWriteDone?.(p.page!);
    } else if (p.kind === "erase") {
      const pb = this.part.page_bytes;
      for (let a = p.eraseFrom!; a < p.eraseFrom! + p.eraseBytes!; a += pb) {
        this.commitPage(a / pb, new Uint8Array(pb).fill(0xff));
      }
    } else {
      this.bp = (p.status! >> 2) & 3;
      this.wpen = (p.status! & SR_WPEN) !== 0;
    }
  }

  private commitPage(page: number, image: Uint8Array): void {
    if (this.store.wear[page] >= this.part.endurance_cycles) {
      this.violation(`page ${page} past its endurance (${this.part.endurance_cycles} cycles)`);
    }
    this.store.programPage(page, image);
  }

  /** A page write cut short: bytes up to a random point near `progress` took the new
   * value, the byte at the cut holds a mix of old and new bits, the rest are old. */
  private commitTorn(p: PendingWrite, progress: number): void {
    const pb = this.part.page_bytes;
    const base = p.page! * pb;
    const image = this.store.bytes.slice(base, base + pb);
    const cut = Math.min(pb, Math.floor(progress * pb + (this.rng.float() - 0.5) * pb / 4));
    for (let i = 0; i < Math.max(0, cut); i++) image[i] = p.image![i];
    if (cut >= 0 && cut < pb) {
      const mask = this.rng.u32() & 0xff;
      image[cut] = (p.image![cut] & mask) | (image[cut] & ~mask);
    }
    this.stats.tornWrites++;
    this.commitPage(p.page!, image);
  }

  /** Power lost: a write in progress is torn; WEL and the SPI state are reset. */
  powerOff(): void {
    const p = this.pending;
    if (p) {
      this.clock.cancel(p.alarm);
      this.pending = null;
      const t = (p.t_ns ?? this.part.t_wc_ns) || 1;
      const progress = Math.min(1, (this.clock.now_ns - p.started_ns) / t);
      if (p.kind === "page") this.commitTorn(p, progress);
      else if (p.kind === "erase") {
        // An erase cut short leaves its pages partly erased: model as torn to 0xFF.
        const pb = this.part.page_bytes;
        for (let a = p.eraseFrom!; a < p.eraseFrom! + p.eraseBytes!; a += pb) {
          this.commitTorn({ ...p, page: a / pb, image: new Uint8Array(pb).fill(0xff) }, progress);
        }
      }
    }
    this.powered = false;
    this.selected = false;
    this.phase = "idle";
    this.wel = false;
    this.deepPowerDown = false;
  }

  powerOn(): void {
    this.powered = true;
    this.wel = false; // DS22064D §2.4: WEL is reset at power-up
  }
}
