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
  ASC_LUN_FAILURE, ASC_DATA_PHASE_ERROR, FIELD_NONE, sense_fixed_bytes, KEY_NOT_READY,
  ASC_BECOMING_READY, ASC_MANUAL_INTERVENTION, OP_NV_STATUS, OP_NV_ACTION,
  be16, be32, be64, put_be16, put_be32, put_be64, zero, copy, cdb_group_bytes, sense_build,
} from "./scsi";
import {
  st_lun_count, lun_state, lun_blocks, lun_target, lun_ua_pending, lun_clear_ua,
  lun_set_state, LUN_READY, LUN_FAILED, LUN_ABSENT, set_slot_busy, st_power_failing,
  counter_add, CNT_HOST_COMMANDS, CNT_CHECK_CONDITIONS, CNT_BUSY_REPLIES,
  CNT_DISK_ERRORS, lun_identity, lun_in_pending_image, ID_OK, slot_wait, set_slot_wait,
  WAIT_NONE, WAIT_SPACE, WAIT_CLEAN, WAIT_DISK, WAIT_RETRY, luns_max,
} from "./state";
import {
  disk_submit, tag_cdb, tag_status, tag_host_status, tag_sense,
  tag_release, cdb_rw16, cdb_write_long_uncor, HOST_OK, HOST_SELECTION_TIMEOUT, tag_straddled_power,
} from "./disks";
import { hal_now_us } from "./hal";
import { OK } from "./errors";
import {
  cache_find, cache_alloc, cache_drop, cache_mark_written, cache_nv_count, cache_reusable_count,
  cache_range_dirty, entry_data, entry_is_nv, entry_inflight, entry_reusable, NONE,
} from "./cache";
import {
  nv_writeback_allowed, nv_restoring, nv_image_state, nv_action, nv_image_gen, nv_image_blocks,
  nv_lost_records, nv_corrected_words, nv_store_id, IMAGE_UNREADABLE, ACTION_REPLAY, ACTION_RECHECK,
  nv_unretired,
} from "./nv";
import { budget_blocks, budget_last, holdup_us, learn_state_now, LEARN_DONE } from "./budget";
import { eeprom_t_page_us } from "./eeprom";

// ---- mailbox slot header (docs/HAL.md "Mailbox") ---------------------------------------
// @0 lun u8 | @1 cdb_len u8 | @2 status u8 | @3 sense_len u8 | @4 data_bytes u32 (LE)
// @8 host tag u32 | @12 retries u16 (firmware) | @14 retry time u16, ms (firmware)
// @16 cdb[16] | @32 sense[32] | @64 data[mailbox_data_bytes]

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
  set_slot_wait(slot, WAIT_NONE);
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
    case OP_SERVICE_ACTION_IN_16: case OP_NV_STATUS: case OP_NV_ACTION:
      return true;
  }
  return false;
}

/** CDB length: by group code, and 10 for our two vendor-specific commands. */
function cdb_bytes(op: u8): u32 {
  if (op == OP_NV_STATUS || op == OP_NV_ACTION) return 10;
  return cdb_group_bytes(op);
}

/** Answer a rung slot BUSY without looking at it (the power is failing). */
export function host_command_busy(slot: u32): void {
  counter_add(CNT_BUSY_REPLIES, 1);
  finish(slot, STATUS_BUSY, 0);
}

/** Begin the command in a slot the host just rang. Local commands finish here; media
 * commands go to the disk on the slot's own tag and finish in host_tag_done. */
