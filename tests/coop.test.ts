import { test } from "node:test";
import assert from "node:assert/strict";
import { Run, runScenario } from "../host/scenario.js";
import { loadCoop, loadMetered } from "../host/firmware.js";
import { COOP_STACK_BYTES } from "../host/mcu_coop.js";

// One MCU under the scheduler of several, suspended and resumed at every tick of its
// meter (main and whatever handlers run above it), runs exactly as it does alone.
test("a board suspended at every tick runs as it does alone: same cycles, trace, result", () => {
  for (const opts of [{ seed: 99, cuts: 2 }, { seed: 7, cuts: 2, board: { raid: 5, disks: 5, spares: 1 } }]) {
    const alone = runScenario(loadMetered(), opts);
    const run = new Run(loadCoop(), { ...opts, coop: { yieldEveryTick: true } });
    const coop = run.go();
    assert.deepEqual(coop, alone);
    assert.ok(alone.cycles > 100_000 && alone.acked_writes > 0, `${alone.acked_writes} writes`);
    assert.ok(run.board.coop.suspensions > 1000, `${run.board.coop.suspensions} suspensions`);
    // What a suspended nest saved, against the buffer each depth has.
    assert.ok(run.board.coop.stackPeak > 0 && run.board.coop.stackPeak < COOP_STACK_BYTES / 2, `${run.board.coop.stackPeak} bytes`);
  }
});
