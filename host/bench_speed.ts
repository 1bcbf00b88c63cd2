// Checksum throughput in V8, wall clock: the firmware's CRC-32C (release build) beside
// the best alternatives a host program has, measured in the same run on the same 64
// KiB buffer, best of 5 interleaved rounds each: native CRC-32C (@node-rs/crc32, SSE4.2
// or ARMv8 CRC instructions), SheetJS's JavaScript CRC-32C (crc-32/crc32c), and, for the
// older keys, CRC-32 from Node's zlib (native) and from SheetJS.

import { createRequire } from "node:module";
import * as zlib from "node:zlib";
import { readBuild } from "./firmware.js";
import { Rng } from "./rng.js";

const require = createRequire(import.meta.url);
type Crc = { buf(data: Uint8Array, seed?: number): number };
const SHEETJS_CRC32: Crc = require("crc-32");
const SHEETJS_CRC32C: Crc = require("crc-32/crc32c");
const NODE_RS: { crc32c(data: Buffer, initial?: number): number } = require("@node-rs/crc32");

export interface Throughput {
  /** Gbit/s, kept for the scripts that read them (the _gbyte_s keys say GB/s). */
  crc32c_wasm_gbps: number;
  crc32_node_zlib_gbps: number;
  crc32_sheetjs_gbps: number;
  crc32c_wasm_gbyte_s: number;
  crc32c_native_gbyte_s: number;
  crc32c_sheetjs_gbyte_s: number;
  crc32_node_zlib_gbyte_s: number;
  crc32_sheetjs_gbyte_s: number;
}

export function benchThroughput(): Throughput {
  const m = new WebAssembly.Module(readBuild("firmware.wasm"));
  const x = new WebAssembly.Instance(m, { hal: new Proxy({}, { get: () => () => 0 }) as never }).exports as unknown as {
    memory: WebAssembly.Memory; crc32c(p: number, n: number, c: number): number;
  };
  const size = 64 * 1024;
  const at = 0x9000;
  const buf = new Uint8Array(x.memory.buffer, at, size);
  new Rng(3).fill(buf);
  const copy = Buffer.from(buf);
  // All CRC-32C implementations must agree on the buffer before their speed counts.
  const want = x.crc32c(at, size, 0) >>> 0;
  if ((NODE_RS.crc32c(copy) >>> 0) !== want || (SHEETJS_CRC32C.buf(copy, 0) >>> 0) !== want) {
    throw new Error("bench: the CRC-32C implementations disagree");
  }
  const zcrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  const fns: Record<string, () => number> = {
    wasm: () => x.crc32c(at, size, 0),
    native: () => NODE_RS.crc32c(copy),
    sheetjs_c: () => SHEETJS_CRC32C.buf(copy, 0),
    zlib: () => (zcrc ? zcrc(copy, 0) : NaN),
    sheetjs: () => SHEETJS_CRC32.buf(copy, 0),
  };
  const best: Record<string, number> = {};
  const reps = 400; // 25 MiB per round
  for (let round = 0; round < 5; round++) {
    for (const name of Object.keys(fns)) {
      let sink = 0;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) sink ^= fns[name]();
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (sink === 0.5) console.log(""); // keep the work
      best[name] = Math.min(best[name] ?? Infinity, dt);
    }
  }
  const gbyte = (t: number) => (size * reps) / t / 1e9;
  return {
    crc32c_wasm_gbps: gbyte(best.wasm) * 8,
    crc32_node_zlib_gbps: zcrc ? gbyte(best.zlib) * 8 : NaN,
    crc32_sheetjs_gbps: gbyte(best.sheetjs) * 8,
    crc32c_wasm_gbyte_s: gbyte(best.wasm),
    crc32c_native_gbyte_s: gbyte(best.native),
    crc32c_sheetjs_gbyte_s: gbyte(best.sheetjs_c),
    crc32_node_zlib_gbyte_s: zcrc ? gbyte(best.zlib) : NaN,
    crc32_sheetjs_gbyte_s: gbyte(best.sheetjs),
  };
}
