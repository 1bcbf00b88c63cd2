// `holdup torture --director`: backup runs through the director, each with a fault (or
// two) at an instant its seed picks, the kinds in turn by seed; the JSON keys are
// `holdup backup`'s plus `cuts` (faults injected) and `traps`. Two kinds of run:
//  - a spare exists (a drive that fails, with its tape movable or stuck, or hangs, or
//    tears the block it was writing as it fails, or stalls for 40 s and goes on; a
//    damaged tape; a damaged tape and then a failed drive; the director dies and the
//    spare director takes over; the director loses its power for 20 s and comes back,
//    alone or with a drive failure, its tape movable or stuck: the cut may fall in the
//    failover):
//    the server must see no error, and every tape must hold exactly its job;
//  - no spare can help (the robot dead when the drive fails): the server must be told,
//    with the director's documented sense (HARDWARE ERROR, 3Eh/01h LOGICAL UNIT
//    FAILURE), and every job it finished must still be exact on tape.

import { runBackup, BackupFault, BackupReport } from "./run.js";

/** The fault sets, in turn by seed. */
export const DIRECTOR_TORTURE_FAULTS: BackupFault[][] = [
  ["drive-fail"], ["no-unload"], ["drive-hang"], ["medium-error"], ["robot-fail"], ["medium-error", "drive-fail"],
  ["director-fail"], ["director-cut"], ["drive-torn"], ["drive-stall"],
  ["drive-fail", "director-cut"], ["no-unload", "director-cut"],
];
/** Sets after which no spare can help: the server must be told. */
const NO_SPARE = (f: BackupFault[]) => f.includes("robot-fail");
/** The director's sense when it cannot take a spare: HARDWARE ERROR, 3E/01. */
const DOCUMENTED_ERROR = /sense \{"key":4,"asc":15873\}/;

export interface DirectorTortureReport {
  seed: number; runs: number; cuts: number; job_bytes: number; tapes_written: number; tape_mismatches: number;
  tar_verified: boolean; failovers_drive: number; failovers_medium: number; failovers_director: number;
  director_restarts: number; resent_commands: number; replayed_bytes: number; job_errors: number; server_stall_ms_max: number; cycles: number; virtual_ms: number;
  failover_accepted_bytes: number; busy_answers: number; write_stall_ms_max: number;
  traps: number;
  /** Runs where no spare could help, and the errors the server saw in them (each run
   * must have one: the documented sense). Not in job_errors or tape_mismatches. */
  no_spare_runs: number; job_errors_no_spare: number;
  failures: Array<{ seed: number; fault: string; detail: string; reproduce: string }>;
}

export function emptyDirectorReport(seed: number): DirectorTortureReport {
  return {
    seed, runs: 0, cuts: 0, job_bytes: 0, tapes_written: 0, tape_mismatches: 0, tar_verified: true, failovers_drive: 0,
    failovers_medium: 0, failovers_director: 0, director_restarts: 0, resent_commands: 0, replayed_bytes: 0, job_errors: 0, server_stall_ms_max: 0, cycles: 0,
    virtual_ms: 0, failover_accepted_bytes: 0, busy_answers: 0, write_stall_ms_max: 0, traps: 0, no_spare_runs: 0, job_errors_no_spare: 0, failures: [],
  };
}

/** The run a torture index i makes: its seed and its faults. */
export function directorUnit(seed: number, i: number): { seed: number; faults: BackupFault[] } {
  const s = (seed + i) >>> 0;
  return { seed: s, faults: DIRECTOR_TORTURE_FAULTS[s % DIRECTOR_TORTURE_FAULTS.length] };
}

/** What is wrong with one run's result ("" if nothing). */
function verdict(faults: BackupFault[], b: BackupReport): string {
  if (NO_SPARE(faults)) {
    if (b.job_errors === 0) return "no spare could help, and the server saw no error";
    if (!DOCUMENTED_ERROR.test(b.errors[0])) return `not the documented error: ${b.errors[0]}`;
    if (b.completed_mismatches) return `${b.completed_mismatches} bytes differ in jobs the server finished`;
    return "";
  }
  if (b.job_errors) return b.errors[0];
  if (b.tape_mismatches) return `${b.tape_mismatches} bytes differ`;
  if (!b.tar_verified) return "GNU tar does not restore a job";
  return "";
}

/** Add one run's report into r. */
function add(r: DirectorTortureReport, faults: BackupFault[], b: BackupReport): void {
  const noSpare = NO_SPARE(faults);
  r.runs++;
  r.cuts += faults.length;
  r.job_bytes += b.job_bytes;
  r.tapes_written += b.tapes_written;
  if (noSpare) {
    r.no_spare_runs++;
    r.job_errors_no_spare += b.job_errors;
  } else {
    r.tape_mismatches += b.tape_mismatches;
    r.tar_verified &&= b.tar_verified;
    r.job_errors += b.job_errors;
  }
  r.failovers_drive += b.failovers_drive;
  r.failovers_medium += b.failovers_medium;
  r.failovers_director += b.failovers_director;
  r.director_restarts += b.director_restarts;
  r.resent_commands += b.resent_commands;
  r.replayed_bytes += b.replayed_bytes;
  r.server_stall_ms_max = Math.max(r.server_stall_ms_max, b.server_stall_ms_max);
  r.write_stall_ms_max = Math.max(r.write_stall_ms_max, b.write_stall_ms_max);
  r.failover_accepted_bytes += b.failover_accepted_bytes;
  r.busy_answers += b.busy_answers;
  r.cycles += b.cycles;
  r.virtual_ms += b.virtual_ms;
}

/** Runs `picked` (indices from 0; default all `count`). `fileBytesMax` as runBackup's
 * (smaller files: shorter runs, the same failovers). */
export function runDirectorTorture(module: WebAssembly.Module, seed: number, count: number,
  progress: ((done: number) => void) | null = null, fileBytesMax = 400_000,
  picked: number[] = Array.from({ length: count }, (_, i) => i)): DirectorTortureReport {
  const r = emptyDirectorReport(seed);
  picked.forEach((i, k) => {
    const { seed: s, faults } = directorUnit(seed, i);
    const reproduce = `holdup backup --seed ${s} --jobs-count 2 --faults ${faults.join(",")}`;
    let b: BackupReport;
    try {
      b = runBackup(module, s, 2, faults, { fileBytesMax });
    } catch (e) {
      r.traps++;
      r.failures.push({ seed: s, fault: faults.join(","), detail: (e as Error).message, reproduce });
      return;
    }
    add(r, faults, b);
    const bad = verdict(faults, b);
    if (bad) r.failures.push({ seed: s, fault: faults.join(","), detail: bad, reproduce });
    progress?.(k + 1);
  });
  return r;
}

/** Reports of disjoint runs, added up (the same whatever the split). */
export function mergeDirectorReports(seed: number, rs: DirectorTortureReport[]): DirectorTortureReport {
  const m = emptyDirectorReport(seed);
  for (const r of rs) {
    for (const k of Object.keys(m) as Array<keyof DirectorTortureReport>) {
      if (k === "seed" || k === "failures") continue;
      if (k === "tar_verified") m.tar_verified &&= r.tar_verified;
      else if (k === "server_stall_ms_max" || k === "write_stall_ms_max") m[k] = Math.max(m[k], r[k]);
      else (m[k] as number) += r[k] as number;
    }
    m.failures.push(...r.failures);
  }
  m.failures.sort((a, b) => a.seed - b.seed);
  return m;
}
