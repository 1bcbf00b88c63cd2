// holdup run and holdup torture: the options into a scenario (or a torture's units),
// a progress line on standard error, a summary, the JSON line.
import { DIRECTOR_TORTURE_FAULTS } from "./backup/torture_director.js";
import { runDirectorTortureJobs } from "./backup/torture_director_jobs.js";
import { loadMetered, loadRelease } from "./firmware.js";
import { nativeAvailable } from "./native.js";
import { runScenario, RunProgress, RunReport, DEFAULT_WORKLOAD, verdict } from "./scenario.js";
import { EEPROM_PARTS } from "./devices/eeprom.js";
import type { DiskFaults } from "./devices/disk.js";
import type { Board } from "./board.js";
import { TortureProgress, VARIANTS, Variant, tortureUnits, shardOf, TortureOptions, runUnits } from "./torture.js";
import { loadTortureModules } from "./firmware.js";
import { runTortureJobs, defaultJobs } from "./torture_jobs.js";
import { VcdRecorder, VcdWindow, vcdWindow } from "./vcd.js";
import { fail, intOpt, raidOpt, failDiskOpt, randomSeed, Values } from "./cli.js";

/** The disk faults `run --disk-fault` can give every disk. */
const DISK_FAULTS: Record<string, (f: DiskFaults) => void> = {
  "ignore-fua": (f) => { f.ignoreFua = true; },
  "no-write-long": (f) => { f.noWriteLong = true; },
  "latency": (f) => { f.latencySpikeProb = 0.05; f.latencySpike_ms = 200; },
};

