// Benchmarks: figures from the metered build in virtual time (deterministic: the same
// build gives the same numbers), and, for the checksums, wall-clock throughput in
// V8 beside the best JavaScript alternatives, measured in the same run.

import { Session, Script, untilReady, untilWriteBack, nvStatus } from "./session.js";
import { benchDirector, type DirectorBench } from "./bench_director.js";
import { cdb, STATUS } from "./scsi/spc.js";
import { Rng } from "./rng.js";
import { readBuild, BUILD } from "./firmware.js";
import type { Board } from "./board.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BLOCK_BYTES, Disk, DEFAULT_DISK } from "./devices/disk.js";
import { VirtualClock } from "./clock.js";
import { benchArray, ArrayBench, ArrayBenchOptions } from "./bench_array.js";
import { benchThroughput, Throughput } from "./bench_speed.js";
import { benchSustained, Sustained } from "./bench_sustained.js";


export interface BenchReport extends Partial<ArrayBench>, Throughput, Sustained, DirectorBench {
  /** The release firmware as a Cortex-M4 image (port/build-m4.sh, arm-none-eabi-size):
   * flash (text + data) and RAM (data + bss, the 128 KiB of linear memory and a 16 KiB
   * stack included); null when the image was not built (no gcc-arm-none-eabi). */
  port_flash_bytes: number | null;
  port_ram_bytes: number | null;
  isr_latency_cycles: number;
  save_ms: number;
  save_bound_ms: number;
  save_blocks: number;
  save_pages: number;
  restore_ms: number;
  restore_bound_ms: number;
  /** The restore's two parts: the scan (from boot to the image found) and the load. */
  restore_scan_ms: number;
  restore_load_ms: number;
  /** The bounds of the payload alone (the blocks' bytes, no ECC, CRCs or metadata):
   * what one save or restore of that much data could take at the EEPROM's rates. */
  save_bound_payload_ms: number;
  restore_bound_payload_ms: number;
  /** Bytes the cache protects at a full cap (the budget), and the payload one full
   * hold-up could write at the EEPROM's page rate. */
  protected_bytes: number;
  protected_bytes_bound: number;
  crc32c_cycles_per_byte: number;
  secded_encode_cycles_per_byte: number;
  secded_decode_cycles_per_byte: number;
  destage_seek_ms_elevator: number;
  destage_seek_ms_fifo: number;
  /** Seek and rotational latency, both through the firmware on one board. */
  destage_ms_elevator: number;
  destage_ms_fifo: number;
  ack_us_writeback: number;
  ack_us_writethrough: number;
  budget_blocks: number;
  holdup_ms_estimated: number;
}

const ms = (ns: number) => ns / 1e6;

/** Fill the cache to its budget, cut the power, boot again: time the save (PFAIL# to
 * "save done") and the restore (the EEPROM reads: the scan, then loading the image). */
