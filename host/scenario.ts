// The end-to-end run: boot the firmware on the board, find its LUNs, drive a mixed
// workload through it, cut the power at a random instant (sometimes several dips in
// a row), let it come back, boot again, and read back every block ever written
// against the oracle. Repeat for each cut; at the end, flush every LUN and check the
// disks' media too. Everything happens in virtual time from one seed.

import { Board } from "./board.js";
import { VirtualClock } from "./clock.js";
import { CoopScheduler } from "./coop_scheduler.js";
import { HostAdapter, HostResult } from "./host.js";
import { Oracle } from "./oracle.js";
import { Rng } from "./rng.js";
import { Workload, WorkloadSpec, DEFAULT_WORKLOAD } from "./workload.js";
import { ArrayRun } from "./array_run.js";
import { ReadBack, retries_max } from "./readback.js";
import { ReadScope, fullAfterCut } from "./readback_scope.js";
import { probe } from "./run_probe.js";
import { cutAfterAck, cutWhenFull, planCut } from "./run_cuts.js";
import { cdb, STATUS } from "./scsi/spc.js";

export { DEFAULT_WORKLOAD };
export type { WorkloadSpec };

export { verdict } from "./run_report.js";
export type { RunOptions, CutContext, RunProgress, RunReport } from "./run_report.js";
import type { RunOptions, RunReport, CutContext } from "./run_report.js";

type Phase = "probe" | "reissue" | "verify" | "workload" | "cut" | "drain" | "off" | "final" | "done";

/** A run fails as stalled after this long without progress, and as too slow after
 * run_ms_per_cut for each cut (and one more) in all. */
const stall_ms = 180_000;
const run_ms_per_cut = 600_000;
/** A workload without a cut (`cuts` 0, or no write acknowledged before the last cut)
 * runs this long, at most uncut_runs_max times. */
const uncut_workload_ms = 1000;
const uncut_runs_max = 3;


export function runScenario(module: WebAssembly.Module, opts: RunOptions): RunReport {
  return new Run(module, opts).go();
}

export class Run {
  readonly w: WorkloadSpec;
  readonly board: Board;
  /** With opts.coop: the scheduler the board runs under. */
  readonly sched: CoopScheduler | null;
  readonly host: HostAdapter;
  readonly oracle = new Oracle();
  readonly rng: Rng;
  readonly faultRng: Rng;
  readonly work: Workload;
  /** Workloads run uncut (see afterVerify). */
  uncutRuns = 0;
  private phaseNow: Phase = "probe";
  /** Phase changes so far (progress, for the stall check). */
  private phaseChanges = 0;
  get phase(): Phase { return this.phaseNow; }
  set phase(p: Phase) {
    if (p !== this.phaseNow) this.phaseChanges++;
    this.phaseNow = p;
  }
  cutsDone = 0;
  rideThroughs = 0;
  recuts = 0;
  decisions = 0;
  reportedImageLosses = 0;
  deciding = false;
  lostSinceBoot = false;
  /** LUNs the host cannot use this boot (failed, or gone). */
  unavailable = new Set<number>();
  readonly reader: ReadBack;
  readonly array: ArrayRun;
  readonly scope: ReadScope;
  private bootsAtVerify = -1;
  private lunsAtVerify = "";

  constructor(module: WebAssembly.Module, readonly opts: RunOptions) {
    this.w = { ...DEFAULT_WORKLOAD, ...opts.workload };
    this.sched = opts.coop ? new CoopScheduler(new VirtualClock()) : null;
    this.board = new Board(module, { ...opts.board, seed: opts.seed }, this.sched?.clock, this.sched);
    this.board.coop.yieldEveryTick = opts.coop?.yieldEveryTick ?? false;
    this.host = new HostAdapter(this.board, this.w.queue_depth);
    this.rng = new Rng(opts.seed).fork("workload");
    this.faultRng = new Rng(opts.seed).fork("faults");
    this.work = new Workload(this.board, this.host, this.oracle, this.w, this.rng);
    this.reader = new ReadBack(this.board, this.host, this.oracle, this.w, this.unavailable);
    this.oracle.excuse = opts.excuse ?? null;
    this.oracle.now = () => this.board.now_ns;
    this.array = new ArrayRun(this.board, this.oracle, this.work);
    this.scope = new ReadScope(this.board, this.oracle, this.array.map.enabled ? this.array.map : null);
    this.oracle.diskFault = (lun, lba) => (this.board.disks[lun]?.misdirected ?? []).some(([a, b]) => a === lba || b === lba);
  }

