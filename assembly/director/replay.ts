// Writing the image back to a tape (docs/DIRECTOR.md "Failover"): what a failed
// drive's buffer lost (the records from a tape's end of data to the server's
// position), the whole medium onto a blank tape, the check of the last blocks on a
// tape against the image ([053] step 615), and the catch-up: the blocks the server
// wrote while a failover ran ([031], [051]), chased until the tape has them all.
//
// A failover's replays stop where the image stood when it began (image_freeze): the
// server's position then, the caching disk's head then. What comes after is the
// catch-up's, read from the disk in sequence order from the frozen head.

import { equal, put_be32, put_be64, STATUS_GOOD, KEY_MEDIUM_ERROR } from "../base/scsi";
import { RES_STATUS, RES_HOST_STATUS, RES_SENSE, RES_RESIDUAL, HOST_OK } from "../base/abi";
import { mailbox_data_bytes, index_entries, scan_buf, scan_buf_blocks, own_buf, replay_buf, replay_buf_bytes } from "./layout";
import { T_CACHE, BLOCK, CACHE_RING_START, OP_READ_16, OP_WRITE_6, OP_WRITE_FILEMARKS_6 } from "./board";
import { tag_result, own_cdb, run_own, own_tag, locate_own, read_own, bus_settle } from "./bus";
import {
  image_cache_blocks, image_index_first, image_index_next, image_index_at, image_index_whole, image_header_valid, image_medium,
  image_medium_start, image_frozen_pos, image_frozen_head, image_frozen_seq, image_seq, image_pos, image_index_add,
  IMG_DATA, IMG_FILEMARKS, IMG_TRUNCATE,
} from "./image";

/** A replay that failed: the drive (or the caching disk) failed, or the tape refused a
 * block with MEDIUM ERROR (damaged further on). */
@inline export const REPLAY_FAILED: i64 = -1;
@inline export const REPLAY_MEDIUM: i64 = -2;

// The caching disk is read back through a window of scan_buf_blocks blocks: a replay
// reads its records in order, three or more a command (each command waits about a
// revolution for its first block).
let win_lba: u64 = 0;
let win_blocks: u32 = 0;

/** The address of block `lba`, with `blocks` blocks after it, in the window (read
 * from `lba` on if they are not all there); 0 if the disk refused. */
export function window(lba: u64, blocks: u32): usize {
  if (win_blocks == 0 || lba < win_lba || lba + <u64>blocks > win_lba + <u64>win_blocks) {
    let cache_blocks = image_cache_blocks();
    let n: u64 = <u64>scan_buf_blocks;
    if (lba + n > cache_blocks) n = lba < cache_blocks ? cache_blocks - lba : 0;
    win_blocks = 0;
    if (n < <u64>blocks || n == 0) return 0;
    let t = own_cdb();
    store<u8>(t, OP_READ_16);
    put_be64(t + 2, lba);
    put_be32(t + 10, <u32>n);
    if (!run_own(T_CACHE, 16, scan_buf, <u32>n * BLOCK, false)) return 0;
    win_lba = lba;
    win_blocks = <u32>n;
  }
  return <usize>scan_buf + <usize>(lba - win_lba) * <usize>BLOCK;
}

/** A record is being written at `lba` (`blocks` long): the window no longer holds
 * those blocks as they are. */
export function window_forget(lba: u64, blocks: u64): void {
  if (win_blocks != 0 && lba < win_lba + <u64>win_blocks && lba + blocks > win_lba) win_blocks = 0;
}
export function window_drop(): void { win_blocks = 0; }

/** What the last replay write was refused with: MEDIUM ERROR, or anything else. */
function failed(): i64 {
  let r = tag_result(own_tag);
  let medium = load<u8>(r + RES_HOST_STATUS) == HOST_OK && (load<u8>(r + RES_SENSE, 2) & 0x0f) == KEY_MEDIUM_ERROR;
  return medium ? REPLAY_MEDIUM : REPLAY_FAILED;
}

/** A data record's `bytes` at `data` to the drive at `target`. */
function write_block(target: i32, data: usize, bytes: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_WRITE_6);
  store<u8>(t, <u8>(bytes >>> 16), 2); store<u8>(t, <u8>(bytes >>> 8), 3); store<u8>(t, <u8>bytes, 4);
  return run_own(target, 6, data, bytes, true);
}

function write_filemarks(target: i32, n: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_WRITE_FILEMARKS_6); store<u8>(t, 1, 1);
  store<u8>(t, <u8>(n >>> 16), 2); store<u8>(t, <u8>(n >>> 8), 3); store<u8>(t, <u8>n, 4);
  return run_own(target, 6, own_buf, 0, false);
}

