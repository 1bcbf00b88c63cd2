// holdup command line: `holdup run` (and `npm start`).
import { parseArgs } from "node:util";
import { randomInt } from "node:crypto";
import { loadMetered, loadTortureModules } from "./firmware.js";
import { runScenario, RunProgress, RunReport, DEFAULT_WORKLOAD, verdict } from "./scenario.js";
import { EEPROM_PARTS } from "./devices/eeprom.js";
import type { DiskFaults } from "./devices/disk.js";
import type { Board } from "./board.js";
import { runBench, BenchReport } from "./bench.js";
import { runFuzz, arrayShape, DISKS_SHAPE } from "./fuzz.js";
import { runTorture, TortureProgress, CUTS_PER_RUN, VARIANTS, Variant } from "./torture.js";

const HELP = `holdup — storage-controller firmware and its board emulator

usage: holdup <command> [options]

commands:
  run        boot the firmware on the reference board, drive a host workload to its
             LUNs, cut the power at random instants, boot again, and check every
             acknowledged write (the main job; npm start runs it)
  bench      benchmark figures: save and restore times against their physical
             bounds, checksum cost, elevator against FIFO destage, ack latency
  torture    power-loss torture: random cuts with EEPROM faults, disk swaps and cuts
             during restore, swarm runs that combine every fault, and a sweep that
             cuts the save after every k-th page
  fuzz       random CDBs against the controller, each answer checked against the
             SCSI rules in host/scsi/spc.ts
  help       this text

options for run:
  --seed N       seed for every random choice (default: a random seed, printed);
                 the same seed gives the same cycles, trace and result
  --cuts N       power cuts, each followed by a reboot and a full read-back (default 3)
  --json         print one JSON object as the last line (keys: seed, acked_writes,
                 lost_writes, corrupt_reads, power_cuts, cycles, virtual_ms,
                 parity_mismatches, repaired_stripes, torn_records, host_reissued,
                 unreadable_blocks, ...)
  --raid L       none (every disk its own LUN), 3, 4 or 5 (default 5: the disks as
                 one array, LUN 0; docs/DESIGN.md "The array")
  --spares N     hot spares after the array's disks (default 1; not with none)
  --fail-disk ID[@MS]  the disk at bus ID dies at MS ms of virtual time (default 0)
  --disks N      disks on the bus (default 4; with an array, its members)
  --eeprom PART  EEPROM part: ${Object.keys(EEPROM_PARTS).join(", ")} (default 25LC1024)
  --cap-pct N    supercap capacity left after ageing, percent (default 100)
  --qd N         host queue depth, 1..4 (default ${DEFAULT_WORKLOAD.queue_depth})
  --disk-fault F every disk has fault F (a comma-separated list): ignore-fua (it
                 caches FUA writes, a lying disk: beyond the design, acknowledged
                 data is lost and the run must fail), no-write-long (it refuses
                 WRITE LONG), latency (1 command in 20 is 200 ms late)
  --quiet        no progress line
  -h, --help     this text

options for bench:
  --raid L       the array's figures on RAID L (default 5; none skips them)
  --spares N     hot spares after the four members (default 1)
  --fail-disk ID[@MS]  the disk at bus ID dies at MS ms of each array figure's run
  --json         print one JSON object as the last line (keys: isr_latency_cycles,
                 save_ms, save_bound_ms, restore_ms, restore_bound_ms,
                 crc32c_cycles_per_byte, secded_encode_cycles_per_byte,
                 secded_decode_cycles_per_byte, crc32c_wasm_gbps, crc32_node_zlib_gbps,
                 crc32_sheetjs_gbps, destage_seek_ms_elevator, destage_seek_ms_fifo,
                 ack_us_writeback, ack_us_writethrough, repair_blocks, repair_ms,
                 repair_blocks_bitmap64m, repair_blocks_fullscan, write_mb_s_fullstripe,
                 write_mb_s_rmw, write_mb_s_bound, wcb_eeprom_writes_per_host_write,
                 eeprom_life_days_at_100wps, rebuild_ms, rebuild_bound_ms,
                 rebuild_disk_mib, ...)

options for torture:
  --seed N       first seed (default: a random seed, printed); run i uses seed N+i
                 and its variant follows from that seed
  --cuts N       random power cuts in all, in runs of ${CUTS_PER_RUN} (default 200)
  --variant V    every run uses variant V: ${VARIANTS.join(", ")} (swarm: every
                 fault knob drawn from the run's seed, half the seeds on the build
                 that can be preempted before every store)
  --json         print one JSON object as the last line (keys: cuts, acked_writes,
                 lost_writes, corrupt_reads, detected_errors, traps, ...)
  --no-sweep     skip the save sweep
  --sweep-only   only the save sweep
  --sweep-k K    sweep only k = K (to reproduce one sweep failure)
  --sweep-step S sweep every S-th k (default 1)
  --raid L       none, 3, 4 or 5 (default 5), as for run; four members and a spare
  --spares N     hot spares after the members (default 1)
  --fail-disk ID[@MS]  in every run, the disk at bus ID dies at MS ms
  --quiet        no progress line

options for fuzz:
  --raid L       the LUNs to fuzz: none (default: four disks) or 3, 4, 5 (the array)
  --seed N       first seed (default: a random seed, printed); seed i is N+i
  --seeds K      seeds to run (default 1)
  --cdbs N       random CDBs per seed (default 50000)
  --json         print one JSON object as the last line (keys: seeds, cdbs,
                 mismatches, traps, violations)

exit status: 0 if the guarantee held; 1 if acknowledged data was lost silently or
served corrupt, a loss was reported that no fault beyond the design explains, a
device protocol was broken, the firmware trapped, or the run checked no
acknowledged write; 2 for bad usage.`;

