// holdup command line: `holdup run` (and `npm start`), bench, torture, fuzz, merge,
// serve, backup.
// Each command has its own options and help (cli_help.ts); an option another command
// owns is an error, as is a missing command. With --json, standard output carries the
// JSON line only and every human line goes to standard error.
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { randomInt } from "node:crypto";
import { loadMetered, loadDirectorMetered } from "./firmware.js";
import { runBench, BenchReport } from "./bench.js";
import { writeSvgs } from "./bench_svg.js";
import { runFuzz, arrayShape, DISKS_SHAPE } from "./fuzz.js";
import { mergeJson } from "./torture_report.js";
import { HELP, HELP_MAIN } from "./cli_help.js";
import { run, torture } from "./cli_run.js";
import { runPairCli, torturePairCli, benchPairCli } from "./cli_pair.js";
import { serve } from "./cli_serve.js";
import { runBackup, BACKUP_FAULTS, type BackupFault } from "./backup/run.js";
import { DEFAULT_APPEND_THRESHOLD_PCT, DEFAULT_FAILOVER_RATE_KIB_S, DEFAULT_REPLAY_ALLOWANCE_PERMILLE } from "./backup/director_run.js";

type OptionSpec = { type: "string" | "boolean"; short?: string };
export type Values = Record<string, string | boolean | undefined>;

const str: OptionSpec = { type: "string" };
const flag: OptionSpec = { type: "boolean" };
const COMMON = { help: { type: "boolean", short: "h" } as OptionSpec };

/** Each command's options: what parseArgs accepts (strict) for it. */
const OPTIONS: Record<string, Record<string, OptionSpec>> = {
  run: {
    seed: str, cuts: str, json: flag, disks: str, eeprom: str, "cap-pct": str, qd: str, quiet: flag,
    "disk-fault": str, raid: str, spares: str, "fail-disk": str, vcd: str, "vcd-from": str, "vcd-to": str,
    runtime: str, build: str, controllers: str, events: str, faults: str, "think-ms": str, "span-blocks": str, "window-ms": str,
  },
  bench: { json: flag, raid: str, spares: str, "fail-disk": str, svg: str, controllers: str },
  torture: {
    seed: str, cuts: str, json: flag, quiet: flag, variant: str, "no-sweep": flag, "sweep-only": flag,
    "sweep-k": str, "sweep-step": str, raid: str, spares: str, "fail-disk": str, jobs: str, shard: str,
    vcd: str, "vcd-from": str, "vcd-to": str, director: flag, controllers: str, events: str, "events-per-run": str, faults: str,
    qd: str, "think-ms": str, "span-blocks": str, "window-ms": str,
  },
  fuzz: { raid: str, seed: str, seeds: str, cdbs: str, json: flag, quiet: flag },
  merge: {},
  serve: { iscsi: str, seed: str, raid: str, spares: str, disks: str, "cut-power-at": str, "off-ms": str, quiet: flag },
  backup: {
    seed: str, "jobs-count": str, faults: str, json: flag, "append-threshold": str, "failover-rate": str, "replay-allowance": str,
    log: flag,
  },
};

export function fail(msg: string, command?: string): never {
  console.error(`holdup: ${msg}\n(see holdup ${command ? `${command} ` : ""}--help)`);
  process.exit(2);
}

export function intOpt(v: string | boolean | undefined, name: string, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "string" || !/^\d+$/.test(v)) fail(`--${name} needs a whole number, got "${v}"`);
  const n = Number(v);
  if (n < lo || n > hi) fail(`--${name} must be in ${lo}..${hi}`);
  return n;
}

/** --raid none|3|4|5 (default 5: the disks as one array). */
export function raidOpt(v: string | boolean | undefined, dflt = 5): number {
  if (v === undefined) return dflt;
  if (v === "none") return 0;
  if (v === "3" || v === "4" || v === "5") return Number(v);
  fail(`--raid: none, 3, 4 or 5, not "${v}"`);
}

/** --fail-disk ID[@MS]: the disk at bus ID dies at MS ms of virtual time (default 0). */
export function failDiskOpt(v: string | boolean | undefined): { id: number; ms: number } | null {
  if (v === undefined) return null;
  const m = typeof v === "string" ? /^(\d+)(?:@(\d+(?:\.\d+)?))?$/.exec(v) : null;
  if (!m || Number(m[1]) > 6) fail(`--fail-disk: ID[@MS] with ID 0..6, not "${v}"`);
  return { id: Number(m[1]), ms: m[2] === undefined ? 0 : Number(m[2]) };
}

export function randomSeed(): number { return randomInt(1, 2 ** 31); }

