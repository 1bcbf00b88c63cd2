// The write-back cache of seed 000 on the board: ack from the cache, save on power
// loss, restore with ECC and identity checks, the budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, Script, untilReady, untilWriteBack, nvStatus } from "../host/session.js";
import { loadMetered } from "../host/firmware.js";
import { cdb, STATUS, KEY, ASC, NV_ACTION, NvStatus } from "../host/scsi/spc.js";
import { blockPattern } from "../host/oracle.js";
import { readImage, readState, image_pages_for, PAGE_BYTES, SPARE_FIRST, SPARE_COUNT } from "../host/nvformat.js";
import type { BoardOptions } from "../host/board.js";
import type { HostResult } from "../host/host.js";

const LUNS = [0, 1, 2, 3];

/** Boot, wait for write-back, write `n` single blocks (pattern id = i + 1) at spread
 * LBAs over the four LUNs; returns their (lun, lba, id). */
function* fill(n: number, tag: number): Generator<import("../host/session.js").Step, Array<[number, number, number]>, HostResult | null> {
  const written: Array<[number, number, number]> = [];
  for (let i = 0; i < n; i++) {
    const lun = i % 4, lba = 1000 + i * 37, id = tag * 1000 + i + 1;
    const r = yield { lun, cdb: cdb.rw16(true, lba, 1), dataOut: blockPattern(lun, lba, id) };
    assert.equal(r!.status, STATUS.GOOD);
    written.push([lun, lba, id]);
  }
  return written;
}

function* readBack(written: Array<[number, number, number]>): Generator<import("../host/session.js").Step, string[], HostResult | null> {
  const bad: string[] = [];
  for (const [lun, lba, id] of written) {
    const r = (yield { lun, cdb: cdb.rw16(false, lba, 1), dataIn: 512 })!;
    if (r.status !== STATUS.GOOD) bad.push(`${lun}:${lba} status ${r.status} ${JSON.stringify(r.sense)}`);
    else if (!r.data.every((v, k) => v === blockPattern(lun, lba, id)[k])) bad.push(`${lun}:${lba} wrong data`);
  }
  return bad;
}

function session(opts: BoardOptions = {}) {
  return new Session(loadMetered(), { seed: 21, ...opts }, 4);
}

test("a write is acknowledged from the cache before any disk has it, and survives a power loss", () => {
  const s = session();
  let written: Array<[number, number, number]> = [];
  let onMediaAtAck = 0;
  let bad: string[] = ["not run"];
  let st: NvStatus | null = null;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    written = yield* fill(12, 1);
    for (const [lun, lba] of written) if (s.board.disks[lun].durable(lba)!.some((v) => v !== 0)) onMediaAtAck++;
    st = yield* nvStatus();
    yield { cut_off_ms: 3000 };
    for (const l of LUNS) yield* untilReady(l);
    bad = yield* readBack(written);
  }
  s.run(script());
  assert.ok(onMediaAtAck < written.length, "write-back: acknowledged before the disks had every block");
  assert.equal(st!.nv_blocks, 12);
  assert.deepEqual(bad, []);
  assert.ok(s.board.log.some((l) => /restore loaded 12 0/.test(l)), "the 12 blocks came back from the EEPROM");
  assert.deepEqual(s.board.eeprom.violations, []);
  assert.deepEqual(s.board.violations, []);
});

test("the saved image decodes with the SPEC.md reader: every block, SECDED and CRCs", () => {
  const s = session();
  let written: Array<[number, number, number]> = [];
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    written = yield* fill(9, 2);
    yield { cut_off_ms: 3000 };
  }
  // Stop right after the cut's reboot begins: the image is still unretired.
  s.board.onLog = (name) => { if (name === "save done") dump = s.board.eeprom.store.bytes.slice(); };
  let dump: Uint8Array | null = null;
  s.run(script());
  assert.ok(dump, "a save happened");
  const state = readState(dump!)!;
  assert.ok(state.armed > state.retired, "armed with the generation of the save");
  const img = readImage(dump!, state.armed, state.store_id)!;
  assert.ok(img, "the image of the armed generation is complete");
  assert.equal(img.store_id, state.store_id);
  assert.equal(img.blocks.length, 9);
  for (const [lun, lba, id] of written) {
    const b = img.blocks.find((x) => x.lun === lun && x.lba === BigInt(lba))!;
    assert.ok(b && b.crcOk, `record for ${lun}:${lba}`);
    assert.deepEqual(b.data, blockPattern(lun, lba, id));
  }
});