export function host_command_start(slot: u32, retry: bool): void {
  if (!retry) counter_add(CNT_HOST_COMMANDS, 1);
  set_slot_busy(slot, true);
  set_slot_wait(slot, WAIT_NONE);
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
  if (cdb_bytes(op) > cdb_len) {
    fail_field(slot, 0, FIELD_NONE);
    return;
  }
  let n = cdb_bytes(op);
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
    case OP_NV_STATUS: { nv_status(slot, cdb); return; }
    case OP_NV_ACTION: {
      let action = load<u8>(cdb, 1);
      if (action < ACTION_REPLAY || action > ACTION_RECHECK) { fail_field(slot, 1, FIELD_NONE); return; }
      nv_action(action);
      finish(slot, STATUS_GOOD, 0);
      return;
    }
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

/** Can the LUN take media access now? A LUN whose disk stopped answering fails with
 * LOGICAL UNIT FAILURE; one whose disk is not ours (or is named by an image that
 * waits for the host) is NOT READY, MANUAL INTERVENTION REQUIRED; while a restore
 * writes its blocks, every LUN is NOT READY, BECOMING READY. */
function lun_ok(slot: u32, lun: u32): bool {
  if (lun_state(lun) != LUN_READY) {
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
    return false;
  }
  if (lun_identity(lun) != ID_OK || lun_in_pending_image(lun) || nv_image_state() == IMAGE_UNREADABLE) {
    fail(slot, KEY_NOT_READY, ASC_MANUAL_INTERVENTION, FIELD_NONE, FIELD_NONE);
    return false;
  }
  if (nv_restoring()) {
    fail(slot, KEY_NOT_READY, ASC_BECOMING_READY, FIELD_NONE, FIELD_NONE);
    return false;
  }
  return true;
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

/** Caching mode page (SBC-3 6.4.5), 20 bytes. WCE is 1: writes are acknowledged
 * from the power-protected cache while the save budget allows (nothing changeable). */
function put_caching_page(p: usize, changeable: bool): void {
  zero(p, 20);
  store<u8>(p, 0x08, 0);
  store<u8>(p, 0x12, 1);
  if (!changeable) store<u8>(p, 0x04, 2); // WCE = 1, RCD = 0
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
  if (write) host_write(slot, lun, lba, blocks);
  else host_read(slot, lun, lba, blocks);
}

/** When the last host write arrived (ms since boot): destage waits for a pause. */
let last_write_at_ms: u32 = 0;
@inline export function last_write_ms(): u32 { return last_write_at_ms; }

/** A write goes into the cache. Acknowledged at once if the save budget covers it
 * (write-back); else it waits until its blocks are on the disk (write-through). */
function host_write(slot: u32, lun: u32, lba: u64, blocks: u32): void {
  last_write_at_ms = <u32>(hal_now_us() / 1000);
  let need: u32 = 0, new_nv: u32 = 0, own_reusable: u32 = 0;
  for (let k: u32 = 0; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i == NONE) { need++; new_nv++; continue; }
    if (!entry_is_nv(i)) new_nv++;
    if (entry_reusable(i)) own_reusable++;
  }
  if (need + own_reusable > cache_reusable_count(need + own_reusable)) {
    set_slot_wait(slot, WAIT_SPACE); // destage frees clean entries; run again then
    return;
  }
  let wb = nv_writeback_allowed() && cache_nv_count() + new_nv <= budget_blocks();
  let src = slot_data(slot);
  // Blocks already cached first (now dirty, they cannot be evicted), then new ones.
  for (let k: u32 = 0; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i == NONE) continue;
    copy(entry_data(i), src + k * block_bytes, block_bytes);
    cache_mark_written(i, wb);
  }
  for (let k: u32 = 0; k < blocks; k++) {
    if (cache_find(lun, lba + k) != NONE) continue;
    let i = cache_alloc(lun, lba + k);
    assert(i != NONE, "space was counted");
    copy(entry_data(i), src + k * block_bytes, block_bytes);
    cache_mark_written(i, wb);
  }
  if (wb) finish(slot, STATUS_GOOD, 0);
  else set_slot_wait(slot, WAIT_CLEAN);
}

/** A read is served from the cache when every block is there; otherwise from the
 * disk, with the cached blocks (newer) laid over it when it completes. */
