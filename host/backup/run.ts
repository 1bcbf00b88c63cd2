// `holdup backup`: backup jobs through the director onto the emulated library, with
// faults on demand, then the tapes read back, compared with the server's streams and
// restored by GNU tar. Its JSON keys are a contract (docs/DIRECTOR.md).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDirectorInstallation, runServerThroughDirector, DirectorInstallation, tapeInSlot } from "./director_run.js";
import { BackupServer } from "./server.js";
import { ADDR } from "./library.js";
import { readBackJobs, tapeMismatches } from "./tapes.js";
import { makeTree, tarStream, TreeEntry } from "./tar.js";
import { Rng } from "../rng.js";

export const BACKUP_FAULTS = ["drive-fail", "medium-error", "no-unload", "robot-fail", "drive-hang"] as const;
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
  replayed_bytes: number;
  job_errors: number;
  server_stall_ms_max: number;
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
  if (f === "no-unload") { drive.faults.failAfterBytes = at; drive.faults.noUnload = true; }
  if (f === "medium-error") {
    const c = inst.lib.changer.slots[0];
    if (c) c.badFrom = 2 + Math.floor(at / 4096);
  }
  if (f === "robot-fail") inst.lib.changer.faults.robotFailed = true;
  if (f === "drive-hang") drive.faults.hangAfterBytes = at;
}

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

/** `fileBytesMax`: the largest file of a job's generated tree (60 files each). */
export function runBackup(module: WebAssembly.Module, seed: number, jobs: number, faults: BackupFault[],
  fileBytesMax = 400_000): BackupReport {
  const rng = new Rng(seed).fork("backup");
  const inst = makeDirectorInstallation(module, seed);
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
  const failoverLogs = inst.board.log.filter((l) => l.includes("fw: director failover"));
  const replayed = failoverLogs.reduce((n, l) => n + Number(l.trim().split(" ").at(-1)), 0);
  const back = readBackJobs(server.tapes, tapeInSlot(inst));
  const mismatches = tapeMismatches(streams, back);
  const tarOk = streams.every((_, j) => back.has(j) && tarRestores(back.get(j)!, trees[j]));
  return {
    seed, job_bytes: jobBytes, tapes_written: server.tapes.length, tape_mismatches: mismatches,
    tar_verified: tarOk, failovers_drive: failoverLogs.length, failovers_medium: 0, failovers_director: 0, replayed_bytes: replayed,
    job_errors: server.jobErrors.length, server_stall_ms_max: Math.round(server.stallMaxMs * 1000) / 1000,
    cycles: inst.board.cyclesTotal, virtual_ms: inst.board.now_ns / 1e6, errors: server.jobErrors,
  };
}
