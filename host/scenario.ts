// The end-to-end run: boot the firmware on the board, find its LUNs, drive a mixed
// workload through it, cut the power at a random instant, let it come back, boot
// again, and read back every block ever written against the oracle. Repeat for each
// cut, then verify once more. Everything happens in virtual time from one seed.

import { Board, BoardOptions } from "./board.js";
import { HostAdapter, HostResult } from "./host.js";
import { Oracle, BLOCK } from "./oracle.js";
import { Rng } from "./rng.js";
import { cdb, KEY, ASC, STATUS, be64, NV_ACTION, NvStatus, parseNvStatus } from "./scsi/spc.js";

export interface WorkloadSpec {
  /** Commands in flight at once (at most the mailbox's slots). */
  queue_depth: number;
  /** Fraction of commands that are reads. */
  read_fraction: number;
  /** Fraction of commands that continue the previous one's LBA on their LUN. */
  sequential_fraction: number;
  /** Blocks per command: uniform in 1..max_blocks. */
  max_blocks: number;
  /** LBAs used per LUN: [0, span) so that blocks get rewritten. */
  lba_span: number;
  /** The power is cut at a uniform instant in (0, cut_window_ms] of each workload. */
  cut_window_ms: number;
  /** Power stays off for a uniform time in [min, max] ms. */
  off_min_ms: number;
  off_max_ms: number;
}

export const DEFAULT_WORKLOAD: WorkloadSpec = {
  queue_depth: 4,
  read_fraction: 0.3,
  sequential_fraction: 0.3,
  max_blocks: 8,
  lba_span: 4096,
  cut_window_ms: 400,
  off_min_ms: 1,
  off_max_ms: 2000,
};

export interface RunOptions {
  seed: number;
  cuts: number;
  workload?: Partial<WorkloadSpec>;
  board?: BoardOptions;
  /** Called after each phase with a one-line status. */
  onProgress?: (p: RunProgress) => void;
  /** The host's decision when the controller keeps an image and waits (a LUN answers
   * NOT READY, MANUAL INTERVENTION REQUIRED). Default: replay to the disks there. */
  onPending?: (board: Board, status: NvStatus) => number;
  /** Called at each planned cut, as the supply fails: inject faults, plan a swap. */
  onCut?: (c: CutContext) => void;
  /** Called when the MCU stops (the board is unpowered): swap disks here. */
  onPowerLost?: (c: CutContext) => void;
  /** Chance, after each boot that follows a power loss, of another cut within
   * recut_window_ms: during the boot or the restore, before the cap has recharged. */
  recut_prob?: number;
  recut_window_ms?: number;
  /** Called with the board before it boots: inject faults here. */
  setup?: (board: Board) => void;
  /** Virtual-time limit for the whole run (default: generous per cut). */
  limit_ms?: number;
}

export interface CutContext {
  board: Board;
  rng: Rng;
  /** Planned cuts so far, this one included. */
  cut: number;
}

export interface RunProgress {
  phase: string;
  cut: number;
  cuts: number;
  acked_writes: number;
  lost_writes: number;
  corrupt_reads: number;
  virtual_ms: number;
}

export interface RunReport {
  seed: number;
  acked_writes: number;
  acked_blocks: number;
  lost_writes: number;
  corrupt_reads: number;
  detected_errors: number;
  checked_blocks: number;
  power_cuts: number;
  /** Cuts the controller rode through on its cap (the supply came back first). */
  ride_throughs: number;
  /** Times the host had to decide about a kept image. */
  host_decisions: number;
  /** Boots at which the controller reported its cache image lost (a save cut short). */
  reported_image_losses: number;
  /** Acknowledged blocks the controller reported it could not recover (MEDIUM ERROR,
   * or inside a reported image loss): detected, never served as good data. */
  detected_losses: number;
  /** Cuts planned soon after a boot (during restore, cap not recharged). */
  recuts: number;
  boots: number;
  luns: number;
  cycles: number;
  virtual_ms: number;
  host_commands: number;
  trace_hash: string;
  violations: string[];
  faults: string[];
  problems: string[];
}

type Phase = "probe" | "verify" | "workload" | "cut" | "drain" | "off" | "done";

