// The media paths of the target: READ, WRITE, SYNCHRONIZE CACHE and WRITE LONG, their
// device commands, and what happens when those end.
//
// A read returns the newest acknowledged data of every block it covers: the cache's
// where it has the block, the disk's elsewhere. A disk error on a block the cache
// holds is not an error of the read: the read goes again in pieces, around the cached
// blocks, and only an error on a block the cache does not hold reaches the host (with
// that block's LBA in the sense INFORMATION field). Blocks the controller declared
// unreadable (nv/unreadable.ts) read MEDIUM ERROR unless the cache holds newer data.

import { block_bytes } from "../layout";
import { hal_now_us, hal_log } from "../base/hal";
import {
  OP_READ_10, OP_READ_16, OP_WRITE_16, STATUS_GOOD, STATUS_CHECK_CONDITION, STATUS_BUSY,
  STATUS_PENDING, KEY_HARDWARE_ERROR, KEY_ILLEGAL_REQUEST, KEY_UNIT_ATTENTION, KEY_NOT_READY,
  KEY_MEDIUM_ERROR, KEY_ABORTED_COMMAND, ASC_LBA_OUT_OF_RANGE, ASC_LUN_FAILURE,
  ASC_DATA_PHASE_ERROR, ASC_BECOMING_READY, ASC_MANUAL_INTERVENTION, ASC_UNRECOVERED_READ_ERROR,
  FIELD_NONE, sense_fixed_bytes, be16, be32, be64, copy, sense_build, sense_set_info, sense_key_of,
} from "../base/scsi";
import { HOST_OK, HOST_SELECTION_TIMEOUT, LOG_DISK_FAILED } from "../base/errors";
import {
  tag_alloc, tag_free, tag_cdb, tag_status, tag_host_status, tag_sense, tag_straddled_power,
  tag_aborted, tag_owner_id, OWNER_HOST, TAG_NONE,
} from "../base/tags";
import { disk_submit, cdb_rw16, cdb_write_long_uncor } from "../base/initiator";
import {
  lun_state, lun_blocks, lun_target, lun_identity, lun_in_image, lun_set_state, lun_note_timeout,
  lun_set_timeouts, LUN_READY, LUN_FAILED, ID_OK, counter_add, CNT_DISK_ERRORS, CNT_BUSY_REPLIES,
  set_slot_wait, slot_wait, set_slot_tag, slot_piece, set_slot_piece, slot_mode, set_slot_mode,
  WAIT_SPACE, WAIT_CLEAN, WAIT_DISK, WAIT_RETRY, WAIT_MIRROR, slot_evictions, set_slot_evictions, st_power_epoch,
} from "../state";
import { pair_on } from "../pair/peer";
import { mirror_wrote, mirror_block_done, mirror_seq_stalled, mirror_holding_writes } from "../pair/mirror";
import {
  cache_find, cache_alloc, cache_drop, cache_write, cache_nv_count, cache_own_nv_count, cache_reusable_count,
  cache_range_dirty, cache_set_uncor, cache_evictions, cache_left_since, entry_data, entry_is_nv,
  entry_flags, entry_reusable, NONE, FLAG_INFLIGHT, FLAG_UNCOR,
} from "../cache/cache";
import { nv_writeback_allowed, nv_restoring, nv_unreadable, nv_frozen, nv_own_budget } from "../nv/nv";
import { budget_blocks } from "../nv/budget";
import { ur_has } from "../nv/unreadable";
import {
  finish, fail, fail_field, slot_at, slot_lun, slot_cdb, slot_sense, slot_data, slot_host_bytes,
  slot_retries, slot_set_retries, slot_retry_at, slot_set_retry_at,
} from "./slot";
import { max_transfer_blocks } from "./pages";
import { OK } from "../base/errors";

/** What a slot's device command is for (state.ts slot_mode). */
@inline const MODE_READ_WHOLE: u8 = 1;  // the whole range in one READ
@inline const MODE_READ_PIECE: u8 = 2;  // one run of blocks the cache does not hold
@inline const MODE_WRITE_LONG: u8 = 3;

/** Runs of one command the firmware makes after transient disk errors, at least
 * retry_interval_ms apart: 30 s in all, longer than a disk's spin-up. */
@inline const retries_max: u32 = 3000;
@inline const retry_interval_ms: u32 = 10;

/** Can the LUN take media access now? A LUN whose disk stopped answering fails with
 * LOGICAL UNIT FAILURE; one whose disk is not ours, or whose blocks the controller
 * holds, or any while the saved image is unreadable: NOT READY, MANUAL INTERVENTION
 * REQUIRED; while a restore writes its blocks: NOT READY, BECOMING READY. */
