// The backup director's figures for `holdup bench` (seed 004): the backup server's
// streaming rate (bytes of job data over the time spent in its WRITE commands) with
// the director between it and the drive, against the same server straight to a drive,
// same job, same library.

import { loadDirectorMetered } from "./firmware.js";
import { VirtualClock } from "./clock.js";
import { makeDirectorInstallation, runServerThroughDirector, directorLog } from "./backup/director_run.js";
import { BackupServer } from "./backup/server.js";
import { ADDR, makeLibrary } from "./backup/library.js";
import { runServer } from "./backup/tapes.js";
import { makeTree, tarStream } from "./backup/tar.js";

export interface DirectorBench {
  /** MB/s (10^6 bytes) the server writes through the director, and straight to a drive. */
  director_mb_s: number;
  drive_mb_s: number;
  /** A drive that fails mid-job, its tape movable: the time from the failure until the
   * tape holds every block the server was told is written (the failover, and the
   * catch-up of the blocks taken meanwhile), against the devices' own time for the
   * same recovery (the failed drive's unload, the robot's move, the spare's load, the
   * wind to the end of data, and what was lost written again at the drive's rate). */
  drive_failover_ms: number;
  failover_bound_ms: number;
  /** The same with the tape stuck in the failed drive: the unload that fails (the
   * drive tries as long as an unload takes), the spare tape's move and load, the
   * medium's whole image at the drive's rate. */
  drive_failover_ms_stuck: number;
  failover_bound_ms_stuck: number;
  /** The moved-tape failover as the server saw it: the longest one WRITE of job data
   * waited after the failure (the director takes them at its reduced rate while it
   * fails over: docs/DIRECTOR.md "During a failover"), and the longest a command it
   * held waited (the job's filemark: it waits for the tape). */
  failover_write_stall_ms: number;
  failover_held_ms: number;
}

export function benchDirector(): DirectorBench {
  const streams = [tarStream(makeTree(900, 60, 400_000))];
  const cfg = { transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [ADDR.STORAGE] };
  const clock = new VirtualClock();
  const lib = makeLibrary(clock);
  const direct = new BackupServer(cfg, streams);
  direct.now = () => clock.now_ns;
  runServer(clock, direct.run(), { drive: lib.drives[0], changer: lib.changer });
  const inst = makeDirectorInstallation(loadDirectorMetered(), 1);
  const through = new BackupServer(cfg, streams);
  through.now = () => inst.board.now_ns;
  runServerThroughDirector(inst, through.run(), 3_600_000);
  const mb = (s: BackupServer) => s.bytesWritten / (s.writeTime_ns / 1e9) / 1e6;
  const moved = benchFailover(streams, false), stuck = benchFailover(streams, true);
  return {
    director_mb_s: mb(through), drive_mb_s: mb(direct),
    drive_failover_ms: moved.recovery_ms, failover_bound_ms: moved.bound_ms,
    drive_failover_ms_stuck: stuck.recovery_ms, failover_bound_ms_stuck: stuck.bound_ms,
    failover_write_stall_ms: moved.write_ms, failover_held_ms: moved.held_ms,
  };
}

/** The job through the director with the drive failing at 60 % of it. */
function benchFailover(streams: Uint8Array[], stuck: boolean): { held_ms: number; bound_ms: number; write_ms: number; recovery_ms: number } {
  const cfg = { transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE, scratch: [ADDR.STORAGE] };
  const inst = makeDirectorInstallation(loadDirectorMetered(), 1);
  const drive = inst.lib.drives[0], p = drive.p;
  drive.faults.failAfterBytes = Math.floor(streams[0].length * 0.6);
  drive.faults.noUnload = stuck;
  const server = new BackupServer(cfg, streams);
  server.now = () => inst.board.now_ns;
  // The longest the server waited for a write (or filemark) that ended after the
  // failure: the command the director held while it failed over.
  let held_ns = 0, write_ns = 0;
  const submit = inst.host.submit.bind(inst.host);
  inst.host.submit = (lun, cdb, out, inLen, cb) => {
    const t0 = inst.board.now_ns;
    return submit(lun, cdb, out, inLen, (h) => {
      if ((cdb[0] === 0x0a || cdb[0] === 0x10) && inst.board.now_ns > drive.failedAt_ns) held_ns = Math.max(held_ns, inst.board.now_ns - t0);
      if (cdb[0] === 0x0a && inst.board.now_ns > drive.failedAt_ns) write_ns = Math.max(write_ns, inst.board.now_ns - t0);
      cb(h);
    });
  };
  runServerThroughDirector(inst, server.run(), 3_600_000);
  const logs = directorLog(inst);
  const log = logs.find((l) => l.includes("fw: director failover"));
  if (!log || !held_ns) throw new Error("bench: the director did not fail over");
  const caught = logs.find((l) => l.includes("fw: director wrote what it took")) ?? log;
  const replayed = Number(log.trim().split(" ").at(-1));
  // What reached the failed drive's tape before it failed: the spare winds over it.
  const landed = drive.stats.bytesLanded;
  const write_s = replayed / p.bytes_per_s;
  const bound_s = p.unload_s + inst.lib.changer.p.move_s + p.load_s + write_s +
    (stuck ? 0 : (landed / p.capacity_bytes) * p.wind_full_s);
  return {
    held_ms: held_ns / 1e6, bound_ms: bound_s * 1e3, write_ms: write_ns / 1e6,
    recovery_ms: parseFloat(caught) - drive.failedAt_ns / 1e6,
  };
}
