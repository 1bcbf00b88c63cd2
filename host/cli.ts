// holdup command line: `holdup run` (and `npm start`).
import { parseArgs } from "node:util";
import { randomInt } from "node:crypto";
import { loadMetered } from "./firmware.js";
import { runScenario, RunProgress, RunReport, DEFAULT_WORKLOAD } from "./scenario.js";
import { EEPROM_PARTS } from "./devices/eeprom.js";

const HELP = `holdup — storage-controller firmware and its board emulator

usage: holdup <command> [options]

commands:
  run        boot the firmware on the reference board, drive a host workload to its
             LUNs, cut the power at random instants, boot again, and check every
             acknowledged write (the main job; npm start runs it)
  help       this text

options for run:
  --seed N       seed for every random choice (default: a random seed, printed);
                 the same seed gives the same cycles, trace and result
  --cuts N       power cuts, each followed by a reboot and a full read-back (default 3)
  --json         print one JSON object as the last line (keys: seed, acked_writes,
                 lost_writes, corrupt_reads, power_cuts, cycles, virtual_ms, ...)
  --disks N      disks on the bus (default 4)
  --eeprom PART  EEPROM part: ${Object.keys(EEPROM_PARTS).join(", ")} (default 25LC1024)
  --cap-pct N    supercap capacity left after ageing, percent (default 100)
  --qd N         host queue depth, 1..4 (default ${DEFAULT_WORKLOAD.queue_depth})
  --quiet        no progress line
  -h, --help     this text

exit status: 0 if nothing acknowledged was lost or corrupted, 1 if something was,
2 for bad usage.`;

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
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? "help";
  if (values.help || command === "help") { console.log(HELP); return 0; }
  if (command !== "run") fail(`unknown command "${command}"`);
  if (positionals.length > 1) fail(`unexpected argument "${positionals[1]}"`);

  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomInt(1, 2 ** 31));
  const cuts = intOpt(values.cuts, "cuts", 0, 1_000_000, 3);
  const disks = intOpt(values.disks, "disks", 1, 7, 4);
  const capPct = intOpt(values["cap-pct"], "cap-pct", 1, 100, 100);
  const qd = intOpt(values.qd, "qd", 1, 4, DEFAULT_WORKLOAD.queue_depth);
  const eeprom = values.eeprom ?? "25LC1024";
  if (!EEPROM_PARTS[eeprom]) fail(`unknown EEPROM part "${eeprom}"`);
  const json = values.json ?? false;
  const showProgress = !values.quiet;
  const tty = process.stderr.isTTY;

  if (!json) console.log(`holdup run: seed ${seed}, ${cuts} power cuts, ${disks} disks, EEPROM ${eeprom}`);
  const onProgress = showProgress ? (p: RunProgress) => {
    const line = `[${p.virtual_ms.toFixed(1).padStart(9)} ms] cut ${p.cut}/${p.cuts} ${p.phase.padEnd(8)} ` +
      `acked ${p.acked_writes} lost ${p.lost_writes} corrupt ${p.corrupt_reads}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else process.stderr.write(`${line}\n`);
  } : undefined;

  let report: RunReport;
  try {
    report = runScenario(loadMetered(), {
      seed, cuts, onProgress, workload: { queue_depth: qd },
      board: { disks, eeprom_part: eeprom, power: { capacity_pct: capPct } },
    });
  } catch (e) {
    if (tty && showProgress) process.stderr.write("\n");
    console.error(`holdup run failed: ${(e as Error).message}\nreproduce with: holdup run --seed ${seed} --cuts ${cuts}`);
    return 1;
  }
  if (tty && showProgress) process.stderr.write("\n");
  const bad = report.lost_writes > 0 || report.corrupt_reads > 0 || report.faults.length > 0;
  if (!json || bad) {
    console.log(`
  seed             ${report.seed}
  LUNs             ${report.luns}
  power cuts       ${report.power_cuts} (${report.boots} boots)
  acked writes     ${report.acked_writes} (${report.acked_blocks} blocks)
  blocks checked   ${report.checked_blocks}
  lost writes      ${report.lost_writes}
  corrupt reads    ${report.corrupt_reads}
  detected errors  ${report.detected_errors} (torn, never-acknowledged writes reported as MEDIUM ERROR)
  firmware cycles  ${report.cycles}
  virtual time     ${report.virtual_ms.toFixed(3)} ms
  trace hash       ${report.trace_hash}`);
    for (const v of report.violations.slice(0, 10)) console.log(`  device protocol: ${v}`);
    for (const f of report.faults) console.log(`  fault: ${f}`);
    for (const p of report.problems.slice(0, 10)) console.log(`  ${p}`);
    if (bad) console.log(`\nFAILED — reproduce with: holdup run --seed ${seed} --cuts ${cuts}`);
    else console.log(`\nOK: every acknowledged write survived ${report.power_cuts} power cuts.`);
  }
  if (json) {
    const { violations, faults, problems, ...figures } = report;
    console.log(JSON.stringify({ ...figures, violations: violations.length, faults: faults.length, problems: problems.length }));
  }
  return bad ? 1 : 0;
}
