// The reference board (BOARD.md): MCU running the metered firmware, supply and
// supercap, SPI EEPROM, a SCSI bus of disks, and the host adapter's mailbox. One
// virtual clock drives everything; nothing here reads the wall clock.
//
// Execution model. The firmware's main() never returns; the board regains control
// inside the firmware's calls to it: every HAL import, and hal.meter_tick, which the
// metered build calls at function entries and loop heads once the cycle counter
// passes the deadline the board set (the time of the next alarm). There the board
// brings the clock up to the firmware's cycle count, runs due alarms (device
// completions, the host's doorbells, the power failing), and runs the handlers of
// pending interrupts, by priority. A brown-out throws PowerLost from wherever the
// firmware is: its RAM is gone, and the board boots a new instance when the supply
// comes back.

import { VirtualClock, Alarm } from "./clock.js";
import { Rng } from "./rng.js";
import { Eeprom, EEPROM_PARTS, EepromStore } from "./devices/eeprom.js";
import { Supercap, PowerParams, DEFAULT_POWER } from "./devices/power.js";
import { Disk, DiskParams, DEFAULT_DISK } from "./devices/disk.js";
import { DeviceBus } from "./bus.js";
import { Mailbox } from "./mailbox.js";
import { LOG_NAMES } from "./abi.js";

export class PowerLost extends Error {
  constructor(readonly at_ns: number, readonly reason: string) { super(`power lost (${reason})`); }
}
export class StopRun extends Error { constructor() { super("run stopped"); } }
export class FirmwareFault extends Error {}

export interface BoardConfig {
  seed: number;
  cpu_hz: number;
  spi_hz: number;
  eeprom_part: string;
  disks: number;
  disk: DiskParams;
  power: PowerParams;
  /** Host adapter: DMA of a command and its data into the mailbox, bytes/s. */
  host_dma_bytes_per_s: number;
  /** Host adapter: fixed cost of a doorbell or a completion. */
  host_irq_latency_ns: number;
  /** Keep a readable trace of events (slower); the hash is kept either way. */
  trace: boolean;
}

/** What callers pass: any field, and any part of the disk and power parameters. */
export type BoardOptions = Partial<Omit<BoardConfig, "disk" | "power">> & {
  disk?: Partial<DiskParams>;
  power?: Partial<PowerParams>;
};

export const DEFAULT_BOARD: BoardConfig = {
  seed: 1,
  cpu_hz: 160e6,
  spi_hz: 20e6,
  eeprom_part: "25LC1024",
  disks: 4,
  disk: DEFAULT_DISK,
  power: DEFAULT_POWER,
  host_dma_bytes_per_s: 200e6,
  host_irq_latency_ns: 2_000,
  trace: false,
};

/** Interrupt sources and their priorities (higher preempts lower). */
export const IRQ = { pfail: 3, scsi: 2, doorbell: 1, timer: 1 } as const;
type IrqName = keyof typeof IRQ;
interface PendingIrq { name: IrqName; arg: number; }

/** The firmware's exports, as the board uses them. */
export interface FirmwareExports {
  memory: WebAssembly.Memory;
  main(): void;
  irq_doorbell(slot: number): void;
  irq_scsi(tag: number): void;
  irq_timer(): void;
  irq_pfail(): void;
  mailbox_addr(): number;
  mailbox_slot_count(): number;
  mailbox_slot_size(): number;
  mailbox_data_size(): number;
  lun_count(): number;
  is_ready(): number;
  counter_value(i: number): number;
  nv_blocks(): number;
  dirty_blocks(): number;
  save_budget(): number;
  writeback_on(): number;
  __meter_cycles(): bigint;
  __meter_set_deadline(d: bigint): void;
  [name: string]: unknown;
}

export type { HostCompletion } from "./mailbox.js";
import type { HostCompletion } from "./mailbox.js";

export class Board {
  readonly cfg: BoardConfig;
  readonly clock = new VirtualClock();
  readonly rng: Rng;
  readonly eeprom: Eeprom;
  readonly cap: Supercap;
  readonly disks: Disk[] = [];
  /** Protocol misuse seen by any device model. */
  readonly violations: string[] = [];
  readonly faults: string[] = [];
  readonly log: string[] = [];
  readonly ns_per_cycle: number;
  /** The MCU's hardware random number generator (seeded: runs stay reproducible). */
  readonly entropy: Rng;

