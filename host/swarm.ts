// Swarm testing, as TigerBeetle's simulator does it: every fault knob is drawn from
// the seed and they are combined, so one seed is one strange installation. Faults the
// design covers (docs/DESIGN.md "What it survives") are drawn freely; the few beyond it
// set an excuse for the outage they hit (a loss the controller reports is then
// expected; a silent one still fails).

import type { Board } from "./board.js";
import { Rng } from "./rng.js";
import type { RunOptions, CutContext } from "./scenario.js";
import { NV_ACTION } from "./scsi/spc.js";

export interface SwarmPlan {
  seed: number;
  /** The knobs drawn, for the failure report. */
  knobs: Record<string, string | number | boolean>;
  /** Run on the build with a preemption check before every store. */
  fine: boolean;
  options: Partial<RunOptions>;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** The installation and faults seed `seed` stands for. */
export function swarmPlan(seed: number, raid = 0): SwarmPlan {
  const rng = new Rng(seed).fork("swarm");
  const k: Record<string, string | number | boolean> = {};
  const knob = <T extends string | number | boolean>(name: string, v: T): T => { k[name] = v; return v; };

  // The host's workload.
  const span = knob("lba_span", pick(rng, [8, 16, 48, 256, 4096]));
  const workload = {
    lba_span: span,
    queue_depth: knob("qd", 1 + rng.int(4)),
    overlap: knob("overlap", rng.chance(0.8)),
    read_fraction: knob("reads", Math.round(rng.float() * 50) / 100),
    write_long_fraction: knob("write_long", pick(rng, [0, 0.005, 0.02])),
    sync_fraction: knob("sync", pick(rng, [0, 0.01, 0.05])),
    cut_window_ms: knob("cut_window_ms", pick(rng, [150, 400, 1500, 3000])),
    off_min_ms: 0.01,
    off_max_ms: knob("off_max_ms", pick(rng, [5, 300, 2000])),
  };

  // The board.
  const part = knob("eeprom", pick(rng, ["25LC1024", "25LC1024", "25LC1024", "25LC1024", "M95M02", "FM25V20A"]));
  const capPct = knob("cap_pct", pick(rng, [100, 100, 80, 50, 30]));
  const board = { eeprom_part: part, power: { capacity_pct: capPct } };

  // Faults, each drawn per seed.
  const flapProb = knob("flap_prob", pick(rng, [0, 0, 0.3, 0.7]));
  const flapMs = knob("flap_ms", pick(rng, [2, 50, 400]));
  const latencyProb = knob("latency_prob", pick(rng, [0, 0, 0.01, 0.05]));
  // Spikes (a disk recovering an error): the commands queued behind one wait too.
  const latencyMs = knob("latency_ms", pick(rng, [5, 200, 1200, 2500]));
  // (Not on an array yet: finding a misdirected write takes a parity scrub.)
  const misdirect = knob("misdirect_prob", raid ? 0 : pick(rng, [0, 0, 0, 0.002]));
  const deadDiskAt = knob("dead_disk_cut", rng.chance(0.2) ? 1 + rng.int(8) : 0);
  const deadDuring = knob("dead_disk_when", pick(rng, ["off", "load start", "restore loaded", "hang"]));
  const flipRate = knob("eeprom_read_flip", pick(rng, [0, 1e-6, 1e-5, 1e-4]));
  const stuckMax = knob("eeprom_stuck_max", pick(rng, [0, 2, 6]));
  const deadPages = knob("eeprom_dead_pages", pick(rng, [0, 0, 3, 8]));
  const tearProb = knob("eeprom_tear_prob", pick(rng, [0, 0.1, 0.3]));
  const spread = knob("eeprom_write_spread", pick(rng, [1, 1, 0.7, 0.4]));
  const noWriteLong = knob("no_write_long", rng.chance(0.25));
  const ageAt = knob("age_cut", rng.chance(0.25) ? 1 + rng.int(10) : 0);
  const agePct = knob("age_pct", pick(rng, [5, 10, 15]));
  const recutProb = knob("recut_prob", pick(rng, [0, 0.3, 0.6]));
  // With an array, a second cut may also come during the boot's parity repair.
  const recutAt = knob("recut_at", pick(rng, raid
    ? ["window", "load start", "restore loaded", "array row repaired"]
    : ["window", "load start", "restore loaded", "restore done"]));
  // (Not with a dead disk: the technician's swap back would move the dead one.)
  const swaps = knob("disk_swaps", deadDiskAt === 0 && rng.chance(0.1));
  const fine = knob("preempt_every_store", rng.chance(0.5));
  const primaryDeath = knob("primary_death_prob", pick(rng, [0, 0, 0.3]));

  let stuck = 0;
  let swapped: [number, number] | null = null;
  const options: Partial<RunOptions> = {
    workload,
    board,
    recut_prob: recutProb,
    primary_death_prob: primaryDeath,
    recut_at: recutAt === "window" ? undefined : recutAt,
    dips: (r) => (r.chance(flapProb) ? 2 + r.int(4) : 1),
    flap_ms: flapMs,
    setup: (b: Board) => {
      const e = b.eeprom;
      e.readBitFlipRate = flipRate;
      if (spread < 1) e.writeTimeSpread = [spread, 1];
      const frng = new Rng(seed).fork("eeprom-pages");
      // Pages that no longer take writes: an EEPROM's wear-out. An FRAM has no pages
      // (its "page" is the whole array: one dead page would be a dead part, a fault
      // beyond the design) and no wear-out to speak of (10^14 cycles): none there.
      if (e.part.page_bytes <= 256) for (let i = 0; i < deadPages; i++) e.store.deadPages.add(frng.int(120));
      for (const [i, d] of b.disks.entries()) {
        d.faults.latencySpikeProb = latencyProb;
        d.faults.latencySpike_ms = latencyMs;
        d.faults.misdirectProb = misdirect;
        d.faults.misdirectOffset = 1 + (i * 7919) % 97;
        d.faults.noWriteLong = noWriteLong && i % 2 === 0;
      }
    },
    onCut: (c: CutContext) => {
      const e = c.board.eeprom;
      if (tearProb && c.rng.chance(tearProb)) e.tearNextWrite = true;
      if (stuck < stuckMax && c.rng.chance(0.3)) {
        stuck++;
        const addr = c.rng.int(120) * 256 + c.rng.int(256);
        const bit = 1 << c.rng.int(8);
        e.store.stuck.set(addr, [bit, c.rng.chance(0.5) ? bit : 0]);
      }
      if (deadDiskAt === c.cut) killDisk(c, deadDuring, raid !== 0);
    },
    onPowerLost: (c: CutContext) => {
      if (swaps && !swapped && c.rng.chance(0.5)) {
        const a = c.rng.int(4), b = (a + 1 + c.rng.int(3)) % 4;
        c.board.swapDisks(a, b);
        swapped = [a, b];
      }
    },
    onBoot: (c: CutContext) => {
      // The cap loses capacity between boots (each boot learns it again).
      if (ageAt && c.cut === ageAt) {
        const cap = c.board.cap;
        cap.setMode(cap.capMode, c.board.now_ns);
        cap.p.capacity_pct = Math.max(1, cap.p.capacity_pct * (1 - agePct / 100));
      }
    },
    onPending: (b: Board) => {
      if (swapped) { b.swapDisks(swapped[0], swapped[1]); swapped = null; return NV_ACTION.RECHECK; }
      return NV_ACTION.REPLAY;
    },
  };
  return { seed, knobs: k, fine, options };
}

/** One disk dies: with the power off, when the restore starts or ends, or by hanging
 * (it takes commands and never finishes them). Its blocks are lost with it: the
 * controller must report that (LOGICAL UNIT FAILURE, or the LUN gone), never serve
 * other data. */
function killDisk(c: CutContext, when: string, array: boolean): void {
  const lun = c.rng.int(c.board.disks.length);
  const disk = c.board.disks[lun];
  // A disk that is its own LUN loses its blocks. An array loses nothing to one dead
  // disk, but a member dying with the power is a second fault at the cut: its blocks
  // in rows an update had in flight are reported.
  if (!array) c.oracle.deadLuns.add(lun);
  else c.oracle.deadMembers.add(lun);
  if (when === "off") { disk.faults.dead = true; return; }
  if (when === "hang") { disk.faults.hang = true; return; }
  const inner = c.board.onLog;
  c.board.onLog = (name, a, b) => {
    inner?.(name, a, b);
    if (name === when) disk.faults.dead = true;
  };
}
