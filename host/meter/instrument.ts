// Metering: rewrite a WASM module so that it counts cycles and yields to the emulator.
//
// For every basic block (a straight run of instructions between control points:
// function entry, block/loop/if/else/end, br*, return, call), the rewriter inserts
//     global.get $cycles; i64.const <cost>; i64.add; global.set $cycles
// at the start of the block, where <cost> is the sum of COST over its instructions
// (costs.ts). The sequence is stack-neutral, so it is valid anywhere.
//
// At each function entry and loop head it also inserts
//     global.get $cycles; global.get $deadline; i64.ge_u
//     if  global.get $cycles; call $hal.meter_tick  end
// so that the emulator gets control back when its next event is due and can run an
// interrupt handler there, between blocks, as the MCU would.
//
// It adds the import hal.meter_tick (i64 cycles) -> (), and exports
//     __meter_cycles() -> i64, __meter_set_deadline(i64) -> ().
// Function indices shift by one (the new import); calls, exports, the start function
// and element segments are renumbered. Custom sections (names) are dropped.
//
// This works at the instruction level rather than on binaryen's expression tree
// because basic blocks are defined by the instruction stream: a br_if in the middle of
// an expression ends a block, and a stack-neutral insert there is trivial here.

import { COST, classOf, classOfFC } from "./costs.js";

// ---- byte reader / writer -------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }
  get done(): boolean { return this.pos >= this.end; }
  u8(): number {
    if (this.pos >= this.end) throw new Error("wasm: unexpected end");
    return this.buf[this.pos++];
  }
  u32(): number {
    let result = 0, shift = 0, b: number;
    do {
      b = this.u8();
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && shift < 35);
    if (b & 0x80) throw new Error("wasm: LEB too long");
    return result >>> 0;
  }
  /** Skip a signed LEB of up to maxBits. */
  skipSleb(maxBits: number): void {
    let b: number, n = 0;
    do { b = this.u8(); n++; } while (b & 0x80 && n * 7 < maxBits + 7);
    if (b & 0x80) throw new Error("wasm: sLEB too long");
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new Error("wasm: unexpected end");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    return new TextDecoder().decode(this.bytes(this.u32()));
  }
}

class Writer {
  private chunks: number[] = [];
  u8(b: number): this { this.chunks.push(b & 0xff); return this; }
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.chunks.push(b);
    } while (v !== 0);
    return this;
  }
  s64(v: bigint): this {
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.chunks.push(done ? b : b | 0x80);
      if (done) return this;
    }
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.chunks.push(b[i]);
    return this;
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }
  get length(): number { return this.chunks.length; }
  toBytes(): Uint8Array<ArrayBuffer> { return Uint8Array.from(this.chunks); }
}

// ---- module structure ------------------------------------------------------------------

interface Section { id: number; body: Uint8Array; }

function readSections(wasm: Uint8Array): Section[] {
  const magic = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  for (let i = 0; i < 8; i++) {
    if (wasm[i] !== magic[i]) throw new Error("wasm: bad magic or version");
  }
  const r = new Reader(wasm, 8);
  const out: Section[] = [];
  while (!r.done) {
    const id = r.u8();
    const size = r.u32();
    out.push({ id, body: r.bytes(size) });
  }
  return out;
}

const SECTION_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/** Skip one instruction's immediates; returns nothing, moves r past them. Throws on
 * an opcode outside MVP + sign extension + saturating truncation + bulk memory. */
