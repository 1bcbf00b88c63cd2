// `holdup torture --director`: backup runs through the director, each with a fault of
// a kind the director handles today (a drive that fails, with its tape movable or
// stuck, or that hangs) at an instant its seed picks; the JSON keys are
// `holdup backup`'s plus `cuts` (faults injected) and `traps`. Power cuts of the
// director, damaged tapes and a dead robot are not in it yet (docs/DIRECTOR.md).

import { runBackup, BackupFault } from "./run.js";

export const DIRECTOR_TORTURE_FAULTS: BackupFault[] = ["drive-fail", "no-unload", "drive-hang"];

export interface DirectorTortureReport {
  seed: number; runs: number; cuts: number; job_bytes: number; tapes_written: number; tape_mismatches: number;
  tar_verified: boolean; failovers_drive: number; failovers_medium: number; failovers_director: number;
  replayed_bytes: number; job_errors: number; server_stall_ms_max: number; cycles: number; virtual_ms: number;
  traps: number; failures: Array<{ seed: number; fault: string; detail: string; reproduce: string }>;
}

/** `fileBytesMax` as runBackup's (smaller files: shorter runs, the same failovers). */
export function runDirectorTorture(module: WebAssembly.Module, seed: number, faults: number,
  progress: ((done: number) => void) | null = null, fileBytesMax = 400_000): DirectorTortureReport {
  const r: DirectorTortureReport = {
    seed, runs: 0, cuts: 0, job_bytes: 0, tapes_written: 0, tape_mismatches: 0, tar_verified: true, failovers_drive: 0,
    failovers_medium: 0, failovers_director: 0, replayed_bytes: 0, job_errors: 0, server_stall_ms_max: 0, cycles: 0,
    virtual_ms: 0, traps: 0, failures: [],
  };
  for (let i = 0; i < faults; i++) {
    const s = (seed + i) >>> 0;
    const fault = DIRECTOR_TORTURE_FAULTS[s % DIRECTOR_TORTURE_FAULTS.length];
    let b;
    try {
      b = runBackup(module, s, 2, [fault], fileBytesMax);
    } catch (e) {
      r.traps++;
      r.failures.push({ seed: s, fault, detail: (e as Error).message, reproduce: `holdup backup --seed ${s} --jobs-count 2 --faults ${fault}` });
      continue;
    }
    r.runs++;
    r.cuts++;
    r.job_bytes += b.job_bytes;
    r.tapes_written += b.tapes_written;
    r.tape_mismatches += b.tape_mismatches;
    r.tar_verified &&= b.tar_verified;
    r.failovers_drive += b.failovers_drive;
    r.failovers_medium += b.failovers_medium;
    r.failovers_director += b.failovers_director;
    r.replayed_bytes += b.replayed_bytes;
    r.job_errors += b.job_errors;
    r.server_stall_ms_max = Math.max(r.server_stall_ms_max, b.server_stall_ms_max);
    r.cycles += b.cycles;
    r.virtual_ms += b.virtual_ms;
    if (b.job_errors || b.tape_mismatches || !b.tar_verified) {
      r.failures.push({ seed: s, fault, detail: b.errors[0] ?? `${b.tape_mismatches} bytes differ`, reproduce: `holdup backup --seed ${s} --jobs-count 2 --faults ${fault}` });
    }
    progress?.(i + 1);
  }
  return r;
}
