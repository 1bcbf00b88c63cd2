// The first boot's EEPROM format (docs/DESIGN.md "Format", assembly/nv/image.ts):
// pages a part came with that do not take writes are found before a save needs them,
// write-back does not wait for it (the budget grows with the pages tested), and a
// boot cut off in the middle goes on where it was.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, Script, untilReady, untilWriteBack, nvStatus } from "../host/session.js";
import { loadMetered } from "../host/firmware.js";
import { cdb, STATUS, NvStatus } from "../host/scsi/spc.js";
import { readState, image_pages_for, SPARE_FIRST } from "../host/nvformat.js";
import { blockPattern } from "../host/oracle.js";

const LUNS = [0, 1, 2, 3];
const DEAD = [5, 17, 60, 101, SPARE_FIRST + 1];

function session() {
  const s = new Session(loadMetered(), { seed: 33 }, 4);
  for (const p of DEAD) s.board.eeprom.store.deadPages.add(p);
  return s;
}

test("a first boot finds the pages that take no writes before any save, and the budget grows as it tests", () => {
  const s = session();
  const seen: NvStatus[] = [];
  let saveWrites = -1, pagesSaved = 0;
  let bad: string[] = ["not run"];
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    for (let i = 0; i < 400; i++) {
      const st = yield* nvStatus(0);
      seen.push(st);
      if (st.format_permille === 1000) break;
      yield { pause_ms: 10 };
    }
    yield* untilWriteBack();
    // Fill the budget, then a cut the cap has to carry.
    const budget = seen.at(-1)!.budget;
    const written: Array<[number, number]> = [];
    for (let i = 0; i < budget; i++) {
      const lun = i % 4, lba = 2000 + i * 13;
      const r = yield { lun, cdb: cdb.rw16(true, lba, 1), dataOut: blockPattern(lun, lba, i + 1) };
      assert.equal(r!.status, STATUS.GOOD);
      written.push([lun, lba]);
    }
    let writes = 0, inSave = false;
    s.board.onLog = (name, a) => {
      if (name === "save start") { inSave = true; pagesSaved = image_pages_for(a); }
      if (name === "save done") { inSave = false; saveWrites = writes; }
    };
    s.board.eeprom.onWriteStart = () => { if (inSave) writes++; };
    yield { cut_off_ms: 3000 };
    for (const l of LUNS) yield* untilReady(l);
    bad = [];
    for (const [i, [lun, lba]] of written.entries()) {
      const r = (yield { lun, cdb: cdb.rw16(false, lba, 1), dataIn: 512 })!;
      if (r.status !== STATUS.GOOD || !r.data.every((v, k) => v === blockPattern(lun, lba, i + 1)[k])) bad.push(`${lun}:${lba}`);
    }
  }
  s.run(script());
  const during = seen.filter((st) => st.format_permille < 1000 && st.mode === 0);
  const done = seen.at(-1)!;
  assert.equal(done.format_permille, 1000, "the format ended");
  assert.ok(during.length > 0, "write-back was on while the format ran");
  // (The format covers a full cache's image area, 275 pages; the budget's image needs
  // about half, so the budget reaches its full size half-way.)
  assert.ok(during[0].budget < done.budget, `a smaller budget first: ${during.map((st) => st.budget)}`);
  const state = readState(s.board.eeprom.store.bytes)!;
  assert.ok(state.formatted, "the state record says formatted");
  for (const p of DEAD) assert.ok(state.bad_pages.includes(p), `page ${p} marked bad: ${state.bad_pages}`);
  assert.ok(s.board.log.some((l) => /eeprom formatted 307 5/.test(l)), "307 pages tested, 5 bad");
  // The save went around the dead pages at no cost: one write per page (the four in
  // the image area to spares), no failed write.
  assert.ok(pagesSaved > 100, `a full save: ${pagesSaved} pages`);
  assert.equal(saveWrites, pagesSaved, "one page write per image page");
  assert.deepEqual(bad, []);
});

test("a first boot cut during its format: the next boot passes over the pages tested and ends it", () => {
  const s = session();
  let at: NvStatus | null = null, after: NvStatus | null = null;
  let formatWritesSecondBoot = 0;
  function* script(): Script {
    for (const l of LUNS) yield* untilReady(l);
    for (let i = 0; i < 400; i++) {
      at = yield* nvStatus(0);
      if (at.format_permille >= 500) break;
      yield { pause_ms: 10 };
    }
    yield { cut_off_ms: 100 };
    const wear0 = s.board.eeprom.store.wear.reduce((a, b) => a + b, 0);
    for (const l of LUNS) yield* untilReady(l);
    after = yield* untilWriteBack();
    formatWritesSecondBoot = s.board.eeprom.store.wear.reduce((a, b) => a + b, 0) - wear0;
  }
  s.run(script());
  assert.ok(at!.format_permille >= 500 && at!.format_permille < 1000, `cut at ${at!.format_permille} per mille`);
  assert.equal(after!.format_permille, 1000);
  // The second boot tested only what was left (about half of 307 pages), plus the
  // state record, the probe page and arming.
  assert.ok(formatWritesSecondBoot < 307 * 0.6, `${formatWritesSecondBoot} page writes in the second boot`);
  const state = readState(s.board.eeprom.store.bytes)!;
  for (const p of DEAD) assert.ok(state.bad_pages.includes(p), `page ${p} marked bad`);
});
