// The director's failover (seed 004 FIGS. 6A-6F, the drive's half; docs/DIRECTOR.md
// "Failover"): which drive is in use, taking the spare when it fails, and the
// changer's view of it for the server ([030]: the server's drive element is the drive
// in use; a spare tape is reported under the barcode of the tape it stands for).

import { hal_log } from "../base/hal";
import {
  LOG_DIRECTOR_FAILOVER, LOG_DIRECTOR_MEDIUM, LOG_DIRECTOR_NO_SPARE, LOG_DIRECTOR_VERIFY, LOG_DIRECTOR_CAUGHT_UP,
  LOG_DIRECTOR_FAILOVER_BEGIN,
} from "../base/abi";
import { zero, copy, equal, put_be16, be32 } from "../base/scsi";
import { own_buf, own_buf_bytes } from "./layout";
import {
  T_PRIMARY, T_CHANGER, T_SPARE, ELEM_TRANSPORT, ELEM_SERVER_DRIVE, ELEM_SPARE, ELEM_SPARE_TAPE, ELEM_IMPORT_EXPORT, VOLTAG_BYTES,
  OP_TEST_UNIT_READY, OP_SPACE_6, OP_MODE_SELECT_6, OP_LOAD_UNLOAD, OP_READ_POSITION, OP_MOVE_MEDIUM,
  OP_READ_ELEMENT_STATUS,
} from "./board";
import { own_cdb, own6, run_own, locate_own, pause_us } from "./bus";
import {
  image_set_pos, image_block_size, image_whole, image_freeze, image_frozen_pos, image_index_hold, image_index_reset,
} from "./image";
import { image_replay_tail, image_replay_medium, image_verify, image_catch_up, REPLAY_MEDIUM } from "./replay";
import { during_begin, during_open, during_end, during_taken_bytes, during_running } from "./during";

/** The drive in use: its bus ID and changer element. One spare drive and one spare
 * tape: each used once. */
let drive_target: i32 = T_PRIMARY;
let drive_elem: u32 = ELEM_SERVER_DRIVE;
let spare_drive_used = false;
let spare_tape_used = false;
let failovers: u32 = 0;
let media_replaced: u32 = 0;

@inline export function current_drive(): i32 { return drive_target; }
@inline export function current_drive_elem(): u32 { return drive_elem; }
@inline export function failover_count(): u32 { return failovers; }
@inline export function medium_count(): u32 { return media_replaced; }

/** Polls of the spare drive while it loads (TEST UNIT READY every 0.5 s: a minute). */
@inline const ready_polls_max: u32 = 120;

/** The drive in use, the spares used and the counts, for the state block (state.ts),
 * at d (32 bytes); and back. */
export function failover_flags(d: usize): void {
  store<u32>(d, <u32>drive_target);
  store<u32>(d, drive_elem, 4);
  store<u32>(d, (spare_drive_used ? 1 : 0) | (spare_tape_used ? 2 : 0) | (swapped ? 4 : 0), 8);
  store<u32>(d, failovers, 12);
  store<u32>(d, media_replaced, 16);
}
export function failover_restore(d: usize): void {
  drive_target = <i32>load<u32>(d);
  drive_elem = load<u32>(d, 4);
  let f = load<u32>(d, 8);
  spare_drive_used = (f & 1) != 0;
  spare_tape_used = (f & 2) != 0;
  swapped = (f & 4) != 0;
  failovers = load<u32>(d, 12);
  media_replaced = load<u32>(d, 16);
  if (drive_target != T_PRIMARY && drive_target != T_SPARE) { drive_target = T_PRIMARY; drive_elem = ELEM_SERVER_DRIVE; }
}
/** The swapped barcodes to d (64 bytes), or from it (`restore`). */
export function barcodes(d: usize, restore: bool): void {
  if (restore) copy(barcode_base, d, 2 * VOLTAG_BYTES);
  else copy(d, barcode_base, 2 * VOLTAG_BYTES);
}

/** Ask the drive in use where it is (after a command that may have moved the tape). */
export function query_position(): void {
  let p = drive_position();
  if (p >= 0) image_set_pos(<u32>p);
}

