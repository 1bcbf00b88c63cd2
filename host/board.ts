// The reference board (docs/BOARD.md): the MCU (host/mcu.ts) running the metered firmware,
// supply and supercap, SPI EEPROM, a SCSI bus of disks, and the host adapter's
// mailbox. One virtual clock drives everything; nothing here reads the wall clock.
// This file wires the devices to the MCU (the device half of the HAL) and models the
// power: a brown-out throws PowerLost from wherever the firmware is, and the board
// boots a new instance when the supply comes back.

import { VirtualClock, Alarm } from "./clock.js";
import type { BoardProbe, VcdRecorder } from "./vcd.js";
import { NativeRuntime } from "./native.js";
import { Mcu, FirmwareExports, FirmwareFault, PowerLost, StopRun, IrqName } from "./mcu.js";
import { Rng } from "./rng.js";
import { Eeprom, EEPROM_PARTS, EepromStore } from "./devices/eeprom.js";
import { Supercap, DEFAULT_POWER } from "./devices/power.js";
import { Disk, DEFAULT_DISK } from "./devices/disk.js";
import { DeviceBus } from "./bus.js";
import { Mailbox } from "./mailbox.js";
import { deviceImports } from "./board_hal.js";
import { BoardLinks } from "./board_links.js";
import { McuCoop, CoopMember } from "./mcu_coop.js";
import { CoopScheduler } from "./coop_scheduler.js";

export { FirmwareFault, PowerLost, StopRun, IRQ } from "./mcu.js";
export type { FirmwareExports } from "./mcu.js";

export type { BoardConfig, BoardOptions } from "./board_config.js";
export { DEFAULT_BOARD } from "./board_config.js";
import { BoardConfig, BoardOptions, DEFAULT_BOARD } from "./board_config.js";

export type { HostCompletion } from "./mailbox.js";
import type { HostCompletion } from "./mailbox.js";

export { asString } from "./board_hal.js";

export class Board implements CoopMember {
  readonly cfg: BoardConfig;
  /** One clock for the whole installation: a second board (a spare director) is
   * built on the first's (`clock` in the options). */
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly mcu: Mcu;
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
  /** (board_hal.ts) */ supplyGood = true;
  /** (board_hal.ts) */ pfail = 1;
  private mcuOn = true;
  private brownoutAlarm: Alarm | null = null;
  /** The firmware has the learn load on (charger off). */
  /** (board_hal.ts) */ learnLoad = false;
  powerCuts = 0;
  boots = 0;
  pfailFell_ns = -1;
  saveDone_ns = -1;

  // ---- the SPI port ----
  /** (board_hal.ts) */ spiSelected = false;
  /** (board_hal.ts) */ spiByte_ns: number;
  /** The device bus (disks at their bus IDs) and the host adapter's mailbox. */
  readonly bus: DeviceBus;
  readonly mailbox: Mailbox;
  /** The two link ports to a partner controller (a pair; unattached alone). */
  readonly links = new BoardLinks(this);

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

  /** With several MCUs on one clock (a scheduler given): this board's side of it. */
  readonly coop: McuCoop;

  constructor(readonly module: WebAssembly.Module, cfg: BoardOptions = {}, clock: VirtualClock = new VirtualClock(),
    sched: CoopScheduler | null = null) {
    this.clock = clock;
    this.cfg = { ...DEFAULT_BOARD, ...cfg, disk: { ...DEFAULT_DISK, ...cfg.disk }, power: { ...DEFAULT_POWER, ...cfg.power } };
    this.rng = new Rng(this.cfg.seed);
    this.entropy = this.rng.fork("trng");
    this.ns_per_cycle = 1e9 / this.cfg.cpu_hz;
    this.mcu = new Mcu(this.clock, this.ns_per_cycle, this.entropy, (e) => this.trace(e));
    this.coop = new McuCoop(this.mcu, this.clock, sched ?? new CoopScheduler(this.clock));
    if (sched) {
      this.mcu.coop = this.coop;
      sched.add(this);
    }
    if (this.cfg.runtime === "native") this.mcu.native = new NativeRuntime(this.cfg.build);
    const part = EEPROM_PARTS[this.cfg.eeprom_part];
    if (!part) throw new Error(`unknown EEPROM part ${this.cfg.eeprom_part}`);
    this.eeprom = new Eeprom(part, this.clock, this.rng.fork("eeprom"), new EepromStore(part));
    this.spiByte_ns = this.eeprom.byteTime_ns(this.cfg.spi_hz);
    this.cap = new Supercap(this.cfg.power, 0);
    for (let i = 0; i < this.cfg.disks; i++) {
      this.disks.push(new Disk(i, this.cfg.disk, this.clock, this.rng.fork(`disk${i}`)));
    }
    const mcu = this.mcu;
    const violation = (m: string) => { this.trace(`violation: ${m}`); this.violations.push(m); };
    this.bus = new DeviceBus(this.clock, {
      get mem() { return mcu.mem; },
      alive: (gen) => gen === mcu.gen && mcu.fw !== null,
      raiseScsi: (tag) => mcu.raise("scsi", tag),
      trace: (e) => this.trace(e),
      violation,
    });
    this.bus.targets.push(...this.disks);
    this.mailbox = new Mailbox(this.clock, this.cfg, {
      get mem() { return mcu.mem; },
      get fw() { return mcu.fw; },
      get gen() { return mcu.gen; },
      raiseDoorbell: (slot) => mcu.raise("doorbell", slot),
      trace: (e) => this.trace(e),
      violation,
      complete: (c) => this.onHostComplete?.(c),
    });
  }

