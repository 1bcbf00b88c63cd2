// Power-loss torture: many runs of the end-to-end scenario, each with a variant of
// what goes wrong (or, in swarm mode, every fault knob drawn from the seed), and a
// sweep that cuts the save after its k-th EEPROM page for every k. What must hold
// (scenario.ts verdict): nothing acknowledged comes back wrong, nothing corrupt is
// served, the firmware never traps or misuses a device, and every loss the controller
// reports is one a fault beyond the design explains.

import { runScenario, RunReport, RunOptions, CutContext, verdict } from "./scenario.js";
import { FirmwareFault } from "./board.js";
import type { Board } from "./board.js";
import { NV_ACTION } from "./scsi/spc.js";
import { image_pages_for } from "./nvformat.js";
import { swarmPlan } from "./swarm.js";
import { arraySweep } from "./array_sweep.js";
import { TortureReport, emptyReport, addRun } from "./torture_report.js";

export const VARIANTS = ["plain", "eeprom-faults", "disk-swaps", "refail", "swarm", "host-failover"] as const;
export type Variant = (typeof VARIANTS)[number];

/** Cuts per random run; a failure names the run's seed, which reproduces it alone. */
export const CUTS_PER_RUN = 20;

export interface TortureModules {
  /** The metered build (preemption at function entries and loop heads). */
  metered: WebAssembly.Module;
  /** The build with a preemption check before every store (swarm seeds draw it). */
  fine: WebAssembly.Module;
}

export interface TortureOptions {
  seed: number;
  /** Random cuts in all (rounded up to whole runs). */
  cuts: number;
  /** Every random run uses this variant (default: the seed picks it). */
  variant?: Variant;
  /** The board runs an array of this RAID level (0: one LUN per disk), with this many
   * spares (default 1). */
  raid?: number;
  spares?: number;
  /** Every run: this disk dies at this virtual instant (ms). */
  fail_disk?: { id: number; ms: number };
  /** Run the save sweep (every k, after and during the k-th page write). */
  sweep: boolean;
  /** Sweep only every `sweep_step`-th k (1: every k). */
  sweep_step?: number;
  /** Sweep this k alone (to reproduce one failure). */
  sweep_only_k?: number;
  onProgress?: (p: TortureProgress) => void;
  /** Called with each run's board before it boots (to attach a probe: torture --vcd). */
  onBoard?: (b: Board) => void;
}

export interface TortureProgress {
  stage: "random" | "sweep";
  done: number;
  total: number;
  cuts: number;
  lost_writes: number;
  corrupt_reads: number;
  traps: number;
}

export type { Failure, TortureReport } from "./torture_report.js";

/** The variant a random run's seed selects (so the seed alone reproduces it). */
export function variantOf(seed: number): Variant {
  return VARIANTS[seed % VARIANTS.length];
}

/** Scenario options for a variant (and whether it runs on the fine-preemption build). */
export function variantOptions(v: Variant, seed = 0, raid = 0, spares = 1): { fine: boolean; options: Partial<RunOptions> } {
  const o = variantOptionsNoArray(v, seed, raid);
  if (raid) {
    // The array: the reference board's four disks as members, and the spares.
    const board = o.options.board ?? {};
    o.options = { ...o.options, board: { ...board, raid, spares, disks: 4 + spares } };
  }
  return o;
}

