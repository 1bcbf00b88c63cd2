// The director's failover (seed 004 FIGS. 6A-6F, the drive's half; docs/DIRECTOR.md
// "Failover"): which drive is in use, taking the spare when it fails, and the
// changer's view of it for the server ([030]: the server's drive element is the drive
// in use; a spare tape is reported under the barcode of the tape it stands for).

import { hal_delay_us, hal_log } from "../base/hal";
import { LOG_DIRECTOR_FAILOVER } from "../base/abi";
import { zero, copy, put_be16, be32 } from "../base/scsi";
import { own_buf, own_buf_bytes } from "./layout";
import {
  T_PRIMARY, T_CHANGER, T_SPARE, ELEM_TRANSPORT, ELEM_SERVER_DRIVE, ELEM_SPARE, ELEM_SPARE_TAPE, VOLTAG_BYTES,
  OP_TEST_UNIT_READY, OP_SPACE_6, OP_MODE_SELECT_6, OP_LOAD_UNLOAD, OP_READ_POSITION, OP_MOVE_MEDIUM,
  OP_READ_ELEMENT_STATUS,
} from "./board";
import { own_cdb, own6, run_own } from "./bus";
import {
  image_pos, image_set_pos, image_block_size, image_replay_tail, image_replay_medium,
} from "./image";

/** The drive in use: its bus ID and changer element. */
let drive_target: i32 = T_PRIMARY;
let drive_elem: u32 = ELEM_SERVER_DRIVE;
let spare_used = false;
let failovers: u32 = 0;

@inline export function current_drive(): i32 { return drive_target; }
@inline export function current_drive_elem(): u32 { return drive_elem; }
@inline export function failover_count(): u32 { return failovers; }

/** Polls of the spare drive while it loads (TEST UNIT READY every 0.5 s: a minute). */
@inline const ready_polls_max: u32 = 120;

/** Ask the drive in use where it is (after a command that may have moved the tape). */
export function query_position(): void {
  let t = own_cdb();
  store<u8>(t, OP_READ_POSITION);
  if (run_own(drive_target, 10, own_buf, 20, false)) image_set_pos(be32(own_buf + 4));
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
  if (spare_used) return false;
  let whole = hung || !own6(drive_target, OP_LOAD_UNLOAD, 0, 0, own_buf, 0, false);
  if (whole) {
    // The spare tape will stand for the one stuck in the failed drive: their barcodes.
    swapped = read_voltag(ELEM_SPARE_TAPE, barcode_base) && read_voltag(drive_elem, barcode_base + VOLTAG_BYTES);
  }
  if (!move(whole ? ELEM_SPARE_TAPE : drive_elem, ELEM_SPARE)) return false;
  spare_used = true;
  drive_target = T_SPARE;
  drive_elem = ELEM_SPARE;
  // The spare loads the tape (12 s); its first answers are NOT READY, then UNIT
  // ATTENTION.
  let ready = false;
  for (let i: u32 = 0; i < ready_polls_max && !ready; i++) {
    ready = own6(drive_target, OP_TEST_UNIT_READY, 0, 0, own_buf, 0, false);
    if (!ready) hal_delay_us(500_000);
  }
  if (!ready) return false;
  // The block size the server set.
  let bs = image_block_size();
  zero(own_buf, 12);
  store<u8>(own_buf + 3, 8);
  store<u8>(own_buf + 9, <u8>(bs >>> 16)); store<u8>(own_buf + 10, <u8>(bs >>> 8)); store<u8>(own_buf + 11, <u8>bs);
  if (!own6(drive_target, OP_MODE_SELECT_6, 0x10, 12, own_buf, 12, true)) return false;
  let replayed: i64 = 0;
  let objects: u32 = 0;
  let pos = image_pos();
  if (whole) {
    replayed = image_replay_medium(drive_target);
    objects = pos;
  } else {
    // To the end of data: what reached the medium (the failed drive's buffer is lost).
    if (!own6(drive_target, OP_SPACE_6, 3, 0, own_buf, 0, false)) return false;
    query_position();
    let eod = image_pos();
    image_set_pos(pos);
    replayed = image_replay_tail(drive_target, eod);
    objects = pos - eod;
  }
  if (replayed < 0) return false;
  failovers++;
  hal_log(LOG_DIRECTOR_FAILOVER, <i32>objects, <i32>replayed);
  return true;
}

// ---- barcodes ([030]) -------------------------------------------------------------------------

/** The spare tape's barcode and the original's it stands for. */
let swapped = false;
const barcode_base: usize = memory.data(2 * VOLTAG_BYTES);

/** Read one element's volume tag (READ ELEMENT STATUS, VOLTAG) into dst. */
function read_voltag(elem: u32, dst: usize): bool {
  let t = own_cdb();
  store<u8>(t, OP_READ_ELEMENT_STATUS);
  store<u8>(t, 0x10, 1);
  put_be16(t + 2, elem);
  put_be16(t + 4, 1);
  put_be16(t + 8, own_buf_bytes); // allocation length (bytes 7..9)
  if (!run_own(T_CHANGER, 12, own_buf, own_buf_bytes, false)) return false;
  // Header 8, page header 8, then the descriptor: its tag at 12.
  if ((load<u8>(own_buf + 9) & 0x80) == 0) return false;
  copy(dst, own_buf + 16 + 12, VOLTAG_BYTES);
  return true;
}

/** In READ ELEMENT STATUS data (SMC-3 §6.10), the spare tape's barcode becomes the
 * original's. Bounded by the data's own lengths. */
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
      let same = true;
      for (let i: u32 = 0; i < VOLTAG_BYTES && same; i++) if (load<u8>(tag + i) != load<u8>(barcode_base + i)) same = false;
      if (same) copy(tag, barcode_base + VOLTAG_BYTES, VOLTAG_BYTES);
      p += len;
    }
    if (len == 0) break;
    at = end;
  }
}
