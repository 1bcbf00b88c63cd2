// holdup run / torture / bench with --controllers 2: the pair (issue 10, host/pair_run.ts,
// host/bench_pair.ts). A summary on standard error (or out), the JSON line with --json.
import { loadCoop, loadMetered } from "./firmware.js";
import { runPair, PairRunReport, PAIR_FAULTS, PairFault, PairLoad, PAIR_LOAD } from "./pair_run.js";
import { runPairJobs, PairRunSpec } from "./pair_jobs.js";
import { defaultJobs } from "./torture_jobs.js";
import { benchPair } from "./bench_pair.js";
import { fail, intOpt, randomSeed, Values } from "./cli.js";

function faultsOpt(values: Values, command: string): PairFault[] {
  const list = typeof values.faults === "string" && values.faults !== "" ? values.faults.split(",") : [...PAIR_FAULTS];
  for (const f of list) if (!(PAIR_FAULTS as readonly string[]).includes(f)) fail(`--faults: ${PAIR_FAULTS.join(", ")}, not "${f}"`, command);
  return list as PairFault[];
}

/** The workload's options (--qd, --think-ms, --span-blocks, --window-ms), and the run's
 * options as given (those and --faults), as command-line text for the reproduce line. */
function loadOpt(values: Values): { load: PairLoad; args: string } {
  const load: PairLoad = {
    queue_depth: intOpt(values.qd, "qd", 1, 4, PAIR_LOAD.queue_depth),
    think_ms: intOpt(values["think-ms"], "think-ms", 0, 10_000, PAIR_LOAD.think_ms),
    span_blocks: intOpt(values["span-blocks"], "span-blocks", 16, 1 << 20, PAIR_LOAD.span_blocks),
    window_ms: intOpt(values["window-ms"], "window-ms", 1, 60_000, PAIR_LOAD.window_ms),
  };
  const args = (["faults", "qd", "think-ms", "span-blocks", "window-ms"] as const)
    .filter((k) => values[k] !== undefined).map((k) => ` --${k} ${values[k]}`).join("");
  return { load, args };
}

function summary(r: PairRunReport, say: (s: string) => void): void {
  say(`  events ${r.events} (${Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(", ")}), takeovers ${r.takeovers}, ` +
    `givebacks ${r.givebacks}, path failovers ${r.path_failovers}`);
  say(`  acked writes ${r.acked_writes}, blocks checked ${r.checked_blocks}: lost ${r.lost_writes}, corrupt ${r.corrupt_reads}, ` +
    `split brain ${r.split_brain}, fenced writes refused ${r.fenced_writes}, traps ${r.traps}`);
  say(`  mirroring: ${r.mirroring ? "on" : "off"}, catch-ups ${r.mirror_catchups}, link messages dropped ${r.link_msgs_dropped}; ${r.virtual_ms.toFixed(0)} ms virtual, ${r.cycles} cycles`);
}

/** `holdup run --controllers 2`. */
export function runPairCli(values: Values): number {
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const events = intOpt(values.events, "events", 1, 100_000, 6);
  const faults = faultsOpt(values, "run");
  const { load, args } = loadOpt(values);
  const json = values.json === true;
  const say = json ? console.error : console.log;
  say(`holdup run: two controllers, seed ${seed}, ${events} events (${faults.join(", ")})${args}`);
  const r = runPair(loadCoop(), { seed, events, faults, ...load });
  summary(r, say);
  const ok = r.failures.length === 0;
  if (!ok) {
    for (const f of r.failures.slice(0, 10)) console.error(`  ${f}`);
    console.error(`reproduce with: holdup run --controllers 2 --seed ${seed} --events ${events}${args}`);
  }
  say(ok ? "verdict: PASS" : "verdict: FAIL");
  if (json) console.log(JSON.stringify(r));
  return ok ? 0 : 1;
}

/** `holdup torture --controllers 2`: runs of `--events-per-run` events from
 * consecutive seeds until `--events` events in all, on `--jobs` worker threads. */
