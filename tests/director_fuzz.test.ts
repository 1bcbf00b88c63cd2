// Bad input never traps, the director too: random CDBs (mostly the opcodes it handles
// or forwards, with random fields), random LUNs and data lengths, through the director
// to the library; every command is answered with a SCSI status (GOOD, CHECK CONDITION
// with fixed-format sense, BUSY), and the firmware neither traps nor misuses its bus.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadDirectorMetered } from "../host/firmware.js";
import { makeDirectorInstallation } from "../host/backup/director_run.js";
import { Rng } from "../host/rng.js";

const OPS = [0x00, 0x01, 0x03, 0x05, 0x08, 0x0a, 0x10, 0x11, 0x12, 0x15, 0x1a, 0x1b, 0x2b, 0x34, 0x35, 0x88, 0x8a, 0xa5, 0xb8, 0x07, 0x4d, 0x25, 0x28, 0x2a];

test("director fuzz: 4 x 3,000 random commands, each answered with a status and sane sense; no trap, no bus misuse", () => {
  for (const seed of [1, 2, 3, 4]) {
    const inst = makeDirectorInstallation(loadDirectorMetered(), seed);
    const rng = new Rng(seed).fork("fuzz");
    const n = 3000;
    let done = 0;
    const statuses = new Map<number, number>();
    const next = () => {
      const cdb = new Uint8Array([6, 10, 12, 16][rng.int(4)]).map(() => rng.int(256));
      if (rng.float() < 0.8) cdb[0] = OPS[rng.int(OPS.length)];
      const lun = rng.float() < 0.7 ? 0 : rng.float() < 0.8 ? 1 : rng.int(8);
      const out = rng.float() < 0.4 ? new Uint8Array(rng.int(5000)).map(() => rng.int(256)) : null;
      inst.host.submit(lun, cdb, out, out ? 0 : rng.int(5000), (r) => {
        assert.ok(!r.lost, "answered");
        assert.ok([0, 2, 8].includes(r.status), `status ${r.status} for ${Buffer.from(cdb).toString("hex")}`);
        if (r.status === 2) assert.ok(r.senseRaw && (r.senseRaw[0] & 0x7e) === 0x70, `fixed-format sense for ${Buffer.from(cdb).toString("hex")}`);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (++done < n) next();
      });
    };
    inst.board.clock.after(0, "fuzz", next);
    inst.board.run(() => done >= n, 1e15);
    assert.equal(done, n, `seed ${seed}`);
    assert.deepEqual(inst.board.faults, [], `seed ${seed}`);
    assert.deepEqual(inst.board.violations, [], `seed ${seed}`);
    assert.ok((statuses.get(0) ?? 0) > 0 && (statuses.get(2) ?? 0) > 0, JSON.stringify([...statuses]));
  }
});