/** The drive in use's position (READ POSITION), or -1. */
function drive_position(): i64 {
  let t = own_cdb();
  store<u8>(t, OP_READ_POSITION);
  return run_own(drive_target, 10, own_buf, 20, false) ? <i64>be32(own_buf + 4) : -1;
}

/** Failovers one failure may lead to: the spare drive's, the spare tape's, and one
 * more try of each's catch-up. */
@inline const take_spare_rounds_max: u32 = 4;

/** The drive in use failed (`medium`: it refused the tape) or hung: a failover
 * (failover, replace_medium), during which the server's writes are taken at a reduced
 * rate (during.ts); then the catch-up writes them ([033], [051]). A drive that fails
 * during the catch-up is failed over in turn, everything up to then its replay's. */
export function take_spare(medium: bool, hung: bool): bool {
  hal_log(LOG_DIRECTOR_FAILOVER_BEGIN, medium ? 1 : 0, hung ? 1 : 0);
  // Within a session begun when the drive was first suspected (behind.ts): its freeze
  // stands (the server's writes since are the catch-up's), and it ends the session.
  let outer = !during_running();
  if (outer) {
    during_begin();
    image_freeze();
    image_index_hold(true);
  }
  let ok = medium ? replace_medium() : failover(hung);
  for (let k: u32 = 0; ok && k < take_spare_rounds_max; k++) {
    let r = image_catch_up(drive_target);
    if (r >= 0) {
      if (during_taken_bytes() > 0) hal_log(LOG_DIRECTOR_CAUGHT_UP, <i32>during_taken_bytes(), <i32>r);
      break;
    }
    // The drive failed as it caught up: the next failover writes everything up to
    // now, from the caching disk (the index lacks what was not caught up).
    image_index_reset();
    image_freeze();
    ok = r == REPLAY_MEDIUM ? replace_medium() : failover(false);
    if (k + 1 == take_spare_rounds_max) ok = false;
  }
  // No spare after all: what was taken is in the image only (the server hears of it:
  // a deferred error), and the index lacks it.
  if (!ok && during_taken_bytes() > 0) image_index_reset();
  if (outer) {
    image_index_hold(false);
    during_end();
  }
  return ok;
}

/** Move a cartridge with the robot: from element `from` to `to`. */
function move(from: u32, to: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_MOVE_MEDIUM);
  put_be16(t + 2, ELEM_TRANSPORT);
  put_be16(t + 4, from);
  put_be16(t + 6, to);
  return run_own(T_CHANGER, 12, own_buf, 0, false);
}

/** The drive in use failed: take the spare drive and make it hold the medium as the
 * server believes it is ([031]-[033]):
 *  - the failed drive gives the tape up (a failed write channel still unloads): the
 *    robot moves it to the spare, which gets back from the image what the failed
 *    drive's buffer lost (the records from the tape's new end of data to the server's
 *    position);
 *  - the tape will not come out: the robot loads the director's spare tape, which
 *    gets the whole image of the medium written to it; it goes where the server puts
 *    its tape from now on (the server's drive element is the spare's).
 * A hung drive (`hung`: the director aborted its command) keeps its tape. false if
 * that cannot be done (no spare drive or tape left, the robot failed): the server is
 * told then. */
