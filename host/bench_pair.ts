// holdup bench --controllers 2: the pair's detection and takeover times (issue 10), each
// measured on its own fresh pair from the fault's instant to the survivor's log line;
// the host's 4 KiB write acknowledgement at QD 1 through the owner, mirrored (both
// controllers up), unmirrored (the partner's supply off: the owner alone writes
// through) and, side by side, one controller on its own (write-back, seed 000); and
// the catch-up when the partner comes back. Each figure is stated with its bound
// (assembly/pair/peer.ts, docs/DESIGN.md "The pair").

import { PairSystem } from "./pair.js";
import { MultipathHost } from "./pair_host.js";
import { cdb } from "./scsi/spc.js";
import { benchAck } from "./bench.js";

export interface PairBench {
  detect_ms_dead: number;
  detect_ms_dead_bound: number;
  detect_ms_hung: number;
  detect_ms_hung_bound: number;
  detect_ms_io_hung: number;
  detect_ms_io_hung_bound: number;
  /** From the survivor's verdict to its first acknowledged write to a LUN it took. */
  takeover_ms: number;
  /** 4 KiB writes, QD 1, through the owner, medians: held by both controllers' caches;
   * the owner alone (its partner's supply off: it writes through); and one controller
   * that is not in a pair (write-back from its cache, seed 000), for comparison. */
  ack_us_mirrored: number;
  ack_us_unmirrored: number;
  ack_us_single: number;
  /** ack_us_mirrored / ack_us_unmirrored and / ack_us_single. */
  ack_ratio_unmirrored: number;
  ack_ratio_single: number;
  /** The partner back (registered, not fenced) to the owner's mirroring on again: the
   * owner's cache written out, the partner's old copies dropped (the catch-up). */
  catchup_ms: number;
  /** The partner's supply back to the owner's mirroring on again (its boot, the
   * rejoin, the catch-up). */
  rejoin_ms: number;
  /** Whether the owner mirrored while ack_us_mirrored was measured. */
  mirroring: boolean;
}

const HB_MS = 10, SILENT_MS = 50, IO_STUCK_MS = 2000;
/** As benchAck: one write, then 20 ms of nothing. */
const ACK_PAUSE_MS = 20;

/** When a log line matching `what` first appears at or after at_ns, in ms after it
 * (NaN: never; the log keeps µs, so a line at the same µs counts). */
export function loggedAfter(lines: string[], what: RegExp, at_ns: number): number {
  for (const l of lines) {
    const t = parseFloat(l);
    if (t * 1e6 >= at_ns - 1000 && what.test(l)) return Math.max(0, t - at_ns / 1e6);
  }
  return NaN;
}

interface WriterOptions {
  /** Start once A acknowledges from its cache (its first learn cycle is over). */
  writeBack?: boolean;
  /** Between an acknowledgement and the next write (benchAck's 20 ms: the latency of
   * one write, not the disk's rate under a stream). */
  pauseMs?: number;
  /** Done to the booted pair before the writes start. */
  before?: (p: PairSystem) => void;
}

/** A pair booted and settled, with a host that keeps writing 4 KiB to LUN 0 (A's). */
function pairWithWriter(module: WebAssembly.Module, seed: number, o: WriterOptions = {}) {
  const p = new PairSystem(module, { seed });
  const host = new MultipathHost(p, 1);
  const pauseMs = o.pauseMs ?? 0;
  p.runFor(1500);
  if (o.writeBack) p.run(() => !!p.boards[0].firmware && (p.boards[0].firmware.writeback_on as () => number)() !== 0, 60_000);
  o.before?.(p);
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
      if (pauseMs > 0) p.clock.at(p.clock.now_ns + pauseMs * 1e6, "next write", next);
      else next();
    });
  };
  next();
  return { p, host, acks, stop: () => { running = false; } };
}

const mirroringOn = (p: PairSystem, k: number) => {
  const fw = p.boards[k].firmware;
  return fw ? ((fw.pair_stat as (i: number) => number)(3) & 1) === 1 : false;
};
function medianAck(w: ReturnType<typeof pairWithWriter>, n: number): number {
  w.p.run(() => w.acks.length >= n, 120_000);
  w.stop();
  const lat = w.acks.slice(Math.min(20, n >> 2)).map((a) => a.us).sort((a, b) => a - b);
  return lat[Math.floor(lat.length / 2)];
}

export function benchPair(module: WebAssembly.Module, single: WebAssembly.Module): PairBench {
  // Acknowledgement time: 200 writes on a healthy pair, mirrored, once A acknowledges
  // from its cache (its first learn cycle is over, as benchAck waits for it).
  const w = pairWithWriter(module, 11, { writeBack: true, pauseMs: ACK_PAUSE_MS });
  const mirroring = mirroringOn(w.p, 0);
  const ack_mirrored = medianAck(w, 200);
  // The owner alone: B's supply off before the writes start.
  const alone = pairWithWriter(module, 15, {
    pauseMs: ACK_PAUSE_MS,
    before: (p) => { p.boards[1].cutPowerAt(p.clock.now_ns); p.runFor(1000); },
  });
  const ack_unmirrored = medianAck(alone, 100);
  // Catch-up: B's supply goes and comes back while the host writes to A.
  const c = pairWithWriter(module, 16);
  const [cA, cB] = c.p.boards;
  cB.cutPowerAt(c.p.clock.now_ns);
  c.p.runFor(1000);
  const back = c.p.clock.now_ns;
  cB.restorePowerAt(back);
  c.p.run(() => cA.log.some((l) => parseFloat(l) * 1e6 > back && /session on/.test(l)), back / 1e6 + 10_000);
  c.stop();
  const on = cA.log.find((l) => parseFloat(l) * 1e6 > back && /session on/.test(l));
  const rejoin = on ? parseFloat(on) - back / 1e6 : NaN;
  const catchup = on ? Number(on.trim().split(" ").pop()) : NaN;
  const ack_single = benchAck(single).ack_us_writeback;

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

  // I/O hung: A's device bus stops answering while the host writes to A's LUN. The
  // verdict runs from the first command the hung path swallows: the hang's instant if
  // one was out then, else the next one A sends (A acknowledges from its cache, so its
  // disks may be idle for a while; nothing can tell a hung path from an idle one).
  const io = pairWithWriter(module, 14);
  const ioBus = io.p.boards[0].bus;
  let ioAt = io.p.clock.now_ns;
  ioBus.hung = true;
  if (ioBus.busyTags === 0) {
    const prev = ioBus.onPhase;
    let seen = false;
    ioBus.onPhase = (t, phase) => {
      if (!seen && phase === 1) { seen = true; ioAt = io.p.clock.now_ns; }
      prev?.(t, phase);
    };
  }
  io.p.runFor(IO_STUCK_MS + 1000);
  const ioHung = loggedAfter(io.p.boards[1].log, /its I\/O hung/, ioAt);

  return {
    detect_ms_dead: round(dead), detect_ms_dead_bound: 1,
    detect_ms_hung: round(hung), detect_ms_hung_bound: SILENT_MS + HB_MS,
    detect_ms_io_hung: round(ioHung), detect_ms_io_hung_bound: IO_STUCK_MS + 3 * HB_MS,
    takeover_ms: round(takeover),
    ack_us_mirrored: round(ack_mirrored), ack_us_unmirrored: round(ack_unmirrored), ack_us_single: round(ack_single),
    ack_ratio_unmirrored: round(ack_mirrored / ack_unmirrored), ack_ratio_single: round(ack_mirrored / ack_single),
    catchup_ms: round(catchup), rejoin_ms: round(rejoin), mirroring,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
