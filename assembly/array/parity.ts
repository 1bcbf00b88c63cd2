// Parity arithmetic: a row's parity block is the XOR of its data blocks.

import { block_bytes } from "../layout";

/** dst ^= src over `bytes` (a multiple of 8; one block by default). */
export function xor_into(dst: usize, src: usize, bytes: u32 = block_bytes): void {
  for (let b: u32 = 0; b < bytes; b += 8) store<u64>(dst + b, load<u64>(dst + b) ^ load<u64>(src + b));
}
