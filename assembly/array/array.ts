// The array as one device (seed 003): the rest of the firmware sends it the same
// commands it sends a disk (READ/WRITE (16) with FUA, WRITE LONG, SYNCHRONIZE CACHE,
// TEST UNIT READY) on the bus ID array_target, and it answers through the same tag
// and result record, so the cache, destage, restore and labels work on it unchanged.
//
// One command runs at a time (no two updates of one row ever overlap); each is a
// short program of phases, every phase a batch of single-block member commands:
//
//   read:   member reads ──▶ (a block on a failed member, or one that read back
//           MEDIUM ERROR: read the rest of its row, XOR) ──▶ GOOD
//   write:  write-command buffer entry, on the EEPROM ──▶ per chunk of rows: reads
//           (read-modify-write or reconstruct-write, whichever reads less; none for
//           a full row) ──▶ parity ──▶ data and parity with FUA ──▶ … ──▶ entry
//           removed ──▶ GOOD
//
// A member command cut by a power event (a bus reset, a unit attention) restarts
// the command, a write as reconstruct-write: its rows are rebuilt from blocks that
// were not being written. A member that stops answering fails (array/members.ts);
// the array goes on without it, its blocks reconstructed from the others.

import {
  array_ops_max, array_work_base, array_work_blocks, block_bytes, tags_max, wcb_slots_max, member_label_base,
} from "../layout";
import { hal_now_us, hal_log } from "../base/hal";
import {
  tag_alloc, tag_free, tag_cdb, tag_result, tag_status, tag_host_status, tag_sense, tag_done,
  tag_busy, tag_owner_kind, tag_owner_id, tag_set_done, tag_set_member_io, tag_member, tag_io,
  tag_straddled_power, tag_aborted, OWNER_ARRAY, TAG_NONE,
} from "../base/tags";
import { disk_submit, cdb_rw16 } from "../base/initiator";
import {
  OP_READ_16, OP_WRITE_16, STATUS_GOOD, STATUS_CHECK_CONDITION, KEY_MEDIUM_ERROR, KEY_HARDWARE_ERROR,
  KEY_ILLEGAL_REQUEST, ASC_UNRECOVERED_READ_ERROR, ASC_LUN_FAILURE, ASC_INVALID_OPCODE,
  ASC_LBA_OUT_OF_RANGE, ASC_WRITE_ERROR, zero, copy, sense_build, sense_set_info, sense_key_of,
} from "../base/scsi";
import { RES_STATUS, RES_HOST_STATUS, RES_SENSE_LEN, RES_SENSE, RES_RESIDUAL } from "../base/abi";
import { HOST_OK, OK, ERR_IO, LOG_ARRAY_RESTART, LOG_ARRAY_CHECK, LOG_ARRAY_HIDDEN_SAVED, LOG_ARRAY_UPDATE } from "../base/errors";
import { intent_in_use, set_intent_in_use, intent_build, intent_lba } from "./intent";
import {
  geo_row, geo_index, geo_data, geo_members, geo_blocks, geo_level, geo_data_member,
  geo_parity_member, RAID_3,
} from "./geometry";
import {
  member_ok, member_fail, member_note_error, member_note_good, array_usable, labels_dirty,
  labels_prepare, labels_written, set_labels_dirty, members_missing, list_has, list_add,
  list_remove_range, member_label_lba, member_label_copy_lba, label_write_next, NOTE_DEAD, NOTE_REFUSED,
  member_live, member_target, rebuild_slot, rebuild_rows, rebuild_confirmed, REBUILD_NONE,
} from "./members";
import { ml_set_slot } from "./member_label";
import {
  ops_init, op_free, op_state, op_kind, op_caller, op_flags, op_blocks, op_lba, op_arrival, op_addr,
  OP_FREE, OP_QUEUED, K_READ, K_WRITE, K_NOP, K_BAD, F_MARK,
} from "./ops";
export { array_submit } from "./ops";
import { xor_into } from "./parity";
import { REBUILD_OWNER, rebuild_done, rebuild_in_step, rebuild_yields, rebuild_poll, rebuild_due } from "./rebuild";
import {
  wcb_add, wcb_remove, wcb_persist, wcb_seq, wcb_save_hidden, wcb_hidden_find, wcb_readd, wcb_flags,
  wcb_row_pending, WCB_DEGRADED,
} from "./wcb";
import { nv_writeback_allowed } from "../nv/nv";

/** The bus ID the rest of the firmware addresses the array by (the bus has 0..7). */
@inline export const array_target: u32 = 8;
/** Blocks one array command may carry: a destage run or a host transfer. */
@inline export const array_op_blocks_max: u32 = 16;
/** After a restart (a power event, a disk not ready), wait this long. */
@inline const retry_backoff_ms: u32 = 50;
/** Restarts of one command before it fails: 30 s of a disk spinning up. */
@inline const restarts_max: u32 = 600;