/** The indexed records from object `eod` to the frozen position, oldest first, to
 * the drive at `target` (what a failed drive's buffer lost). The bytes written, or
 * REPLAY_FAILED / REPLAY_MEDIUM. */
export function image_replay_tail(target: i32, eod: u32): i64 {
  let first = image_index_first(), next = image_index_next();
  let end = image_frozen_pos();
  // The index holds the newest records only: when its oldest is past eod (it wrapped
  // within what must be written back), or it began after the medium did (a boot that
  // found the image), the records come from the caching disk.
  if (!image_index_whole() || (next - first == index_entries && load<u32>(image_index_at(first)) > eod)) return image_replay_from(target, eod);
  let written: i64 = 0;
  let tape_pos = eod;
  win_blocks = 0; // records were written since the last read-back
  for (let k = first; k != next; k++) {
    // Blocks the server writes meanwhile go into the index too: once they have taken
    // the place of one still to be written, the rest comes from the caching disk.
    if (image_index_next() - k > index_entries) return tail_from_disk(target, tape_pos, written);
    let e = image_index_at(k);
    let object = load<u32>(e);
    let kind = load<u16>(e, 12);
    let count = <u32>load<u16>(e, 14);
    if (object >= end || kind == IMG_TRUNCATE) continue;
    if (object < eod) {
      // On the tape already; of filemarks that reach past eod, the rest.
      if (kind != IMG_FILEMARKS || object + count <= eod) continue;
      count -= eod - object;
      object = eod;
    }
    let r = place(target, <u64>load<u32>(e, 4) + 1, kind, object, count, load<u32>(e, 8), tape_pos);
    if (r < 0) return r;
    tape_pos = object + (kind == IMG_FILEMARKS ? count : 1);
    written += r;
  }
  // The index ended short of the position (it lacks records): the disk has them.
  return tape_pos < end && written >= 0 ? tail_from_disk(target, tape_pos, written) : written;
}

function tail_from_disk(target: i32, from: u32, written: i64): i64 {
  let r = image_replay_from(target, from);
  return r < 0 ? r : written + r;
}

/** Objects before a tape's end of data read back and compared with the image after
 * the tape moved to the spare drive ([053] step 615). */
@inline const verify_objects: u32 = 4;

/** The newest index entry of a record placed at object k (0: none). */
function index_find(k: u32): usize {
  let first = image_index_first();
  for (let i = image_index_next(); i != first; i--) {
    let e = image_index_at(i - 1);
    if (load<u16>(e, 12) != IMG_TRUNCATE && load<u32>(e) == k) return e;
  }
  return 0;
}

/** [053] step 615: the last objects before `eod` on the tape in the drive at `target`,
 * read back and compared with the image: the first that differs (a block the failed
 * drive tore as it failed) is where writing must go on; `eod` if all match, or if the
 * image cannot say (not in the index). The drive is left anywhere: locate first. */
export function image_verify(target: i32, eod: u32): u32 {
  let from = eod > verify_objects ? eod - verify_objects : 0;
  for (let k = from; k < eod; k++) if (index_find(k) == 0) return eod;
  if (!locate_own(target, from)) return eod;
  win_blocks = 0;
  for (let k = from; k < eod; k++) {
    let e = index_find(k);
    read_own(target, replay_buf, replay_buf_bytes);
    let r = tag_result(own_tag);
    if (load<u8>(r + RES_HOST_STATUS) != HOST_OK) return k;
    let sense2 = load<u8>(r + RES_SENSE, 2);
    let good = load<u8>(r + RES_STATUS) == STATUS_GOOD;
    let filemark = !good && (sense2 & 0x8f) == 0x80;
    if (load<u16>(e, 12) == IMG_FILEMARKS) { if (!filemark) return k; continue; }
    if (!good && (sense2 & 0xef) != 0) return k; // anything but a block (or a shorter one)
    if (filemark) return k;
    let bytes = load<u32>(e, 8);
    if (replay_buf_bytes - load<u32>(r + RES_RESIDUAL) != bytes) return k;
    let d = window(<u64>load<u32>(e, 4) + 1, (bytes + BLOCK - 1) / BLOCK);
    if (d == 0 || !equal(d, replay_buf, bytes)) return k;
  }
  return eod;
}

/** The whole image of the medium in use onto the (blank) tape in the drive at
 * `target`: every record of it on the caching disk from where the medium began, in
 * order, each at its object, up to the frozen position (the held command's own
 * record is written by the command itself when it runs again). The bytes written, or
 * REPLAY_FAILED / REPLAY_MEDIUM. */
export function image_replay_medium(target: i32): i64 { return image_replay_from(target, 0); }

/** The image from object `from` on (the tape in the drive at `target` is there, and
 * holds what comes before), read from the caching disk: image_replay_medium's scan,
 * records before `from` passed over. */
