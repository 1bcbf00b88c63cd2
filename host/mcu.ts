// The MCU of the reference board: one firmware instance at a time, its cycle count
// brought onto the virtual clock, its interrupt controller (pending lines, priorities,
// the PFAIL mask, the WFE event flag) and its one-shot timer. The board wires the
// devices to it; this file knows nothing of them.
//
// Execution model. The firmware's main() never returns; the board regains control
// inside the firmware's calls to it: every HAL import, and hal.meter_tick, which the
// metered build calls at function entries and loop heads (or before every store, in
// the fine-preemption build) once the cycle counter passes the deadline set here (the
// time of the next alarm). There the clock is brought up to the firmware's cycle
// count, due alarms run (device completions, the host's doorbells, the power failing),
// and the handlers of pending interrupts run, by priority.

import type { NativeRuntime } from "./native.js";
import type { VirtualClock, Alarm } from "./clock.js";
import type { Rng } from "./rng.js";
import type { McuCoop } from "./mcu_coop.js";

/** The MCU lost power: thrown from wherever the firmware is (its RAM is gone). */
export class PowerLost extends Error {
  constructor(readonly at_ns: number, readonly reason: string) { super(`power lost (${reason})`); }
}
/** The run's stop condition holds: unwinds the firmware back to the board. */
export class StopRun extends Error { constructor() { super("run stopped"); } }
/** A trap or a failed assertion: a hard fault on the MCU. */
export class FirmwareFault extends Error {}

/** Interrupt sources and their priorities (higher preempts lower). */
export const IRQ = { pfail: 3, scsi: 2, doorbell: 1, timer: 1, link: 1 } as const;
export type IrqName = keyof typeof IRQ;
export interface PendingIrq { name: IrqName; arg: number; }

/** Bounds on the emulator's own loops (a firmware bug must not hang the host). */
export const IRQ_STORM_MAX = 10_000;
const IDLE_SPINS_MAX = 10_000_000;
const DELAY_STEPS_MAX = 1_000_000;

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

export type HalFunction = (...args: never[]) => unknown;

export class Mcu {
  /** The running instance, or null while the MCU is off or stopped. */
  fw: FirmwareExports | null = null;
  mem: Uint8Array = new Uint8Array(0);
  /** Instance id: changes at every boot (stale completions check it). */
  gen = 0;
  /** Firmware cycles over all boots. */
  cyclesTotal = 0;
  /** (mcu_coop.ts) */ cyclesSeen = 0n;
  private bootAt_ns = 0;
  /** (mcu_coop.ts) */ pending: PendingIrq[] = [];
  /** (mcu_coop.ts) */ irqLevel = 0;
  private pfailMasked = false;
  /** Set whenever a handler runs; idle returns at once and clears it if set (the
   * Cortex-M event register: WFE after an interrupt that already ran does not sleep). */
  /** (mcu_coop.ts) */ eventFlag = false;
  /** The instance's code is on the JS stack now (a brown-out then unwinds it). */
  executing = false;
  /** Run as one of several MCUs on one clock (mcu_coop.ts), or null: the only one. */
  coop: McuCoop | null = null;
  private timerAlarm: Alarm | null = null;
  private stopRequested = false;
  private stopCheck: () => boolean = () => false;

  constructor(private readonly clock: VirtualClock, private readonly ns_per_cycle: number,
    private readonly entropy: Rng, private readonly trace: (event: string) => void) {}

  /** Instantiate `module` with the core imports and the board's device imports. */
  start(module: WebAssembly.Module, devices: (gen: number) => Record<string, HalFunction>): void {
    const gen = ++this.gen;
    const hal = { ...this.coreImports(gen), ...devices(gen) };
    this.fw = this.native ? this.native.instantiate(hal)
      : new WebAssembly.Instance(module, { hal }).exports as unknown as FirmwareExports;
    if (this.coop) this.fw = this.coop.wrap(this.fw);
    this.mem = new Uint8Array(this.fw.memory.buffer);
    this.cyclesSeen = 0n;
    this.pending = [];
    this.irqLevel = 0;
    this.eventFlag = false;
    this.pfailMasked = false;
    this.cancelTimer();
    this.bootAt_ns = this.clock.now_ns;
    this.coop?.boot();
  }

  /** Power gone: no timer, no pending interrupts. */
  powerOff(): void {
    this.cancelTimer();
    this.pending = [];
    this.coop?.off();
  }

