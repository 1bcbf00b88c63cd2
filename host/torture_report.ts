// What a torture adds up: the figures of every run, its failures, and how reports of
// separate slices (worker threads, --shard, holdup merge) add into one.

import type { RunReport } from "./scenario.js";

export interface Failure {
  what: string;
  reproduce: string;
  detail: string;
  /** The unit (torture.ts tortureUnits) that failed: failures are listed in unit order
   * whichever worker or shard ran them. */
  unit: number;
}

export interface TortureReport {
  seed: number;
  cuts: number;
  acked_writes: number;
  lost_writes: number;
  corrupt_reads: number;
  detected_errors: number;
  traps: number;
  stalls: number;
  detected_losses: number;
  excused_losses: number;
  unexcused_losses: number;
  disk_fault_losses: number;
  reported_image_losses: number;
  ride_throughs: number;
  recuts: number;
  host_decisions: number;
  boots: number;
  violations: number;
  media_checked: number;
  runs: number;
  failed_runs: number;
  cuts_by_variant: Record<string, number>;
  sweep_runs: number;
  sweep_cuts_with_loss_reported: number;
  sweep_lost_writes: number;
  /** Cuts of the array's sweep (array_sweep.ts): one update, cut after each member write. */
  array_sweep_runs: number;
  /** The array's figures summed over the runs (run_report.ts). */
  parity_mismatches: number;
  repaired_stripes: number;
  torn_records: number;
  host_reissued: number;
  unreadable_blocks: number;
  failures: Failure[];
}

export function emptyReport(seed: number): TortureReport {
  return {
    seed, cuts: 0, acked_writes: 0, lost_writes: 0, corrupt_reads: 0, detected_errors: 0,
    traps: 0, stalls: 0, detected_losses: 0, excused_losses: 0, unexcused_losses: 0, disk_fault_losses: 0,
    reported_image_losses: 0, ride_throughs: 0, recuts: 0, host_decisions: 0, boots: 0, violations: 0,
    media_checked: 0, runs: 0, failed_runs: 0, cuts_by_variant: {}, sweep_runs: 0,
    sweep_cuts_with_loss_reported: 0, sweep_lost_writes: 0, array_sweep_runs: 0, parity_mismatches: 0, repaired_stripes: 0,
    torn_records: 0, host_reissued: 0, unreadable_blocks: 0, failures: [],
  };
}

/** The figures a run report and a torture report share by name: summed. */
const SUMMED = [
  "acked_writes", "lost_writes", "corrupt_reads", "detected_errors", "detected_losses", "excused_losses",
  "disk_fault_losses", "reported_image_losses", "ride_throughs", "recuts", "host_decisions", "boots",
  "media_checked", "parity_mismatches", "repaired_stripes", "torn_records", "host_reissued", "unreadable_blocks",
] as const;

/** One run's figures into the tally. */
export function addRun(t: TortureReport, r: RunReport): void {
  t.runs++;
  t.cuts += r.power_cuts;
  for (const k of SUMMED) t[k] += r[k];
  t.unexcused_losses += r.detected_losses - r.excused_losses;
  t.violations += r.violations.length;
}

/** Reports of disjoint slices of one torture (worker threads, shards) as one: every
 * count summed, the variants' cuts merged, failures in unit order; the seed is the
 * lowest. */
export function mergeReports(rs: TortureReport[]): TortureReport {
  const t = emptyReport(rs.length ? Math.min(...rs.map((r) => r.seed)) : 0);
  const counts = t as unknown as Record<string, number>;
  for (const r of rs) {
    for (const [k, v] of Object.entries(r)) if (typeof v === "number" && k !== "seed") counts[k] += v;
    for (const [k, v] of Object.entries(r.cuts_by_variant)) t.cuts_by_variant[k] = (t.cuts_by_variant[k] ?? 0) + v;
    t.failures.push(...r.failures);
  }
  t.failures.sort((a, b) => a.unit - b.unit);
  return t;
}

/** `holdup merge`: the JSON lines of `torture --json` runs as one line of the same
 * keys. Every number is summed but the seed (the lowest) and a `…_max` (the largest);
 * a flag holds if it holds in every line; lists (the director's failures) are joined. */
export function mergeJson(lines: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const j of lines) {
    for (const [k, v] of Object.entries(j)) {
      if (k === "seed") out.seed = out.seed === undefined ? v : Math.min(out.seed as number, v as number);
      else if (typeof v === "number" && k.endsWith("_max")) out[k] = Math.max((out[k] as number | undefined) ?? -Infinity, v);
      else if (typeof v === "number") out[k] = ((out[k] as number | undefined) ?? 0) + v;
      else if (typeof v === "boolean") out[k] = ((out[k] as boolean | undefined) ?? true) && v;
      else if (Array.isArray(v)) out[k] = [...((out[k] as unknown[] | undefined) ?? []), ...v];
      else if (v && typeof v === "object" && !Array.isArray(v)) {
        const m = (out[k] ?? {}) as Record<string, number>;
        for (const [kk, vv] of Object.entries(v as Record<string, number>)) m[kk] = (m[kk] ?? 0) + vv;
        out[k] = m;
      } else throw new Error(`"${k}" is neither a count nor a table of counts`);
    }
  }
  return out;
}