function host_read(slot: u32, lun: u32, lba: u64, blocks: u32): void {
  let all = true;
  for (let k: u32 = 0; k < blocks && all; k++) if (cache_find(lun, lba + k) == NONE) all = false;
  let dst = slot_data(slot);
  if (all) {
    for (let k: u32 = 0; k < blocks; k++) copy(dst + k * block_bytes, entry_data(cache_find(lun, lba + k)), block_bytes);
    finish(slot, STATUS_GOOD, blocks * block_bytes);
    return;
  }
  let tag = slot;
  cdb_rw16(tag_cdb(tag), OP_READ_16, lba, blocks, false);
  to_disk(slot, lun, tag, 16, dst, blocks * block_bytes, false);
}

/** Lay cached blocks over what the disk returned. */
function overlay_cached(slot: u32, lun: u32, lba: u64, blocks: u32): void {
  let dst = slot_data(slot);
  for (let k: u32 = 0; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i != NONE) copy(dst + k * block_bytes, entry_data(i), block_bytes);
  }
}

/** SYNCHRONIZE CACHE: GOOD once no block of the range is dirty (destage writes with
 * FUA, so nothing of ours is left in the disks' caches). */
function sync_cache(slot: u32, lun: u32, cdb: usize): void {
  let lba = be32(cdb + 2);
  let blocks = be16(cdb + 7);
  if (!in_range(lun, <u64>lba, <u64>blocks)) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (!lun_ok(slot, lun)) return;
  if (cache_range_dirty(lun, <u64>lba, <u64>blocks)) set_slot_wait(slot, WAIT_CLEAN);
  else finish(slot, STATUS_GOOD, 0);
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
  // The host marks the block unreadable: cached data for it goes (once off the bus).
  let i = cache_find(lun, <u64>lba);
  if (i != NONE) {
    if (entry_inflight(i)) { set_slot_wait(slot, WAIT_SPACE); return; }
    cache_drop(i);
  }
  let tag = slot;
  cdb_write_long_uncor(tag_cdb(tag), lba);
  to_disk(slot, lun, tag, 10, 0, 0, false);
}

/** NV STATUS (vendor C0h): what the host needs to decide about a pending image, and
 * the cache's state. 64 bytes, big-endian (docs/HAL.md "NV STATUS"). */
function nv_status(slot: u32, cdb: usize): void {
  let d = slot_data(slot);
  zero(d, 64);
  store<u8>(d, nv_image_state(), 0);
  let mode: u8 = 0;
  if (!nv_writeback_allowed()) mode = nv_image_state() != 0 || nv_unretired() ? 3 : learn_state_now() != LEARN_DONE ? 2 : 1;
  else if (budget_last() == 0) mode = 1;
  store<u8>(d, mode, 1);
  put_be32(d + 4, nv_image_gen());
  put_be32(d + 8, nv_image_blocks());
  put_be32(d + 12, nv_corrected_words());
  put_be32(d + 16, nv_lost_records());
  put_be32(d + 20, budget_blocks());
  put_be32(d + 24, cache_nv_count());
  put_be32(d + 28, <u32>(holdup_us() / 1000));
  put_be32(d + 32, <u32>eeprom_t_page_us());
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns_max; lun++) {
    let v: u8 = 5;
    if (lun < luns && lun_state(lun) != LUN_ABSENT) v = lun_identity(lun);
    if (lun < luns && lun_in_pending_image(lun)) v |= 0x80;
    store<u8>(d + 36 + lun, v);
  }
  put_be64(d + 44, nv_store_id());
  finish(slot, STATUS_GOOD, min_u32(be16(cdb + 7), 64));
}


