// SCSI-3 persistent reservations on the dual-ported disk model (SPC-4 §5.13), as a
// cluster fences with them (fence_scsi): register, WRITE EXCLUSIVE – REGISTRANTS ONLY,
// PREEMPT AND ABORT of the failed node's key, APTPL through a power loss.
import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualClock } from "../host/clock.js";
import { Rng } from "../host/rng.js";
import { Disk, DEFAULT_DISK } from "../host/devices/disk.js";
import type { ScsiResult, ScsiTarget } from "../host/devices/target.js";
import { cdb, KEY, parseSense } from "../host/scsi/spc.js";
import { PR_OUT, PR_TYPE, PR_IN, STATUS_RESERVATION_CONFLICT, STATUS_TASK_ABORTED } from "../host/devices/disk_reservations.js";

const A = 1, B = 2;

function setup() {
  const clock = new VirtualClock();
  const disk = new Disk(0, DEFAULT_DISK, clock, new Rng(9));
  const run = (port: ScsiTarget, c: Uint8Array, out: Uint8Array | null = null): ScsiResult => {
    let r: ScsiResult | null = null;
    port.submit(c, out, (x) => { r = x; });
    for (let i = 0; i < 1e6 && !r; i++) if (!clock.runNext()) break;
    if (!r) throw new Error("no completion");
    return r;
  };
  const a = disk.port(A), b = disk.port(B);
  // Each I_T nexus has its own power-on unit attention.
  for (const p of [a, b]) assert.equal(parseSense(run(p, cdb.tur()).sense!)?.key, KEY.UNIT_ATTENTION);
  return { clock, disk, run, a, b };
}

function prOut(sa: number, type: number, key: bigint, sark: bigint, aptpl = false): [Uint8Array, Uint8Array] {
  const c = new Uint8Array(10);
  c[0] = 0x5f; c[1] = sa; c[2] = type; c[8] = 24;
  const d = new Uint8Array(24);
  new DataView(d.buffer).setBigUint64(0, key);
  new DataView(d.buffer).setBigUint64(8, sark);
  d[20] = aptpl ? 1 : 0;
  return [c, d];
}
function prIn(sa: number): Uint8Array {
  const c = new Uint8Array(10);
  c[0] = 0x5e; c[1] = sa; c[8] = 255;
  return c;
}
const write = (lba: number) => cdb.rw10(true, lba, 1);
const data = (v: number) => new Uint8Array(512).fill(v);

test("fence_scsi's sequence: both register, A reserves WRITE EXCLUSIVE – REGISTRANTS ONLY; an unregistered initiator cannot write, both registrants can; reads are never refused", () => {
  const { run, a, b, disk } = setup();
  const c = disk.port(3);
  run(c, cdb.tur());
  assert.equal(run(a, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xaan)).status, 0);
  assert.equal(run(b, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xbbn)).status, 0);
  assert.equal(run(a, ...prOut(PR_OUT.RESERVE, PR_TYPE.WE_RO, 0xaan, 0n)).status, 0);
  // A second RESERVE by another registrant conflicts; the same one again is GOOD.
  assert.equal(run(b, ...prOut(PR_OUT.RESERVE, PR_TYPE.WE_RO, 0xbbn, 0n)).status, STATUS_RESERVATION_CONFLICT);
  assert.equal(run(a, ...prOut(PR_OUT.RESERVE, PR_TYPE.WE_RO, 0xaan, 0n)).status, 0);
  assert.equal(run(a, write(10), data(1)).status, 0);
  assert.equal(run(b, write(11), data(2)).status, 0);
  assert.equal(run(c, write(12), data(3)).status, STATUS_RESERVATION_CONFLICT);
  assert.equal(run(c, cdb.rw10(false, 10, 1)).status, 0);
  assert.equal(disk.reservations.conflicts.get(3), 1);
  // READ KEYS: the generation (two registrations) and both keys; READ RESERVATION: A's key, type 5.
  const keys = run(a, prIn(PR_IN.READ_KEYS)).dataIn!;
  const dv = new DataView(keys.buffer, keys.byteOffset);
  assert.equal(dv.getUint32(0), 2);
  assert.equal(dv.getUint32(4), 16);
  assert.deepEqual([dv.getBigUint64(8), dv.getBigUint64(16)].sort(), [0xaan, 0xbbn]);
  const res = run(b, prIn(PR_IN.READ_RESERVATION)).dataIn!;
  assert.equal(new DataView(res.buffer, res.byteOffset).getBigUint64(8), 0xaan);
  assert.equal(res[21], PR_TYPE.WE_RO);
  // A wrong key: RESERVATION CONFLICT, nothing changes.
  assert.equal(run(b, ...prOut(PR_OUT.REGISTER, 0, 0x99n, 0x77n)).status, STATUS_RESERVATION_CONFLICT);
});

