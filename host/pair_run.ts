// The pair's end-to-end run (issue 10): two controllers on a shelf of dual-ported disks,
// a multipath host driving a mixed workload through both, and one fault per event at a
// random instant: a controller's power cut (and back), its firmware hung (and going
// on), its I/O path hung, a partition (both links down), one link down, both
// controllers' power cut, lossy links (messages lost, duplicated, reordered, late,
// garbled).
// After each event the faults are undone, the pair settles, and
// every block ever written is read back through the host against the oracle. Every
// acknowledged write is also checked against the disks' reservations at that instant
// (split_brain), and the disks count the writes they refused a fenced controller
// (fenced_writes). Everything from one seed.

import { PairSystem } from "./pair.js";
import { noLinkFaults } from "./devices/link.js";
import { MultipathHost } from "./pair_host.js";
import { Oracle, BLOCK } from "./oracle.js";
import { Rng } from "./rng.js";
import { cdb } from "./scsi/spc.js";
import { FirmwareFault } from "./mcu.js";

/** The lossy fault's links (host/devices/link.ts). */
const LOSSY = { lossProb: 0.05, dupProb: 0.05, reorderProb: 0.05, reorder_ns: 300_000, extraDelay_ns: 50_000, garbleProb: 0.05 };

export const PAIR_FAULTS = ["cut", "hang", "io-hang", "partition", "link-down", "cut-both", "lossy"] as const;
export type PairFault = typeof PAIR_FAULTS[number];

/** The host's workload around each event. */
export interface PairLoad {
  /** The span of virtual time the event's fault is drawn from, ms; the workload runs
   * this long and 3.5 s more (time for the slowest detection, an I/O hang, under load). */
  window_ms: number;
  /** Blocks of each LUN the workload uses. */
  span_blocks: number;
  /** Host commands kept in flight during a window. */
  queue_depth: number;
  /** The host's pause after a command ends before it sends the next, ms (0: at once). */
  think_ms: number;
}

/** The default workload: four commands always in flight over 2,048 blocks a LUN. */
export const PAIR_LOAD: PairLoad = { window_ms: 1500, span_blocks: 2048, queue_depth: 4, think_ms: 0 };

export interface PairRunOptions extends PairLoad {
  seed: number;
  events: number;
  /** Fault kinds drawn from (default: all). */
  faults: PairFault[];
  disks: number;
}

export interface PairRunReport {
  seed: number;
  controllers: 2;
  events: number;
  faults: Record<string, number>;
  takeovers: number;
  givebacks: number;
  split_brain: number;
  fenced_writes: number;
  /** Mirror sessions started (each one a catch-up: docs/DESIGN.md). */
  mirror_catchups: number;
  /** Link messages the firmware dropped (a CRC or length that does not check). */
  link_msgs_dropped: number;
  mirroring: boolean;
  acked_writes: number;
  checked_blocks: number;
  lost_writes: number;
  corrupt_reads: number;
  detected_errors: number;
  traps: number;
  path_failovers: number;
  host_gave_up: number;
  virtual_ms: number;
  cycles: number;
  trace_hash: string;
  failures: string[];
  /** The first write errors the host saw (detected, reported), for the reader. */
  errors_seen: string[];
}

/** The firmware's counters the report sums over both controllers and every instance
 * (assembly/index.ts pair_stat). */
const STAT_TAKEOVERS = 0, STAT_GIVEBACKS = 1, STAT_CATCHUPS = 4, STAT_DROPPED = 6;
const SUMMED = [STAT_TAKEOVERS, STAT_GIVEBACKS, STAT_CATCHUPS, STAT_DROPPED];
const pairStat = (fw: Record<string, unknown> | null, i: number): number => (fw ? (fw.pair_stat as (i: number) => number)(i) : 0);

const DEFAULTS: PairRunOptions = { seed: 1, events: 10, faults: [...PAIR_FAULTS], disks: 4, ...PAIR_LOAD };
/** After a window, the pair has this long to settle (every LUN served by one side). */
const SETTLE_MS = 30_000;
/** The read-back after an event has this long. */
const VERIFY_MS = 300_000;