export function run(values: Values): number {
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const cuts = intOpt(values.cuts, "cuts", 0, 1_000_000, 3);
  const disks = intOpt(values.disks, "disks", 1, 7, 4);
  const capPct = intOpt(values["cap-pct"], "cap-pct", 1, 100, 100);
  const qd = intOpt(values.qd, "qd", 1, 4, DEFAULT_WORKLOAD.queue_depth);
  const eeprom = typeof values.eeprom === "string" ? values.eeprom : "25LC1024";
  if (!EEPROM_PARTS[eeprom]) fail(`unknown EEPROM part "${eeprom}"`);
  const diskFaults = String(values["disk-fault"] ?? "").split(",").filter((f) => f !== "");
  for (const f of diskFaults) if (!DISK_FAULTS[f]) fail(`unknown disk fault "${f}" (${Object.keys(DISK_FAULTS).join(", ")})`);
  const raid = raidOpt(values.raid);
  const spares = intOpt(values.spares, "spares", 0, 3, raid ? 1 : 0);
  const failDisk = failDiskOpt(values["fail-disk"]);
  const json = values.json === true;
  const say = json ? console.error : console.log;
  const runtime = values.runtime ?? "v8";
  if (runtime !== "v8" && runtime !== "native") fail(`--runtime: v8 or native, not "${runtime}"`, "run");
  if (runtime === "native" && !nativeAvailable()) fail("--runtime native needs the native runner: npm run build:native (Debian wabt and gcc)", "run");
  const build = values.build ?? "metered";
  if (build !== "metered" && build !== "release") fail(`--build: metered or release, not "${build}"`, "run");
  const vcdFile = vcdFileOpt(values);
  const vcd = vcdFile ? new VcdRecorder(vcdWindowOpt(values), disks + (raid ? spares : 0)) : null;
  const showProgress = !values.quiet;
  const tty = process.stderr.isTTY;

  const again = `holdup run --seed ${seed} --cuts ${cuts}` + (diskFaults.length ? ` --disk-fault ${diskFaults.join(",")}` : "") +
    (values.raid !== undefined ? ` --raid ${values.raid}` : "") + (values.spares !== undefined ? ` --spares ${spares}` : "") +
    (failDisk ? ` --fail-disk ${values["fail-disk"]}` : "");
  const faultNote = diskFaults.length ? `, disk faults ${diskFaults.join(", ")}` : "";
  const shape = raid ? `RAID ${raid} of ${disks} disks and ${spares} spare${spares === 1 ? "" : "s"}` : `${disks} disks`;
  say(`holdup run: seed ${seed}, ${cuts} power cuts, ${shape}, EEPROM ${eeprom}${faultNote}`);
  const onProgress = showProgress ? (p: RunProgress) => {
    const line = `[${p.virtual_ms.toFixed(1).padStart(9)} ms] cut ${p.cut}/${p.cuts} ${p.phase.padEnd(8)} ` +
      `acked ${p.acked_writes} lost ${p.lost_writes} corrupt ${p.corrupt_reads}` + (p.array ? ` array ${p.array}` : "");
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else process.stderr.write(`${line}\n`);
  } : undefined;

  let report: RunReport;
  try {
    report = runScenario(build === "release" ? loadRelease() : loadMetered(), {
      seed, cuts, onProgress, workload: { queue_depth: qd }, cut_after_ack: true,
      board: { runtime, build, disks: disks + (raid ? spares : 0), raid, spares: raid ? spares : 0, eeprom_part: eeprom, power: { capacity_pct: capPct } },
      setup: (board) => {
        if (vcd) board.attachProbe(vcd);
        for (const d of board.disks) for (const f of diskFaults) DISK_FAULTS[f](d.faults);
        if (failDisk) scheduleDiskFailure(board, failDisk.id, failDisk.ms);
      },
    });
  } catch (e) {
    if (tty && showProgress) process.stderr.write("\n");
    console.error(`holdup run failed: ${(e as Error).message}\nreproduce with: ${again}`);
    return 1;
  }
  if (tty && showProgress) process.stderr.write("\n");
  if (vcd && vcdFile) {
    vcd.write(vcdFile);
    say(`holdup run: ${vcd.changes} signal changes in ${vcdFile}`);
  }
  const why = verdict(report);
  const bad = why.length > 0;
  {
    say(`
  seed             ${report.seed}
  LUNs             ${report.luns}
  power cuts       ${report.power_cuts} (${report.boots} boots; ridden through on the cap: ${report.ride_throughs})
  acked writes     ${report.acked_writes} (${report.acked_blocks} blocks)
  blocks checked   ${report.checked_blocks}
  lost writes      ${report.lost_writes}
  corrupt reads    ${report.corrupt_reads}
  detected errors  ${report.detected_errors} (reported to the host, never served as data; acknowledged blocks among them: ${report.detected_losses}, explained by a fault beyond the design: ${report.excused_losses})
  media checked    ${report.media_checked} blocks on the disks after SYNCHRONIZE CACHE${raid ? `
  array            parity mismatches ${report.parity_mismatches}, rows repaired ${report.repaired_stripes}, torn records ${report.torn_records}, unreadable blocks ${report.unreadable_blocks}` : ""}
  firmware cycles  ${report.cycles}
  virtual time     ${report.virtual_ms.toFixed(3)} ms
  trace hash       ${report.trace_hash}`);
    for (const v of report.violations.slice(0, 10)) say(`  device protocol: ${v}`);
    for (const f of report.faults) say(`  fault: ${f}`);
    for (const p of report.problems.slice(0, 10)) say(`  ${p}`);
    for (const w of why) say(`  FAILED: ${w}`);
    if (bad) say(`\nFAILED — reproduce with: ${again}`);
    else if (report.uncut_workloads > 0 && report.power_cuts > 0) say(`\nOK: every acknowledged write was kept; the ${report.power_cuts} power cuts came before any write was acknowledged, so the writes checked were made after them, uncut.`);
    else say(`\nOK: every acknowledged write survived ${report.power_cuts} power cuts.`);
  }
  if (json) {
    const { violations, faults, problems, ...figures } = report;
    console.log(JSON.stringify({ ...figures, violations: violations.length, faults: faults.length, problems: problems.length }));
  }
  return bad ? 1 : 0;
}

/** The disk stops answering at ms (a selection time-out from then on). */
export function scheduleDiskFailure(board: Board, id: number, ms: number): void {
  board.clock.at(ms * 1e6, `disk ${id} fails`, () => {
    const d = board.disks[id];
    if (d) d.faults.dead = true;
    board.trace(`disk ${id} failed (--fail-disk)`);
  });
}

/** --vcd FILE (and its window). */
function vcdFileOpt(values: Values): string | null {
  const f = values.vcd;
  if (f === undefined) {
    if (values["vcd-from"] !== undefined || values["vcd-to"] !== undefined) fail("--vcd-from and --vcd-to need --vcd FILE");
    return null;
  }
  if (typeof f !== "string" || f === "") fail("--vcd needs a file name");
  return f;
}

