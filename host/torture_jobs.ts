// A torture over worker threads: the units (torture.ts tortureUnits) dealt round-robin
// to N workers, each a Node worker thread with its own compiled firmware; their
// reports add up (torture_report.ts mergeReports). A unit's result does not depend on
// which worker runs it, so the merged report is the same for every N.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { loadTortureModules } from "./firmware.js";
import { runUnits, tortureUnits, TortureOptions, TortureProgress } from "./torture.js";
import { mergeReports, emptyReport, TortureReport } from "./torture_report.js";

/** The options a worker gets (no callbacks cross a thread). */
type WorkerOptions = Omit<TortureOptions, "onProgress">;
interface Job { options: WorkerOptions; picked: number[] }
type Message = { progress: TortureProgress } | { report: TortureReport } | { error: string };

/** The machine's cores: --jobs' default. */
export function defaultJobs(): number { return availableParallelism(); }

/** Run the units `picked` on `jobs` workers (1: here, on this thread). */
export async function runTortureJobs(o: TortureOptions, picked: number[], jobs: number): Promise<TortureReport> {
  const units = tortureUnits(o);
  const { onProgress, ...options } = o;
  if (jobs <= 1 || picked.length <= 1) return runUnits(loadTortureModules(), o, units, picked);
  const n = Math.min(jobs, picked.length);
  const slices: number[][] = Array.from({ length: n }, () => []);
  picked.forEach((u, i) => slices[i % n].push(u));
  const latest: TortureProgress[] = [];
  const reports = await Promise.all(slices.map((slice, w) => new Promise<TortureReport>((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { options, picked: slice } satisfies Job });
    worker.on("message", (m: Message) => {
      if ("progress" in m) {
        latest[w] = m.progress;
        if (onProgress) onProgress(sumProgress(latest, picked.length));
      } else if ("report" in m) resolve(m.report);
      else reject(new Error(m.error));
    });
    worker.on("error", reject);
    worker.on("exit", (code) => { if (code !== 0) reject(new Error(`torture worker ${w} exited with ${code}`)); });
  })));
  return reports.length ? mergeReports(reports) : emptyReport(o.seed);
}

function sumProgress(ps: TortureProgress[], total: number): TortureProgress {
  const s: TortureProgress = { stage: "random", done: 0, total, cuts: 0, lost_writes: 0, corrupt_reads: 0, traps: 0 };
  for (const p of ps) {
    if (!p) continue;
    s.done += p.done; s.cuts += p.cuts; s.lost_writes += p.lost_writes;
    s.corrupt_reads += p.corrupt_reads; s.traps += p.traps;
    if (p.stage === "sweep") s.stage = "sweep";
  }
  return s;
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const job = workerData as Job;
  try {
    const o: TortureOptions = { ...job.options, onProgress: (progress) => port.postMessage({ progress } satisfies Message) };
    const report = runUnits(loadTortureModules(), o, tortureUnits(o), job.picked);
    port.postMessage({ report } satisfies Message);
  } catch (e) {
    port.postMessage({ error: String((e as Error).stack ?? e) } satisfies Message);
  }
}
