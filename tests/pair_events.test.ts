import { test } from "node:test";
import assert from "node:assert/strict";
import { runPairJobs, PairRunSpec } from "../host/pair_jobs.js";
import { PairRunReport, PAIR_FAULTS } from "../host/pair_run.js";

// The pair over 1,000 events (issue 10, "Done when"): every fault kind the torture draws,
// each at a random instant of its window, the pair settled and every block read back
// after each one. The workload is light so that the thousand fit in npm test: one
// command in flight with 20 ms between, over 128 blocks a LUN (overwritten often), the
// fault drawn from the first 500 ms of each window. `holdup torture --controllers 2` runs
// the default workload (four in flight over 2,048 blocks) and as many events as asked.

const RUNS = 100;
const PER_RUN = 10;
const LIGHT = { queue_depth: 1, think_ms: 20, span_blocks: 128, window_ms: 500 };

test("the pair over 1,000 events of every fault kind: nothing lost or corrupt, no split brain, no trap", async (t) => {
  const specs: PairRunSpec[] = [];
  for (let k = 0; k < RUNS; k++) specs.push({ seed: 41_000 + k, events: PER_RUN, faults: [...PAIR_FAULTS], ...LIGHT });
  const reports: PairRunReport[] = [];
  await runPairJobs(specs, 2, (r) => reports.push(r));
  const sum = (k: keyof PairRunReport) => reports.reduce((n, r) => n + (r[k] as number), 0);
  const failures = reports.flatMap((r) => r.failures);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures`);
  assert.equal(reports.length, RUNS);
  assert.equal(sum("events"), RUNS * PER_RUN);
  assert.equal(sum("lost_writes"), 0);
  assert.equal(sum("corrupt_reads"), 0);
  assert.equal(sum("split_brain"), 0);
  assert.equal(sum("traps"), 0);
  // Every kind drawn often (7 kinds, 1,000 draws), and the faults did what they are for.
  const kinds: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(r.faults)) kinds[k] = (kinds[k] ?? 0) + n;
  t.diagnostic(`faults ${JSON.stringify(kinds)}; ` + (["takeovers", "givebacks", "mirror_catchups", "fenced_writes", "acked_writes",
    "checked_blocks", "path_failovers", "host_gave_up"] as const).map((k) => `${k} ${sum(k)}`).join(", "));
  for (const f of PAIR_FAULTS) assert.ok((kinds[f] ?? 0) >= 100, `${f}: ${kinds[f] ?? 0} events`);
  assert.ok(sum("takeovers") >= 300, `${sum("takeovers")} takeovers`);
  assert.ok(sum("givebacks") >= 300, `${sum("givebacks")} givebacks`);
  assert.ok(sum("mirror_catchups") >= 1000, `${sum("mirror_catchups")} mirror sessions`);
  assert.ok(sum("fenced_writes") >= 10, `${sum("fenced_writes")} writes from fenced controllers refused`);
  assert.equal(sum("host_gave_up"), 0, "the host gave up on no command");
  assert.ok(sum("acked_writes") >= 30_000, `${sum("acked_writes")} acknowledged writes`);
  assert.ok(sum("checked_blocks") >= 300_000, `${sum("checked_blocks")} blocks read back`);
});
