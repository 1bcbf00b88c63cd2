// Write-behind to the drive (docs/DIRECTOR.md "Write-behind"): a server's WRITE(6) is
// acknowledged once the caching disk holds its record, as a buffered drive
// acknowledges once its buffer holds it (SSC-3 buffered mode 1); the block waits in
// a ring here and goes to the drive in order, one command at a time, while the server
// sends the next. The image holds every acknowledged block, so whatever the drive
// then does is recovered from it:
//  - it fails or hangs: the spare drive takes the tape and the image's tail (failover);
//  - the tape is damaged: the spare tape takes the whole image (replace_medium);
//  - early warning from the drive (the director's own comes first: image.ts; a tape
//    whose fill it does not know has only the drive's): from then on, until a new
//    medium, every write waits for the drive,
//    which reports early warning on each (SSC-3 §4.2.5): the server hears it on its
//    next write or filemark, and the end of the tape is never passed on a block
//    already acknowledged;
//  - anything else, or no spare left: a deferred error (sense 71h) on the server's
//    next command, and the blocks still in the ring are not written after it.
// Any other command waits until the ring is empty (a tape's commands are in order).

import { hal_now_us, hal_scsi_abort, hal_timer_arm, hal_log } from "../base/hal";
import { RES_STATUS, RES_HOST_STATUS, RES_SENSE, HOST_OK, LOG_DIRECTOR_SUSPECT, LOG_DIRECTOR_CAUGHT_UP } from "../base/abi";
import {
  STATUS_CHECK_CONDITION, KEY_HARDWARE_ERROR, KEY_MEDIUM_ERROR, KEY_NO_SENSE, ASC_LUN_FAILURE, ASC_WRITE_ERROR, zero,
} from "../base/scsi";
import { stage_base, stage_entries, stage_entry_bytes, stage_len_base } from "./layout";
import { OP_WRITE_6 } from "./board";
import { behind_tag, tag_cdb, tag_result, submit, tags_waiting, release, command_limit_us, watch_tick_us, wait_serving } from "./bus";
import { current_drive, take_spare } from "./failover";
import { state_save } from "./state";
import { image_freeze, image_index_hold, image_index_reset } from "./image";
import { image_catch_up, REPLAY_MEDIUM } from "./replay";
import { during_begin, during_open, during_end, during_taken_bytes } from "./during";

let head: u32 = 0;        // the oldest block in the ring
let count: u32 = 0;       // blocks in the ring (the oldest may be at the drive)
let at_drive = false;     // the oldest is at the drive now
let started_us: i64 = 0;
let aborted = false;
/** A failover ran since the drive was suspected (suspect()). */
let recovered = false;

/** How long a block may be at the drive before the director suspects it ([031]):
 * a buffered drive takes a block once its buffer has room, within the buffer's drain
 * time (1 MiB at 140 MB/s: 7.5 ms); a drive repositioning after an underrun takes a
 * few seconds. From then on the server's writes are taken at the reduced rate while
 * the director finds out whether the drive failed (command_limit_us). */
@inline const suspect_after_us: i64 = 5_000_000;
/** Early warning seen, until a new medium: writes wait for the drive. */
let sync_mode = false;
/** A deferred error for the server's next command: its sense key and ASC (0: none). */
let deferred_key: u8 = 0;
let deferred_asc: u16 = 0;

@inline function entry(k: u32): usize { return stage_base + ((head + k) % stage_entries) * stage_entry_bytes; }
@inline function entry_len(k: u32): usize { return stage_len_base + ((head + k) % stage_entries) * 4; }

/** May a write of `bytes` go behind now (else it waits for the drive itself)? */
export function behind_open(bytes: u32): bool {
  return !sync_mode && deferred_key == 0 && bytes > 0 && bytes <= stage_entry_bytes;
}
@inline export function behind_room(): bool { return count < stage_entries; }
@inline export function behind_empty(): bool { return count == 0; }
@inline export function behind_count(): u32 { return count; }

/** A new medium in the drive: writes may go behind again. */
export function behind_new_medium(): void { sync_mode = false; }

/** Take a block the server wrote (its record already on its way to the caching disk). */
export function behind_put(src: usize, bytes: u32): void {
  copy64(entry(count), src, bytes);
  store<u32>(entry_len(count), bytes);
  count++;
}

/** A deferred error to tell the server now: writes its sense at `sense` (fixed
 * format, response code 71h) and clears it; false if none. */
export function behind_take_error(sense: usize): bool {
  if (deferred_key == 0) return false;
  zero(sense, 18);
  store<u8>(sense, 0x71);
  store<u8>(sense, deferred_key, 2);
  store<u8>(sense, 10, 7);
  store<u8>(sense, <u8>(deferred_asc >>> 8), 12);
  store<u8>(sense, <u8>deferred_asc, 13);
  deferred_key = 0;
  return true;
}

/** Copy `bytes` rounded up to 64 (both areas are whole 4 KiB blocks), eight words a
 * turn: about 1,900 metered cycles for 4 KiB against 5,600 for copy()'s one. */