/** A string option's value that starts with a dash (`--cuts -1`) is taken as its value,
 * so that the option's own check answers, not parseArgs' "ambiguous". */
function glueDashValues(argv: string[], opts: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith("--") ? a.slice(2) : null;
    if (name && opts[name]?.type === "string" && i + 1 < argv.length && /^-\d/.test(argv[i + 1])) {
      out.push(`${a}=${argv[++i]}`);
    } else out.push(a);
  }
  return out;
}

export function main(argv: string[]): number | Promise<number> {
  const command = argv[0];
  if (command === undefined) { console.error(HELP_MAIN); return 2; }
  if (command === "--help" || command === "-h") { console.log(HELP_MAIN); return 0; }
  if (command === "help") {
    const topic = argv[1];
    if (topic === undefined) { console.log(HELP_MAIN); return 0; }
    if (!HELP[topic]) fail(`no command "${topic}"`);
    console.log(HELP[topic]);
    return 0;
  }
  const spec = OPTIONS[command];
  if (!spec) fail(`unknown command "${command}"`);
  const options = { ...spec, ...COMMON };
  let parsed;
  try {
    parsed = parseArgs({ args: glueDashValues(argv.slice(1), options), allowPositionals: command === "merge", strict: true, options });
  } catch (e) {
    fail(`${command}: ${(e as Error).message}`, command);
  }
  const values = parsed.values as Values;
  if (values.help) { console.log(HELP[command]); return 0; }
  const pair = intOpt(values.controllers, "controllers", 1, 2, 1) === 2;
  switch (command) {
    case "run": return pair ? runPairCli(values) : run(values);
    case "torture": return pair ? torturePairCli(values) : torture(values);
    case "bench":
      if (pair) return benchPairCli(values);
      return bench(values.json === true, raidOpt(values.raid), intOpt(values.spares, "spares", 0, 2, 1), failDiskOpt(values["fail-disk"]),
        typeof values.svg === "string" ? values.svg : null);
    case "fuzz":
      return fuzz(raidOpt(values.raid, 0), intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed()),
        intOpt(values.seeds, "seeds", 1, 1_000_000, 1), intOpt(values.cdbs, "cdbs", 1, 100_000_000, 50_000),
        values.json === true, !values.quiet);
    case "merge": return merge(parsed.positionals);
    case "serve": return serve(values);
    case "backup": return backup(values);
  }
  return 2;
}

/** `holdup backup`: backup jobs through the director (host/backup/run.ts). */
function backup(values: Values): number {
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const jobs = intOpt(values["jobs-count"], "jobs-count", 1, 1000, 3);
  const faults = typeof values.faults === "string" && values.faults !== "" ? values.faults.split(",") : [];
  for (const f of faults) if (!(BACKUP_FAULTS as readonly string[]).includes(f)) fail(`--faults: ${BACKUP_FAULTS.join(", ")}, not "${f}"`, "backup");
  const r = runBackup(loadDirectorMetered(), seed, jobs, faults as BackupFault[], {
    appendThresholdPct: intOpt(values["append-threshold"], "append-threshold", 0, 100, DEFAULT_APPEND_THRESHOLD_PCT),
    failoverRateKiBs: intOpt(values["failover-rate"], "failover-rate", 0, 1 << 20, DEFAULT_FAILOVER_RATE_KIB_S),
    replayAllowancePermille: intOpt(values["replay-allowance"], "replay-allowance", 0, 500, DEFAULT_REPLAY_ALLOWANCE_PERMILLE),
    log: values.log ? (l) => console.error(l) : undefined,
  });
  const out = values.json ? console.error : console.log;
  out(`holdup backup: seed ${seed}, ${jobs} jobs (${r.job_bytes} bytes), faults: ${faults.join(", ") || "none"}`);
  out(`  tapes written   ${r.tapes_written}`);
  out(`  tape mismatches ${r.tape_mismatches} bytes`);
  out(`  GNU tar         ${r.tar_verified ? "every job lists and extracts to its tree" : "a job does not restore"}`);
  out(`  failovers       drive ${r.failovers_drive}, tape ${r.failovers_medium}, director ${r.failovers_director}; director restarts ${r.director_restarts}; ${r.replayed_bytes} bytes written back`);
  out(`  during failover ${r.failover_accepted_bytes} bytes taken at the reduced rate, written after; ${r.busy_answers} BUSY answers`);
  out(`  job errors      ${r.job_errors}${r.errors.length ? `: ${r.errors[0]}` : ""}`);
  out(`  server stall    ${r.server_stall_ms_max} ms at most for one command, ${r.write_stall_ms_max} ms for one write`);
  out(`  virtual time    ${(r.virtual_ms / 1000).toFixed(1)} s, firmware cycles ${r.cycles}`);
  const ok = r.tape_mismatches === 0 && r.tar_verified && r.job_errors === 0;
  out(ok ? "\nOK: the tapes hold exactly the jobs' streams." : "\nFAILED");
  if (values.json) console.log(JSON.stringify(r));
  return ok ? 0 : 1;
}