export function runPair(module: WebAssembly.Module, o: Partial<PairRunOptions> = {}): PairRunReport {
  return new PairRun(module, { ...DEFAULTS, ...o }).go();
}

export class PairRun {
  readonly pair: PairSystem;
  readonly host: MultipathHost;
  readonly oracle = new Oracle();
  readonly rng: Rng;
  private running = false;
  /** Counts the events' workload windows. */
  private window = 0;
  private outstanding = 0;
  private readonly faultCounts: Record<string, number> = {};
  private splitBrain = 0;
  private readonly failures: string[] = [];
  /** The first writes that failed, for the report. */
  readonly errorsSeen: string[] = [];

  constructor(module: WebAssembly.Module, readonly o: PairRunOptions) {
    this.pair = new PairSystem(module, { seed: o.seed, disks: o.disks });
    this.host = new MultipathHost(this.pair, 4);
    this.rng = new Rng(o.seed).fork("pair-run");
    this.oracle.now = () => this.pair.clock.now_ns;
  }

  go(): PairRunReport {
    let traps = 0;
    this.watchDisks();
    this.noteInstanceEnd();
    try {
      this.pair.runFor(1500);
      for (let e = 0; e < this.o.events; e++) this.event(e);
    } catch (err) {
      if (!(err instanceof FirmwareFault)) throw err;
      traps++;
      this.failures.push(`${(err as Error).message} (seed ${this.o.seed})`);
    }
    const s = this.oracle.stats;
    if (s.lost_writes || s.corrupt_reads) this.failures.push(...this.oracle.problems.slice(0, 5).map((m) => `${m} (seed ${this.o.seed})`));
    const conflicts = this.pair.shelf.reduce((n, d) => n + [...d.reservations.conflicts.values()].reduce((a, b) => a + b, 0), 0);
    return {
      seed: this.o.seed, controllers: 2, events: this.o.events, faults: this.faultCounts,
      takeovers: this.counted(STAT_TAKEOVERS), givebacks: this.counted(STAT_GIVEBACKS),
      split_brain: this.splitBrain, fenced_writes: conflicts,
      mirror_catchups: this.counted(STAT_CATCHUPS), mirroring: true,
      link_msgs_dropped: this.counted(STAT_DROPPED),
      acked_writes: s.acked_writes, checked_blocks: s.checked_blocks, lost_writes: s.lost_writes,
      corrupt_reads: s.corrupt_reads, detected_errors: s.detected_errors, traps,
      path_failovers: this.host.stats.failovers, host_gave_up: this.host.stats.gave_up,
      virtual_ms: Math.round(this.pair.clock.now_ns / 1e3) / 1e3,
      cycles: this.pair.boards.reduce((n, b) => n + b.cyclesTotal, 0),
      trace_hash: this.pair.boards.map((b) => b.traceHash.toString(16).padStart(8, "0")).join(""),
      failures: this.failures,
      errors_seen: this.errorsSeen,
    };
  }

  /** The summed counters (pair_stat indices) of firmware instances that are gone (a
   * power cut ends an instance). */
  private readonly gone = new Map<number, number>(SUMMED.map((i) => [i, 0]));

  /** A summed counter: the instances gone, and both live ones. */
  private counted(i: number): number {
    return this.gone.get(i)! + this.pair.boards.reduce((n, b) => n + pairStat(b.firmware, i), 0);
  }

  private noteInstanceEnd(): void {
    this.pair.boards.forEach((b) => {
      const prev = b.onPowerLost;
      b.onPowerLost = () => {
        for (const i of SUMMED) this.gone.set(i, this.gone.get(i)! + pairStat(b.firmware, i));
        prev?.();
      };
    });
  }