  // ---- power state ----
  private supplyGood = true;
  private pfail = 1;
  private mcuOn = true;
  private brownoutAlarm: Alarm | null = null;
  powerCuts = 0;
  boots = 0;

  // ---- firmware state ----
  private fw: FirmwareExports | null = null;
  private mem: Uint8Array = new Uint8Array(0);
  private fwGen = 0;
  private bootAt_ns = 0;
  private cyclesSeen = 0n;
  /** Firmware cycles over all boots. */
  cyclesTotal = 0;
  private pending: PendingIrq[] = [];
  private irqLevel = 0;
  /** Set whenever a handler runs; idle returns at once and clears it if set (the
   * Cortex-M event register: WFE after an interrupt that already ran does not sleep). */
  private eventFlag = false;
  private timerAlarm: Alarm | null = null;
  private stopRequested = false;
  private spiSelected = false;
  private spiByte_ns: number;
  /** The device bus (disks at their bus IDs) and the host adapter's mailbox. */
  readonly bus: DeviceBus;
  readonly mailbox: Mailbox;

  // ---- observers ----
  /** Called when the firmware hands a mailbox slot back. */
  onHostComplete: ((c: HostCompletion) => void) | null = null;
  /** Called when a firmware instance starts (a boot), before main() runs. */
  onBoot: (() => void) | null = null;
  /** Called when the MCU stops (brown-out or save done): in-flight host commands die. */
  onPowerLost: (() => void) | null = null;
  /** Called for every firmware log event, by name (LOG_NAMES). */
  onLog: ((name: string, a: number, b: number) => void) | null = null;
  /** Called whenever the firmware reads PFAIL#, with the level it read. */
  onPfailRead: ((level: number) => void) | null = null;
  /** Called when the firmware makes its first EEPROM command after PFAIL# falls. */
  onEepromCommand: ((at_ns: number) => void) | null = null;
  /** Trace hash (FNV-1a over every event) and, with cfg.trace, the events. */
  traceHash = 0x811c9dc5;
  readonly traceLines: string[] = [];

  constructor(readonly module: WebAssembly.Module, cfg: BoardOptions = {}) {
    this.cfg = { ...DEFAULT_BOARD, ...cfg, disk: { ...DEFAULT_DISK, ...cfg.disk }, power: { ...DEFAULT_POWER, ...cfg.power } };
    this.rng = new Rng(this.cfg.seed);
    this.entropy = this.rng.fork("trng");
    this.ns_per_cycle = 1e9 / this.cfg.cpu_hz;
    const part = EEPROM_PARTS[this.cfg.eeprom_part];
    if (!part) throw new Error(`unknown EEPROM part ${this.cfg.eeprom_part}`);
    this.eeprom = new Eeprom(part, this.clock, this.rng.fork("eeprom"), new EepromStore(part));
    this.spiByte_ns = this.eeprom.byteTime_ns(this.cfg.spi_hz);
    this.cap = new Supercap(this.cfg.power, 0);
    for (let i = 0; i < this.cfg.disks; i++) {
      this.disks.push(new Disk(i, this.cfg.disk, this.clock, this.rng.fork(`disk${i}`)));
    }
    const board = this;
    this.bus = new DeviceBus(this.clock, {
      get mem() { return board.mem; },
      alive: (gen) => gen === board.fwGen && board.fw !== null,
      raiseScsi: (tag) => board.raise("scsi", tag),
      trace: (e) => board.trace(e),
      violation: (m) => { board.trace(`violation: ${m}`); board.violations.push(m); },
    });
    this.bus.targets.push(...this.disks);
    this.mailbox = new Mailbox(this.clock, this.cfg, {
      get mem() { return board.mem; },
      get fw() { return board.fw; },
      get gen() { return board.fwGen; },
      raiseDoorbell: (slot) => board.raise("doorbell", slot),
      trace: (e) => board.trace(e),
      violation: (m) => { board.trace(`violation: ${m}`); board.violations.push(m); },
      complete: (c) => board.onHostComplete?.(c),
    });
  }

  get now_ns(): number { return this.clock.now_ns; }
  get firmware(): FirmwareExports | null { return this.fw; }
  get memory(): Uint8Array { return this.mem; }
  get isSupplyGood(): boolean { return this.supplyGood; }

