// The tape library's devices (host/devices/tape.ts, changer.ts): SSC-3 semantics as
// mhVTL gives them (filemarks, end of data, early warning and volume overflow, fixed
// and variable blocks, positioning), SMC-3 moves and element status with barcodes,
// LTO-5 timing, and the faults the director must survive.
import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualClock } from "../host/clock.js";
import { TapeDrive, LTO5_SCALED } from "../host/devices/tape.js";
import { Cartridge, FILEMARK } from "../host/devices/tape_media.js";
import { Changer, ADDR } from "../host/devices/changer.js";
import type { ScsiResult, ScsiTarget } from "../host/devices/target.js";
import { ssc, parseTapeSense, parsePosition, parseElementStatus, TKEY, TASC, ELEMENT } from "../host/scsi/ssc.js";

/** Run one command to its end on a fresh clock step; returns the result and the time it took (s). */
function run(clock: VirtualClock, t: ScsiTarget, cdb: Uint8Array, data: Uint8Array | null = null): ScsiResult & { s: number } {
  let r: ScsiResult | null = null;
  const t0 = clock.now_ns;
  t.submit(cdb, data, (x) => { r = x; });
  for (let i = 0; i < 10_000 && !r; i++) if (!clock.runNext()) break;
  assert.ok(r, `command ${cdb[0].toString(16)} ended`);
  return { ...(r as ScsiResult), s: (clock.now_ns - t0) / 1e9 };
}

function loaded(p = LTO5_SCALED): { clock: VirtualClock; d: TapeDrive; cart: Cartridge } {
  const clock = new VirtualClock();
  const d = new TapeDrive(0, "HU5D000001", clock, p);
  const cart = new Cartridge("HU0001L5", p.capacity_bytes);
  d.insert(cart);
  const first = run(clock, d, ssc.tur());
  assert.equal(parseTapeSense(first.sense)?.asc, TASC.BECOMING_READY);
  clock.advanceBy(p.load_s * 1e9);
  const ua = run(clock, d, ssc.tur());
  assert.equal(parseTapeSense(ua.sense)?.key, TKEY.UNIT_ATTENTION);
  assert.equal(run(clock, d, ssc.tur()).status, 0);
  return { clock, d, cart };
}

const block = (n: number, v: number) => new Uint8Array(n).fill(v);

test("a drive writes variable blocks and filemarks, reads them back, and reports filemarks and the end of data", () => {
  const { clock, d, cart } = loaded();
  assert.equal(run(clock, d, ssc.write(4096), block(4096, 1)).status, 0);
  assert.equal(run(clock, d, ssc.write(100), block(100, 2)).status, 0);
  assert.equal(run(clock, d, ssc.writeFilemarks(1)).status, 0);
  assert.equal(run(clock, d, ssc.write(512), block(512, 3)).status, 0);
  assert.equal(parsePosition(run(clock, d, ssc.readPosition()).dataIn!).object, 4);
  const rw = run(clock, d, ssc.rewind());
  assert.deepEqual(cart.objects.map((o) => (o === FILEMARK ? "FM" : o.length)), [4096, 100, "FM", 512], "on the medium after the rewind");
  assert.equal(parsePosition(run(clock, d, ssc.readPosition()).dataIn!).object, 0);
  assert.ok(parsePosition(run(clock, d, ssc.readPosition()).dataIn!).bop);
  assert.ok(rw.s > 0, "rewinding takes time");
  const r1 = run(clock, d, ssc.read(4096));
  assert.equal(r1.status, 0);
  assert.deepEqual(r1.dataIn, block(4096, 1));
  // A shorter block than asked: ILI, INFORMATION = requested - actual.
  const r2 = run(clock, d, ssc.read(4096));
  const s2 = parseTapeSense(r2.sense)!;
  assert.ok(s2.ili && s2.info === 4096 - 100, JSON.stringify(s2));
  assert.deepEqual(r2.dataIn, block(100, 2));
  const fm = parseTapeSense(run(clock, d, ssc.read(4096)).sense)!;
  assert.ok(fm.filemark && fm.asc === TASC.FILEMARK_DETECTED);
  assert.equal(run(clock, d, ssc.read(512)).status, 0);
  const eod = parseTapeSense(run(clock, d, ssc.read(512)).sense)!;
  assert.equal(eod.key, TKEY.BLANK_CHECK);
  assert.equal(eod.asc, TASC.END_OF_DATA);
  // With SILI a short block is no error.
  run(clock, d, ssc.locate(1));
  assert.equal(run(clock, d, ssc.read(4096, false, true)).status, 0);
});

