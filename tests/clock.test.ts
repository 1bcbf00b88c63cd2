import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualClock } from "../host/clock.js";
import { Rng } from "../host/rng.js";

test("alarms run in time order, with the clock set to each alarm's time", () => {
  const c = new VirtualClock();
  const seen: string[] = [];
  c.at(300, "c", () => seen.push(`c@${c.now_ns}`));
  c.at(100, "a", () => seen.push(`a@${c.now_ns}`));
  c.after(200, "b", () => seen.push(`b@${c.now_ns}`));
  c.advanceTo(250);
  assert.deepEqual(seen, ["a@100", "b@200"]);
  assert.equal(c.now_ns, 250);
  assert.ok(c.runNext());
  assert.deepEqual(seen, ["a@100", "b@200", "c@300"]);
  assert.equal(c.runNext(), false);
});

test("alarms at the same instant run in the order they were set", () => {
  const c = new VirtualClock();
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) c.at(50, `x${i}`, () => seen.push(i));
  c.advanceBy(50);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("a cancelled alarm does not run", () => {
  const c = new VirtualClock();
  let ran = false;
  const a = c.after(10, "x", () => { ran = true; });
  c.cancel(a);
  c.advanceBy(100);
  assert.equal(ran, false);
  assert.equal(c.nextAt_ns(), Infinity);
});

test("an alarm set from a callback for the same instant still runs in that advance", () => {
  const c = new VirtualClock();
  const seen: string[] = [];
  c.at(10, "first", () => { seen.push("first"); c.after(0, "second", () => seen.push("second")); });
  c.advanceTo(10);
  assert.deepEqual(seen, ["first", "second"]);
});

test("an alarm in the past and a negative delay are refused", () => {
  const c = new VirtualClock();
  c.advanceTo(100);
  assert.throws(() => c.at(50, "late", () => {}));
  assert.throws(() => c.after(-1, "neg", () => {}));
  assert.throws(() => c.advanceTo(10));
});

test("the seeded generator repeats for a seed and forks independent streams", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 5 }, () => a.u32());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.u32()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.u32()));
  const f1 = new Rng(42).fork("disk0"), f2 = new Rng(42).fork("disk1");
  assert.notEqual(f1.u32(), f2.u32());
  for (let i = 0; i < 1000; i++) { const v = a.int(7); assert.ok(v >= 0 && v < 7); }
});