/** `holdup merge FILE...`: the last JSON line of each file, added up. */
function merge(files: string[]): number {
  if (!files.length) fail("merge needs the files of torture --json runs", "merge");
  const lines: Record<string, unknown>[] = [];
  for (const f of files) {
    let text: string;
    try { text = readFileSync(f === "-" ? 0 : f, "utf8"); } catch (e) { fail(`merge: cannot read ${f}: ${(e as Error).message}`, "merge"); }
    const last = text.trim().split("\n").reverse().find((l) => l.startsWith("{"));
    if (!last) fail(`merge: ${f} has no JSON line`, "merge");
    try { lines.push(JSON.parse(last)); } catch { fail(`merge: ${f}: the last JSON line does not parse`, "merge"); }
  }
  let merged: Record<string, unknown>;
  try { merged = mergeJson(lines); } catch (e) { fail(`merge: ${(e as Error).message}`, "merge"); }
  console.log(JSON.stringify(merged));
  const failures = Array.isArray(merged.failures) ? merged.failures.length : Number(merged.failures ?? 0);
  return failures > 0 ? 1 : 0;
}

async function bench(json: boolean, raid: number, spares: number, failDisk: { id: number; ms: number } | null,
  svgDir: string | null): Promise<number> {
  const r: BenchReport = runBench(loadMetered(), raid, { spares, failDisk });
  const say = json ? console.error : console.log;
  {
    const f = (x: number, d = 2) => x.toFixed(d);
    say(`holdup bench (metered firmware, reference board; figures in virtual time unless marked)

  power-fail interrupt latency   ${r.isr_latency_cycles} cycles (PFAIL# edge to the first EEPROM command)
  save of a full cache           ${f(r.save_ms)} ms for ${r.save_blocks} blocks in ${r.save_pages} pages; bound ${f(r.save_bound_ms)} ms for those pages (${f(r.save_bound_ms / r.save_ms, 3)}), ${f(r.save_bound_payload_ms)} ms for the payload alone (${f(r.save_bound_payload_ms / r.save_ms, 3)})
  restore (EEPROM reads)         ${f(r.restore_ms)} ms (scan ${f(r.restore_scan_ms)} ms, load ${f(r.restore_load_ms)} ms); bound ${f(r.restore_bound_ms)} ms for the image's pages (${f(r.restore_bound_ms / r.restore_ms, 3)}), ${f(r.restore_bound_payload_ms)} ms for the payload and one page of scan (${f(r.restore_bound_payload_ms / r.restore_ms, 3)})
  save budget (full cap)         ${r.budget_blocks} blocks for ${r.holdup_ms_estimated} ms of estimated hold-up: ${r.protected_bytes} bytes protected, bound ${r.protected_bytes_bound} (${f(r.protected_bytes / r.protected_bytes_bound, 3)})
  CRC-32C                        ${f(r.crc32c_cycles_per_byte)} cycles/byte (4 KiB)
  SECDED encode / decode         ${f(r.secded_encode_cycles_per_byte)} / ${f(r.secded_decode_cycles_per_byte)} cycles/byte (4 KiB)
  CRC-32C in V8 (wall clock)     firmware ${f(r.crc32c_wasm_gbyte_s)} GB/s, native (@node-rs/crc32) ${f(r.crc32c_native_gbyte_s)} GB/s (${f(r.crc32c_wasm_gbyte_s / r.crc32c_native_gbyte_s)}x), SheetJS crc32c ${f(r.crc32c_sheetjs_gbyte_s)} GB/s (${f(r.crc32c_wasm_gbyte_s / r.crc32c_sheetjs_gbyte_s)}x)
  CRC-32 in V8 (wall clock)      zlib.crc32 ${f(r.crc32_node_zlib_gbyte_s)} GB/s, SheetJS crc-32 ${f(r.crc32_sheetjs_gbyte_s)} GB/s
  destage, 64 random blocks      seek: elevator ${f(r.destage_seek_ms_elevator)} ms, FIFO ${f(r.destage_seek_ms_fifo)} ms (${f(r.destage_seek_ms_fifo / r.destage_seek_ms_elevator)}x); seek + rotation, same board: elevator ${f(r.destage_ms_elevator)} ms, FIFO ${f(r.destage_ms_fifo)} ms (${f(r.destage_ms_fifo / r.destage_ms_elevator)}x)
  4 KiB write ack at QD 1, idle  write-back ${f(r.ack_us_writeback, 1)} us, write-through ${f(r.ack_us_writethrough, 1)} us (${f(r.ack_us_writethrough / r.ack_us_writeback, 1)}x)
  4 KiB random writes, QD 4      write-back p50 ${f(r.ack_us_p50_sustained_writeback / 1e3, 1)} ms, p99 ${f(r.ack_us_p99_sustained_writeback / 1e3, 1)} ms; write-through p50 ${f(r.ack_us_p50_sustained_writethrough / 1e3, 1)} ms, p99 ${f(r.ack_us_p99_sustained_writethrough / 1e3, 1)} ms
  backup director (seed 004)     ${f(r.director_mb_s, 1)} MB/s through it, ${f(r.drive_mb_s, 1)} MB/s straight to the drive (${f(r.director_mb_s / r.drive_mb_s, 3)})
  director: a drive fails        tape moved ${f(r.drive_failover_ms / 1e3, 1)} s to resume, bound ${f(r.failover_bound_ms / 1e3, 1)} s (${f(r.drive_failover_ms / r.failover_bound_ms, 3)}x); tape stuck ${f(r.drive_failover_ms_stuck / 1e3, 1)} s, bound ${f(r.failover_bound_ms_stuck / 1e3, 1)} s (${f(r.drive_failover_ms_stuck / r.failover_bound_ms_stuck, 3)}x)
  director: during the failover  the longest write ${f(r.failover_write_stall_ms, 1)} ms (taken at the reduced rate), the job's filemark held ${f(r.failover_held_ms / 1e3, 1)} s
  Cortex-M4 image (release)      ${r.port_flash_bytes === null ? "not built (npm run build:m4)" : `flash ${r.port_flash_bytes} B, RAM ${r.port_ram_bytes} B`}`);
    if (r.raid) {
      const a = r as Required<BenchReport>;
      say(`
  RAID ${a.raid} of four 1 GiB disks
  repair after a cut, writes in flight  ${a.repair_blocks} blocks (${a.repair_rows} rows) in ${f(a.repair_ms, 1)} ms
    md bitmap, 64 MiB chunks            ${a.repair_blocks_bitmap64m} blocks (${f(a.repair_blocks_bitmap64m / a.repair_blocks, 0)}x ours)
    full parity scan                    ${a.repair_blocks_fullscan} blocks (${f(a.repair_blocks_fullscan / a.repair_blocks, 0)}x ours)
  write-through, QD 4                   full rows ${f(a.write_mb_s_fullstripe, 3)} MB/s, random 4 KiB ${f(a.write_mb_s_rmw, 3)} MB/s; the members' media rate ${f(a.write_mb_s_bound, 0)} MB/s (full rows/bound ${f(a.write_mb_s_fullstripe / a.write_mb_s_bound, 4)})
  write-command buffer, no hold-up      ${f(a.wcb_eeprom_writes_per_host_write, 3)} EEPROM page writes per host write: the ring's 128 pages last ${f(a.eeprom_life_days_at_100wps, 1)} days at 100 writes/s
  rebuild onto the spare                ${f(a.rebuild_ms, 0)} ms for a ${a.rebuild_disk_mib} MiB member; bound ${f(a.rebuild_bound_ms, 1)} ms (bound/actual ${f(a.rebuild_bound_ms / a.rebuild_ms, 4)})`);
    }
  }
  if (svgDir) {
    const files = await writeSvgs(svgDir, loadMetered(), r);
    (json ? console.error : console.log)(`\n  pictures: ${files.join(", ")}`);
  }
  if (json) console.log(JSON.stringify(r));
  return 0;
}

function fuzz(raid: number, seed: number, seeds: number, cdbs: number, json: boolean, progress: boolean): number {
  const say = json ? console.error : console.log;
  say(`holdup fuzz: seeds ${seed}..${seed + seeds - 1}, ${cdbs} CDBs each`);
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
  {
    say(`\n  CDBs        ${total} over ${seeds} seeds\n  mismatches  ${mismatches}\n  traps       ${traps}\n  violations  ${violations}`);
    for (const f of first) say(`  ${f}`);
    say(bad ? "\nFAILED" : "\nOK: every answer as the rules say.");
  }
  if (json) console.log(JSON.stringify({ seed, seeds, cdbs: total, mismatches, traps, violations }));
  return bad ? 1 : 0;
}
