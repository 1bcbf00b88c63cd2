// The host's probe after each boot: find the controller's LUNs, clear their unit
// attentions and spin-up, read their capacities, and answer a controller that holds
// its cache image (NV STATUS, then NV ACTION as the run's options say).

import { cdb, KEY, ASC, STATUS, be64, NV_ACTION, parseNvStatus } from "./scsi/spc.js";
import type { Lun } from "./workload.js";
import type { Run } from "./scenario.js";

/** TEST UNIT READY attempts, 10 ms apart, while the controller spins up or restores. */
const tur_attempts_max = 3000;

export function probe(run: Run, gen: number): void {
  run.phase = "probe";
  run.deciding = false; // a decision a power loss cut short is made again
  run.unavailable.clear();
  const found: Lun[] = [];
  let pending = 8;
  for (let lun = 0; lun < 8; lun++) {
    run.send(lun, cdb.inquiry(36), 36, gen, (r) => {
      if (r.status === STATUS.GOOD && r.data.length > 0 && (r.data[0] & 0xe0) === 0) found.push({ lun, blocks: 0 });
      if (--pending === 0) readyLuns(run, found.sort((a, b) => a.lun - b.lun), gen);
    });
  }
}

function readyLuns(run: Run, found: Lun[], gen: number): void {
  run.array.noteBoot();
  let pending = found.length;
  for (let lun = 0; lun < 8; lun++) if (!found.some((l) => l.lun === lun)) run.unavailable.add(lun);
  run.board.trace(`host: LUNs found ${found.map((l) => l.lun).join(",")}`);
  const next = () => {
    if (--pending > 0) return;
    run.work.luns = found.filter((x) => x.blocks > 0 && !run.unavailable.has(x.lun));
    if (!run.work.luns.length && !run.cutsDone) throw new Error("host: the controller presents no usable LUN");
    if (run.cutsDone > 0) run.reissueReported(gen); else run.startWorkload(gen, run.opts.cuts > 0);
  };
  if (!pending) { pending = 1; next(); return; }
  for (const l of found) readyLun(run, l, gen, next, 0);
}

function readyLun(run: Run, l: Lun, gen: number, next: () => void, attempts: number): void {
  const again = (delay_ms: number) => run.board.clock.after(delay_ms * 1e6, "host retry", () => readyLun(run, l, gen, next, attempts + 1));
  run.send(l.lun, cdb.tur(), 0, gen, (r) => {
    const s = r.sense;
    if (r.status === STATUS.GOOD) {
      run.send(l.lun, cdb.readCapacity16(), 32, gen, (rc) => {
        if (rc.status === STATUS.GOOD) l.blocks = Number(be64(rc.data, 0)) + 1;
        next();
      });
      return;
    }
    if (s?.key === KEY.NOT_READY && s.asc === ASC.MANUAL_INTERVENTION) {
      if (!run.deciding) decide(run, l.lun, gen);
      if (attempts < tur_attempts_max) { again(10); return; }
    }
    if (s?.key === KEY.HARDWARE_ERROR || s?.key === KEY.ILLEGAL_REQUEST || attempts >= tur_attempts_max) {
      run.board.trace(`host: LUN ${l.lun} unavailable (status ${r.status} ${JSON.stringify(s)}, ${attempts} attempts)`);
      run.unavailable.add(l.lun); // failed, or gone: its blocks cannot be read
      next();
      return;
    }
    again(s?.key === KEY.UNIT_ATTENTION ? 0 : 10);
  });
}

/** The controller holds blocks (or lost its image) and waits: read its status, decide. */
function decide(run: Run, lun: number, gen: number): void {
  run.deciding = true;
  run.send(lun, cdb.nvStatus(64), 64, gen, (st) => {
    const status = parseNvStatus(st.data);
    let action: number;
    if (status.image === 3) {
      // The controller lost its cache image and says so: accept it. Every write
      // acknowledged since the last full read-back is now suspect.
      action = NV_ACTION.DISCARD;
      run.oracle.epochLost();
      run.reportedImageLosses++;
    } else {
      action = run.opts.onPending ? run.opts.onPending(run.board, status) : NV_ACTION.REPLAY;
      if (action === NV_ACTION.DISCARD) {
        status.identity.forEach((id, l) => { if (id & 0x80) run.oracle.lunLost(l); });
      }
    }
    run.decisions++;
    run.board.trace(`host: NV STATUS image ${status.image} identity ${status.identity.join(",")}: NV ACTION ${action}`);
    run.send(lun, cdb.nvAction(action), 0, gen, () => { run.deciding = false; });
  });
}
