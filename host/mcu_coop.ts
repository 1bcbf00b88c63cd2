// Several MCUs on one clock (the pair of controllers, docs/BOARD.md "Two controllers").
//
// Each runs build/firmware.coop.wasm: the metered build passed through binaryen's
// asyncify (host/meter/coop.ts), so that its main() and its interrupt handlers can be
// suspended inside the three calls in which firmware waits or yields (the meter's tick,
// idle, delay_us) and resumed later, exactly where they were. Only one MCU's code is on
// the JS stack at a time; the scheduler (CoopScheduler) runs the one furthest behind.
//
// Time. Each MCU keeps its own time (local_ns): its boot, plus its cycles, plus the
// waits it slept through. The clock follows the MCU that runs: its cycles bring the
// clock up to its time (running the alarms due on the way, any MCU's), and the MCU
// yields at the next tick once it is more than `skew_ns` ahead of another MCU that could
// run. So two busy MCUs never drift more than skew_ns (plus one basic block) apart, and
// an MCU that runs behind the clock acts at the clock's time, at most skew_ns late.
//
// A suspension saves the whole nest of frames: main, and the handlers running above it
// (levels strictly rise, so at most four). Each frame's stack goes into its own buffer
// in the memory map's stack region, which the firmware never uses (assembly/layout.ts:
// --runtime stub emits no shadow stack). Resuming rewinds main, whose suspended call
// re-runs the handler it was in, and so on up to the innermost call.
//
// With one MCU the order of everything is the same as without this file: the same
// cycles, trace and results (tests/coop.test.ts checks it, suspending at every tick).

import type { VirtualClock } from "./clock.js";
import { IRQ, IRQ_STORM_MAX } from "./mcu.js";
import type { Mcu, PendingIrq, HalFunction } from "./mcu.js";
import type { CoopScheduler } from "./coop_scheduler.js";

export { CoopScheduler } from "./coop_scheduler.js";

// asyncify_get_state: 0 normal, 1 unwinding, 2 rewinding.
const UNWINDING = 1, REWINDING = 2;

/** The buffers of suspended frames: the map's stack region (assembly/layout.ts
 * stack_base, 8 KiB), one per depth of nesting. */
export const COOP_STACK_BASE = 0x1E000;
export const COOP_STACK_BYTES = 2048;
/** main and three handler levels (doorbell/timer, scsi, pfail). */
export const COOP_DEPTH_MAX = 4;

