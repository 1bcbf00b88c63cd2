// The director's state on its caching disk (seed 004 FIG. 7, [057]; docs/DIRECTOR.md
// "Takeover"): what a director that boots (the spare taking over a dead one, or the
// same one after a power cut) needs to resume where the last one stopped, kept where
// both reach it: the caching disk. Two copies at blocks 0 and 1, written in turn, each
// with a generation and a CRC; the newest valid one wins. It is written after every
// command that moves the tape or changes the library (before the server hears the
// end of it), after a failover, at a new medium and every state_every_records image
// records; the image records themselves carry the rest (each its position and the
// server's command number), read on from the state's head at boot.
//
// The server's command number is its mailbox host tag (FCP-4's command reference
// number, widened): a command re-sent after a takeover whose number is not above the
// newest one done is answered GOOD without being done again.

import { hal_delay_us, hal_log } from "../base/hal";
import { LOG_DIRECTOR_TAKEOVER, RES_SENSE, RES_HOST_STATUS, HOST_OK } from "../base/abi";
import { crc32c } from "../base/crc32c";
import { zero, put_be32, put_be64, KEY_HARDWARE_ERROR, KEY_NOT_READY, KEY_UNIT_ATTENTION, KEY_ILLEGAL_REQUEST } from "../base/scsi";
import { state_buf, own_buf } from "./layout";
import { T_CACHE, BLOCK, CACHE_STATE_LBA, CACHE_RING_START, OP_READ_16, OP_WRITE_16, OP_TEST_UNIT_READY, OP_SPACE_6, OP_LOAD_UNLOAD, OP_MOVE_MEDIUM } from "./board";
import { own_cdb, own6, run_own, own_tag, tag_result, locate_own } from "./bus";
import {
  image_head, image_seq, image_medium, image_medium_start, image_pos, image_set_pos, image_block_size, image_last_crn,
  image_state_saved, image_recover, image_ready, image_new_medium, image_whole, image_medium_bytes, image_freeze,
} from "./image";
import { image_replay_from } from "./replay";
import { load_medium } from "./load";
import { failover_flags, failover_restore, barcodes, current_drive, query_position, failover } from "./failover";

@inline const ST_MAGIC: u32 = 0x54535548; // "HUST"
@inline const ST_VERSION: u16 = 2;
@inline const ST_CRC_AT: u32 = BLOCK - 4;
/** Polls of the drive after a takeover (TEST UNIT READY every 0.5 s: two minutes, a
 * load and a full wind). */
@inline const takeover_polls_max: u32 = 240;

let gen: u32 = 0;
/** The newest command number at boot: re-sent commands up to it were done. */
let recovered_crn: u32 = 0;

/** A state was found at boot, and the server's first command since is not yet done. */
let first_after_boot = false;

@inline export function state_recovered_crn(): u32 { return recovered_crn; }

/** The server's first command after a boot that found a state, answered CHECK
 * CONDITION with sense key `key` and ASC `asc`: was it one the last director did and
 * could not answer (an unload of a tape already out, a move already made)? Called for
 * every answer; only the first after such a boot can say yes. */
export function state_done_before(lun: u8, op: u8, key: u8, asc: u8): bool {
  if (!first_after_boot) return false;
  first_after_boot = false;
  return (op == OP_LOAD_UNLOAD && lun == 0 && key == KEY_NOT_READY && asc == 0x3a) ||
    (op == OP_MOVE_MEDIUM && lun == 1 && key == KEY_ILLEGAL_REQUEST && asc == 0x3b);
}

/** Write the state block (the older copy), waiting for the disk to take it. */
export function state_save(): void {
  if (!image_ready()) return;
  let b = state_buf;
  zero(b, BLOCK);
  gen++;
  store<u32>(b, ST_MAGIC);
  store<u16>(b, ST_VERSION, 4);
  store<u32>(b, gen, 8);
  store<u32>(b, image_seq(), 12);
  store<u64>(b, image_head(), 16);
  store<u32>(b, image_medium(), 24);
  store<u32>(b, image_pos(), 28);
  store<u64>(b, image_medium_start(), 32);
  store<u32>(b, image_block_size(), 40);
  store<u32>(b, image_last_crn(), 44);
  store<u32>(b, image_whole() ? 1 : 0, 48);
  store<u64>(b, image_medium_bytes(), 56);
  failover_flags(b + 64);   // 64..127: the drive in use, the spares, the counts
  barcodes(b + 128, false); // 128..191: the swapped barcodes
  store<u32>(b, crc32c(b, ST_CRC_AT, 0), ST_CRC_AT);
  let t = own_cdb();
  store<u8>(t, OP_WRITE_16);
  put_be64(t + 2, CACHE_STATE_LBA + <u64>(gen & 1));
  put_be32(t + 10, 1);
  if (run_own(T_CACHE, 16, b, BLOCK, true)) image_state_saved();
}