  get now_ns(): number { return this.clock.now_ns; }
  get firmware(): FirmwareExports | null { return this.mcu.fw; }
  get memory(): Uint8Array { return this.mcu.mem; }
  get isSupplyGood(): boolean { return this.supplyGood; }

  /** Fresh firmware generation id: changes at every boot. */
  get generation(): number { return this.mcu.gen; }
  /** Firmware cycles over all boots. */
  get cyclesTotal(): number { return this.mcu.cyclesTotal; }

  trace(event: string): void {
    for (let i = 0; i < event.length; i++) {
      this.traceHash = Math.imul(this.traceHash ^ event.charCodeAt(i), 0x01000193) >>> 0;
    }
    this.traceHash = Math.imul(this.traceHash ^ 10, 0x01000193) >>> 0;
    if (this.cfg.trace) this.traceLines.push(`${(this.clock.now_ns / 1e6).toFixed(6)} ${event}`);
  }

  raise(name: IrqName, arg = 0): void { this.mcu.raise(name, arg); }

  // ---- running --------------------------------------------------------------------

  /** Run until `done()` is true (checked whenever the board regains control) or the
   * clock passes limit_ns. Boots the firmware whenever the MCU has power. */
  run(done: () => boolean, limit_ns: number): void {
    if (this.mcu.coop) throw new Error("board: a board beside other MCUs runs under its scheduler (CoopScheduler.run)");
    this.mcu.beginRun(() => done() || this.clock.now_ns > limit_ns);
    while (!this.mcu.shouldStop()) {
      if (this.mcuOn && this.supplyGoodOrHeld()) {
        this.startFirmware();
        try {
          this.mcu.executing = true;
          this.mcu.fw!.main();
          throw new FirmwareFault("main() returned");
        } catch (e) {
          if (e instanceof StopRun) break;
          if (e instanceof PowerLost) { this.mcu.fw = null; continue; }
          throw this.trapped(e);
        } finally {
          this.mcu.executing = false;
        }
      } else if (!this.clock.runNext()) {
        throw new Error("board: MCU off and nothing scheduled");
      }
    }
    // Leave the firmware where it stopped; the next run() boots it afresh only if it
    // lost power. A stopped instance is discarded: the board is re-entered from main.
    this.mcu.fw = null;
    this.mcuOn = this.supplyGood || this.mcuOn;
  }

  // ---- running beside other MCUs (mcu_coop.ts) ----------------------------------------

  /** A fault: the firmware hangs (a lock-up with no watchdog): the MCU has power and
   * its links carrier, but its code does not run. */
  hung = false;

  live(): boolean { return this.mcuOn && this.supplyGoodOrHeld() && !this.hung; }

  runnable(): boolean {
    if (!this.live()) return false;
    return this.mcu.fw === null || this.coop.ready();
  }

  beginRun(stop: () => boolean): void { this.mcu.beginRun(stop); }

  /** Boot the firmware or resume it, until it suspends again, stops or loses power. */
  step(): void {
    const mcu = this.mcu, sched = this.coop.sched;
    mcu.executing = true;
    sched.current = this.coop;
    try {
      if (!mcu.fw) {
        this.startFirmware();
        mcu.fw!.main();
      } else this.coop.resume(() => mcu.fw!.main());
      if (!this.coop.unwound()) throw new FirmwareFault("main() returned");
      this.coop.notePeaks();
    } catch (e) {
      if (e instanceof PowerLost) { mcu.fw = null; return; }
      throw this.trapped(e);
    } finally {
      mcu.executing = false;
      sched.current = null;
    }
  }