test("the survivor fences the failed owner: PREEMPT AND ABORT removes its key, takes the reservation, ends its queued commands with TASK ABORTED; its writes then conflict, and it hears REGISTRATIONS PREEMPTED", () => {
  const { run, a, b, clock } = setup();
  run(a, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xaan));
  run(b, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xbbn));
  run(a, ...prOut(PR_OUT.RESERVE, PR_TYPE.WE_RO, 0xaan, 0n));
  // A has writes queued behind B's PREEMPT AND ABORT... and one ahead of it.
  const seen: Array<[string, ScsiResult]> = [];
  a.submit(write(20), data(4), (r) => seen.push(["a first", r]));
  b.submit(...prOut(PR_OUT.PREEMPT_AND_ABORT, PR_TYPE.WE_RO, 0xbbn, 0xaan), (r) => seen.push(["b preempt", r]));
  a.submit(write(21), data(5), (r) => seen.push(["a queued", r]));
  for (let i = 0; i < 1e5 && seen.length < 3; i++) if (!clock.runNext()) break;
  const by = Object.fromEntries(seen);
  assert.equal(by["a first"].status, 0, "ahead of the preempt: it ran");
  assert.equal(by["b preempt"].status, 0);
  assert.equal(by["a queued"].status, STATUS_TASK_ABORTED);
  // A's next command: the unit attention, then its writes conflict.
  const ua = run(a, cdb.tur());
  assert.deepEqual(parseSense(ua.sense!), { ...parseSense(ua.sense!), key: KEY.UNIT_ATTENTION, asc: 0x2a05 });
  assert.equal(run(a, write(22), data(6)).status, STATUS_RESERVATION_CONFLICT);
  assert.equal(run(b, write(22), data(7)).status, 0);
  const res = run(b, prIn(PR_IN.READ_RESERVATION)).dataIn!;
  assert.equal(new DataView(res.buffer, res.byteOffset).getBigUint64(8), 0xbbn, "B holds it now");
  // A registers again (after it is unfenced: B lets it) and may write again.
  assert.equal(run(a, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xa2n)).status, 0);
  assert.equal(run(a, write(23), data(8)).status, 0);
});

test("APTPL: registrations and the reservation survive a power loss only when asked for; without it the disk forgets them", () => {
  for (const aptpl of [true, false]) {
    const { run, a, b, disk, clock } = setup();
    run(a, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xaan, aptpl));
    run(a, ...prOut(PR_OUT.RESERVE, PR_TYPE.WE_RO, 0xaan, 0n));
    disk.powerOff();
    disk.powerOn();
    clock.advanceTo(clock.now_ns + 3e9);
    run(b, cdb.tur()); // power-on unit attention
    const w = run(b, write(30), data(9));
    assert.equal(w.status, aptpl ? STATUS_RESERVATION_CONFLICT : 0, `aptpl ${aptpl}`);
  }
});

test("bad PERSISTENT RESERVE OUT parameters: ILLEGAL REQUEST with the field, never a change", () => {
  const { run, a } = setup();
  const [c, d] = prOut(PR_OUT.REGISTER, 0, 0n, 0xaan);
  c[8] = 20; // parameter list length must be 24
  assert.equal(parseSense(run(a, c, d).sense!)?.asc, 0x1a00);
  const [c2, d2] = prOut(PR_OUT.REGISTER, 0, 0n, 0xaan);
  d2[20] = 0x04; // ALL_TG_PT: not supported
  assert.equal(parseSense(run(a, c2, d2).sense!)?.asc, 0x2600);
  run(a, ...prOut(PR_OUT.REGISTER, 0, 0n, 0xaan));
  assert.equal(parseSense(run(a, ...prOut(PR_OUT.RESERVE, 2, 0xaan, 0n)).sense!)?.asc, 0x2400, "type 2 is obsolete");
  const keys = run(a, prIn(PR_IN.READ_KEYS)).dataIn!;
  assert.equal(new DataView(keys.buffer, keys.byteOffset).getUint32(4), 8, "one key");
});
