// Random CDBs on several seeds: no trap, and the status and sense the rules require.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runFuzz, arrayShape } from "../host/fuzz.js";
import { loadMetered } from "../host/firmware.js";

test("random CDBs on 6 seeds (30,000 in all): no trap, and the status and sense the rules require", () => {
  const seen = new Set<string>();
  let good = 0, check = 0;
  for (const seed of [20261123, 1, 2, 3, 4, 5]) {
    const r = runFuzz(loadMetered(), seed, 5000);
    assert.deepEqual(r.mismatches, [], `seed ${seed}`);
    assert.equal(r.traps, 0);
    assert.deepEqual(r.violations, []);
    for (const k of r.seen) seen.add(k);
    good += r.good;
    check += r.check;
  }
  // The generator reached every kind of answer, not just one.
  for (const k of ["5/2000", "5/2100", "5/2400", "5/2500", "b/4b00", "5/3900", "3/1100"]) {
    assert.ok(seen.has(k), `no command drew sense ${k}`);
  }
  assert.ok(good > 3000 && check > 3000, `good ${good}, check ${check}`);
});

test("random CDBs on the array's LUN (RAID 5, 10,000): no trap, and the status and sense the rules require", () => {
  const seen = new Set<string>();
  for (const seed of [7, 8]) {
    const r = runFuzz(loadMetered(), seed, 5000, arrayShape(5));
    assert.deepEqual(r.mismatches, [], `seed ${seed}`);
    assert.equal(r.traps, 0);
    assert.deepEqual(r.violations, []);
    for (const k of r.seen) seen.add(k);
  }
  // WRITE LONG then READ: MEDIUM ERROR from the array's own list.
  for (const k of ["5/2100", "5/2500", "3/1100"]) assert.ok(seen.has(k), `no command drew sense ${k}`);
});
