// `holdup torture --director --jobs N`: the runs dealt round-robin to N worker threads,
// each with its own compiled director; their reports add up (mergeDirectorReports). A
// run's result does not depend on which worker runs it, so the merged report is the
// same for every N.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { loadDirectorMetered } from "../firmware.js";
import { runDirectorTorture, mergeDirectorReports, DirectorTortureReport } from "./torture_director.js";

interface Job { kind: "director-torture"; seed: number; count: number; fileBytesMax: number; picked: number[] }
type Message = { done: number } | { report: DirectorTortureReport } | { error: string };

/** `count` runs from `seed` on `jobs` workers (1: here, on this thread). */
export async function runDirectorTortureJobs(seed: number, count: number, jobs: number,
  progress: ((done: number) => void) | null = null, fileBytesMax = 400_000): Promise<DirectorTortureReport> {
  if (jobs <= 1 || count <= 1) return runDirectorTorture(loadDirectorMetered(), seed, count, progress, fileBytesMax);
  const n = Math.min(jobs, count);
  const slices: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < count; i++) slices[i % n].push(i);
  const done: number[] = new Array(n).fill(0);
  const reports = await Promise.all(slices.map((picked, w) => new Promise<DirectorTortureReport>((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { kind: "director-torture", seed, count, fileBytesMax, picked } satisfies Job });
    worker.on("message", (m: Message) => {
      if ("done" in m) { done[w] = m.done; progress?.(done.reduce((a, b) => a + b, 0)); }
      else if ("report" in m) resolve(m.report);
      else reject(new Error(m.error));
    });
    worker.on("error", reject);
    worker.on("exit", (code) => { if (code !== 0) reject(new Error(`director torture worker ${w} exited with ${code}`)); });
  })));
  return mergeDirectorReports(seed, reports);
}

if (!isMainThread && parentPort && (workerData as Job | null)?.kind === "director-torture") {
  const port = parentPort;
  const job = workerData as Job;
  try {
    const report = runDirectorTorture(loadDirectorMetered(), job.seed, job.count,
      (d) => port.postMessage({ done: d } satisfies Message), job.fileBytesMax, job.picked);
    port.postMessage({ report } satisfies Message);
  } catch (e) {
    port.postMessage({ error: String((e as Error).stack ?? e) } satisfies Message);
  }
}