interface AsyncifyExports {
  asyncify_start_unwind(addr: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(addr: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}

type Phase = "tick" | "idle-fast" | "idle-wait" | "idle-dispatch" | "delay";

interface Frame {
  phase: Phase;
  depth: number;
  /** This frame's call was running the handler of the frame above it. */
  dispatching: boolean;
  /** The interrupt whose handler this frame is (null: main). */
  entry: PendingIrq | null;
  delayEnd_ns: number;
}

/** What the scheduler needs of each MCU. */
export interface CoopMember {
  readonly coop: McuCoop;
  /** Boot or resume the firmware; returns once it is suspended again or off. */
  step(): void;
  /** It has power and is not waiting: a boot, a yield, or a wait that has ended. */
  runnable(): boolean;
  /** The run's stop condition, checked at the MCU's ticks (Mcu.beginRun). */
  beginRun(stop: () => boolean): void;
  /** Whether it could run at all (power, not hung): else it waits for nothing here. */
  live(): boolean;
}

export type CoopStatus = "off" | "running" | "yielded" | "idle" | "delay";

export class McuCoop {
  local_ns = 0;
  status: CoopStatus = "off";
  /** An idle MCU that an interrupt woke. */
  private woken = false;
  /** A busy-waiting MCU's next look: its end, or the alarm after which it checks. */
  wakeAt_ns = Infinity;
  private frames: Frame[] = [];
  private depth = 0;
  private entries: Array<PendingIrq | null> = [null];
  private rewindDepth = 0;
  /** Suspend at every tick (the test of this file). */
  yieldEveryTick = false;
  /** The deepest a saved stack went, bytes (a buffer holds COOP_STACK_BYTES − 8). */
  stackPeak = 0;
  suspensions = 0;

  constructor(private readonly mcu: Mcu, private readonly clock: VirtualClock,
    readonly sched: CoopScheduler) {}

  private get fw(): AsyncifyExports {
    const fw = this.mcu.fw as unknown as AsyncifyExports | null;
    if (!fw || typeof fw.asyncify_get_state !== "function") {
      throw new Error("board: a cooperating MCU needs the coop build (build/firmware.coop.wasm)");
    }
    return fw;
  }

  /** Calls into the firmware from the host's code (a status export, the mailbox's
   * address) under way: nothing suspends inside one, since its caller is not the
   * scheduler. */
  private foreign = 0;

  /** The instance's exports, each status export counted as a foreign call. */
  wrap<T extends object>(exports: T): T {
    const out: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(exports)) {
      const own = name === "main" || name.startsWith("irq_") || name.startsWith("asyncify_") || name.startsWith("__meter");
      out[name] = typeof v !== "function" || own ? v : (...a: unknown[]) => {
        this.foreign++;
        try { return (v as (...x: unknown[]) => unknown)(...a); } finally { this.foreign--; }
      };
    }
    return out as T;
  }

  /** A new instance starts (Mcu.start). */
  boot(): void {
    this.local_ns = Math.max(this.local_ns, this.clock.now_ns);
    this.status = "running";
    this.frames = [];
    this.depth = 0;
    this.rewindDepth = 0;
    this.woken = false;
    this.foreign = 0;
    this.advancing = false;
  }

  off(): void {
    this.status = "off";
    this.frames = [];
    this.depth = 0;
  }

  /** An interrupt was raised: an idle MCU that can take it wakes now, and one in a
   * busy-wait goes on now (it takes the interrupt and waits out the rest), as the loop
   * on the MCU would be preempted. A raise from a clock alarm would be seen at that
   * alarm anyway; one from another MCU's time (its link's carrier lost when its
   * supply fails) would otherwise wait for the end of the busy-wait. */
  raised(): void {
    if (!this.mcu.dispatchable()) return;
    if (this.status === "idle" && !this.woken) {
      this.woken = true;
      this.local_ns = Math.max(this.local_ns, this.clock.now_ns);
    } else if (this.status === "delay") this.wakeAt_ns = Math.min(this.wakeAt_ns, Math.max(this.local_ns, this.clock.now_ns));
  }

  /** Its cycles ran: its time moves, and the clock with it. */
  ran(delay_ns: number): void {
    const running = this.sched.current;
    // Several MCUs: a status call while this one is not running moves no clock (its
    // cycles are counted; it is not on the CPU's time line now).
    if (running !== this && !this.advancing && this.sched.members.length > 1) return;
    if (this.advancing || running === null) {
      // A call from an alarm that this MCU's own time is running (the mailbox asks
      // for its address), or from the host while no MCU runs: as on a board alone.
      this.clock.advanceBy(delay_ns);
      return;
    }
    // A status call from the host while another MCU runs: that one has the clock.
    if (running !== this) return;
    this.local_ns += delay_ns;
    if (this.local_ns <= this.clock.now_ns) return;
    this.advancing = true;
    try {
      this.clock.advanceTo(this.local_ns);
    } finally {
      this.advancing = false;
    }
    this.local_ns = this.clock.now_ns;
  }

  /** The MCU's time as its code sees it: its own while it runs, else (a call from an
   * alarm or from the host) the clock's. */
  get now_ns(): number {
    return this.sched.current === this && !this.advancing ? this.local_ns : this.clock.now_ns;
  }

  /** The clock is running alarms up to this MCU's time. */
  private advancing = false;

  /** Suspended and able to go on now. */
  ready(): boolean {
    if (this.status === "yielded") return true;
    if (this.status === "idle") return this.woken;
    if (this.status === "delay") return this.clock.now_ns >= this.wakeAt_ns;
    return false;
  }

  /** The time this MCU is at or will be at when it can next run (for the others' skew). */
  get runsAt_ns(): number {
    if (this.status === "delay") return Math.max(this.local_ns, this.wakeAt_ns);
    if (this.status === "off" || this.status === "idle" && !this.woken) return Infinity;
    return this.local_ns;
  }

  /** Where this MCU's cycles must stop to let another catch up (Mcu.setDeadline). */
  horizon_ns(): number { return this.sched.horizonFor(this); }

  // ---- the scheduler's side ---------------------------------------------------------

  /** Rewind the suspended nest (main first) and run on. */
  resume(main: () => void): void {
    const fw = this.fw;
    if (this.status === "delay") this.local_ns = Math.max(this.local_ns, this.wakeAt_ns);
    this.status = "running";
    this.woken = false;
    this.rewindDepth = 0;
    this.depth = 0;
    fw.asyncify_start_rewind(this.buffer(0));
    main();
  }

  /** main() came back: it unwound (suspended), or it returned, which it never does. */
  unwound(): boolean {
    const fw = this.fw;
    if (fw.asyncify_get_state() !== UNWINDING) return false;
    fw.asyncify_stop_unwind();
    return true;
  }

  // ---- the firmware's side: the three calls that may suspend ----------------------------

  imports(gen: number): Record<string, HalFunction> {
    return {
      meter_tick: (_cycles: bigint) => this.tick(gen),
      idle: () => this.idle(gen),
      delay_us: (delay_us: number) => this.delay(gen, delay_us),
    };
  }

  private tick(gen: number): void {
    if (this.foreign) {
      // Inside a call from the host's code: as on an MCU alone, handlers run nested;
      // but beside other MCUs only while this one runs: otherwise its interrupts wait
      // for its turn (a handler run from another's time could end this instance, say a
      // save that finishes, under the caller's feet).
      this.mcu.enter(gen);
      if (this.sched.current === this || this.sched.members.length === 1) this.mcu.dispatchNested();
      this.mcu.setDeadline();
      return;
    }
    const f = this.enterCall(gen);
    if (f?.dispatching && !this.rerun(f)) return;
    if (!f && this.yieldNow()) return this.suspend("tick", false, 0);
    if (!this.dispatchAll("tick", 0)) return;
    this.mcu.setDeadline();
  }

  private idle(gen: number): void {
    const mcu = this.mcu;
    if (this.foreign) return this.nestedWait(gen, Infinity);
    const f = this.enterCall(gen);
    let phase: Phase;
    if (f) {
      if (f.dispatching && !this.rerun(f)) return;
      phase = f.phase;
    } else if (mcu.eventFlag && !mcu.dispatchable()) {
      mcu.eventFlag = false;
      phase = "idle-fast";
    } else phase = "idle-wait";
    if (phase === "idle-wait") {
      if (!mcu.dispatchable()) return this.suspend("idle-wait", false, 0);
      phase = "idle-dispatch";
    }
    if (!this.dispatchAll(phase, 0)) return;
    mcu.setDeadline();
    if (phase === "idle-dispatch") mcu.eventFlag = false;
  }

  /** A busy-wait: it looks again at each alarm and at its end, and takes interrupts
   * that come due meanwhile, as the loop on the MCU would be preempted. */
  private delay(gen: number, delay_us: number): void {
    const mcu = this.mcu;
    if (this.foreign) return this.nestedWait(gen, this.clock.now_ns + Math.max(0, delay_us) * 1000);
    const f = this.enterCall(gen);
    let end: number;
    if (f) {
      end = f.delayEnd_ns;
      if (f.dispatching && !this.rerun(f)) return;
      if (f.dispatching && !this.dispatchAll("delay", end)) return;
      if (!f.dispatching && mcu.dispatchable() && !this.dispatchAll("delay", end)) return;
    } else end = mcu.now_ns + Math.max(0, delay_us) * 1000;
    for (let guard = 0; mcu.now_ns < end; guard++) {
      if (guard > IRQ_STORM_MAX) throw new Error("board: a busy-wait that does not move");
      const next = this.clock.nextAt_ns();
      if (next > this.clock.now_ns) {
        this.wakeAt_ns = Math.min(end, next);
        return this.suspend("delay", false, end);
      }
      // An alarm due now (another MCU set it at the clock's time): it runs first, as
      // the loop on a board alone would run it.
      this.clock.advanceTo(this.clock.now_ns);
      if (mcu.dispatchable() && !this.dispatchAll("delay", end)) return;
    }
    mcu.setDeadline();
  }

  /** idle or delay_us inside a call from the host's code (a handler that a status
   * export's tick ran, such as a save polling the EEPROM): nothing can be suspended
   * there, so the clock moves on here, as on a board alone, until `end` or (idle) an
   * interrupt is taken. */
  private nestedWait(gen: number, end: number): void {
    const mcu = this.mcu;
    mcu.enter(gen);
    for (let guard = 0; guard < IRQ_STORM_MAX * 100; guard++) {
      if (mcu.dispatchable()) {
        mcu.dispatchNested();
        if (end === Infinity) break;
      }
      if (this.clock.now_ns >= end) break;
      const next = Math.min(end, this.clock.nextAt_ns());
      if (next === Infinity) throw new Error("deadlock: the firmware idles in a host call and nothing is scheduled");
      this.clock.advanceTo(next);
    }
    mcu.setDeadline();
  }

  private yieldNow(): boolean {
    return this.yieldEveryTick || this.mcu.shouldStop() || this.sched.someoneBehind(this);
  }

  /** A call begins: fresh (the clock catches up), or the rewind of a suspended frame. */
  private enterCall(gen: number): Frame | null {
    const fw = this.fw;
    if (fw.asyncify_get_state() !== REWINDING) {
      this.mcu.enter(gen);
      return null;
    }
    fw.asyncify_stop_rewind();
    this.mcu.live(gen);
    const f = this.frames[this.rewindDepth++];
    if (!f || f.depth !== this.depth) throw new Error("board: coop rewind lost its frames");
    return f;
  }

  /** Run pending handlers, highest first. False if one suspended (this frame then
   * suspends too, and the caller returns at once). */
  private dispatchAll(phase: Phase, delayEnd_ns: number): boolean {
    for (let guard = 0; guard < IRQ_STORM_MAX; guard++) {
      const i = this.mcu.nextIrq();
      if (i < 0) return true;
      if (!this.runHandler(this.mcu.takeIrq(i), false)) {
        this.suspend(phase, true, delayEnd_ns);
        return false;
      }
    }
    throw new Error("board: interrupt storm");
  }

  /** Call a handler (or rewind one). False if it suspended. */
  private runHandler(irq: PendingIrq, rewind: boolean): boolean {
    const mcu = this.mcu, fw = this.fw;
    const saved = mcu.irqLevel;
    mcu.irqLevel = IRQ[irq.name];
    this.depth++;
    if (this.depth >= COOP_DEPTH_MAX) throw new Error("board: coop handlers nest too deep");
    this.entries[this.depth] = irq;
    if (rewind) fw.asyncify_start_rewind(this.buffer(this.depth));
    mcu.callHandler(irq);
    this.depth--;
    mcu.irqLevel = saved;
    if (fw.asyncify_get_state() === UNWINDING) {
      fw.asyncify_stop_unwind();
      return false;
    }
    return true;
  }

  /** Frame f was running the handler above it: rewind that one. False if it suspended
   * again (so has f). */
  private rerun(f: Frame): boolean {
    const inner = this.frames[f.depth + 1];
    if (!inner?.entry) throw new Error("board: coop rewind lost a handler");
    if (this.runHandler(inner.entry, true)) return true;
    this.suspend(f.phase, true, f.delayEnd_ns);
    return false;
  }

  private suspend(phase: Phase, dispatching: boolean, delayEnd_ns: number): void {
    const fw = this.fw;
    if (!dispatching) {
      // The innermost frame: what it waits for is the MCU's state.
      this.frames.length = this.depth + 1;
      this.status = phase === "tick" ? "yielded" : phase === "delay" ? "delay" : "idle";
      this.woken = false;
      this.suspensions++;
    }
    this.frames[this.depth] = { phase, depth: this.depth, dispatching, entry: this.entries[this.depth], delayEnd_ns };
    const base = this.buffer(this.depth);
    const v = new DataView(this.mcu.mem.buffer);
    v.setUint32(base, base + 8, true);
    v.setUint32(base + 4, base + COOP_STACK_BYTES, true);
    fw.asyncify_start_unwind(base);
    this.unwinding.push(base);
  }

  /** Buffers being filled by the unwind under way: their peaks are read at the end. */
  private unwinding: number[] = [];

  /** After an unwind: how deep each buffer went. */
  notePeaks(): void {
    const v = new DataView(this.mcu.mem.buffer);
    for (const base of this.unwinding) this.stackPeak = Math.max(this.stackPeak, v.getUint32(base, true) - base - 8);
    this.unwinding = [];
  }

  private buffer(depth: number): number { return COOP_STACK_BASE + depth * COOP_STACK_BYTES; }
}
