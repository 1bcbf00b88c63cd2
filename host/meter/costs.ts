// Cycle costs per WASM instruction for the metered build. The model is an AOT
// compilation of the firmware for a Cortex-M4F at 160 MHz (WAMR AOT, or code
// generated the same way): locals live in registers, i32 arithmetic is single-cycle,
// i64 takes register pairs, f64 is software. docs/CYCLES.md explains each figure and
// its source (ARM Cortex-M4 Technical Reference Manual, r0p1, §3.3 "Instruction set
// summary": cycle counts per instruction).

export type CostClass =
  | "free" | "const" | "global" | "load" | "store" | "alu32" | "mul32" | "div32"
  | "alu64" | "shift64" | "mul64" | "div64" | "bits" | "popcnt" | "f32" | "f32div"
  | "f64" | "convert" | "branch" | "br_table" | "call" | "call_indirect" | "return"
  | "select" | "memory_grow";

/** Cycles per class. */
export const COST: Record<CostClass, number> = {
  free: 0,          // block, loop, end, nop, drop, local.get/set/tee: no code or a move the allocator removes
  const: 1,         // MOV/MOVW+MOVT: 1 (a 32-bit constant may need 2; averaged to 1)
  global: 2,        // LDR/STR through the globals base: 2
  load: 2,          // LDR: 2 (TRM: 2 cycles, pipelined loads 1)
  store: 1,         // STR: 1 (write buffer)
  alu32: 1,         // ADD, SUB, AND, ORR, EOR, LSL, compares + conditional set
  mul32: 1,         // MUL: 1
  div32: 7,         // SDIV/UDIV: 2–12, early termination; 7 as a midpoint
  alu64: 2,         // ADDS+ADC and friends: two instructions
  shift64: 4,       // a 64-bit shift by a variable amount: 4 instructions on average
  mul64: 4,         // UMULL + 2 MLA
  div64: 60,        // __aeabi_uldivmod in software
  bits: 1,          // CLZ: 1; ctz = RBIT+CLZ counted as 1 each, rounded
  popcnt: 8,        // no instruction: a bit-twiddling sequence
  f32: 1,           // VADD/VMUL.F32: 1
  f32div: 14,       // VDIV.F32: 14
  f64: 40,          // soft double
  convert: 10,      // int<->float conversions, mostly library calls for f64
  branch: 3,        // B/Bcc taken: 1 + pipeline refill (1–3); charged at the edge
  br_table: 6,      // bounds check, table load, indirect branch
  call: 4,          // BL + pipeline refill + prologue
  call_indirect: 8, // signature check + BLX
  return: 3,        // BX LR / POP {PC}
  select: 2,        // IT + two MOVs
  memory_grow: 20,
};

/** The class of a one-byte opcode (MVP, sign extension); 0xFC-prefixed ones are
 * classed by classOfFC. */
export function classOf(op: number): CostClass {
  if (op === 0x00 || op === 0x01) return "free"; // unreachable, nop
  if (op >= 0x02 && op <= 0x05) return op === 0x04 || op === 0x05 ? "branch" : "free";
  if (op === 0x0b) return "free";
  if (op === 0x0c || op === 0x0d) return "branch";
  if (op === 0x0e) return "br_table";
  if (op === 0x0f) return "return";
  if (op === 0x10) return "call";
  if (op === 0x11) return "call_indirect";
  if (op === 0x1a) return "free";
  if (op === 0x1b || op === 0x1c) return "select";
  if (op >= 0x20 && op <= 0x22) return "free";
  if (op === 0x23 || op === 0x24) return "global";
  if (op >= 0x28 && op <= 0x35) return "load";
  if (op >= 0x36 && op <= 0x3e) return "store";
  if (op === 0x3f) return "const";
  if (op === 0x40) return "memory_grow";
  if (op >= 0x41 && op <= 0x44) return op === 0x42 ? "alu64" : "const";
  if (op >= 0x45 && op <= 0x4f) return "alu32";   // i32 compares
  if (op >= 0x50 && op <= 0x5a) return "alu64";   // i64 compares
  if (op >= 0x5b && op <= 0x66) return op <= 0x60 ? "f32" : "f64"; // float compares
  if (op === 0x67 || op === 0x68) return "bits";  // i32.clz, i32.ctz
  if (op === 0x69) return "popcnt";
  if (op >= 0x6a && op <= 0x6b) return "alu32";   // add, sub
  if (op === 0x6c) return "mul32";
  if (op >= 0x6d && op <= 0x70) return "div32";
  if (op >= 0x71 && op <= 0x78) return "alu32";   // and..rotr
  if (op === 0x79 || op === 0x7a) return "alu64"; // i64.clz, ctz
  if (op === 0x7b) return "popcnt";
  if (op >= 0x7c && op <= 0x7d) return "alu64";
  if (op === 0x7e) return "mul64";
  if (op >= 0x7f && op <= 0x82) return "div64";
  if (op >= 0x83 && op <= 0x85) return "alu64";
  if (op >= 0x86 && op <= 0x8a) return "shift64";
  if (op >= 0x8b && op <= 0x98) return op === 0x95 ? "f32div" : "f32";
  if (op >= 0x99 && op <= 0xa6) return "f64";
  if (op === 0xa7) return "alu32";                // i32.wrap_i64
  if (op >= 0xa8 && op <= 0xab) return "convert";
  if (op === 0xac || op === 0xad) return "alu32"; // i64.extend_i32: one MOV/ASR
  if (op >= 0xae && op <= 0xbb) return "convert";
  if (op >= 0xbc && op <= 0xbf) return "free";    // reinterpret
  if (op >= 0xc0 && op <= 0xc4) return "alu32";   // sign extension
  return "alu32";
}

export function classOfFC(sub: number): CostClass {
  if (sub <= 7) return "convert"; // saturating truncation
  return "call";                   // bulk memory (not in the MCU feature set)
}
