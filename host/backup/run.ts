// `holdup backup`: backup jobs through the director onto the emulated library, with
// faults on demand, then the tapes read back, compared with the server's streams and
// restored by GNU tar. Its JSON keys are a contract (docs/DIRECTOR.md).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  makeDirectorInstallation, runServerThroughDirector, DirectorInstallation, DirectorOptions, tapeInSlot, directorLog, directorCycles,
} from "./director_run.js";
import { BackupServer } from "./server.js";
import { ADDR } from "./library.js";
import { readBackJobs, tapeMismatches } from "./tapes.js";
import { makeTree, tarStream, TreeEntry } from "./tar.js";
import { Rng } from "../rng.js";

export const BACKUP_FAULTS = ["drive-fail", "medium-error", "no-unload", "robot-fail", "drive-hang", "director-fail", "director-cut", "drive-torn", "worn-spare", "drive-stall"] as const;
export type BackupFault = (typeof BACKUP_FAULTS)[number];

export interface BackupReport {
  seed: number;
  job_bytes: number;
  tapes_written: number;
  tape_mismatches: number;
  tar_verified: boolean;
  failovers_drive: number;
  failovers_medium: number;
  failovers_director: number;
  /** A director that came back after a power cut and resumed from its state; the
   * commands the server sent again after losing them with a director. */
  director_restarts: number;
  resent_commands: number;
  replayed_bytes: number;
  /** What the director took from the server while failovers ran (at the reduced
   * rate) and wrote after them; the BUSY answers the server got. */
  failover_accepted_bytes: number;
  busy_answers: number;
  job_errors: number;
  /** Jobs the server finished without an error, and the bytes where their tapes differ
   * from their streams (0 whatever the faults: an error is reported, never a short
   * tape). */
  jobs_completed: number;
  completed_mismatches: number;
  server_stall_ms_max: number;
  /** The longest one WRITE of job data waited (BUSY answers and retries included):
   * the stream's own stall, apart from the tape changes and filemarks. */
  write_stall_ms_max: number;
  cycles: number;
  virtual_ms: number;
  /** The server's own words for each error it saw. */
  errors: string[];
}

/** Put fault f into the installation, at a point the seed picks within the jobs. */
function inject(inst: DirectorInstallation, f: BackupFault, rng: Rng, jobBytes: number): void {
  const at = Math.floor(jobBytes * (0.1 + 0.8 * rng.float()));
  const drive = inst.lib.drives[0];
  if (f === "drive-fail") drive.faults.failAfterBytes = at;
  if (f === "drive-torn") { drive.faults.failAfterBytes = at; drive.faults.tornOnFail = true; }
  if (f === "no-unload") { drive.faults.failAfterBytes = at; drive.faults.noUnload = true; }
  if (f === "medium-error") {
    const c = inst.lib.changer.slots[0];
    if (c) c.badFrom = 2 + Math.floor(at / 4096);
  }
  // The robot fails once it has loaded the first tape, and then the drive fails: no
  // failover can be made, and the server must be told (never a silently short tape).
  if (f === "robot-fail") { inst.lib.changer.faults.failAfterMoves = 1; drive.faults.failAfterBytes = at; }
  if (f === "drive-hang") drive.faults.hangAfterBytes = at;
  // The drive's error recovery holds one write for 40 s; then it goes on (no failover).
  if (f === "drive-stall") { drive.faults.stallAfterBytes = at; drive.faults.stall_s = 40; }
  // The director's spare tape is worn: its drive rewrites 5 % of the data sets, so it
  // holds 5 % less (the director's early warning leaves room for that: image.ts).
  if (f === "worn-spare") inst.lib.changer.slots[inst.lib.changer.slots.length - 1]!.rewritePpm = 50_000;
  // The director dies, or loses its power for a while: half the time at an instant
  // from the first mount to past the jobs' end (loads, unloads, the moves), half the
  // time as the drive takes the block that crosses `at` (while it streams).
  if (f === "director-fail" || f === "director-cut") {
    const board = inst.board, clock = board.clock;
    const strike = () => {
      if (f === "director-fail") clock.after(0, "director dies", () => board.brownout("the director died"));
      else { board.cutPowerAt(clock.now_ns); board.restorePowerAt(clock.now_ns + DIRECTOR_OFF_S * 1e9); }
    };
    if (rng.float() < 0.5) clock.at((1 + rng.float() * (30 + jobBytes / 39e6)) * 1e9, "director fault", strike);
    else drive.onWritten = (n) => { if (n >= at) { drive.onWritten = null; strike(); } };
  }
}

