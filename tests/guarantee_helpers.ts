// What the guarantee tests (issue 6, one file per area) share: a session on the
// reference board, and host steps that write, fill and read back blocks.
import assert from "node:assert/strict";
import { Session, Step, untilReady, nvStatus } from "../host/session.js";
import { loadMetered, loadFine } from "../host/firmware.js";
import { cdb, STATUS, KEY, NV_ACTION } from "../host/scsi/spc.js";
import { blockPattern, identify } from "../host/oracle.js";
import type { BoardOptions } from "../host/board.js";
import type { HostResult } from "../host/host.js";

export type Gen<T> = Generator<Step, T, HostResult | null>;
export const LUNS = [0, 1, 2, 3];

export function session(opts: BoardOptions = {}, fine = false, qd = 4): Session {
  return new Session(fine ? loadFine() : loadMetered(), { seed: 31, ...opts }, qd);
}

export function* ready(): Gen<void> {
  for (const l of LUNS) yield* untilReady(l);
}

export function* write(lun: number, lba: number, id: number, n = 1): Gen<HostResult> {
  const data = new Uint8Array(512 * n);
  for (let i = 0; i < n; i++) data.set(blockPattern(lun, lba + i, id), i * 512);
  return (yield { lun, cdb: cdb.rw16(true, lba, n), dataOut: data })!;
}

/** Read one block: the write id it holds, "medium" for MEDIUM ERROR, or -1 garbage. */
export function* readId(lun: number, lba: number): Gen<number | "medium" | string> {
  for (let i = 0; i < 500; i++) {
    const r = (yield { lun, cdb: cdb.rw16(false, lba, 1), dataIn: 512 })!;
    if (r.status === STATUS.GOOD) return identify(lun, lba, r.data);
    if (r.sense?.key === KEY.MEDIUM_ERROR) return "medium";
    if (r.sense?.key !== KEY.NOT_READY && r.status !== STATUS.BUSY) return `status ${r.status} ${JSON.stringify(r.sense)}`;
    yield { pause_ms: 10 };
  }
  return "not ready";
}

/** Fill `n` NV blocks (write-back), one per LUN in turn; returns (lun, lba, id). */
export function* fill(n: number, base = 1000): Gen<Array<[number, number, number]>> {
  const out: Array<[number, number, number]> = [];
  for (let i = 0; i < n; i++) {
    const lun = i % 4, lba = base + i * 37, id = 500 + i;
    const r = yield* write(lun, lba, id);
    assert.equal(r.status, STATUS.GOOD);
    out.push([lun, lba, id]);
  }
  return out;
}

/** Every block reads back its write, or (allowed) MEDIUM ERROR; never older data. */
export function* readBack(written: Array<[number, number, number]>): Gen<{ bad: string[]; medium: number }> {
  const bad: string[] = [];
  let medium = 0;
  for (const [lun, lba, id] of written) {
    const got = yield* readId(lun, lba);
    if (got === "medium") medium++;
    else if (got !== id) bad.push(`${lun}:${lba} read ${got}, wrote ${id}`);
  }
  return { bad, medium };
}

/** After a loss: the image state NV STATUS gives (3: lost, which the host accepts
 * with DISCARD), then every block read back. */
export function* imageThenReadBack(written: Array<[number, number, number]>): Gen<{ image: number; result: { bad: string[]; medium: number } }> {
  yield* untilReady(0, 5);
  const image = (yield* nvStatus(0)).image;
  if (image === 3) yield { lun: 0, cdb: cdb.nvAction(NV_ACTION.DISCARD) };
  yield* ready();
  return { image, result: yield* readBack(written) };
}
