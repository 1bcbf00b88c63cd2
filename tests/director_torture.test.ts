// The director under 200 runs of faults (a drive that fails, with its tape movable or
// stuck, or hangs; a damaged tape; a damaged tape then a failed drive; the robot dead
// when the drive fails; the director dead, with a spare director; the director's power
// cut for 20 s; a drive that tears a block as it fails; a drive that stalls for 40 s:
// the sets in turn, each at an instant its seed picks), on small trees so
// that it runs in the suite; the CLI runs the full-size ones (holdup torture --director).
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadDirectorMetered } from "../host/firmware.js";
import { runDirectorTorture, DIRECTOR_TORTURE_FAULTS } from "../host/backup/torture_director.js";
import { tarRestores } from "../host/backup/run.js";
import { makeTree, tarStream } from "../host/backup/tar.js";

const RUNS = 200;
const SEED = 41000000;
const FILE_BYTES_MAX = 8_000;

test(`torture --director, ${RUNS} runs: a failover for each fault a spare covers, the documented error otherwise, every tape exact and restored by GNU tar, no trap`, () => {
  const r = runDirectorTorture(loadDirectorMetered(), SEED, RUNS, null, FILE_BYTES_MAX);
  const why = JSON.stringify(r.failures.slice(0, 3));
  const sets = DIRECTOR_TORTURE_FAULTS.length;
  const of = (k: number) => Array.from({ length: RUNS }, (_, i) => (SEED + i) % sets).filter((x) => x === k).length; // runs of set k
  assert.equal(r.runs, RUNS, why);
  assert.equal(r.traps, 0, why);
  assert.deepEqual(r.failures, []);
  // Sets: drive-fail, no-unload, drive-hang, medium-error, robot-fail, medium-error+drive-fail,
  // director-fail, director-cut, drive-torn, drive-stall (no failover: the drive goes on),
  // drive-fail+director-cut, no-unload+director-cut (the cut may fall in the failover).
  assert.equal(r.cuts, RUNS + of(5) + of(10) + of(11));
  assert.equal(r.failovers_director, of(6), "the spare director took over each dead one");
  // A cut set for a block the failed drive never took, or past the run's end, does not strike.
  assert.ok(r.director_restarts >= of(7) && r.director_restarts <= of(7) + of(10) + of(11), `${r.director_restarts} restarts`);
  assert.ok(r.resent_commands > 0, "some deaths caught a command in flight: sent again, done once");
  const drive = of(0) + of(1) + of(2) + of(5) + of(8);
  assert.ok(r.failovers_drive >= drive + of(10) + of(11) && r.failovers_drive <= drive + 2 * (of(10) + of(11)), why);
  assert.ok(r.failovers_medium >= of(3) && r.failovers_medium <= of(3) + of(5), `${r.failovers_medium} tapes replaced`);
  assert.equal(r.no_spare_runs, of(4));
  assert.ok(r.job_errors_no_spare >= of(4), "the server told in every run no spare could help");
  assert.equal(r.job_errors, 0, why);
  assert.equal(r.tape_mismatches, 0, why);
  assert.equal(r.tar_verified, true, why);
  assert.ok(r.replayed_bytes > 0);
  // The server's writes taken meanwhile (failovers, a stalled drive) and written after.
  assert.ok(r.failover_accepted_bytes > 0);
});

test("the GNU tar check fails a stream cut short, a flipped bit, and an entry the tree lacks", () => {
  const tree = makeTree(5, 60, 20_000);
  const s = tarStream(tree);
  assert.equal(tarRestores(s, tree), true);
  assert.equal(tarRestores(s.subarray(0, s.length >> 1), tree), false);
  const flipped = s.slice();
  flipped[s.length >> 1] ^= 1;
  assert.equal(tarRestores(flipped, tree), false);
  assert.equal(tarRestores(s, tree.slice(0, -1)), false);
});
