// The read-back reads what a cut may have changed, not everything ever written
// (host/readback_scope.ts). These check that it still sees every way a block's
// answer can change: a disk write at its place (the controller writing a stale value),
// acknowledged data the controller still holds, the whole array row, and that the
// verdicts of whole runs are those of a read-back of everything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Board } from "../host/board.js";
import { Oracle, blockPattern } from "../host/oracle.js";
import { ArrayMap } from "../host/array_map.js";
import { ReadScope } from "../host/readback_scope.js";
import { runScenario } from "../host/scenario.js";
import { verdict } from "../host/run_report.js";
import { loadMetered } from "../host/firmware.js";

const key = (lun: number, lba: number) => lun * 2 ** 32 + lba;

test("the scope: a disk write, a tear, a dropped write cache at a block's place; acknowledged data not yet on its media", () => {
  const board = new Board(loadMetered(), { seed: 1 });
  const oracle = new Oracle();
  const scope = new ReadScope(board, oracle, null);
  assert.equal(scope.select(false, false), null, "the first read-back reads everything");
  scope.reset();
  assert.deepEqual([...scope.select(false, false)!], []);
  board.disks[2].onTouch!(100, 2);
  assert.deepEqual([...scope.select(false, false)!].sort(), [key(2, 100), key(2, 101)]);
  // Acknowledged: held by the controller until the disk's media has that very write.
  oracle.onAcked!(1, 7, 42);
  assert.ok(scope.select(false, false)!.has(key(1, 7)));
  board.disks[1].onDurable!(7, [blockPattern(1, 7, 41)]);
  assert.ok(scope.select(false, false)!.has(key(1, 7)), "an older write on the media does not count");
  board.disks[1].onDurable!(8, [blockPattern(1, 7, 42)]);
  assert.ok(scope.select(false, false)!.has(key(1, 7)), "nor the write landing elsewhere (misdirected)");
  board.disks[1].onDurable!(7, [blockPattern(1, 7, 42)]);
  assert.ok(!scope.select(false, false)!.has(key(1, 7)));
  // The label (an unreadable list), a swap, a dead disk: everything.
  board.disks[0].onTouch!(board.cfg.disk.blocks - 1, 1);
  assert.equal(scope.select(false, false), null);
  scope.reset();
  board.swapDisks(0, 1);
  assert.equal(scope.select(false, false), null);
  scope.reset();
  board.disks[3].faults.dead = true;
  assert.equal(scope.select(false, false), null);
  scope.reset();
  assert.equal(scope.select(true, false), null, "asked for everything");
  board.disks[3].faults.dead = false;
  scope.reset();
  // A write sent (its outcome unknown) is read back; after a ride-through, every block
  // written since the last boot (the cache may hold it, clean), until the next boot.
  oracle.onBegin!(2, 500, 2);
  assert.ok(scope.select(false, false)!.has(key(2, 501)));
  scope.reset();
  assert.ok(!scope.select(false, false)!.has(key(2, 501)));
  assert.ok(scope.select(false, true)!.has(key(2, 501)));
  scope.boot();
  assert.ok(!scope.select(false, true)!.has(key(2, 501)));
});

test("the scope on an array: a member write marks its whole row; a write to a disk that is no member, everything", () => {
  const board = new Board(loadMetered(), { seed: 1, raid: 5, spares: 1, disks: 5 });
  const oracle = new Oracle();
  const map = new ArrayMap(board);
  const scope = new ReadScope(board, oracle, map);
  scope.reset();
  board.disks[1].onTouch!(10, 1); // row 10: three data blocks, array LBAs 30..32
  assert.deepEqual([...scope.select(false, false)!].sort((a, b) => a - b), [key(0, 30), key(0, 31), key(0, 32)]);
  board.disks[4].onTouch!(10, 1); // the spare
  assert.equal(scope.select(false, false), null);
});

test("a stale value the controller writes to an old block after a reboot is read back after that very cut (a partial read-back)", () => {
  // A controller bug, simulated: at the second boot a block written before the first
  // cut gets its first version back on the disk (as a wrong restore would write it).
  // (Cut 3: the read-backs after cuts 1, 2, 4 and the last read everything.)
  let injected = -1, seenBeforeCut4 = -1;
  const r = runScenario(loadMetered(), {
    seed: 8, cuts: 6, board: { raid: 0 },
    onCut: (c) => { if (c.cut === 4) seenBeforeCut4 = c.oracle.problems.filter((p) => p.includes(`lba ${injected}`)).length; },
    onBoot: (c) => {
      if (c.cut !== 3) return;
      const blocks = c.oracle.writtenBlocks().filter(([lun]) => lun === 0);
      const [lun, lba] = blocks[0];
      const disk = c.board.disks[lun];
      disk.media.write(lba, blockPattern(lun, lba, 999_999));
      disk.onTouch!(lba, 1);
      injected = lba;
    },
  });
  assert.ok(injected >= 0);
  assert.ok(r.corrupt_reads + r.lost_writes > 0, "the stale block was read back");
  assert.ok(seenBeforeCut4 > 0, `seen in the read-back of cut 3: ${r.problems.slice(0, 3).join("; ")}`);
});

test("whole runs: clean, with fewer blocks read than reading everything after every cut", () => {
  for (const [seed, raid] of [[5, 0], [6, 5]] as const) {
    const opts = { seed, cuts: 12, board: raid ? { raid, spares: 1, disks: 5 } : { raid: 0 } };
    const some = runScenario(loadMetered(), opts);
    const all = runScenario(loadMetered(), { ...opts, full_readback: true });
    // (The read-back's own traffic moves virtual time, so the runs differ after the
    // first cut; both must be clean.)
    for (const r of [some, all]) assert.deepEqual(verdict(r), [], r.problems.slice(0, 3).join("; "));
    assert.ok(some.checked_blocks < all.checked_blocks * 0.9, `${some.checked_blocks} blocks read against ${all.checked_blocks}`);
  }
});