export function array_ops_init(): void {
  ops_init();
  cur = NONE;
}

/** Figures for the host (debug exports). */
let stat_rmw_rows: u32 = 0;
let stat_rcw_rows: u32 = 0;
let stat_full_rows: u32 = 0;
let stat_reconstructed: u32 = 0;
let stat_restarts: u32 = 0;
@inline export function array_rmw_rows(): u32 { return stat_rmw_rows; }
@inline export function array_rcw_rows(): u32 { return stat_rcw_rows; }
@inline export function array_full_rows(): u32 { return stat_full_rows; }
@inline export function array_reconstructed(): u32 { return stat_reconstructed; }
@inline export function array_restarts(): u32 { return stat_restarts; }

// ---- the running command ----------------------------------------------------------

@inline const NONE: u32 = 0xffffffff;
let cur: u32 = NONE;
let phase: u8 = 0;
let pending: u32 = 0;
let restarts: u32 = 0;
/** Member writes of the chunk starting at writes_lo (through writes_hi) are out. */
let writes_out = false;
let writes_lo: u64 = 0;
let writes_hi: u64 = 0;
/** Rows a restart found with writes out (suspect_lo > suspect_hi: none): their data
 * and parity may disagree, so a block on a member missing now cannot be computed
 * from them (hidden_ready lists it instead). */
let suspect_lo: u64 = 1;
let suspect_hi: u64 = 0;
let retry_at_ms: u32 = 0;
let cur_wcb: u32 = NONE;
let chunk_row: u64 = 0;
/** What the last batch of member commands met. */
let met_retry = false;
let met_medium: u32 = 0;   // bit per io number
let met_dead = false;
/** A member refused a command (ILLEGAL REQUEST): the command fails, never a retry. */
let met_refused = false;
/** Read: blocks (bit per block of the command) still to reconstruct. */
let recon_mask: u32 = 0;
let recon_block: u32 = 0;
/** Write: how to compute parity, forced after a restart or a read that failed. */
let force_rcw = false;
let force_rmw = false;

@inline const PH_START: u8 = 0;
@inline const PH_READ: u8 = 1;
@inline const PH_RECON: u8 = 2;
@inline const PH_CHUNK_READ: u8 = 3;
@inline const PH_CHUNK_WRITE: u8 = 4;
@inline const PH_LABELS: u8 = 5;
@inline const PH_LABELS_FIRST: u8 = 6;
@inline const PH_LABELS_MARK: u8 = 7;
@inline const PH_INTENT: u8 = 8;

/** Rows one chunk of a write covers: each needs its data blocks and its parity in
 * the work buffer. */
@inline function chunk_rows(): u32 { return array_work_blocks / (geo_data() + 1); }
@inline function work(slot: u32): usize { return <usize>array_work_base + <usize>(slot * block_bytes); }
@inline function work_data(ri: u32, k: u32): usize { return work(ri * (geo_data() + 1) + k); }
@inline function work_parity(ri: u32): usize { return work(ri * (geo_data() + 1) + geo_data()); }

/** Advance the array: route member completions, then run or start a command.
 * Returns whether anything happened. Called by the main loop and by a synchronous
 * wait (base/initiator.ts), so that the boot's commands to the array complete. */
export function array_poll(): bool {
  let worked = false;
  for (let t: u32 = 0; t < tags_max; t++) {
    if (!tag_busy(t) || !tag_done(t) || tag_owner_kind(t) != OWNER_ARRAY) continue;
    if (tag_owner_id(t) == REBUILD_OWNER) rebuild_done(t);
    else member_done(t);
    worked = true;
  }
  if (cur == NONE) {
    // Between commands: a rebuild step may be out, or due (commands and steps take
    // turns).
    if (rebuild_in_step()) return worked;
    let best = NONE;
    for (let i: u32 = 0; i < array_ops_max; i++) {
      if (op_state(i) != OP_QUEUED) continue;
      if (best == NONE || <i32>(op_arrival(i) - op_arrival(best)) < 0) best = i;
    }
    if (!rebuild_yields(best != NONE)) {
      if (rebuild_poll()) worked = true;
      return worked;
    }
    if (best == NONE) return worked;
    cur = best;
    phase = PH_START;
    restarts = 0;
    writes_out = false;
    suspect_lo = 1;
    suspect_hi = 0;
    retry_at_ms = 0;
    cur_wcb = NONE;
    force_rcw = geo_level() == RAID_3;
    force_rmw = false;
    worked = true;
  }
  if (pending > 0) return worked;
  if (<i32>(<u32>(hal_now_us() / 1000) - retry_at_ms) < 0) return worked;
  step();
  return true;
}

