// Mimicry ([025], [029]; docs/DIRECTOR.md): the drive the server sees, whichever drive
// is behind: its INQUIRY data with the director's own fixed serial (VPD 80h), the real
// drive's serial in vendor page C0h, and the block limits the mailbox takes.

import { MB_CDB, MB_DATA_BYTES, MB_DATA } from "../base/abi";
import { zero, copy, put_be32, put_be16 } from "../base/scsi";
import { mailbox_data_bytes, drive_serial_base, drive_serial_bytes } from "./layout";

/** The identity the server sees, whichever drive is behind (INQUIRY, VPD 80h). */
const VENDOR_PRODUCT = "IBM     ULT3580-TD5     H5T1";
const MIMIC_SERIAL = "HUDIR00001";

/** INQUIRY for the slot at p: its data in the slot, the bytes to return; -1 for a VPD
 * page it does not have (INVALID FIELD IN CDB, byte 2). */
export function mimic_inquiry(p: usize): i32 {
  let cdb = p + MB_CDB;
  let d = p + MB_DATA;
  let alloc = (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  let cap = alloc < host_bytes ? alloc : host_bytes;
  zero(d, 96);
  if ((load<u8>(cdb, 1) & 1) != 0) {
    let page = load<u8>(cdb, 2);
    if (page != 0x80 && page != 0xc0) return -1;
    store<u8>(d, 0x01);
    store<u8>(d, page, 1);
    store<u8>(d, <u8>drive_serial_bytes, 3);
    if (page == 0x80) { for (let i = 0; i < MIMIC_SERIAL.length; i++) store<u8>(d + 4 + i, <u8>MIMIC_SERIAL.charCodeAt(i)); }
    else copy(d + 4, drive_serial_base, drive_serial_bytes);
    let n: u32 = 4 + drive_serial_bytes;
    return <i32>(n < cap ? n : cap);
  }
  store<u8>(d, 0x01);      // sequential-access device
  store<u8>(d, 0x80, 1);   // removable
  store<u8>(d, 0x06, 2);   // SPC-4
  store<u8>(d, 0x02, 3);
  store<u8>(d, 91, 4);
  for (let i = 0; i < VENDOR_PRODUCT.length; i++) store<u8>(d + 8 + i, <u8>VENDOR_PRODUCT.charCodeAt(i));
  return <i32>(cap < 96 ? cap : 96);
}

/** READ BLOCK LIMITS: the largest block the mailbox takes, whatever the drive could.
 * The bytes to return. */
export function mimic_block_limits(p: usize): u32 {
  let d = p + MB_DATA;
  zero(d, 6);
  put_be32(d, mailbox_data_bytes);
  store<u8>(d, 0);
  put_be16(d + 4, 1);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  return host_bytes < 6 ? host_bytes : 6;
}
