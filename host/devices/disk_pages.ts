// The data a disk returns for INQUIRY, MODE SENSE and READ CAPACITY (SPC-4 §6.6 and §7.8; SBC-3
// §6.4.5 for the caching page).

import { OP, putBe16, putBe32, putBe64, Command } from "../scsi/spc.js";
import { BLOCK_BYTES } from "./disk_media.js";

/** INQUIRY data: standard, and the VPD pages 00h, 80h (serial), 83h (device id) and
 * B0h (block limits: the largest transfer). */
export function inquiryData(cmd: Command, id: number, max_transfer_blocks: number): Uint8Array {
  let d: Uint8Array;
  const ascii = (s: string, n: number) => new TextEncoder().encode(s.padEnd(n).slice(0, n));
  if (!cmd.evpd) {
    d = new Uint8Array(74);
    d[2] = 0x06; d[3] = 0x02; d[4] = 69; d[7] = 0x02;
    putBe16(d, 58, 0x00a0); putBe16(d, 60, 0x0460); putBe16(d, 62, 0x04c0); // SAM-5, SPC-4, SBC-3
    d.set(ascii("EMU", 8), 8);
    d.set(ascii("DISK 1G 7200", 16), 16);
    d.set(ascii("1.0", 4), 32);
  } else if (cmd.page === 0x00) {
    d = Uint8Array.from([0, 0, 0, 4, 0x00, 0x80, 0x83, 0xb0]);
  } else if (cmd.page === 0x80) {
    d = new Uint8Array(12); d[1] = 0x80; d[3] = 8; d.set(ascii(`EMUD${id.toString().padStart(4, "0")}`, 8), 4);
  } else if (cmd.page === 0x83) {
    d = new Uint8Array(24); d[1] = 0x83; d[3] = 20; d[4] = 2; d[5] = 1; d[7] = 16;
    d.set(ascii("EMU", 8), 8); d.set(ascii(`EMUD${id.toString().padStart(4, "0")}`, 8), 16);
  } else {
    d = new Uint8Array(64); d[1] = 0xb0; d[3] = 0x3c;
    putBe32(d, 8, max_transfer_blocks);
  }
  return d.slice(0, Math.min(d.length, cmd.alloc));
}

/** MODE SENSE (6) or (10): the caching page (08h) with WCE, the control page (0Ah,
 * defaults), and a block descriptor unless DBD. */
export function modeSenseData(cmd: Command, writeCacheEnabled: boolean, blocks: number): Uint8Array {
  const ten = cmd.op === OP.MODE_SENSE_10;
  const header = ten ? 8 : 4;
  const bd = cmd.dbd ? 0 : 8;
  const caching = cmd.page === 0x08 || cmd.page === 0x3f, control = cmd.page === 0x0a || cmd.page === 0x3f;
  const d = new Uint8Array(header + bd + (caching ? 20 : 0) + (control ? 12 : 0));
  if (caching) {
    const page = d.subarray(header + bd);
    page[0] = 0x08; page[1] = 0x12;
    if (cmd.pc !== 1 && writeCacheEnabled) page[2] = 0x04; // WCE (SBC-3 6.4.5)
    if (cmd.pc === 1) page[2] = 0x04; // changeable: WCE
  }
  if (control) { const page = d.subarray(header + bd + (caching ? 20 : 0)); page[0] = 0x0a; page[1] = 0x0a; } // SPC-4 7.5.8
  if (bd) {
    const b = d.subarray(header);
    const n = Math.min(blocks, 0xffffff);
    b[1] = n >> 16; b[2] = (n >> 8) & 0xff; b[3] = n & 0xff;
    b[6] = BLOCK_BYTES >> 8;
  }
  if (ten) { putBe16(d, 0, d.length - 2); d[3] = 0x10; putBe16(d, 6, bd); }
  else { d[0] = d.length - 1; d[2] = 0x10; d[3] = bd; }
  return d.slice(0, Math.min(d.length, cmd.alloc));
}

/** READ CAPACITY(10) data: the last LBA (capped at FFFFFFFFh) and the block size. */
export function readCapacity10Data(blocks: number): Uint8Array {
  const d = new Uint8Array(8);
  putBe32(d, 0, Math.min(blocks - 1, 0xffffffff));
  putBe32(d, 4, BLOCK_BYTES);
  return d;
}

/** READ CAPACITY(16) data (SBC-3 §5.16), cut to the allocation length. */
export function readCapacity16Data(blocks: number, alloc: number): Uint8Array {
  const d = new Uint8Array(32);
  putBe64(d, 0, BigInt(blocks - 1));
  putBe32(d, 8, BLOCK_BYTES);
  return d.slice(0, Math.min(32, alloc));
}
