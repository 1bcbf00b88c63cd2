import { test } from "node:test";
import assert from "node:assert/strict";
import { runScenario } from "../host/scenario.js";
import { loadMetered } from "../host/firmware.js";

test("the same seed gives the same cycles, trace and result", () => {
  const a = runScenario(loadMetered(), { seed: 99, cuts: 2 });
  const b = runScenario(loadMetered(), { seed: 99, cuts: 2 });
  assert.deepEqual(a, b);
  assert.ok(a.cycles > 100_000);
  assert.ok(a.acked_writes > 10);
});

test("a different seed gives a different run", () => {
  const a = runScenario(loadMetered(), { seed: 1, cuts: 1 });
  const b = runScenario(loadMetered(), { seed: 2, cuts: 1 });
  assert.notEqual(a.trace_hash, b.trace_hash);
  assert.notEqual(a.cycles, b.cycles);
});
