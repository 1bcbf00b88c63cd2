// Rebuild onto a hot spare (seed 003): when a member fails and a spare is on the bus
// (a blank disk at a bus ID no slot lives at), the failed slot moves to the spare and
// its rows are computed, a few at a time, from the other members: read each live
// member's blocks of the rows, XOR, write to the spare with FUA. Rows done count as
// live at once (reads are served from the spare, writes go to it); the rest are
// reconstructed as in a degraded array. Progress is in the member labels every
// rebuild_persist_rows rows (a cut resumes from there: the rows since are done again)
// and in NV STATUS and ARRAY STATUS.
//
// A step runs only between array commands, never beside one (no update of a row
// overlaps its rebuild), and steps and commands take turns, so neither starves.

import { array_work_base, block_bytes } from "../layout";
import { hal_log, hal_now_us } from "../base/hal";
import {
  tag_alloc, tag_free, tag_cdb, tag_status, tag_host_status, tag_sense, tag_set_member_io, tag_member,
  tag_straddled_power, tag_aborted, OWNER_ARRAY, TAG_NONE,
} from "../base/tags";
import { disk_submit, cdb_rw16 } from "../base/initiator";
import {
  OP_READ_16, OP_WRITE_16, STATUS_GOOD, STATUS_CHECK_CONDITION, zero, sense_key_of,
} from "../base/scsi";
import { HOST_OK, OK, LOG_ARRAY_REBUILD } from "../base/errors";
import { geo_members, geo_rows, geo_data, geo_data_member } from "./geometry";
import {
  member_ok, member_fail, member_note_error, member_note_good, member_target, rebuild_slot, rebuild_rows,
  set_rebuild_rows, member_rebuilt, member_start_rebuild, take_spare, bus_last, members_failed_mask,
  members_missing, labels_prepare, labels_written, member_label_copy_lba, set_labels_dirty, spares_mask,
  list_add, label_write_next, NOTE_DEAD, REBUILD_NONE,
} from "./members";
import { wcb_row_pending } from "./wcb";
import { ml_set_slot } from "./member_label";
import { xor_into } from "./parity";
import { member_label_base } from "../layout";

/** The tag owner id of the rebuild's member commands (array commands use 0..7). */
@inline export const REBUILD_OWNER: u32 = 0xfe;
/** Rows per step: the work buffer's first half gathers them, the second reads. */
@inline const step_rows: u32 = 4;
/** The labels record the progress this often. */
@inline const persist_rows: u64 = 4096;
/** After a step met a power event or a disk not ready, wait this long. */
@inline const retry_backoff_ms: u32 = 50;
if (2 * step_rows * block_bytes > 8 * block_bytes) ERROR("rebuild: a step fits the work buffer");

@inline const RB_IDLE: u8 = 0;
@inline const RB_READ: u8 = 1;
@inline const RB_WRITE: u8 = 2;
@inline const RB_LABELS: u8 = 3;

let phase: u8 = RB_IDLE;
let pending: u32 = 0;
let met_retry = false;
let met_bad = false;
let rows_now: u32 = 0;
let reader: u32 = 0;
let label_k: u32 = 0;
let persisted: u64 = 0;
let retry_at_ms: u32 = 0;
/** Whose turn: a rebuild step (true) or an array command. */
let step_turn = true;

@inline function acc(): usize { return array_work_base; }
@inline function tmp(): usize { return array_work_base + step_rows * block_bytes; }

/** Rows rebuilt so far, per mille of the slot (1000 when none runs): for NV STATUS and
 * the host's progress line. */
export function rebuild_permille(): u32 {
  if (rebuild_slot() == REBUILD_NONE || geo_rows() == 0) return 1000;
  return <u32>(rebuild_rows() * 1000 / geo_rows());
}

/** Is a step out (no array command may start meanwhile)? */
@inline export function rebuild_in_step(): bool { return phase != RB_IDLE; }

/** May an array command start now, with `queued` commands waiting? Between steps,
 * commands and steps take turns. */
export function rebuild_yields(queued: bool): bool {
  if (phase != RB_IDLE) return false;
  if (!rebuild_due()) return true;
  if (!queued) return false;
  step_turn = !step_turn;
  return !step_turn;
}

/** Is there rebuild work: a rebuild under way, or a failed member and a spare? */
export function rebuild_due(): bool {
  if (!enabled || geo_members() == 0) return false;
  if (rebuild_slot() != REBUILD_NONE) return true;
  return members_failed_mask() != 0 && members_missing() == 1 && spare_available();
}

function spare_available(): bool { return spares_mask() != 0; }

/** The boot has repaired the array: rebuilding may start (never before the rows the
 * buffer names are consistent again). */
let enabled = false;
export function rebuild_enable(): void { enabled = true; }

/** Run the rebuild when the array is idle or it is its turn. Returns whether it did
 * anything. */
