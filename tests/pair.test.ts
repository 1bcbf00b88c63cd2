import { test } from "node:test";
import assert from "node:assert/strict";
import { PairSystem } from "../host/pair.js";
import { loadCoop } from "../host/firmware.js";
import { loggedAfter } from "../host/bench_pair.js";
import { crc32c } from "../host/crc.js";

// The pair's monitoring (issue 10, seed 002 claims 6-10): heartbeats on both links, and
// verdicts on the partner that tell a dead one (no carrier) from a hung one (carrier,
// silence) within their stated bounds (assembly/pair/peer.ts).
const PEER = { ALIVE: 2, DEAD: 3, HUNG: 4 };
const SILENT_MS = 50, HB_MS = 10;

test("a pair boots, each hears the other on both links", () => {
  const p = new PairSystem(loadCoop(), { seed: 3 });
  p.runFor(1500);
  p.boards.forEach((b, k) => {
    assert.equal(p.peerState(k), PEER.ALIVE);
    // 1.5 s of heartbeats every 10 ms on two links: about 300 heard.
    assert.ok(p.heartbeats(k) > 250, `${p.heartbeats(k)} heartbeats`);
    assert.deepEqual(b.faults, []);
    assert.deepEqual(b.violations, []);
    assert.equal(b.links.stats.overruns, 0);
  });
});

test("a partner's power loss is seen at once; a hung partner within SILENT + one heartbeat", () => {
  const p = new PairSystem(loadCoop(), { seed: 4 });
  const [A, B] = p.boards;
  p.runFor(1200);
  const cut = p.clock.now_ns;
  A.cutPowerAt(cut);
  p.runFor(50);
  const dead = loggedAfter(B.log, /partner dead/, cut);
  assert.ok(dead >= 0 && dead < 1, `dead seen after ${dead} ms`);
  assert.equal(p.peerState(1), PEER.DEAD);
  A.restorePowerAt(p.clock.now_ns);
  p.runFor(1500);
  assert.equal(p.peerState(1), PEER.ALIVE);
  assert.ok(Number.isNaN(loggedAfter(B.log, /partner firmware hung/, cut)), "a partner that powers up is not taken for hung");
  const hang = p.clock.now_ns;
  B.hung = true;
  p.runFor(200);
  const hung = loggedAfter(A.log, /partner firmware hung/, hang);
  assert.ok(hung >= SILENT_MS && hung <= SILENT_MS + HB_MS + 1, `hung seen after ${hung} ms`);
  assert.equal(p.peerState(0), PEER.HUNG);
  B.hung = false;
  p.runFor(100);
  assert.equal(p.peerState(0), PEER.ALIVE);
});

test("one link down changes nothing; both down (a partition) looks dead from each side", () => {
  const p = new PairSystem(loadCoop(), { seed: 5 });
  p.runFor(1200);
  p.links[0].setDown(true);
  p.runFor(300);
  for (const k of [0, 1]) assert.equal(p.peerState(k), PEER.ALIVE);
  p.links[1].setDown(true);
  p.runFor(20);
  for (const k of [0, 1]) assert.equal(p.peerState(k), PEER.DEAD);
  p.links[0].setDown(false);
  p.runFor(100);
  for (const k of [0, 1]) assert.equal(p.peerState(k), PEER.ALIVE);
});

test("a garbled message, or one whose CRC checks but whose length is not its type's, is dropped and counted; one garbling link changes nothing", () => {
  const p = new PairSystem(loadCoop(), { seed: 6 });
  const [A, B] = p.boards;
  const dropped = (k: number) => (p.boards[k].firmware!.pair_stat as (i: number) => number)(6);
  p.runFor(1200);
  assert.deepEqual([dropped(0), dropped(1)], [0, 0]);
  // Link 0 flips a bit in every message, both ways: link 1 carries the heartbeats.
  for (const f of p.links[0].faults) f.garbleProb = 1;
  p.runFor(300);
  for (const k of [0, 1]) assert.equal(p.peerState(k), PEER.ALIVE);
  const garbled = p.links[0].stats.garbled;
  assert.ok(garbled > 50, `${garbled} garbled`);
  assert.ok(Math.abs(dropped(0) + dropped(1) - garbled) <= 4, `dropped ${dropped(0)} + ${dropped(1)} of ${garbled} garbled`);
  for (const f of p.links[0].faults) f.garbleProb = 0;
  // A MIRROR from A of the wrong length, sealed with a right CRC: B drops it.
  const before = dropped(1);
  const m = new Uint8Array(100);
  m[0] = 2; m[1] = 1; m[2] = 100; // MIRROR, from A, 100 bytes
  new DataView(m.buffer).setUint32(12, crc32c(m), true);
  assert.ok(p.links[0].send(0, m));
  p.runFor(20);
  assert.equal(dropped(1), before + 1);
  assert.deepEqual([A.faults, B.faults, A.violations, B.violations], [[], [], [], []]);
});

test("a partner's power loss is seen at once even while this controller busy-waits (an EEPROM write cycle)", () => {
  const p = new PairSystem(loadCoop(), { seed: 12 });
  const [A, B] = p.boards;
  p.runFor(1100);
  // Find B in a busy-wait with at least 0.3 ms of it ahead.
  let found = false;
  for (let step = 0; step < 40_000 && !found; step++) {
    p.runFor(0.025);
    found = B.coop.status === "delay" && B.coop.wakeAt_ns - p.clock.now_ns > 300_000;
  }
  assert.ok(found, "B busy-waits at some point");
  const cut = p.clock.now_ns;
  A.cutPowerAt(cut);
  p.runFor(5);
  const dead = loggedAfter(B.log, /partner dead/, cut);
  assert.ok(dead >= 0 && dead < 0.1, `dead seen after ${dead} ms`);
});