export function lun_ok(slot: u32, lun: u32): bool {
  if (lun_state(lun) != LUN_READY) {
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
    return false;
  }
  if (lun_identity(lun) != ID_OK || nv_unreadable()) {
    fail(slot, KEY_NOT_READY, ASC_MANUAL_INTERVENTION, FIELD_NONE, FIELD_NONE);
    return false;
  }
  if (nv_restoring() && lun_in_image(lun)) {
    fail(slot, KEY_NOT_READY, ASC_BECOMING_READY, FIELD_NONE, FIELD_NONE);
    return false;
  }
  return true;
}

/** Range check without overflow: [lba, lba+blocks) inside the LUN. */
@inline export function in_range(lun: u32, lba: u64, blocks: u64): bool {
  let cap = lun_blocks(lun);
  return lba <= cap && blocks <= cap - lba;
}

export function read_write(
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
  if (write && slot_host_bytes(slot) < bytes) {
    fail(slot, KEY_ABORTED_COMMAND, ASC_DATA_PHASE_ERROR, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (write) host_write(slot, lun, lba, blocks);
  else host_read(slot, lun, lba, blocks);
}

// ---- writes ------------------------------------------------------------------------

/** When the last host write arrived (ms since boot): destage waits for a pause. */
let last_write_at_ms: u32 = 0;
@inline export function last_write_ms(): u32 { return last_write_at_ms; }

/** May a host write change this cached block now? Not while a destage of it is on the
 * bus (the bus reads the buffer in its data phase), a WRITE LONG of it is out, or it
 * is NV and the NV blocks are frozen (an interrupted save of them may be resumed). */
@inline function block_writable(i: u32): bool {
  return (entry_flags(i) & (FLAG_INFLIGHT | FLAG_UNCOR)) == 0 && !(entry_is_nv(i) && nv_frozen());
}

/** A write goes into the cache. Acknowledged at once if the save budget covers it
 * (write-back); else it waits until its blocks are on the disk (write-through). In a
 * pair it waits until the partner holds it too, or, alone, until the disk has it and
 * the LUN is sole (pair/mirror.ts); its own half of the budget is what it may use. */
function host_write(slot: u32, lun: u32, lba: u64, blocks: u32): void {
  last_write_at_ms = <u32>(hal_now_us() / 1000);
  // What is checked below, and write-back, hold in this power epoch only: a PFAIL#
  // edge meanwhile (a save that the supply then rode through) may have frozen the NV
  // blocks and drained the cap. Each block's copy checks it (cache_write); on a
  // change the command runs again from the start.
  let epoch = st_power_epoch();
  let need: u32 = 0, new_nv: u32 = 0, own_reusable: u32 = 0;
  for (let k: u32 = 0; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i == NONE) { need++; new_nv++; continue; }
    if (!block_writable(i)) { set_slot_wait(slot, WAIT_SPACE); return; } // run again
    if (!entry_is_nv(i)) new_nv++;
    if (entry_reusable(i)) own_reusable++;
  }
  if (need + own_reusable > cache_reusable_count(need + own_reusable)) {
    set_slot_wait(slot, WAIT_SPACE); // destage frees clean entries; run again then
    return;
  }
  // Past the save budget, a write that fits the budget on its own waits for the
  // destage to free budget (taken oldest command first), then is acknowledged from the
  // cache: faster than going through to the disk behind its own seek, and the elevator
  // keeps its order. One larger than the whole budget goes through.
  let pair = pair_on();
  if (pair && (mirror_seq_stalled() || mirror_holding_writes())) { set_slot_wait(slot, WAIT_SPACE); return; }
  let writeback = nv_writeback_allowed();
  let budget = writeback ? nv_own_budget() : 0;
  // (A pair: the partner's copies count against the save too.)
  let fits = cache_own_nv_count() + new_nv <= budget && (!pair || cache_nv_count() + new_nv <= budget_blocks());
  if (writeback && new_nv <= budget && !fits) {
    set_slot_wait(slot, WAIT_SPACE);
    return;
  }
  let wb = writeback && fits;
  let src = slot_data(slot);
  // Blocks already cached first (now dirty, they cannot be evicted), then new ones.
  for (let k: u32 = 0; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i == NONE) continue;
    if (!cache_write(i, src + k * block_bytes, wb, epoch)) { set_slot_wait(slot, WAIT_SPACE); return; }
    mirror_wrote(i);
  }
  for (let k: u32 = 0; k < blocks; k++) {
    if (cache_find(lun, lba + k) != NONE) continue;
    let i = cache_alloc(lun, lba + k);
    assert(i != NONE, "space was counted");
    if (!cache_write(i, src + k * block_bytes, wb, epoch)) {
      cache_drop(i); // allocated, never written: no data of its own
      set_slot_wait(slot, WAIT_SPACE);
      return;
    }
    mirror_wrote(i);
  }
  if (pair) set_slot_wait(slot, WAIT_MIRROR);
  else if (wb) finish(slot, STATUS_GOOD, 0);
  else set_slot_wait(slot, WAIT_CLEAN);
}