/** Is a command queued or running, or a rebuild due (the main loop keeps its timer
 * ticking)? */
export function array_busy(): bool {
  if (cur != NONE || rebuild_in_step() || rebuild_due()) return true;
  for (let i: u32 = 0; i < array_ops_max; i++) if (op_state(i) != OP_FREE) return true;
  return false;
}

function member_done(t: u32): void {
  let m = tag_member(t);
  let io = tag_io(t);
  let host = tag_host_status(t);
  let status = tag_status(t);
  let straddled = tag_straddled_power(t);
  let aborted = tag_aborted(t);
  let key: u8 = 0;
  if (host == HOST_OK && status == STATUS_CHECK_CONDITION) key = sense_key_of(tag_sense(t));
  tag_free(t);
  if (pending > 0) pending--;
  if (host == HOST_OK && status == STATUS_GOOD) { member_note_good(m); return; }
  if (host == HOST_OK && status == STATUS_CHECK_CONDITION && key == KEY_MEDIUM_ERROR) {
    if (io < 32) met_medium |= 1 << io;
    return;
  }
  let note = member_note_error(m, host, status, key, straddled, aborted);
  if (note == NOTE_DEAD) { member_fail(m); met_dead = true; }
  else if (note == NOTE_REFUSED) met_refused = true;
  else met_retry = true;
}

/** One single-block member command for the running command. */
function mio(m: u32, disk_lba: u64, buf: usize, write: bool, io: u32): bool {
  let t = tag_alloc(OWNER_ARRAY, cur);
  if (t == TAG_NONE) { met_retry = true; return false; }
  tag_set_member_io(t, m, io);
  cdb_rw16(tag_cdb(t), write ? OP_WRITE_16 : OP_READ_16, disk_lba, 1, write);
  if (disk_submit(t, member_target(m), 16, buf, block_bytes, write) != OK) {
    tag_free(t);
    met_retry = true;
    return false;
  }
  pending++;
  return true;
}

@inline function clear_met(): void { met_retry = false; met_medium = 0; met_dead = false; met_refused = false; }

function step(): void {
  let i = cur;
  let kind = op_kind(i);
  if (phase == PH_START) {
    clear_met();
    if (kind == K_BAD) { finish_check(KEY_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, NONE64); return; }
    if (!array_usable()) { finish_check(KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, NONE64); return; }
    let lba = op_lba(i), n = op_blocks(i);
    let size = geo_blocks();
    if (kind != K_NOP && (n == 0 || n > array_op_blocks_max || lba >= size || <u64>n > size - lba)) {
      if (n == 0) { finish_good(); return; }
      finish_check(KEY_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, NONE64);
      return;
    }
    if (labels_dirty()) { labels_start(); phase = PH_LABELS_FIRST; return; }
    if (kind == K_NOP) { finish_good(); return; }
    if (kind == K_READ) { read_start(); return; }
    write_start();
    return;
  }
  if (met_refused && phase != PH_START) {
    finish_check(KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, NONE64);
    return;
  }
  if (phase == PH_LABELS_FIRST) {
    if (met_retry) { restart(); return; }
    if (labels_next()) return;
    labels_written();
    phase = PH_START;
    return;
  }
  if (phase == PH_LABELS_MARK) {
    if (met_retry) { restart(); return; }
    if (labels_next()) return;
    labels_written();
    chunk_start();
    return;
  }
  if (phase == PH_INTENT) {
    if (met_retry || met_dead) { restart(); return; }
    cur_wcb_persisted = true;
    phase = PH_START;
    write_start();
    return;
  }
  if (phase == PH_READ) { read_after(); return; }
  if (phase == PH_RECON) { recon_after(); return; }
  if (phase == PH_CHUNK_READ) { chunk_compute_and_write(); return; }
  if (phase == PH_CHUNK_WRITE) { chunk_after_write(); return; }
  if (phase == PH_LABELS) {
    if (met_retry) { restart(); return; }
    if (labels_next()) return;
    labels_written();
    if (kind == K_WRITE) { write_done(); return; }
    finish_good();
  }
}

/** Restart the running command after a power event or a disk that is not ready
 * yet; writes go on as reconstruct-write (their rows' blocks being written may be
 * torn or half-done, the rest of each row is not). */
