import { cdb_group_bytes, sense_build, be16, be32, be64, put_be32, put_be64, zero, copy } from "../base/scsi";

function buffer(len: i32): usize {
  return heap.alloc(<usize>len); // raw memory: not moved or collected by the test runtime
}

describe("scsi helpers", () => {
  it("derives the CDB length from the group code", () => {
    expect(cdb_group_bytes(0x00)).toBe(6);
    expect(cdb_group_bytes(0x28)).toBe(10);
    expect(cdb_group_bytes(0x5a)).toBe(10);
    expect(cdb_group_bytes(0x88)).toBe(16);
    expect(cdb_group_bytes(0xa0)).toBe(12);
    expect(cdb_group_bytes(0x60)).toBe(0);
    expect(cdb_group_bytes(0xe0)).toBe(0);
  });

  it("builds fixed-format sense with a field pointer", () => {
    let p = buffer(18);
    sense_build(p, 0x5, 0x2400, 7, -1);
    expect(load<u8>(p)).toBe(0x70);
    expect(load<u8>(p + 2)).toBe(0x5);
    expect(load<u8>(p + 7)).toBe(10);
    expect(load<u8>(p + 12)).toBe(0x24);
    expect(load<u8>(p + 13)).toBe(0x00);
    expect(load<u8>(p + 15)).toBe(0xc0);
    expect(be16(p + 16)).toBe(7);
    sense_build(p, 0x5, 0x2400, 1, 7);
    expect(load<u8>(p + 15)).toBe(0xcf);
    sense_build(p, 0x6, 0x2900, -1, -1);
    expect(load<u8>(p + 15)).toBe(0);
  });

  it("reads and writes big-endian fields", () => {
    let p = buffer(16);
    put_be32(p, 0x01020304);
    expect(load<u8>(p)).toBe(1);
    expect(load<u8>(p + 3)).toBe(4);
    expect(be32(p)).toBe(0x01020304);
    put_be64(p + 8, 0x0102030405060708);
    expect(be64(p + 8)).toBe(0x0102030405060708);
  });

  it("zeroes and copies odd lengths", () => {
    let a = buffer(21);
    let b = buffer(21);
    for (let i = 0; i < 21; i++) store<u8>(a + i, <u8>(i + 1));
    copy(b, a, 21);
    for (let i = 0; i < 21; i++) expect(load<u8>(b + i)).toBe(<u8>(i + 1));
    zero(b, 19);
    expect(load<u8>(b + 18)).toBe(0);
    expect(load<u8>(b + 19)).toBe(20);
  });
});
