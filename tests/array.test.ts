// The array (seed 003): geometry, the write-command buffer and the repair of exactly
// the rows it names, torn records, degraded operation with the hidden block saved,
// member labels, members out of place.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, Script, untilReady, nvStatus } from "../host/session.js";
import { loadMetered } from "../host/firmware.js";
import { runScenario } from "../host/scenario.js";
import { verdict } from "../host/run_report.js";
import { ArrayMap } from "../host/array_map.js";
import { arraySweep } from "../host/array_sweep.js";
import { cdb, STATUS, KEY, NV_ACTION, parseArrayStatus } from "../host/scsi/spc.js";
import { senseInfo } from "../host/workload.js";
import { scheduleDiskFailure } from "../host/cli_run.js";
import type { Board } from "../host/board.js";
import type { HostResult } from "../host/host.js";

const ARRAY = { raid: 5, spares: 1, disks: 5 };
const block = (v: number, n = 1) => new Uint8Array(512 * n).fill(v);
const rowsRepaired = (b: Board) => b.log.filter((l) => l.includes("fw: array row repaired")).map((l) => Number(l.split(" ").at(-2)));

for (const raid of [5, 4, 3]) {
  test(`RAID ${raid}: a run with cuts: every row's parity agrees with its data, the media where the spec puts it`, () => {
    // Seeds until one whose cuts landed on updates in flight (whether a cut finds one
    // is the seed's luck), each checked whole.
    let repaired = 0;
    for (let k = 0; k < 3 && repaired === 0; k++) {
      const r = runScenario(loadMetered(), { seed: 40 + raid + 10 * k, cuts: 3, board: { raid, spares: 1, disks: 5 } });
      assert.deepEqual(verdict(r), [], r.problems.slice(0, 5).join("; "));
      assert.equal(r.luns, 1);
      assert.equal(r.parity_mismatches, 0);
      assert.ok(r.media_checked > 50, `media checked ${r.media_checked}`);
      repaired = r.repaired_stripes;
    }
    assert.ok(repaired > 0, "the cuts left updates to repair");
  });
}

test("member labels carry the geometry (docs/SPEC.md): level, array id, members, slot, rows, unit", () => {
  const s = new Session(loadMetered(), { seed: 5, ...ARRAY }, 1);
  s.run((function* (): Script { yield* untilReady(0); })());
  const blocks = s.board.cfg.disk.blocks;
  const ids = new Set<bigint>();
  for (let m = 0; m < 4; m++) {
    const d = s.board.disks[m].durable(blocks - 1)!;
    const v = new DataView(d.buffer, d.byteOffset, 512);
    assert.equal(Buffer.from(d.subarray(0, 8)).toString(), "HOLDUPAR");
    assert.equal(v.getUint32(12, true), 5, "level");
    ids.add(v.getBigUint64(16, true));
    assert.equal(v.getUint32(24, true), 4, "members");
    assert.equal(v.getUint32(28, true), m, "slot");
    assert.equal(Number(v.getBigUint64(32, true)), blocks - 3, "rows (label copies A and B, the intent block)");
    assert.deepEqual(s.board.disks[m].durable(blocks - 2), d, "copy B as A");
    assert.equal(v.getUint32(40, true), 1, "stripe unit");
  }
  assert.equal(ids.size, 1, "one array id on every member");
  // The spare is not a member.
  assert.ok(s.board.disks[4].durable(blocks - 1)!.every((x) => x === 0));
});

/** Cut the power at the first member write of the row of `lba` (an update half done),
 * optionally tearing the block of `tearMember` in that row as the cut would. */
function cutAtRow(b: Board, lba: number, tearMember: number | null): void {
  const map = new ArrayMap(b);
  const row = map.locate(lba).row;
  let armed = true;
  for (const [m, d] of b.disks.entries()) {
    const w = d.media.write.bind(d.media);
    d.media.write = (l: number, data: Uint8Array) => {
      w(l, data);
      if (armed && l === row && m < map.members) {
        armed = false;
        b.cutPowerAt(b.now_ns);
        b.restorePowerAt(b.now_ns + 3000e6);
        if (tearMember !== null) b.disks[tearMember].media.torn.add(row);
      }
    };
  }
}