function restart(): void {
  stat_restarts++;
  // Labels cut short go again (the list or a failure they carry is not on the disks).
  if (phase == PH_LABELS || phase == PH_LABELS_FIRST || phase == PH_LABELS_MARK) set_labels_dirty();
  hal_log(LOG_ARRAY_RESTART, <i32>op_lba(cur), <i32>phase);
  if (writes_out) {
    if (suspect_lo > suspect_hi) { suspect_lo = writes_lo; suspect_hi = writes_hi; }
    else {
      if (writes_lo < suspect_lo) suspect_lo = writes_lo;
      if (writes_hi > suspect_hi) suspect_hi = writes_hi;
    }
    writes_out = false;
  }
  if (++restarts > restarts_max) {
    finish_check(KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, NONE64);
    return;
  }
  retry_at_ms = <u32>(hal_now_us() / 1000) + retry_backoff_ms;
  force_rcw = true;
  phase = PH_START;
}

// ---- reads --------------------------------------------------------------------------

function read_start(): void {
  let i = cur;
  let lba = op_lba(i), n = op_blocks(i);
  recon_mask = 0;
  clear_met();
  for (let k: u32 = 0; k < n; k++) {
    let a = lba + <u64>k;
    if (list_has(a)) { finish_check(KEY_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, a); return; }
  }
  for (let k: u32 = 0; k < n; k++) {
    let a = lba + <u64>k;
    let r = geo_row(a);
    let m = geo_data_member(r, geo_index(a));
    if (!member_live(m, r)) { recon_mask |= 1 << k; continue; }
    mio(m, r, op_addr(i, k), false, k);
  }
  phase = PH_READ;
}

function read_after(): void {
  if (met_retry) { restart(); return; }
  recon_mask |= met_medium;
  if (met_dead) {
    // A member died under the read: its blocks are reconstructed like the others.
    let i = cur;
    let n = op_blocks(i);
    for (let k: u32 = 0; k < n; k++) {
      let a = op_lba(i) + <u64>k;
      if (!member_live(geo_data_member(geo_row(a), geo_index(a)), geo_row(a))) recon_mask |= 1 << k;
    }
  }
  recon_next();
}

/** Reconstruct the lowest block left in recon_mask from the rest of its row. */
function recon_next(): void {
  clear_met();
  if (recon_mask == 0) { finish_good(); return; }
  let k = <u32>ctz(recon_mask);
  recon_block = k;
  let i = cur;
  let a = op_lba(i) + <u64>k;
  let r = geo_row(a);
  let mine = geo_data_member(r, geo_index(a));
  // Parity that may not match its row (an update in flight, or one that failed) gives
  // no block back: the block is reported, never rebuilt from stale parity.
  if (row_pending(r)) { finish_check(KEY_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, a); return; }
  let n = geo_members();
  let slot: u32 = 0;
  for (let m: u32 = 0; m < n; m++) {
    if (m == mine) continue;
    if (!member_live(m, r)) { finish_check(KEY_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, a); return; }
    zero(work(slot), block_bytes);
    let other = member_block_lba(r, m);
    // A listed block counts as zeros in its row's parity and is not read.
    if (other == NONE64 || !list_has(other)) mio(m, r, work(slot), false, slot);
    slot++;
  }
  phase = PH_RECON;
}

function recon_after(): void {
  let i = cur;
  let a = op_lba(i) + <u64>recon_block;
  if (met_retry) { restart(); return; }
  if (met_dead || met_medium != 0) { finish_check(KEY_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, a); return; }
  let dst = op_addr(i, recon_block);
  zero(dst, block_bytes);
  for (let s: u32 = 0; s + 1 < geo_members(); s++) xor_into(dst, work(s));
  stat_reconstructed++;
  recon_mask &= ~(1 << recon_block);
  recon_next();
}

/** The array LBA member m holds in row r, or NONE64 for the parity block. */
function member_block_lba(r: u64, m: u32): u64 {
  let d = geo_data();
  for (let k: u32 = 0; k < d; k++) if (geo_data_member(r, k) == m) return r * <u64>d + <u64>k;
  return NONE64;
}

/** Is row r part of an update that is not known to be done (other than the running
 * command's own)? */
@inline function row_pending(r: u64): bool { return wcb_row_pending(r, geo_data(), cur_wcb); }

// ---- writes -------------------------------------------------------------------------

@inline const M_FULL: u8 = 0;
@inline const M_RMW: u8 = 1;
@inline const M_RCW: u8 = 2;
@inline const M_NOPARITY: u8 = 3;
@inline const M_HIDDEN: u8 = 4;
/** Per row of the chunk: its mode, four bits each, and for an M_HIDDEN row the data
 * index of its hidden block. */