export async function torturePairCli(values: Values): Promise<number> {
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const total = intOpt(values.events, "events", 1, 10_000_000, 100);
  const per = intOpt(values["events-per-run"], "events-per-run", 1, 1000, 10);
  const jobs = intOpt(values.jobs, "jobs", 1, 256, defaultJobs());
  const faults = faultsOpt(values, "torture");
  const { load, args } = loadOpt(values);
  const json = values.json === true;
  const say = json ? console.error : console.log;
  say(`holdup torture: two controllers, seeds from ${seed}, ${total} events, ${per} a run, ${jobs} jobs${args}`);
  const specs: PairRunSpec[] = [];
  for (let done = 0, k = 0; done < total; k++) {
    const n = Math.min(per, total - done);
    specs.push({ seed: seed + k, events: n, faults, ...load });
    done += n;
  }
  const sum: Record<string, number> = {};
  const faultCounts: Record<string, number> = {};
  const failures: string[] = [];
  let runs = 0, events = 0;
  await runPairJobs(specs, jobs, (r) => {
    runs++;
    events += r.events;
    for (const k of ["takeovers", "givebacks", "split_brain", "fenced_writes", "mirror_catchups", "link_msgs_dropped", "acked_writes", "checked_blocks",
      "lost_writes", "corrupt_reads", "detected_errors", "traps", "path_failovers", "host_gave_up", "virtual_ms", "cycles"] as const) {
      sum[k] = (sum[k] ?? 0) + (r[k] as number);
    }
    for (const [k, v] of Object.entries(r.faults)) faultCounts[k] = (faultCounts[k] ?? 0) + v;
    failures.push(...r.failures);
    if (!values.quiet) process.stderr.write(`run ${runs}/${specs.length} (seed ${r.seed}): ${events}/${total} events, lost ${sum.lost_writes} corrupt ${sum.corrupt_reads} split ${sum.split_brain}\n`);
  });
  sum.virtual_ms = Math.round(sum.virtual_ms ?? 0);
  const report = { controllers: 2, seed, runs, events, faults: faultCounts, load, ...sum, mirroring: true, failures };
  say(`  ${runs} runs, ${events} events: lost ${sum.lost_writes}, corrupt ${sum.corrupt_reads}, split brain ${sum.split_brain}, traps ${sum.traps}, takeovers ${sum.takeovers}`);
  say(failures.length ? "verdict: FAIL" : "verdict: PASS");
  for (const f of failures.slice(0, 10)) console.error(`  ${f}`);
  if (failures.length) console.error(`reproduce a run with: holdup run --controllers 2 --seed SEED --events ${per}${args}`);
  if (json) console.log(JSON.stringify(report));
  return failures.length ? 1 : 0;
}

/** `holdup bench --controllers 2`. */
export function benchPairCli(values: Values): number {
  const r = benchPair(loadCoop(), loadMetered());
  const say = values.json === true ? console.error : console.log;
  say("holdup bench: two controllers");
  say(`  partner dead seen after   ${r.detect_ms_dead} ms (bound ${r.detect_ms_dead_bound})`);
  say(`  partner hung seen after   ${r.detect_ms_hung} ms (bound ${r.detect_ms_hung_bound})`);
  say(`  partner I/O hung seen     ${r.detect_ms_io_hung} ms (bound ${r.detect_ms_io_hung_bound})`);
  say(`  takeover: verdict to first write acknowledged by the survivor: ${r.takeover_ms} ms`);
  say(`  4 KiB write, QD 1, through the owner: mirrored ${r.ack_us_mirrored} µs${r.mirroring ? "" : " (NOT mirroring)"}, ` +
    `the owner alone (writes through) ${r.ack_us_unmirrored} µs, one controller not in a pair (write-back) ${r.ack_us_single} µs`);
  say(`    mirrored / alone ${r.ack_ratio_unmirrored}, mirrored / not in a pair ${r.ack_ratio_single}`);
  say(`  partner back: mirroring again after ${r.rejoin_ms} ms (boot and rejoin), of which the catch-up ${r.catchup_ms} ms`);
  if (values.json === true) console.log(JSON.stringify(r));
  return 0;
}
