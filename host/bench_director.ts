// The backup director's figures for `holdup bench` (seed 004): the backup server's
// streaming rate (bytes of job data over the time spent in its WRITE commands) with
// the director between it and the drive, against the same server straight to a drive,
// same job, same library.

import { loadDirectorMetered } from "./firmware.js";
import { VirtualClock } from "./clock.js";
import { makeDirectorInstallation, runServerThroughDirector } from "./backup/director_run.js";
import { BackupServer } from "./backup/server.js";
import { ADDR, makeLibrary } from "./backup/library.js";
import { runServer } from "./backup/tapes.js";
import { makeTree, tarStream } from "./backup/tar.js";

export interface DirectorBench {
  /** MB/s (10^6 bytes) the server writes through the director, and straight to a drive. */
  director_mb_s: number;
  drive_mb_s: number;
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
  return { director_mb_s: mb(through), drive_mb_s: mb(direct) };
}
