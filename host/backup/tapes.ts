// Running the backup server on the emulator's clock, and reading the tapes back
// afterwards the way an operator would restore: each tape from its label on, the
// files after where the run started writing, reassembled per job in order; then
// compared with what the server meant to write.

import type { VirtualClock } from "../clock.js";
import type { ScsiTarget, ScsiResult } from "../devices/target.js";
import { Cartridge, FILEMARK } from "../devices/tape_media.js";
import type { Device, ServerScript, TapeLog } from "./server.js";

/** Drive a server script on the clock until it ends (at most `steps_max` clock events). */
export function runServer(clock: VirtualClock, script: ServerScript, targets: Record<Device, ScsiTarget>, steps_max = 50_000_000): boolean {
  let finished = false;
  const step = (r: ScsiResult | null) => {
    const n = script.next(r);
    if (n.done) { finished = true; return; }
    const s = n.value;
    if ("pause_ms" in s) { clock.after(s.pause_ms * 1e6, "server pause", () => step(null)); return; }
    targets[s.to].submit(s.cdb, s.data ?? null, (res) => step(res));
  };
  step(null);
  for (let i = 0; i < steps_max && !finished; i++) if (!clock.runNext()) break;
  return finished;
}

/** Each job's bytes as the tapes hold them: for every tape the server wrote, in order,
 * the files after its label (from `startObject` on), joined per job. `cartridge` finds
 * the tape the server means: by barcode, or (behind a director, which may have put a
 * replacement there: [030]) by the slot the server put it back in. */
export function readBackJobs(tapes: TapeLog[], cartridge: (barcode: string, t: TapeLog) => Cartridge | null): Map<number, Uint8Array> {
  const parts = new Map<number, Uint8Array[]>();
  for (const t of tapes) {
    const c = cartridge(t.barcode, t);
    if (!c) continue;
    // The files from where this run started on the tape: past its label (one block
    // and a filemark) on a new tape, or after the last filemark before the append.
    const files: Uint8Array[][] = [[]];
    for (let i = t.startObject; i < c.objects.length; i++) {
      const o = c.objects[i];
      if (o === FILEMARK) files.push([]);
      else files[files.length - 1].push(o);
    }
    t.jobs.forEach((j, k) => {
      const f = files[k] ?? [];
      if (!parts.has(j)) parts.set(j, []);
      parts.get(j)!.push(...f);
    });
  }
  const out = new Map<number, Uint8Array>();
  for (const [j, blocks] of parts) {
    const n = blocks.reduce((a, b) => a + b.length, 0);
    const all = new Uint8Array(n);
    let at = 0;
    for (const b of blocks) { all.set(b, at); at += b.length; }
    out.set(j, all);
  }
  return out;
}

/** Bytes where the tapes differ from the server's streams (a missing or extra byte
 * counts one). */
export function tapeMismatches(jobs: Uint8Array[], back: Map<number, Uint8Array>): number {
  let bad = 0;
  jobs.forEach((want, j) => {
    const got = back.get(j) ?? new Uint8Array(0);
    const n = Math.min(want.length, got.length);
    for (let i = 0; i < n; i++) if (want[i] !== got[i]) bad++;
    bad += Math.abs(want.length - got.length);
  });
  return bad;
}