/** Read state copy k into state_buf: its generation, or 0 if it is not valid. */
function read_copy(k: u32): u32 {
  let t = own_cdb();
  store<u8>(t, OP_READ_16);
  put_be64(t + 2, CACHE_STATE_LBA + <u64>k);
  put_be32(t + 10, 1);
  if (!run_own(T_CACHE, 16, state_buf, BLOCK, false)) return 0;
  if (load<u32>(state_buf) != ST_MAGIC || load<u16>(state_buf, 4) != ST_VERSION) return 0;
  if (crc32c(state_buf, ST_CRC_AT, 0) != load<u32>(state_buf, ST_CRC_AT)) return 0;
  return load<u32>(state_buf, 8);
}

/** Boot: take up the state a director before this one left on the caching disk, if
 * any, then bring the tape to what the image says it holds. */
export function state_boot(): void {
  if (!image_ready()) return;
  let g0 = read_copy(0), g1 = read_copy(1);
  if (g0 == 0 && g1 == 0) { state_save(); return; } // a new caching disk
  let k: u32 = g1 > g0 ? 1 : 0;
  if (k == 0) read_copy(0); // state_buf holds copy 1 after the second read
  gen = k == 0 ? g0 : g1;
  let b = state_buf;
  let head = load<u64>(b, 16);
  if (head < CACHE_RING_START) head = CACHE_RING_START;
  failover_restore(b + 64);
  barcodes(b + 128, true);
  image_recover(head, load<u32>(b, 12), load<u32>(b, 24), load<u64>(b, 32), load<u32>(b, 28), load<u32>(b, 40), load<u32>(b, 44), load<u32>(b, 48) != 0, load<u64>(b, 56));
  recovered_crn = image_last_crn();
  first_after_boot = true;
  let replayed = settle_tape();
  state_save();
  hal_log(LOG_DIRECTOR_TAKEOVER, <i32>image_pos(), <i32>replayed);
}

/** The tape as the image says: the drive in use answers (the last director's command
 * may still run), its end of data is found, what the image holds past it is written
 * (the blocks that were in the last director's write-behind ring), and the tape is left
 * at the server's position. The bytes written, 0 if no tape is loaded, -1 on failure
 * (a failover is tried: the drive may have failed with it). */
function settle_tape(): i64 {
  // The replays below write up to the server's position as the image has it now.
  image_freeze();
  let ready = false;
  for (let i: u32 = 0; i < takeover_polls_max && !ready; i++) {
    ready = own6(current_drive(), OP_TEST_UNIT_READY, 0, 0, own_buf, 0, false);
    if (ready) break;
    let r = tag_result(own_tag);
    let key = load<u8>(r + RES_SENSE, 2) & 0x0f, asc = load<u8>(r + RES_SENSE, 12);
    if (load<u8>(r + RES_HOST_STATUS) != HOST_OK || key == KEY_HARDWARE_ERROR) return failover(false) ? 0 : -1;
    if (key == KEY_NOT_READY && asc == 0x3a) return 0; // no tape in the drive
    // A tape loaded since the state was written: the server's image of it begins.
    if (key == KEY_UNIT_ATTENTION && asc == 0x28) { image_new_medium(); load_medium(0, current_drive()); continue; }
    hal_delay_us(500_000);
  }
  if (!ready) return failover(true) ? 0 : -1;
  let pos = image_pos();
  if (!own6(current_drive(), OP_SPACE_6, 3, 0, own_buf, 0, false)) return failover(false) ? 0 : -1;
  query_position();
  let eod = image_pos();
  image_set_pos(pos);
  let written: i64 = 0;
  if (eod < pos) {
    written = image_replay_from(current_drive(), eod);
    if (written < 0) return failover(false) ? 0 : -1;
  } else if (eod > pos) {
    locate_own(current_drive(), pos);
  }
  return written;
}
