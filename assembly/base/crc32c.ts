// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI (RFC 3720 B.4)
// and ext4/btrfs metadata. Slicing-by-8: eight 256-entry tables (8 KiB of static
// memory, computed at boot), one table lookup per input byte but eight bytes per step
// (Intel's "slicing-by-8", Kounavis and Berry 2005): the lookups of a step do not
// depend on each other, which is what makes it fast in V8 and on a pipelined core.
//
// crc32c(ptr, len, 0) of "123456789" is 0xE3069283.

/** Byte-at-a-time table T0 followed by T1..T7 for slicing-by-8 (8 × 256 × u32):
 * T_k[i] = (T_{k−1}[i] >>> 8) ^ T0[T_{k−1}[i] & 0xFF]. Static memory, zero in the
 * image and filled by crc32c_init: the build carries no 8 KiB table (flash), only
 * the few dozen bytes that compute it. */
const crc32c_table: usize = memory.data(8192, 16);
let crc32c_ready: bool = false;

/** Fill the tables (about 4,000 steps). main() calls it first; crc32c calls it too if
 * it runs before (a test, or an interrupt at the very start: filling twice writes the
 * same values). */
export function crc32c_init(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k: u32 = 0; k < 8; k++) c = crc32c_step(c);
    store<u32>(crc32c_table + (i << 2), c);
  }
  for (let t: u32 = 1; t < 8; t++) {
    for (let i: u32 = 0; i < 256; i++) {
      let prev = load<u32>(crc32c_table + ((t - 1) << 10) + (i << 2));
      store<u32>(crc32c_table + (t << 10) + (i << 2), (prev >>> 8) ^ load<u32>(crc32c_table + ((prev & 0xff) << 2)));
    }
  }
  crc32c_ready = true;
}

@inline const t1: usize = 1024;
@inline const t2: usize = 2048;
@inline const t3: usize = 3072;
@inline const t4: usize = 4096;
@inline const t5: usize = 5120;
@inline const t6: usize = 6144;
@inline const t7: usize = 7168;

/** Continue a CRC-32C over len bytes at ptr. Pass 0 to start; the result is final
 * (inverted) and can be passed back in to extend it over more data. */
export function crc32c(ptr: usize, len: u32, crc_in: u32): u32 {
  if (!crc32c_ready) crc32c_init();
  let crc = ~crc_in;
  let p = ptr;
  // Bytes until p is 4-aligned, then 8 bytes a step (two word loads), then the tail.
  // The table's address is the loads' constant offset, so a lookup is an index and a
  // load. Each loop is bounded by len.
  while (len != 0 && (p & 3) != 0) {
    crc = load<u32>(((crc ^ load<u8>(p)) & 0xFF) << 2, crc32c_table) ^ (crc >>> 8);
    p++;
    len--;
  }
  while (len >= 8) {
    let a = crc ^ load<u32>(p);
    let b = load<u32>(p, 4);
    crc =
      load<u32>((a << 2) & 0x3fc, crc32c_table + t7) ^
      load<u32>((a >>> 6) & 0x3fc, crc32c_table + t6) ^
      load<u32>((a >>> 14) & 0x3fc, crc32c_table + t5) ^
      load<u32>((a >>> 22) & 0x3fc, crc32c_table + t4) ^
      load<u32>((b << 2) & 0x3fc, crc32c_table + t3) ^
      load<u32>((b >>> 6) & 0x3fc, crc32c_table + t2) ^
      load<u32>((b >>> 14) & 0x3fc, crc32c_table + t1) ^
      load<u32>((b >>> 22) & 0x3fc, crc32c_table);
    p += 8;
    len -= 8;
  }
  while (len >= 4) {
    crc ^= load<u32>(p);
    crc =
      load<u32>((crc & 0xFF) << 2, crc32c_table + t3) ^
      load<u32>(((crc >>> 8) & 0xFF) << 2, crc32c_table + t2) ^
      load<u32>(((crc >>> 16) & 0xFF) << 2, crc32c_table + t1) ^
      load<u32>((crc >>> 24) << 2, crc32c_table);
    p += 4;
    len -= 4;
  }
  while (len != 0) {
    crc = load<u32>(((crc ^ load<u8>(p)) & 0xFF) << 2, crc32c_table) ^ (crc >>> 8);
    p++;
    len--;
  }
  return ~crc;
}

// ---- single-bit correction ------------------------------------------------------------
//
// CRC-32C's Hamming distance is 6 for messages of 178 to 5,243 bits (Koopman, "32-bit
// cyclic redundancy codes for Internet applications", DSN 2002): over a 256-byte page
// (2,016 bits of data and its 32-bit CRC) it corrects any one wrong bit and still
// detects any two to four. The CRC is linear: for data D with a flipped bit,
// crc(D') = crc(D) ^ r, where r (the syndrome) is the register that bit alone leaves
// after the bytes that follow it, independent of the data and the seed. A flipped bit
// b of byte j in n bytes enters the register as 1 << b and then goes through 8·(n−j)
// steps: after b shifts it is 1, so r = F^m(1) with m = 8·(n−j) − b, F being one
// step of the reflected register. A flipped bit k of the stored CRC gives r = 1 << k.

/** Bits of data crc32c_correct searches at most (a 256-byte page less its CRC). */
@inline export const crc32c_correct_bits_max: u32 = 2048;

/** One step of the reflected CRC-32C register with a zero bit in. */
@inline function crc32c_step(x: u32): u32 {
  return (x >>> 1) ^ (0x82f63b78 & (0 - (x & 1)));
}

/** The len bytes at p are followed by their CRC-32C (little-endian, at p + len),
 * computed from `seed`. Check them and correct one wrong bit (in the data or in the
 * stored CRC) in place. Returns 0 if they were right, 1 if one bit was corrected,
 * -1 if more than one bit is wrong (detected, not corrected). */
export function crc32c_correct(p: usize, len: u32, seed: u32): i32 {
  let syndrome = crc32c(p, len, seed) ^ load<u32>(p + len);
  if (syndrome == 0) return 0;
  if (popcnt<u32>(syndrome) == 1) {
    store<u32>(p + len, load<u32>(p + len) ^ syndrome);
    return 1;
  }
  let bits = len * 8;
  if (bits > crc32c_correct_bits_max) return -1;
  let x: u32 = 1;
  for (let m: u32 = 1; m <= bits; m++) {
    x = crc32c_step(x);
    if (x != syndrome) continue;
    let back = (m + 7) >>> 3;          // n − j
    let byte = p + len - back;
    let bit = back * 8 - m;
    store<u8>(byte, <u8>(<u32>load<u8>(byte) ^ (<u32>1 << bit)));
    return 1;
  }
  return -1;
}
