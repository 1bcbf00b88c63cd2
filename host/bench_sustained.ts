// Acknowledgement latency under sustained load: random 4 KiB writes kept at queue
// depth 4 over one LUN, write-back (a full cap) against write-through (a cap with no
// budget), the same writes in the same order; percentiles of the host-visible latency
// (submission to status), after a warm-up that fills the cache.

import { Session, Script, untilReady, untilWriteBack } from "./session.js";
import { cdb, STATUS } from "./scsi/spc.js";
import { Rng } from "./rng.js";
import type { HostResult } from "./host.js";

export interface Sustained {
  ack_us_p50_sustained_writeback: number;
  ack_us_p99_sustained_writeback: number;
  ack_us_p50_sustained_writethrough: number;
  ack_us_p99_sustained_writethrough: number;
}

/** Writes counted after the warm-up, and the warm-up. */
const WRITES = 600;
const WARMUP = 200;
const QD = 4;

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function sustained(module: WebAssembly.Module, seed: number, capPct: number, writeBack: boolean): number[] {
  const s = new Session(module, { seed, power: { capacity_pct: capPct } }, QD);
  const rng = new Rng(seed);
  const lat: number[] = [];
  let sent = 0, done = 0;
  const total = WARMUP + WRITES;
  const send = () => {
    if (sent >= total) return;
    const i = sent++;
    const t0 = s.board.now_ns;
    s.host.submit(1, cdb.rw16(true, rng.int(1 << 18) * 8, 8), new Uint8Array(4096).fill(i & 0xff), 0, (r: HostResult) => {
      done++;
      if (i >= WARMUP && r.status === STATUS.GOOD) lat.push(s.board.now_ns - t0);
      send();
    });
  };
  function* script(): Script {
    yield* untilReady(1);
    if (writeBack) { yield* untilWriteBack(1); yield { pause_ms: 12_000 }; } // a full cap
    else yield { pause_ms: 2000 };
    for (let q = 0; q < QD; q++) send();
    while (done < total) yield { pause_ms: 5 };
  }
  s.run(script(), 3_600_000);
  return lat.sort((a, b) => a - b);
}

export function benchSustained(module: WebAssembly.Module, seed = 13): Sustained {
  const wb = sustained(module, seed, 100, true);
  const wt = sustained(module, seed, 1, false);
  const us = (ns: number) => ns / 1e3;
  return {
    ack_us_p50_sustained_writeback: us(percentile(wb, 50)),
    ack_us_p99_sustained_writeback: us(percentile(wb, 99)),
    ack_us_p50_sustained_writethrough: us(percentile(wt, 50)),
    ack_us_p99_sustained_writethrough: us(percentile(wt, 99)),
  };
}