export function failover(hung: bool): bool {
  if (spare_drive_used) return no_spare(1);
  // A spare drive is there ([050]): the server's writes are taken meanwhile ([051]).
  during_open();
  // A director before this one died during this failover, after the robot's part
  // (the spare drive holds a cartridge): which one says how it went on.
  let held = drive_elem == ELEM_SERVER_DRIVE ? spare_drive_holds() : 0;
  let whole = held == 2 || (held == 0 && (hung || !own6(drive_target, OP_LOAD_UNLOAD, 0, 0, own_buf, 0, false)));
  if (whole && spare_tape_used) return no_spare(2);
  // An append past the threshold: the image lacks what the tape held ([035]).
  if (whole && !image_whole()) return no_spare(12);
  // The spare tape will stand for the one stuck in the failed drive: their barcodes.
  if (whole) swapped = read_voltag(held == 2 ? ELEM_SPARE : ELEM_SPARE_TAPE, barcode_base) && read_voltag(drive_elem, barcode_base + VOLTAG_BYTES);
  if (held == 0 && !move(whole ? ELEM_SPARE_TAPE : drive_elem, ELEM_SPARE)) return no_spare(3);
  spare_drive_used = true;
  if (whole) spare_tape_used = true;
  drive_target = T_SPARE;
  drive_elem = ELEM_SPARE;
  let pos = image_frozen_pos();
  if (!ready_at_block_size()) return no_spare(4);
  let replayed: i64 = 0;
  let objects: u32 = pos;
  if (whole) {
    replayed = image_replay_medium(drive_target);
  } else {
    // To the end of data: what reached the medium (the failed drive's buffer is lost).
    if (!own6(drive_target, OP_SPACE_6, 3, 0, own_buf, 0, false)) return no_spare(5);
    let at = drive_position();
    let eod = at >= 0 ? <u32>at : pos;
    // The last blocks there checked against the image; writing goes on after the
    // last good one ([053] step 615).
    let good = image_verify(drive_target, eod);
    if (good < eod) hal_log(LOG_DIRECTOR_VERIFY, <i32>good, <i32>(eod - good));
    if (!locate_own(drive_target, good)) return no_spare(14);
    replayed = image_replay_tail(drive_target, good);
    objects = pos - good;
  }
  if (replayed < 0) {
    // The tape refused the image (damaged further on: MEDIUM ERROR) or the spare
    // drive failed: the spare tape, if any is left, takes the whole image.
    failovers++;
    hal_log(LOG_DIRECTOR_FAILOVER, <i32>objects, 0);
    return replace_medium();
  }
  failovers++;
  hal_log(LOG_DIRECTOR_FAILOVER, <i32>objects, <i32>replayed);
  return true;
}

/** The tape in use is damaged (the drive refused a write with MEDIUM ERROR: FIG. 6F):
 * the drive unloads it, the robot puts it in the import/export slot for the operator
 * and loads the director's spare tape into the same drive, which gets the medium's
 * whole image; the spare then stands for the damaged tape under its barcode ([030]).
 * A tape that will not come out is a failed drive: the spare drive takes over.
 * false if no spare tape is left or the robot failed: the server is told then. */
export function replace_medium(): bool {
  if (spare_tape_used) return no_spare(7);
  if (!image_whole()) return no_spare(13);
  during_open();
  if (!own6(drive_target, OP_LOAD_UNLOAD, 0, 0, own_buf, 0, false)) return failover(false);
  swapped = read_voltag(ELEM_SPARE_TAPE, barcode_base) && read_voltag(drive_elem, barcode_base + VOLTAG_BYTES);
  if (!move(drive_elem, ELEM_IMPORT_EXPORT)) return no_spare(8);
  if (!move(ELEM_SPARE_TAPE, drive_elem)) return no_spare(9);
  spare_tape_used = true;
  let pos = image_frozen_pos();
  if (!ready_at_block_size()) return no_spare(10);
  let replayed = image_replay_medium(drive_target);
  // The drive failed while it took the image: the spare drive takes the tape and
  // what it lacks (a second failure, FIG. 6D from 6F).
  if (replayed < 0) {
    media_replaced++;
    hal_log(LOG_DIRECTOR_MEDIUM, <i32>pos, 0);
    return failover(false);
  }
  media_replaced++;
  hal_log(LOG_DIRECTOR_MEDIUM, <i32>pos, <i32>replayed);
  return true;
}

/** What the spare drive holds: 0 nothing (or the changer does not say), 1 the tape of
 * the drive that failed (the director's spare tape is still in its slot), 2 the spare
 * tape (its slot is empty). */
function spare_drive_holds(): u32 {
  if (!element_full(ELEM_SPARE)) return 0;
  return element_full(ELEM_SPARE_TAPE) ? 1 : 2;
}