  private event(e: number): void {
    const kind = this.o.faults[this.rng.int(this.o.faults.length)];
    this.faultCounts[kind] = (this.faultCounts[kind] ?? 0) + 1;
    const clock = this.pair.clock;
    const at = clock.now_ns + this.rng.int(this.o.window_ms) * 1e6;
    const k = this.rng.int(2);
    const [A, B] = this.pair.boards;
    const board = this.pair.boards[k];
    const undo_ms = 50 + this.rng.int(3000);
    switch (kind) {
      case "cut": board.cutPowerAt(at); board.restorePowerAt(at + undo_ms * 1e6); break;
      case "cut-both":
        A.cutPowerAt(at); B.cutPowerAt(at);
        A.restorePowerAt(at + undo_ms * 1e6); B.restorePowerAt(at + (undo_ms + this.rng.int(1000)) * 1e6);
        break;
      case "hang":
        clock.at(at, "firmware hangs", () => { board.hung = true; });
        clock.at(at + undo_ms * 1e6, "firmware goes on", () => { board.hung = false; });
        break;
      case "io-hang":
        clock.at(at, "I/O path hangs", () => { board.bus.hung = true; });
        clock.at(at + (2000 + undo_ms) * 1e6, "I/O path back", () => { board.bus.hung = false; });
        break;
      case "partition":
        clock.at(at, "partition", () => { for (const l of this.pair.links) l.setDown(true); });
        clock.at(at + undo_ms * 1e6, "partition heals", () => { for (const l of this.pair.links) l.setDown(false); });
        break;
      case "lossy": {
        // Both links, both ways: messages lost, duplicated, held back so that later
        // ones overtake them, late, and garbled (the firmware's CRC must drop them).
        const lossy = (on: boolean) => () => {
          for (const l of this.pair.links) for (const f of l.faults) {
            Object.assign(f, on ? LOSSY : { ...noLinkFaults(), down: f.down });
          }
        };
        clock.at(at, "links lossy", lossy(true));
        clock.at(at + undo_ms * 1e6, "links clean", lossy(false));
        break;
      }
      case "link-down": {
        const l = this.pair.links[this.rng.int(2)];
        clock.at(at, "link down", () => l.setDown(true));
        clock.at(at + undo_ms * 1e6, "link up", () => l.setDown(false));
        break;
      }
    }
    this.running = true;
    this.window++;
    for (let i = 0; i < this.o.queue_depth; i++) this.issue();
    const stopAt = clock.now_ns + (this.o.window_ms + 3500) * 1e6;
    this.pair.run(() => clock.now_ns >= stopAt, stopAt / 1e6);
    this.running = false;
    const settleBy = clock.now_ns + SETTLE_MS * 1e6;
    this.pair.run(() => this.outstanding === 0 && this.settled(), settleBy / 1e6);
    if (!this.settled()) this.failures.push(`event ${e} (${kind}): the pair did not settle in ${SETTLE_MS} ms (seed ${this.o.seed})`);
    const lost = this.oracle.stats.lost_writes + this.oracle.stats.corrupt_reads;
    this.verify();
    const now = this.oracle.stats.lost_writes + this.oracle.stats.corrupt_reads;
    if (now > lost) this.failures.push(`event ${e} (${kind} of ${"AB"[k]} at ${(at / 1e6).toFixed(3)} ms): ${now - lost} blocks lost or corrupt (seed ${this.o.seed})`);
  }

  /** Both controllers up and every LUN served by exactly one of them. */
  private settled(): boolean {
    const states = this.pair.boards.map((b) => b.firmware && b.live() ? b.firmware : null);
    if (states.some((s) => s === null)) return false;
    for (let lun = 0; lun < this.o.disks; lun++) {
      const served = states.filter((fw) => (fw!.pair_lun_alua as (l: number) => number)(lun) === 0).length;
      if (served !== 1) return false;
    }
    return true;
  }

  private issue(): void {
    if (!this.running) return;
    const lun = this.rng.int(this.o.disks);
    const n = 1 + this.rng.int(8);
    const lba = this.rng.int(this.o.span_blocks - n);
    this.outstanding++;
    const window = this.window;
    const next = () => {
      this.outstanding--;
      if (this.o.think_ms === 0) this.issue();
      else this.pair.clock.at(this.pair.clock.now_ns + this.o.think_ms * 1e6, "host thinks", () => {
        if (this.window === window) this.issue(); // not into the next event's window
      });
    };
    if (this.rng.chance(0.6)) this.write(lun, lba, n, next);
    else this.read(lun, lba, n, next);
  }