let row_modes: u32 = 0;
let hidden_ks: u32 = 0;
@inline function row_mode(ri: u32): u8 { return <u8>((row_modes >>> (ri * 4)) & 15); }
@inline function set_row_mode(ri: u32, mode: u8): void {
  row_modes = (row_modes & ~(<u32>15 << (ri * 4))) | (<u32>mode << (ri * 4));
}
@inline function hidden_k(ri: u32): u32 { return (hidden_ks >>> (ri * 4)) & 15; }
/** Per row of the chunk: the data index of a rebuilt block to save first (shadow_index). */
let shadow_ks: u32 = 0;
@inline function shadow_k(ri: u32): u32 { return (shadow_ks >>> (ri * 4)) & 15; }
/** Rows of the running command (bit per row from its first) whose hidden block is on
 * the EEPROM already; whether its entry is. */
let hidden_saved: u32 = 0;
let cur_wcb_persisted = false;
if (array_work_blocks > 8) ERROR("array: chunk rows fit four bits each in a u32");

function write_start(): void {
  let i = cur;
  if (cur_wcb == NONE) {
    let w = wcb_add(op_lba(i), op_blocks(i), 0, members_missing() > 0 ? WCB_DEGRADED : 0);
    if (w >= wcb_slots_max) { retry_at_ms = <u32>(hal_now_us() / 1000) + retry_backoff_ms; return; }
    cur_wcb = w;
    cur_wcb_persisted = false;
    hidden_saved = 0;
    hal_log(LOG_ARRAY_UPDATE, <i32>op_lba(i), <i32>(op_blocks(i) | (<u32>wcb_flags(w) << 16)));
  }
  // The entry is on the EEPROM before the first member write, in every mode (once:
  // a restart keeps the page, so the hidden blocks saved after it stay newer).
  // With write-back on, the hold-up covers the power-fail handler's save of the
  // buffer (first, before the image): nothing to write now.
  if (!cur_wcb_persisted && nv_writeback_allowed() && !intent_in_use()) cur_wcb_persisted = true;
  if (!cur_wcb_persisted) {
    let r = intent_in_use() ? ERR_IO : wcb_persist();
    if (r == ERR_IO) {
      // The EEPROM takes no more pages: the entries go on the members' intent blocks.
      set_intent_in_use();
      intent_start();
      return;
    }
    if (r != OK) { retry_at_ms = <u32>(hal_now_us() / 1000) + retry_backoff_ms; return; }
    cur_wcb_persisted = true;
  }
  chunk_row = geo_row(op_lba(i));
  if ((op_flags(i) & F_MARK) != 0 && !list_has(op_lba(i))) {
    // A mark lists the block first (the labels durable), then writes the pattern: cut
    // between the two, the boot's repair writes the pattern of every listed block of
    // the rows it repairs. The other order would leave zeros that read back as data.
    if (!list_add(op_lba(i))) { finish_check(KEY_MEDIUM_ERROR, ASC_WRITE_ERROR, op_lba(i)); return; }
    labels_start();
    phase = PH_LABELS_MARK;
    return;
  }
  chunk_start();
}

@inline const NONE64: u64 = 0xffffffffffffffff;

/** First and last index of row r's data blocks that the command writes (k_lo > k_hi:
 * none). */
let k_lo: u32 = 0;
let k_hi: u32 = 0;
function row_span(r: u64): void {
  let d = <u64>geo_data();
  let first = r * d, last = first + d - 1;
  let lo = op_lba(cur), hi = lo + <u64>op_blocks(cur) - 1;
  let a = first > lo ? first : lo;
  let b = last < hi ? last : hi;
  if (a > b) { k_lo = 1; k_hi = 0; return; }
  k_lo = <u32>(a - first);
  k_hi = <u32>(b - first);
}

@inline function last_row(): u64 { return geo_row(op_lba(cur) + <u64>op_blocks(cur) - 1); }