  /** What to throw for an error out of the firmware: a trap is a hard fault (the
   * instance is gone); anything else is the emulator's own and goes on up. */
  private trapped(e: unknown): unknown {
    if (!(e instanceof WebAssembly.RuntimeError)) return e;
    this.faults.push(`trap: ${e.message}`);
    this.mcu.fw = null;
    return new FirmwareFault(`firmware trapped at ${(this.clock.now_ns / 1e6).toFixed(3)} ms: ${e.message}`);
  }

  /** (board_hal.ts) */ supplyGoodOrHeld(): boolean { return this.supplyGood || this.brownoutAlarm !== null; }

  private startFirmware(): void {
    this.mcu.start(this.module, (gen) => deviceImports(this, gen));
    this.spiSelected = false;
    this.bus.reset();
    this.mailbox.reset();
    this.boots++;
    this.trace(`boot ${this.boots}`);
    this.mcu.setDeadline();
    this.onBoot?.();
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

  /** A logic analyzer on the board's signals (vcd.ts), or null. It only listens. */
  probe: BoardProbe | null = null;

  attachProbe(p: VcdRecorder): void {
    this.probe = p;
    p.capVolts = (t) => this.cap.voltageAt(t);
    const t = this.clock.now_ns;
    p.supply(t, this.supplyGood);
    p.pfail(t, this.pfail);
    p.mcuPower(t, this.mcuOn);
    this.mcu.onIrq = (name, pending) => this.probe?.irq(this.clock.now_ns, name, pending);
    this.bus.onPhase = (target, phase) => this.probe?.scsiPhase(this.clock.now_ns, target, phase);
  }

  private supplyFails(): void {
    if (!this.supplyGood) return;
    this.supplyGood = false;
    this.probe?.supply(this.clock.now_ns, false);
    this.powerCuts++;
    this.trace("supply fails");
    for (const d of this.disks) d.powerOff();
    this.links.powered(false);
    if (!this.mcuOn) return;
    const holdup = this.cap.holdupAt_ns(this.clock.now_ns);
    this.cap.setMode("discharging", this.clock.now_ns);
    this.brownoutAlarm = this.clock.after(holdup, "brown-out", () => this.brownout("cap empty"));
    this.clock.after(this.cfg.power.pfail_delay_ns, "PFAIL# falls", () => {
      if (this.supplyGood || !this.mcuOn) return;
      this.pfail = 0;
      this.probe?.pfail(this.clock.now_ns, 0);
      this.trace("PFAIL# falls");
      this.pfailFell_ns = this.clock.now_ns;
      this.raise("pfail");
    });
  }

  private supplyReturns(): void {
    if (this.supplyGood) return;
    this.supplyGood = true;
    this.probe?.supply(this.clock.now_ns, true);
    this.trace("supply returns");
    // The learn load stays on if the firmware left it on; else the charger runs.
    this.cap.setMode(this.learnLoad ? "learning" : "charging", this.clock.now_ns);
    for (const d of this.disks) d.powerOn();
    this.links.powered(true);
    if (this.mcuOn && this.brownoutAlarm) {
      // The MCU and the EEPROM ran on the cap all along: nothing of theirs was reset.
      // Still running on the cap: the supply takes over, PFAIL# rises.
      this.clock.cancel(this.brownoutAlarm);
      this.brownoutAlarm = null;
      this.pfail = 1;
      this.probe?.pfail(this.clock.now_ns, 1);
      this.raise("pfail");
      return;
    }
    this.pfail = 1;
    this.mcuOn = true;
    this.probe?.pfail(this.clock.now_ns, 1);
    this.probe?.mcuPower(this.clock.now_ns, true);
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
  /** (board_hal.ts) */ brownout(reason: string): void {
    if (!this.mcuOn) return;
    this.clock.cancel(this.brownoutAlarm);
    this.brownoutAlarm = null;
    this.mcuOn = false;
    this.probe?.mcuPower(this.clock.now_ns, false);
    this.learnLoad = false; // the MCU's pin drops: the learn load goes off
    this.trace(`MCU stops: ${reason}`);
    this.eeprom.powerOff();
    this.mcu.powerOff();
    this.onPowerLost?.();
    if (this.mcu.fw) {
      this.mcu.fw = null;
      // Another MCU's code may be the one on the stack (its cycles ran this alarm).
      if (this.mcu.executing) throw new PowerLost(this.clock.now_ns, reason);
    }
  }

  /** Host adapter side: put a command in a free slot and ring the doorbell after the
   * DMA time. Returns false if the firmware is not running. */
  hostSubmit(slot: number, lun: number, cdb: Uint8Array, dataOut: Uint8Array | null,
    dataInLen: number, tag = 0): boolean {
    return this.mailbox.submit(slot, lun, cdb, dataOut, dataInLen, tag);
  }
}
