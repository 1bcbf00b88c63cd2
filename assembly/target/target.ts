// The target side: the commands the host sends to our LUNs through the mailbox.
// Every CDB field we act on is checked before it is used; a bad one is answered with
// CHECK CONDITION and fixed-format sense (docs/HAL.md "Command set" has the rules in
// the order they are applied). Nothing here traps on any input. The media paths are
// in rw.ts, the data-in pages in pages.ts.

import {
  OP_TEST_UNIT_READY, OP_REQUEST_SENSE, OP_INQUIRY, OP_MODE_SENSE_6, OP_START_STOP_UNIT,
  OP_READ_CAPACITY_10, OP_READ_10, OP_WRITE_10, OP_SYNCHRONIZE_CACHE_10, OP_WRITE_LONG_10,
  OP_MODE_SENSE_10, OP_READ_16, OP_WRITE_16, OP_SERVICE_ACTION_IN_16, SA_READ_CAPACITY_16,
  STATUS_GOOD, STATUS_BUSY, KEY_ILLEGAL_REQUEST, KEY_UNIT_ATTENTION, ASC_INVALID_OPCODE,
  ASC_LUN_NOT_SUPPORTED, ASC_POWER_ON_RESET, FIELD_NONE, sense_fixed_bytes, OP_NV_STATUS,
  OP_NV_ACTION, OP_ARRAY_STATUS, OP_MAINTENANCE_IN, be16, be32, be64, zero, cdb_group_bytes, sense_build,
} from "../base/scsi";
import {
  st_lun_count, lun_state, lun_ua_pending, lun_clear_ua, LUN_ABSENT, set_slot_busy,
  st_power_failing, counter_add, CNT_HOST_COMMANDS, CNT_BUSY_REPLIES, set_slot_wait, WAIT_NONE,
  set_slot_tag, set_slot_mode, slot_wait, stamp_slot_arrival,
} from "../state";
import { TAG_NONE } from "../base/tags";
import { nv_action, ACTION_REPLAY, ACTION_RECHECK } from "../nv/nv";
import { finish, fail, fail_field, slot_data, slot_lun, slot_cdb_len, slot_cdb, min_u32 } from "./slot";
import { request_sense, inquiry, mode_sense, read_capacity10, read_capacity16, nv_status } from "./pages";
import { lun_ok, read_write, sync_cache, write_long, host_slot_due, host_slot_clean_poll } from "./rw";

export { host_tag_done, last_write_ms } from "./rw";
import { array_status } from "./array_page";
import { alua_gate, report_target_port_groups } from "./alua";

/** Known opcodes; everything else is INVALID COMMAND OPERATION CODE. */
function opcode_supported(op: u8): bool {
  switch (op) {
    case OP_TEST_UNIT_READY: case OP_REQUEST_SENSE: case OP_INQUIRY:
    case OP_MODE_SENSE_6: case OP_START_STOP_UNIT: case OP_READ_CAPACITY_10:
    case OP_READ_10: case OP_WRITE_10: case OP_SYNCHRONIZE_CACHE_10:
    case OP_WRITE_LONG_10: case OP_MODE_SENSE_10: case OP_READ_16: case OP_WRITE_16:
    case OP_SERVICE_ACTION_IN_16: case OP_NV_STATUS: case OP_NV_ACTION: case OP_ARRAY_STATUS:
    case OP_MAINTENANCE_IN:
      return true;
  }
  return false;
}

/** CDB length: by group code, and 10 for our two vendor-specific commands. */
function cdb_bytes(op: u8): u32 {
  if (op == OP_NV_STATUS || op == OP_NV_ACTION || op == OP_ARRAY_STATUS) return 10;
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
  if (!retry) { counter_add(CNT_HOST_COMMANDS, 1); stamp_slot_arrival(slot); }
  set_slot_busy(slot, true);
  set_slot_wait(slot, WAIT_NONE);
  set_slot_tag(slot, TAG_NONE);
  set_slot_mode(slot, 0);
  if (st_power_failing()) {
    counter_add(CNT_BUSY_REPLIES, 1);
    finish(slot, STATUS_BUSY, 0);
    return;
  }
  let lun = slot_lun(slot);
  let cdb_len = slot_cdb_len(slot);
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
  if (!alua_gate(slot, lun, op)) return;

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
    case OP_MAINTENANCE_IN: { report_target_port_groups(slot, lun, cdb); return; }
    case OP_ARRAY_STATUS: { array_status(slot, cdb); return; }
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


/** A slot that waits: run its command again, or finish a write-through whose blocks
 * are durable. Returns whether it moved. */
export function host_slot_poll(slot: u32): bool {
  if (host_slot_due(slot)) {
    let w = slot_wait(slot);
    host_command_start(slot, true);
    return slot_wait(slot) != w;
  }
  return host_slot_clean_poll(slot);
}
