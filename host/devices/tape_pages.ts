// The data an LTO drive returns (tape.ts): INQUIRY (standard and VPD 80h), MODE SENSE(6)
// with its block descriptor, READ POSITION's short form (SSC-3 §7.5.1).

import { putBe32 } from "../scsi/spc.js";

/** LTO-5's density code in the mode block descriptor (SSC-3 Annex, LTO-5: 58h). */
const DENSITY_LTO5 = 0x58;

export function tapeInquiry(serial: string, c: Uint8Array): Uint8Array {
  const alloc = (c[3] << 8) | c[4];
  if (c[1] & 1) {
    // VPD 80h: the unit serial number.
    const sn = new TextEncoder().encode(serial.padEnd(10));
    const d = new Uint8Array(4 + sn.length);
    d[0] = 0x01; d[1] = 0x80; d[3] = sn.length; d.set(sn, 4);
    return d.slice(0, alloc);
  }
  const d = new Uint8Array(96);
  d[0] = 0x01; // sequential-access device
  d[1] = 0x80; // removable medium
  d[2] = 0x06; // SPC-4
  d[3] = 0x02;
  d[4] = 91;
  d.set(new TextEncoder().encode("IBM     ULT3580-TD5     H5T1"), 8);
  return d.slice(0, alloc);
}

export function tapeModeSense(blockSize: number, c: Uint8Array): Uint8Array {
  const d = new Uint8Array(12);
  d[0] = 11; // mode data length
  d[2] = 0x10; // buffered mode 1
  d[3] = 8; // block descriptor length
  d[4] = DENSITY_LTO5;
  d[9] = (blockSize >> 16) & 0xff; d[10] = (blockSize >> 8) & 0xff; d[11] = blockSize & 0xff;
  return d.slice(0, c[4]);
}

/** `position` the host's; `pastEw` past early warning; the objects and bytes still in
 * the buffer. */
export function tapeReadPosition(position: number, pastEw: boolean, pendingObjects: number, pendingBytes: number): Uint8Array {
  const d = new Uint8Array(20);
  if (position === 0) d[0] |= 0x80;
  if (pastEw) d[0] |= 0x40;
  // First: the host's position; last: the next object to reach the medium; then the
  // objects and bytes still in the buffer.
  putBe32(d, 4, position);
  putBe32(d, 8, position - pendingObjects);
  d[13] = (pendingObjects >> 16) & 0xff; d[14] = (pendingObjects >> 8) & 0xff; d[15] = pendingObjects & 0xff;
  putBe32(d, 16, pendingBytes);
  return d;
}