function chunk_start(): void {
  clear_met();
  let mark = (op_flags(cur) & F_MARK) != 0;
  let rows = chunk_rows();
  let lr = last_row();
  let d = geo_data();
  for (let ri: u32 = 0; ri < rows; ri++) {
    let r = chunk_row + <u64>ri;
    if (r > lr) break;
    row_span(r);
    let changed = k_hi - k_lo + 1;
    let p = geo_parity_member(r);
    let mode = M_FULL;
    let first = r * <u64>d;
    let hk: u32 = d;
    let sk: u32 = d;
    if (!member_live(p, r)) mode = M_NOPARITY;
    else if (changed < d) {
      // Read-modify-write reads the changed blocks and the parity; reconstruct-write
      // the unchanged ones. Each needs its reads on live members (a listed block
      // needs none: it counts as zeros).
      let rmw_ok = true, rcw_ok = true;
      for (let k: u32 = 0; k < d; k++) {
        let live = member_live(geo_data_member(r, k), r);
        if (k >= k_lo && k <= k_hi) { if (!live) rmw_ok = false; }
        else if (!live && !list_has(first + <u64>k)) { rcw_ok = false; hk = k; }
      }
      // A row the rebuild has done since its progress was last recorded: the spare's
      // block counts as live now, but after a cut the boot would take it for missing.
      // If this update leaves it alone, it is read (reconstruct-write) and saved like
      // a hidden block before the row is written.
      sk = shadow_index(r, first);
      if (hk < d && rmw_ok) mode = M_HIDDEN;
      else if (sk < d && rcw_ok) mode = M_RCW;
      else if (force_rcw && rcw_ok) mode = M_RCW;
      else if (force_rmw && rmw_ok) mode = M_RMW;
      else if (rmw_ok && (!rcw_ok || changed + 1 < d - changed)) mode = M_RMW;
      else if (rcw_ok) mode = M_RCW;
      else { finish_check(KEY_MEDIUM_ERROR, ASC_WRITE_ERROR, op_lba(cur)); return; }
    }
    set_row_mode(ri, mode);
    hidden_ks = (hidden_ks & ~(<u32>15 << (ri * 4))) | (hk << (ri * 4));
    if (mode != M_RCW) sk = d;
    shadow_ks = (shadow_ks & ~(<u32>15 << (ri * 4))) | (sk << (ri * 4));
    if (mode == M_HIDDEN) {
      // A block on the missing member that this update does not write: its row's
      // parity alone holds it. Read the rest of the row; the first time, also the
      // parity and the blocks about to change, so the hidden block can be computed
      // and saved before anything is written.
      let saved = (hidden_saved & (1 << <u32>(r - geo_row(op_lba(cur))))) != 0;
      if (!saved) read_or_zero(p, r, NONE64, work_parity(ri), ri * 8 + 7);
      for (let k: u32 = 0; k < d; k++) {
        if (k == hk) continue;
        let changing = k >= k_lo && k <= k_hi;
        if (changing && saved) continue;
        let m = geo_data_member(r, k);
        if (changing && mark) mio(m, r, work_data(ri, k), false, ri * 8 + k);
        else read_or_zero(m, r, first + <u64>k, work_data(ri, k), ri * 8 + k);
      }
    } else if (mode == M_RMW) {
      stat_rmw_rows++;
      read_or_zero(p, r, NONE64, work_parity(ri), ri * 8 + 7);
      for (let k = k_lo; k <= k_hi; k++) {
        // A block being marked is listed already, but its disk still holds its data.
        let m = geo_data_member(r, k);
        if (mark) mio(m, r, work_data(ri, k), false, ri * 8 + k);
        else read_or_zero(m, r, first + <u64>k, work_data(ri, k), ri * 8 + k);
      }
    } else if (mode == M_RCW) {
      stat_rcw_rows++;
      for (let k: u32 = 0; k < d; k++) {
        if (k >= k_lo && k <= k_hi) continue;
        read_or_zero(geo_data_member(r, k), r, first + <u64>k, work_data(ri, k), ri * 8 + k);
      }
    } else if (mode == M_FULL) stat_full_rows++;
  }
  phase = PH_CHUNK_READ;
}

/** Read member m's block of row r into buf, or zeros if it is a listed block (it
 * counts as zeros in its row's parity). */
function read_or_zero(m: u32, r: u64, alba: u64, buf: usize, io: u32): void {
  if (alba != NONE64 && list_has(alba)) { zero(buf, block_bytes); return; }
  mio(m, r, buf, false, io);
}