  trace(event: string): void {
    for (let i = 0; i < event.length; i++) {
      this.traceHash = Math.imul(this.traceHash ^ event.charCodeAt(i), 0x01000193) >>> 0;
    }
    this.traceHash = Math.imul(this.traceHash ^ 10, 0x01000193) >>> 0;
    if (this.cfg.trace) this.traceLines.push(`${(this.clock.now_ns / 1e6).toFixed(6)} ${event}`);
  }

  // ---- running --------------------------------------------------------------------

  /** Run until `done()` is true (checked whenever the board regains control) or the
   * clock passes limit_ns. Boots the firmware whenever the MCU has power. */
  run(done: () => boolean, limit_ns: number): void {
    this.stopRequested = false;
    const stopCheck = () => {
      if (done() || this.clock.now_ns > limit_ns) this.stopRequested = true;
      return this.stopRequested;
    };
    this.stopCheck = stopCheck;
    while (!stopCheck()) {
      if (this.mcuOn && this.supplyGoodOrHeld()) {
        this.startFirmware();
        try {
          this.fw!.main();
          throw new FirmwareFault("main() returned");
        } catch (e) {
          if (e instanceof StopRun) break;
          if (e instanceof PowerLost) { this.fw = null; continue; }
          if (e instanceof WebAssembly.RuntimeError) {
            this.faults.push(`trap: ${e.message}`);
            this.fw = null;
            throw new FirmwareFault(`firmware trapped at ${(this.clock.now_ns / 1e6).toFixed(3)} ms: ${e.message}`);
          }
          throw e;
        }
      } else if (!this.clock.runNext()) {
        throw new Error("board: MCU off and nothing scheduled");
      }
    }
    // Leave the firmware where it stopped; the next run() boots it afresh only if it
    // lost power. A stopped instance is discarded: the board is re-entered from main.
    this.fw = null;
    this.mcuOn = this.supplyGood || this.mcuOn;
  }
  private stopCheck: () => boolean = () => false;

  private supplyGoodOrHeld(): boolean { return this.supplyGood || this.brownoutAlarm !== null; }

  private startFirmware(): void {
    const gen = ++this.fwGen;
    const instance = new WebAssembly.Instance(this.module, { hal: this.halImports(gen) });
    this.fw = instance.exports as unknown as FirmwareExports;
    this.mem = new Uint8Array(this.fw.memory.buffer);
    this.cyclesSeen = 0n;
    this.pending = [];
    this.irqLevel = 0;
    this.eventFlag = false;
    this.pfailMasked = false;
    this.clock.cancel(this.timerAlarm);
    this.timerAlarm = null;
    this.spiSelected = false;
    this.bus.reset();
    this.mailbox.reset();
    this.bootAt_ns = this.clock.now_ns;
    this.boots++;
    this.trace(`boot ${this.boots}`);
    this.setDeadline();
    this.onBoot?.();
  }

  /** Bring the clock up to the firmware's cycle count. */
  private sync(): void {
    const c = this.fw!.__meter_cycles();
    const delta = Number(c - this.cyclesSeen);
    this.cyclesSeen = c;
    if (delta > 0) {
      this.cyclesTotal += delta;
      this.clock.advanceBy(delta * this.ns_per_cycle);
    }
  }

  private setDeadline(): void {
    if (!this.fw) return;
    let d: bigint;
    if (this.stopRequested || this.dispatchable()) d = this.cyclesSeen;
    else {
      const next = this.clock.nextAt_ns();
      if (next === Infinity) d = this.cyclesSeen + (1n << 40n);
      else d = this.cyclesSeen + BigInt(Math.max(0, Math.ceil((next - this.clock.now_ns) / this.ns_per_cycle)));
    }
    this.fw.__meter_set_deadline(d);
  }

  private dispatchable(): boolean {
    for (const p of this.pending) if (this.takeable(p)) return true;
    return false;
  }

  private takeable(p: PendingIrq): boolean {
    return IRQ[p.name] > this.irqLevel && !(p.name === "pfail" && this.pfailMasked);
  }
  private pfailMasked = false;

  raise(name: IrqName, arg = 0): void {
    if (!this.fw) return;
    this.pending.push({ name, arg });
  }