/** In one script: ready, then the write the cut interrupts (its result is null). */
function* writeCut(lba: number, n: number, v: number): Generator<import("../host/session.js").Step, void, HostResult | null> {
  yield* untilReady(0);
  const r = yield { lun: 0, cdb: cdb.rw16(true, lba, n), dataOut: block(v, n) };
  assert.equal(r, null, "the write was cut");
}

test("a cut in the middle of an update: the boot repairs exactly that row, parity agrees, the data is whole", () => {
  const s = new Session(loadMetered(), { seed: 6, ...ARRAY }, 1);
  const lba = 3000, map = new ArrayMap(s.board);
  cutAtRow(s.board, lba, null);
  const r: HostResult[] = [];
  s.run((function* (): Script {
    yield* writeCut(lba, 3, 0x5a);
    yield* untilReady(0);
    r.push((yield { lun: 0, cdb: cdb.rw16(false, lba, 3), dataIn: 1536 })!);
  })());
  assert.deepEqual(rowsRepaired(s.board), [map.locate(lba).row]);
  assert.equal(r[0].status, STATUS.GOOD);
  // Old or new per block (the write was not acknowledged), never a mix of the two.
  for (let i = 0; i < 3; i++) {
    const b = r[0].data.subarray(i * 512, i * 512 + 512);
    assert.ok(b.every((x) => x === 0) || b.every((x) => x === 0x5a), `block ${i}`);
  }
  assert.deepEqual(map.parityMismatches([map.locate(lba).row], 0), []);
});

test("a torn record: listed, reads MEDIUM ERROR with its LBA, parity over the pattern, readable once written again", () => {
  const s = new Session(loadMetered(), { seed: 7, ...ARRAY }, 1);
  const lba = 3000, map = new ArrayMap(s.board);
  const at = map.locate(lba);
  cutAtRow(s.board, lba, at.member);
  const r: HostResult[] = [];
  let listed = -1;
  s.run((function* (): Script {
    yield* writeCut(lba, 1, 0x5a);
    yield* untilReady(0);
    r.push((yield { lun: 0, cdb: cdb.rw16(false, lba, 1), dataIn: 512 })!);          // 0
    r.push((yield { lun: 0, cdb: cdb.rw16(false, lba - 1, 3), dataIn: 1536 })!);     // 1
    r.push((yield { lun: 0, cdb: cdb.rw16(true, lba, 1), dataOut: block(0x77) })!);  // 2
    r.push((yield { lun: 0, cdb: cdb.syncCache10(0, 0) })!);                         // 3
    r.push((yield { lun: 0, cdb: cdb.rw16(false, lba, 1), dataIn: 512 })!);          // 4
    listed = (s.board.mcu.fw!.array_stat as (i: number) => number)(8);
  })());
  assert.equal(r[0].status, STATUS.CHECK_CONDITION);
  assert.equal(r[0].sense?.key, KEY.MEDIUM_ERROR);
  assert.equal(senseInfo(r[0].senseRaw), lba);
  assert.equal(r[1].sense?.key, KEY.MEDIUM_ERROR);
  assert.equal(senseInfo(r[1].senseRaw), lba, "the first bad block of the range");
  assert.ok(s.board.log.some((l) => l.includes(`fw: array torn record ${lba} `)));
  assert.equal(r[2].status, STATUS.GOOD);
  assert.equal(r[4].status, STATUS.GOOD);
  assert.ok(r[4].data.every((x) => x === 0x77));
  assert.equal(listed, 0, "off the list");
  assert.deepEqual(map.parityMismatches([at.row], 0), []);
});

test("a member dies mid-run: reads reconstruct its blocks, writes go on, cuts while degraded lose nothing", () => {
  let reconstructed = 0;
  const r = runScenario(loadMetered(), {
    seed: 9, cuts: 4, board: ARRAY,
    setup: (b) => scheduleDiskFailure(b, 1, 1500),
    onCut: (c) => { const fw = c.board.mcu.fw; if (fw) reconstructed += (fw.array_stat as (i: number) => number)(5); },
  });
  assert.deepEqual(verdict(r), [], r.problems.slice(0, 5).join("; "));
  assert.equal(r.detected_losses, 0);
  assert.ok(reconstructed > 0, "degraded reads were served by reconstruction");
});

