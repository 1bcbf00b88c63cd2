// SCSI constants (SPC-4, SBC-3) and helpers shared by the target side (our LUNs) and
// the initiator side (the disks).

// ---- operation codes (SPC-4 / SBC-3) --------------------------------------------
@inline export const OP_TEST_UNIT_READY: u8 = 0x00;
@inline export const OP_REQUEST_SENSE: u8 = 0x03;
@inline export const OP_INQUIRY: u8 = 0x12;
@inline export const OP_MODE_SENSE_6: u8 = 0x1a;
@inline export const OP_START_STOP_UNIT: u8 = 0x1b;
@inline export const OP_READ_CAPACITY_10: u8 = 0x25;
@inline export const OP_READ_10: u8 = 0x28;
@inline export const OP_WRITE_10: u8 = 0x2a;
@inline export const OP_SYNCHRONIZE_CACHE_10: u8 = 0x35;
@inline export const OP_WRITE_LONG_10: u8 = 0x3f;
@inline export const OP_MODE_SENSE_10: u8 = 0x5a;
@inline export const OP_READ_16: u8 = 0x88;
@inline export const OP_WRITE_16: u8 = 0x8a;
@inline export const OP_SERVICE_ACTION_IN_16: u8 = 0x9e;
@inline export const SA_READ_CAPACITY_16: u8 = 0x10;
/** Vendor-specific (group 6), 10-byte CDBs: the NV image's status and the host's
 * decision about it (docs/HAL.md). */
@inline export const OP_NV_STATUS: u8 = 0xc0;
@inline export const OP_NV_ACTION: u8 = 0xc1;
@inline export const OP_ARRAY_STATUS: u8 = 0xc2;
/** MAINTENANCE IN (SPC-4 6.36) and its service action REPORT TARGET PORT GROUPS. */
@inline export const OP_MAINTENANCE_IN: u8 = 0xa3;
@inline export const SA_REPORT_TARGET_PORT_GROUPS: u8 = 0x0a;
/** PERSISTENT RESERVE IN / OUT (SPC-4 6.15, 6.16), the service actions and the type we use. */
@inline export const OP_PR_IN: u8 = 0x5e;
@inline export const OP_PR_OUT: u8 = 0x5f;
@inline export const PR_OUT_RESERVE: u8 = 1;
@inline export const PR_OUT_PREEMPT_AND_ABORT: u8 = 5;
@inline export const PR_OUT_REGISTER_AND_IGNORE: u8 = 6;
@inline export const PR_TYPE_WE_RO: u8 = 5;
@inline export const STATUS_RESERVATION_CONFLICT: u8 = 0x18;

// ---- status (SAM-5) ----------------------------------------------------------------
@inline export const STATUS_GOOD: u8 = 0x00;
@inline export const STATUS_CHECK_CONDITION: u8 = 0x02;
@inline export const STATUS_BUSY: u8 = 0x08;
/** Not a SCSI status: the result record holds no status yet. */
@inline export const STATUS_PENDING: u8 = 0xff;

// ---- sense keys and additional sense codes (SPC-4 4.5.6, Annex F) ------------------
@inline export const KEY_NO_SENSE: u8 = 0x0;
@inline export const KEY_NOT_READY: u8 = 0x2;
@inline export const KEY_MEDIUM_ERROR: u8 = 0x3;
@inline export const KEY_HARDWARE_ERROR: u8 = 0x4;
@inline export const KEY_ILLEGAL_REQUEST: u8 = 0x5;
@inline export const KEY_UNIT_ATTENTION: u8 = 0x6;
@inline export const KEY_BLANK_CHECK: u8 = 0x8;
@inline export const KEY_ABORTED_COMMAND: u8 = 0xb;

/** ASC/ASCQ as one u16: asc << 8 | ascq. */
@inline export const ASC_NONE: u16 = 0x0000;
@inline export const ASC_INVALID_OPCODE: u16 = 0x2000;
@inline export const ASC_LBA_OUT_OF_RANGE: u16 = 0x2100;
@inline export const ASC_INVALID_FIELD_IN_CDB: u16 = 0x2400;
@inline export const ASC_LUN_NOT_SUPPORTED: u16 = 0x2500;
@inline export const ASC_POWER_ON_RESET: u16 = 0x2900;
@inline export const ASC_SAVING_PARAMS_UNSUPPORTED: u16 = 0x3900;
@inline export const ASC_LUN_FAILURE: u16 = 0x3e01;
@inline export const ASC_DATA_PHASE_ERROR: u16 = 0x4b00;
@inline export const ASC_BECOMING_READY: u16 = 0x0401;
@inline export const ASC_MANUAL_INTERVENTION: u16 = 0x0403;
/** ALUA (SPC-4 Annex F): LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE
 * TRANSITION; TARGET PORT IN STANDBY STATE; ASYMMETRIC ACCESS STATE CHANGED. */