  /** Run handlers of pending interrupts above the current level, highest first. */
  private dispatch(): void {
    for (let guard = 0; guard < 10_000; guard++) {
      let best = -1;
      for (let i = 0; i < this.pending.length; i++) {
        const pr = IRQ[this.pending[i].name];
        if (this.takeable(this.pending[i]) && (best < 0 || pr > IRQ[this.pending[best].name])) best = i;
      }
      if (best < 0) return;
      const irq = this.pending.splice(best, 1)[0];
      const saved = this.irqLevel;
      this.irqLevel = IRQ[irq.name];
      this.eventFlag = true;
      this.trace(`irq ${irq.name} ${irq.arg}`);
      const fw = this.fw!;
      switch (irq.name) {
        case "pfail": fw.irq_pfail(); break;
        case "scsi": fw.irq_scsi(irq.arg); break;
        case "doorbell": fw.irq_doorbell(irq.arg); break;
        case "timer": fw.irq_timer(); break;
      }
      this.irqLevel = saved;
    }
    throw new Error("board: interrupt storm");
  }

  /** Called at every return into the firmware from the board. */
  private resume(): void {
    if (this.stopRequested || this.stopCheck()) {
      if (this.irqLevel === 0) throw new StopRun();
    }
    this.dispatch();
    this.setDeadline();
  }

  // ---- power ------------------------------------------------------------------------

  /** The supply fails at at_ns. Disks stop at once; PFAIL# falls a few µs later; the
   * MCU and EEPROM run on the cap until it reaches V2 or the firmware says it is done. */
  cutPowerAt(at_ns: number): void {
    this.clock.at(at_ns, "supply fails", () => this.supplyFails());
  }

  restorePowerAt(at_ns: number): void {
    this.clock.at(at_ns, "supply returns", () => this.supplyReturns());
  }

  private supplyFails(): void {
    if (!this.supplyGood) return;
    this.supplyGood = false;
    this.powerCuts++;
    this.trace("supply fails");
    for (const d of this.disks) d.powerOff();
    if (!this.mcuOn) return;
    const holdup = this.cap.holdupAt_ns(this.clock.now_ns);
    this.cap.setMode("discharging", this.clock.now_ns);
    this.brownoutAlarm = this.clock.after(holdup, "brown-out", () => this.brownout("cap empty"));
    this.clock.after(this.cfg.power.pfail_delay_ns, "PFAIL# falls", () => {
      if (this.supplyGood || !this.mcuOn) return;
      this.pfail = 0;
      this.trace("PFAIL# falls");
      this.pfailFell_ns = this.clock.now_ns;
      this.raise("pfail");
    });
  }
  pfailFell_ns = -1;
  /** The firmware has the learn load on (charger off). */
  private learnLoad = false;

  private supplyReturns(): void {
    if (this.supplyGood) return;
    this.supplyGood = true;
    this.trace("supply returns");
    // The learn load stays on if the firmware left it on; else the charger runs.
    this.cap.setMode(this.learnLoad ? "learning" : "charging", this.clock.now_ns);
    for (const d of this.disks) d.powerOn();
    if (this.mcuOn && this.brownoutAlarm) {
      // The MCU and the EEPROM ran on the cap all along: nothing of theirs was reset.
      // Still running on the cap: the supply takes over, PFAIL# rises.
      this.clock.cancel(this.brownoutAlarm);
      this.brownoutAlarm = null;
      this.pfail = 1;
      this.raise("pfail");
      return;
    }
    this.pfail = 1;
    this.mcuOn = true;
    this.eeprom.powerOn();
  }

  /** Exchange the disks at two bus IDs: a technician's mistake while the board is
   * off, or the fix of one (the firmware reads the labels again on RECHECK). */
  swapDisks(a: number, b: number): void {
    [this.disks[a], this.disks[b]] = [this.disks[b], this.disks[a]];
    this.bus.targets[a] = this.disks[a];
    this.bus.targets[b] = this.disks[b];
    this.trace(`disks ${a} and ${b} swapped`);
  }

  /** Make the cap run out early, during the next save: right after its k-th page
   * write completes, or (torn) half-way through the k-th write. The sweep of the
   * torture runs this for every k. */
  cutSaveAfterPages(k: number, torn: boolean): void {
    let count = 0;
    const inSave = () => this.pfail === 0 && this.mcuOn && !this.supplyGood;
    this.eeprom.onWriteStart = () => {
      if (!inSave() || !torn) return;
      if (++count === k) {
        this.clock.after(this.eeprom.part.t_wc_ns / 2, "cap empty (sweep)", () => this.brownout("cap empty (sweep)"));
      }
    };
    this.eeprom.onWriteDone = () => {
      if (!inSave() || torn) return;
      if (++count === k) this.brownout("cap empty (sweep)");
    };
  }