/** How long a director-cut keeps the director's power off. */
const DIRECTOR_OFF_S = 20;

/** GNU tar lists and extracts the stream to exactly the tree. */
export function tarRestores(stream: Uint8Array, tree: TreeEntry[]): boolean {
  const dir = mkdtempSync(join(tmpdir(), "holdup-tar-"));
  try {
    writeFileSync(join(dir, "job.tar"), stream);
    const x = spawnSync("tar", ["-b", "8", "-xf", join(dir, "job.tar"), "-C", dir]);
    if (x.error || x.status !== 0) return false;
    // Exactly the tree's entries (all under its top directory, "data"), no more.
    const top = tree[0].path;
    if (readdirSync(join(dir, top), { recursive: true }).length + 1 !== tree.length) return false;
    return tree.every((e) => e.dir || readFileSync(join(dir, e.path)).equals(Buffer.from(e.data)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface BackupOptions extends Partial<Omit<DirectorOptions, "spareDirector">> {
  /** The largest file of a job's generated tree (60 files each). */
  fileBytesMax?: number;
  /** Each line of the directors' logs, in time order, after the run. */
  log?: (line: string) => void;
}

export function runBackup(module: WebAssembly.Module, seed: number, jobs: number, faults: BackupFault[],
  opts: BackupOptions = {}): BackupReport {
  const fileBytesMax = opts.fileBytesMax ?? 400_000;
  const rng = new Rng(seed).fork("backup");
  const inst = makeDirectorInstallation(module, seed, {}, { ...opts, spareDirector: faults.includes("director-fail") });
  const trees = Array.from({ length: jobs }, (_, j) => makeTree(seed * 31 + j, 60, fileBytesMax));
  const streams = trees.map(tarStream);
  const jobBytes = streams.reduce((a, s) => a + s.length, 0);
  for (const f of faults) inject(inst, f, rng, jobBytes);
  const server = new BackupServer({
    transport: ADDR.TRANSPORT, driveElement: ADDR.DRIVE,
    scratch: Array.from({ length: 8 }, (_, i) => ADDR.STORAGE + i), // (slot 15: the director's spare tape)
  }, streams);
  server.now = () => inst.board.now_ns;
  runServerThroughDirector(inst, server.run(), 6 * 3600 * 1000);
  // The director logs each failover with the objects and bytes it wrote back.
  const log = directorLog(inst);
  if (opts.log) log.forEach(opts.log);
  const failoverLogs = log.filter((l) => l.includes("fw: director failover"));
  const mediumLogs = log.filter((l) => l.includes("fw: director medium replaced"));
  const restarts = log.filter((l) => l.includes("fw: director took up the image")).length - inst.takeovers;
  const lastNumber = (l: string) => Number(l.trim().split(" ").at(-1));
  const replayed = [...failoverLogs, ...mediumLogs].reduce((n, l) => n + lastNumber(l), 0);
  const accepted = log.filter((l) => l.includes("fw: director wrote what it took during a failover")).reduce((n, l) => n + lastNumber(l), 0);
  // A tape the server could not put back (an error it was told of) is wherever it is.
  const back = readBackJobs(server.tapes, (b, t) => tapeInSlot(inst)(b, t) ?? inst.lib.cartridge(b));
  const mismatches = tapeMismatches(streams, back);
  const completedMismatches = tapeMismatches(server.jobsDone.map((j) => streams[j]),
    new Map(server.jobsDone.map((j, k) => [k, back.get(j) ?? new Uint8Array(0)])));
  const tarOk = streams.every((_, j) => back.has(j) && tarRestores(back.get(j)!, trees[j]));
  return {
    seed, job_bytes: jobBytes, tapes_written: server.tapes.length, tape_mismatches: mismatches,
    tar_verified: tarOk, failovers_drive: failoverLogs.length, failovers_medium: mediumLogs.length, failovers_director: inst.takeovers, director_restarts: restarts, resent_commands: inst.host.stats.resent, replayed_bytes: replayed,
    failover_accepted_bytes: accepted, busy_answers: server.busyAnswers,
    job_errors: server.jobErrors.length, jobs_completed: server.jobsDone.length, completed_mismatches: completedMismatches,
    server_stall_ms_max: Math.round(server.stallMaxMs * 1000) / 1000,
    write_stall_ms_max: Math.round(server.writeStallMaxMs * 1000) / 1000,
    cycles: directorCycles(inst), virtual_ms: inst.board.now_ns / 1e6, errors: server.jobErrors,
  };
}
