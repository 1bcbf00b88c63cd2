// One virtual clock for the whole board: time in nanoseconds as a JS number (a
// double: not always a whole number of ns, since a cycle is 6.25 ns and seek times are
// fractions of a ms, but IEEE arithmetic is deterministic, so the same run gives the
// same times bit for bit), with a list of alarms kept in time order. Modelled on rp2040js's SimulationClock:
// the clock is set to an alarm's time before its callback runs, and a waiting CPU
// jumps straight to the next alarm. Absolute times are named at_ns, deltas delay_ns.

export interface Alarm {
  readonly at_ns: number;
  readonly name: string;
  /** Insertion order: alarms at the same instant run in the order they were set. */
  readonly seq: number;
  cancelled: boolean;
  readonly fn: () => void;
}

export class VirtualClock {
  private now = 0;
  private heap: Alarm[] = [];
  private seq = 0;

  get now_ns(): number { return this.now; }

  /** Set an alarm at an absolute time (not before now). */
  at(at_ns: number, name: string, fn: () => void): Alarm {
    if (!(at_ns >= this.now)) throw new Error(`clock: alarm ${name} at ${at_ns} is before now ${this.now}`);
    const alarm: Alarm = { at_ns, name, seq: this.seq++, cancelled: false, fn };
    this.push(alarm);
    return alarm;
  }

  /** Set an alarm delay_ns from now. */
  after(delay_ns: number, name: string, fn: () => void): Alarm {
    if (!(delay_ns >= 0)) throw new Error(`clock: negative delay ${delay_ns} for ${name}`);
    return this.at(this.now + delay_ns, name, fn);
  }

  cancel(alarm: Alarm | null | undefined): void {
    if (alarm) alarm.cancelled = true;
  }

  /** Time of the next live alarm, or Infinity. */
  nextAt_ns(): number {
    this.dropCancelled();
    return this.heap.length ? this.heap[0].at_ns : Infinity;
  }

  /** Advance to at_ns, running every alarm due on the way at its own time. An alarm
   * callback may throw (a brown-out ends execution): time then stays at that alarm. */
  advanceTo(at_ns: number): void {
    if (at_ns < this.now) throw new Error(`clock: advanceTo ${at_ns} is in the past (${this.now})`);
    for (;;) {
      const next = this.nextAt_ns();
      if (next > at_ns) break;
      const alarm = this.pop()!;
      this.now = alarm.at_ns;
      alarm.fn();
    }
    this.now = at_ns;
  }

  advanceBy(delay_ns: number): void {
    this.advanceTo(this.now + delay_ns);
  }

  /** Jump to the next alarm and run it (and any others at that instant). Returns
   * false if there is none. */
  runNext(): boolean {
    const next = this.nextAt_ns();
    if (next === Infinity) return false;
    this.advanceTo(next);
    return true;
  }

  private dropCancelled(): void {
    while (this.heap.length && this.heap[0].cancelled) this.pop();
  }

  private less(a: Alarm, b: Alarm): boolean {
    return a.at_ns < b.at_ns || (a.at_ns === b.at_ns && a.seq < b.seq);
  }

  private push(a: Alarm): void {
    const h = this.heap;
    h.push(a);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Alarm | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