test("fixed blocks after MODE SELECT; a write in the middle replaces the rest of the tape", () => {
  const { clock, d, cart } = loaded();
  assert.equal(parseTapeSense(run(clock, d, ssc.write(2, true), block(8192, 1)).sense)?.key, TKEY.ILLEGAL_REQUEST, "fixed without a block size");
  assert.equal(run(clock, d, ssc.modeSelect(12), ssc.blockSizeParams(4096)).status, 0);
  assert.equal(run(clock, d, ssc.modeSense()).dataIn![11], 0x00);
  assert.equal(run(clock, d, ssc.write(3, true), block(3 * 4096, 7)).status, 0);
  assert.equal(run(clock, d, ssc.writeFilemarks(0)).status, 0, "WRITE FILEMARKS 0: the buffer to the medium");
  assert.equal(cart.eod, 3);
  run(clock, d, ssc.locate(1));
  assert.equal(run(clock, d, ssc.write(1, true), block(4096, 9)).status, 0);
  run(clock, d, ssc.writeFilemarks(0));
  assert.equal(cart.eod, 2, "the end of data is after the last write");
  run(clock, d, ssc.rewind());
  const r = run(clock, d, ssc.read(2, true));
  assert.deepEqual(r.dataIn, new Uint8Array([...block(4096, 7), ...block(4096, 9)]));
});

test("early warning before the end: the write succeeds with EOM; past the end VOLUME OVERFLOW with the residue", () => {
  const p = { ...LTO5_SCALED, capacity_bytes: 64 * 4096, early_warning_bytes: 8 * 4096 };
  const { clock, d, cart } = loaded(p);
  let n = 0, ew = -1;
  for (; n < 100; n++) {
    const r = run(clock, d, ssc.write(4096), block(4096, n & 0xff));
    const s = parseTapeSense(r.sense);
    if (s?.eom && s.key === TKEY.NO_SENSE) { ew = n; continue; }
    if (s) {
      assert.equal(s.key, TKEY.VOLUME_OVERFLOW);
      assert.ok(s.eom && s.asc === TASC.END_OF_MEDIUM && s.info === 4096, JSON.stringify(s));
      break;
    }
  }
  assert.equal(ew, 63, "the last block that fits also warned");
  run(clock, d, ssc.writeFilemarks(0));
  assert.equal(cart.eod, 64);
  assert.equal(cart.bytesUsed, p.capacity_bytes);
  // The first warning came with the block that reached the early-warning point.
  const firstWarn = p.capacity_bytes - p.early_warning_bytes;
  assert.equal(cart.bytesBefore(56), firstWarn);
});

test("positioning: SPACE over blocks stops at a filemark, over filemarks stops at the end of data; LOCATE past it", () => {
  const { clock, d } = loaded();
  for (const v of [1, 2]) run(clock, d, ssc.write(512), block(512, v));
  run(clock, d, ssc.writeFilemarks(1));
  run(clock, d, ssc.write(512), block(512, 3));
  run(clock, d, ssc.writeFilemarks(1));
  run(clock, d, ssc.rewind());
  const sp = parseTapeSense(run(clock, d, ssc.space(0, 5)).sense)!;
  assert.ok(sp.filemark && sp.info === 3, JSON.stringify(sp));
  assert.equal(parsePosition(run(clock, d, ssc.readPosition()).dataIn!).object, 3);
  assert.equal(run(clock, d, ssc.space(1, -1)).status, 0);
  assert.equal(parsePosition(run(clock, d, ssc.readPosition()).dataIn!).object, 2);
  const end = parseTapeSense(run(clock, d, ssc.space(1, 3)).sense)!;
  assert.equal(end.key, TKEY.BLANK_CHECK);
  assert.equal(run(clock, d, ssc.space(3, 0)).status, 0);
  assert.equal(parsePosition(run(clock, d, ssc.readPosition()).dataIn!).object, 5);
  assert.equal(parseTapeSense(run(clock, d, ssc.locate(9)).sense)!.asc, TASC.END_OF_DATA);
  assert.equal(run(clock, d, ssc.locate(2)).status, 0);
  assert.deepEqual(run(clock, d, ssc.read(512)).dataIn, null, "a filemark reads no data");
});

