import { crc32c, crc32c_correct } from "../base/crc32c";

/** Copy a byte string into a fresh buffer and return its address. */
function bytes(values: u8[]): usize {
  let p = heap.alloc(<usize>values.length + 1); // raw memory: not collected by the runtime
  for (let i = 0; i < values.length; i++) store<u8>(p + i, values[i]);
  return p;
}

function ascii(s: string): usize {
  let v: u8[] = [];
  for (let i = 0; i < s.length; i++) v.push(<u8>s.charCodeAt(i));
  return bytes(v);
}

describe("crc32c", () => {
  it("gives the check value 0xE3069283 for '123456789'", () => {
    expect(crc32c(ascii("123456789"), 9, 0)).toBe(0xe3069283);
  });

  it("matches the RFC 3720 B.4 vectors", () => {
    let zeros: u8[] = [];
    let ones: u8[] = [];
    let inc: u8[] = [];
    let dec: u8[] = [];
    for (let i = 0; i < 32; i++) {
      zeros.push(0);
      ones.push(0xff);
      inc.push(<u8>i);
      dec.push(<u8>(31 - i));
    }
    expect(crc32c(bytes(zeros), 32, 0)).toBe(0x8a9136aa);
    expect(crc32c(bytes(ones), 32, 0)).toBe(0x62a8ab43);
    expect(crc32c(bytes(inc), 32, 0)).toBe(0x46dd794e);
    expect(crc32c(bytes(dec), 32, 0)).toBe(0x113fdb5c);
  });

  it("is 0 for no bytes", () => {
    expect(crc32c(bytes([]), 0, 0)).toBe(0);
  });

  it("extends across calls at any split and any alignment", () => {
    let p = ascii("xx123456789");
    let whole = crc32c(p + 2, 9, 0);
    for (let split: u32 = 0; split <= 9; split++) {
      let first = crc32c(p + 2, split, 0);
      expect(crc32c(p + 2 + split, 9 - split, first)).toBe(whole);
    }
    let q = ascii("y123456789");
    expect(crc32c(q + 1, 9, 0)).toBe(0xe3069283);
  });
});

/** A 256-byte page: 252 bytes of a pattern and their CRC-32C from `seed`. */
function page(seed: u32): usize {
  let p = heap.alloc(256);
  for (let i: u32 = 0; i < 252; i++) store<u8>(p + i, <u8>(i * 7 + 3));
  store<u32>(p + 252, crc32c(p, 252, seed));
  return p;
}

function same(a: usize, b: usize, n: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

describe("crc32c_correct", () => {
  it("leaves a good page alone", () => {
    let p = page(0x1234);
    expect(crc32c_correct(p, 252, 0x1234)).toBe(0);
  });

  it("corrects every single wrong bit of a page, the CRC's own included", () => {
    let good = page(0x1234);
    let q = heap.alloc(256);
    let wrong: u32 = 0;
    for (let bit: u32 = 0; bit < 256 * 8; bit++) {
      for (let i: u32 = 0; i < 256; i++) store<u8>(q + i, load<u8>(good + i));
      store<u8>(q + (bit >>> 3), <u8>(<u32>load<u8>(q + (bit >>> 3)) ^ (<u32>1 << (bit & 7))));
      if (crc32c_correct(q, 252, 0x1234) != 1 || !same(q, good, 256)) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it("detects two wrong bits instead of miscorrecting them (a sample of pairs)", () => {
    let good = page(7);
    let q = heap.alloc(256);
    let missed: u32 = 0;
    for (let a: u32 = 0; a < 2048; a += 37) {
      for (let b: u32 = a + 1; b < 2048; b += 101) {
        for (let i: u32 = 0; i < 256; i++) store<u8>(q + i, load<u8>(good + i));
        store<u8>(q + (a >>> 3), <u8>(<u32>load<u8>(q + (a >>> 3)) ^ (<u32>1 << (a & 7))));
        store<u8>(q + (b >>> 3), <u8>(<u32>load<u8>(q + (b >>> 3)) ^ (<u32>1 << (b & 7))));
        if (crc32c_correct(q, 252, 7) != -1) missed++;
      }
    }
    expect(missed).toBe(0);
  });
});
