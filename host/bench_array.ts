// The array's benchmark figures (seed 003), in virtual time: what the boot's repair
// costs after a cut with writes in flight, beside what an md write-intent bitmap
// (64 MiB chunks) and a full parity scan would resync for the same cut; the write
// rates of full rows and of random 4 KiB writes, write-through, beside the members'
// media rate; what the write-command buffer costs the EEPROM without a hold-up.

import { Session, Script, untilReady, untilWriteBack } from "./session.js";
import { cdb, STATUS } from "./scsi/spc.js";
import { Rng } from "./rng.js";
import { ArrayMap } from "./array_map.js";
import { DEFAULT_DISK } from "./devices/disk.js";
import { PART_25LC1024 } from "./devices/eeprom_part.js";
import type { Board } from "./board.js";
import type { HostResult } from "./host.js";

export interface ArrayBench {
  raid: number;
  repair_rows: number;
  repair_blocks: number;
  repair_ms: number;
  repair_blocks_bitmap64m: number;
  repair_blocks_fullscan: number;
  write_mb_s_fullstripe: number;
  write_mb_s_rmw: number;
  write_mb_s_bound: number;
  wcb_eeprom_writes_per_host_write: number;
  eeprom_life_days_at_100wps: number;
  rebuild_ms: number;
  rebuild_bound_ms: number;
  /** The rebuild is timed on members of this size (a 1 GiB member takes hours of
   * virtual time at the rate it runs). */
  rebuild_disk_mib: number;
}

const MEMBERS = 4;

export interface ArrayBenchOptions {
  /** Hot spares after the members (default 1). */
  spares?: number;
  /** A disk that dies at a virtual instant of every run. */
  failDisk?: { id: number; ms: number } | null;
}

/** The board of every array figure. */
function arrayBoard(seed: number, raid: number, o: ArrayBenchOptions, capacity_pct = 100) {
  const spares = o.spares ?? 1;
  return { seed, raid, spares, disks: MEMBERS + spares, power: { capacity_pct } };
}

function failLater(b: Board, o: ArrayBenchOptions): void {
  const fd = o.failDisk;
  if (fd) b.clock.at(fd.ms * 1e6, `disk ${fd.id} fails`, () => { if (b.disks[fd.id]) b.disks[fd.id].faults.dead = true; });
}
/** An md bitmap chunk of 64 MiB covers this many rows (blocks per member). */
const BITMAP_CHUNK_ROWS = (64 * 1024 * 1024) / 512;
/** The ring's pages (array/wcb.ts ring_pages). */
const RING_PAGES = 128;

function stat(b: Board, i: number): number {
  return ((b.mcu.fw?.array_stat as ((i: number) => number) | undefined)?.(i) ?? 0) >>> 0;
}

/** Write-back on, writes streaming at queue depth 4, then the power is cut at a member
 * write (updates in flight); after the boot, what the repair did. */
export function benchRepair(module: WebAssembly.Module, raid: number, seed = 21, o: ArrayBenchOptions = {}) {
  const s = new Session(module, arrayBoard(seed, raid, o), 4);
  const b = s.board;
  failLater(b, o);
  const map = new ArrayMap(b);
  const rng = new Rng(seed);
  let armed = false, rows = 0, blocks = 0, us = 0;
  const repaired: number[] = [];
  b.onLog = (name, a) => { if (name === "array row repaired") repaired.push(a >>> 0); };
  for (const d of b.disks.slice(0, MEMBERS)) {
    const w = d.media.write.bind(d.media);
    d.media.write = (lba: number, data: Uint8Array) => {
      w(lba, data);
      if (armed && lba < map.rows) {
        armed = false;
        b.cutPowerAt(b.now_ns);
        b.restorePowerAt(b.now_ns + 3000e6);
      }
    };
  }
  function* script(): Script {
    yield* untilReady(0);
    yield* untilWriteBack(0);
    // Random 4 KiB writes over the whole array, one at a time until 200 are in, then
    // the cut at the next member write.
    for (let i = 0; i < 200; i++) {
      yield { lun: 0, cdb: cdb.rw16(true, rng.int(map.rows * map.dataPerRow - 16), 8), dataOut: new Uint8Array(4096).fill(i) };
    }
    armed = true;
    for (let i = 0; i < 400 && armed; i++) {
      const r = yield { lun: 0, cdb: cdb.rw16(true, rng.int(map.rows * map.dataPerRow - 16), 8), dataOut: new Uint8Array(4096).fill(i) };
      if (r === null) break;
    }
    yield* untilReady(0);
    rows = stat(b, 0);
    blocks = stat(b, 10);
    us = stat(b, 11);
  }
  s.run(script());
  const chunks = new Set(repaired.map((r) => Math.floor(r / BITMAP_CHUNK_ROWS)));
  return {
    repair_rows: rows,
    repair_blocks: blocks,
    repair_ms: us / 1e3,
    repair_blocks_bitmap64m: chunks.size * BITMAP_CHUNK_ROWS * (MEMBERS + 1),
    repair_blocks_fullscan: map.rows * (MEMBERS + 1),
  };
}

