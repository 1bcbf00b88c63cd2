// A logic-analyzer trace of the board: the signals a probe on the real board would
// show, as a VCD file (IEEE 1364 §18) that PulseView, sigrok-cli and GTKWave open.
//
// Variables: PFAIL#, SUPPLY (1: good), VCAP (the cap's voltage, a real), the SPI bus
// bit by bit (CS#, SCK, MOSI, MISO: mode 0, MSB first, at the board's SPI clock), one
// phase per SCSI target (an integer: 0 bus free, 1 command and data out, 2 the target
// working, 3 data in and status), the interrupt lines (1 while the interrupt is
// pending, until its handler runs), the MCU's power (1: running) and the firmware's
// state (FWSTATE, an integer written as a real value, as are the SCSI phases: 0 off, 1 running, 2 saving (PFAIL# low), 3 save done, the cap
// disconnected) beside the code of its last log event (FWLOG, abi/abi.json).
//
// The recorder only listens: attaching it changes no cycle, event or trace hash.
// Changes outside [from, to) are dropped, and the state at `from` is dumped there.

import { writeFileSync } from "node:fs";

/** What the board tells a probe. Times are virtual ns. */
export interface BoardProbe {
  spiSelect(t: number, selected: boolean): void;
  spiByte(t: number, byte_ns: number, mosi: number, miso: number): void;
  supply(t: number, good: boolean): void;
  pfail(t: number, level: number): void;
  mcuPower(t: number, on: boolean): void;
  saveDone(t: number): void;
  irq(t: number, name: string, pending: boolean): void;
  scsiPhase(t: number, target: number, phase: number): void;
  log(t: number, code: number): void;
}

/** The window of `--vcd-from MS --vcd-to MS` (either may be left out), or the first
 * save when neither is given. */
export function vcdWindow(from_ms?: number, to_ms?: number): VcdWindow {
  if (from_ms === undefined && to_ms === undefined) return { from_ns: Infinity, to_ns: Infinity, first_save: true };
  return { from_ns: (from_ms ?? 0) * 1e6, to_ns: to_ms === undefined ? Infinity : to_ms * 1e6 };
}

/** SCSI phases as FWSTATE-like integers (see the header). */
export const SCSI_PHASE = { FREE: 0, COMMAND: 1, BUSY: 2, STATUS: 3 } as const;

const IRQS = ["pfail", "doorbell", "scsi", "timer"] as const;
/** The trace's time unit: SCK edges at 20 MHz fall on it (one bit = 5 units). */
const TIMESCALE_NS = 10;
/** VCAP is written at most this often (it changes smoothly). */
const VCAP_EVERY_NS = 100_000;

interface Var { id: string; name: string; kind: "wire" | "real" | "integer"; scope: string; value: string }

/** The span kept, in virtual ns. `first_save`: from the first supply failure while
 * the MCU runs to 1 ms after the MCU stops (or its cap is disconnected) after it: one
 * whole save, the default, small enough for sigrok-cli to decode in seconds. */
export interface VcdWindow { from_ns: number; to_ns: number; first_save?: boolean }

/** After the MCU stops, the first-save window keeps this much more. */
const FIRST_SAVE_TAIL_NS = 1e6;

export class VcdRecorder implements BoardProbe {
  private readonly vars = new Map<string, Var>();
  private readonly out: string[] = [];
  private lastT = -1;
  private dumped = false;
  private state = { on: false, pfail: 1, saved: false };
  private lastCap_ns = -Infinity;
  private scsiBusy = new Map<number, number>();
  /** Changes kept (for the size check of a trace). */
  changes = 0;

  constructor(readonly window: VcdWindow, targets: number) {
    this.add("board", "PFAIL#", "wire", "1");
    this.add("board", "SUPPLY", "wire", "1");
    this.add("board", "VCAP", "real", "0");
    this.add("board", "MCU_ON", "wire", "0");
    this.add("spi", "CS#", "wire", "1");
    this.add("spi", "SCK", "wire", "0");
    this.add("spi", "MOSI", "wire", "0");
    this.add("spi", "MISO", "wire", "0");
    for (let t = 0; t < targets; t++) this.add("scsi", `target${t}`, "integer", "0");
    for (const n of IRQS) this.add("irq", `IRQ_${n.toUpperCase()}`, "wire", "0");
    this.add("fw", "FWSTATE", "integer", "0");
    this.add("fw", "FWLOG", "integer", "0");
  }

  private add(scope: string, name: string, kind: Var["kind"], value: string): void {
    const n = this.vars.size;
    // Identifiers: letters only. VCD allows any printable ASCII (§18.2.1), but a
    // tokenizer that sees '#' or '$' first takes them for a time or a keyword.
    const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let id = "", k = n;
    do { id += letters[k % letters.length]; k = Math.floor(k / letters.length); } while (k > 0);
    this.vars.set(name, { id, name, kind, scope, value });
  }

  private fmt(v: Var, value: string): string {
    if (v.kind === "wire") return `${value}${v.id}`;
    // Integers are written as real values: sigrok 0.5 (Debian 12's sigrok-cli) skips a
    // real value but stops reading the file at the first vector ("b101"), and GTKWave
    // and PulseView show a real as the number it is.
    return `r${value} ${v.id}`;
  }

  /** Changes due later than the event that made them (a SCSI phase's end). */
  private pending: Array<{ t: number; name: string; value: string }> = [];