function chunk_compute_and_write(): void {
  if (met_retry || met_dead) { restart(); return; }
  if (met_medium != 0) {
    // A block of the row would not read: compute the row the other way.
    if (force_rcw || force_rmw) { finish_check(KEY_MEDIUM_ERROR, ASC_WRITE_ERROR, op_lba(cur)); return; }
    let rmw_failed = false;
    for (let ri: u32 = 0; ri < 8; ri++) if ((met_medium >>> (ri * 8)) & 0xff) if (row_mode(ri) == M_RMW) rmw_failed = true;
    if (rmw_failed) force_rcw = true; else force_rmw = true;
    chunk_start();
    return;
  }
  clear_met();
  let i = cur;
  let rows = chunk_rows();
  let lr = last_row();
  let d = geo_data();
  let base = op_lba(i);
  // Hidden blocks (and rebuilt blocks the boot would not take for live) are on the
  // EEPROM before any write of the chunk goes out.
  for (let ri: u32 = 0; ri < rows; ri++) {
    let r = chunk_row + <u64>ri;
    if (r > lr) break;
    if (row_mode(ri) == M_HIDDEN && !hidden_ready(ri, r, r * <u64>d)) return;
    if (shadow_k(ri) < d && !shadow_saved(ri, r)) return;
  }
  for (let ri: u32 = 0; ri < rows; ri++) {
    let r = chunk_row + <u64>ri;
    if (r > lr) break;
    row_span(r);
    let first = r * <u64>d;
    let mode = row_mode(ri);
    let par = work_parity(ri);
    if (mode == M_FULL || mode == M_RCW || mode == M_HIDDEN) zero(par, block_bytes);
    for (let k: u32 = 0; k < d; k++) {
      let changed = k >= k_lo && k <= k_hi;
      let newd = changed ? op_addr(i, <u32>(first + <u64>k - base)) : 0;
      if (mode == M_RMW && changed) { xor_into(par, work_data(ri, k)); xor_into(par, newd); }
      else if (mode == M_RCW || mode == M_HIDDEN) xor_into(par, changed ? newd : work_data(ri, k));
      else if (mode == M_FULL) xor_into(par, newd);
    }
    for (let k = k_lo; k <= k_hi; k++) {
      let m = geo_data_member(r, k);
      if (member_live(m, r)) mio(m, r, op_addr(i, <u32>(first + <u64>k - base)), true, ri * 8 + k);
    }
    if (mode != M_NOPARITY) mio(geo_parity_member(r), r, par, true, ri * 8 + 7);
  }
  writes_out = true;
  writes_lo = chunk_row;
  writes_hi = chunk_row + <u64>rows - 1 < lr ? chunk_row + <u64>rows - 1 : lr;
  phase = PH_CHUNK_WRITE;
}

/** An M_HIDDEN row before its writes: its hidden block in work_data(ri, k), saved on
 * the EEPROM (computed from the row as read, the first time; read back from the ring
 * after a restart). false if the command restarted or failed instead. */
function hidden_ready(ri: u32, r: u64, first: u64): bool {
  let hk = hidden_k(ri);
  let dst = work_data(ri, hk);
  let bit: u32 = 1 << <u32>(r - geo_row(op_lba(cur)));
  // With the EEPROM gone the hidden block cannot be kept: the update goes on (a cut
  // now is a second fault on top of the EEPROM's; the block would be reported).
  if (intent_in_use()) {
    // Read whole before anything was written: the row gives it. After a restart the
    // row may be half-updated: the block cannot be known, and is listed (zeros).
    if (restarts == 0) compute_hidden(ri, hk, dst);
    else {
      list_add(first + <u64>hk);
      zero(dst, block_bytes);
    }
    return true;
  }
  if ((hidden_saved & bit) != 0) {
    if (wcb_hidden_find(r, dst, wcb_seq(cur_wcb))) return true;
    finish_check(KEY_MEDIUM_ERROR, ASC_WRITE_ERROR, first + <u64>hk);
    return false;
  }
  if (r >= suspect_lo && r <= suspect_hi) {
    // This command's writes of the row were cut (a power event, an abort) and its
    // member went missing since: the row may be half-updated, so its parity no longer
    // gives the block. It cannot be known: listed (zeros), reported on read.
    list_add(first + <u64>hk);
    zero(dst, block_bytes);
    return true;
  }
  compute_hidden(ri, hk, dst);
  let saved = wcb_save_hidden(r, dst, wcb_seq(cur_wcb));
  hal_log(LOG_ARRAY_HIDDEN_SAVED, <i32>r, saved);
  if (saved == ERR_IO) { set_intent_in_use(); return true; }
  if (saved != OK) { restart(); return false; }
  hidden_saved |= bit;
  return true;
}

/** The data index of the rebuilt block in row r that a cut would leave unknown to the
 * boot (d if none): the rebuild's slot holds data there, done but not yet recorded,
 * and not listed. The caller checks it is not one the update writes. */
function shadow_index(r: u64, first: u64): u32 {
  let d = geo_data();
  let slot = rebuild_slot();
  if (slot == REBUILD_NONE || r < rebuild_confirmed() || r >= rebuild_rows()) return d;
  for (let k: u32 = 0; k < d; k++) {
    if (geo_data_member(r, k) != slot) continue;
    if (k >= k_lo && k <= k_hi) return d;
    return list_has(first + <u64>k) ? d : k;
  }
  return d;
}

/** Save row r's rebuilt block (read by the reconstruct-write) like a hidden block.
 * false if the command restarted instead. */
