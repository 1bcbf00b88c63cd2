import { secded_encode, secded_decode, secded_check_byte, secded_fix_word } from "../base/secded";
import { ERR_UNCORRECTABLE } from "../base/errors";

function buffer(len: i32): usize {
  return heap.alloc(<usize>len); // raw memory: not moved or collected by the test runtime
}

/** Flip bit `bit` of the 72-bit codeword: 0..63 in the data, 64..71 in the check byte. */
function flip(data: usize, check: usize, bit: i32): void {
  if (bit < 64) {
    let at = data + <usize>(bit >> 3);
    store<u8>(at, load<u8>(at) ^ <u8>(<u32>1 << <u32>(bit & 7)));
  } else {
    store<u8>(check, load<u8>(check) ^ <u8>(<u32>1 << <u32>(bit - 64)));
  }
}

function fill_pattern(p: usize, len: i32, seed: u32): void {
  let x = seed;
  for (let i = 0; i < len; i++) {
    x = x * 1103515245 + 12345;
    store<u8>(p + i, <u8>(x >>> 16));
  }
}

describe("secded (72,64)", () => {
  it("gives check byte 0 for a zero word", () => {
    let p = buffer(8);
    expect(secded_check_byte(p)).toBe(0);
  });

  it("puts data bit 0 at Hamming position 3 (check bits 0 and 1, parity 1)", () => {
    let p = buffer(8);
    store<u8>(p, 1);
    expect(secded_check_byte(p)).toBe(0x83);
  });

  it("reads back clean data as clean", () => {
    let data = buffer(64);
    let check = buffer(8);
    fill_pattern(data, 64, 7);
    secded_encode(data, 8, check);
    expect(secded_decode(data, 8, check)).toBe(0);
  });

  it("corrects every single-bit error in data and check bits", () => {
    let data = buffer(8);
    let check = buffer(1);
    let orig = buffer(8);
    fill_pattern(orig, 8, 99);
    for (let bit = 0; bit < 72; bit++) {
      for (let i = 0; i < 8; i++) store<u8>(data + i, load<u8>(orig + i));
      secded_encode(data, 1, check);
      let good_check = load<u8>(check);
      flip(data, check, bit);
      expect(secded_fix_word(data, check)).toBe(1);
      for (let i = 0; i < 8; i++) expect(load<u8>(data + i)).toBe(load<u8>(orig + i));
      expect(load<u8>(check)).toBe(good_check);
    }
  });

  it("detects every double-bit error and leaves the word alone", () => {
    let data = buffer(8);
    let check = buffer(1);
    for (let a = 0; a < 72; a++) {
      for (let b = a + 1; b < 72; b += 5) {
        fill_pattern(data, 8, 3);
        secded_encode(data, 1, check);
        flip(data, check, a);
        flip(data, check, b);
        expect(secded_fix_word(data, check)).toBe(ERR_UNCORRECTABLE);
      }
    }
  });

  it("corrects one word and reports another as uncorrectable in one buffer", () => {
    let data = buffer(16);
    let check = buffer(2);
    fill_pattern(data, 16, 11);
    secded_encode(data, 2, check);
    store<u8>(data, load<u8>(data) ^ 0x10);
    store<u8>(data + 8, load<u8>(data + 8) ^ 0x03);
    expect(secded_decode(data, 2, check)).toBe(ERR_UNCORRECTABLE);
  });
});
