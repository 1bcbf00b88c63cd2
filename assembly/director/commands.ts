// What the server's commands are, and what they did to the tape (index.ts runs them):
// the writes that go behind or are taken during a failover, the changer's commands
// with the server's drive element mapped to the drive in use, the director's early
// warning, which commands change state a re-send must not repeat, and the image's
// view of the drive's position after each.

import { hal_log } from "../base/hal";
import {
  MB_LUN, MB_CDB, MB_CDB_LEN, MB_HOST_TAG, MB_SENSE, MB_DATA_BYTES, MB_DATA, LOG_DIRECTOR_EARLY_WARNING,
  RES_STATUS, RES_HOST_STATUS, RES_SENSE, HOST_OK,
} from "../base/abi";
import { STATUS_GOOD, STATUS_CHECK_CONDITION, KEY_MEDIUM_ERROR, KEY_NO_SENSE, sense_build, copy, put_be16 } from "../base/scsi";
import { mailbox_data_bytes, slot_at } from "./layout";
import {
  T_CHANGER, ELEM_SERVER_DRIVE, OP_WRITE_6, OP_MODE_SELECT_6, OP_WRITE_FILEMARKS_6, OP_LOAD_UNLOAD, OP_MOVE_MEDIUM,
} from "./board";
import { drive_tag, cache_tag, tag_cdb, submit, wait_tag } from "./bus";
import { image_record, image_sync, image_pos, image_advance, image_new_medium, image_ready, IMG_TRUNCATE } from "./image";
import { state_recovered_crn } from "./state";
import { behind_open, behind_new_medium } from "./behind";
import { current_drive_elem, query_position } from "./failover";

/** The director's early warning in slot s's sense (NO SENSE, EOM, END-OF-PARTITION/
 * MEDIUM DETECTED 00/02: the block is written). */
export function early_warning_sense(s: u32): void {
  let sense = slot_at(s) + MB_SENSE;
  sense_build(sense, KEY_NO_SENSE, 0x0002, -1, -1);
  store<u8>(sense, load<u8>(sense, 2) | 0x40, 2); // EOM
  hal_log(LOG_DIRECTOR_EARLY_WARNING, <i32>image_pos(), 0);
}

/** The length of slot s's command if it is a variable-length WRITE(6) to LUN 0 whose
 * data is all in the slot, not re-sent (done already); else 0. */
export function variable_write_bytes(s: u32): u32 {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  if (load<u8>(p + MB_LUN) != 0 || load<u8>(cdb) != OP_WRITE_6 || (load<u8>(cdb, 1) & 1) != 0) return 0;
  let tag = load<u32>(p + MB_HOST_TAG);
  if (tag != 0 && tag <= state_recovered_crn()) return 0;
  let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
  return n <= load<u32>(p + MB_DATA_BYTES) ? n : 0;
}

/** The size of slot s's write if it may go behind (a variable-length WRITE(6) to the
 * drive, whole in the slot, with the caching disk up), else 0. */
export function behind_bytes(s: u32): u32 {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  if (load<u8>(p + MB_LUN) != 0 || load<u8>(cdb) != OP_WRITE_6 || (load<u8>(cdb, 1) & 1) != 0 || !image_ready()) return 0;
  let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
  return n <= load<u32>(p + MB_DATA_BYTES) && n <= mailbox_data_bytes && behind_open(n) ? n : 0;
}

/** LUN 1: the changer, as the server knows it: its drive element is whichever drive
 * the director uses now ([030]). false if the bus refused the command. */
export function start_changer(s: u32): bool {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  let t = tag_cdb(drive_tag(s));
  copy(t, cdb, 16);
  if (load<u8>(cdb) == OP_MOVE_MEDIUM) {
    if (((<u32>load<u8>(t, 4) << 8) | <u32>load<u8>(t, 5)) == ELEM_SERVER_DRIVE) put_be16(t + 4, current_drive_elem());
    if (((<u32>load<u8>(t, 6) << 8) | <u32>load<u8>(t, 7)) == ELEM_SERVER_DRIVE) put_be16(t + 6, current_drive_elem());
  }
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  return submit(drive_tag(s), T_CHANGER, <i32>load<u8>(p + MB_CDB_LEN), p + MB_DATA,
    host_bytes < mailbox_data_bytes ? host_bytes : mailbox_data_bytes, false);
}

/** Commands whose effect a re-send must not repeat (besides writes and filemarks,
 * which the image records): REWIND, SPACE, LOCATE, LOAD UNLOAD, MODE SELECT; MOVE
 * MEDIUM on the changer. */
export function changes_state(lun: u8, op: u8): bool {
  if (lun == 1) return op == OP_MOVE_MEDIUM;
  return op == 0x01 || op == 0x11 || op == 0x2b || op == OP_LOAD_UNLOAD || op == OP_MODE_SELECT_6;
}
/** The drive's position after slot s's command, and the image's view of it. */
export function track(s: u32, op: u8, status: u8, key: u8): void {
  let cdb = slot_at(s) + MB_CDB;
  if (op == OP_WRITE_6) {
    // Taken: GOOD, or early warning (NO SENSE with EOM). Anything else did not write
    // the block (the end of the medium, an error): the image drops it again.
    if (status == STATUS_GOOD || key == 0) image_advance(1);
    else { image_record(s, IMG_TRUNCATE, image_pos(), 0, 0, 0); wait_tag(cache_tag(s)); }
    return;
  }
  if (op == OP_WRITE_FILEMARKS_6) {
    let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
    if (status == STATUS_GOOD || key == 0) image_advance(n);
    else query_position();
    // Without IMMED the server asks for everything to be on the medium: the image too.
    if ((load<u8>(cdb, 1) & 1) == 0) image_sync();
    return;
  }
  if (op == OP_LOAD_UNLOAD && status == STATUS_GOOD && (load<u8>(cdb, 4) & 1) == 0) {
    image_new_medium();
    behind_new_medium();
    return;
  }
  // REWIND, LOCATE(10), SPACE(6), READ(6), LOAD: the drive says where it is.
  if (op == 0x01 || op == 0x2b || op == 0x11 || op == 0x08 || op == OP_LOAD_UNLOAD) query_position();
}
/** MEDIUM ERROR from the drive (sense key 3). */
export function medium_failed(res: usize): bool {
  return load<u8>(res + RES_HOST_STATUS) == HOST_OK && load<u8>(res + RES_STATUS) == STATUS_CHECK_CONDITION &&
    (load<u8>(res + RES_SENSE, 2) & 0x0f) == KEY_MEDIUM_ERROR;
}