function copy64(dst: usize, src: usize, bytes: u32): void {
  let end = src + ((<usize>bytes + 63) & ~<usize>63);
  for (; src < end; src += 64, dst += 64) {
    store<u64>(dst, load<u64>(src));
    store<u64>(dst, load<u64>(src, 8), 8);
    store<u64>(dst, load<u64>(src, 16), 16);
    store<u64>(dst, load<u64>(src, 24), 24);
    store<u64>(dst, load<u64>(src, 32), 32);
    store<u64>(dst, load<u64>(src, 40), 40);
    store<u64>(dst, load<u64>(src, 48), 48);
    store<u64>(dst, load<u64>(src, 56), 56);
  }
}

function defer(key: u8, asc: u16): void {
  deferred_key = key;
  deferred_asc = asc;
  count = 0; // nothing after a block the drive did not take
}

/** One step: the drive's answer to the oldest block, or the next block to it. true if
 * it did something. `settle` (a failover's replays read the caching disk) waits for
 * the server's command's own record first. */
export function behind_pump(settle: () => void): bool {
  if (at_drive) {
    if (tags_waiting(1 << behind_tag) != 0) {
      if (!aborted && hal_now_us() - started_us >= suspect_after_us) { suspect(settle); return true; }
      hal_timer_arm(watch_tick_us);
      return false;
    }
    release(1 << behind_tag);
    at_drive = false;
    answered(settle);
    // The next block at once: the drive's time is the rate.
  }
  if (count == 0) return false;
  if (!send_oldest()) recover(false, settle); // the bus refused it (no drive there): as a failed drive
  return true;
}

/** The ring's oldest block to the drive. false if the bus refused it. */
function send_oldest(): bool {
  let t = tag_cdb(behind_tag);
  let bytes = load<u32>(entry_len(0));
  zero(t, 16);
  store<u8>(t, OP_WRITE_6);
  store<u8>(t, <u8>(bytes >>> 16), 2); store<u8>(t, <u8>(bytes >>> 8), 3); store<u8>(t, <u8>bytes, 4);
  started_us = hal_now_us();
  aborted = false;
  if (!submit(behind_tag, current_drive(), 6, entry(0), bytes, true)) return false;
  at_drive = true;
  return true;
}

/** The drive has not taken a block for suspect_after_us ([031]): until it does, or is
 * found failed (command_limit_us: a hung drive is aborted), the server's writes are
 * taken into the image at the reduced rate (during.ts); the ring's blocks go to the
 * drive as it takes them, then the catch-up writes what was taken. A failover on the
 * way (the drive failed, hung, or refused the tape) does the catch-up itself. */
function suspect(settle: () => void): void {
  settle();
  hal_log(LOG_DIRECTOR_SUSPECT, <i32>count, 0);
  during_begin();
  image_freeze();
  image_index_hold(true);
  during_open();
  recovered = false;
  for (let k: u32 = 0; k <= stage_entries && !recovered && deferred_key == 0 && (at_drive || count > 0); k++) {
    if (!at_drive && !send_oldest()) { recover(false, settle); break; }
    if (wait_serving(behind_tag, started_us + command_limit_us)) aborted = true;
    release(1 << behind_tag);
    at_drive = false;
    answered(settle);
  }
  if (!recovered && deferred_key == 0) {
    // The drive took the ring's blocks after all: what was taken meanwhile follows.
    let r = image_catch_up(current_drive());
    if (r >= 0 && during_taken_bytes() > 0) hal_log(LOG_DIRECTOR_CAUGHT_UP, <i32>during_taken_bytes(), <i32>r);
    if (r < 0) {
      // It failed as it caught up: the failover writes everything up to now.
      image_index_reset();
      image_freeze();
      recover(r == REPLAY_MEDIUM, settle);
    }
  }
  // Not written after all (a deferred error): the index lacks what was taken.
  if (deferred_key != 0 && during_taken_bytes() > 0) image_index_reset();
  image_index_hold(false);
  during_end();
}

function answered(settle: () => void): void {
  let res = tag_result(behind_tag);
  let host_ok = load<u8>(res + RES_HOST_STATUS) == HOST_OK;
  let check = load<u8>(res + RES_STATUS) == STATUS_CHECK_CONDITION;
  let key = load<u8>(res + RES_SENSE, 2) & 0x0f;
  if (host_ok && !check) { pop(); return; }
  if (host_ok && check && key == KEY_NO_SENSE) {
    // Written, and the tape is nearly full: the drive tells the server itself.
    pop();
    sync_mode = true;
    return;
  }
  if (!host_ok || key == KEY_HARDWARE_ERROR) { recover(false, settle); return; }
  if (key == KEY_MEDIUM_ERROR) { recover(true, settle); return; }
  defer(key, (<u16>load<u8>(res + RES_SENSE, 12) << 8) | <u16>load<u8>(res + RES_SENSE, 13));
}

function pop(): void {
  head = (head + 1) % stage_entries;
  count--;
}

/** The drive failed, hung (aborted) or damaged the tape: the spare takes over and the
 * image up to the server's position is written (the ring's blocks with it). */
function recover(medium: bool, settle: () => void): void {
  settle();
  recovered = true;
  let ok = take_spare(medium, aborted);
  if (ok) { count = 0; state_save(); return; }
  defer(medium ? KEY_MEDIUM_ERROR : KEY_HARDWARE_ERROR, medium ? ASC_WRITE_ERROR : ASC_LUN_FAILURE);
}