export function rebuild_poll(): bool {
  if (!enabled || phase != RB_IDLE || pending > 0) return false;
  if (<i32>(<u32>(hal_now_us() / 1000) - retry_at_ms) < 0) return false;
  if (rebuild_slot() == REBUILD_NONE) {
    if (!(members_failed_mask() != 0 && members_missing() == 1)) return false;
    let t = take_spare();
    if (t == REBUILD_NONE) return false;
    let m: u32 = 0;
    while (m < geo_members() && member_ok(m)) m++;
    if (m >= geo_members()) return false;
    member_start_rebuild(m, t);
    persisted = 0;
    hal_log(LOG_ARRAY_REBUILD, <i32>m, <i32>t);
    labels_start();
    return true;
  }
  let r = rebuild_rows();
  if (r >= geo_rows()) {
    let m = rebuild_slot();
    member_rebuilt(m, bus_last(member_target(m)));
    hal_log(LOG_ARRAY_REBUILD, <i32>m, -1);
    labels_start();
    return true;
  }
  let left = geo_rows() - r;
  rows_now = left < <u64>step_rows ? <u32>left : step_rows;
  // A row an update left unfinished (a command that failed) has parity that may not
  // match its data: the slot's data block there cannot be computed, and is listed
  // (reads answer MEDIUM ERROR; the host writes it again). Its parity block can.
  let slot = rebuild_slot();
  let d = geo_data();
  for (let i: u32 = 0; i < rows_now; i++) {
    let row = r + <u64>i;
    if (!wcb_row_pending(row, d)) continue;
    for (let k: u32 = 0; k < d; k++) {
      if (geo_data_member(row, k) == slot) list_add(row * <u64>d + <u64>k);
    }
  }
  zero(acc(), rows_now * block_bytes);
  reader = 0;
  met_retry = false;
  met_bad = false;
  return read_next();
}

/** Read the next live member's blocks of the step's rows (or, all read, write). */
function read_next(): bool {
  let n = geo_members();
  let slot = rebuild_slot();
  while (reader < n && (reader == slot || !member_ok(reader))) reader++;
  if (reader >= n) return write_step();
  phase = RB_READ;
  return io(reader, rebuild_rows(), tmp(), rows_now, false);
}

function write_step(): bool {
  phase = RB_WRITE;
  return io(rebuild_slot(), rebuild_rows(), acc(), rows_now, true);
}

/** A member command of the rebuild (k blocks, FUA for writes); false if none went out
 * (the step is then given up, and tried again). */
function io(m: u32, row: u64, buf: usize, k: u32, write: bool): bool {
  if (submit(m, row, buf, k, write)) return true;
  phase = RB_IDLE;
  return false;
}

function submit(m: u32, lba: u64, buf: usize, k: u32, write: bool): bool {
  let t = tag_alloc(OWNER_ARRAY, REBUILD_OWNER);
  if (t == TAG_NONE) return false;
  tag_set_member_io(t, m, 0);
  cdb_rw16(tag_cdb(t), write ? OP_WRITE_16 : OP_READ_16, lba, k, write);
  if (disk_submit(t, member_target(m), 16, buf, k * block_bytes, write) != OK) {
    tag_free(t);
    return false;
  }
  pending++;
  return true;
}

/** A rebuild command completed (array.ts routes it here). */
export function rebuild_done(t: u32): void {
  let m = tag_member(t);
  let host = tag_host_status(t);
  let status = tag_status(t);
  let key: u8 = 0;
  if (host == HOST_OK && status == STATUS_CHECK_CONDITION) key = sense_key_of(tag_sense(t));
  let straddled = tag_straddled_power(t);
  let aborted = tag_aborted(t);
  tag_free(t);
  if (pending > 0) pending--;
  if (host == HOST_OK && status == STATUS_GOOD) member_note_good(m);
  else {
    let note = member_note_error(m, host, status, key, straddled, aborted);
    if (note == NOTE_DEAD) { member_fail(m); met_bad = true; }
    else met_retry = true;
  }
  if (pending > 0) return;
  advance();
}

function advance(): void {
  if (met_retry || met_bad) {
    // A power event, a disk not ready, or a member lost: the step again, later (if
    // the spare died, member_fail ended the rebuild). Labels cut short go again.
    if (phase == RB_LABELS) set_labels_dirty();
    phase = RB_IDLE;
    retry_at_ms = <u32>(hal_now_us() / 1000) + retry_backoff_ms;
    return;
  }
  if (phase == RB_READ) {
    xor_into(acc(), tmp(), rows_now * block_bytes);
    reader++;
    read_next();
    return;
  }
  if (phase == RB_WRITE) {
    let done = rebuild_rows() + <u64>rows_now;
    set_rebuild_rows(done);
    phase = RB_IDLE;
    if (done - persisted >= persist_rows) {
      persisted = done;
      labels_start();
    }
    return;
  }
  if (phase == RB_LABELS) {
    if (labels_next()) return;
    labels_written();
    phase = RB_IDLE;
  }
}

// ---- labels: copy A on every member and the spare, then copy B ----------------------------

function labels_start(): void {
  labels_prepare();
  label_k = 0;
  phase = RB_LABELS;
  met_retry = false;
  met_bad = false;
  if (!labels_next()) { labels_written(); phase = RB_IDLE; }
}

function labels_next(): bool {
  let n = geo_members();
  for (let k = label_write_next(label_k); k < 2 * n; k = label_write_next(label_k)) {
    label_k = k + 1;
    let m = k % n;
    ml_set_slot(m); // the bus takes the data at submit, so one buffer serves them all
    if (submit(m, member_label_copy_lba(m, k / n), member_label_base, 1, true)) return true;
  }
  return false;
}
