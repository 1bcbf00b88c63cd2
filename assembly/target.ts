// The target side: the commands the host sends to our LUNs through the mailbox.
// Every CDB field we act on is checked before it is used; a bad one is answered with
// CHECK CONDITION and fixed-format sense (docs/HAL.md "Command set" has the rules in
// the order they are applied). Nothing here traps on any input.

import {
  mailbox_base, mailbox_slot_bytes, mailbox_header_bytes, mailbox_data_bytes,
  block_bytes,
} from "./layout";
import { hal_host_complete } from "./hal";
import {
  OP_TEST_UNIT_READY, OP_REQUEST_SENSE, OP_INQUIRY, OP_MODE_SENSE_6, OP_START_STOP_UNIT,
  OP_READ_CAPACITY_10, OP_READ_10, OP_WRITE_10, OP_SYNCHRONIZE_CACHE_10, OP_WRITE_LONG_10,
  OP_MODE_SENSE_10, OP_READ_16, OP_WRITE_16, OP_SERVICE_ACTION_IN_16, SA_READ_CAPACITY_16,
  STATUS_GOOD, STATUS_CHECK_CONDITION, STATUS_BUSY,
  KEY_NO_SENSE, KEY_HARDWARE_ERROR, KEY_ILLEGAL_REQUEST, KEY_UNIT_ATTENTION,
  KEY_ABORTED_COMMAND,
  ASC_NONE, ASC_INVALID_OPCODE, ASC_LBA_OUT_OF_RANGE, ASC_INVALID_FIELD_IN_CDB,
  ASC_LUN_NOT_SUPPORTED, ASC_POWER_ON_RESET, ASC_SAVING_PARAMS_UNSUPPORTED,
  ASC_LUN_FAILURE, ASC_DATA_PHASE_ERROR, FIELD_NONE, sense_fixed_bytes,
  be16, be32, be64, put_be16, put_be32, put_be64, zero, copy, cdb_group_bytes, sense_build,
} from "./scsi";
import {
  st_lun_count, lun_state, lun_blocks, lun_target, lun_ua_pending, lun_clear_ua,
  lun_set_state, LUN_READY, LUN_FAILED, LUN_ABSENT, set_slot_busy, st_power_failing,
  counter_add, CNT_HOST_COMMANDS, CNT_CHECK_CONDITIONS, CNT_BUSY_REPLIES,
  CNT_DISK_ERRORS,
} from "./state";
import {
  disk_submit, tag_cdb, tag_status, tag_host_status, tag_sense,
  tag_release, cdb_rw16, cdb_sync_cache10, cdb_write_long_uncor, HOST_OK,
} from "./disks";
import { OK } from "./errors";

// ---- mailbox slot header (docs/HAL.md "Mailbox") ---------------------------------------
// @0 lun u8 | @1 cdb_len u8 | @2 status u8 | @3 sense_len u8 | @4 data_bytes u32 (LE)
// @8 host tag u32 | @16 cdb[16] | @32 sense[32] | @64 data[mailbox_data_bytes]

@inline export function slot_at(slot: u32): usize { return mailbox_base + slot * mailbox_slot_bytes; }
@inline function slot_cdb(slot: u32): usize { return slot_at(slot) + 16; }
@inline function slot_sense(slot: u32): usize { return slot_at(slot) + 32; }
@inline export function slot_data(slot: u32): usize { return slot_at(slot) + mailbox_header_bytes; }

/** Largest transfer per command, in blocks (reported in the Block Limits VPD page). */
@inline export const max_transfer_blocks: u32 = mailbox_data_bytes / block_bytes;

if (mailbox_header_bytes < 64) ERROR("mailbox header holds 64 bytes of fields");

/** The slot's command is done: status (and sense, if CHECK CONDITION) are in place. */
function finish(slot: u32, status: u8, data_in_bytes: u32): void {
  let p = slot_at(slot);
  store<u8>(p, status, 2);
  store<u8>(p, status == STATUS_CHECK_CONDITION ? <u8>sense_fixed_bytes : 0, 3);
  store<u32>(p, data_in_bytes, 4);
  if (status == STATUS_CHECK_CONDITION) counter_add(CNT_CHECK_CONDITIONS, 1);
  set_slot_busy(slot, false);
  hal_host_complete(<i32>slot);
}

/** CHECK CONDITION with the given sense; field_byte/field_bit as sense_build. */
function fail(slot: u32, key: u8, asc: u16, field_byte: i32, field_bit: i32): void {
  sense_build(slot_sense(slot), key, asc, field_byte, field_bit);
  finish(slot, STATUS_CHECK_CONDITION, 0);
}