function variantOptionsNoArray(v: Variant, seed: number, raid: number): { fine: boolean; options: Partial<RunOptions> } {
  let stuck = 0;
  let swapped: [number, number] | null = null;
  switch (v) {
    case "plain":
      return { fine: false, options: {} };
    case "eeprom-faults":
      return {
        fine: false,
        options: {
          setup: (b) => { b.eeprom.readBitFlipRate = 1e-5; },
          onCut: (c: CutContext) => {
            const e = c.board.eeprom;
            // A page that does not take a write fully (verify catches it), a bit that
            // sticks in the image area (the save moves to a spare, or SECDED corrects).
            if (c.rng.chance(0.3)) e.tearNextWrite = true;
            if (stuck < 6 && c.rng.chance(0.2)) {
              stuck++;
              const addr = c.rng.int(120) * 256 + c.rng.int(256);
              const bit = 1 << c.rng.int(8);
              e.store.stuck.set(addr, [bit, c.rng.chance(0.5) ? bit : 0]);
            }
          },
        },
      };
    case "disk-swaps":
      return {
        fine: false,
        options: {
          onPowerLost: (c: CutContext) => {
            if (swapped || !c.rng.chance(0.5)) return;
            const a = c.rng.int(4);
            const b = (a + 1 + c.rng.int(3)) % 4;
            c.board.swapDisks(a, b);
            swapped = [a, b];
          },
          onPending: (board) => {
            // The technician puts the disks back where they were, then asks again.
            if (swapped) { board.swapDisks(swapped[0], swapped[1]); swapped = null; }
            return NV_ACTION.RECHECK;
          },
        },
      };
    case "refail":
      return {
        fine: false,
        options: { recut_prob: 0.6, recut_window_ms: 1500, workload: { off_min_ms: 1, off_max_ms: 800 } },
      };
    case "swarm": {
      const p = swarmPlan(seed, raid);
      return { fine: p.fine, options: p.options };
    }
    case "host-failover":
      // The host's primary processor dies mid-workload, writes in flight; the
      // secondary re-issues what it checkpointed.
      return { fine: false, options: { primary_death_prob: 0.6 } };
  }
}

/** The command that reproduces one random run. */
export function reproduceRun(seed: number, v: Variant, raid = 0, spares = 1, failDisk?: { id: number; ms: number }): string {
  return `holdup torture --seed ${seed} --cuts ${CUTS_PER_RUN} --variant ${v} --no-sweep --raid ${raid || "none"}` +
    (raid && spares !== 1 ? ` --spares ${spares}` : "") + (failDisk ? ` --fail-disk ${failDisk.id}@${failDisk.ms}` : "");
}

/** One independent piece of a torture: a random run (seed + i), the array's sweep, or
 * one cut of the save sweep. A unit's result depends on the options and the unit only,
 * so units can run in any order, on any worker or shard. */
export type Unit =
  | { kind: "random"; i: number }
  | { kind: "array-sweep" }
  | { kind: "sweep"; k: number; torn: boolean };

/** Every unit of a torture, in order. */
export function tortureUnits(o: TortureOptions): Unit[] {
  const units: Unit[] = [];
  const runs = Math.ceil(o.cuts / CUTS_PER_RUN);
  for (let i = 0; i < runs; i++) units.push({ kind: "random", i });
  if (o.sweep && o.raid && !o.sweep_only_k) units.push({ kind: "array-sweep" });
  if (o.sweep) {
    // Every k up to the pages of a save of a full budget (on the reference board about
    // 67 blocks, ~144 pages).
    const kMax = image_pages_for(70) + 2;
    const step = o.sweep_step ?? 1;
    const ks: number[] = [];
    if (o.sweep_only_k) ks.push(o.sweep_only_k);
    else for (let k = 1; k <= kMax; k += step) ks.push(k);
    for (const k of ks) for (const torn of [false, true]) units.push({ kind: "sweep", k, torn });
  }
  return units;
}

/** Shard `index` (1-based) of `count`: every count-th unit from the index-th. */
export function shardOf<T>(units: T[], index: number, count: number): number[] {
  const picked: number[] = [];
  for (let u = index - 1; u < units.length; u += count) picked.push(u);
  return picked;
}

export function runTorture(m: TortureModules, o: TortureOptions): TortureReport {
  const units = tortureUnits(o);
  return runUnits(m, o, units, units.map((_u, i) => i));
}

/** Run the units `picked` (indices into `units`) in order. */
export function runUnits(m: TortureModules, o: TortureOptions, units: Unit[], picked: number[]): TortureReport {
  const t = emptyReport(o.seed);
  let done = 0;
  for (const u of picked) {
    runUnit(m, o, units[u], u, t);
    done++;
    o.onProgress?.({
      stage: units[u].kind === "random" ? "random" : "sweep", done, total: picked.length,
      cuts: t.cuts, lost_writes: t.lost_writes, corrupt_reads: t.corrupt_reads, traps: t.traps,
    });
  }
  return t;
}