  private write(lun: number, lba: number, n: number, done: () => void): void {
    const { op, data } = this.oracle.begin(lun, lba, n, this.pair.clock.now_ns);
    this.host.submit(lun, cdb.rw10(true, lba, n), data, 0, (r) => {
      this.oracle.end(op, r.status === 0 ? "acked" : "unknown", this.pair.clock.now_ns);
      if (r.status !== 0 && !r.lost) {
        this.oracle.stats.detected_errors++;
        if (this.errorsSeen.length < 5) this.errorsSeen.push(`write lun ${lun} lba ${lba}: status ${r.status} ${r.sense ? `${r.sense.key}/${r.sense.asc.toString(16)}` : ""} path ${r.path}`);
      }
      done();
    });
  }

  private read(lun: number, lba: number, n: number, done: () => void): void {
    const sub = this.pair.clock.now_ns;
    this.host.submit(lun, cdb.rw10(false, lba, n), null, n * BLOCK, (r) => {
      if (r.status === 0) {
        for (let i = 0; i < n; i++) this.oracle.checkRead(lun, lba + i, r.data.subarray(i * BLOCK, (i + 1) * BLOCK), sub);
      }
      done();
    });
  }

  private watchDisks(): void {
    watchOwnership(this.pair, (msg) => {
      this.splitBrain++;
      if (this.failures.length < 20) this.failures.push(`${msg} (seed ${this.o.seed})`);
    });
  }

  /** Read every block written so far back through the host. */
  private verify(): void {
    const blocks = this.oracle.writtenBlocks().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let pending = 0;
    // Runs of consecutive blocks, up to 8 a command.
    for (let i = 0; i < blocks.length;) {
      const [lun, lba] = blocks[i];
      let n = 1;
      while (n < 8 && i + n < blocks.length && blocks[i + n][0] === lun && blocks[i + n][1] === lba + n) n++;
      pending++;
      this.read(lun, lba, n, () => { pending--; });
      i += n;
    }
    const by = this.pair.clock.now_ns + VERIFY_MS * 1e6;
    this.pair.run(() => pending === 0, by / 1e6);
    if (pending) this.failures.push(`read-back of ${pending} blocks did not finish (seed ${this.o.seed})`);
    this.oracle.beginEpoch();
  }
}

/** Every write a disk admits, the label's own too: the controller that sent it must
 * own the disk at that instant, by the disk's own label (the owner the last takeover
 * or giveback wrote: docs/SPEC.md "Disk label") or by its reservations (a takeover
 * writes the partner's mirrored blocks, then the label, after it preempted the
 * partner's key: the label's owner is no longer registered and the writer holds the
 * reservation). A label write by a controller the label no longer names (a giveback's
 * write landing after the partner took the LUN back) is caught too. Any other write is
 * split brain: `onSplit` hears it. */
export function watchOwnership(pair: PairSystem, onSplit: (msg: string) => void): void {
  pair.shelf.forEach((disk, lun) => {
    const labelLba = disk.p.blocks - 1;
    disk.onWrite = (initiator, lba, n) => {
      const label = disk.durable(labelLba);
      if (!label || label[448] !== 0x50 || label[449] !== 0x41 || label[450] !== 0x49 || label[451] !== 0x52) return;
      const owner = label[452] - 1;
      if (owner === initiator) return;
      const pr = disk.reservations;
      if (!pr.keys.has(owner) && pr.holder === initiator) return;
      onSplit(`split brain: controller ${"AB"[initiator]} wrote lun ${lun} lba ${lba}+${n} at ` +
        `${(pair.clock.now_ns / 1e6).toFixed(3)} ms while its label names ${"AB"[owner] ?? owner}`);
    };
  });
}
