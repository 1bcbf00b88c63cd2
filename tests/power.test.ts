import { test } from "node:test";
import assert from "node:assert/strict";
import { Supercap, DEFAULT_POWER } from "../host/devices/power.js";

test("a full cap holds the board up for 1.0 s (t = C(V1²−V2²)/2P)", () => {
  const cap = new Supercap(DEFAULT_POWER, 0);
  const p = DEFAULT_POWER;
  const expect_s = p.capacitance_f * (p.v_full ** 2 - p.v_min ** 2) / (2 * p.load_w);
  assert.equal(expect_s, 1.0);
  assert.ok(Math.abs(cap.holdupAt_ns(0) - 1e9) < 1);
});

test("discharging at P watts reaches V2 exactly at the hold-up time", () => {
  const cap = new Supercap(DEFAULT_POWER, 0);
  cap.setMode("discharging", 0);
  assert.ok(Math.abs(cap.voltageAt(1e9) - DEFAULT_POWER.v_min) < 1e-9);
  assert.ok(Math.abs(cap.holdupAt_ns(0.5e9) - 0.5e9) < 1);
});

test("the cap charges from empty to full in 10 s, and is not full before", () => {
  const cap = new Supercap(DEFAULT_POWER, 0, 0);
  assert.equal(cap.holdupAt_ns(0), 0);
  assert.ok(cap.voltageAt(9.9e9) < DEFAULT_POWER.v_full);
  assert.equal(cap.voltageAt(10e9), DEFAULT_POWER.v_full);
  // Half-charged (2.5 V) is under the brown-out voltage: no hold-up at all.
  assert.equal(cap.holdupAt_ns(5e9), 0);
});

test("an aged cap at 50% capacity holds up half as long", () => {
  const cap = new Supercap({ ...DEFAULT_POWER, capacity_pct: 50 }, 0);
  assert.ok(Math.abs(cap.holdupAt_ns(0) - 0.5e9) < 1);
});

test("a disconnected cap keeps its charge", () => {
  const cap = new Supercap(DEFAULT_POWER, 0);
  cap.setMode("discharging", 0);
  cap.setMode("disconnected", 0.2e9);
  const v = cap.voltageAt(0.2e9);
  assert.equal(cap.voltageAt(100e9), v);
});
