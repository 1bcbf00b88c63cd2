// How a run cuts the power (host/scenario.ts): when the cut comes (at a random
// instant; after the workload's first acknowledged write; once the controller holds a
// full save budget) and what the supply does then (one dip, or several short ones
// before the long one).

import type { Run } from "./scenario.js";
import { cdb, parseNvStatus } from "./scsi/spc.js";

/** cut_after_ack: how often the host looks for the first acknowledgement, and how long
 * it waits for one before it cuts anyway. */
const cut_wait_poll_ms = 0.05;
const cut_wait_max_ms = 10_000;
/** cut_when_full: how often the host reads NV STATUS, and what share of the budget
 * counts as full (the workload's writes in flight keep it from the exact figure). */
const cut_full_poll_ms = 5;
const cut_full_fraction = 0.9;

/** Cut at `at`, or, if no write of this workload is acknowledged by then, as soon as
 * one is (checked every cut_wait_poll_ms, for at most cut_wait_max_ms). */
export function cutAfterAck(run: Run, gen: number, at: number, cut: (t: number) => void): void {
  const acked0 = run.oracle.stats.acked_writes;
  const deadline = at + cut_wait_max_ms * 1e6;
  const check = () => {
    if (gen !== run.board.generation || run.phase !== "workload") return;
    const now = run.board.now_ns;
    if (run.oracle.stats.acked_writes > acked0 || now >= deadline) { cut(now); return; }
    run.board.clock.at(now + cut_wait_poll_ms * 1e6, "host waits for an ack to cut", check);
  };
  run.board.clock.at(at, "host: the cut is due", check);
}

/** Cut once the controller holds a full save budget of acknowledged blocks in
 * write-back (NV STATUS, read every cut_full_poll_ms; at most cut_wait_max_ms), so
 * that the save is as long as the cap allows: the save sweep's cut. */
export function cutWhenFull(run: Run, gen: number, cut: (t: number) => void): void {
  const deadline = run.board.now_ns + cut_wait_max_ms * 1e6;
  const check = () => {
    if (gen !== run.board.generation || run.phase !== "workload") return;
    if (run.board.now_ns >= deadline) { cut(run.board.now_ns); return; }
    run.send(0, cdb.nvStatus(64), 64, gen, (r) => {
      if (gen !== run.board.generation || run.phase !== "workload") return;
      const st = parseNvStatus(r.data);
      if (st.mode === 0 && st.format_permille === 1000 && st.budget > 0 && st.nv_blocks >= st.budget * cut_full_fraction) {
        cut(run.board.now_ns);
        return;
      }
      run.board.clock.after(cut_full_poll_ms * 1e6, "host waits for a full cache to cut", check);
    });
  };
  check();
}

/** The supply fails at `at`: one dip of `off`, or several short dips first. Returns
 * when it is back for good. */
export function planCut(run: Run, at: number, off: number): number {
  const dips = run.opts.dips?.(run.faultRng) ?? 1;
  const flap = (run.opts.flap_ms ?? 100) * 1e6;
  let t = at;
  for (let d = 1; d < dips; d++) {
    const down = 0.01e6 + run.faultRng.float() * flap;
    const up = 0.01e6 + run.faultRng.float() * flap;
    run.board.cutPowerAt(t);
    run.board.restorePowerAt(t + down);
    t += down + up;
  }
  run.board.cutPowerAt(t);
  run.board.restorePowerAt(t + off);
  return t + off;
}
