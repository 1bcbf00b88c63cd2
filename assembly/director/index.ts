// The backup director (seed 004; docs/DIRECTOR.md): it stands between the backup
// server (the mailbox: LUN 0 the drive the server knows, LUN 1 the changer) and the
// tape library, mimics the drive's identity with its own fixed serial (the real one
// in vendor VPD page C0h, [029]), and writes every block the server writes both to the
// drive and to its caching disk, acknowledging when both have it ([024], [026]); the
// caching disk holds an exact image of each medium (image.ts). When the drive fails
// or hangs, the director takes the spare (failover.ts, FIG. 6) while the server's
// writes go on into the image at a reduced rate (during.ts) and its other commands
// wait. Commands run one at a time, in the server's order, as a tape needs.
//
//   index.ts     the entry points, the mailbox, forwarding, tracking
//   mimic.ts     the identity the server sees (INQUIRY, READ BLOCK LIMITS)
//   commands.ts  what a command is (behind, taken, the changer's), what it did to the tape
//   board.ts     where its devices are, the opcodes it uses
//   bus.ts       device-bus tags and its own commands under a deadline
//   image.ts     the caching disk's image of each medium, its fill, early warning
//   replay.ts    the image written back to a tape; the catch-up after a failover
//   failover.ts  the drive in use, the spare, the changer's view for the server
//   during.ts    the server's writes while a failover runs: the rate, BUSY
//   behind.ts    write-behind: blocks acknowledged once cached, to the drive in order
//   state.ts     the state on the caching disk: a takeover, or a reboot, resumes from it
//   load.ts      a medium loaded: read into the image (protected appends, [035])
//   layout.ts    the memory map

import { hal_log, hal_host_complete, hal_idle, hal_now_us, hal_scsi_abort, hal_timer_arm } from "../base/hal";
import { crc32c_init } from "../base/crc32c";
import {
  MB_LUN, MB_CDB, MB_CDB_LEN, MB_STATUS, MB_HOST_TAG, LOG_DIRECTOR_RESENT, MB_SENSE_LEN, MB_SENSE, MB_DATA_BYTES,
  MB_DATA, RES_STATUS, RES_HOST_STATUS, RES_SENSE_LEN, RES_SENSE, RES_RESIDUAL, HOST_OK,
} from "../base/abi";
import {
  STATUS_GOOD, STATUS_CHECK_CONDITION, STATUS_BUSY, KEY_ILLEGAL_REQUEST, KEY_HARDWARE_ERROR, ASC_LUN_NOT_SUPPORTED,
  ASC_INVALID_FIELD_IN_CDB, ASC_LUN_FAILURE, sense_build, zero, copy, put_be16,
} from "../base/scsi";
import {
  mailbox_base, mailbox_slots, mailbox_slot_bytes, mailbox_data_bytes, own_buf, own_buf_bytes, slot_at,
  drive_serial_base, drive_serial_bytes,
} from "./layout";
import { mimic_inquiry, mimic_block_limits } from "./mimic";
import {
  early_warning_sense, variable_write_bytes, behind_bytes, start_changer, changes_state, track, medium_failed,
} from "./commands";
import { during_boot, during_serving, during_admit, during_took, DURING_HOLD, DURING_BUSY } from "./during";
import {
  T_PRIMARY, BLOCK, OP_INQUIRY, OP_READ_BLOCK_LIMITS, OP_WRITE_6, OP_MODE_SELECT_6, OP_WRITE_FILEMARKS_6,
  OP_READ_ELEMENT_STATUS,
} from "./board";
import {
  drive_tag, cache_tag, tag_cdb, tag_result, note_done, tags_waiting, release, submit, run_own, own_cdb, wait_tag,
  command_limit_us, watch_tick_us, bus_hooks,
} from "./bus";
import {
  image_boot, image_record, image_pos, image_advance, image_new_medium, image_block_size, image_set_block_size,
  image_blocks_cached, image_state_due, image_set_last_crn, image_early_warning, IMG_DATA, IMG_FILEMARKS,
  IMG_TRUNCATE,
} from "./image";
import { load_boot, load_medium } from "./load";
import { state_boot, state_save, state_recovered_crn, state_done_before } from "./state";
import { behind_pump, behind_room, behind_empty, behind_put, behind_take_error, behind_new_medium } from "./behind";
import { current_drive, take_spare, failover_count as failovers_done, medium_count, relabel } from "./failover";

// ---- mailbox slots ------------------------------------------------------------------------


/** Doorbells rung (bit per slot), in the order they came: the queue of slot numbers. */
let rung: u32 = 0;
let order: u32 = 0;       // 4 bits a slot, oldest in the low bits
let queued: u32 = 0;
/** The slot being served (mailbox_slots: none), when it started, and whether the
 * director aborted its drive command (a hung drive). */