/** Retries of a verify read that fails with something other than MEDIUM ERROR, 5 ms
 * apart (a LUN that is becoming ready answers within this). */
const verify_retries_max = 2000;
/** TEST UNIT READY attempts, 10 ms apart, while the controller spins up or restores. */
const tur_attempts_max = 3000;

export function runScenario(module: WebAssembly.Module, opts: RunOptions): RunReport {
  const w: WorkloadSpec = { ...DEFAULT_WORKLOAD, ...opts.workload };
  const board = new Board(module, { ...opts.board, seed: opts.seed });
  const host = new HostAdapter(board, w.queue_depth);
  const oracle = new Oracle();
  const rng = new Rng(opts.seed).fork("workload");
  let phase: Phase = "probe";
  let cutsDone = 0;
  let luns: { lun: number; blocks: number }[] = [];
  const seqCursor = new Map<number, number>();
  let outstanding = 0;
  let rideThroughs = 0;
  let recuts = 0;
  const faultRng = new Rng(opts.seed).fork("faults");
  let decisions = 0;
  let reportedImageLosses = 0;
  let deciding = false;

  const progress = () => opts.onProgress?.({
    phase, cut: cutsDone, cuts: opts.cuts, acked_writes: oracle.stats.acked_writes,
    lost_writes: oracle.stats.lost_writes, corrupt_reads: oracle.stats.corrupt_reads,
    virtual_ms: board.now_ns / 1e6,
  });

  // ---- probe: find the LUNs, clear their unit attentions ----------------------------
  const probe = () => {
    phase = "probe";
    const found: { lun: number; blocks: number }[] = [];
    let pending = 8;
    const gen = board.generation;
    for (let lun = 0; lun < 8; lun++) {
      host.submit(lun, cdb.inquiry(36), null, 36, (r) => {
        if (gen !== board.generation) return;
        if (r.status === STATUS.GOOD && r.data.length > 0 && (r.data[0] & 0xe0) === 0) {
          found.push({ lun, blocks: 0 });
        }
        if (--pending === 0) readyLuns(found.sort((a, b) => a.lun - b.lun), gen);
      });
    }
  };

  const readyLuns = (found: { lun: number; blocks: number }[], gen: number) => {
    let pending = found.length;
    if (!pending) throw new Error("host: the controller presents no LUNs");
    for (const l of found) {
      let attempts = 0;
      const tur = () => host.submit(l.lun, cdb.tur(), null, 0, (r) => {
        if (gen !== board.generation) return;
        if (r.sense?.key === KEY.NOT_READY && r.sense.asc === ASC.MANUAL_INTERVENTION && !deciding) {
          // The controller kept an image and asks the host: read its status, decide.
          deciding = true;
          host.submit(l.lun, cdb.nvStatus(64), null, 64, (st) => {
            const status = parseNvStatus(st.data);
            let action: number;
            if (status.image === 3) {
              // The controller lost its cache image and says so: accept it. Every
              // write acknowledged since the last full read-back is now suspect.
              action = NV_ACTION.DISCARD;
              oracle.epochLost();
              reportedImageLosses++;
            } else {
              action = opts.onPending ? opts.onPending(board, status) : NV_ACTION.REPLAY;
            }
            decisions++;
            host.submit(l.lun, cdb.nvAction(action), null, 0, () => {
              deciding = false;
              board.clock.after(10e6, "host retry", tur);
            });
          });
          return;
        }
        if (r.status !== STATUS.GOOD && attempts++ < tur_attempts_max) {
          board.clock.after(10e6, "host retry", tur);
          return;
        }
        host.submit(l.lun, cdb.readCapacity16(), null, 32, (rc) => {
          if (gen !== board.generation) return;
          if (rc.status === STATUS.GOOD) l.blocks = Number(be64(rc.data, 0)) + 1;
          if (--pending === 0) {
            luns = found.filter((x) => x.blocks > 0);
            if (cutsDone > 0) verify(gen); else startWorkload(gen);
          }
        });
      });
      tur();
    }
  };

  // ---- verify: read back every block ever written -----------------------------------
  const verify = (gen: number) => {
    phase = "verify";
    progress();
    const chunks: Array<[number, number, number]> = [];
    for (const [lun, lba] of oracle.writtenBlocks()) {
      const last = chunks[chunks.length - 1];
      if (last && last[0] === lun && last[1] + last[2] === lba && last[2] < w.max_blocks) last[2]++;
      else chunks.push([lun, lba, 1]);
    }
    let next = 0;
    let active = 0;
    const pump = () => {
      while (active < w.queue_depth && next < chunks.length) {
        const [lun, lba, n] = chunks[next++];
        active++;
        readChunk(lun, lba, n, gen, () => {
          active--;
          if (gen !== board.generation) return;
          if (next >= chunks.length && active === 0) afterVerify(gen);
          else pump();
        });
      }
      if (chunks.length === 0) afterVerify(gen);
    };
    pump();
  };

  const readChunk = (lun: number, lba: number, n: number, gen: number, done: () => void, tries = 0) => {
    host.submit(lun, cdb.rw16(false, lba, n), null, n * BLOCK, (r) => {
      if (gen !== board.generation || r.lost) { done(); return; }
      if (r.status === STATUS.GOOD) {
        for (let i = 0; i < n; i++) oracle.checkRead(lun, lba + i, r.data.subarray(i * BLOCK, (i + 1) * BLOCK));
        done();
      } else if (r.sense?.key === KEY.MEDIUM_ERROR && n > 1) {
        // Find which blocks: one at a time.
        let left = n;
        for (let i = 0; i < n; i++) readChunk(lun, lba + i, 1, gen, () => { if (--left === 0) done(); });
      } else if (r.sense?.key === KEY.MEDIUM_ERROR) {
        oracle.checkMediumError(lun, lba);
        done();
      } else {
        // BUSY or a transient error: retry a bounded number of times, then the
        // blocks count as unreadable.
        if (tries >= verify_retries_max) {
          for (let i = 0; i < n; i++) oracle.checkUnreadable(lun, lba + i);
          done();
          return;
        }
        board.clock.after(5e6, "verify retry", () => readChunk(lun, lba, n, gen, done, tries + 1));
      }
    });
  };

  const afterVerify = (gen: number) => {
    if (cutsDone >= opts.cuts) { phase = "done"; progress(); return; }
    startWorkload(gen);
  };

  // ---- workload ------------------------------------------------------------------------
  const startWorkload = (gen: number) => {
    phase = "workload";
    oracle.beginEpoch();
    progress();
    const cutAt = board.now_ns + (0.001 + rng.float() * w.cut_window_ms) * 1e6;
    const off = (w.off_min_ms + rng.float() * (w.off_max_ms - w.off_min_ms)) * 1e6;
    board.cutPowerAt(cutAt);
    board.restorePowerAt(cutAt + off);
    board.clock.at(cutAt, "host sees the cut", () => {
      cutsDone++;
      opts.onCut?.({ board, rng: faultRng, cut: cutsDone });
      if (phase === "workload") phase = "cut";
    });
    board.clock.at(cutAt + off, "host sees power back", () => {
      // The controller rode through on its cap: it never stopped. Let the commands
      // in flight finish, then read everything back as after a reboot.
      if (phase !== "cut" || gen !== board.generation) return;
      rideThroughs++;
      phase = "drain";
      progress();
      drained(gen);
    });
    for (let i = 0; i < w.queue_depth; i++) issue(gen);
  };

  const drained = (gen: number) => {
    if (phase === "drain" && outstanding === 0 && gen === board.generation) verify(gen);
  };

  const issue = (gen: number) => {
    if (phase !== "workload" || gen !== board.generation || outstanding >= w.queue_depth) return;
    const l = luns[rng.int(luns.length)];
    const n = 1 + rng.int(w.max_blocks);
    const span = Math.min(w.lba_span, l.blocks);
    let lba = -1;
    for (let tries = 0; tries < 16; tries++) {
      const seq = seqCursor.get(l.lun);
      const cand = seq !== undefined && rng.chance(w.sequential_fraction) ? seq : rng.int(span - n + 1);
      if (cand + n <= span && !oracle.isBusy(l.lun, cand, n)) { lba = cand; break; }
    }
    if (lba < 0) { board.clock.after(1e6, "host backoff", () => issue(gen)); return; }
    seqCursor.set(l.lun, (lba + n) % (span - w.max_blocks));
    oracle.lock(l.lun, lba, n);
    outstanding++;
    const finish = () => { outstanding--; oracle.unlock(l.lun, lba, n); issue(gen); drained(gen); };
    if (rng.chance(w.read_fraction)) {
      host.submit(l.lun, cdb.rw16(false, lba, n), null, n * BLOCK, (r: HostResult) => {
        if (r.status === STATUS.GOOD) {
          for (let i = 0; i < n; i++) oracle.checkRead(l.lun, lba + i, r.data.subarray(i * BLOCK, (i + 1) * BLOCK));
        } else if (r.sense?.key === KEY.MEDIUM_ERROR && n === 1) {
          oracle.checkMediumError(l.lun, lba);
        }
        finish();
      });
    } else {
      const { id, data } = oracle.beginWrite(l.lun, lba, n);
      host.submit(l.lun, cdb.rw16(true, lba, n), data, 0, (r: HostResult) => {
        if (r.status === STATUS.GOOD) oracle.acked(l.lun, lba, n, id);
        else if (r.status === STATUS.BUSY) oracle.refused(l.lun, lba, n, id);
        finish();
      });
    }
  };

  // ---- power events -------------------------------------------------------------------
  let lostSinceBoot = false;
  board.onBoot = ((inner) => () => {
    inner?.();
    outstanding = 0;
    board.clock.after(0, "host probe", probe);
    // Another cut soon after this boot: during the restore, before the cap has
    // recharged (the supply is back, so the cap is charging from where the save left it).
    if (lostSinceBoot && cutsDone < opts.cuts && opts.recut_prob && faultRng.chance(opts.recut_prob)) {
      const at = board.now_ns + faultRng.float() * (opts.recut_window_ms ?? 1500) * 1e6;
      const off = (w.off_min_ms + faultRng.float() * (w.off_max_ms - w.off_min_ms)) * 1e6;
      board.cutPowerAt(at);
      board.restorePowerAt(at + off);
      board.clock.at(at, "host sees a recut", () => {
        cutsDone++;
        recuts++;
        opts.onCut?.({ board, rng: faultRng, cut: cutsDone });
        if (phase === "workload") phase = "cut";
      });
      board.clock.at(at + off, "host sees power back", () => {
        if (phase === "cut") { rideThroughs++; phase = "drain"; drained(board.generation); }
      });
    }
    lostSinceBoot = false;
  })(board.onBoot);
  board.onPowerLost = ((inner) => () => {
    phase = "off";
    lostSinceBoot = true;
    inner?.();
    outstanding = 0;
    opts.onPowerLost?.({ board, rng: faultRng, cut: cutsDone });
    progress();
  })(board.onPowerLost);

  opts.setup?.(board);
  const limit_ns = (opts.limit_ms ?? 60_000 * (opts.cuts + 1)) * 1e6;
  const finished = () => (phase as Phase) === "done";
  board.run(finished, limit_ns);
  if (!finished()) throw new Error(`run did not finish within ${limit_ns / 1e6} ms of virtual time (phase ${phase})`);

  return {
    seed: opts.seed,
    acked_writes: oracle.stats.acked_writes,
    acked_blocks: oracle.stats.acked_blocks,
    lost_writes: oracle.stats.lost_writes,
    corrupt_reads: oracle.stats.corrupt_reads,
    detected_errors: oracle.stats.detected_errors,
    checked_blocks: oracle.stats.checked_blocks,
    power_cuts: board.powerCuts,
    ride_throughs: rideThroughs,
    host_decisions: decisions,
    reported_image_losses: reportedImageLosses,
    detected_losses: oracle.stats.detected_losses,
    recuts,
    boots: board.boots,
    luns: luns.length,
    cycles: board.cyclesTotal,
    virtual_ms: Math.round(board.now_ns / 1e3) / 1e3,
    host_commands: host.stats.commands,
    trace_hash: board.traceHash.toString(16).padStart(8, "0"),
    violations: [...board.violations, ...board.eeprom.violations],
    faults: board.faults,
    problems: oracle.problems,
  };
}

