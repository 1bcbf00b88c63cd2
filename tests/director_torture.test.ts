// The director under 200 drive faults (drive-fail, no-unload, drive-hang in turn, each
// at an instant its seed picks), on small trees so that it runs in the suite; the CLI
// runs the full-size ones (holdup torture --director).
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadDirectorMetered } from "../host/firmware.js";
import { runDirectorTorture } from "../host/backup/torture_director.js";
import { tarRestores } from "../host/backup/run.js";
import { makeTree, tarStream } from "../host/backup/tar.js";

const FAULTS = 200;
const SEED = 41000000;
const FILE_BYTES_MAX = 8_000;

test(`torture --director, ${FAULTS} faults: a failover each, no job error, every tape exact and restored by GNU tar, no trap`, () => {
  const r = runDirectorTorture(loadDirectorMetered(), SEED, FAULTS, null, FILE_BYTES_MAX);
  const why = JSON.stringify(r.failures.slice(0, 3));
  assert.equal(r.runs, FAULTS, why);
  assert.equal(r.traps, 0, why);
  assert.equal(r.failovers_drive, FAULTS, why);
  assert.equal(r.job_errors, 0, why);
  assert.equal(r.tape_mismatches, 0, why);
  assert.equal(r.tar_verified, true, why);
  assert.ok(r.replayed_bytes > 0);
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