/** The disk faults `run --disk-fault` can give every disk. */
const DISK_FAULTS: Record<string, (f: DiskFaults) => void> = {
  "ignore-fua": (f) => { f.ignoreFua = true; },
  "no-write-long": (f) => { f.noWriteLong = true; },
  "latency": (f) => { f.latencySpikeProb = 0.05; f.latencySpike_ms = 200; },
};

function fail(msg: string): never {
  console.error(`holdup: ${msg}\n(see holdup --help)`);
  process.exit(2);
}

function intOpt(v: string | undefined, name: string, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) fail(`--${name} needs a whole number, got "${v}"`);
  const n = Number(v);
  if (n < lo || n > hi) fail(`--${name} must be in ${lo}..${hi}`);
  return n;
}

export function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        seed: { type: "string" }, cuts: { type: "string" }, json: { type: "boolean" },
        disks: { type: "string" }, eeprom: { type: "string" }, "cap-pct": { type: "string" },
        qd: { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" },
        "no-sweep": { type: "boolean" }, "sweep-only": { type: "boolean" },
        "sweep-k": { type: "string" }, "sweep-step": { type: "string" }, variant: { type: "string" },
        seeds: { type: "string" }, cdbs: { type: "string" }, "disk-fault": { type: "string" },
        raid: { type: "string" }, spares: { type: "string" }, "fail-disk": { type: "string" },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? "help";
  if (values.help || command === "help") { console.log(HELP); return 0; }
  if (!["run", "bench", "torture", "fuzz"].includes(command)) fail(`unknown command "${command}"`);
  if (positionals.length > 1) fail(`unexpected argument "${positionals[1]}"`);
  if (command === "bench") {
    return bench(values.json ?? false, raidOpt(values.raid), intOpt(values.spares, "spares", 0, 2, 1), failDiskOpt(values["fail-disk"]));
  }
  if (command === "fuzz") {
    return fuzz(raidOpt(values.raid, 0), intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomInt(1, 2 ** 31)),
      intOpt(values.seeds, "seeds", 1, 1_000_000, 1), intOpt(values.cdbs, "cdbs", 1, 100_000_000, 50_000),
      values.json ?? false, !values.quiet);
  }
  if (command === "torture") {
    const variant = values.variant as Variant | undefined;
    if (variant !== undefined && !VARIANTS.includes(variant)) fail(`unknown variant "${variant}"`);
    tortureArray = { spares: intOpt(values.spares, "spares", 0, 2, 1), failDisk: failDiskOpt(values["fail-disk"]) };
    return torture(variant, raidOpt(values.raid),
      intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomInt(1, 2 ** 31)),
      intOpt(values.cuts, "cuts", 0, 10_000_000, 200),
      values.json ?? false, !values.quiet, !values["no-sweep"], values["sweep-only"] ?? false,
      values["sweep-k"] === undefined ? undefined : intOpt(values["sweep-k"], "sweep-k", 1, 1000, 1),
      intOpt(values["sweep-step"], "sweep-step", 1, 1000, 1),
    );
  }

  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomInt(1, 2 ** 31));
  const cuts = intOpt(values.cuts, "cuts", 0, 1_000_000, 3);
  const disks = intOpt(values.disks, "disks", 1, 7, 4);
  const capPct = intOpt(values["cap-pct"], "cap-pct", 1, 100, 100);
  const qd = intOpt(values.qd, "qd", 1, 4, DEFAULT_WORKLOAD.queue_depth);
  const eeprom = values.eeprom ?? "25LC1024";
  if (!EEPROM_PARTS[eeprom]) fail(`unknown EEPROM part "${eeprom}"`);
  const diskFaults = (values["disk-fault"] ?? "").split(",").filter((f) => f !== "");
  for (const f of diskFaults) if (!DISK_FAULTS[f]) fail(`unknown disk fault "${f}" (${Object.keys(DISK_FAULTS).join(", ")})`);
  const raid = raidOpt(values.raid);
  const spares = intOpt(values.spares, "spares", 0, 3, raid ? 1 : 0);
  const failDisk = failDiskOpt(values["fail-disk"]);
  const json = values.json ?? false;
  const showProgress = !values.quiet;
  const tty = process.stderr.isTTY;

  const again = `holdup run --seed ${seed} --cuts ${cuts}` + (diskFaults.length ? ` --disk-fault ${diskFaults.join(",")}` : "") +
    (values.raid !== undefined ? ` --raid ${values.raid}` : "") + (values.spares !== undefined ? ` --spares ${spares}` : "") +
    (failDisk ? ` --fail-disk ${values["fail-disk"]}` : "");
  const faultNote = diskFaults.length ? `, disk faults ${diskFaults.join(", ")}` : "";
  const shape = raid ? `RAID ${raid} of ${disks} disks and ${spares} spare${spares === 1 ? "" : "s"}` : `${disks} disks`;
  if (!json) console.log(`holdup run: seed ${seed}, ${cuts} power cuts, ${shape}, EEPROM ${eeprom}${faultNote}`);
  const onProgress = showProgress ? (p: RunProgress) => {
    const line = `[${p.virtual_ms.toFixed(1).padStart(9)} ms] cut ${p.cut}/${p.cuts} ${p.phase.padEnd(8)} ` +
      `acked ${p.acked_writes} lost ${p.lost_writes} corrupt ${p.corrupt_reads}` + (p.array ? ` array ${p.array}` : "");
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else process.stderr.write(`${line}\n`);
  } : undefined;

  let report: RunReport;
  try {
    report = runScenario(loadMetered(), {
      seed, cuts, onProgress, workload: { queue_depth: qd },
      board: { disks: disks + (raid ? spares : 0), raid, spares: raid ? spares : 0, eeprom_part: eeprom, power: { capacity_pct: capPct } },
      setup: (board) => {
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
  const why = verdict(report);
  const bad = why.length > 0;
  if (!json || bad) {
    console.log(`
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
    for (const v of report.violations.slice(0, 10)) console.log(`  device protocol: ${v}`);
    for (const f of report.faults) console.log(`  fault: ${f}`);
    for (const p of report.problems.slice(0, 10)) console.log(`  ${p}`);
    for (const w of why) console.log(`  FAILED: ${w}`);
    if (bad) console.log(`\nFAILED — reproduce with: ${again}`);
    else if (report.uncut_workloads > 0 && report.power_cuts > 0) console.log(`\nOK: every acknowledged write was kept; the ${report.power_cuts} power cuts came before any write was acknowledged, so the writes checked were made after them, uncut.`);
    else console.log(`\nOK: every acknowledged write survived ${report.power_cuts} power cuts.`);
  }
  if (json) {
    const { violations, faults, problems, ...figures } = report;
    console.log(JSON.stringify({ ...figures, violations: violations.length, faults: faults.length, problems: problems.length }));
  }
  return bad ? 1 : 0;
}

/** --raid none|3|4|5 (default 5: the disks as one array). */
function raidOpt(v: string | undefined, dflt = 5): number {
  if (v === undefined) return dflt;
  if (v === "none") return 0;
  if (v === "3" || v === "4" || v === "5") return Number(v);
  fail(`--raid: none, 3, 4 or 5, not "${v}"`);
}

/** --fail-disk ID[@MS]: the disk at bus ID dies at MS ms of virtual time (default 0). */
function failDiskOpt(v: string | undefined): { id: number; ms: number } | null {
  if (v === undefined) return null;
  const m = /^(\d+)(?:@(\d+(?:\.\d+)?))?$/.exec(v);
  if (!m || Number(m[1]) > 6) fail(`--fail-disk: ID[@MS] with ID 0..6, not "${v}"`);
  return { id: Number(m[1]), ms: m[2] === undefined ? 0 : Number(m[2]) };
}

/** The disk stops answering at ms (a selection time-out from then on). */
export function scheduleDiskFailure(board: Board, id: number, ms: number): void {
  board.clock.at(ms * 1e6, `disk ${id} fails`, () => {
    const d = board.disks[id];
    if (d) d.faults.dead = true;
    board.trace(`disk ${id} failed (--fail-disk)`);
  });
}

function bench(json: boolean, raid: number, spares: number, failDisk: { id: number; ms: number } | null): number {
  const r: BenchReport = runBench(loadMetered(), raid, { spares, failDisk });
  if (!json) {
    const f = (x: number, d = 2) => x.toFixed(d);
    console.log(`holdup bench (metered firmware, reference board; figures in virtual time unless marked)

  power-fail interrupt latency   ${r.isr_latency_cycles} cycles (PFAIL# edge to the first EEPROM command)
  save of a full cache           ${f(r.save_ms)} ms for ${r.save_blocks} blocks in ${r.save_pages} pages; bound ${f(r.save_bound_ms)} ms (bound/actual ${f(r.save_bound_ms / r.save_ms, 3)})
  restore (EEPROM reads)         ${f(r.restore_ms)} ms; bound ${f(r.restore_bound_ms)} ms (bound/actual ${f(r.restore_bound_ms / r.restore_ms, 3)})
  save budget                    ${r.budget_blocks} blocks for ${r.holdup_ms_estimated} ms of estimated hold-up
  CRC-32C                        ${f(r.crc32c_cycles_per_byte)} cycles/byte (4 KiB)
  SECDED encode / decode         ${f(r.secded_encode_cycles_per_byte)} / ${f(r.secded_decode_cycles_per_byte)} cycles/byte (4 KiB)
  CRC in V8 (wall clock)         firmware CRC-32C ${f(r.crc32c_wasm_gbps)} Gbit/s, zlib.crc32 ${f(r.crc32_node_zlib_gbps)} Gbit/s, crc-32 (SheetJS) ${f(r.crc32_sheetjs_gbps)} Gbit/s
  destage seek, 64 random blocks elevator ${f(r.destage_seek_ms_elevator)} ms, FIFO ${f(r.destage_seek_ms_fifo)} ms (FIFO/elevator ${f(r.destage_seek_ms_fifo / r.destage_seek_ms_elevator)})
  4 KiB write ack at QD 1        write-back ${f(r.ack_us_writeback, 1)} us, write-through ${f(r.ack_us_writethrough, 1)} us (${f(r.ack_us_writethrough / r.ack_us_writeback, 1)}x)`);
    if (r.raid) {
      const a = r as Required<BenchReport>;
      console.log(`
  RAID ${a.raid} of four 1 GiB disks
  repair after a cut, writes in flight  ${a.repair_blocks} blocks (${a.repair_rows} rows) in ${f(a.repair_ms, 1)} ms
    md bitmap, 64 MiB chunks            ${a.repair_blocks_bitmap64m} blocks (${f(a.repair_blocks_bitmap64m / a.repair_blocks, 0)}x ours)
    full parity scan                    ${a.repair_blocks_fullscan} blocks (${f(a.repair_blocks_fullscan / a.repair_blocks, 0)}x ours)
  write-through, QD 4                   full rows ${f(a.write_mb_s_fullstripe, 3)} MB/s, random 4 KiB ${f(a.write_mb_s_rmw, 3)} MB/s; the members' media rate ${f(a.write_mb_s_bound, 0)} MB/s (full rows/bound ${f(a.write_mb_s_fullstripe / a.write_mb_s_bound, 4)})
  write-command buffer, no hold-up      ${f(a.wcb_eeprom_writes_per_host_write, 3)} EEPROM page writes per host write: the ring's 128 pages last ${f(a.eeprom_life_days_at_100wps, 1)} days at 100 writes/s
  rebuild onto the spare                ${f(a.rebuild_ms, 0)} ms for a ${a.rebuild_disk_mib} MiB member; bound ${f(a.rebuild_bound_ms, 1)} ms (bound/actual ${f(a.rebuild_bound_ms / a.rebuild_ms, 4)})`);
    }
  }
  if (json) console.log(JSON.stringify(r));
  return 0;
}

/** torture's --spares and --fail-disk. */
let tortureArray: { spares: number; failDisk: { id: number; ms: number } | null } = { spares: 1, failDisk: null };

function torture(variant: Variant | undefined, raid: number, seed: number, cuts: number, json: boolean, progress: boolean, sweep: boolean,
  sweepOnly: boolean, sweepK: number | undefined, sweepStep: number): number {
  const tty = process.stderr.isTTY;
  if (!json) console.log(`holdup torture: seed ${seed}, ${sweepOnly ? 0 : cuts} random cuts${sweep ? ", save sweep" : ""}, ${raid ? `RAID ${raid}` : "no array"}`);
  const onProgress = progress ? (p: TortureProgress) => {
    const line = `${p.stage} ${p.done}/${p.total}: ${p.cuts} cuts, lost ${p.lost_writes}, corrupt ${p.corrupt_reads}, traps ${p.traps}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`); else if (p.done % 10 === 0 || p.done === p.total) process.stderr.write(`${line}\n`);
  } : undefined;
  const r = runTorture(loadTortureModules(), {
    seed, cuts: sweepOnly ? 0 : cuts, variant, raid, sweep: sweep || sweepOnly, sweep_step: sweepStep, sweep_only_k: sweepK, onProgress,
    spares: tortureArray.spares, fail_disk: tortureArray.failDisk ?? undefined,
  });
  if (tty && progress) process.stderr.write("\n");
  const bad = r.failures.length > 0;
  if (!json || bad) {
    console.log(`
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
    for (const f of r.failures.slice(0, 10)) console.log(`  FAILED ${f.what}: ${f.detail}\n    reproduce: ${f.reproduce}`);
    console.log(bad ? "\nFAILED" : "\nOK: nothing acknowledged was lost or served wrong.");
  }
  if (json) {
    const { failures, ...figures } = r;
    console.log(JSON.stringify({ ...figures, failures: failures.length }));
  }
  return bad ? 1 : 0;
}

function fuzz(raid: number, seed: number, seeds: number, cdbs: number, json: boolean, progress: boolean): number {
  if (!json) console.log(`holdup fuzz: seeds ${seed}..${seed + seeds - 1}, ${cdbs} CDBs each`);
  let mismatches = 0, traps = 0, violations = 0, total = 0;
  const first: string[] = [];
  for (let i = 0; i < seeds; i++) {
    const r = runFuzz(loadMetered(), (seed + i) >>> 0, cdbs, raid ? arrayShape(raid) : DISKS_SHAPE);
    total += r.cdbs;
    mismatches += r.mismatches.length;
    traps += r.traps;
    violations += r.violations.length;
    for (const m of [...r.mismatches, ...r.violations]) if (first.length < 10) first.push(m);
    if (progress) process.stderr.write(`seed ${seed + i}: ${r.cdbs} CDBs, ${r.mismatches.length} mismatches, ${r.traps} traps\n`);
  }
  const bad = mismatches + traps + violations > 0;
  if (!json || bad) {
    console.log(`\n  CDBs        ${total} over ${seeds} seeds\n  mismatches  ${mismatches}\n  traps       ${traps}\n  violations  ${violations}`);
    for (const f of first) console.log(`  ${f}`);
    console.log(bad ? "\nFAILED" : "\nOK: every answer as the rules say.");
  }
  if (json) console.log(JSON.stringify({ seed, seeds, cdbs: total, mismatches, traps, violations }));
  return bad ? 1 : 0;
}