  get ctx(): CutContext { return { board: this.board, rng: this.faultRng, cut: this.cutsDone, oracle: this.oracle }; }

  progress(): void {
    const s = this.oracle.stats;
    this.opts.onProgress?.({
      array: this.array.progressWord(),
      phase: this.phase, cut: this.cutsDone, cuts: this.opts.cuts, acked_writes: s.acked_writes,
      lost_writes: s.lost_writes, corrupt_reads: s.corrupt_reads, virtual_ms: this.board.now_ns / 1e6,
    });
  }

  /** Send a command, again after 5 ms while it answers BUSY (bounded); cb gets the
   * last answer. A command the controller took down with it is not retried. */
  send(lun: number, c: Uint8Array, dataIn: number, gen: number, cb: (r: HostResult) => void, tries = 0): void {
    this.host.submit(lun, c, null, dataIn, (r) => {
      if (gen !== this.board.generation || r.lost) return;
      if (r.status === STATUS.BUSY && tries < retries_max) {
        this.board.clock.after(5e6, "host retry", () => this.send(lun, c, dataIn, gen, cb, tries + 1));
        return;
      }
      cb(r);
    });
  }

  go(): RunReport {
    const b = this.board;
    this.hookPower();
    this.hookRecutEvents();
    this.opts.setup?.(b, this.oracle);
    const limit_ns = (this.opts.limit_ms ?? run_ms_per_cut * (this.opts.cuts + 1)) * 1e6;
    // A stall is a run that makes no progress (no write acknowledged, no block checked,
    // no phase or cut passed) for stall_ms of virtual time; a slow run is not one.
    let mark = -1, markAt_ns = 0, stalled = false;
    const noProgress = () => {
      const s = this.oracle.stats;
      const m = s.acked_writes + s.checked_blocks + this.cutsDone + this.phaseChanges; // each only grows
      if (m !== mark) { mark = m; markAt_ns = b.now_ns; }
      stalled = b.now_ns - markAt_ns > stall_ms * 1e6;
      return stalled;
    };
    try {
      const done = () => this.phase === "done" || noProgress();
      if (this.sched) this.sched.run(done, limit_ns);
      else b.run(done, limit_ns);
    } catch (e) {
      // Say where the host was: a stall of the host is not the firmware's fault.
      (e as Error).message += ` (host phase ${this.phase}, ${this.work.outstanding} commands out, ` +
        `${this.host.inFlight} in the adapter, cut ${this.cutsDone}/${this.opts.cuts})`;
      throw e;
    }
    if (stalled) throw new Error(`no progress for ${stall_ms} ms of virtual time (phase ${this.phase}, cut ${this.cutsDone}/${this.opts.cuts})`);
    if (this.phase !== "done") throw new Error(`run did not finish within ${limit_ns / 1e6} ms of virtual time (phase ${this.phase})`);
    return this.report();
  }

  // ---- probe: run_probe.ts ----------------------------------------------------------

  probe(gen: number): void { probe(this, gen); }

  // ---- verify: read back every block ever written ---------------------------------------

  /** After a controller power loss: ask the array which records it could not complete
   * (ARRAY STATUS) and re-issue the writes the host checkpointed for them, then read
   * everything back. */
  reissueReported(gen: number): void {
    if (!this.array.enabled || this.unavailable.has(0)) { this.verify(gen); return; }
    this.phase = "reissue";
    this.array.reissueReported(gen, (l, c, n, g, cb) => this.send(l, c, n, g, cb), () => this.verify(gen));
  }

