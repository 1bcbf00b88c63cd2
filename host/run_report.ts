// What a scenario run takes (RunOptions, with the hooks the torture variants use) and
// what it gives back (RunReport), and the verdict: whether the run kept the guarantee.

import type { Board, BoardOptions } from "./board.js";
import type { Rng } from "./rng.js";
import type { Oracle } from "./oracle.js";
import type { WorkloadSpec } from "./workload.js";
import type { NvStatus } from "./scsi/spc.js";

export interface RunOptions {
  seed: number;
  cuts: number;
  /** Run the board under the scheduler of several MCUs (mcu_coop.ts; the module is
   * then the coop build), suspending at every tick if asked: its test. */
  coop?: { yieldEveryTick?: boolean };
  workload?: Partial<WorkloadSpec>;
  board?: BoardOptions;
  /** Called after each phase with a one-line status. */
  onProgress?: (p: RunProgress) => void;
  /** The host's decision when the controller holds blocks and waits (a LUN answers
   * NOT READY, MANUAL INTERVENTION REQUIRED). Default: replay to the disks there. */
  onPending?: (board: Board, status: NvStatus) => number;
  /** Called at each planned cut, as the supply fails: inject faults, plan a swap. */
  onCut?: (c: CutContext) => void;
  /** Called when the MCU stops (the board is unpowered): swap disks here. */
  onPowerLost?: (c: CutContext) => void;
  /** Called at every boot (after the first) of the controller. */
  onBoot?: (c: CutContext) => void;
  /** Chance, after each boot that follows a power loss, of another cut: within
   * recut_window_ms, or just after the firmware logs `recut_at` (e.g. "restore
   * loaded": during the restore), before the cap has recharged. */
  recut_prob?: number;
  recut_window_ms?: number;
  recut_at?: string;
  /** Each cut is this many dips of the supply in a row (1: one clean cut), each dip and
   * gap up to flap_ms long, the last dip as the workload says. */
  dips?: (rng: Rng) => number;
  flap_ms?: number;
  /** Chance, per workload, that the host's primary processor dies at a random
   * instant of it (writes in flight): the secondary takes over after 5 ms and
   * re-issues every write whose outcome it does not know (host_pair.ts). */
  primary_death_prob?: number;
  /** A cut whose instant comes before the workload had a write acknowledged waits for
   * the first acknowledgement (up to cut_wait_max_ms), so that every cut tests an
   * acknowledged write (holdup run). The torture keeps cuts at any instant. */
  cut_after_ack?: boolean;
  /** Cut when the controller holds (nearly) a full save budget of acknowledged
   * blocks in write-back, its first boot's format done (the save sweep). */
  cut_when_full?: boolean;
  /** Read back everything ever written after every cut (default: what the cut may
   * have changed, host/readback_scope.ts; everything every few cuts and at the end). */
  full_readback?: boolean;
  /** Called with the board before it boots: inject faults here. */
  setup?: (board: Board, oracle?: Oracle) => void;
  /** A fault beyond the design is in effect for the whole run (the save sweep's short
   * cap): losses the controller reports are expected, silent ones still fail. */
  excuse?: string;
  /** Virtual-time limit for the whole run (default: generous per cut). */
  limit_ms?: number;
}

export interface CutContext {
  board: Board;
  rng: Rng;
  /** Planned cuts so far, this one included. */
  cut: number;
  oracle: Oracle;
}

export interface RunProgress {
  /** The array: "" (none, or whole), "degraded", or "rebuild N%". */
  array?: string;
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
  /** The array (seed 003; 0 with --raid none): rows whose parity disagrees with their
   * data at the end, by the host's own checker on the raw disks. */
  parity_mismatches: number;
  /** Rows the firmware repaired at its boots, torn records it found, writes the host
   * issued again, array blocks listed unreadable at the end. */
  repaired_stripes: number;
  torn_records: number;
  host_reissued: number;
  unreadable_blocks: number;
  acked_writes: number;
  acked_blocks: number;
  lost_writes: number;
  corrupt_reads: number;
  detected_errors: number;
  checked_blocks: number;
  power_cuts: number;
  /** Cuts the controller rode through on its cap (the supply came back first). */
  ride_throughs: number;
  /** Workloads run without a cut at the end, because no write was acknowledged before
   * the last cut (or the run had no cuts). */
  uncut_workloads: number;
  /** Times the host had to decide about blocks the controller held. */
  host_decisions: number;
  /** Boots at which the controller reported its cache image lost. */
  reported_image_losses: number;
  /** Acknowledged blocks the controller reported it could not give back (MEDIUM
   * ERROR, an image reported lost, a dead disk): detected, never served as good data. */
  detected_losses: number;
  /** Those of them a fault beyond the design explains (the verdict allows them). */
  excused_losses: number;
  /** Silent losses on blocks a disk's misdirected write touched: the disk's fault. */
  disk_fault_losses: number;
  /** Blocks whose disk media was checked after SYNCHRONIZE CACHE. */
  media_checked: number;
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

/** Why a run failed its guarantee (empty: it held). */
export function verdict(r: RunReport): string[] {
  const why: string[] = [];
  if (r.lost_writes) why.push(`${r.lost_writes} acknowledged writes lost silently`);
  if (r.corrupt_reads) why.push(`${r.corrupt_reads} corrupt reads`);
  if (r.faults.length) why.push(`firmware fault: ${r.faults[0]}`);
  if (r.violations.length) why.push(`protocol violation: ${r.violations[0]}`);
  if (r.parity_mismatches) why.push(`${r.parity_mismatches} array rows whose parity disagrees with their data`);
  const unexcused = r.detected_losses - r.excused_losses;
  if (unexcused > 0) why.push(`${unexcused} losses reported where the design allows none`);
  if (r.acked_writes === 0 || r.checked_blocks === 0) why.push("the run checked no acknowledged write");
  return why;
}
