import { test } from "node:test";
import { STATUS_RESERVATION_CONFLICT } from "../host/devices/disk_reservations.js";
import assert from "node:assert/strict";
import { PairSystem } from "../host/pair.js";
import { MultipathHost } from "../host/pair_host.js";
import { HostAdapter, HostResult } from "../host/host.js";
import { runPair, watchOwnership } from "../host/pair_run.js";
import { loadCoop } from "../host/firmware.js";
import { cdb, parseNvStatus } from "../host/scsi/spc.js";

// The pair's ownership, fencing, takeover and giveback (issue 10; docs/DESIGN.md "The
// pair"). The mirrored write stores have their own tests (pair_mirror.test.ts).

const rtpg = (): Uint8Array => { const c = new Uint8Array(12); c[0] = 0xa3; c[1] = 0x0a; c[9] = 64; return c; };

/** Send one command on controller k's own path and run until it is answered. */
function one(p: PairSystem, hosts: HostAdapter[], k: number, lun: number, c: Uint8Array, data: Uint8Array | null, inLen = 0): HostResult {
  let out: HostResult | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    out = null;
    hosts[k].submit(lun, c, data, inLen, (r) => { out = r; });
    p.run(() => out !== null, p.clock.now_ns / 1e6 + 5000);
    if (out!.sense?.key !== 6) break; // a unit attention: once more
  }
  return out!;
}

test("each controller serves its half; the other port is standby and says so (ALUA)", () => {
  const p = new PairSystem(loadCoop(), { seed: 21 });
  const hosts = p.boards.map((b) => new HostAdapter(b, 4));
  p.runFor(2500);
  const w = cdb.rw10(true, 100, 1), data = new Uint8Array(512).fill(9);
  for (let lun = 0; lun < 4; lun++) {
    const owner = lun & 1, other = 1 - owner;
    assert.equal(one(p, hosts, owner, lun, w, data).status, 0, `lun ${lun} through its owner`);
    const r = one(p, hosts, other, lun, w, data);
    assert.equal(r.status, 2);
    assert.deepEqual([r.sense!.key, r.sense!.asc], [2, 0x040b], "NOT READY, TARGET PORT IN STANDBY STATE");
    // REPORT TARGET PORT GROUPS through either port: the owner's group active/optimized.
    for (const k of [0, 1]) {
      const g = one(p, hosts, k, lun, rtpg(), null, 64).data;
      assert.equal(g.length, 28);
      const state = (id: number) => [g[4] & 0x0f, g[16] & 0x0f][[(g[6] << 8) | g[7], (g[18] << 8) | g[19]].indexOf(id)];
      assert.equal(state(owner + 1), 0, `lun ${lun}: group ${owner + 1} active/optimized`);
      assert.equal(state(other + 1), 2, `lun ${lun}: group ${other + 1} standby`);
    }
  }
});