  /** Set a variable at t (ns). */
  private set(t: number, name: string, value: string): void {
    while (this.pending.length && this.pending[0].t <= t) {
      const p = this.pending.shift()!;
      this.apply(p.t, p.name, p.value);
    }
    if (this.pending.length) this.pending = this.pending.filter((p) => p.name !== name);
    if (this.capVolts && t - this.lastCap_ns >= VCAP_EVERY_NS) {
      this.lastCap_ns = t;
      this.apply(t, "VCAP", this.capVolts(t).toFixed(4));
    }
    this.apply(t, name, value);
  }

  /** The cap's voltage at t, sampled with the other signals' changes. */
  capVolts: ((t: number) => number) | null = null;

  private later(t: number, name: string, value: string): void {
    this.pending.push({ t, name, value });
    this.pending.sort((a, b) => a.t - b.t);
  }

  private apply(t: number, name: string, value: string): void {
    const v = this.vars.get(name)!;
    if (v.value === value) return;
    v.value = value;
    if (t < this.window.from_ns || t >= this.window.to_ns) return;
    if (!this.dumped) this.dumpAt(this.window.from_ns);
    const tick = Math.max(this.lastT, Math.round(t / TIMESCALE_NS));
    if (tick !== this.lastT) { this.out.push(`#${tick}`); this.lastT = tick; }
    this.out.push(this.fmt(v, value));
    this.changes++;
  }

  /** Every variable's value at the window's start (set() calls it once). */
  private dumpAt(t: number): void {
    this.dumped = true;
    const tick = Math.round(t / TIMESCALE_NS);
    this.out.push(`#${tick}`, "$dumpvars");
    for (const v of this.vars.values()) this.out.push(this.fmt(v, v.value));
    this.out.push("$end");
    this.lastT = tick;
  }

  private fwState(t: number): void {
    const s = !this.state.on ? 0 : this.state.saved ? 3 : this.state.pfail === 0 ? 2 : 1;
    this.set(t, "FWSTATE", String(s));
  }

  spiSelect(t: number, selected: boolean): void {
    this.set(t, "CS#", selected ? "0" : "1");
    if (!selected) this.set(t, "SCK", "0");
  }

  spiByte(t: number, byte_ns: number, mosi: number, miso: number): void {
    if (t + byte_ns < this.window.from_ns || t >= this.window.to_ns) return;
    const bit = byte_ns / 8;
    for (let i = 0; i < 8; i++) {
      const b0 = t + i * bit;
      // Mode 0: data changes while SCK is low, is sampled on the rising edge.
      this.set(b0, "SCK", "0");
      this.set(b0, "MOSI", String((mosi >> (7 - i)) & 1));
      this.set(b0, "MISO", String((miso >> (7 - i)) & 1));
      this.set(b0 + bit / 2, "SCK", "1");
    }
    this.set(t + byte_ns, "SCK", "0");
  }

  supply(t: number, good: boolean): void {
    const w = this.window;
    if (w.first_save && !good && this.state.on && w.from_ns === Infinity) w.from_ns = t;
    this.set(t, "SUPPLY", good ? "1" : "0");
  }
  pfail(t: number, level: number): void { this.set(t, "PFAIL#", String(level)); this.state.pfail = level; if (level) this.state.saved = false; this.fwState(t); }
  mcuPower(t: number, on: boolean): void {
    const w = this.window;
    this.set(t, "MCU_ON", on ? "1" : "0");
    if (w.first_save && !on && w.from_ns <= t && w.to_ns === Infinity) w.to_ns = t + FIRST_SAVE_TAIL_NS;
    this.state.on = on;
    if (on) this.state.saved = false;
    this.fwState(t);
    if (!on) for (const n of IRQS) this.set(t, `IRQ_${n.toUpperCase()}`, "0");
  }
  saveDone(t: number): void { this.state.saved = true; this.fwState(t); }
  irq(t: number, name: string, pending: boolean): void { this.set(t, `IRQ_${name.toUpperCase()}`, pending ? "1" : "0"); }
  scsiPhase(t: number, target: number, phase: number): void {
    if (!this.vars.has(`target${target}`)) return;
    // Several tagged commands on one target: BUSY while any is out.
    let busy = this.scsiBusy.get(target) ?? 0;
    if (phase === SCSI_PHASE.COMMAND) busy++;
    if (phase === SCSI_PHASE.STATUS) busy = Math.max(0, busy - 1);
    this.scsiBusy.set(target, busy);
    this.set(t, `target${target}`, String(phase));
    const after = busy > 0 ? SCSI_PHASE.BUSY : SCSI_PHASE.FREE;
    this.later(t + TIMESCALE_NS, `target${target}`, String(after));
  }
  log(t: number, code: number): void { this.set(t, "FWLOG", String(code)); }

  /** The whole file. */
  text(): string {
    const head = [
      "$version holdup board emulator $end",
      `$timescale ${TIMESCALE_NS}ns $end`,
    ];
    const scopes = new Map<string, Var[]>();
    for (const v of this.vars.values()) scopes.set(v.scope, [...(scopes.get(v.scope) ?? []), v]);
    for (const [scope, vs] of scopes) {
      head.push(`$scope module ${scope} $end`);
      for (const v of vs) head.push(v.kind === "wire" ? `$var wire 1 ${v.id} ${v.name} $end` : `$var real 64 ${v.id} ${v.name} $end`);
      head.push("$upscope $end");
    }
    head.push("$enddefinitions $end");
    for (const p of this.pending.splice(0)) this.apply(p.t, p.name, p.value);
    if (!this.dumped) this.dumpAt(Number.isFinite(this.window.from_ns) ? this.window.from_ns : 0);
    return `${head.join("\n")}\n${this.out.join("\n")}\n`;
  }

  write(file: string): void { writeFileSync(file, this.text()); }
}