test("degraded, an update cut half-way: the block on the missing member comes back from the buffer, not listed", () => {
  const s = new Session(loadMetered(), { seed: 11, ...ARRAY }, 1);
  const map = new ArrayMap(s.board);
  // The block whose member will be missing, and a neighbour in its row to update.
  const hidden = 3000, row = map.locate(hidden).row;
  let other = row * 3;
  while (map.locate(other).member === map.locate(hidden).member) other++;
  const r: HostResult[] = [];
  const b = s.board;
  s.run((function* (): Script {
    yield* untilReady(0);
    r.push((yield { lun: 0, cdb: cdb.rw16(true, hidden, 1), dataOut: block(0x33) })!);
    r.push((yield { lun: 0, cdb: cdb.syncCache10(0, 0) })!);
    // The member dies; a read of its block finds out (and reconstructs it).
    b.disks[map.locate(hidden).member].faults.dead = true;
    r.push((yield { lun: 0, cdb: cdb.rw16(false, hidden, 1), dataIn: 512 })!);
    cutAtRow(b, other, null);
    yield* writeCut(other, 1, 0x66);
    yield* untilReady(0);
    r.push((yield { lun: 0, cdb: cdb.rw16(false, hidden, 1), dataIn: 512 })!);
  })());
  assert.ok(s.board.log.some((l) => l.includes(`fw: array row repaired ${row} `)), "the row was repaired");
  assert.ok(!s.board.log.some((l) => l.includes(`fw: array torn record ${hidden} `)), "not listed");
  assert.equal(r[2].status, STATUS.GOOD);
  assert.ok(r[2].data.every((x) => x === 0x33), "reconstructed");
  assert.equal(r[3].status, STATUS.GOOD);
  assert.ok(r[3].data.every((x) => x === 0x33), "after the repair");
});

test("two members in each other's slots: the array waits (nothing written) until RECHECK finds them back", () => {
  const s = new Session(loadMetered(), { seed: 12, ...ARRAY }, 1);
  const b = s.board;
  const labels = () => [0, 1, 2, 3].map((m) => Buffer.from(b.disks[m].durable(b.cfg.disk.blocks - 1)!).toString("hex"));
  const r: HostResult[] = [];
  let before: string[] = [], during: string[] = [];
  s.run((function* (): Script {
    yield* untilReady(0);
    r.push((yield { lun: 0, cdb: cdb.rw16(true, 100, 4), dataOut: block(0x44, 4) })!);
    r.push((yield { lun: 0, cdb: cdb.syncCache10(0, 0) })!);
    before = labels();
    b.swapDisks(0, 1);
    yield { cut_off_ms: 3000 };
    yield { pause_ms: 40_000 };
    r.push((yield { lun: 0, cdb: cdb.tur() })!);                              // 2: not ready
    during = labels();
    b.swapDisks(0, 1);
    r.push((yield { lun: 0, cdb: cdb.nvAction(NV_ACTION.RECHECK) })!);        // 3
    yield* untilReady(0);
    r.push((yield { lun: 0, cdb: cdb.rw16(false, 100, 4), dataIn: 2048 })!);  // 4
  })());
  assert.deepEqual(during, [before[1], before[0], before[2], before[3]], "no member label written while held");
  assert.notEqual(r[2].status, STATUS.GOOD);
  assert.equal(r[3].status, STATUS.GOOD);
  assert.equal(r[4].status, STATUS.GOOD);
  assert.ok(r[4].data.every((x) => x === 0x44));
});

test("NV STATUS and ARRAY STATUS on the array's LUN: optimal, then degraded with the failed member", () => {
  const s = new Session(loadMetered(), { seed: 13, ...ARRAY }, 1);
  const b = s.board;
  const seen: number[] = [];
  let arr: ReturnType<typeof parseArrayStatus> | null = null;
  s.run((function* (): Script {
    yield* untilReady(0);
    seen.push((yield* nvStatus(0)).array_state);
    b.disks[2].faults.dead = true;
    yield { lun: 0, cdb: cdb.rw16(true, 0, 8), dataOut: block(1, 8) };
    yield { lun: 0, cdb: cdb.syncCache10(0, 0) };
    const st = yield* nvStatus(0);
    seen.push(st.array_state, st.array_failed);
    arr = parseArrayStatus((yield { lun: 0, cdb: cdb.arrayStatus(1024), dataIn: 1024 })!.data);
  })());
  assert.deepEqual(seen, [1, 2, 1 << 2]);
  assert.equal(arr!.level, 5);
  assert.equal(arr!.members, 4);
  assert.equal(arr!.state, 2);
  assert.equal(arr!.failed_mask, 1 << 2);
});

