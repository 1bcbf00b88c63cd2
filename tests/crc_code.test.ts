// The page code (docs/SPEC.md "Page"): a 256-byte page is 252 bytes and their
// CRC-32C, which the firmware uses to correct one wrong bit (base/crc32c.ts
// crc32c_correct). That is sound only if, at this length, every single-bit error has
// its own non-zero syndrome and no two-bit error has the syndrome of a single-bit one
// (or none): checked here for all 2,048 bits and all 2,096,128 pairs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32c } from "../host/crc.js";

const PAGE_BITS = 256 * 8;
const DATA_BYTES = 252;

/** The syndrome (computed CRC xor stored CRC) a flip of page bit `bit` leaves. */
function syndromes(): Uint32Array {
  const page = new Uint8Array(256);
  const clean = crc32c(page.subarray(0, DATA_BYTES));
  const out = new Uint32Array(PAGE_BITS);
  for (let bit = 0; bit < PAGE_BITS; bit++) {
    const byte = bit >> 3;
    if (byte < DATA_BYTES) {
      page[byte] ^= 1 << (bit & 7);
      out[bit] = (crc32c(page.subarray(0, DATA_BYTES)) ^ clean) >>> 0;
      page[byte] ^= 1 << (bit & 7);
    } else {
      out[bit] = (1 << (bit - DATA_BYTES * 8)) >>> 0; // a bit of the stored CRC
    }
  }
  return out;
}

test("CRC-32C over a 256-byte page: one wrong bit is located, two are never mistaken for one", () => {
  const s = syndromes();
  const single = new Set<number>(s);
  assert.equal(single.size, PAGE_BITS, "every single-bit error has its own syndrome");
  assert.ok(!single.has(0), "and none is zero");
  let clash = 0;
  for (let a = 0; a < PAGE_BITS; a++) {
    for (let b = a + 1; b < PAGE_BITS; b++) {
      const d = (s[a] ^ s[b]) >>> 0;
      if (d === 0 || single.has(d)) clash++;
    }
  }
  assert.equal(clash, 0, "two-bit errors whose syndrome is zero or a single-bit one");
});