/** Log why a failover could not be made (the step: docs/DIRECTOR.md); false. */
function no_spare(step: i32): bool {
  hal_log(LOG_DIRECTOR_NO_SPARE, step, 0);
  return false;
}

/** Wait for the drive in use to load (NOT READY, then UNIT ATTENTION, then GOOD) and
 * set the block size the server set. */
function ready_at_block_size(): bool {
  let ready = false;
  for (let i: u32 = 0; i < ready_polls_max && !ready; i++) {
    ready = own6(drive_target, OP_TEST_UNIT_READY, 0, 0, own_buf, 0, false);
    if (!ready) pause_us(500_000);
  }
  if (!ready) return false;
  let bs = image_block_size();
  zero(own_buf, 12);
  store<u8>(own_buf + 3, 8);
  store<u8>(own_buf + 9, <u8>(bs >>> 16)); store<u8>(own_buf + 10, <u8>(bs >>> 8)); store<u8>(own_buf + 11, <u8>bs);
  return own6(drive_target, OP_MODE_SELECT_6, 0x10, 12, own_buf, 12, true);
}

// ---- barcodes ([030]) -------------------------------------------------------------------------

/** The spare tape's barcode and the original's it stands for. */
let swapped = false;
const barcode_base: usize = memory.data(2 * VOLTAG_BYTES);

/** One element's status (READ ELEMENT STATUS, VOLTAG) into own_buf: header 8, page
 * header 8, then its descriptor (SMC-3 §6.10.3). */
function read_element(elem: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_READ_ELEMENT_STATUS);
  store<u8>(t, 0x10, 1);
  put_be16(t + 2, elem);
  put_be16(t + 4, 1);
  put_be16(t + 8, own_buf_bytes); // allocation length (bytes 7..9)
  return run_own(T_CHANGER, 12, own_buf, own_buf_bytes, false) && load<u8>(own_buf + 3) == 1 &&
    ((load<u32>(own_buf + 16) & 0xffff) == ((elem >>> 8) | ((elem & 0xff) << 8)));
}

/** Read one element's volume tag into dst. */
function read_voltag(elem: u32, dst: usize): bool {
  if (!read_element(elem) || (load<u8>(own_buf + 9) & 0x80) == 0) return false;
  copy(dst, own_buf + 16 + 12, VOLTAG_BYTES);
  return true;
}

/** The element holds a cartridge (FULL); false if the changer does not say. */
function element_full(elem: u32): bool { return read_element(elem) && (load<u8>(own_buf + 16 + 2) & 1) != 0; }

/** In READ ELEMENT STATUS data (SMC-3 §6.10), the spare tape and the original swap
 * barcodes: the server finds its tape where the spare stands in for it, and the
 * original (stuck in a drive, or in the import/export slot) under the spare's.
 * Bounded by the data's own lengths. */
export function relabel(d: usize, n: u32): void {
  if (!swapped || n < 8) return;
  let at: u32 = 8;
  for (let pages: u32 = 0; pages < 8 && at + 8 <= n; pages++) {
    let vol = (load<u8>(d + at + 1) & 0x80) != 0;
    let len = (<u32>load<u8>(d + at + 2) << 8) | <u32>load<u8>(d + at + 3);
    let bytes = (<u32>load<u8>(d + at + 5) << 16) | (<u32>load<u8>(d + at + 6) << 8) | <u32>load<u8>(d + at + 7);
    let p = at + 8;
    let end = p + bytes < n ? p + bytes : n;
    for (let k: u32 = 0; k < 256 && vol && len >= 12 + VOLTAG_BYTES && p + len <= end; k++) {
      let tag = d + p + 12;
      if (equal(tag, barcode_base, VOLTAG_BYTES)) copy(tag, barcode_base + VOLTAG_BYTES, VOLTAG_BYTES);
      else if (equal(tag, barcode_base + VOLTAG_BYTES, VOLTAG_BYTES)) copy(tag, barcode_base, VOLTAG_BYTES);
      p += len;
    }
    if (len == 0) break;
    at = end;
  }
}
