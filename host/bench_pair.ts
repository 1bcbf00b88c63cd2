// holdup bench --controllers 2: the pair's detection and takeover times (issue 10), each
// measured on its own fresh pair from the fault's instant to the survivor's log line,
// and the host's 4 KiB write acknowledgement at QD 1 through the owner. Each figure is
// stated with its bound (assembly/pair/peer.ts, docs/DESIGN.md "The pair").

import { PairSystem } from "./pair.js";
import { MultipathHost } from "./pair_host.js";
import { cdb } from "./scsi/spc.js";

export interface PairBench {
  detect_ms_dead: number;
  detect_ms_dead_bound: number;
  detect_ms_hung: number;
  detect_ms_hung_bound: number;
  detect_ms_io_hung: number;
  detect_ms_io_hung_bound: number;
  /** From the survivor's verdict to its first acknowledged write to a LUN it took. */
  takeover_ms: number;
  /** 4 KiB writes, QD 1, through the owner: the pair writes through for now. */
  ack_us_unmirrored: number;
  /** Not measured: the mirrored write stores are not built yet. */
  ack_us_mirrored: number | null;
  catchup_ms: number | null;
}

const HB_MS = 10, SILENT_MS = 50, IO_STUCK_MS = 2000;

/** When a log line matching `what` first appears at or after at_ns, in ms after it
 * (NaN: never; the log keeps µs, so a line at the same µs counts). */
export function loggedAfter(lines: string[], what: RegExp, at_ns: number): number {
  for (const l of lines) {
    const t = parseFloat(l);
    if (t * 1e6 >= at_ns - 1000 && what.test(l)) return Math.max(0, t - at_ns / 1e6);
  }
  return NaN;
}

/** A pair booted and settled, with a host that keeps writing 4 KiB to LUN 0 (A's). */
function pairWithWriter(module: WebAssembly.Module, seed: number) {
  const p = new PairSystem(module, { seed });
  const host = new MultipathHost(p, 1);
  p.runFor(1500);
  const acks: Array<{ at_ns: number; path: number; us: number }> = [];
  let running = true, lba = 0;
  const data = new Uint8Array(4096).fill(0x5a);
  const next = () => {
    if (!running) return;
    const t0 = p.clock.now_ns;
    const at = lba;
    lba = (lba + 8) % 4096;
    host.submit(0, cdb.rw10(true, at, 8), data, 0, (r) => {
      if (r.status === 0) acks.push({ at_ns: p.clock.now_ns, path: r.path, us: (p.clock.now_ns - t0) / 1e3 });
      next();
    });
  };
  next();
  return { p, host, acks, stop: () => { running = false; } };
}

export function benchPair(module: WebAssembly.Module): PairBench {
  // Acknowledgement time: 200 writes on a healthy pair.
  const w = pairWithWriter(module, 11);
  w.p.run(() => w.acks.length >= 200, 60_000);
  w.stop();
  const lat = w.acks.slice(20).map((a) => a.us).sort((a, b) => a - b);
  const ack_us = lat[Math.floor(lat.length / 2)];

  // Dead: A's supply fails; then the takeover to B's first write on LUN 0.
  const d = pairWithWriter(module, 12);
  const [A, B] = d.p.boards;
  const cut = d.p.clock.now_ns;
  A.cutPowerAt(cut);
  d.p.runFor(3000);
  const dead = loggedAfter(B.log, /partner dead/, cut);
  const firstB = d.acks.find((a) => a.path === 1 && a.at_ns > cut);
  const takeover = firstB ? firstB.at_ns / 1e6 - (cut / 1e6 + dead) : NaN;

  // Hung: B's firmware stops.
  const h = pairWithWriter(module, 13);
  const hang = h.p.clock.now_ns;
  h.p.boards[1].hung = true;
  h.p.runFor(500);
  const hung = loggedAfter(h.p.boards[0].log, /partner firmware hung/, hang);

  // I/O hung: A's device bus stops answering while the host writes to A's LUN.
  const io = pairWithWriter(module, 14);
  const ioAt = io.p.clock.now_ns;
  io.p.boards[0].bus.hung = true;
  io.p.runFor(IO_STUCK_MS + 1000);
  const ioHung = loggedAfter(io.p.boards[1].log, /its I\/O hung/, ioAt);

  return {
    detect_ms_dead: round(dead), detect_ms_dead_bound: 1,
    detect_ms_hung: round(hung), detect_ms_hung_bound: SILENT_MS + HB_MS,
    detect_ms_io_hung: round(ioHung), detect_ms_io_hung_bound: IO_STUCK_MS + 3 * HB_MS,
    takeover_ms: round(takeover),
    ack_us_unmirrored: round(ack_us), ack_us_mirrored: null, catchup_ms: null,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