test("LTO-5 timing: writes at 800 MB/s into the buffer, 140 MB/s onto the tape; 12 s to load, 17 s to unload; winding scales with the distance", () => {
  const { clock, d, cart } = loaded();
  const w = run(clock, d, ssc.write(256 * 1024), block(256 * 1024, 5));
  assert.ok(Math.abs(w.s - (256 * 1024 / 800e6 + 100e-6)) < 1e-6, `${w.s} s: into the buffer`);
  const t0 = clock.now_ns;
  for (let i = 0; i < 63; i++) run(clock, d, ssc.write(256 * 1024), block(256 * 1024, 5));
  const f = run(clock, d, ssc.writeFilemarks(1));
  const streamed = (clock.now_ns - t0) / 1e9;
  const expect = (64 * 256 * 1024) / 140e6 - (w.s - 100e-6);
  assert.ok(Math.abs(streamed - expect) < 0.02 * expect, `${streamed} s for 16 MiB: the tape's rate, ${expect} s`);
  assert.ok(f.s > 0, "the filemark waited for the buffer");
  assert.equal(cart.eod, 65);
  const rw = run(clock, d, ssc.rewind());
  const frac = (64 * 256 * 1024) / LTO5_SCALED.capacity_bytes;
  assert.ok(Math.abs(rw.s - (frac * LTO5_SCALED.wind_full_s + 100e-6)) < 1e-6, `${rw.s} s`);
  const un = run(clock, d, ssc.unload());
  assert.ok(Math.abs(un.s - (17 + 100e-6)) < 1e-6, `${un.s}`);
  assert.ok(d.ejected);
});

test("faults: a drive that fails mid-write, a damaged cartridge, a cartridge that will not unload, a dead drive", () => {
  const a = loaded();
  a.d.faults.failAfterBytes = 3 * 4096;
  // The fourth write is GOOD (in the buffer), and lost with the drive: what the
  // director's cache is for.
  for (let i = 0; i < 4; i++) assert.equal(run(a.clock, a.d, ssc.write(4096), block(4096, i)).status, 0);
  assert.equal(parseTapeSense(run(a.clock, a.d, ssc.tur()).sense)!.key, TKEY.HARDWARE_ERROR, "failed");
  assert.equal(parseTapeSense(run(a.clock, a.d, ssc.tur()).sense)!.key, TKEY.HARDWARE_ERROR, "failed for good");
  assert.equal(a.cart.eod, 3);
  assert.equal(a.d.stats.bytesLost, 4096);

  const b = loaded();
  b.cart.badFrom = 2;
  for (let i = 0; i < 2; i++) assert.equal(run(b.clock, b.d, ssc.write(512), block(512, i)).status, 0);
  const me = parseTapeSense(run(b.clock, b.d, ssc.write(512), block(512, 3)).sense)!;
  assert.equal(me.key, TKEY.MEDIUM_ERROR);
  assert.equal(me.asc, TASC.WRITE_ERROR);

  const c = loaded();
  c.d.faults.noUnload = true;
  assert.equal(parseTapeSense(run(c.clock, c.d, ssc.unload()).sense)!.asc, TASC.LOAD_OR_EJECT_FAILED);
  assert.equal(c.d.remove(), null, "still in the drive");

  const dd = loaded();
  dd.d.faults.dead = true;
  assert.equal(run(dd.clock, dd.d, ssc.tur()).hostStatus, 1, "selection time-out");
});

