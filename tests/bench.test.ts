import { test } from "node:test";
import assert from "node:assert/strict";
import { benchSaveRestore, benchCycles, benchDestage, benchAck } from "../host/bench.js";
import { loadMetered } from "../host/firmware.js";
import { benchRepair } from "../host/bench_array.js";

test("the save of a full cache is within 5% of its physical bound; the restore within 0.8; 0.8 of one hold-up's payload protected", () => {
  const r = benchSaveRestore(loadMetered());
  assert.ok(r.save_blocks >= r.budget_blocks && r.budget_blocks > 20, `${r.save_blocks} blocks, budget ${r.budget_blocks}`);
  assert.ok(r.save_bound_ms <= r.save_ms, "no faster than physics");
  assert.ok(r.save_bound_ms / r.save_ms > 0.95, `bound/actual ${r.save_bound_ms / r.save_ms}`);
  assert.ok(r.save_ms < r.holdup_ms_estimated, "the save fits the hold-up");
  assert.ok(r.restore_bound_ms <= r.restore_ms && r.restore_bound_ms / r.restore_ms >= 0.8, `restore ${r.restore_ms} ms, bound ${r.restore_bound_ms} ms`);
  // Issue 9 part 6: what the cache protects at a full cap, against the payload one
  // full hold-up could write at the EEPROM's page rate.
  assert.ok(r.protected_bytes / r.protected_bytes_bound >= 0.8, `${r.protected_bytes} of ${r.protected_bytes_bound} bytes`);
  assert.ok(r.isr_latency_cycles > 0 && r.isr_latency_cycles < 2000, `${r.isr_latency_cycles} cycles`);
});

test("checksum costs per byte are what a table-driven loop should cost", () => {
  const c = benchCycles();
  for (const v of Object.values(c)) assert.ok(v > 2 && v < 40, `${v} cycles/byte`);
});

test("the elevator seeks less than FIFO; write-back acks faster than write-through", () => {
  const d = benchDestage(loadMetered());
  assert.ok(d.destage_seek_ms_fifo > 2 * d.destage_seek_ms_elevator, JSON.stringify(d));
  const a = benchAck(loadMetered());
  assert.ok(a.ack_us_writeback * 10 < a.ack_us_writethrough, JSON.stringify(a));
});

test("the array's repair after a cut touches exactly the rows in flight: far below an md bitmap's resync and a full scan", () => {
  const r = benchRepair(loadMetered(), 5);
  assert.ok(r.repair_rows > 0 && r.repair_blocks > 0, JSON.stringify(r));
  assert.ok(r.repair_blocks_fullscan / r.repair_blocks >= 1000, JSON.stringify(r));
  assert.ok(r.repair_blocks_bitmap64m / r.repair_blocks >= 10, JSON.stringify(r));
});
