// The same firmware under a real runtime: wasm2c's C, compiled by gcc, run by
// port/runner.c with the board in this process (host/native.ts). The metered build
// gives the same cycles, events (trace hash) and result as in V8, power cuts included;
// the release build (no meter) gives the same result under both runtimes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadMetered, loadRelease } from "../host/firmware.js";
import { runScenario, verdict } from "../host/scenario.js";
import { nativeAvailable } from "../host/native.js";

test("the native runner is built (npm run build:native: Debian wabt and gcc)", () => {
  assert.ok(nativeAvailable("metered"), "build/native/metered/holdup-native");
  assert.ok(nativeAvailable("release"), "build/native/release/holdup-native");
});

for (const { seed, cuts, raid } of [{ seed: 4, cuts: 1, raid: 0 }, { seed: 11, cuts: 2, raid: 0 }, { seed: 12, cuts: 2, raid: 5 }]) {
  test(`seed ${seed}, ${cuts} cuts${raid ? `, RAID ${raid}` : ""}: native and V8 give the same cycles, trace hash and result`, () => {
    const board = raid ? { raid, spares: 1, disks: 5 } : {};
    const v8 = runScenario(loadMetered(), { seed, cuts, cut_after_ack: true, board });
    const native = runScenario(loadMetered(), { seed, cuts, cut_after_ack: true, board: { ...board, runtime: "native" } });
    assert.deepEqual(verdict(v8), []);
    assert.equal(native.power_cuts, cuts);
    assert.equal(native.cycles, v8.cycles);
    assert.equal(native.trace_hash, v8.trace_hash);
    assert.equal(native.acked_writes, v8.acked_writes);
    assert.equal(native.lost_writes, 0);
    assert.equal(native.checked_blocks, v8.checked_blocks);
    assert.deepEqual(verdict(native), []);
  });
}

test("the release build runs the same scenario with the same result, native and V8", () => {
  const v8 = runScenario(loadRelease(), { seed: 11, cuts: 2, cut_after_ack: true });
  const native = runScenario(loadRelease(), { seed: 11, cuts: 2, cut_after_ack: true, board: { runtime: "native", build: "release" } });
  assert.deepEqual(verdict(v8), []);
  assert.deepEqual(verdict(native), []);
  assert.ok(native.acked_writes > 0);
  assert.equal(native.cycles, 0, "no meter in the release build");
  assert.equal(native.trace_hash, v8.trace_hash);
  assert.equal(native.acked_writes, v8.acked_writes);
});