let current: u32 = mailbox_slots;
let current_started_us: i64 = 0;
let current_aborted = false;
/** The slot being served is a write gone behind: it ends when its record is cached;
 * with early warning if the director reports it (image_early_warning), and no sooner
 * than current_ack_us (a write taken during a failover: the reduced rate). */
let current_behind = false;
let current_ew = false;
let current_ack_us: i64 = 0;

export function irq_doorbell(slot: i32): void {
  if (<u32>slot >= mailbox_slots || (rung & (1 << slot)) != 0) return;
  rung |= 1 << slot;
  order |= <u32>slot << (queued * 4);
  queued++;
}

export function irq_scsi(tag: i32): void { note_done(<u32>tag); }
export function irq_timer(): void {}
/** The director keeps nothing across a power loss yet: nothing to save. */
export function irq_pfail(): void {}

export function mailbox_addr(): usize { return mailbox_base; }
export function mailbox_slot_count(): u32 { return mailbox_slots; }
export function mailbox_slot_size(): u32 { return mailbox_slot_bytes; }
export function mailbox_data_size(): u32 { return mailbox_data_bytes; }
export function blocks_in_cache(): u64 { return image_blocks_cached(); }
export function failover_count(): u32 { return failovers_done(); }
export function media_replaced(): u32 { return medium_count(); }

/** Boot: the real drive's serial (VPD 80h) and the caching disk's size. */
function boot(): void {
  let t = own_cdb();
  store<u8>(t, OP_INQUIRY); store<u8>(t, 1, 1); store<u8>(t, 0x80, 2); put_be16(t + 3, own_buf_bytes);
  zero(drive_serial_base, drive_serial_bytes);
  if (run_own(T_PRIMARY, 6, own_buf, own_buf_bytes, false)) {
    let n = <u32>load<u8>(own_buf, 3);
    copy(drive_serial_base, own_buf + 4, n < drive_serial_bytes ? n : drive_serial_bytes);
  }
  image_boot();
  load_boot();
  state_boot();
}

export function main(): void {
  crc32c_init();
  bus_hooks(serve, settle);
  during_boot();
  boot();
  while (true) {
    if (!poll()) hal_idle();
  }
}

// ---- serving the server -----------------------------------------------------------------

/** One step of the main loop; true if it did something. */
export function poll(): bool {
  if (image_state_due()) state_save();
  let did = behind_pump(settle);
  if (current == mailbox_slots) return start_next() || did;
  let s = current;
  let dt = drive_tag(s), ct = cache_tag(s);
  if (current_behind) {
    if (tags_waiting(1 << ct) != 0) return did;
    finish_behind(s);
    return true;
  }
  let waiting = tags_waiting((1 << dt) | (1 << ct));
  if (waiting != 0) {
    // A drive that does not answer within command_limit_us is hung: the command is
    // aborted, and its end (host status ABORTED) starts a failover.
    if ((waiting & (1 << dt)) != 0 && !current_aborted && hal_now_us() - current_started_us >= command_limit_us) {
      hal_scsi_abort(<i32>dt);
      current_aborted = true;
    }
    hal_timer_arm(watch_tick_us);
    return did;
  }
  complete_forwarded(s);
  return true;
}

/** A failover's replays read the caching disk: the record of a write gone behind
 * that is still on its way there first. */
function settle(): void {
  if (current != mailbox_slots && current_behind) wait_tag(cache_tag(current));
}

/** A write gone behind, its record cached: GOOD, or the director's early warning
 * (NO SENSE, EOM, END-OF-PARTITION/MEDIUM DETECTED 00/02: the block is written). */
function finish_behind(s: u32): void {
  if (!current_ew) { finish(s, STATUS_GOOD, 0); return; }
  early_warning_sense(s);
  finish(s, STATUS_CHECK_CONDITION, 0);
}

// ---- while a failover runs (during.ts) ------------------------------------------------------

let serving = false;

/** Called as the director waits for its own commands (bus.ts): while a failover that
 * found a spare runs, the server's writes are taken into the image at the reduced
 * rate, or answered BUSY; every other command waits for the failover's end. */
function serve(): void {
  if (serving || !during_serving()) return;
  serving = true;
  serve_step();
  serving = false;
}