@inline function fail_field(slot: u32, field_byte: i32, field_bit: i32): void {
  fail(slot, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, field_byte, field_bit);
}

@inline function min_u32(a: u32, b: u32): u32 { return a < b ? a : b; }

/** Known opcodes; everything else is INVALID COMMAND OPERATION CODE. */
function opcode_supported(op: u8): bool {
  switch (op) {
    case OP_TEST_UNIT_READY: case OP_REQUEST_SENSE: case OP_INQUIRY:
    case OP_MODE_SENSE_6: case OP_START_STOP_UNIT: case OP_READ_CAPACITY_10:
    case OP_READ_10: case OP_WRITE_10: case OP_SYNCHRONIZE_CACHE_10:
    case OP_WRITE_LONG_10: case OP_MODE_SENSE_10: case OP_READ_16: case OP_WRITE_16:
    case OP_SERVICE_ACTION_IN_16:
      return true;
  }
  return false;
}

/** Begin the command in a slot the host just rang. Local commands finish here; media
 * commands go to the disk on the slot's own tag and finish in host_tag_done. */
export function host_command_start(slot: u32): void {
  counter_add(CNT_HOST_COMMANDS, 1);
  set_slot_busy(slot, true);
  let p = slot_at(slot);
  if (st_power_failing()) {
    counter_add(CNT_BUSY_REPLIES, 1);
    finish(slot, STATUS_BUSY, 0);
    return;
  }
  let lun = <u32>load<u8>(p, 0);
  let cdb_len = <u32>load<u8>(p, 1);
  let cdb = slot_cdb(slot);
  if (cdb_len == 0 || cdb_len > 16) {
    fail_field(slot, 0, FIELD_NONE);
    return;
  }
  let op = load<u8>(cdb);
  if (lun >= st_lun_count() || lun_state(lun) == LUN_ABSENT) {
    no_such_lun(slot, op, cdb, cdb_len);
    return;
  }
  if (!opcode_supported(op)) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0, FIELD_NONE);
    return;
  }
  if (cdb_group_bytes(op) > cdb_len) {
    fail_field(slot, 0, FIELD_NONE);
    return;
  }
  let n = cdb_group_bytes(op);
  if (lun_ua_pending(lun) && op != OP_INQUIRY && op != OP_REQUEST_SENSE) {
    lun_clear_ua(lun);
    fail(slot, KEY_UNIT_ATTENTION, ASC_POWER_ON_RESET, FIELD_NONE, FIELD_NONE);
    return;
  }
  // Control byte: NACA (bit 2) and the obsolete LINK (bit 0) are not supported.
  let control = load<u8>(cdb + n - 1);
  if ((control & 0x04) != 0) { fail_field(slot, <i32>n - 1, 2); return; }
  if ((control & 0x01) != 0) { fail_field(slot, <i32>n - 1, 0); return; }

  switch (op) {
    case OP_TEST_UNIT_READY: {
      if (!lun_ok(slot, lun)) return;
      finish(slot, STATUS_GOOD, 0);
      return;
    }
    case OP_REQUEST_SENSE: { request_sense(slot, lun, cdb); return; }
    case OP_INQUIRY: { inquiry(slot, lun, cdb); return; }
    case OP_MODE_SENSE_6: { mode_sense(slot, lun, cdb, false); return; }
    case OP_MODE_SENSE_10: { mode_sense(slot, lun, cdb, true); return; }
    case OP_START_STOP_UNIT: { finish(slot, STATUS_GOOD, 0); return; }
    case OP_READ_CAPACITY_10: { read_capacity10(slot, lun, cdb); return; }
    case OP_SERVICE_ACTION_IN_16: {
      if ((load<u8>(cdb, 1) & 0x1f) != SA_READ_CAPACITY_16) { fail_field(slot, 1, 4); return; }
      read_capacity16(slot, lun, cdb);
      return;
    }
    case OP_READ_10: case OP_WRITE_10: {
      read_write(slot, lun, cdb, op == OP_WRITE_10, <u64>be32(cdb + 2), be16(cdb + 7), 7);
      return;
    }
    case OP_READ_16: case OP_WRITE_16: {
      read_write(slot, lun, cdb, op == OP_WRITE_16, be64(cdb + 2), be32(cdb + 10), 10);
      return;
    }
    case OP_SYNCHRONIZE_CACHE_10: { sync_cache(slot, lun, cdb); return; }
    case OP_WRITE_LONG_10: { write_long(slot, lun, cdb); return; }
  }
  fail(slot, KEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0, FIELD_NONE);
}