/** Write-through (a cap with no hold-up to count on: every write waits for the
 * members), queue depth 4: `bytes` of writes from `next()`; MB/s, and the ring's
 * page writes per host write. */
function writeRate(module: WebAssembly.Module, raid: number, seed: number,
  next: (i: number, map: ArrayMap) => { lba: number; n: number }, count: number, o: ArrayBenchOptions) {
  const s = new Session(module, arrayBoard(seed, raid, o, 1), 4);
  const b = s.board;
  failLater(b, o);
  const map = new ArrayMap(b);
  let t0 = 0, t1 = 0, acked = 0, ringWrites0 = 0, ringWrites = 0, bytes = 0;
  let sent = 0, done = 0;
  const send = () => {
    if (sent >= count) return;
    const { lba, n } = next(sent++, map);
    s.host.submit(0, cdb.rw16(true, lba, n), new Uint8Array(n * 512).fill(sent & 0xff), 0, (r: HostResult) => {
      done++;
      if (r.status === STATUS.GOOD) { acked++; bytes += n * 512; }
      if (done === count) { t1 = b.now_ns; ringWrites = stat(b, 9) - ringWrites0; }
      send();
    });
  };
  function* script(): Script {
    yield* untilReady(0);
    yield { pause_ms: 3000 };
    ringWrites0 = stat(b, 9);
    t0 = b.now_ns;
    for (let i = 0; i < 4; i++) send();
    while (done < count) yield { pause_ms: 10 };
  }
  s.run(script());
  return { mb_s: bytes / 1e6 / ((t1 - t0) / 1e9), acked, ringWrites };
}

/** A member dies; the time from its failure to the spare holding every row, against
 * one disk's capacity at its media rate. */
export function benchRebuild(module: WebAssembly.Module, raid: number, blocks = 8192, seed = 41) {
  const s = new Session(module, { seed, raid, spares: 1, disks: MEMBERS + 1, disk: { blocks } }, 1);
  const b = s.board;
  let t0 = 0, t1 = 0;
  b.onLog = (name, _a, c) => { if (name === "array rebuild" && c === -1 && t1 === 0) t1 = b.now_ns; };
  s.run((function* (): Script {
    yield* untilReady(0);
    b.disks[1].faults.dead = true;
    t0 = b.now_ns;
    yield { lun: 0, cdb: cdb.rw16(false, 1, 1), dataIn: 512 }; // finds it dead
    while (t1 === 0) yield { pause_ms: 100 };
  })(), 24 * 3600_000);
  const bytes = blocks * 512;
  return {
    rebuild_ms: (t1 - t0) / 1e6,
    rebuild_bound_ms: (bytes / DEFAULT_DISK.media_bytes_per_s) * 1e3,
    rebuild_disk_mib: bytes / 1024 / 1024,
  };
}

export function benchArray(module: WebAssembly.Module, raid = 5, o: ArrayBenchOptions = {}): ArrayBench {
  const rep = benchRepair(module, raid, 21, o);
  const d = MEMBERS - 1;
  // Sequential full rows: six blocks (two rows of three) per write, row-aligned.
  const full = writeRate(module, raid, 31, (i) => ({ lba: i * 2 * d, n: 2 * d }), 400, o);
  const rng = new Rng(32);
  const rmw = writeRate(module, raid, 32, (_i, map) => ({ lba: rng.int(map.rows * d - 8), n: 8 }), 400, o);
  const perWrite = (full.ringWrites + rmw.ringWrites) / Math.max(1, full.acked + rmw.acked);
  const lifeDays = perWrite > 0 ? (PART_25LC1024.endurance_cycles * RING_PAGES) / (perWrite * 100) / 86400 : Infinity;
  return {
    raid,
    ...rep,
    write_mb_s_fullstripe: full.mb_s,
    write_mb_s_rmw: rmw.mb_s,
    write_mb_s_bound: (d * DEFAULT_DISK.media_bytes_per_s) / 1e6,
    wcb_eeprom_writes_per_host_write: perWrite,
    eeprom_life_days_at_100wps: lifeDays,
    ...benchRebuild(module, raid),
  };
}