test("A dies: B fences it, takes its LUNs, serves them; A comes back fenced, is let back, gets them back", () => {
  const p = new PairSystem(loadCoop(), { seed: 3 });
  const host = new MultipathHost(p, 4);
  const [A, B] = p.boards;
  p.runFor(2500);
  const write = (lun: number, lba: number, fill: number) => {
    let r: HostResult & { path: number } | null = null;
    host.submit(lun, cdb.rw10(true, lba, 1), new Uint8Array(512).fill(fill), 0, (x) => { r = x; });
    p.run(() => r !== null, p.clock.now_ns / 1e6 + 20_000);
    return r!;
  };
  const read = (lun: number, lba: number) => {
    let r: HostResult | null = null;
    host.submit(lun, cdb.rw10(false, lba, 1), null, 512, (x) => { r = x; });
    p.run(() => r !== null, p.clock.now_ns / 1e6 + 20_000);
    return r!.data[0];
  };
  assert.equal(write(0, 7, 1).path, 0);
  A.cutPowerAt(p.clock.now_ns);
  const w = write(0, 7, 2);
  assert.deepEqual([w.status, w.path], [0, 1], "B took LUN 0 and acknowledged the write");
  assert.ok(B.log.some((l) => /took over the partner's LUNs .* 5 /.test(l)), "LUNs 0 and 2 taken");
  // A's key is gone from its disks: it is fenced there.
  for (const lun of [0, 2]) assert.deepEqual([...p.shelf[lun].reservations.keys.keys()], [1]);
  // A write through A's port now (after the unit attention the preemption left for it):
  // the disk refuses it (RESERVATION CONFLICT).
  const statuses: number[] = [];
  for (let k = 0; k < 2; k++) {
    p.shelf[0].port(0).submit(cdb.rw10(true, 9, 1), new Uint8Array(512), (r) => { statuses.push(r.status); });
    p.runFor(50);
  }
  assert.deepEqual(statuses, [2, STATUS_RESERVATION_CONFLICT]);
  // NV STATUS through B says so: B, partner dead, not fenced, one takeover, write-through.
  const nv = parseNvStatus(one(p, host.paths, 1, 1, cdb.nvStatus(64), null, 64).data);
  assert.deepEqual([nv.pair_identity, nv.pair_peer, nv.pair_fenced, nv.pair_mirroring, nv.pair_takeovers, nv.mode],
    [2, 3, false, false, 1, 4]);
  A.restorePowerAt(p.clock.now_ns);
  p.runFor(6000);
  assert.ok(A.log.some((l) => /fenced by the partner/.test(l)), "A boots fenced");
  assert.ok(A.log.some((l) => /registered again/.test(l)), "A let back");
  assert.ok(B.log.some((l) => /gave a LUN back/.test(l)), "B gave LUN 0 and 2 back");
  assert.equal(read(0, 7), 2, "the write B took is there");
  const back = write(0, 8, 3);
  assert.deepEqual([back.status, back.path], [0, 0], "A serves LUN 0 again");
  assert.deepEqual([A.faults, B.faults, A.violations, B.violations], [[], [], [], []]);
});

test("the pair's run: kills, hangs, partitions, I/O hangs over 4 seeds: nothing lost, no split brain", () => {
  let events = 0, takeovers = 0;
  for (const seed of [1, 2, 3, 4]) {
    const r = runPair(loadCoop(), { seed, events: 6 });
    assert.deepEqual(r.failures, [], `seed ${seed}`);
    assert.equal(r.lost_writes + r.corrupt_reads + r.split_brain + r.traps, 0);
    assert.ok(r.acked_writes > 500 && r.checked_blocks > 5000);
    events += r.events;
    takeovers += r.takeovers;
  }
  assert.equal(events, 24);
  assert.ok(takeovers >= 8, `${takeovers} takeovers`);
});

test("the split-brain watch: a write by the controller a disk's label does not name is caught", () => {
  const p = new PairSystem(loadCoop(), { seed: 22 });
  p.runFor(2500);
  const seen: string[] = [];
  watchOwnership(p, (m) => seen.push(m));
  // B registered on every disk (WRITE EXCLUSIVE – REGISTRANTS ONLY lets it write), but
  // LUN 0 is A's: B's firmware never writes there; a write sent on B's port anyway is.
  let done = false;
  p.shelf[0].port(1).submit(cdb.rw10(true, 5, 1), new Uint8Array(512), () => { done = true; });
  p.run(() => done, p.clock.now_ns / 1e6 + 1000);
  assert.equal(seen.length, 1, seen.join("; "));
  assert.match(seen[0], /controller B wrote lun 0 lba 5\+1 .* names A/);
});

test("one disk that hangs is not the controller's I/O path: its owner does not stand down, nothing is taken over, its other LUN is served", () => {
  const p = new PairSystem(loadCoop(), { seed: 23 });
  const hosts = p.boards.map((b) => new HostAdapter(b, 4));
  const [A, B] = p.boards;
  p.runFor(2500);
  const data = new Uint8Array(512).fill(5);
  // LUN 0 is A's. Its disk takes commands and never finishes them; A's only command
  // out is the destage of the block written next (acknowledged from both caches).
  p.shelf[0].faults.hang = true;
  assert.equal(one(p, hosts, 0, 0, cdb.rw10(true, 7, 1), data).status, 0);
  p.runFor(9000); // IO_STUCK_US is 2 s; a device command's deadline 8 s
  assert.ok(A.log.some((l) => /disk command aborted/.test(l)), "the hung destage ended at its deadline");
  assert.ok(!A.log.some((l) => /own device I\/O hung/.test(l)), "A did not judge its path hung");
  assert.ok(!B.log.some((l) => /partner alive, its I\/O hung/.test(l)));
  const takeovers = (k: number) => (p.boards[k].firmware!.pair_stat as (i: number) => number)(0);
  assert.deepEqual([takeovers(0), takeovers(1)], [0, 0]);
  assert.equal(one(p, hosts, 0, 2, cdb.rw10(true, 7, 1), data).status, 0, "A serves LUN 2");
  assert.deepEqual([A.faults, B.faults, A.violations, B.violations], [[], [], [], []]);
});

test("a giveback whose label write lands but whose answer never comes (the giver's I/O hangs): the write is not sent again over the label the owner wrote since; no split brain, the owner's epoch is the disk's", () => {
  const p = new PairSystem(loadCoop(), { seed: 3 });
  const host = new MultipathHost(p, 4);
  const [A, B] = p.boards;
  const split: string[] = [];
  watchOwnership(p, (m) => split.push(m));
  p.runFor(2500);
  A.cutPowerAt(p.clock.now_ns);
  p.runFor(500);
  assert.ok(B.log.some((l) => /took over the partner's LUNs .* 5 /.test(l)), "B took LUNs 0 and 2");
  // B's giveback of LUN 2: its label write reaches the disk, and then B's I/O path
  // hangs (every answer lost) for 6 s.
  const disk = p.shelf[2], labelLba = disk.p.blocks - 1;
  const watch = disk.onWrite;
  let hung = false;
  disk.onWrite = (initiator, lba, n) => {
    watch?.(initiator, lba, n);
    if (hung || initiator !== 1 || lba !== labelLba) return;
    hung = true;
    B.bus.hung = true;
    p.clock.at(p.clock.now_ns + 6000e6, "B's I/O back", () => { B.bus.hung = false; });
  };
  A.restorePowerAt(p.clock.now_ns);
  p.runFor(20_000);
  assert.ok(hung, "B's giveback label write happened");
  assert.deepEqual(split, []);
  // A serves LUN 2, and the epoch A keeps for it is the one on the disk's label.
  let r: HostResult & { path: number } | null = null;
  host.submit(2, cdb.rw10(true, 5, 1), new Uint8Array(512).fill(4), 0, (x) => { r = x; });
  p.run(() => r !== null, p.clock.now_ns / 1e6 + 20_000);
  assert.deepEqual([r!.status, r!.path], [0, 0]);
  const label = disk.durable(labelLba)!;
  const lunEpochA = (A.firmware!.pair_lun_epoch as (l: number) => number)(2);
  assert.equal(label[452], 1, "the label names A");
  assert.equal(new DataView(label.buffer, label.byteOffset).getUint32(456, true), lunEpochA);
  assert.deepEqual([A.faults, B.faults, A.violations, B.violations], [[], [], [], []]);
});