test("the changer moves cartridges between slots and drives, reports barcodes, and needs an unload before a drive gives one up", () => {
  const clock = new VirtualClock();
  const drives = [new TapeDrive(0, "HU5D000001", clock), new TapeDrive(1, "HU5D000002", clock)];
  const ch = new Changer(clock, drives);
  ch.slots[0] = new Cartridge("HU0001L5", LTO5_SCALED.capacity_bytes);
  ch.slots[3] = new Cartridge("HU0004L5", LTO5_SCALED.capacity_bytes);
  const st = parseElementStatus(run(clock, ch, ssc.readElementStatus(0, 0, 100)).dataIn!);
  const slots = st.filter((e) => e.type === ELEMENT.STORAGE);
  assert.equal(slots.length, 16);
  assert.deepEqual(slots.filter((e) => e.full).map((e) => [e.address, e.barcode]), [[ADDR.STORAGE, "HU0001L5"], [ADDR.STORAGE + 3, "HU0004L5"]]);
  assert.equal(st.filter((e) => e.type === ELEMENT.DRIVE).length, 2);
  const mv = run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, ADDR.STORAGE, ADDR.DRIVE + 1));
  assert.equal(mv.status, 0);
  assert.ok(mv.s >= 8, "a move takes the robot's time");
  assert.equal(drives[1].cartridge?.barcode, "HU0001L5");
  const full = parseTapeSense(run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, ADDR.STORAGE + 3, ADDR.DRIVE + 1)).sense)!;
  assert.equal(full.asc, TASC.DESTINATION_FULL);
  const empty = parseTapeSense(run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, ADDR.STORAGE + 5, ADDR.DRIVE)).sense)!;
  assert.equal(empty.asc, TASC.SOURCE_EMPTY);
  const loadedDrive = parseTapeSense(run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, ADDR.DRIVE + 1, ADDR.STORAGE + 5)).sense)!;
  assert.equal(loadedDrive.asc, TASC.REMOVAL_PREVENTED);
  clock.advanceBy(20e9);
  run(clock, drives[1], ssc.tur());
  assert.equal(run(clock, drives[1], ssc.unload()).status, 0);
  assert.equal(run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, ADDR.DRIVE + 1, ADDR.STORAGE + 5)).status, 0);
  const after = parseElementStatus(run(clock, ch, ssc.readElementStatus(ELEMENT.STORAGE, ADDR.STORAGE + 5, 1)).dataIn!);
  assert.deepEqual(after.map((e) => [e.full, e.barcode, e.source]), [[true, "HU0001L5", ADDR.STORAGE]]);
  assert.equal(parseTapeSense(run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, 0x7777, ADDR.STORAGE)).sense)!.asc, TASC.INVALID_ELEMENT);
  ch.faults.robotFailed = true;
  assert.equal(parseTapeSense(run(clock, ch, ssc.moveMedium(ADDR.TRANSPORT, ADDR.STORAGE + 3, ADDR.DRIVE)).sense)!.key, TKEY.HARDWARE_ERROR);
});

test("the fabric: a director reaches a drive only while zoned to its port; re-zoning takes the spare", async () => {
  const { Fabric } = await import("../host/devices/fabric.js");
  const clock = new VirtualClock();
  const drives = [new TapeDrive(0, "HU5D000001", clock), new TapeDrive(1, "HU5D000002", clock)];
  const fc = new Fabric(clock);
  drives.forEach((d, i) => fc.attach(10 + i, d));
  const director = 1;
  fc.zone(director, 10, true);
  const inq = (port: number) => run(clock, fc.view(director, port), ssc.inquiry(96, true, 0x80));
  assert.equal(new TextDecoder().decode(inq(10).dataIn!.subarray(4)).trim(), "HU5D000001");
  assert.equal(inq(11).hostStatus, 1, "not zoned: no answer");
  fc.zone(director, 10, false);
  fc.zone(director, 11, true);
  assert.equal(inq(10).hostStatus, 1);
  assert.equal(new TextDecoder().decode(inq(11).dataIn!.subarray(4)).trim(), "HU5D000002");
  fc.downPorts.add(11);
  assert.equal(inq(11).hostStatus, 1, "a port down");
  assert.equal(fc.stats.zoneChanges, 3);
});