export function benchSaveRestore(module: WebAssembly.Module, seed = 1, probe?: (b: Board) => void) {
  const s = new Session(module, { seed });
  const b = s.board;
  probe?.(b);
  const logAt = new Map<string, number>();
  let pagesInSave = 0;
  let firstCmd_ns = -1;
  b.onEepromCommand = (t) => { if (firstCmd_ns < 0) firstCmd_ns = t; };
  b.eeprom.onWriteStart = () => { if (b.pfailFell_ns >= 0 && !b.isSupplyGood) pagesInSave++; };
  b.onLog = (name) => { if (!logAt.has(name) || name === "boot") logAt.set(name, b.now_ns); };
  let budget = 0, blocks = 0, holdup = 0, trueHoldup_ns = 0;
  const rng = new Rng(seed);
  function* script(): Script {
    for (let lun = 0; lun < 4; lun++) yield* untilReady(lun);
    yield* untilWriteBack();
    // A full cap (it charges in 10 s), not the 4.8 V of the learn: the budget a
    // steady controller has.
    yield { pause_ms: 12_000 };
    const st = yield* nvStatus();
    budget = st.budget;
    holdup = st.holdup_ms;
    trueHoldup_ns = b.cap.holdupAt_ns(b.now_ns);
    // Single blocks at random LBAs, until the NV blocks reach the budget.
    for (let i = 0; i < 4 * budget; i++) {
      const data = new Uint8Array(BLOCK_BYTES);
      rng.fill(data);
      yield { lun: i % 4, cdb: cdb.rw16(true, rng.int(1 << 20), 1), dataOut: data };
      const now = yield* nvStatus();
      blocks = now.nv_blocks;
      if (blocks >= now.budget) break;
    }
    logAt.clear();
    yield { cut_off_ms: 2000 }; // longer than any save: the MCU stops
    for (let lun = 0; lun < 4; lun++) yield* untilReady(lun);
  }
  s.run(script());
  const part = b.eeprom.part;
  const byte_ns = b.eeprom.byteTime_ns(b.cfg.spi_hz);
  const save_ns = b.saveDone_ns - b.pfailFell_ns;
  const bound_ns = pagesInSave * (part.t_wc_ns + (1 + 4 + 256) * byte_ns);
  const boot = logAt.get("boot")!;
  const scan = logAt.get("scan done")! - boot;
  const load = logAt.get("restore loaded")! - logAt.get("load start")!;
  // The image's pages, read once: command + address and 256 bytes each.
  const imagePages = pagesInSave;
  const restoreBound_ns = imagePages * (4 + 256) * byte_ns;
  // Payload bounds: only the blocks' own bytes, written (a page cycle each 256 B) or
  // read back, plus, for the restore, one page to find where they are (the scan).
  const payloadPages = Math.ceil((blocks * BLOCK_BYTES) / part.page_bytes);
  const savePayload_ns = payloadPages * (part.t_wc_ns + (1 + 4 + 256) * byte_ns);
  const restorePayload_ns = (payloadPages + 1) * (4 + 256) * byte_ns;
  return {
    isr_latency_cycles: Math.round((firstCmd_ns - b.pfailFell_ns) / b.ns_per_cycle),
    save_ms: ms(save_ns), save_bound_ms: ms(bound_ns), save_blocks: blocks, save_pages: pagesInSave,
    restore_ms: ms(scan + load), restore_bound_ms: ms(restoreBound_ns),
    restore_scan_ms: ms(scan), restore_load_ms: ms(load),
    save_bound_payload_ms: ms(savePayload_ns), restore_bound_payload_ms: ms(restorePayload_ns),
    // What the cache protects at a full cap, and what one full hold-up could write of
    // payload at the EEPROM's page rate (the cap's true hold-up, whole pages).
    protected_bytes: budget * BLOCK_BYTES,
    protected_bytes_bound: Math.floor(trueHoldup_ns / (part.t_wc_ns + (1 + 4 + 256) * byte_ns)) * part.page_bytes,
    budget_blocks: budget, holdup_ms_estimated: holdup,
  };
}

/** Cycles per byte of the firmware's checksum and ECC on 4 KiB (metered build). */
export function benchCycles() {
  const m = new WebAssembly.Module(readBuild("firmware.metered.wasm"));
  const hal = new Proxy({ meter_tick() {} }, { get: (t, k) => (k in t ? (t as never)[k] : () => 0) });
  const x = new WebAssembly.Instance(m, { hal: hal as never }).exports as unknown as {
    memory: WebAssembly.Memory; crc32c(p: number, n: number, c: number): number;
    secded_encode(d: number, w: number, c: number): void; secded_decode(d: number, w: number, c: number): number;
    __meter_cycles(): bigint; __meter_set_deadline(d: bigint): void;
  };
  x.__meter_set_deadline(1n << 60n);
  const data = 0x9000, check = 0x19000;
  new Rng(7).fill(new Uint8Array(x.memory.buffer, data, 4096));
  const cycles = (f: () => void) => { const c0 = x.__meter_cycles(); f(); return Number(x.__meter_cycles() - c0); };
  return {
    crc32c_cycles_per_byte: cycles(() => x.crc32c(data, 4096, 0)) / 4096,
    secded_encode_cycles_per_byte: cycles(() => x.secded_encode(data, 512, check)) / 4096,
    secded_decode_cycles_per_byte: cycles(() => x.secded_decode(data, 512, check)) / 4096,
  };
}

/** Time to destage the same 64 random dirty blocks spread over a disk: the firmware's
 * elevator (write-back, destage on its own) against first-in-first-out. Seek alone
 * (the older keys; FIFO on a bare disk model), and seek plus rotational latency with
 * both runs through the firmware on the same board (FRAM, so the budget takes all 64
 * blocks) from the same head position (a read of LBA 0 first): FIFO is the same
 * writes one at a time, each synchronized before the next, in the order written. */