/** SYNCHRONIZE CACHE: GOOD once no block of the range is dirty (destage writes with
 * FUA, so nothing of ours is left in the disks' caches). */
export function sync_cache(slot: u32, lun: u32, cdb: usize): void {
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

/** WRITE LONG with WR_UNCOR: the disk marks the block unreadable. The cached block
 * (acknowledged data) stays until the disk says it did, and is neither destaged nor
 * written meanwhile: a power loss, or a disk without WRITE LONG, leaves the block as
 * it was. Not in a pair (ILLEGAL REQUEST, INVALID FIELD IN CDB). */
export function write_long(slot: u32, lun: u32, cdb: usize): void {
  let flags = load<u8>(cdb, 1);
  // A pair: the partner's copy of the block could not be marked with it, and its
  // takeover would write the copy over the mark. Refused as a field we do not take.
  if ((flags & 0x40) == 0 || pair_on()) { fail_field(slot, 1, 6); return; } // only WR_UNCOR
  if ((flags & 0x20) != 0) { fail_field(slot, 1, 5); return; } // PBLOCK
  let lba = be32(cdb + 2);
  if (!in_range(lun, <u64>lba, 1)) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, FIELD_NONE, FIELD_NONE);
    return;
  }
  if (!lun_ok(slot, lun)) return;
  let i = cache_find(lun, <u64>lba);
  if (i != NONE && !block_writable(i)) { set_slot_wait(slot, WAIT_SPACE); return; }
  let tag = take_tag(slot);
  if (tag == TAG_NONE) return;
  if (i != NONE) cache_set_uncor(i, true);
  cdb_write_long_uncor(tag_cdb(tag), lba);
  set_slot_mode(slot, MODE_WRITE_LONG);
  to_disk(slot, lun, tag, 10, 0, 0, false);
}

// ---- reads -------------------------------------------------------------------------

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
  let tag = take_tag(slot);
  if (tag == TAG_NONE) return;
  set_slot_mode(slot, MODE_READ_WHOLE);
  set_slot_evictions(slot, cache_evictions());
  cdb_rw16(tag_cdb(tag), OP_READ_16, lba, blocks, false);
  to_disk(slot, lun, tag, 16, dst, blocks * block_bytes, false);
}

/** The read's range from its CDB (READ (10) or (16)). */
function slot_read_lba(slot: u32): u64 {
  let cdb = slot_cdb(slot);
  return load<u8>(cdb) == OP_READ_16 ? be64(cdb + 2) : <u64>be32(cdb + 2);
}
function slot_read_blocks(slot: u32): u32 {
  let cdb = slot_cdb(slot);
  return load<u8>(cdb) == OP_READ_16 ? be32(cdb + 10) : be16(cdb + 7);
}

/** Lay cached blocks over what the disk returned; then fail with MEDIUM ERROR if a
 * block the cache does not hold is on the unreadable list. */
function read_complete(slot: u32, lun: u32, lba: u64, blocks: u32): void {
  let dst = slot_data(slot);
  for (let k: u32 = 0; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i != NONE) copy(dst + k * block_bytes, entry_data(i), block_bytes);
    else if (ur_has(lun, lba + k)) { fail_unreadable(slot, lba + k); return; }
  }
  finish(slot, STATUS_GOOD, blocks * block_bytes);
}

function fail_unreadable(slot: u32, lba: u64): void {
  sense_build(slot_sense(slot), KEY_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, FIELD_NONE, FIELD_NONE);
  sense_set_info(slot_sense(slot), lba);
  finish(slot, STATUS_CHECK_CONDITION, 0);
}

/** The read in pieces: from block slot_piece on, copy cached blocks, and read the next
 * run of blocks the cache does not hold; GOOD when none is left. */
