// The scheduler of several MCUs on one clock (mcu_coop.ts has how each is suspended and
// resumed): it runs the MCU furthest behind, tells a running one when another is more
// than skew_ns behind it (it then yields at its next tick), and when every MCU waits it
// moves the clock to the next alarm or the next end of a busy-wait.

import type { VirtualClock } from "./clock.js";
import type { CoopMember, McuCoop } from "./mcu_coop.js";

/** How far one running MCU may get ahead of another that could run. */
export const DEFAULT_SKEW_NS = 20_000;

/** Runs several MCUs on one clock, the one furthest behind first. */
export class CoopScheduler {
  readonly members: CoopMember[] = [];
  /** The MCU whose code is on the stack (Board.step), or null. */
  current: McuCoop | null = null;

  constructor(readonly clock: VirtualClock, readonly skew_ns = DEFAULT_SKEW_NS) {}

  add(m: CoopMember): void { this.members.push(m); }

  /** Where a member is in time: now if it can run (a boot: the clock's time), or when
  * it will be able to. */
  private timeOf(m: CoopMember): number {
    if (m.runnable()) return m.coop.status === "off" ? this.clock.now_ns : m.coop.local_ns;
    return m.live() ? m.coop.runsAt_ns : Infinity;
  }

  /** Another MCU that could run is more than skew_ns behind `me`. */
  someoneBehind(me: McuCoop): boolean {
    for (const m of this.members) {
      if (m.coop !== me && m.runnable() && this.timeOf(m) + this.skew_ns < me.local_ns) return true;
    }
    return false;
  }

  horizonFor(me: McuCoop): number {
    let h = Infinity;
    for (const m of this.members) if (m.coop !== me) h = Math.min(h, this.timeOf(m) + this.skew_ns);
    return h;
  }

  /** Run until `done()` or the clock passes limit_ns. */
  run(done: () => boolean, limit_ns: number): void {
    const stop = () => done() || this.clock.now_ns > limit_ns;
    for (const m of this.members) m.beginRun(stop);
    while (!stop()) {
      let best: CoopMember | null = null, bestAt = Infinity;
      for (const m of this.members) {
        if (!m.runnable()) continue;
        const t = this.timeOf(m);
        if (t < bestAt) { best = m; bestAt = t; }
      }
      if (best) { best.step(); continue; }
      let next = this.clock.nextAt_ns();
      for (const m of this.members) {
        if (m.live() && m.coop.status === "delay" && m.coop.wakeAt_ns > this.clock.now_ns) next = Math.min(next, m.coop.wakeAt_ns);
      }
      if (next === Infinity) throw new Error("deadlock: every MCU waits and nothing is scheduled");
      this.clock.advanceTo(next);
    }
  }
}
