// The pair's torture over worker threads: runs (one seed each, `per` events) dealt
// round-robin to N workers, each with its own compiled firmware; a run's report does not
// depend on which worker runs it, so the sums are the same for every N.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { loadCoop } from "./firmware.js";
import { runPair, PairRunReport, PairFault, PairLoad } from "./pair_run.js";

export interface PairRunSpec extends Partial<PairLoad> { seed: number; events: number; faults: PairFault[] }
type Message = { report: PairRunReport } | { error: string } | { done: true };

/** Run every spec on `jobs` workers (1: here); `onReport` hears each run as it ends. */
export async function runPairJobs(specs: PairRunSpec[], jobs: number, onReport: (r: PairRunReport) => void): Promise<void> {
  if (jobs <= 1 || specs.length <= 1) {
    for (const s of specs) onReport(runPair(loadCoop(), s));
    return;
  }
  const n = Math.min(jobs, specs.length);
  const slices: PairRunSpec[][] = Array.from({ length: n }, () => []);
  specs.forEach((s, i) => slices[i % n].push(s));
  await Promise.all(slices.map((slice, w) => new Promise<void>((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: slice });
    worker.on("message", (m: Message) => {
      if ("report" in m) onReport(m.report);
      else if ("done" in m) resolve();
      else reject(new Error(m.error));
    });
    worker.on("error", reject);
    worker.on("exit", (code) => { if (code !== 0) reject(new Error(`pair worker ${w} exited with ${code}`)); });
  })));
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  let seed = -1;
  try {
    for (const s of workerData as PairRunSpec[]) {
      seed = s.seed;
      port.postMessage({ report: runPair(loadCoop(), s) } satisfies Message);
    }
    port.postMessage({ done: true } satisfies Message);
  } catch (e) {
    port.postMessage({ error: `seed ${seed}: ${String((e as Error).stack ?? e)}` } satisfies Message);
  }
}
