import { crc32c } from "../base/crc32c";

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