export function image_replay_from(target: i32, from: u32): i64 {
  let head = image_frozen_head();
  let end = image_frozen_pos();
  let medium = image_medium();
  let at = image_medium_start();
  if (at > head) return REPLAY_FAILED; // the ring wrapped within the medium: not kept whole
  let written: i64 = 0;
  let tape_pos: u32 = from;
  let cache_blocks = image_cache_blocks();
  win_blocks = 0; // records were written since the last read-back
  for (let steps: u64 = 0; steps < cache_blocks && at < head; steps++) {
    let h = window(at, 1);
    if (h == 0 || !image_header_valid(h)) return REPLAY_FAILED;
    let kind = load<u16>(h, 6);
    let rec_medium = load<u32>(h, 8);
    let object = load<u32>(h, 12);
    let count = load<u32>(h, 16);
    let bytes = load<u32>(h, 20);
    let blocks = (bytes + BLOCK - 1) / BLOCK;
    at += 1 + <u64>blocks;
    if (rec_medium != medium || object >= end || kind == IMG_TRUNCATE) continue;
    if (object < from) {
      // Before `from`: on the tape already; filemarks that reach past it, the rest.
      if (kind != IMG_FILEMARKS || object + count <= from) continue;
      count -= from - object;
      object = from;
    }
    let r = place(target, at - <u64>blocks, kind, object, count, bytes, tape_pos);
    if (r < 0) return r;
    tape_pos = object + (kind == IMG_FILEMARKS ? count : 1);
    written += r;
  }
  return written;
}

/** One record (its data at caching-disk block `data_lba`) onto the tape in the drive
 * at `target`, which stands at `tape_pos`, at its object (located there first if it
 * is a rewrite). Its data bytes, or REPLAY_FAILED / REPLAY_MEDIUM. */
function place(target: i32, data_lba: u64, kind: u16, object: u32, count: u32, bytes: u32, tape_pos: u32): i64 {
  if (object != tape_pos && !locate_own(target, object)) return REPLAY_FAILED;
  if (kind == IMG_FILEMARKS) return write_filemarks(target, count) ? 0 : failed();
  if (kind != IMG_DATA || bytes > mailbox_data_bytes) return REPLAY_FAILED;
  let d = window(data_lba, (bytes + BLOCK - 1) / BLOCK);
  if (d == 0) return REPLAY_FAILED;
  return write_block(target, d, bytes) ? <i64>bytes : failed();
}

/** Records the catch-up reads, at most: a caching disk's worth. */
@inline const catch_up_records_max: u32 = 1 << 22;

/** The catch-up ([051], [033]): the records written after the frozen head (the
 * server's blocks taken while the failover ran, and any it takes meanwhile) onto the
 * tape in the drive at `target`, which stands at the frozen position: in sequence
 * order, from the caching disk, until none is left. The server's blocks come at a
 * reduced rate (failover_accept), slower than the drive takes them: it ends. The
 * bytes written, or REPLAY_FAILED / REPLAY_MEDIUM. */
export function image_catch_up(target: i32): i64 {
  let at = image_frozen_head();
  let seq = image_frozen_seq() + 1;
  let tape_pos = image_frozen_pos();
  let medium = image_medium();
  let written: i64 = 0;
  win_blocks = 0;
  for (let k: u32 = 0; k < catch_up_records_max && seq <= image_seq(); k++) {
    // No read while a record is on its way to the disk (the server's newest): the
    // window would hold those blocks as they were (a disk need not order a read
    // after a write it has not finished).
    bus_settle();
    if (seq == image_seq()) window_drop();
    let h = window(at, 1);
    if ((h == 0 || !image_header_valid(h) || load<u32>(h, 24) != seq) && at != CACHE_RING_START) {
      // The writer wraps a record that does not fit before the disk's end.
      at = CACHE_RING_START;
      h = window(at, 1);
    }
    if (h == 0 || !image_header_valid(h) || load<u32>(h, 24) != seq) return REPLAY_FAILED;
    let kind = load<u16>(h, 6);
    let object = load<u32>(h, 12);
    let count = load<u32>(h, 16);
    let bytes = load<u32>(h, 20);
    let blocks = (bytes + BLOCK - 1) / BLOCK;
    at += 1 + <u64>blocks;
    seq++;
    if (load<u32>(h, 8) != medium || kind == IMG_TRUNCATE) continue;
    let r = place(target, at - <u64>blocks, kind, object, count, bytes, tape_pos);
    if (r < 0) return r;
    image_index_add(kind, object, count, bytes, at - <u64>blocks - 1);
    tape_pos = object + (kind == IMG_FILEMARKS ? count : 1);
    written += r;
  }
  return tape_pos == image_pos() ? written : REPLAY_FAILED;
}