function skipImmediates(r: Reader, op: number): void {
  switch (op) {
    case 0x02: case 0x03: case 0x04: { // blocktype
      const b = r.buf[r.pos];
      if (b === 0x40 || (b >= 0x7b && b <= 0x7f) || b === 0x70 || b === 0x6f) r.pos++;
      else r.skipSleb(33);
      return;
    }
    case 0x0c: case 0x0d: r.u32(); return;
    case 0x0e: { const n = r.u32(); for (let i = 0; i <= n; i++) r.u32(); return; }
    case 0x10: r.u32(); return;
    case 0x11: r.u32(); r.u32(); return;
    case 0x1c: { const n = r.u32(); r.bytes(n); return; }
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
      r.u32(); return;
    case 0x3f: case 0x40: r.u8(); return;
    case 0x41: r.skipSleb(32); return;
    case 0x42: r.skipSleb(64); return;
    case 0x43: r.bytes(4); return;
    case 0x44: r.bytes(8); return;
    case 0xd0: r.u8(); return;
    case 0xd2: r.u32(); return;
    case 0xfc: {
      const sub = r.u32();
      if (sub <= 7) return;
      if (sub === 8) { r.u32(); r.u8(); return; }      // memory.init
      if (sub === 9) { r.u32(); return; }              // data.drop
      if (sub === 10) { r.u8(); r.u8(); return; }      // memory.copy
      if (sub === 11) { r.u8(); return; }              // memory.fill
      throw new Error(`wasm: unsupported 0xFC ${sub}`);
    }
  }
  if (op >= 0x28 && op <= 0x3e) { r.u32(); r.u32(); return; }
  if (op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0b || op === 0x0f ||
      op === 0x1a || op === 0x1b || op === 0xd1 || (op >= 0x45 && op <= 0xc4)) return;
  throw new Error(`wasm: unsupported opcode 0x${op.toString(16)}`);
}

/** Does a basic block end after this instruction? */
function endsBlock(op: number): boolean {
  return op === 0x00 || (op >= 0x02 && op <= 0x05) || (op >= 0x0b && op <= 0x11);
}

export interface MeterOptions {
  /** Insert the deadline check at loop heads and function entries (default true). */
  checks?: boolean;
  /** Also check at the start of every basic block and before every store: an
   * interrupt can then land wherever the firmware changes memory, as on the MCU,
   * where it lands between any two instructions (the torture's preemption mode). */
  fine?: boolean;
}

/** i32/i64/f32/f64 stores, and the narrow ones (0x36..0x3e). */
const isStore = (op: number) => op >= 0x36 && op <= 0x3e;

export interface MeterReport {
  functions: number;
  blocks: number;
  checks: number;
}

/** Instrument one function body (locals + expression). Indices of defined functions
 * move up by one; calls to them are rewritten. */
function instrumentBody(
  body: Uint8Array, ctx: {
    importedFuncs: number; tickIndex: number; cyclesGlobal: number;
    deadlineGlobal: number; checks: boolean; fine: boolean; report: MeterReport;
  },
): Uint8Array {
  const r = new Reader(body);
  const w = new Writer();
  const localGroups = r.u32();
  w.u32(localGroups);
  for (let i = 0; i < localGroups; i++) { w.u32(r.u32()); w.u8(r.u8()); }

  // First pass: instruction boundaries, block costs, loop heads.
  interface Ins { start: number; end: number; op: number; }
  const ins: Ins[] = [];
  while (!r.done) {
    const start = r.pos;
    const op = r.u8();
    skipImmediates(r, op);
    ins.push({ start, end: r.pos, op });
  }
  // Block costs: blockStartCost[i] is the cost of the block starting at instruction i.
  const blockStartCost = new Map<number, number>();
  let blockStart = 0;
  let cost = 0;
  for (let i = 0; i < ins.length; i++) {
    const op = ins[i].op;
    cost += op === 0xfc ? COST[classOfFC(body[ins[i].start + 1])] : COST[classOf(op)];
    if (endsBlock(op)) {
      blockStartCost.set(blockStart, cost);
      blockStart = i + 1;
      cost = 0;
    }
  }
  if (blockStart < ins.length) blockStartCost.set(blockStart, cost);

  const emitCharge = (n: number) => {
    w.u8(0x23).u32(ctx.cyclesGlobal).u8(0x42).s64(BigInt(n)).u8(0x7c)
      .u8(0x24).u32(ctx.cyclesGlobal);
    ctx.report.blocks++;
  };
  const emitCheck = () => {
    w.u8(0x23).u32(ctx.cyclesGlobal).u8(0x23).u32(ctx.deadlineGlobal).u8(0x5a)
      .u8(0x04).u8(0x40).u8(0x23).u32(ctx.cyclesGlobal).u8(0x10).u32(ctx.tickIndex)
      .u8(0x0b);
    ctx.report.checks++;
  };

  for (let i = 0; i < ins.length; i++) {
    const atEntry = i === 0;
    const afterLoop = i > 0 && ins[i - 1].op === 0x03;
    const c = blockStartCost.get(i);
    const { start, end, op } = ins[i];
    if (ctx.checks && (atEntry || afterLoop)) emitCheck();
    else if (ctx.checks && ctx.fine && c !== undefined) emitCheck();
    if (c !== undefined && c > 0) emitCharge(c);
    // Before a store: its block's cost is already charged, so the check sees the
    // clock where the store happens.
    if (ctx.checks && ctx.fine && isStore(op) && c === undefined) emitCheck();
    if (op === 0x10) {
      const rr = new Reader(body, start + 1, end);
      const f = rr.u32();
      w.u8(0x10).u32(f >= ctx.importedFuncs ? f + 1 : f);
    } else if (op === 0xd2) {
      const rr = new Reader(body, start + 1, end);
      const f = rr.u32();
      w.u8(0xd2).u32(f >= ctx.importedFuncs ? f + 1 : f);
    } else {
      w.bytes(body.subarray(start, end));
    }
  }
  return w.toBytes();
}