/** Flip bits of the stored image between the save and the restore. */
function corruptImage(s: Session, perPage: (page: Uint8Array, n: number) => void): void {
  s.board.onLog = (name) => {
    if (name !== "save done") return;
    const bytes = s.board.eeprom.store.bytes;
    for (let p = 0; p < 40; p++) perPage(bytes.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES), p);
  };
}

test("single-bit errors in every page of the image are corrected at restore", () => {
  const s = session();
  corruptImage(s, (page, n) => { page[(n * 37) % 252] ^= 1 << (n % 8); });
  let bad: string[] = ["not run"];
  let st: NvStatus | null = null;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    const written = yield* fill(10, 3);
    yield { cut_off_ms: 3000 };
    for (const l of LUNS) yield* untilReady(l);
    st = yield* nvStatus();
    bad = yield* readBack(written);
  }
  s.run(script());
  assert.deepEqual(bad, []);
  // One bit corrected in each page the restore read: all but the second meta copy's
  // (read only when the first is lost), so at least all pages but the last one.
  const pages = image_pages_for(st!.blocks);
  assert.ok(st!.corrected >= Math.min(40, pages - 1), `corrected bits: ${st!.corrected} (${st!.blocks} blocks, ${pages} pages)`);
  assert.equal(st!.lost_records, 0);
});

test("a double-bit error in a data record is detected: that block reads MEDIUM ERROR, the rest come back", () => {
  const s = session();
  // Page 10 is inside the data records; two bits of one word.
  corruptImage(s, (page, n) => { if (n === 10) { page[40] ^= 0x03; } });
  let results: HostResult[] = [];
  let written: Array<[number, number, number]> = [];
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    written = yield* fill(10, 4);
    yield { cut_off_ms: 3000 };
    for (const l of LUNS) yield* untilReady(l);
    for (const [lun, lba] of written) results.push((yield { lun, cdb: cdb.rw16(false, lba, 1), dataIn: 512 })!);
  }
  s.run(script());
  const medium = results.filter((r) => r.sense?.key === KEY.MEDIUM_ERROR).length;
  const good = results.filter((r, i) => r.status === STATUS.GOOD && r.data.every((v, k) => v === blockPattern(written[i][0], written[i][1], written[i][2])[k])).length;
  assert.ok(medium >= 1 && medium <= 2, `blocks reported unreadable: ${medium}`);
  assert.equal(good + medium, written.length, "every other block is correct; none is served wrong");
});

test("disks swapped between boots: the image is kept, NOT READY until the host decides; RECHECK after the swap back restores it", () => {
  const s = session();
  let pending: HostResult | null = null;
  let status: NvStatus | null = null;
  let bad: string[] = ["not run"];
  let wroteToSwapped = false;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    const written = yield* fill(8, 5);
    const before = [s.board.disks[0].stats.mediaWrites, s.board.disks[1].stats.mediaWrites];
    s.board.onPowerLost = ((inner) => () => { inner?.(); s.board.swapDisks(0, 1); })(s.board.onPowerLost);
    yield { cut_off_ms: 3000 };
    s.board.onPowerLost = null;
    yield* untilReady(2);
    pending = yield* untilReady(0, 5);
    status = yield* nvStatus(2);
    wroteToSwapped = s.board.disks[0].stats.mediaWrites !== before[1] || s.board.disks[1].stats.mediaWrites !== before[0];
    s.board.swapDisks(0, 1);
    yield { lun: 2, cdb: cdb.nvAction(NV_ACTION.RECHECK) };
    for (const l of LUNS) yield* untilReady(l);
    bad = yield* readBack(written);
  }
  s.run(script());
  assert.equal(pending!.status, STATUS.CHECK_CONDITION);
  assert.deepEqual(pending!.sense, { key: KEY.NOT_READY, asc: ASC.MANUAL_INTERVENTION });
  assert.equal(status!.image, 2, "pending");
  assert.equal(status!.identity[0] & 0x7f, 3, "LUN 0: ours, wrong slot");
  assert.ok(status!.identity[0] & 0x80, "LUN 0 is named by the pending image");
  assert.equal(wroteToSwapped, false, "nothing written to the swapped disks");
  assert.deepEqual(bad, []);
});

