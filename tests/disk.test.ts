import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualClock } from "../host/clock.js";
import { Rng } from "../host/rng.js";
import { Disk, DEFAULT_DISK, DiskResult, SeekCurve, SELECTION_TIMEOUT_NS } from "../host/devices/disk.js";
import { cdb, KEY, ASC, parseSense, STATUS } from "../host/scsi/spc.js";

function setup() {
  const clock = new VirtualClock();
  const d = new Disk(0, DEFAULT_DISK, clock, new Rng(5));
  const exec = (c: Uint8Array, out: Uint8Array | null = null): DiskResult & { at_ns: number } => {
    let r: DiskResult | null = null;
    d.submit(c, out, (x) => { r = x; });
    for (let i = 0; i < 1e6 && !r; i++) if (!clock.runNext()) break;
    if (!r) throw new Error("no completion");
    return { ...(r as DiskResult), at_ns: clock.now_ns };
  };
  exec(cdb.tur()); // consume the power-on unit attention
  return { clock, d, exec };
}

const block = (v: number, n = 1) => new Uint8Array(512 * n).fill(v);

test("the seek curve meets docs/BOARD.md: 0.8 ms track-to-track, 8.5 ms average, 16 ms full stroke", () => {
  const d = new Disk(0, DEFAULT_DISK, new VirtualClock(), new Rng(1));
  const s = d.seek;
  const N = s.cylinders;
  assert.ok(Math.abs(s.time_ms(1) - 0.8) < 1e-9);
  assert.ok(Math.abs(s.time_ms(N - 1) - 16) < 1e-9);
  let sum = 0;
  for (let dist = 1; dist < N; dist++) sum += s.time_ms(dist) * 2 * (N - dist);
  assert.ok(Math.abs(sum / (N * N) - 8.5) < 1e-6);
  for (let dist = 2; dist < N; dist++) assert.ok(s.time_ms(dist) >= s.time_ms(dist - 1), "monotonic");
  assert.ok(s.b > 0 && s.e > 0, "√d then linear, both rising");
  assert.ok(s instanceof SeekCurve);
});

test("one revolution takes 8.33 ms at 7200 rpm and a track holds 100 MB/s worth", () => {
  const d = new Disk(0, DEFAULT_DISK, new VirtualClock(), new Rng(1));
  assert.ok(Math.abs(d.rotation_ns - 8.3333e6) < 1e3);
  assert.equal(d.sectorsPerTrack, Math.floor(100e6 * (60 / 7200) / 512));
});

test("the first command after power-on gets UNIT ATTENTION, POWER ON OCCURRED", () => {
  const clock = new VirtualClock();
  const d = new Disk(0, DEFAULT_DISK, clock, new Rng(5));
  let r: DiskResult | null = null;
  d.submit(cdb.tur(), null, (x) => { r = x; });
  while (!r && clock.runNext());
  const res = r as unknown as DiskResult;
  assert.equal(res.status, STATUS.CHECK_CONDITION);
  assert.deepEqual(parseSense(res.sense!), { key: KEY.UNIT_ATTENTION, asc: ASC.POWER_ON_RESET });
});

test("a cached write is lost at power loss; a FUA write is not", () => {
  const { d, exec } = setup();
  exec(cdb.rw16(true, 100, 1), block(1));
  exec(cdb.rw16(true, 200, 1, true), block(2));
  assert.equal(d.cachedBlocks, 1);
  d.powerOff();
  d.powerOn();
  assert.deepEqual(d.durable(100), block(0));
  assert.deepEqual(d.durable(200), block(2));
});

test("a cached write completes without a seek; a FUA write waits for the media", () => {
  const { exec, clock } = setup();
  const t0 = clock.now_ns;
  const cached = exec(cdb.rw16(true, 1_000_000, 1), block(3));
  const t1 = clock.now_ns;
  exec(cdb.rw16(true, 5, 1, true), block(4));
  const t2 = clock.now_ns;
  assert.ok(cached.at_ns - t0 < 0.1e6, "cached write under 0.1 ms");
  assert.ok(t2 - t1 > 0.8e6, "FUA write includes a seek");
});

test("SYNCHRONIZE CACHE makes cached writes durable", () => {
  const { d, exec } = setup();
  exec(cdb.rw16(true, 10, 2), block(7, 2));
  exec(cdb.syncCache10());
  assert.equal(d.cachedBlocks, 0);
  d.powerOff();
  assert.deepEqual(d.durable(11), block(7));
});