/** SPC-4 4.6.4: INQUIRY to an absent LUN answers with peripheral qualifier 011b,
 * REQUEST SENSE reports LOGICAL UNIT NOT SUPPORTED, anything else fails with it. */
function no_such_lun(slot: u32, op: u8, cdb: usize, cdb_len: u32): void {
  let data = slot_data(slot);
  if (op == OP_INQUIRY && cdb_len >= 6) {
    zero(data, 36);
    store<u8>(data, 0x7f, 0);
    store<u8>(data, 0x06, 2);
    store<u8>(data, 0x02, 3);
    store<u8>(data, 31, 4);
    finish(slot, STATUS_GOOD, min_u32(be16(cdb + 3), 36));
    return;
  }
  if (op == OP_REQUEST_SENSE && cdb_len >= 6) {
    sense_build(data, KEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, FIELD_NONE, FIELD_NONE);
    finish(slot, STATUS_GOOD, min_u32(<u32>load<u8>(cdb, 4), sense_fixed_bytes));
    return;
  }
  fail(slot, KEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, FIELD_NONE, FIELD_NONE);
}

/** A LUN whose disk stopped answering fails media access with LOGICAL UNIT FAILURE. */
function lun_ok(slot: u32, lun: u32): bool {
  if (lun_state(lun) == LUN_READY) return true;
  fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
  return false;
}

function request_sense(slot: u32, lun: u32, cdb: usize): void {
  if ((load<u8>(cdb, 1) & 0x01) != 0) { fail_field(slot, 1, 0); return; } // DESC
  let data = slot_data(slot);
  if (lun_ua_pending(lun)) {
    lun_clear_ua(lun);
    sense_build(data, KEY_UNIT_ATTENTION, ASC_POWER_ON_RESET, FIELD_NONE, FIELD_NONE);
  } else {
    sense_build(data, KEY_NO_SENSE, ASC_NONE, FIELD_NONE, FIELD_NONE);
  }
  finish(slot, STATUS_GOOD, min_u32(<u32>load<u8>(cdb, 4), sense_fixed_bytes));
}

/** Write ASCII at p, one byte per character, padded with spaces to width. */
function put_ascii(p: usize, text: string, width: u32): void {
  let n = <u32>text.length;
  for (let i: u32 = 0; i < width; i++) {
    store<u8>(p + i, i < n ? <u8>text.charCodeAt(<i32>i) : 0x20);
  }
}

/** Unit serial number: "HOLDUP" and two digits of the LUN (8 bytes). */
function put_serial(p: usize, lun: u32): void {
  put_ascii(p, "HOLDUP", 6);
  store<u8>(p + 6, <u8>(0x30 + (lun / 10) % 10));
  store<u8>(p + 7, <u8>(0x30 + lun % 10));
}

function inquiry(slot: u32, lun: u32, cdb: usize): void {
  let flags = load<u8>(cdb, 1);
  let page = load<u8>(cdb, 2);
  let alloc = be16(cdb + 3);
  if ((flags & 0x02) != 0) { fail_field(slot, 1, 1); return; } // CMDDT (obsolete)
  let evpd = (flags & 0x01) != 0;
  let d = slot_data(slot);
  let len: u32 = 0;
  if (!evpd) {
    if (page != 0) { fail_field(slot, 2, FIELD_NONE); return; }
    zero(d, 36);
    store<u8>(d, 0x00, 0);  // PQ 0, direct-access block device
    store<u8>(d, 0x06, 2);  // SPC-4
    store<u8>(d, 0x02, 3);  // response data format 2
    store<u8>(d, 31, 4);    // additional length
    store<u8>(d, 0x02, 7);  // CMDQUE
    put_ascii(d + 8, "HOLDUP", 8);
    put_ascii(d + 16, "NV WRITE CACHE", 16);
    put_ascii(d + 32, "0.1", 4);
    len = 36;
  } else if (page == 0x00) {
    zero(d, 8);
    store<u8>(d, 4, 3);
    store<u8>(d, 0x00, 4);
    store<u8>(d, 0x80, 5);
    store<u8>(d, 0x83, 6);
    store<u8>(d, 0xb0, 7);
    len = 8;
  } else if (page == 0x80) {
    zero(d, 4);
    store<u8>(d, 0x80, 1);
    store<u8>(d, 8, 3);
    put_serial(d + 4, lun);
    len = 12;
  } else if (page == 0x83) {
    // One T10 vendor ID designator (SPC-4 7.8.6.4): vendor "HOLDUP  " + serial.
    zero(d, 8);
    store<u8>(d, 0x83, 1);
    store<u8>(d, 20, 3);     // page length
    store<u8>(d, 0x02, 4);   // code set ASCII
    store<u8>(d, 0x01, 5);   // association LUN, type T10 vendor ID
    store<u8>(d, 16, 7);     // designator length
    put_ascii(d + 8, "HOLDUP", 8);
    put_serial(d + 16, lun);
    len = 24;
  } else if (page == 0xb0) {
    // Block Limits (SBC-3 6.5.3): maximum and optimal transfer length in blocks.
    zero(d, 64);
    store<u8>(d, 0xb0, 1);
    store<u8>(d, 0x3c, 3);
    put_be32(d + 8, max_transfer_blocks);
    put_be32(d + 12, max_transfer_blocks);
    len = 64;
  } else {
    fail_field(slot, 2, FIELD_NONE);
    return;
  }
  finish(slot, STATUS_GOOD, min_u32(alloc, len));
}