test("a blank disk where an image's disk was: DISCARD retires the image; the LUN is bound and serves its own data", () => {
  const s = session();
  let status: NvStatus | null = null;
  let after: NvStatus | null = null;
  let ready: HostResult | null = null;
  let discard: HostResult | null = null;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    yield* fill(8, 6);
    s.board.onPowerLost = ((inner) => () => {
      inner?.();
      // A new, blank disk goes in at bus ID 3.
      const d = s.board.disks[3];
      d.media.sectors.clear();
    })(s.board.onPowerLost);
    yield { cut_off_ms: 3000 };
    s.board.onPowerLost = null;
    yield* untilReady(0);
    status = yield* nvStatus(0);
    discard = (yield { lun: 0, cdb: cdb.nvAction(NV_ACTION.DISCARD) })!;
    after = yield* nvStatus(0);
    yield { lun: 3, cdb: cdb.tur() }; // its unit attention
    yield { lun: 3, cdb: cdb.nvAction(NV_ACTION.REPLAY) };
    ready = yield* untilReady(3);
  }
  s.run(script());
  assert.equal(status!.image, 2);
  assert.equal(status!.identity[3] & 0x7f, 1, "blank");
  assert.equal(discard!.status, STATUS.GOOD, JSON.stringify(discard));
  assert.equal(after!.image, 0, "discarded");
  assert.equal(ready!.status, STATUS.GOOD);
});

test("a second power loss during the restore loses nothing", () => {
  const s = session();
  let bad: string[] = ["not run"];
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    const written = yield* fill(30, 7);
    s.board.onLog = (name) => {
      // Cut again while the restored blocks go to the disks.
      if (name === "restore loaded") { s.board.onLog = null; s.board.cutPowerAt(s.board.now_ns + 20e6); s.board.restorePowerAt(s.board.now_ns + 3000e6); }
    };
    yield { cut_off_ms: 3000 };
    for (const l of LUNS) yield* untilReady(l);
    bad = yield* readBack(written);
  }
  s.run(script());
  assert.deepEqual(bad, []);
  assert.ok(s.board.powerCuts >= 2);
  assert.ok(s.board.log.filter((l) => /restore loaded 30 0/.test(l)).length >= 2, "restored twice");
});

test("the budget follows the cap: smaller when aged, none when tiny (write-through), and it learns the hold-up", () => {
  const budgetOf = (pct: number) => {
    const s = session({ power: { capacity_pct: pct } });
    let st: NvStatus | null = null;
    function* script(): Script {
      yield* untilReady(0);
      yield { pause_ms: 3500 }; // the learn, and the first boot's format
      st = yield* nvStatus(0);
    }
    s.run(script());
    return { st: st!, true_ms: s.board.cap.holdupAt_ns(s.board.now_ns) / 1e6 };
  };
  const full = budgetOf(100), aged = budgetOf(40), tiny = budgetOf(1);
  // The full cap's budget: its save (a page write + verify each, the part's bound)
  // fits the true hold-up, and protects at least 0.8 of what the hold-up could write.
  const saveMs = image_pages_for(full.st.budget) * full.st.page_us / 1000;
  assert.ok(saveMs < full.true_ms, `full: ${full.st.budget} blocks, a ${saveMs} ms save, ${full.true_ms} ms of hold-up`);
  // One page written every 6.1044 ms: the 25LC1024's 6 ms write cycle and 261 bytes
  // at 20 MHz.
  assert.ok(full.st.budget * 512 >= 0.8 * Math.floor(full.true_ms / 6.1044) * 256, `full: ${full.st.budget}`);
  assert.ok(aged.st.budget < full.st.budget * 0.6, `aged: ${aged.st.budget} vs ${full.st.budget}`);
  assert.equal(tiny.st.budget, 0);
  assert.equal(tiny.st.mode, 1, "write-through");
  for (const x of [full, aged]) {
    assert.ok(Math.abs(x.st.holdup_ms - x.true_ms) < 0.05 * x.true_ms, `learned ${x.st.holdup_ms} ms, true ${x.true_ms.toFixed(1)} ms`);
  }
});

test("write-through when the budget is zero: the ack waits for the disk's media", () => {
  const s = session({ power: { capacity_pct: 1 } });
  let onMedia = false;
  function* script(): Script {
    yield* untilReady(1);
    yield { pause_ms: 1500 };
    const data = blockPattern(1, 77, 1);
    const r = yield { lun: 1, cdb: cdb.rw16(true, 77, 1), dataOut: data };
    assert.equal(r!.status, STATUS.GOOD);
    onMedia = s.board.disks[1].durable(77)!.every((v, k) => v === data[k]);
  }
  s.run(script());
  assert.ok(onMedia);
});

test("after a save drains the cap, the budget is lower at reboot and grows as the cap recharges", () => {
  const s = session();
  const budgets: number[] = [];
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    yield* fill(30, 8);
    yield { cut_off_ms: 50 };
    yield { cut_off_ms: 10 }; // off again at once, before the cap recharged
    for (const l of LUNS) yield* untilReady(l);
    for (let i = 0; i < 6; i++) { budgets.push((yield* nvStatus()).budget); yield { pause_ms: 800 }; }
  }
  s.run(script());
  assert.ok(budgets[budgets.length - 1] > budgets[0], `budgets: ${budgets}`);
});