function runUnit(m: TortureModules, o: TortureOptions, u: Unit, unit: number, t: TortureReport): void {
  const attempt = (what: string, reproduce: string, fn: () => RunReport): RunReport | null => {
    try {
      const r = fn();
      const why = verdict(r);
      if (why.length) {
        t.failed_runs++;
        t.failures.push({ what, reproduce, detail: [...why, ...r.problems.slice(0, 4)].join("; "), unit });
      }
      return r;
    } catch (e) {
      const trap = e instanceof FirmwareFault;
      if (trap) t.traps++; else t.stalls++;
      t.failed_runs++;
      t.failures.push({ what, reproduce, detail: String((e as Error).message), unit });
      return null;
    }
  };

  if (u.kind === "random") {
    const seed = (o.seed + u.i) >>> 0;
    const v = o.variant ?? variantOf(seed);
    const { fine, options } = variantOptions(v, seed, o.raid ?? 0, o.spares ?? 1);
    if (o.onBoard) {
      const onBoard = o.onBoard, setup0 = options.setup;
      options.setup = (b, oracle) => { onBoard(b); setup0?.(b, oracle); };
    }
    if (o.fail_disk) {
      const fd = o.fail_disk, setup0 = options.setup;
      options.setup = (b, oracle) => {
        setup0?.(b, oracle);
        b.clock.at(fd.ms * 1e6, `disk ${fd.id} fails`, () => { if (b.disks[fd.id]) b.disks[fd.id].faults.dead = true; });
        // Its LUN's blocks with no array; with one, its blocks that updates had in flight
        // when it died with the power (a second fault), and only those are reported.
        if (!o.raid) oracle?.deadLuns.add(fd.id);
        else oracle?.deadMembers.add(fd.id);
      };
    }
    const r = attempt(`random run ${u.i + 1} (${v}${fine ? ", preempt every store" : ""})`, reproduceRun(seed, v, o.raid ?? 0, o.spares ?? 1, o.fail_disk),
      () => runScenario(fine ? m.fine : m.metered, { seed, cuts: CUTS_PER_RUN, ...options }));
    if (r) {
      addRun(t, r);
      t.cuts_by_variant[v] = (t.cuts_by_variant[v] ?? 0) + r.power_cuts;
    }
    return;
  }
  if (u.kind === "array-sweep") {
    // The array's sweep: one update cut after each of its member writes.
    const a = arraySweep(m.metered, o.raid ?? 5, o.seed);
    t.array_sweep_runs += a.cuts;
    for (const f of a.failures) {
      t.failed_runs++;
      t.failures.push({ what: "array sweep", reproduce: `holdup torture --seed ${o.seed} --sweep-only --raid ${o.raid}`, detail: f, unit });
    }
    return;
  }
  const { k, torn } = u;
  const seed = (o.seed * 131 + k * 2 + (torn ? 1 : 0)) >>> 0;
  const r = attempt(`sweep: save cut ${torn ? "during" : "after"} page ${k}`,
    `holdup torture --seed ${o.seed} --sweep-only --sweep-k ${k} --raid ${o.raid || "none"}`,
    () => runScenario(m.metered, {
      seed, cuts: 1, cut_when_full: true,
      board: o.raid ? { raid: o.raid, spares: o.spares ?? 1, disks: 4 + (o.spares ?? 1) } : undefined,
      // The supply stays off longer than any save, so the forced brown-out decides.
      workload: { read_fraction: 0, write_long_fraction: 0, cut_window_ms: 400, off_min_ms: 3000, off_max_ms: 3500 },
      setup: (b) => { o.onBoard?.(b); b.cutSaveAfterPages(k, torn); },
      excuse: "the sweep cuts the cap short",
    }));
  if (r) {
    addRun(t, r);
    t.sweep_runs++;
    t.sweep_lost_writes += r.lost_writes;
    if (r.detected_losses > 0) t.sweep_cuts_with_loss_reported++;
  }
}