  /** The board's stop condition for this run (checked whenever it regains control). */
  beginRun(done: () => boolean): void {
    this.stopRequested = false;
    this.stopCheck = () => {
      if (done()) this.stopRequested = true;
      return this.stopRequested;
    };
  }
  shouldStop(): boolean { return this.stopRequested || this.stopCheck(); }

  /** Called when the firmware waits for an interrupt and before virtual time moves on:
   * a host on a real network (host/iscsi) takes its input here, and blocks for it when
   * it has nothing in flight, so virtual time stands still while the board is idle. */
  onIdleWait: (() => void) | null = null;

  /** The firmware runs in this native runner instead of V8 (host/native.ts). */
  native: NativeRuntime | null = null;

  /** A probe on the interrupt lines (vcd.ts): pending from raise to handler entry. */
  onIrq: ((name: IrqName, pending: boolean) => void) | null = null;

  raise(name: IrqName, arg = 0): void {
    if (!this.fw) return;
    this.pending.push({ name, arg });
    this.onIrq?.(name, true);
    this.coop?.raised();
  }

  /** A HAL call begins: the caller is the live instance; the clock catches up. */
  enter(gen: number): void {
    this.live(gen);
    this.sync();
  }

  /** A HAL call that is not a return into the firmware's flow checks its caller only. */
  live(gen: number): void {
    if (gen !== this.gen || !this.fw) throw new Error("board: call from a dead firmware instance");
  }

  /** Set the cycle deadline at which the firmware next calls meter_tick: now if an
   * interrupt can be taken or the run should stop, else at the next alarm. */
  setDeadline(): void {
    if (!this.fw || !this.fw.__meter_set_deadline) return;
    let d: bigint;
    if (this.stopRequested || this.dispatchable()) d = this.cyclesSeen;
    else {
      const next = this.coop ? Math.min(this.clock.nextAt_ns(), this.coop.horizon_ns()) : this.clock.nextAt_ns();
      if (next === Infinity) d = this.cyclesSeen + (1n << 40n);
      else d = this.cyclesSeen + BigInt(Math.max(0, Math.ceil((next - this.now_ns) / this.ns_per_cycle)));
    }
    this.fw.__meter_set_deadline(d);
  }

  /** The firmware spends delay_ns in a HAL call (a byte on the SPI bus). */
  spend(delay_ns: number): void {
    if (this.coop) this.coop.ran(delay_ns);
    else this.clock.advanceBy(delay_ns);
  }

  /** The MCU's own time: the clock's, or with several MCUs its own (mcu_coop.ts). */
  get now_ns(): number { return this.coop ? this.coop.now_ns : this.clock.now_ns; }

  /** Bring the clock up to the firmware's cycle count. */
  /** (mcu_coop.ts) */ sync(): void {
    if (!this.fw!.__meter_cycles) return; // the release build: no meter
    const c = this.fw!.__meter_cycles();
    const delta = Number(c - this.cyclesSeen);
    this.cyclesSeen = c;
    if (delta > 0) {
      this.cyclesTotal += delta;
      if (this.coop) this.coop.ran(delta * this.ns_per_cycle);
      else this.clock.advanceBy(delta * this.ns_per_cycle);
    }
  }

  /** (mcu_coop.ts) */ dispatchable(): boolean {
    for (const p of this.pending) if (this.takeable(p)) return true;
    return false;
  }

  private takeable(p: PendingIrq): boolean {
    return IRQ[p.name] > this.irqLevel && !(p.name === "pfail" && this.pfailMasked);
  }

  /** The pending interrupt to take next, highest first, or -1. */
  /** (mcu_coop.ts) */ nextIrq(): number {
    let best = -1;
    for (let i = 0; i < this.pending.length; i++) {
      const pr = IRQ[this.pending[i].name];
      if (this.takeable(this.pending[i]) && (best < 0 || pr > IRQ[this.pending[best].name])) best = i;
    }
    return best;
  }

  /** Take pending interrupt i off the list (the handler is about to run). */
  /** (mcu_coop.ts) */ takeIrq(i: number): PendingIrq {
    const irq = this.pending.splice(i, 1)[0];
    if (this.onIrq && !this.pending.some((p) => p.name === irq.name)) this.onIrq(irq.name, false);
    this.eventFlag = true;
    this.trace(`irq ${irq.name} ${irq.arg}`);
    return irq;
  }