test("a page with a stuck bit is moved to a spare by the save, and the image still restores", () => {
  const s = session();
  let bad: string[] = ["not run"];
  const spareWrites = () => s.board.eeprom.store.wear.slice(SPARE_FIRST, SPARE_FIRST + SPARE_COUNT).reduce((a, b) => a + b, 0);
  let spareWear = 0;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    const written = yield* fill(10, 9);
    // Page 3: bit 0 of byte 100 stuck at the opposite of whatever is there now.
    const now = s.board.eeprom.store.bytes[3 * 256 + 100];
    for (let p = 0; p < 30; p++) s.board.eeprom.store.stuck.set(p * 256 + 100, [0xff, ~now & 0xff]);
    spareWear = spareWrites(); // the first boot's format wrote each spare once
    yield { cut_off_ms: 3000 };
    for (const l of LUNS) yield* untilReady(l);
    bad = yield* readBack(written);
  }
  s.run(script());
  assert.deepEqual(bad, []);
  assert.ok(s.board.log.some((l) => /save page moved/.test(l)));
  assert.ok(spareWrites() > spareWear, "the save wrote a spare page");
});

test("a slower EEPROM (M95M02, 10 ms pages) gets a smaller budget, measured not assumed", () => {
  const budget = (part: string) => {
    const s = session({ eeprom_part: part });
    let st: NvStatus | null = null;
    function* script(): Script { yield* untilReady(0); st = yield* untilWriteBack(0); }
    s.run(script());
    return st!;
  };
  const fast = budget("25LC1024"), slow = budget("M95M02"), fram = budget("FM25V20A");
  assert.ok(slow.page_us > fast.page_us * 1.5, `page µs: ${slow.page_us} vs ${fast.page_us}`);
  assert.ok(slow.budget < fast.budget * 0.75, `budget: ${slow.budget} vs ${fast.budget}`);
  assert.equal(fram.budget, 128, "FRAM: the whole cache");
});

test("destage merges adjacent blocks into one command and keeps several disks busy at once", () => {
  const s = session({ eeprom_part: "FM25V20A" });
  const busyTogether = { max: 0 };
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    for (let i = 0; i < 16; i++) {
      for (const lun of [0, 1]) {
        yield { lun, cdb: cdb.rw16(true, 5000 + i * 4, 4), dataOut: new Uint8Array(2048).fill(i) };
      }
    }
    for (let i = 0; i < 200; i++) {
      const st = yield* nvStatus();
      if (st.nv_blocks === 0) break;
      const busy = s.board.disks.filter((d) => (d as unknown as { busy: boolean }).busy).length;
      busyTogether.max = Math.max(busyTogether.max, busy);
      yield { pause_ms: 2 };
    }
  }
  const before = s.board.disks.map((d) => d.stats.mediaWrites);
  s.run(script());
  const writes = s.board.disks.map((d, i) => d.stats.mediaWrites - before[i]);
  // 64 blocks per LUN, 16 per command at most: 4 commands each (plus the label at boot).
  assert.ok(writes[0] <= 6 && writes[1] <= 6, `media writes per disk: ${writes}`);
  assert.ok(busyTogether.max >= 2, "two disks destaging at the same time");
});

test("a command sent while the save runs is never acknowledged", () => {
  const s = session();
  let during: HostResult | null = null;
  let lostAtPowerLoss = false;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    yield* untilWriteBack();
    yield* fill(20, 10);
    // The supply fails in 1 ms; a write lands 100 µs after PFAIL# fell, mid-save.
    s.board.cutPowerAt(s.board.now_ns + 1e6);
    s.board.restorePowerAt(s.board.now_ns + 3000e6);
    yield { pause_ms: 1.1 };
    s.host.submit(0, cdb.rw16(true, 9, 1), blockPattern(0, 9, 99), 0, (r) => { during = r; lostAtPowerLoss = r.lost; });
    yield { pause_ms: 3500 };
    for (const l of LUNS) yield* untilReady(l);
  }
  s.run(script());
  assert.ok(during, "the host heard back");
  assert.ok(lostAtPowerLoss, "no status: the controller went down with it");
});

test("after its learn cycle the controller arms write-back on its own, with no host command", () => {
  const s = session();
  function* script(): Script { yield { pause_ms: 5000 }; }
  s.run(script());
  const st = readState(s.board.eeprom.store.bytes)!;
  assert.ok(st.armed > st.retired, `state record: retired ${st.retired}, armed ${st.armed}`);
  assert.ok(s.board.log.some((l) => /fw: armed/.test(l)));
});