function vcdWindowOpt(values: Values): VcdWindow {
  const ms = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !/^\d+(\.\d+)?$/.test(v)) fail(`--${name} needs milliseconds, got "${v}"`);
    return Number(v);
  };
  const from = ms("vcd-from"), to = ms("vcd-to");
  if (from !== undefined && to !== undefined && to <= from) fail("--vcd-to must come after --vcd-from");
  return vcdWindow(from, to);
}

/** --shard I/N (default 1/1). */
function shardOpt(v: string | boolean | undefined): { index: number; count: number } {
  if (v === undefined) return { index: 1, count: 1 };
  const m = typeof v === "string" ? /^(\d+)\/(\d+)$/.exec(v) : null;
  if (!m || Number(m[2]) < 1 || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) fail(`--shard: I/N with 1 <= I <= N, not "${v}"`, "torture");
  return { index: Number(m[1]), count: Number(m[2]) };
}

export async function torture(values: Values): Promise<number> {
  if (values.director === true) return await tortureDirector(values);
  const variant = values.variant as Variant | undefined;
  if (variant !== undefined && !VARIANTS.includes(variant)) fail(`unknown variant "${variant}"`, "torture");
  const raid = raidOpt(values.raid);
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const cuts = intOpt(values.cuts, "cuts", 0, 100_000_000, 200);
  const json = values.json === true;
  const progress = !values.quiet;
  const sweepOnly = values["sweep-only"] === true;
  const sweep = values["no-sweep"] !== true || sweepOnly;
  const jobs = intOpt(values.jobs, "jobs", 1, 256, defaultJobs());
  const shard = shardOpt(values.shard);
  const failDisk = failDiskOpt(values["fail-disk"]);
  const say = json ? console.error : console.log;
  const tty = process.stderr.isTTY;
  const o: TortureOptions = {
    seed, cuts: sweepOnly ? 0 : cuts, variant, raid, sweep,
    sweep_step: intOpt(values["sweep-step"], "sweep-step", 1, 1000, 1),
    sweep_only_k: values["sweep-k"] === undefined ? undefined : intOpt(values["sweep-k"], "sweep-k", 1, 1000, 1),
    spares: intOpt(values.spares, "spares", 0, 2, 1), fail_disk: failDisk ?? undefined,
  };
  const units = tortureUnits(o);
  const picked = shardOf(units, shard.index, shard.count);
  say(`holdup torture: seed ${seed}, ${sweepOnly ? 0 : cuts} random cuts${sweep ? ", save sweep" : ""}, ${raid ? `RAID ${raid}` : "no array"}` +
    `${shard.count > 1 ? `, shard ${shard.index}/${shard.count} (${picked.length} of ${units.length} runs)` : ""}, ${jobs} job${jobs === 1 ? "" : "s"}`);
  if (progress) {
    o.onProgress = (p: TortureProgress) => {
      const line = `${p.stage} ${p.done}/${p.total}: ${p.cuts} cuts, lost ${p.lost_writes}, corrupt ${p.corrupt_reads}, traps ${p.traps}`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`); else if (p.done % 10 === 0 || p.done === p.total) process.stderr.write(`${line}\n`);
    };
  }
  const vcdFile = vcdFileOpt(values);
  const r = await runTortureJobs(o, picked, jobs);
  if (tty && progress) process.stderr.write("\n");
  if (vcdFile) {
    // The first failing run again, on this thread, with the probe on its board.
    const first = r.failures[0];
    if (!first) say(`holdup torture: no run failed, so no trace was written to ${vcdFile}`);
    else {
      const rec = new VcdRecorder(vcdWindowOpt(values), 4 + (raid ? o.spares ?? 1 : 0));
      runUnits(loadTortureModules(), { ...o, onProgress: undefined, onBoard: (b) => b.attachProbe(rec) }, units, [first.unit]);
      rec.write(vcdFile);
      say(`holdup torture: the trace of "${first.what}" (${first.reproduce}) in ${vcdFile}: ${rec.changes} signal changes`);
    }
  }
  const bad = r.failures.length > 0;
  say(`
  cuts             ${r.cuts} (${Object.entries(r.cuts_by_variant).map(([k, v]) => `${k} ${v}`).join(", ")}; sweep runs ${r.sweep_runs})
  acked writes     ${r.acked_writes}
  lost writes      ${r.lost_writes}
  corrupt reads    ${r.corrupt_reads}
  traps            ${r.traps} (stalls ${r.stalls})
  detected errors  ${r.detected_errors} (of which acknowledged blocks reported lost: ${r.detected_losses}, explained by a fault beyond the design: ${r.excused_losses}; image losses reported: ${r.reported_image_losses})
  disk faults      ${r.disk_fault_losses} blocks a disk's misdirected write corrupted (the disk's, not the controller's)
  media checked    ${r.media_checked} blocks on the disks after SYNCHRONIZE CACHE${raid ? `
  array            parity mismatches ${r.parity_mismatches}, rows repaired ${r.repaired_stripes}, torn records ${r.torn_records}, unreadable blocks ${r.unreadable_blocks}` : ""}
  failed runs      ${r.failed_runs} of ${r.runs}
  sweep            ${r.sweep_runs} runs, ${r.sweep_cuts_with_loss_reported} with a loss the controller reported, ${r.sweep_lost_writes} silent${raid ? `; the array's: ${r.array_sweep_runs} cuts of one update, after each member write` : ""}
  ride-throughs    ${r.ride_throughs}, recuts during restore ${r.recuts}, host decisions ${r.host_decisions}, boots ${r.boots}`);
  for (const f of r.failures.slice(0, 10)) say(`  FAILED ${f.what}: ${f.detail}\n    reproduce: ${f.reproduce}`);
  say(bad ? "\nFAILED" : "\nOK: nothing acknowledged was lost or served wrong.");
  if (json) {
    const { failures, ...figures } = r;
    console.log(JSON.stringify({ ...figures, failures: failures.length }));
  }
  return bad ? 1 : 0;
}

/** `holdup torture --director`: backup runs through the director with a fault each
 * (host/backup/torture_director.ts), on --jobs worker threads. */
async function tortureDirector(values: Values): Promise<number> {
  for (const k of ["raid", "variant", "spares", "fail-disk", "sweep-only", "sweep-k", "sweep-step", "shard", "vcd", "vcd-from", "vcd-to"]) {
    if (values[k] !== undefined) fail(`--${k} is not an option of torture --director`, "torture");
  }
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const cuts = intOpt(values.cuts, "cuts", 1, 1_000_000, 30);
  const jobs = intOpt(values.jobs, "jobs", 1, 256, defaultJobs());
  const json = values.json === true;
  const say = json ? console.error : console.log;
  say(`holdup torture --director: seed ${seed}, ${cuts} runs (${DIRECTOR_TORTURE_FAULTS.map((f) => f.join("+")).join(", ")} in turn), ${jobs} job${jobs === 1 ? "" : "s"}`);
  const tty = process.stderr.isTTY && !values.quiet;
  const r = await runDirectorTortureJobs(seed, cuts, jobs, tty ? (n) => process.stderr.write(`\r  ${n}/${cuts} runs`) : null);
  if (tty) process.stderr.write("\n");
  say(`  faults          ${r.cuts} in ${r.runs} runs (${r.failovers_drive} drive, ${r.failovers_medium} tape and ${r.failovers_director} director failovers, ${r.director_restarts} director restarts, ${r.replayed_bytes} bytes written back)`);
  say(`  job errors      ${r.job_errors}, tape mismatches ${r.tape_mismatches} bytes, GNU tar ${r.tar_verified ? "restores every job" : "FAILED on a job"}`);
  say(`  no spare        ${r.no_spare_runs} runs, the server told in each (${r.job_errors_no_spare} errors), finished jobs exact`);
  say(`  server stall    ${r.server_stall_ms_max} ms at most; traps ${r.traps}`);
  for (const f of r.failures.slice(0, 5)) say(`  FAILED seed ${f.seed} (${f.fault}): ${f.detail}\n    reproduce: ${f.reproduce}`);
  const ok = r.failures.length === 0 && r.job_errors === 0 && r.tape_mismatches === 0 && r.tar_verified && r.traps === 0;
  say(ok ? "\nOK: every job's tapes hold exactly its stream, or the server was told." : "\nFAILED");
  if (json) console.log(JSON.stringify(r));
  return ok ? 0 : 1;
}