test("the array's sweep: one update cut after each member write (full row, one block, two; write-back and -through; degraded too)", () => {
  for (const raid of [5, 3]) {
    const r = arraySweep(loadMetered(), raid, 3);
    assert.deepEqual(r.failures, []);
    assert.ok(r.cuts >= 30, `RAID ${raid}: ${r.cuts} cuts`);
  }
});

const SMALL = { ...ARRAY, disk: { blocks: 8192 } };

test("a member dies: the spare is rebuilt onto, with progress in NV STATUS; a second member can die after", () => {
  const s = new Session(loadMetered(), { seed: 14, ...SMALL }, 1);
  const b = s.board;
  const permille: number[] = [];
  let bad = -1, mismatches = -1, onSpare = -1, status: ReturnType<typeof parseArrayStatus> | null = null;
  s.run((function* (): Script {
    yield* untilReady(0);
    for (let i = 0; i < 40; i++) yield { lun: 0, cdb: cdb.rw16(true, i * 211, 8), dataOut: block(i + 1, 8) };
    yield { lun: 0, cdb: cdb.syncCache10(0, 0) };
    b.disks[1].faults.dead = true;
    yield { lun: 0, cdb: cdb.rw16(false, 1, 8), dataIn: 4096 };
    for (let k = 0; k < 300; k++) {
      yield { pause_ms: 1000 };
      const st = yield* nvStatus(0);
      permille.push(st.array_rebuild_permille);
      if (st.array_state === 1) break;
    }
    status = parseArrayStatus((yield { lun: 0, cdb: cdb.arrayStatus(1024), dataIn: 1024 })!.data);
    // Every row on the disks, the spare in slot 1's place, agrees with its parity.
    const map = new ArrayMap(b);
    mismatches = map.parityMismatches([...Array(map.rows).keys()], 0).length;
    onSpare = map.memberDisk(1);
    // The rebuilt member holds its blocks: another member may go now.
    b.disks[2].faults.dead = true;
    bad = 0;
    for (let i = 0; i < 40; i++) {
      const r = (yield { lun: 0, cdb: cdb.rw16(false, i * 211, 8), dataIn: 4096 })!;
      if (r.status !== STATUS.GOOD || !r.data.every((x) => x === i + 1)) bad++;
    }
  })(), 3_600_000);
  assert.equal(status!.state, 1, "optimal again");
  assert.equal(status!.failed_mask, 0);
  assert.ok(permille.some((p) => p > 0 && p < 1000), `progress seen: ${permille.slice(0, 5)}`);
  assert.ok(permille.every((p, i) => i === 0 || p >= permille[i - 1] || p === 1000), "progress only grows");
  assert.equal(bad, 0);
  assert.equal(mismatches, 0, "every row's parity, on the raw disks");
  assert.equal(onSpare, 4, "slot 1 lives on bus ID 4 (the labels say)");
  assert.ok(b.log.some((l) => l.includes("fw: array rebuild 1 4")), "slot 1 onto bus ID 4");
});

test("cuts during a rebuild: it resumes from its last recorded row, nothing lost, parity right", () => {
  for (const seed of [1, 2]) {
    const seen: number[] = [];
    const r = runScenario(loadMetered(), {
      seed, cuts: 20, board: SMALL,
      setup: (b) => b.clock.at(1500e6, "disk 2 dies", () => { b.disks[2].faults.dead = true; }),
      onCut: (c) => { const fw = c.board.mcu.fw; if (fw) seen.push((fw.array_stat as (i: number) => number)(12)); },
    });
    assert.deepEqual(verdict(r), [], r.problems.slice(0, 3).join("; "));
    assert.equal(r.detected_losses, 0);
    assert.equal(r.parity_mismatches, 0);
    // The rebuild ran across the cuts and got on (each boot resumes it).
    assert.ok(Math.max(...seen.filter((p) => p < 1000)) > 50, `progress at the cuts: ${seen.join(",")}`);
  }
});