  /** Read back what a cut may have changed (readback_scope.ts): everything after cuts
   * 1, 2, 4, 8, … and the last. Changes from now on count for the next. */
  verify(gen: number): void {
    this.phase = "verify";
    this.progress();
    // A LUN that came or went changes what every read of it does: everything.
    const lunsNow = [...this.unavailable].sort().join(",");
    const full = this.opts.full_readback || fullAfterCut(this.cutsDone) || this.cutsDone >= this.opts.cuts ||
      lunsNow !== this.lunsAtVerify;
    const rodeThrough = this.board.boots === this.bootsAtVerify;
    this.bootsAtVerify = this.board.boots;
    this.lunsAtVerify = lunsNow;
    const scope = this.scope.select(full, rodeThrough);
    this.scope.reset();
    this.reader.readAll(gen, () => this.afterVerify(gen), scope);
  }

  afterVerify(gen: number): void {
    if (this.cutsDone < this.opts.cuts) { this.startWorkload(gen); return; }
    // Every cut came before the controller acknowledged a write (or there were none
    // to make): run the workload uncut, so that the run checks something.
    if (this.oracle.stats.acked_writes === 0 && this.uncutRuns < uncut_runs_max) {
      this.uncutRuns++;
      this.startWorkload(gen, false);
      return;
    }
    this.finalCheck(gen);
  }

  /** The end: flush every LUN and check the disks' media against the oracle. */
  finalCheck(gen: number): void {
    this.phase = "final";
    const luns = this.work.luns.map((l) => l.lun);
    let pending = luns.length;
    const done = () => { if (--pending <= 0) { this.array.checkParity(); this.phase = "done"; this.progress(); } };
    if (!pending) { pending = 1; done(); return; }
    for (const lun of luns) {
      this.send(lun, cdb.syncCache10(0, 0), 0, gen, (r) => {
        if (r.status === STATUS.GOOD) {
          const lbas: number[] = [];
          for (const [l, lba] of this.oracle.writtenBlocks()) if (l === lun) lbas.push(lba);
          this.work.checkMediaBlocks(lun, lbas);
        }
        done();
      });
    }
  }

  // ---- workload and cuts ------------------------------------------------------------------

  /** Run the workload until a power cut (or, uncut, for uncut_workload_ms), then read
   * everything back. */
  startWorkload(gen: number, cut = true): void {
    this.phase = "workload";
    this.oracle.beginEpoch();
    if (!this.opts.excuse) this.oracle.excuse = null;
    this.progress();
    this.work.onDrained = () => { if (this.phase === "drain" && gen === this.board.generation) this.verify(gen); };
    if (!cut) {
      this.board.clock.after(uncut_workload_ms * 1e6, "host ends the workload", () => {
        if (this.phase !== "workload" || gen !== this.board.generation) return;
        this.work.stop();
        this.drain(gen);
      });
      this.work.start(gen);
      return;
    }
    const at = this.board.now_ns + (0.001 + this.rng.float() * this.w.cut_window_ms) * 1e6;
    if (this.opts.primary_death_prob && this.faultRng.chance(this.opts.primary_death_prob)) {
      const death = this.board.now_ns + this.faultRng.float() * (at - this.board.now_ns);
      this.board.clock.at(death, "host: the primary dies", () => {
        if (this.phase === "workload" && gen === this.board.generation) this.work.primaryDies(5);
      });
    }
    const off = (this.w.off_min_ms + this.rng.float() * (this.w.off_max_ms - this.w.off_min_ms)) * 1e6;
    const cutAt = (t: number) => {
      const end = planCut(this, t, off);
      this.board.clock.at(t, "host sees the cut", () => {
        this.cutsDone++;
        this.opts.onCut?.(this.ctx);
        if (this.phase === "workload") { this.phase = "cut"; this.work.stop(); }
      });
      this.board.clock.at(end, "host sees power back", () => this.maybeRideThrough(gen));
    };
    if (this.opts.cut_when_full) cutWhenFull(this, gen, cutAt);
    else if (this.opts.cut_after_ack) cutAfterAck(this, gen, at, cutAt);
    else cutAt(at);
    this.work.start(gen);
  }

  maybeRideThrough(gen: number): void {
    // The controller rode through on its cap: it never stopped. Let the commands in
    // flight finish, then read everything back as after a reboot.
    if (this.phase !== "cut" || gen !== this.board.generation) return;
    this.rideThroughs++;
    this.drain(gen);
  }