function serve_step(): void {
  if (current != mailbox_slots) {
    if (!current_behind) return; // the command the failover holds
    let s = current;
    if (tags_waiting(1 << cache_tag(s)) != 0) return;
    let now = hal_now_us();
    if (now < current_ack_us) { hal_timer_arm(<i32>(current_ack_us - now)); return; }
    finish_behind(s);
  }
  if (queued == 0) return;
  let s = order & 15;
  let n = variable_write_bytes(s);
  if (n == 0 || n > stage_bytes_max) return; // not a write the image takes: it waits
  let a = during_admit(n, 1 + <u64>((n + BLOCK - 1) / BLOCK));
  if (a == DURING_HOLD) return;
  dequeue(s);
  if (a == DURING_BUSY) { current = s; finish(s, STATUS_BUSY, 0); return; }
  current = s;
  current_behind = true;
  if (!image_record(s, IMG_DATA, image_pos(), 1, slot_at(s) + MB_DATA, n)) {
    fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1);
    return;
  }
  image_advance(1);
  current_ew = image_early_warning();
  current_ack_us = during_took(n);
}

/** The largest block taken during a failover: a mailbox slot's. */
@inline const stage_bytes_max: u32 = mailbox_data_bytes;

/** Take slot s (the oldest) off the queue. */
function dequeue(s: u32): void {
  order >>>= 4;
  queued--;
  rung &= ~(1 << s);
}

function start_next(): bool {
  if (queued == 0) return false;
  let s = order & 15;
  // A tape's commands are in order: a write goes behind the ones before it while
  // the ring has room; anything else waits until the drive has them all.
  if (!behind_empty() && (behind_bytes(s) == 0 || !behind_room())) return false;
  dequeue(s);
  current = s;
  current_started_us = hal_now_us();
  current_aborted = false;
  start(s);
  return true;
}

/** Finish slot s now with `status` (sense already at the slot for a CHECK CONDITION). */
function finish(s: u32, status: u8, data_in: u32): void {
  let p = slot_at(s);
  store<u8>(p + MB_STATUS, status);
  store<u8>(p + MB_SENSE_LEN, status == STATUS_CHECK_CONDITION ? 18 : 0);
  store<u32>(p + MB_DATA_BYTES, data_in);
  release((1 << drive_tag(s)) | (1 << cache_tag(s)));
  current = mailbox_slots;
  current_behind = false;
  current_ew = false;
  current_ack_us = 0;
  hal_host_complete(<i32>s);
}

function fail(s: u32, key: u8, asc: u16, byte: i32): void {
  sense_build(slot_at(s) + MB_SENSE, key, asc, byte, -1);
  finish(s, STATUS_CHECK_CONDITION, 0);
}

function start(s: u32): void {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  let op = load<u8>(cdb);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  let lun = load<u8>(p + MB_LUN);
  if (lun > 1) { fail(s, KEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, -1); return; }
  // Re-sent after a takeover and done already (its block is in the image, or the
  // state block has it): done, not again.
  let tag = load<u32>(p + MB_HOST_TAG);
  if (tag != 0 && tag <= state_recovered_crn()) {
    hal_log(LOG_DIRECTOR_RESENT, <i32>tag, <i32>op);
    finish(s, STATUS_GOOD, 0);
    return;
  }
  if (lun == 1) { if (!start_changer(s)) fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1); return; }
  if (op == OP_INQUIRY) {
    let n = mimic_inquiry(p);
    if (n < 0) fail(s, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 2);
    else finish(s, STATUS_GOOD, <u32>n);
    return;
  }
  if (op == OP_READ_BLOCK_LIMITS) { finish(s, STATUS_GOOD, mimic_block_limits(p)); return; }
  // A block the drive did not take after the server was told it was written: the
  // server hears it now (a deferred error), before anything else happens.
  if (behind_take_error(p + MB_SENSE)) { finish(s, STATUS_CHECK_CONDITION, 0); return; }
  let behind = behind_bytes(s);
  if (behind > 0 && image_record(s, IMG_DATA, image_pos(), 1, p + MB_DATA, behind)) {
    behind_put(p + MB_DATA, behind);
    image_advance(1);
    current_behind = true;
    current_ew = image_early_warning();
    return;
  }
  // Everything else goes to the drive as it came; a write also to the caching disk.
  let len = <i32>load<u8>(p + MB_CDB_LEN);
  copy(tag_cdb(drive_tag(s)), cdb, 16);
  let data_out = op == OP_MODE_SELECT_6;
  if (op == OP_WRITE_6) {
    let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
    let bytes = (load<u8>(cdb, 1) & 1) != 0 ? n * image_block_size() : n;
    if (bytes > mailbox_data_bytes || bytes > host_bytes) { fail(s, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 2); return; }
    image_record(s, IMG_DATA, image_pos(), 1, p + MB_DATA, bytes);
    if (!submit(drive_tag(s), current_drive(), len, p + MB_DATA, bytes, true)) { fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1); return; }
    return;
  }
  if (op == OP_WRITE_FILEMARKS_6) {
    let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
    if (n > 0) image_record(s, IMG_FILEMARKS, image_pos(), n, 0, 0);
  }
  if (op == OP_MODE_SELECT_6 && host_bytes >= 12) {
    image_set_block_size((<u32>load<u8>(p + MB_DATA, 9) << 16) | (<u32>load<u8>(p + MB_DATA, 10) << 8) | <u32>load<u8>(p + MB_DATA, 11));
  }
  if (!submit(drive_tag(s), current_drive(), len, p + MB_DATA, host_bytes < mailbox_data_bytes ? host_bytes : mailbox_data_bytes, data_out)) {
    fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1);
  }
}