/** Send the CDB built on the slot's tag to the LUN's disk; host_tag_done finishes. */
function to_disk(
  slot: u32, lun: u32, tag: u32, cdb_len: u32, data: usize, bytes: u32, out: bool,
): void {
  set_slot_wait(slot, WAIT_DISK);
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
  if (host == HOST_SELECTION_TIMEOUT && !tag_straddled_power(tag)) {
    tag_release(tag);
    counter_add(CNT_DISK_ERRORS, 1);
    lun_set_state(lun, LUN_FAILED);
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
    return;
  }
  // A bus reset (the disk lost power), a unit attention after it, a disk still
  // spinning up, a busy disk: the host should not see those; run the command again.
  let transient = host != HOST_OK || status == STATUS_BUSY;
  if (status == STATUS_CHECK_CONDITION) {
    let key = load<u8>(tag_sense(tag), 2) & 0x0f;
    let asc = (<u16>load<u8>(tag_sense(tag), 12) << 8) | <u16>load<u8>(tag_sense(tag), 13);
    if (key == KEY_UNIT_ATTENTION || (key == KEY_NOT_READY && asc == ASC_BECOMING_READY)) transient = true;
  }
  if (transient && retry_later(slot)) {
    tag_release(tag);
    return;
  }
  if (status == STATUS_GOOD) {
    let read = op == OP_READ_10 || op == OP_READ_16;
    let blocks = read ? be32(tag_cdb(tag) + 10) : 0;
    if (read) overlay_cached(slot, lun, be64(tag_cdb(tag) + 2), blocks);
    tag_release(tag);
    finish(slot, STATUS_GOOD, blocks * block_bytes);
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

/** Runs of one command the firmware makes after transient disk errors, at least
 * retry_interval_ms apart: 30 s in all, longer than a disk's spin-up. */
@inline const retries_max: u32 = 3000;
@inline const retry_interval_ms: u32 = 10;

/** Schedule the slot's command to run again; false once it has had its retries. */
function retry_later(slot: u32): bool {
  let p = slot_at(slot);
  let n = <u32>load<u16>(p, 12);
  if (n >= retries_max) return false;
  store<u16>(p, <u16>(n + 1), 12);
  store<u16>(p, <u16>(<u32>(hal_now_us() / 1000) + retry_interval_ms), 14);
  set_slot_wait(slot, WAIT_RETRY);
  return true;
}

/** Has the slot's retry time come (ms clock mod 2^16)? */
@inline function retry_due(slot: u32): bool {
  let at = load<u16>(slot_at(slot), 14);
  let now = <u16>(hal_now_us() / 1000);
  return <i16>(now - at) >= 0;
}

/** The LBA range of the write or SYNCHRONIZE CACHE in a slot (blocks 0: to the end). */
function slot_range_lba(slot: u32): u64 {
  let cdb = slot_cdb(slot);
  let op = load<u8>(cdb);
  if (op == OP_WRITE_16) return be64(cdb + 2);
  return <u64>be32(cdb + 2);
}
function slot_range_blocks(slot: u32): u64 {
  let cdb = slot_cdb(slot);
  let op = load<u8>(cdb);
  if (op == OP_WRITE_16) return <u64>be32(cdb + 10);
  return <u64>be16(cdb + 7);
}

/** A slot that waits: run its command again (WAIT_SPACE) or finish it once its blocks
 * are durable (WAIT_CLEAN). Returns whether it moved. */
export function host_slot_poll(slot: u32): bool {
  let w = slot_wait(slot);
  if (w == WAIT_SPACE || (w == WAIT_RETRY && retry_due(slot))) {
    host_command_start(slot, true);
    return slot_wait(slot) != w;
  }
  if (w == WAIT_CLEAN) {
    let lun = <u32>load<u8>(slot_at(slot), 0);
    if (lun_state(lun) != LUN_READY) {
      fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
      return true;
    }
    if (cache_range_dirty(lun, slot_range_lba(slot), slot_range_blocks(slot))) return false;
    finish(slot, STATUS_GOOD, 0);
    return true;
  }
  return false;
}