  /** The workload has stopped: let the commands in flight finish (onDrained), then
   * read everything back. */
  drain(gen: number): void {
    this.phase = "drain";
    this.progress();
    if (this.work.outstanding === 0) this.verify(gen);
  }

  hookPower(): void {
    const b = this.board;
    b.onBoot = ((inner) => () => {
      inner?.();
      this.scope.boot();
      this.work.lost();
      if (this.cutsDone > 0 || b.boots > 1) this.opts.onBoot?.(this.ctx);
      b.clock.after(0, "host probe", () => this.probe(b.generation));
      if (this.lostSinceBoot) this.maybeRecut();
      this.lostSinceBoot = false;
    })(b.onBoot);
    b.onPowerLost = ((inner) => () => {
      this.phase = "off";
      this.lostSinceBoot = true;
      this.work.stop();
      inner?.(); // the host adapter reports the commands in flight lost
      this.work.lost();
      this.opts.onPowerLost?.(this.ctx);
      this.progress();
    })(b.onPowerLost);
  }

  /** Another cut soon after this boot: during the boot or the restore, before the cap
   * has recharged (the supply is back, so it charges from where the save left it). */
  maybeRecut(): void {
    const o = this.opts;
    // Never two in a row: the controller gets to serve a workload between them.
    if (this.lastCutWasRecut) { this.lastCutWasRecut = false; return; }
    if (this.cutsDone >= o.cuts || !o.recut_prob || !this.faultRng.chance(o.recut_prob)) return;
    this.lastCutWasRecut = true;
    if (o.recut_at) { this.recutOnLog = o.recut_at; return; }
    this.recutNow(this.board.now_ns + this.faultRng.float() * (o.recut_window_ms ?? 1500) * 1e6);
  }
  recutOnLog: string | null = null;
  lastCutWasRecut = false;

  hookRecutEvents(): void {
    const b = this.board;
    const inner = b.onLog;
    b.onLog = (name, a, x) => {
      inner?.(name, a, x);
      if (this.recutOnLog && name === this.recutOnLog) {
        this.recutOnLog = null;
        this.recutNow(b.now_ns + this.faultRng.float() * 20e6);
      }
    };
  }

  recutNow(at: number): void {
    const off = (this.w.off_min_ms + this.faultRng.float() * (this.w.off_max_ms - this.w.off_min_ms)) * 1e6;
    const end = planCut(this, at, off);
    this.board.clock.at(at, "host sees a recut", () => {
      this.cutsDone++;
      this.recuts++;
      this.opts.onCut?.(this.ctx);
      if (this.phase === "workload") { this.phase = "cut"; this.work.stop(); }
    });
    this.board.clock.at(end, "host sees power back", () => this.maybeRideThrough(this.board.generation));
  }

  report(): RunReport {
    const b = this.board, s = this.oracle.stats;
    return {
      seed: this.opts.seed,
      parity_mismatches: this.array.parityMismatches,
      repaired_stripes: this.array.repairedStripes,
      torn_records: this.array.tornRecords,
      host_reissued: this.work.pair.stats.reissued,
      unreadable_blocks: this.array.unreadableBlocks(),
      acked_writes: s.acked_writes,
      acked_blocks: s.acked_blocks,
      lost_writes: s.lost_writes,
      corrupt_reads: s.corrupt_reads,
      detected_errors: s.detected_errors,
      checked_blocks: s.checked_blocks,
      power_cuts: b.powerCuts,
      ride_throughs: this.rideThroughs,
      uncut_workloads: this.uncutRuns,
      host_decisions: this.decisions,
      reported_image_losses: this.reportedImageLosses,
      detected_losses: s.detected_losses,
      excused_losses: s.excused_losses,
      disk_fault_losses: s.disk_fault_losses,
      media_checked: this.work.stats.media_checked,
      recuts: this.recuts,
      boots: b.boots,
      luns: this.work.luns.length,
      cycles: b.cyclesTotal,
      virtual_ms: Math.round(b.now_ns / 1e3) / 1e3,
      host_commands: this.host.stats.commands,
      trace_hash: b.traceHash.toString(16).padStart(8, "0"),
      violations: [...b.violations, ...b.eeprom.violations],
      faults: b.faults,
      problems: this.oracle.problems,
    };
  }
}