test("a sector being written when the power goes reads back as MEDIUM ERROR", () => {
  const { d, exec, clock } = setup();
  let r: DiskResult | null = null;
  d.submit(cdb.rw16(true, 50_000, 8, true), block(9, 8), (x) => { r = x; });
  // The disk's next alarm is the completion: cut 3.5 block times before it, in the
  // middle of the fifth block.
  const perBlock = d.rotation_ns / d.sectorsPerTrack;
  const end = clock.nextAt_ns();
  clock.advanceTo(end - 3.5 * perBlock);
  d.powerOff();
  assert.equal(r, null);
  d.powerOn();
  clock.advanceBy(DEFAULT_DISK.spinup_ms * 1e6);
  exec(cdb.tur());
  const ok = exec(cdb.rw16(false, 50_000, 4));
  assert.equal(ok.status, STATUS.GOOD);
  assert.deepEqual(ok.dataIn, block(9, 4));
  const torn = exec(cdb.rw16(false, 50_004, 1));
  assert.equal(torn.status, STATUS.CHECK_CONDITION);
  assert.equal(parseSense(torn.sense!).key, KEY.MEDIUM_ERROR);
  assert.deepEqual(exec(cdb.rw16(false, 50_005, 1)).dataIn, block(0), "not yet reached: old data");
  exec(cdb.rw16(true, 50_004, 1, true), block(1));
  assert.equal(exec(cdb.rw16(false, 50_004, 1)).status, STATUS.GOOD, "rewriting heals it");
});

test("NOT READY, BECOMING READY while spinning up", () => {
  const { d, exec, clock } = setup();
  d.powerOff();
  d.powerOn();
  exec(cdb.tur()); // unit attention
  const r = exec(cdb.tur());
  assert.deepEqual(parseSense(r.sense!), { key: KEY.NOT_READY, asc: ASC.BECOMING_READY });
  clock.advanceBy(DEFAULT_DISK.spinup_ms * 1e6);
  assert.equal(exec(cdb.tur()).status, STATUS.GOOD);
});

test("WRITE LONG with WR_UNCOR makes a block unreadable until it is written", () => {
  const { exec } = setup();
  exec(cdb.writeLongUncor(77));
  const r = exec(cdb.rw16(false, 77, 1));
  assert.deepEqual(parseSense(r.sense!), { key: KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR });
  exec(cdb.rw16(true, 77, 1, true), block(5));
  assert.equal(exec(cdb.rw16(false, 77, 1)).status, STATUS.GOOD);
});

test("injected faults: medium error, dead disk, misdirected write, latency spike", () => {
  const { d, exec, clock } = setup();
  d.media.mediumErrors.add(3);
  assert.equal(parseSense(exec(cdb.rw16(false, 3, 1)).sense!).key, KEY.MEDIUM_ERROR);

  d.faults.misdirectProb = 1;
  d.faults.misdirectOffset = 100;
  exec(cdb.rw16(true, 1000, 1, true), block(6));
  assert.deepEqual(d.durable(1100), block(6));
  assert.deepEqual(d.durable(1000), block(0));
  d.faults.misdirectProb = 0;

  d.faults.latencySpikeProb = 1;
  d.faults.latencySpike_ms = 500;
  const t0 = clock.now_ns;
  exec(cdb.tur());
  assert.ok(clock.now_ns - t0 >= 500e6);
  d.faults.latencySpikeProb = 0;

  d.faults.dead = true;
  const t1 = clock.now_ns;
  const r = exec(cdb.tur());
  assert.equal(r.hostStatus, 1);
  assert.ok(Math.abs(clock.now_ns - t1 - SELECTION_TIMEOUT_NS) < 1);
});

test("MODE SENSE reports the caching page with WCE set", () => {
  const { exec } = setup();
  const r = exec(cdb.modeSense6(0x08, 255));
  assert.equal(r.status, STATUS.GOOD);
  const page = r.dataIn!.subarray(4 + 8);
  assert.equal(page[0], 0x08);
  assert.equal(page[2] & 0x04, 0x04);
});

test("READ CAPACITY (16) reports 1 GiB of 512-byte blocks", () => {
  const { exec } = setup();
  const r = exec(cdb.readCapacity16());
  const v = new DataView(r.dataIn!.buffer);
  assert.equal(Number(v.getBigUint64(0)) + 1, 2 * 1024 * 1024);
  assert.equal(v.getUint32(8), 512);
});