export function benchDestage(module: WebAssembly.Module, seed = 5, probe?: (b: Board, run: "elevator" | "fifo") => void) {
  const rng = new Rng(seed);
  const lbas: number[] = [];
  for (let i = 0; i < 64; i++) lbas.push(rng.int(DEFAULT_DISK.blocks - 2));
  const onBoard = (writeBack: boolean) => {
    const s = new Session(module, { seed, eeprom_part: "FM25V20A" }, 1);
    const disk = s.board.disks[0];
    probe?.(s.board, writeBack ? "elevator" : "fifo");
    let seek0 = 0, rot0 = 0;
    function* script(): Script {
      yield* untilReady(0);
      yield* untilWriteBack();
      yield { lun: 0, cdb: cdb.rw16(false, 0, 1), dataIn: BLOCK_BYTES }; // the head at LBA 0
      seek0 = disk.stats.seek_ms;
      rot0 = disk.stats.rotation_ms;
      // FIFO: each write followed by SYNCHRONIZE CACHE of its block, so it is on the
      // disk before the next comes (FUA alone is satisfied by the NV cache).
      for (const lba of lbas) {
        yield { lun: 0, cdb: cdb.rw16(true, lba, 1), dataOut: new Uint8Array(BLOCK_BYTES).fill(lba & 0xff) };
        if (!writeBack) yield { lun: 0, cdb: cdb.syncCache10(lba, 1) };
      }
      for (let i = 0; i < 10_000; i++) {
        const st = yield* nvStatus();
        if (st.nv_blocks === 0) break;
        yield { pause_ms: 5 };
      }
    }
    s.run(script());
    return { seek: disk.stats.seek_ms - seek0, position: disk.stats.seek_ms - seek0 + disk.stats.rotation_ms - rot0 };
  };
  const elevator = onBoard(true);
  const fifo = onBoard(false);
  // FIFO seek alone on a bare disk model (the older key), from cylinder 0.
  const clock = new VirtualClock();
  const d = new Disk(0, DEFAULT_DISK, clock, new Rng(seed));
  const exec = (c: Uint8Array, out: Uint8Array | null) => {
    let done = false;
    d.submit(c, out, () => { done = true; });
    for (let i = 0; i < 1e6 && !done; i++) clock.runNext();
  };
  exec(cdb.tur(), null);
  exec(cdb.rw16(false, 0, 1), null);
  const fifoBefore = d.stats.seek_ms;
  for (const lba of lbas) exec(cdb.rw16(true, lba, 1, true), new Uint8Array(BLOCK_BYTES));
  return {
    destage_seek_ms_elevator: elevator.seek, destage_seek_ms_fifo: d.stats.seek_ms - fifoBefore,
    destage_ms_elevator: elevator.position, destage_ms_fifo: fifo.position,
  };
}

/** Host-visible latency of a 4 KiB write at queue depth 1: acknowledged from the
 * cache (write-back) and, on a board whose cap is too small for any budget, after the
 * disk has it (write-through fallback). Median of 32 writes each. */
export function benchAck(module: WebAssembly.Module, seed = 9) {
  const one = (capPct: number, waitWriteBack: boolean) => {
    const s = new Session(module, { seed, power: { capacity_pct: capPct } }, 1);
    const lat: number[] = [];
    const rng = new Rng(seed);
    function* script(): Script {
      yield* untilReady(1);
      if (waitWriteBack) yield* untilWriteBack(1);
      else yield { pause_ms: 2000 };
      for (let i = 0; i < 32; i++) {
        const t0 = s.board.now_ns;
        const r = yield { lun: 1, cdb: cdb.rw16(true, rng.int(1 << 20), 8), dataOut: new Uint8Array(4096).fill(i) };
        if (r && r.status === STATUS.GOOD) lat.push(s.board.now_ns - t0);
        yield { pause_ms: 20 };
      }
    }
    s.run(script());
    lat.sort((a, b) => a - b);
    return lat[lat.length >> 1] / 1e3;
  };
  return { ack_us_writeback: one(100, true), ack_us_writethrough: one(1, false) };
}

/** Every figure: the write cache's on the disks as LUNs, the array's (unless raid is
 * 0) on an array of that level. */
export function runBench(module: WebAssembly.Module, raid = 5, array: ArrayBenchOptions = {}): BenchReport {
  return {
    ...benchSaveRestore(module),
    ...benchCycles(),
    ...benchThroughput(),
    ...benchSustained(module),
    ...benchDestage(module),
    ...benchAck(module),
    ...(raid ? benchArray(module, raid, array) : {}),
    ...benchDirector(),
    ...portSize(),
  };
}

/** build/m4/size.json, written by port/build-m4.sh. */
function portSize(): { port_flash_bytes: number | null; port_ram_bytes: number | null } {
  try {
    const j = JSON.parse(readFileSync(join(BUILD, "m4", "size.json"), "utf8"));
    return { port_flash_bytes: j.flash_bytes, port_ram_bytes: j.ram_bytes };
  } catch {
    return { port_flash_bytes: null, port_ram_bytes: null };
  }
}