function read_next_piece(slot: u32, lun: u32): void {
  let lba = slot_read_lba(slot);
  let blocks = slot_read_blocks(slot);
  let dst = slot_data(slot);
  let k = slot_piece(slot);
  for (; k < blocks; k++) {
    let i = cache_find(lun, lba + k);
    if (i == NONE) break;
    copy(dst + k * block_bytes, entry_data(i), block_bytes);
  }
  if (k >= blocks) { finish(slot, STATUS_GOOD, blocks * block_bytes); return; }
  if (ur_has(lun, lba + k)) { fail_unreadable(slot, lba + k); return; }
  let n: u32 = 1;
  while (k + n < blocks && cache_find(lun, lba + k + n) == NONE && !ur_has(lun, lba + k + n)) n++;
  let tag = take_tag(slot);
  if (tag == TAG_NONE) return;
  set_slot_piece(slot, k + n);
  set_slot_mode(slot, MODE_READ_PIECE);
  set_slot_evictions(slot, cache_evictions());
  cdb_rw16(tag_cdb(tag), OP_READ_16, lba + k, n, false);
  to_disk(slot, lun, tag, 16, dst + k * block_bytes, n * block_bytes, false);
}

// ---- device commands of a slot -------------------------------------------------------

/** A tag for the slot's device command, or TAG_NONE (the slot runs again later). */
function take_tag(slot: u32): u32 {
  let tag = tag_alloc(OWNER_HOST, slot);
  if (tag == TAG_NONE) set_slot_wait(slot, WAIT_SPACE);
  return tag;
}

/** Send the CDB built on the tag to the LUN's disk; host_tag_done finishes. */
function to_disk(
  slot: u32, lun: u32, tag: u32, cdb_len: u32, data: usize, bytes: u32, out: bool,
): void {
  set_slot_wait(slot, WAIT_DISK);
  set_slot_tag(slot, tag);
  if (disk_submit(tag, lun_target(lun), cdb_len, data, bytes, out) != OK) {
    tag_free(tag);
    set_slot_tag(slot, TAG_NONE);
    counter_add(CNT_DISK_ERRORS, 1);
    uncor_end(slot, lun);
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
  }
}

/** A WRITE LONG ended (either way): its block may be destaged and written again. */
function uncor_end(slot: u32, lun: u32): void {
  if (slot_mode(slot) != MODE_WRITE_LONG) return;
  let i = cache_find(lun, <u64>be32(slot_cdb(slot) + 2));
  if (i != NONE) cache_set_uncor(i, false);
}

/** A disk command of a slot completed: go on with the command, or finish it. */
export function host_tag_done(tag: u32): void {
  let slot = tag_owner_id(tag);
  let lun = slot_lun(slot);
  let host = tag_host_status(tag);
  let status = tag_status(tag);
  let mode = slot_mode(slot);
  set_slot_tag(slot, TAG_NONE);
  if (host == HOST_OK) lun_set_timeouts(lun, 0);
  // A disk that no longer answers (not a power event: the disks were off then), or
  // one whose commands keep running past their deadline, has failed.
  let dead = host == HOST_SELECTION_TIMEOUT && !tag_straddled_power(tag);
  if (!dead && host != HOST_OK && tag_aborted(tag)) dead = lun_note_timeout(lun);
  if (dead) {
    tag_free(tag);
    uncor_end(slot, lun);
    if (lun_state(lun) != LUN_FAILED) {
      lun_set_state(lun, LUN_FAILED);
      hal_log(LOG_DISK_FAILED, <i32>lun, <i32>host);
    }
    counter_add(CNT_DISK_ERRORS, 1);
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
    return;
  }
  // A bus reset (the disk lost power), a command aborted for its deadline, a unit
  // attention after a reset, a disk still spinning up, a busy disk: the host should
  // not see those; run the command again.
  let transient = host != HOST_OK || status == STATUS_BUSY;
  if (status == STATUS_CHECK_CONDITION) {
    let key = sense_key_of(tag_sense(tag));
    let asc = (<u16>load<u8>(tag_sense(tag), 12) << 8) | <u16>load<u8>(tag_sense(tag), 13);
    if (key == KEY_UNIT_ATTENTION || (key == KEY_NOT_READY && asc == ASC_BECOMING_READY)) transient = true;
  }
  if (transient) {
    uncor_end(slot, lun);
    if (retry_later(slot)) { tag_free(tag); return; }
  }
  if (status == STATUS_GOOD && host == HOST_OK) {
    tag_free(tag);
    if (mode == MODE_WRITE_LONG) {
      // The disk marked the block: the cached data is superseded.
      let i = cache_find(lun, <u64>be32(slot_cdb(slot) + 2));
      if (i != NONE) { cache_set_uncor(i, false); cache_drop(i); }
      finish(slot, STATUS_GOOD, 0);
      return;
    }
    let lba = slot_read_lba(slot), blocks = slot_read_blocks(slot);
    // A block of this read that left the cache while the READ was out may be older on
    // the disk than what the cache had: read again.
    if (cache_left_since(slot_evictions(slot), lun, lba, blocks)) { host_command_again(slot); return; }
    if (mode == MODE_READ_PIECE) read_next_piece(slot, lun);
    else read_complete(slot, lun, lba, blocks);
    return;
  }
  if (status == STATUS_CHECK_CONDITION) {
    // A disk error inside a range the cache partly covers: the cached blocks are
    // newer than the disk's, so read around them. Only an error on a block the cache
    // does not hold is the read's.
    if (mode == MODE_READ_WHOLE && range_partly_cached(slot, lun)) {
      tag_free(tag);
      set_slot_piece(slot, 0);
      read_next_piece(slot, lun);
      return;
    }
    // Pass the disk's sense through: MEDIUM ERROR on a torn sector, and so on.
    uncor_end(slot, lun);
    counter_add(CNT_DISK_ERRORS, 1);
    copy(slot_sense(slot), tag_sense(tag), sense_fixed_bytes);
    tag_free(tag);
    finish(slot, STATUS_CHECK_CONDITION, 0);
    return;
  }
  tag_free(tag);
  uncor_end(slot, lun);
  counter_add(CNT_BUSY_REPLIES, 1);
  finish(slot, STATUS_BUSY, 0);
}