  /** The MCU and EEPROM stop now. Throws PowerLost when called inside the firmware. */
  private brownout(reason: string): void {
    if (!this.mcuOn) return;
    this.clock.cancel(this.brownoutAlarm);
    this.brownoutAlarm = null;
    this.mcuOn = false;
    this.learnLoad = false; // the MCU's pin drops: the learn load goes off
    this.trace(`MCU stops: ${reason}`);
    this.eeprom.powerOff();
    this.clock.cancel(this.timerAlarm);
    this.timerAlarm = null;
    this.pending = [];
    this.onPowerLost?.();
    if (this.fw) {
      this.fw = null;
      throw new PowerLost(this.clock.now_ns, reason);
    }
  }

  // ---- the HAL ----------------------------------------------------------------------

  private halImports(gen: number): Record<string, (...args: never[]) => unknown> {
    const live = () => {
      if (gen !== this.fwGen || !this.fw) throw new Error("board: call from a dead firmware instance");
    };
    const memRange = (addr: number, len: number) => addr >= 0 && len >= 0 && addr + len <= this.mem.length;
    const board = this;
    return {
      meter_tick: (_cycles: bigint) => { live(); board.sync(); board.resume(); },
      now_us: () => {
        live(); board.sync();
        const r = BigInt(Math.floor((board.clock.now_ns - board.bootAt_ns) / 1000));
        board.setDeadline();
        return r;
      },
      idle: () => {
        live(); board.sync();
        if (board.eventFlag && !board.dispatchable()) {
          board.eventFlag = false;
          board.resume();
          return;
        }
        for (let spins = 0; !board.dispatchable(); spins++) {
          if (board.stopRequested || board.stopCheck()) throw new StopRun();
          if (!board.clock.runNext()) throw new Error("deadlock: the firmware idles and nothing is scheduled (a stall, not a trap)");
          if (spins > 10_000_000) throw new Error("board: idle spun too long");
        }
        board.resume();
        board.eventFlag = false;
      },
      delay_us: (delay_us: number) => {
        live(); board.sync();
        // A busy-wait: interrupts that come due meanwhile run at their time, as they
        // would preempt the loop on the MCU.
        const end = board.clock.now_ns + Math.max(0, delay_us) * 1000;
        for (let guard = 0; board.clock.now_ns < end && guard < 1_000_000; guard++) {
          board.clock.advanceTo(Math.min(end, board.clock.nextAt_ns()));
          if (board.dispatchable()) board.resume();
        }
        board.setDeadline();
      },
      timer_arm: (delay_us: number) => {
        live(); board.sync();
        board.clock.cancel(board.timerAlarm);
        board.timerAlarm = null;
        if (delay_us > 0) {
          board.timerAlarm = board.clock.after(delay_us * 1000, "timer", () => {
            board.timerAlarm = null;
            board.raise("timer");
          });
        }
        board.setDeadline();
      },
      pfail_level: () => { live(); board.sync(); board.onPfailRead?.(board.pfail); board.setDeadline(); return board.pfail; },
      irq_mask_pfail: (masked: number) => {
        live(); board.sync();
        const was = board.pfailMasked ? 1 : 0;
        board.pfailMasked = masked !== 0;
        board.setDeadline();
        return was;
      },
      cap_mv: () => { live(); board.sync(); board.setDeadline(); return board.cap.adc_mv(board.clock.now_ns); },
      cap_brownout_mv: () => { live(); return Math.round(board.cfg.power.v_min * 1000); },
      cap_learn: (on: number) => {
        live(); board.sync();
        board.learnLoad = on !== 0;
        if (board.supplyGood) board.cap.setMode(on ? "learning" : "charging", board.clock.now_ns);
        board.trace(`cap learn ${on ? "on" : "off"}`);
        board.setDeadline();
      },
      entropy: () => { live(); return board.entropy.u32() | 0; },
      power_save_done: () => {
        live(); board.sync();
        board.trace("save done: cap disconnected");
        board.saveDone_ns = board.clock.now_ns;
        if (!board.supplyGood) {
          board.cap.setMode("disconnected", board.clock.now_ns);
          board.brownout("save done");
        }
        board.setDeadline();
      },
      spi_select: (selected: number) => {
        live(); board.sync();
        if (selected) {
          if (board.pfail === 0 && board.onEepromCommand) board.onEepromCommand(board.clock.now_ns);
          board.eeprom.select();
        } else board.eeprom.deselect();
        board.spiSelected = selected !== 0;
        board.setDeadline();
      },
      spi_write: (addr: number, len: number) => {
        live(); board.sync();
        if (!memRange(addr, len)) { board.violations.push(`spi_write out of memory: ${addr}+${len}`); return; }
        if (!board.spiSelected) board.violations.push("spi_write with CS released: the bytes go nowhere");
        for (let i = 0; i < len; i++) {
          board.eeprom.transfer(board.mem[addr + i]);
          board.clock.advanceBy(board.spiByte_ns);
        }
        board.setDeadline();
      },
      spi_read: (addr: number, len: number) => {
        live(); board.sync();
        if (!memRange(addr, len)) { board.violations.push(`spi_read out of memory: ${addr}+${len}`); return; }
        if (!board.spiSelected) board.violations.push("spi_read with CS released: reads nothing");
        for (let i = 0; i < len; i++) {
          const v = board.eeprom.transfer(0);
          board.clock.advanceBy(board.spiByte_ns);
          board.mem[addr + i] = v;
        }
        board.setDeadline();
      },
      spi_xfer: (out: number) => {
        live(); board.sync();
        const v = board.eeprom.transfer(out);
        board.clock.advanceBy(board.spiByte_ns);
        board.setDeadline();
        return v;
      },
      scsi_submit: (target: number, tag: number, cdbAddr: number, cdbLen: number,
        dataAddr: number, dataBytes: number, dataOut: number, resultAddr: number) => {
        live(); board.sync();
        const r = board.bus.submit(gen, target, tag, cdbAddr, cdbLen, [[dataAddr, dataBytes]], dataOut !== 0, resultAddr);
        board.setDeadline();
        return r;
      },
      scsi_submit_sg: (target: number, tag: number, cdbAddr: number, cdbLen: number,
        sgAddr: number, sgCount: number, dataOut: number, resultAddr: number) => {
        live(); board.sync();
        let r = -22;
        if (sgCount >= 1 && sgCount <= 64 && memRange(sgAddr, sgCount * 8)) {
          const v = new DataView(board.mem.buffer);
          const sg: Array<[number, number]> = [];
          for (let i = 0; i < sgCount; i++) sg.push([v.getUint32(sgAddr + 8 * i, true), v.getUint32(sgAddr + 8 * i + 4, true)]);
          r = board.bus.submit(gen, target, tag, cdbAddr, cdbLen, sg, dataOut !== 0, resultAddr);
        } else {
          board.violations.push(`scsi_submit_sg with a bad list: ${sgCount} entries at ${sgAddr}`);
        }
        board.setDeadline();
        return r;
      },
      scsi_abort: (tag: number) => {
        live(); board.sync();
        const r = board.bus.abort(gen, tag);
        board.setDeadline();
        return r;
      },
      host_complete: (slot: number) => {
        live(); board.sync();
        board.mailbox.complete(gen, slot);
        board.setDeadline();
      },
      log: (code: number, a: number, b: number) => {
        live();
        const name = LOG_NAMES[code] ?? `log ${code}`;
        const line = `fw: ${name} ${a} ${b}`;
        board.trace(line);
        board.onLog?.(name, a, b);
        if (board.log.length < 10_000) board.log.push(`${(board.clock.now_ns / 1e6).toFixed(3)} ms ${line}`);
      },
      fault: (line: number, column: number) => {
        live();
        const msg = `firmware assertion failed at line ${line}:${column}`;
        board.faults.push(msg);
        throw new FirmwareFault(msg);
      },
    };
  }
  saveDone_ns = -1;

  /** Host adapter side: put a command in a free slot and ring the doorbell after the
   * DMA time. Returns false if the firmware is not running. */
  hostSubmit(slot: number, lun: number, cdb: Uint8Array, dataOut: Uint8Array | null,
    dataInLen: number): boolean {
    return this.mailbox.submit(slot, lun, cdb, dataOut, dataInLen);
  }

  /** Fresh firmware generation id: changes at every boot. */
  get generation(): number { return this.fwGen; }
}