/** Caching mode page (SBC-3 6.4.5), 20 bytes. WCE is 0: this version writes through. */
function put_caching_page(p: usize, changeable: bool): void {
  zero(p, 20);
  store<u8>(p, 0x08, 0);
  store<u8>(p, 0x12, 1);
  if (!changeable) store<u8>(p, 0x00, 2); // WCE = 0, RCD = 0
}

function mode_sense(slot: u32, lun: u32, cdb: usize, ten: bool): void {
  let dbd = (load<u8>(cdb, 1) & 0x08) != 0;
  let pc = load<u8>(cdb, 2) >>> 6;
  let page = load<u8>(cdb, 2) & 0x3f;
  let subpage = load<u8>(cdb, 3);
  let alloc = ten ? be16(cdb + 7) : <u32>load<u8>(cdb, 4);
  if (pc == 3) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_SAVING_PARAMS_UNSUPPORTED, 2, 7);
    return;
  }
  if (page != 0x08 && page != 0x3f) { fail_field(slot, 2, 5); return; }
  if (subpage != 0 && !(page == 0x3f && subpage == 0xff)) { fail_field(slot, 3, FIELD_NONE); return; }
  let d = slot_data(slot);
  let header: u32 = ten ? 8 : 4;
  let bd: u32 = dbd ? 0 : 8;
  zero(d, header + bd);
  let blocks = lun_blocks(lun);
  if (bd != 0) {
    let b = d + header;
    let count = blocks > 0xffffff ? 0xffffff : <u32>blocks;
    store<u8>(b, <u8>(count >>> 16), 1);
    store<u8>(b, <u8>(count >>> 8), 2);
    store<u8>(b, <u8>count, 3);
    store<u8>(b, <u8>(block_bytes >>> 16), 5);
    store<u8>(b, <u8>(block_bytes >>> 8), 6);
    store<u8>(b, <u8>block_bytes, 7);
  }
  put_caching_page(d + header + bd, pc == 1);
  let total = header + bd + 20;
  if (ten) {
    put_be16(d, total - 2);
    store<u8>(d, 0x10, 3); // device-specific: DPOFUA
    put_be16(d + 6, bd);
  } else {
    store<u8>(d, <u8>(total - 1), 0);
    store<u8>(d, 0x10, 2);
    store<u8>(d, <u8>bd, 3);
  }
  finish(slot, STATUS_GOOD, min_u32(alloc, total));
}

function read_capacity10(slot: u32, lun: u32, cdb: usize): void {
  let pmi = (load<u8>(cdb, 8) & 0x01) != 0;
  if (!pmi && be32(cdb + 2) != 0) { fail_field(slot, 2, FIELD_NONE); return; }
  let last = lun_blocks(lun) - 1;
  let d = slot_data(slot);
  put_be32(d, last > 0xffffffff ? 0xffffffff : <u32>last);
  put_be32(d + 4, block_bytes);
  finish(slot, STATUS_GOOD, 8);
}

function read_capacity16(slot: u32, lun: u32, cdb: usize): void {
  let pmi = (load<u8>(cdb, 14) & 0x01) != 0;
  if (!pmi && be64(cdb + 2) != 0) { fail_field(slot, 2, FIELD_NONE); return; }
  let d = slot_data(slot);
  zero(d, 32);
  put_be64(d, lun_blocks(lun) - 1);
  put_be32(d + 8, block_bytes);
  finish(slot, STATUS_GOOD, min_u32(be32(cdb + 10), 32));
}