function range_partly_cached(slot: u32, lun: u32): bool {
  let lba = slot_read_lba(slot), blocks = slot_read_blocks(slot);
  for (let k: u32 = 0; k < blocks; k++) if (cache_find(lun, lba + k) != NONE) return true;
  return false;
}

/** Schedule the slot's command to run again; false once it has had its retries. */
function retry_later(slot: u32): bool {
  let n = slot_retries(slot);
  if (n >= retries_max) return false;
  slot_set_retries(slot, n + 1);
  slot_set_retry_at(slot, <u32>(hal_now_us() / 1000) + retry_interval_ms);
  set_slot_wait(slot, WAIT_RETRY);
  return true;
}

/** Run the slot's command again at once (from the top, so it sees the cache anew). */
function host_command_again(slot: u32): void {
  set_slot_wait(slot, WAIT_SPACE);
}

/** Has the slot's retry time come (ms clock mod 2^16)? */
@inline function retry_due(slot: u32): bool {
  let now = <u16>(hal_now_us() / 1000);
  return <i16>(now - slot_retry_at(slot)) >= 0;
}

/** The LBA range of the write or SYNCHRONIZE CACHE in a slot (blocks 0: to the end). */
function slot_range_lba(slot: u32): u64 {
  let cdb = slot_cdb(slot);
  if (load<u8>(cdb) == OP_WRITE_16) return be64(cdb + 2);
  return <u64>be32(cdb + 2);
}
function slot_range_blocks(slot: u32): u64 {
  let cdb = slot_cdb(slot);
  if (load<u8>(cdb) == OP_WRITE_16) return <u64>be32(cdb + 10);
  return <u64>be16(cdb + 7);
}

/** A slot that waits: should it run its command again (true), or did it finish
 * (WAIT_CLEAN with its blocks durable)? run_again is done by the caller. */
export function host_slot_due(slot: u32): bool {
  let w = slot_wait(slot);
  return w == WAIT_SPACE || (w == WAIT_RETRY && retry_due(slot));
}

export function host_slot_clean_poll(slot: u32): bool {
  let w = slot_wait(slot);
  if (w != WAIT_CLEAN && w != WAIT_MIRROR) return false;
  let lun = slot_lun(slot);
  if (lun_state(lun) != LUN_READY) {
    fail(slot, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, FIELD_NONE, FIELD_NONE);
    return true;
  }
  if (w == WAIT_MIRROR) {
    let lba = slot_range_lba(slot);
    let n = slot_range_blocks(slot);
    for (let k: u64 = 0; k < n; k++) if (!mirror_block_done(lun, lba + k)) return false;
  } else if (cache_range_dirty(lun, slot_range_lba(slot), slot_range_blocks(slot))) return false;
  finish(slot, STATUS_GOOD, 0);
  return true;
}