/** The drive's answer is the server's (the cache write's is the director's business);
 * a failed or hung drive is taken over first. */
function complete_forwarded(s: u32): void {
  let p = slot_at(s);
  let res = tag_result(drive_tag(s));
  let lun = load<u8>(p + MB_LUN);
  let drive_failed = load<u8>(res + RES_HOST_STATUS) != HOST_OK ||
    (load<u8>(res + RES_STATUS) == STATUS_CHECK_CONDITION && (load<u8>(res + RES_SENSE, 2) & 0x0f) == KEY_HARDWARE_ERROR);
  if (lun == 0 && drive_failed) {
    // FIGS. 6A-6F: the server's command waits (its acknowledgement delayed) while the
    // director takes the spare drive, has the robot move the tape there, and writes
    // what the failed drive's buffer lost from the image; then the command runs again.
    // A drive the director aborted (hung) will not answer an unload either.
    if (take_spare(false, current_aborted)) { state_save(); current_started_us = hal_now_us(); current_aborted = false; start(s); return; }
    fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1);
    return;
  }
  let op = load<u8>(p + MB_CDB);
  if (lun == 0 && medium_failed(res) && (op == OP_WRITE_6 || op == OP_WRITE_FILEMARKS_6)) {
    // FIG. 6F: the tape, not the drive: a spare tape takes the medium's image, then
    // the command runs again. The write the drive refused is not in the image.
    image_record(s, IMG_TRUNCATE, image_pos(), 0, 0, 0);
    wait_tag(cache_tag(s));
    if (take_spare(true, false)) { state_save(); current_started_us = hal_now_us(); start(s); return; }
    // No spare tape: the server gets the drive's MEDIUM ERROR (below).
  }
  if (load<u8>(res + RES_HOST_STATUS) != HOST_OK) { fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1); return; }
  let status = load<u8>(res + RES_STATUS);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  let residual = load<u32>(res + RES_RESIDUAL);
  let moved = host_bytes > residual ? host_bytes - residual : 0;
  let data_in = op == OP_WRITE_6 || op == OP_MODE_SELECT_6 ? 0 : moved;
  let key: u8 = 0;
  if (status == STATUS_CHECK_CONDITION) {
    let n = <u32>load<u8>(res + RES_SENSE_LEN);
    zero(p + MB_SENSE, 18);
    copy(p + MB_SENSE, res + RES_SENSE, n < 18 ? n : 18);
    key = load<u8>(p + MB_SENSE, 2) & 0x0f;
    // UNIT ATTENTION, NOT READY TO READY: the changer put a medium in.
    // It is read into the image before the server hears of it (load.ts).
    if (key == 0x6 && load<u8>(p + MB_SENSE, 12) == 0x28) { image_new_medium(); behind_new_medium(); load_medium(s, current_drive()); }
  }
  if (state_done_before(lun, op, key, status == STATUS_CHECK_CONDITION ? load<u8>(p + MB_SENSE, 12) : 0)) status = STATUS_GOOD;
  if (lun == 0) track(s, op, status, key);
  // The director's own early warning comes before the drive's (image.ts): a write or
  // filemark done, the tape nearly as full as a spare tape could take.
  if (lun == 0 && status == STATUS_GOOD && (op == OP_WRITE_6 || (op == OP_WRITE_FILEMARKS_6 && load<u8>(p + MB_CDB, 4) != 0)) &&
    image_early_warning()) {
    early_warning_sense(s);
    status = STATUS_CHECK_CONDITION;
  }
  else if (op == OP_READ_ELEMENT_STATUS && status == STATUS_GOOD) relabel(p + MB_DATA, data_in);
  // A command that moved the tape or changed the library is in the state block before
  // the server hears of it: re-sent after a takeover, it is not done twice.
  if (status == STATUS_GOOD && changes_state(lun, op)) {
    image_set_last_crn(load<u32>(p + MB_HOST_TAG));
    state_save();
  }
  finish(s, status, data_in);
}
