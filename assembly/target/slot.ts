// A mailbox slot as the target sees it (docs/HAL.md "Mailbox"; offsets in abi.ts),
// and how a command in it ends: status, sense, data-in length, host_complete.

import { mailbox_base, mailbox_slot_bytes } from "../layout";
import { hal_host_complete } from "../base/hal";
import {
  MB_LUN, MB_CDB_LEN, MB_STATUS, MB_SENSE_LEN, MB_DATA_BYTES, MB_RETRIES, MB_RETRY_AT,
  MB_CDB, MB_SENSE, MB_DATA,
} from "../base/abi";
import { STATUS_CHECK_CONDITION, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, sense_fixed_bytes, sense_build } from "../base/scsi";
import { set_slot_busy, set_slot_wait, counter_add, CNT_CHECK_CONDITIONS, WAIT_NONE } from "../state";

@inline export function slot_at(slot: u32): usize { return mailbox_base + slot * mailbox_slot_bytes; }
@inline export function slot_lun(slot: u32): u32 { return load<u8>(slot_at(slot) + MB_LUN); }
@inline export function slot_cdb_len(slot: u32): u32 { return load<u8>(slot_at(slot) + MB_CDB_LEN); }
@inline export function slot_cdb(slot: u32): usize { return slot_at(slot) + MB_CDB; }
@inline export function slot_sense(slot: u32): usize { return slot_at(slot) + MB_SENSE; }
@inline export function slot_data(slot: u32): usize { return slot_at(slot) + MB_DATA; }
/** Host: the data-out length of a write, or the size of its data-in buffer. */
@inline export function slot_host_bytes(slot: u32): u32 { return load<u32>(slot_at(slot) + MB_DATA_BYTES); }
@inline export function slot_retries(slot: u32): u32 { return load<u16>(slot_at(slot) + MB_RETRIES); }
@inline export function slot_set_retries(slot: u32, n: u32): void { store<u16>(slot_at(slot) + MB_RETRIES, <u16>n); }
@inline export function slot_retry_at(slot: u32): u16 { return load<u16>(slot_at(slot) + MB_RETRY_AT); }
@inline export function slot_set_retry_at(slot: u32, ms: u32): void { store<u16>(slot_at(slot) + MB_RETRY_AT, <u16>ms); }

@inline export function min_u32(a: u32, b: u32): u32 { return a < b ? a : b; }

/** The slot's command is done: status (and sense, if CHECK CONDITION) are in place.
 * The data-in length never exceeds the host's buffer. */
export function finish(slot: u32, status: u8, data_in_bytes: u32): void {
  let p = slot_at(slot);
  let n = min_u32(data_in_bytes, slot_host_bytes(slot));
  store<u8>(p + MB_STATUS, status);
  store<u8>(p + MB_SENSE_LEN, status == STATUS_CHECK_CONDITION ? <u8>sense_fixed_bytes : 0);
  store<u32>(p + MB_DATA_BYTES, n);
  if (status == STATUS_CHECK_CONDITION) counter_add(CNT_CHECK_CONDITIONS, 1);
  set_slot_wait(slot, WAIT_NONE);
  set_slot_busy(slot, false);
  hal_host_complete(<i32>slot);
}

/** CHECK CONDITION with the given sense; field_byte/field_bit as sense_build. */
export function fail(slot: u32, key: u8, asc: u16, field_byte: i32, field_bit: i32): void {
  sense_build(slot_sense(slot), key, asc, field_byte, field_bit);
  finish(slot, STATUS_CHECK_CONDITION, 0);
}

@inline export function fail_field(slot: u32, field_byte: i32, field_bit: i32): void {
  fail(slot, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, field_byte, field_bit);
}