@inline export const ASC_ALUA_TRANSITION: u16 = 0x040a;
@inline export const ASC_ALUA_STANDBY: u16 = 0x040b;
@inline export const ASC_ALUA_CHANGED: u16 = 0x2a06;
@inline export const ASC_WRITE_ERROR: u16 = 0x0c00;
@inline export const ASC_UNRECOVERED_READ_ERROR: u16 = 0x1100;

/** Fixed-format sense data length we produce (SPC-4 4.5.3). */
@inline export const sense_fixed_bytes: u32 = 18;
/** A field pointer value meaning "no field" (SKSV clear). */
@inline export const FIELD_NONE: i32 = -1;

// ---- big-endian access: SCSI fields are big-endian ---------------------------------

@inline export function be16(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p, 1);
}

@inline export function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}

@inline export function be64(p: usize): u64 {
  return bswap<u64>(load<u64>(p));
}

@inline export function put_be16(p: usize, v: u32): void {
  store<u8>(p, <u8>(v >>> 8));
  store<u8>(p, <u8>v, 1);
}

@inline export function put_be32(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v));
}

@inline export function put_be64(p: usize, v: u64): void {
  store<u64>(p, bswap<u64>(v));
}

/** Zero len bytes at p (bulk memory is off for MCU runtimes, so no memory.fill). */
export function zero(p: usize, len: u32): void {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) store<u64>(p + i, 0);
  for (; i < len; i++) store<u8>(p + i, 0);
}

/** Copy len bytes; regions must not overlap. */
export function copy(dst: usize, src: usize, len: u32): void {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) store<u64>(dst + i, load<u64>(src + i));
  for (; i < len; i++) store<u8>(dst + i, load<u8>(src + i));
}

/** Whether len bytes at a and b are the same. */
export function equal(a: usize, b: usize, len: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  for (; i < len; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** CDB length implied by the group code in the top three bits of the opcode
 * (SPC-4 4.2.5.1); 0 for the reserved and vendor groups we do not accept. */
export function cdb_group_bytes(opcode: u8): u32 {
  let group = opcode >>> 5;
  if (group == 0) return 6;
  if (group == 1 || group == 2) return 10;
  if (group == 4) return 16;
  if (group == 5) return 12;
  return 0;
}

/** Build fixed-format sense at p: 18 bytes. field_byte >= 0 sets the sense-key
 * specific field pointer (SPC-4 4.5.2.4.2): C/D = 1 (the error is in the CDB), and
 * bit_pointer 0..7 if it names one bit (BPV), or -1 for the whole byte. */
export function sense_build(
  p: usize, key: u8, asc_ascq: u16, field_byte: i32, field_bit: i32,
): void {
  zero(p, sense_fixed_bytes);
  store<u8>(p, 0x70); // current error, fixed format
  store<u8>(p, key & 0x0f, 2);
  store<u8>(p, <u8>(sense_fixed_bytes - 8), 7); // additional sense length
  store<u8>(p, <u8>(asc_ascq >>> 8), 12);
  store<u8>(p, <u8>asc_ascq, 13);
  if (field_byte >= 0) {
    let b15: u32 = 0x80 | 0x40; // SKSV, C/D
    if (field_bit >= 0) b15 |= 0x08 | (<u32>field_bit & 7); // BPV, bit pointer
    store<u8>(p, <u8>b15, 15);
    put_be16(p + 16, <u32>field_byte);
  }
}

/** Put an LBA in the INFORMATION field of fixed-format sense at p and set VALID
 * (SPC-4 4.5.3); an LBA past 32 bits does not fit there and leaves VALID clear. */
export function sense_set_info(p: usize, lba: u64): void {
  if (lba > 0xffffffff) return;
  store<u8>(p, load<u8>(p) | 0x80);
  put_be32(p + 3, <u32>lba);
}

@inline export function sense_key_of(p: usize): u8 {
  return load<u8>(p, 2) & 0x0f;
}
