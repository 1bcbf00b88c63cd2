// 25LC1024 model against DS22064D.
import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualClock } from "../host/clock.js";
import { Rng } from "../host/rng.js";
import {
  Eeprom, PART_25LC1024, PART_FM25V20A, CMD_READ, CMD_WRITE, CMD_WREN, CMD_WRDI, CMD_RDSR,
  CMD_WRSR, CMD_PE, CMD_SE, CMD_CE, CMD_RDID, CMD_DPD, SR_WIP, SR_WEL,
} from "../host/devices/eeprom.js";

function setup(part = PART_25LC1024) {
  const clock = new VirtualClock();
  const e = new Eeprom(part, clock, new Rng(1));
  const tx = (bytes: number[]) => { e.select(); const out = bytes.map((b) => e.transfer(b)); e.deselect(); return out; };
  const addr = (a: number) => [(a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff];
  const status = () => tx([CMD_RDSR, 0])[1];
  const write = (a: number, data: number[]) => { tx([CMD_WREN]); tx([CMD_WRITE, ...addr(a), ...data]); };
  const read = (a: number, n: number) => tx([CMD_READ, ...addr(a), ...new Array(n).fill(0)]).slice(4);
  return { clock, e, tx, addr, status, write, read };
}

test("a new part reads as erased (0xFF)", () => {
  const { read } = setup();
  assert.deepEqual(read(0x1234, 4), [0xff, 0xff, 0xff, 0xff]);
});

test("WREN sets WEL, WRDI clears it", () => {
  const { tx, status } = setup();
  assert.equal(status() & SR_WEL, 0);
  tx([CMD_WREN]);
  assert.equal(status() & SR_WEL, SR_WEL);
  tx([CMD_WRDI]);
  assert.equal(status() & SR_WEL, 0);
});

test("a page write sets WIP for tWC = 6 ms, then clears WIP and WEL", () => {
  const { clock, write, status, read, e } = setup();
  write(0x100, [1, 2, 3]);
  assert.equal(status() & (SR_WIP | SR_WEL), SR_WIP | SR_WEL);
  clock.advanceBy(5.999e6);
  assert.equal(status() & SR_WIP, SR_WIP);
  clock.advanceBy(0.001e6);
  assert.equal(status() & (SR_WIP | SR_WEL), 0);
  assert.deepEqual(read(0x100, 4), [1, 2, 3, 0xff]);
  assert.equal(e.store.wear[1], 1);
  assert.deepEqual(e.violations, []);
});

test("a write without WREN is ignored and reported", () => {
  const { tx, addr, read, e, clock } = setup();
  tx([CMD_WRITE, ...addr(0), 0x55]);
  clock.advanceBy(10e6);
  assert.deepEqual(read(0, 1), [0xff]);
  assert.match(e.violations[0], /without WREN/);
});

test("a write past the page end wraps to the start of the same page", () => {
  const { write, read, clock, e } = setup();
  write(0x2fe, [0xa, 0xb, 0xc, 0xd]);
  clock.advanceBy(6e6);
  assert.deepEqual(read(0x2fe, 2), [0xa, 0xb]);
  assert.deepEqual(read(0x200, 2), [0xc, 0xd]);
  assert.deepEqual(read(0x300, 1), [0xff]);
  assert.match(e.violations[0], /runs past the page end/);
});

test("commands other than RDSR while WIP are ignored and reported", () => {
  const { write, read, e } = setup();
  write(0, [1]);
  read(0, 1);
  assert.match(e.violations[0], /while WIP/);
});

test("power loss during the write cycle tears the page", () => {
  const { write, clock, e, read } = setup();
  const data = new Array(256).fill(0).map((_, i) => i ^ 0x5a);
  write(0x400, data);
  clock.advanceBy(3e6);
  e.powerOff();
  e.powerOn();
  const got = read(0x400, 256);
  assert.notDeepEqual(got, data, "a cut write must not be complete");
  assert.ok(got.some((v, i) => v === data[i]), "some bytes took the new value");
  assert.equal(e.stats.tornWrites, 1);
  assert.equal(e.writeEnabled, false);
});

test("block protect BP1:BP0 = 01 protects the upper quarter", () => {
  const { tx, write, read, clock, e } = setup();
  tx([CMD_WREN]);
  tx([CMD_WRSR, 0x04]);
  clock.advanceBy(6e6);
  write(0x18000, [1]);
  clock.advanceBy(6e6);
  assert.deepEqual(read(0x18000, 1), [0xff]);
  assert.match(e.violations[0], /protected/);
  write(0x17f00, [2]);
  clock.advanceBy(6e6);
  assert.deepEqual(read(0x17f00, 1), [2]);
});

test("RDID returns the signature 0x29 and releases deep power-down", () => {
  const { tx, addr, status, e, read } = setup();
  assert.equal(tx([CMD_RDID, ...addr(0), 0])[4], 0x29);
  tx([CMD_DPD]);
  read(0, 1);
  assert.match(e.violations[0], /deep power-down/);
  assert.equal(tx([CMD_RDID, ...addr(0), 0])[4], 0x29);
  assert.equal(status() & SR_WIP, 0);
});

test("page, sector and chip erase set bytes to 0xFF after 6, 10 and 10 ms", () => {
  const { tx, addr, write, read, clock, status } = setup();
  write(0x8000, [0]); clock.advanceBy(6e6);
  write(0x8100, [0]); clock.advanceBy(6e6);
  tx([CMD_WREN]); tx([CMD_PE, ...addr(0x8000)]);
  clock.advanceBy(5.9e6);
  assert.equal(status() & SR_WIP, SR_WIP);
  clock.advanceBy(0.1e6);
  assert.deepEqual(read(0x8000, 1), [0xff]);
  assert.deepEqual(read(0x8100, 1), [0]);
  tx([CMD_WREN]); tx([CMD_SE, ...addr(0x8100)]);
  clock.advanceBy(10e6);
  assert.deepEqual(read(0x8100, 1), [0xff]);
  write(0x10, [7]); clock.advanceBy(6e6);
  tx([CMD_WREN]); tx([CMD_CE]);
  clock.advanceBy(10e6);
  assert.deepEqual(read(0x10, 1), [0xff]);
});

test("stuck bits, dead pages and read flips are applied", () => {
  const { write, read, clock, e } = setup();
  e.store.stuck.set(0x20, [0x01, 0x00]);
  write(0x20, [0xff]); clock.advanceBy(6e6);
  assert.deepEqual(read(0x20, 1), [0xfe]);
  e.store.deadPages.add(2);
  write(0x200, [0x11]); clock.advanceBy(6e6);
  assert.deepEqual(read(0x200, 1), [0xff]);
  e.flipOnRead.set(0x20, 0x80);
  assert.deepEqual(read(0x20, 1), [0x7e]);
  assert.deepEqual(read(0x20, 1), [0xfe], "a read flip is transient");
});

test("a torn page can be injected without a power loss", () => {
  const { write, read, clock, e } = setup();
  e.tearNextWrite = true;
  const data = new Array(256).fill(0x00);
  write(0x300, data); clock.advanceBy(6e6);
  assert.notDeepEqual(read(0x300, 256), data);
});

test("the FRAM part writes with no delay", () => {
  const { write, status, read } = setup(PART_FM25V20A);
  write(0x3000, [9]);
  assert.equal(status() & SR_WIP, 0);
  assert.deepEqual(read(0x3000, 1), [9]);
});

test("bus time of a byte at 20 MHz is 400 ns", () => {
  const { e } = setup();
  assert.equal(e.byteTime_ns(20e6), 400);
  assert.equal(e.byteTime_ns(40e6), 400, "the part runs at 20 MHz at most");
});