function shadow_saved(ri: u32, r: u64): bool {
  let bit: u32 = 1 << <u32>(r - geo_row(op_lba(cur)));
  if ((hidden_saved & bit) != 0 || intent_in_use()) return true;
  let saved = wcb_save_hidden(r, work_data(ri, shadow_k(ri)), wcb_seq(cur_wcb));
  if (saved == ERR_IO) { set_intent_in_use(); return true; }
  if (saved != OK) { restart(); return false; }
  hidden_saved |= bit;
  return true;
}

/** The hidden block from the row as read: old parity XOR the other old data. */
function compute_hidden(ri: u32, hk: u32, dst: usize): void {
  copy(dst, work_parity(ri), block_bytes);
  let d = geo_data();
  for (let k: u32 = 0; k < d; k++) if (k != hk) xor_into(dst, work_data(ri, k));
}

function chunk_after_write(): void {
  if (met_retry) { restart(); return; }
  writes_out = false;
  // A member that died under the write is left out: the row's parity (or its data)
  // holds what it would have. A write the disk refused fails it the same way.
  if (met_medium != 0) {
    finish_check(KEY_MEDIUM_ERROR, ASC_WRITE_ERROR, op_lba(cur));
    return;
  }
  chunk_row += <u64>chunk_rows();
  if (chunk_row <= last_row()) { chunk_start(); return; }
  if ((op_flags(cur) & F_MARK) != 0) { write_done(); return; }
  // Listed blocks written anew are readable again once the labels say so.
  if (list_remove_range(op_lba(cur), op_blocks(cur))) {
    labels_start();
    phase = PH_LABELS;
    return;
  }
  write_done();
}

function write_done(): void {
  wcb_remove(cur_wcb);
  // Degraded, the ring must not name a row that is done: the boot's repair of it could
  // not tell its block on the missing member (read back from parity here) from one
  // an update left half-computed, and would list it. So the ring hears of the end
  // before the command completes; whole, the repair of a done row is harmless.
  let seq = wcb_seq(cur_wcb);
  if (members_missing() > 0 && !nv_writeback_allowed() && !intent_in_use() && wcb_persist() != OK) {
    cur_wcb = wcb_readd(cur_wcb, op_lba(cur), op_blocks(cur), seq);
    restart();
    return;
  }
  cur_wcb = NONE;
  finish_good();
}

// ---- completion ---------------------------------------------------------------------

function finish(status: u8): void {
  let i = cur;
  let t = op_caller(i);
  let res = tag_result(t);
  store<u8>(res + RES_HOST_STATUS, HOST_OK);
  store<u32>(res + RES_RESIDUAL, 0);
  if (status == STATUS_GOOD) store<u8>(res + RES_SENSE_LEN, 0);
  store<u8>(res + RES_STATUS, status);
  op_free(i);
  cur = NONE;
  phase = PH_START;
  pending = 0;
  tag_set_done(t);
}

function finish_good(): void { finish(STATUS_GOOD); }

function finish_check(key: u8, asc: u16, info_lba: u64): void {
  hal_log(LOG_ARRAY_CHECK, <i32>op_lba(cur), (<i32>key << 16) | <i32>asc);
  cur_wcb = NONE; // the entry stays: its rows are suspect
  let res = tag_result(op_caller(cur));
  sense_build(res + RES_SENSE, key, asc, -1, -1);
  if (info_lba != NONE64) sense_set_info(res + RES_SENSE, info_lba);
  store<u8>(res + RES_SENSE_LEN, 18);
  finish(STATUS_CHECK_CONDITION);
}

/** Write the member labels (the failed members, the list) to every live member,
 * one after the other (each with its slot, from the one buffer), with FUA: copy A on
 * every member, then copy B, so a cut leaves one good copy everywhere. A member that
 * dies meanwhile is left out and the labels go again before the next command. */
function labels_start(): void {
  clear_met();
  labels_prepare();
  label_member = 0;
  labels_next();
}

/** Write the intent block (the pending entries) to every live member at once (one
 * buffer, the same content), with FUA. */
function intent_start(): void {
  clear_met();
  intent_build();
  let n = geo_members();
  for (let m: u32 = 0; m < n; m++) {
    if (member_ok(m)) mio(m, intent_lba(member_label_lba(m)), member_label_base, true, 48 + m);
  }
  phase = PH_INTENT;
}

/** Member whose label goes next. */
let label_member: u32 = 0;

/** Issue the next member's label write; false when every member has had its turn. */
function labels_next(): bool {
  let k = label_write_next(label_member);
  if (k >= 2 * geo_members()) return false;
  label_member = k + 1;
  let m = k % geo_members();
  ml_set_slot(m); // the bus takes the data at submit, so one buffer serves them all
  mio(m, member_label_copy_lba(m, k / geo_members()), member_label_base, true, 32 + m);
  return true;
}
