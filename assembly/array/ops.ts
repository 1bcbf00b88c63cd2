// The commands the array takes (array.ts runs them): one record per command queued
// or running, in the memory map (layout.ts array_ops_base), as the rest of the
// firmware handed it over on a tag: its CDB decoded, where its data is.

import { array_ops_base, array_ops_max, array_op_bytes, array_zero_base, block_bytes } from "../layout";
import { tag_cdb, tag_set_virtual } from "../base/tags";
import {
  OP_READ_16, OP_WRITE_16, OP_READ_10, OP_WRITE_10, OP_WRITE_LONG_10, OP_SYNCHRONIZE_CACHE_10,
  OP_TEST_UNIT_READY, OP_START_STOP_UNIT, be16, be32, be64, zero,
} from "../base/scsi";
import { OK, ERR_BUSY } from "../base/errors";

@inline const NONE: u32 = 0xffffffff;

// ---- the command records ----------------------------------------------------------
// @0 state u8 | @1 kind u8 | @2 caller tag u8 | @3 flags u8 | @4 blocks u16 |
// @6 sg entries u8 | @8 array LBA u64 | @16 data or sg address u32 | @20 arrival u32

@inline export const OP_FREE: u8 = 0;
@inline export const OP_QUEUED: u8 = 1;

@inline export const K_READ: u8 = 1;
@inline export const K_WRITE: u8 = 2;
@inline export const K_NOP: u8 = 4;    // SYNCHRONIZE CACHE, TEST UNIT READY: all writes are FUA
@inline export const K_BAD: u8 = 5;

@inline export const F_SG: u8 = 1;
/** A WRITE LONG: the block gets the zero pattern, then goes on the list. */
@inline export const F_MARK: u8 = 2;

@inline export function op_at(i: u32): usize { return array_ops_base + i * array_op_bytes; }
@inline export function op_state(i: u32): u8 { return load<u8>(op_at(i)); }
@inline export function op_kind(i: u32): u8 { return load<u8>(op_at(i), 1); }
@inline export function op_caller(i: u32): u32 { return load<u8>(op_at(i), 2); }
@inline export function op_flags(i: u32): u8 { return load<u8>(op_at(i), 3); }
@inline export function op_blocks(i: u32): u32 { return load<u16>(op_at(i), 4); }
@inline export function op_sg_n(i: u32): u32 { return load<u8>(op_at(i), 6); }
@inline export function op_lba(i: u32): u64 { return load<u64>(op_at(i), 8); }
@inline export function op_data(i: u32): usize { return <usize>load<u32>(op_at(i), 16); }
@inline export function op_arrival(i: u32): u32 { return load<u32>(op_at(i), 20); }

let arrivals: u32 = 0;

export function ops_init(): void {
  zero(array_zero_base, block_bytes);
  for (let i: u32 = 0; i < array_ops_max; i++) store<u8>(op_at(i), OP_FREE);
}

/** The command is done: its record is free. */
@inline export function op_free(i: u32): void { store<u8>(op_at(i), OP_FREE); }

/** A command for the array on `tag` (its CDB at tag_cdb): queue it. data/bytes for a
 * linear buffer, or sg/sg_n for a scatter-gather list. OK, or ERR_BUSY. */
export function array_submit(tag: u32, data: usize, bytes: u32, sg: usize, sg_n: u32): i32 {
  let slot = NONE;
  for (let i: u32 = 0; i < array_ops_max; i++) if (op_state(i) == OP_FREE) { slot = i; break; }
  if (slot == NONE) return ERR_BUSY;
  let cdb = tag_cdb(tag);
  let opc = load<u8>(cdb);
  let kind = K_BAD;
  let lba: u64 = 0;
  let blocks: u32 = 0;
  let mark = false;
  if (opc == OP_READ_16 || opc == OP_WRITE_16) {
    lba = be64(cdb + 2); blocks = be32(cdb + 10);
    kind = opc == OP_READ_16 ? K_READ : K_WRITE;
  } else if (opc == OP_READ_10 || opc == OP_WRITE_10) {
    lba = <u64>be32(cdb + 2); blocks = be16(cdb + 7);
    kind = opc == OP_READ_10 ? K_READ : K_WRITE;
  } else if (opc == OP_WRITE_LONG_10) {
    // Marking a block: it is written with the zero pattern like any write (its row's
    // parity follows), then listed. A listed block reads MEDIUM ERROR and counts as
    // zeros wherever its row is computed.
    lba = <u64>be32(cdb + 2); blocks = 1;
    kind = (load<u8>(cdb, 1) & 0x40) != 0 ? K_WRITE : K_BAD;
    mark = kind == K_WRITE;
    data = array_zero_base;
    sg_n = 0;
  } else if (opc == OP_SYNCHRONIZE_CACHE_10 || opc == OP_TEST_UNIT_READY || opc == OP_START_STOP_UNIT) {
    kind = K_NOP;
  }
  let p = op_at(slot);
  store<u8>(p, kind, 1);
  store<u8>(p, <u8>tag, 2);
  store<u8>(p, (sg_n > 0 ? F_SG : 0) | (mark ? F_MARK : 0), 3);
  store<u16>(p, <u16>blocks, 4);
  store<u8>(p, <u8>sg_n, 6);
  store<u64>(p, lba, 8);
  store<u32>(p, <u32>(sg_n > 0 ? sg : data), 16);
  store<u32>(p, arrivals++, 20);
  tag_set_virtual(tag);
  store<u8>(p, OP_QUEUED);
  return OK;
}

/** Address of block k (0..blocks−1) of command i's data. */
export function op_addr(i: u32, k: u32): usize {
  if ((op_flags(i) & F_SG) == 0) return op_data(i) + <usize>(k * block_bytes);
  let sg = op_data(i);
  let off = k * block_bytes;
  let n = op_sg_n(i);
  for (let e: u32 = 0; e < n; e++) {
    let len = load<u32>(sg + e * 8, 4);
    if (off < len) return <usize>load<u32>(sg + e * 8) + <usize>off;
    off -= len;
  }
  return 0;
}

