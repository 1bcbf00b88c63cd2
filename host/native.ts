// The firmware under a real runtime: wasm2c's C of the metered build, compiled with
// gcc into build/native/holdup-native (port/runner.c), driven from here over two
// FIFOs. The board stays in this process: every HAL import the firmware calls arrives
// as a message and runs the board's own handler; every export the board calls (main,
// the interrupt handlers, the getters) goes to the runner. Linear memory is mirrored:
// each side sends the other the 256-byte chunks it changed at every crossing, so the
// devices read and write the firmware's buffers as in V8. docs/PORTING.md.

import { execFileSync, spawn, ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./firmware.js";
import type { FirmwareExports, HalFunction } from "./mcu.js";

/** The runners: build/native/metered (cycles as in V8) and build/native/release. */
export const NATIVE_DIR = join(ROOT, "build", "native");
export type NativeBuild = "metered" | "release";
const binOf = (b: NativeBuild) => join(NATIVE_DIR, b, "holdup-native");
const abiOf = (b: NativeBuild) => join(NATIVE_DIR, b, "abi.json");

interface Sig { name: string; params: ("u32" | "u64")[]; result: "u32" | "u64" | null }
interface NativeAbi { memory_pages: number; imports: Sig[]; exports: Sig[] }

const CHUNK_BYTES = 256;
/** wasm_rt_trap_t (wasm-rt.h) as V8 words its RuntimeError. */
const TRAPS = ["none", "memory access out of bounds", "integer overflow", "divide by zero",
  "invalid conversion to integer", "unreachable", "indirect call signature mismatch",
  "uncaught exception", "call stack exhausted"];

export function nativeAvailable(build: NativeBuild = "metered"): boolean { return existsSync(binOf(build)) && existsSync(abiOf(build)); }

/** The runner process: one per board, one firmware instance at a time. */
export class NativeRuntime {
  private readonly abi: NativeAbi;
  private readonly child: ChildProcess;
  private readonly dir: string;
  private readonly fdOut: number; // to the runner
  private readonly fdIn: number;  // from the runner
  private readonly inBuf = Buffer.alloc(1 << 16);
  private inPos = 0;
  private inLen = 0;
  private out: Buffer[] = [];
  private mem: Uint8Array;
  private shadow: Uint8Array;
  private readonly memView: Buffer;
  private readonly shadowView: Buffer;
  private readonly memWords: Int32Array;
  private readonly shadowWords: Int32Array;
  private hal: Record<string, HalFunction> = {};
  private deadline = 0n;
  private cycles = 0n;
  private closed = false;
  /** Crossings between the two runtimes (for the figures). */
  crossings = 0;

  constructor(readonly build: NativeBuild = "metered") {
    if (!nativeAvailable(build)) throw new Error(`no native runner: build it with npm run build:native (${binOf(build)})`);
    this.abi = JSON.parse(readFileSync(abiOf(build), "utf8"));
    this.mem = new Uint8Array(this.abi.memory_pages * 65536);
    this.shadow = new Uint8Array(this.mem.length);
    this.memView = Buffer.from(this.mem.buffer);
    this.shadowView = Buffer.from(this.shadow.buffer);
    this.memWords = new Int32Array(this.mem.buffer);
    this.shadowWords = new Int32Array(this.shadow.buffer);
    this.dir = mkdtempSync(join(tmpdir(), "holdup-native-"));
    const toRunner = join(this.dir, "in"), fromRunner = join(this.dir, "out");
    execFileSync("mkfifo", [toRunner, fromRunner]);
    // O_RDWR: the open does not wait for the other end (Linux FIFOs).
    this.fdOut = openSync(toRunner, constants.O_RDWR);
    this.fdIn = openSync(fromRunner, constants.O_RDWR);
    this.child = spawn(binOf(build), [toRunner, fromRunner], { stdio: ["ignore", "inherit", "inherit"] });
    this.child.unref();
    live.add(this);
  }

  /** A fresh instance (a boot) with these HAL handlers; its exports. */
  instantiate(hal: Record<string, HalFunction>): FirmwareExports {
    this.hal = hal;
    this.mem.fill(0);
    this.shadow.fill(0);
    this.send(Buffer.from("I"));
    this.flush();
    this.awaitReturn();
    const fw: Record<string, unknown> = { memory: { buffer: this.mem.buffer } };
    if (this.abi.exports.some((e) => e.name === "__meter_cycles")) {
      // Read and set here: the runner sends the count with every crossing and takes
      // the deadline with every call and return.
      fw.__meter_cycles = () => this.cycles;
      fw.__meter_set_deadline = (d: bigint) => { this.deadline = d; };
    }
    this.abi.exports.forEach((sig, id) => {
      if (sig.name === "__meter_cycles" || sig.name === "__meter_set_deadline") return;
      fw[sig.name] = (...args: unknown[]) => this.callExport(id, sig, args);
    });
    return fw as unknown as FirmwareExports;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    try { this.send(Buffer.from("Q")); this.flush(); } catch { /* gone already */ }
    this.child.kill();
    closeSync(this.fdOut);
    closeSync(this.fdIn);
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- calls ---------------------------------------------------------------------

  private callExport(id: number, sig: Sig, args: unknown[]): unknown {
    const m = Buffer.alloc(10 + 8 * sig.params.length);
    m.write("C", 0);
    m.writeUInt8(id, 1);
    m.writeBigUInt64LE(BigInt.asUintN(64, this.deadline), 2);
    sig.params.forEach((t, i) => m.writeBigUInt64LE(toBits(args[i], t), 10 + 8 * i));
    this.sendChanges();
    this.send(m);
    this.flush();
    const v = this.awaitReturn();
    return fromBits(v, sig.result);
  }

  /** Serve the runner's HAL calls until the export call in progress ends. */
  private awaitReturn(): bigint {
    for (;;) {
      const type = String.fromCharCode(this.u8());
      switch (type) {
        case "M": this.takeChange(); break;
        case "R": { const v = this.u64(); this.cycles = this.u64(); this.crossings++; return v; }
        case "T": {
          const code = this.u32();
          this.cycles = this.u64();
          throw new WebAssembly.RuntimeError(TRAPS[code] ?? `trap ${code}`);
        }
        case "X": this.cycles = this.u64(); throw new Error("native: unwound without a pending exception");
        case "H": this.serveHal(); break;
        default: throw new Error(`native runner: unknown message ${type}`);
      }
    }
  }

  private serveHal(): void {
    const id = this.u8();
    this.cycles = this.u64();
    this.crossings++;
    const sig = this.abi.imports[id];
    const args = sig.params.map((t) => fromBits(this.u64(), t));
    const fn = this.hal[sig.name] as ((...a: unknown[]) => unknown) | undefined;
    let r: unknown;
    try {
      if (!fn) throw new Error(`native: no HAL handler for ${sig.name}`);
      r = fn(...args);
    } catch (e) {
      // As the exception would pass through the firmware's frames in V8: the runner
      // unwinds the innermost export call, then the exception goes on up.
      this.sendChanges();
      this.send(Buffer.from("U"));
      this.flush();
      for (;;) {
        const type = String.fromCharCode(this.u8());
        if (type === "M") { this.takeChange(); continue; }
        if (type === "X") { this.cycles = this.u64(); break; }
        throw new Error(`native runner: ${type} while unwinding`);
      }
      throw e;
    }
    const m = Buffer.alloc(17);
    m.write("V", 0);
    m.writeBigUInt64LE(sig.result ? toBits(r, sig.result) : 0n, 1);
    m.writeBigUInt64LE(BigInt.asUintN(64, this.deadline), 9);
    this.sendChanges();
    this.send(m);
    this.flush();
  }

  // ---- memory --------------------------------------------------------------------

  private takeChange(): void {
    const at = this.u32(), n = this.u32();
    this.read(this.mem, at, n);
    this.shadow.set(this.mem.subarray(at, at + n), at);
  }

  /** The chunks the board changed since the last crossing. */
  private sendChanges(): void {
    // Most crossings change nothing on this side: one memcmp says so.
    if (Buffer.compare(this.memView, this.shadowView) === 0) return;
    const a = this.memWords, b = this.shadowWords;
    const words = CHUNK_BYTES / 4;
    for (let c = 0; c < a.length; c += words) {
      let same = true;
      for (let i = c; i < c + words; i++) if (a[i] !== b[i]) { same = false; break; }
      if (same) continue;
      const at = c * 4;
      const h = Buffer.alloc(9);
      h.write("M", 0);
      h.writeUInt32LE(at, 1);
      h.writeUInt32LE(CHUNK_BYTES, 5);
      this.send(h);
      this.send(Buffer.from(this.mem.subarray(at, at + CHUNK_BYTES)));
      this.shadow.set(this.mem.subarray(at, at + CHUNK_BYTES), at);
    }
  }

  // ---- pipe I/O ------------------------------------------------------------------

  private send(b: Buffer): void { this.out.push(b); }

  private flush(): void {
    const all = Buffer.concat(this.out);
    this.out = [];
    for (let at = 0; at < all.length;) at += writeSync(this.fdOut, all, at, all.length - at);
  }

  private fill(): void {
    this.inPos = 0;
    this.inLen = readSync(this.fdIn, this.inBuf, 0, this.inBuf.length, null);
    if (this.inLen <= 0) throw new Error("native runner: the pipe closed (the runner died?)");
  }

  private read(dst: Uint8Array, at: number, n: number): void {
    while (n > 0) {
      if (this.inPos === this.inLen) this.fill();
      const k = Math.min(n, this.inLen - this.inPos);
      dst.set(this.inBuf.subarray(this.inPos, this.inPos + k), at);
      this.inPos += k; at += k; n -= k;
    }
  }

  private scratch = new Uint8Array(8);
  private u8(): number { this.read(this.scratch, 0, 1); return this.scratch[0]; }
  private u32(): number { this.read(this.scratch, 0, 4); return Buffer.from(this.scratch.buffer, 0, 4).readUInt32LE(0); }
  private u64(): bigint { this.read(this.scratch, 0, 8); return Buffer.from(this.scratch.buffer, 0, 8).readBigUInt64LE(0); }
}

/** A JS value as V8 would pass it to the wasm type, as 64 raw bits. */
function toBits(v: unknown, t: "u32" | "u64"): bigint {
  if (t === "u64") return BigInt.asUintN(64, typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v ?? 0))));
  return BigInt((Number(v ?? 0) | 0) >>> 0);
}

/** Raw bits as V8 hands the wasm type to JS: i32 signed, i64 a signed BigInt. */
function fromBits(v: bigint, t: "u32" | "u64" | null): unknown {
  if (t === null) return undefined;
  if (t === "u64") return BigInt.asIntN(64, v);
  return Number(BigInt.asIntN(32, v));
}

const live = new Set<NativeRuntime>();
process.on("exit", () => { for (const r of live) r.close(); });