  /** Call the handler of `irq`. */
  /** (mcu_coop.ts) */ callHandler(irq: PendingIrq): void {
    const fw = this.fw!;
    switch (irq.name) {
      case "pfail": fw.irq_pfail(); break;
      case "scsi": fw.irq_scsi(irq.arg); break;
      case "doorbell": fw.irq_doorbell(irq.arg); break;
      case "timer": fw.irq_timer(); break;
      case "link": (fw.irq_link as (link: number) => void)(irq.arg); break;
    }
  }

  /** Run handlers of pending interrupts above the current level, highest first. */
  /** (mcu_coop.ts) */ dispatchNested(): void { this.dispatch(); }

  private dispatch(): void {
    for (let guard = 0; guard < IRQ_STORM_MAX; guard++) {
      const best = this.nextIrq();
      if (best < 0) return;
      const irq = this.takeIrq(best);
      const saved = this.irqLevel;
      this.irqLevel = IRQ[irq.name];
      this.callHandler(irq);
      this.irqLevel = saved;
    }
    throw new Error("board: interrupt storm");
  }

  /** Called at every return into the firmware from the board. */
  private resume(): void {
    if (this.shouldStop()) {
      if (this.irqLevel === 0) throw new StopRun();
    }
    this.dispatch();
    this.setDeadline();
  }

  private cancelTimer(): void {
    this.clock.cancel(this.timerAlarm);
    this.timerAlarm = null;
  }

  /** The HAL functions of the MCU itself: time, sleep, the timer, the PFAIL mask, the
   * TRNG (docs/HAL.md). */
  private coreImports(gen: number): Record<string, HalFunction> {
    const waits = this.coop ? this.coop.imports(gen) : this.waitImports(gen);
    return {
      ...waits,
      now_us: () => {
        this.enter(gen);
        const r = BigInt(Math.floor((this.now_ns - this.bootAt_ns) / 1000));
        this.setDeadline();
        return r;
      },
      timer_arm: (delay_us: number) => {
        this.enter(gen);
        this.cancelTimer();
        if (delay_us > 0) {
          const at = Math.max(this.clock.now_ns, this.now_ns + delay_us * 1000);
          this.timerAlarm = this.clock.at(at, "timer", () => {
            this.timerAlarm = null;
            this.raise("timer");
          });
        }
        this.setDeadline();
      },
      irq_mask_pfail: (masked: number) => {
        this.enter(gen);
        const was = this.pfailMasked ? 1 : 0;
        this.pfailMasked = masked !== 0;
        this.setDeadline();
        return was;
      },
      entropy: () => { this.live(gen); return this.entropy.u32() | 0; },
    };
  }

  /** The calls in which the firmware waits or yields: the meter's tick, idle and the
   * busy-wait, for the MCU that has the clock to itself. */
  private waitImports(gen: number): Record<string, HalFunction> {
    return {
      meter_tick: (_cycles: bigint) => { this.enter(gen); this.resume(); },
      idle: () => {
        this.enter(gen);
        if (this.eventFlag && !this.dispatchable()) {
          this.eventFlag = false;
          this.resume();
          return;
        }
        for (let spins = 0; !this.dispatchable(); spins++) {
          if (this.shouldStop()) throw new StopRun();
          // A live host (holdup serve) may block here for its network, and submit.
          if (this.onIdleWait) {
            this.onIdleWait();
            if (this.dispatchable() || this.shouldStop()) continue;
          }
          if (!this.clock.runNext()) throw new Error("deadlock: the firmware idles and nothing is scheduled (a stall, not a trap)");
          if (spins > IDLE_SPINS_MAX) throw new Error("board: idle spun too long");
        }
        this.resume();
        this.eventFlag = false;
      },
      delay_us: (delay_us: number) => {
        this.enter(gen);
        // A busy-wait: interrupts that come due meanwhile run at their time, as they
        // would preempt the loop on the MCU.
        const end = this.clock.now_ns + Math.max(0, delay_us) * 1000;
        for (let guard = 0; this.clock.now_ns < end && guard < DELAY_STEPS_MAX; guard++) {
          this.clock.advanceTo(Math.min(end, this.clock.nextAt_ns()));
          if (this.dispatchable()) this.resume();
        }
        this.setDeadline();
      },
    };
  }
}
