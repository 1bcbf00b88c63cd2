// Power cuts at random instants: nothing acknowledged is lost, nothing corrupt is read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runScenario, RunReport } from "../host/scenario.js";
import { loadMetered } from "../host/firmware.js";

function check(r: RunReport): void {
  const repro = `reproduce: holdup run --seed ${r.seed} --cuts ${r.power_cuts}`;
  assert.equal(r.lost_writes, 0, `${repro}\n${r.problems.join("\n")}`);
  assert.equal(r.corrupt_reads, 0, `${repro}\n${r.problems.join("\n")}`);
  assert.deepEqual(r.faults, [], repro);
  assert.deepEqual(r.violations, [], repro);
}

test("240 power cuts at random instants over 12 seeds: 0 acknowledged writes lost", () => {
  let cuts = 0, acked = 0, checked = 0;
  for (let seed = 1000; seed < 1012; seed++) {
    const r = runScenario(loadMetered(), { seed, cuts: 20 });
    check(r);
    cuts += r.power_cuts;
    acked += r.acked_writes;
    checked += r.checked_blocks;
  }
  assert.ok(cuts >= 200, `${cuts} cuts`);
  assert.ok(acked > 1000, `${acked} acknowledged writes`);
  assert.ok(checked > acked, `${checked} blocks read back`);
});

test("power cuts with queue depth 1, sequential writes and short off times", () => {
  const r = runScenario(loadMetered(), {
    seed: 77, cuts: 30,
    workload: { queue_depth: 1, sequential_fraction: 0.9, cut_window_ms: 50, off_min_ms: 0.01, off_max_ms: 5 },
  });
  check(r);
  assert.equal(r.power_cuts, 30);
});

test("power cuts on a board with an aged cap and the FRAM part", () => {
  const r = runScenario(loadMetered(), {
    seed: 5, cuts: 10, board: { eeprom_part: "FM25V20A", power: { capacity_pct: 30 } },
  });
  check(r);
});

test("the oracle notices a lost write (a disk that drops FUA writes)", () => {
  // A negative control: if acknowledged data does not survive, the run must say so.
  const r = runScenario(loadMetered(), {
    seed: 3, cuts: 2,
    board: { disk: { write_cache: true } },
    workload: { read_fraction: 0 },
    setup: (board) => { for (const d of board.disks) d.faults.ignoreFua = true; },
  });
  assert.ok(r.lost_writes > 0, "dropping FUA must lose acknowledged writes");
});