/** Range check without overflow: [lba, lba+blocks) inside the LUN. */
@inline function in_range(lun: u32, lba: u64, blocks: u64): bool {
  let cap = lun_blocks(lun);
  return lba <= cap && blocks <= cap - lba;
}

function read_write(
  slot: u32, lun: u32, cdb: usize, write: bool, lba: u64, blocks: u32, len_field: i32,
): void {
  if ((load<u8>(cdb, 1) & 0xe0) != 0) { fail_field(slot, 1, 7); return; } // RD/WRPROTECT
  if (blocks > max_transfer_blocks) { fail_field(slot, len_field, FIELD_NONE); return; }
  if (!in_range(lun, lba, <u64>blocks)) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (!lun_ok(slot, lun)) return;
  if (blocks == 0) { finish(slot, STATUS_GOOD, 0); return; }
  let bytes = blocks * block_bytes;
  if (write && load<u32>(slot_at(slot), 4) < bytes) {
    fail(slot, KEY_ABORTED_COMMAND, ASC_DATA_PHASE_ERROR, FIELD_NONE, FIELD_NONE);
    return;
  }
  // Write-through: FUA on every write, so GOOD means the data is on the media.
  let tag = slot;
  cdb_rw16(tag_cdb(tag), write ? OP_WRITE_16 : OP_READ_16, lba, blocks, write);
  to_disk(slot, lun, tag, 16, slot_data(slot), bytes, write);
}

function sync_cache(slot: u32, lun: u32, cdb: usize): void {
  let lba = be32(cdb + 2);
  let blocks = be16(cdb + 7);
  if (!in_range(lun, <u64>lba, <u64>blocks)) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (!lun_ok(slot, lun)) return;
  let tag = slot;
  cdb_sync_cache10(tag_cdb(tag), lba, blocks);
  to_disk(slot, lun, tag, 10, 0, 0, false);
}

function write_long(slot: u32, lun: u32, cdb: usize): void {
  let flags = load<u8>(cdb, 1);
  if ((flags & 0x40) == 0) { fail_field(slot, 1, 6); return; } // only WR_UNCOR
  if ((flags & 0x20) != 0) { fail_field(slot, 1, 5); return; } // PBLOCK
  let lba = be32(cdb + 2);
  if (!in_range(lun, <u64>lba, 1)) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (!lun_ok(slot, lun)) return;
  let tag = slot;
  cdb_write_long_uncor(tag_cdb(tag), lba);
  to_disk(slot, lun, tag, 10, 0, 0, false);
}

/** Send the CDB built on the slot's tag to the LUN's disk; host_tag_done finishes. */
function to_disk(
  slot: u32, lun: u32, tag: u32, cdb_len: u32, data: usize, bytes: u32, out: bool,
): void {
  let err = disk_submit(tag, lun_target(lun), cdb_len, data, bytes, out);
  if (err != OK) {
    counter_add(CNT_DISK_ERRORS, 1);
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
  }
}

/** A disk command on a slot's tag completed: pass its outcome to the host. */
export function host_tag_done(tag: u32): void {
  let slot = tag;
  let lun = <u32>load<u8>(slot_at(slot), 0);
  let host = tag_host_status(tag);
  let status = tag_status(tag);
  let op = load<u8>(slot_cdb(slot));
  if (host != HOST_OK) {
    tag_release(tag);
    counter_add(CNT_DISK_ERRORS, 1);
    lun_set_state(lun, LUN_FAILED);
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (status == STATUS_GOOD) {
    let read = op == OP_READ_10 || op == OP_READ_16;
    let bytes = read ? be32(tag_cdb(tag) + 10) * block_bytes : 0;
    tag_release(tag);
    finish(slot, STATUS_GOOD, bytes);
    return;
  }
  if (status == STATUS_CHECK_CONDITION) {
    // Pass the disk's sense through: MEDIUM ERROR on a torn sector, and so on.
    counter_add(CNT_DISK_ERRORS, 1);
    copy(slot_sense(slot), tag_sense(tag), sense_fixed_bytes);
    tag_release(tag);
    finish(slot, STATUS_CHECK_CONDITION, 0);
    return;
  }
  tag_release(tag);
  counter_add(CNT_BUSY_REPLIES, 1);
  finish(slot, STATUS_BUSY, 0);
}
