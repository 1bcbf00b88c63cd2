import { test } from "node:test";
import assert from "node:assert/strict";
import { PairSystem } from "../host/pair.js";
import { MultipathHost } from "../host/pair_host.js";
import { HostResult } from "../host/host.js";
import { loadCoop, loadMetered } from "../host/firmware.js";
import { benchPair } from "../host/bench_pair.js";
import { cdb } from "../host/scsi/spc.js";

// The pair's mirrored write stores (issue 10; docs/DESIGN.md "The mirrored write
// stores"): a write A acknowledged that no disk has yet is held by B, and B writes it
// at its takeover; alone, A acknowledges only what is on the disk, after it marked
// the LUN sole.

const BLOCK = 512;

function setup(seed: number) {
  const p = new PairSystem(loadCoop(), { seed });
  const host = new MultipathHost(p, 4);
  const [A, B] = p.boards;
  // Booted, the first learn cycle over: A acknowledges from its cache, mirroring to B.
  p.runFor(1500);
  const fw = (k: number) => p.boards[k].firmware!;
  p.run(() => (fw(0).writeback_on as () => number)() !== 0 && ((fw(0).pair_stat as (i: number) => number)(3) & 1) === 1,
    60_000);
  const submit = (lun: number, c: Uint8Array, data: Uint8Array | null, inLen = 0) => {
    let r: (HostResult & { path: number }) | null = null;
    host.submit(lun, c, data, inLen, (x) => { r = x; });
    p.run(() => r !== null, p.clock.now_ns / 1e6 + 20_000);
    return r!;
  };
  return { p, A, B, fw, submit };
}

test("a write A acknowledged from its cache is held by B; A's power goes before any disk has it; B writes it at its takeover", () => {
  const { p, A, B, fw, submit } = setup(31);
  assert.equal((fw(0).pair_stat as (i: number) => number)(3) & 1, 1, "A mirrors to B");
  const data = new Uint8Array(8 * BLOCK);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  const w = submit(0, cdb.rw10(true, 300, 8), data);
  assert.deepEqual([w.status, w.path], [0, 0], "A acknowledged");
  // B holds the eight blocks as copies (NV), and LUN 0's disk does not have them yet.
  assert.ok((fw(1).nv_blocks as () => number)() >= 8, "B holds the copies under its save");
  const disk = p.shelf[0];
  const onDisk = () => Array.from({ length: 8 }, (_, k) => disk.durable(300 + k)).every((b, k) =>
    b !== null && b !== undefined && b.every((x, i) => x === data[k * BLOCK + i]));
  assert.equal(onDisk(), false, "A has not destaged them yet");
  A.cutPowerAt(p.clock.now_ns);
  p.runFor(1000);
  const replay = B.log.find((l) => /mirrored blocks written .* 0 \d+$/.test(l));
  assert.ok(replay && Number(replay.split(" ").pop()) >= 8, `B wrote A's copies of LUN 0 at its takeover: ${replay}`);
  assert.ok(onDisk(), "the disk has them now");
  const r = submit(0, cdb.rw10(false, 300, 8), null, 8 * BLOCK);
  assert.deepEqual([r.status, r.path], [0, 1]);
  assert.deepEqual(Array.from(r.data), Array.from(data), "read through B: what A acknowledged");
  assert.deepEqual([A.violations, B.violations], [[], []]);
});

test("alone, A acknowledges a write once its LUN is marked sole and the disk has it; B's restored copies of that LUN are dropped", () => {
  const { p, A, B, fw, submit } = setup(32);
  // A copy of LUN 0's block 40 at B, from the session.
  const v1 = new Uint8Array(BLOCK).fill(0x11);
  assert.equal(submit(0, cdb.rw10(true, 40, 1), v1).status, 0);
  assert.ok((fw(1).nv_blocks as () => number)() >= 1, "B holds the copy");
  // B's supply goes (it saves the copy with its own blocks): A goes on alone.
  B.cutPowerAt(p.clock.now_ns);
  p.runFor(300);
  assert.equal((fw(0).pair_stat as (i: number) => number)(3) & 1, 0, "A no longer mirrors");
  const v2 = new Uint8Array(BLOCK).fill(0x22);
  const w = submit(0, cdb.rw10(true, 40, 1), v2);
  assert.equal(w.status, 0);
  assert.ok(A.log.some((l) => /LUN marked sole on its label .* 0 \d+$/.test(l)), "LUN 0 marked sole");
  assert.deepEqual(Array.from(p.shelf[0].durable(40)!), Array.from(v2), "acknowledged alone: on the disk");
  // B comes back: its restored copy of block 40 is of an epoch the label has left.
  B.restorePowerAt(p.clock.now_ns);
  p.run(() => B.log.some((l) => /restore loaded/.test(l)), p.clock.now_ns / 1e6 + 5000);
  p.runFor(100);
  assert.ok(B.log.some((l) => /restore loaded [1-9]/.test(l)), "B restored its image (the copy in it)");
  assert.equal((fw(1).nv_blocks as () => number)(), 0, "and dropped it: LUN 0's label moved on");
  p.runFor(4000);
  assert.equal((fw(0).pair_stat as (i: number) => number)(3) & 1, 1, "A mirrors to B again");
  const r = submit(0, cdb.rw10(false, 40, 1), null, BLOCK);
  assert.deepEqual(Array.from(r.data), Array.from(v2));
  assert.deepEqual([A.violations, B.violations], [[], []]);
});

test("WRITE LONG (WR_UNCOR) is refused in a pair: the partner's copy could not carry the mark", () => {
  const { submit } = setup(33);
  const c = new Uint8Array(10);
  c[0] = 0x3f; c[1] = 0x40; c[5] = 12;
  const r = submit(0, c, null);
  assert.equal(r.status, 2);
  assert.deepEqual([r.sense!.key, r.sense!.asc], [5, 0x2400], "ILLEGAL REQUEST, INVALID FIELD IN CDB");
});

test("bench --controllers 2: the issue's keys, the detection times within their bounds, the mirrored ack at most twice the unmirrored", () => {
  const r = benchPair(loadCoop(), loadMetered());
  for (const k of ["ack_us_mirrored", "ack_us_unmirrored", "detect_ms_dead", "detect_ms_hung", "detect_ms_io_hung", "takeover_ms", "catchup_ms"]) {
    assert.equal(typeof (r as unknown as Record<string, unknown>)[k], "number", k);
  }
  assert.ok(r.mirroring, "the owner mirrored while the ack was measured");
  assert.ok(r.detect_ms_dead <= r.detect_ms_dead_bound && r.detect_ms_hung <= r.detect_ms_hung_bound &&
    r.detect_ms_io_hung <= r.detect_ms_io_hung_bound, JSON.stringify(r));
  assert.ok(r.ack_us_mirrored <= 2 * r.ack_us_unmirrored, JSON.stringify(r));
});