/** Rewrite the module; see the file comment. */
export function meter(wasm: Uint8Array, opts: MeterOptions = {}): {
  wasm: Uint8Array<ArrayBuffer>; report: MeterReport;
} {
  const checks = opts.checks ?? true;
  const fine = opts.fine ?? false;
  const sections = readSections(wasm).filter((s) => s.id !== 0);
  const get = (id: number) => sections.find((s) => s.id === id);
  const report: MeterReport = { functions: 0, blocks: 0, checks: 0 };

  // Types: append (i64)->() and ()->i64.
  const typeSec = get(1);
  const typeR = typeSec ? new Reader(typeSec.body) : null;
  const typeCount = typeR ? typeR.u32() : 0;
  const typeW = new Writer().u32(typeCount + 2);
  if (typeR) typeW.bytes(typeSec!.body.subarray(typeR.pos));
  const tI64ToVoid = typeCount;
  const tVoidToI64 = typeCount + 1;
  typeW.u8(0x60).u32(1).u8(0x7e).u32(0);
  typeW.u8(0x60).u32(0).u32(1).u8(0x7e);

  // Imports: count functions and globals, append hal.meter_tick.
  const impSec = get(2);
  let importedFuncs = 0, importedGlobals = 0, importCount = 0;
  const impW = new Writer();
  if (impSec) {
    const r = new Reader(impSec.body);
    importCount = r.u32();
    const start = r.pos;
    for (let i = 0; i < importCount; i++) {
      r.name(); r.name();
      const kind = r.u8();
      if (kind === 0) { r.u32(); importedFuncs++; }
      else if (kind === 1) { r.u8(); const f = r.u8(); r.u32(); if (f & 1) r.u32(); }
      else if (kind === 2) { const f = r.u8(); r.u32(); if (f & 1) r.u32(); }
      else if (kind === 3) { r.u8(); r.u8(); importedGlobals++; }
      else throw new Error("wasm: bad import kind");
    }
    impW.u32(importCount + 1).bytes(impSec.body.subarray(start));
  } else {
    impW.u32(1);
  }
  impW.name("hal").name("meter_tick").u8(0).u32(tI64ToVoid);
  const tickIndex = importedFuncs;
  const shift = (f: number) => (f >= importedFuncs ? f + 1 : f);

  // Functions: append two.
  const funcSec = get(3);
  const funcR = funcSec ? new Reader(funcSec.body) : null;
  const definedFuncs = funcR ? funcR.u32() : 0;
  const funcW = new Writer().u32(definedFuncs + 2);
  if (funcR) funcW.bytes(funcSec!.body.subarray(funcR.pos));
  funcW.u32(tVoidToI64).u32(tI64ToVoid);
  const getCyclesIndex = importedFuncs + 1 + definedFuncs;
  const setDeadlineIndex = getCyclesIndex + 1;

  // Globals: append $cycles and $deadline (mutable i64, 0).
  const globSec = get(6);
  const globR = globSec ? new Reader(globSec.body) : null;
  const definedGlobals = globR ? globR.u32() : 0;
  const globW = new Writer().u32(definedGlobals + 2);
  if (globR) globW.bytes(globSec!.body.subarray(globR.pos));
  const cyclesGlobal = importedGlobals + definedGlobals;
  const deadlineGlobal = cyclesGlobal + 1;
  for (let i = 0; i < 2; i++) globW.u8(0x7e).u8(1).u8(0x42).s64(0n).u8(0x0b);

  // Exports: renumber functions, append the two accessors.
  const expSec = get(7);
  const expW = new Writer();
  {
    const r = expSec ? new Reader(expSec.body) : null;
    const n = r ? r.u32() : 0;
    expW.u32(n + 2);
    for (let i = 0; i < n; i++) {
      const name = r!.name();
      const kind = r!.u8();
      const idx = r!.u32();
      expW.name(name).u8(kind).u32(kind === 0 ? shift(idx) : idx);
    }
    expW.name("__meter_cycles").u8(0).u32(getCyclesIndex);
    expW.name("__meter_set_deadline").u8(0).u32(setDeadlineIndex);
  }

  // Start: renumber.
  const startSec = get(8);
  const startW = startSec ? new Writer().u32(shift(new Reader(startSec.body).u32())) : null;

  // Elements: renumber (MVP form 0 only: active, table 0, offset expr, func indices).
  const elemSec = get(9);
  let elemW: Writer | null = null;
  if (elemSec) {
    const r = new Reader(elemSec.body);
    const n = r.u32();
    elemW = new Writer().u32(n);
    for (let i = 0; i < n; i++) {
      const flags = r.u32();
      if (flags !== 0) throw new Error(`wasm: element segment form ${flags} unsupported`);
      elemW.u32(0);
      const exprStart = r.pos;
      for (;;) { const op = r.u8(); skipImmediates(r, op); if (op === 0x0b) break; }
      elemW.bytes(elemSec.body.subarray(exprStart, r.pos));
      const k = r.u32();
      elemW.u32(k);
      for (let j = 0; j < k; j++) elemW.u32(shift(r.u32()));
    }
  }

  // Code: instrument every body, append the accessors.
  const codeSec = get(10);
  const codeW = new Writer();
  {
    const r = codeSec ? new Reader(codeSec.body) : null;
    const n = r ? r.u32() : 0;
    codeW.u32(n + 2);
    const ctx = { importedFuncs, tickIndex, cyclesGlobal, deadlineGlobal, checks, fine, report };
    for (let i = 0; i < n; i++) {
      const size = r!.u32();
      const body = instrumentBody(r!.bytes(size), ctx);
      codeW.u32(body.length).bytes(body);
      report.functions++;
    }
    const getBody = new Writer().u32(0).u8(0x23).u32(cyclesGlobal).u8(0x0b).toBytes();
    codeW.u32(getBody.length).bytes(getBody);
    const setBody = new Writer().u32(0).u8(0x20).u32(0).u8(0x24).u32(deadlineGlobal)
      .u8(0x0b).toBytes();
    codeW.u32(setBody.length).bytes(setBody);
  }

  const replaced = new Map<number, Uint8Array>([
    [1, typeW.toBytes()], [2, impW.toBytes()], [3, funcW.toBytes()],
    [6, globW.toBytes()], [7, expW.toBytes()], [10, codeW.toBytes()],
  ]);
  if (startW) replaced.set(8, startW.toBytes());
  if (elemW) replaced.set(9, elemW.toBytes());

  const out = new Writer().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  for (const id of SECTION_ORDER) {
    const body = replaced.get(id) ?? get(id)?.body;
    if (!body) continue;
    out.u8(id).u32(body.length).bytes(body);
  }
  return { wasm: out.toBytes(), report };
}

/** Data segments of a module as [offset, length] (active, i32.const offset only). */
export function dataSegments(wasm: Uint8Array): Array<[number, number]> {
  const data = readSections(wasm).find((s) => s.id === 11);
  if (!data) return [];
  const r = new Reader(data.body);
  const n = r.u32();
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    if (flags === 1) { r.bytes(r.u32()); continue; } // passive
    if (flags === 2) r.u32();
    if (r.u8() !== 0x41) throw new Error("wasm: data offset is not i32.const");
    // i32.const sLEB
    let result = 0, shift = 0, b: number;
    do { b = r.u8(); result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    if (shift < 32 && b & 0x40) result |= -1 << shift;
    if (r.u8() !== 0x0b) throw new Error("wasm: data offset expression too long");
    const len = r.u32();
    r.bytes(len);
    out.push([result >>> 0, len]);
  }
  return out;
}
