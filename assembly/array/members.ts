// The array's members (one per bus ID 0..n−1): which answer, which failed, and the
// array's list of blocks it cannot give back. A member fails for good on a selection
// time-out, on three commands in a row aborted past their deadline, or on three
// errors in a row that are not transient; the labels of the others then say so, so a
// failed disk that answers again is not trusted (it comes back only by a rebuild).

import {
  array_members_base, array_member_bytes, array_list_base, array_list_max, array_bus_base,
} from "../layout";
import { hal_log } from "../base/hal";
import { HOST_SELECTION_TIMEOUT } from "../base/abi";
import { STATUS_BUSY, KEY_UNIT_ATTENTION, KEY_NOT_READY, KEY_ILLEGAL_REQUEST } from "../base/scsi";
import { LOG_ARRAY_MEMBER_FAILED } from "../base/errors";
import { geo_members, geo_level, geo_rows, stripe_unit_blocks } from "./geometry";
import { ml_build } from "./member_label";

/** Commands aborted past their deadline in a row, and errors that are not transient
 * in a row, before a member is failed. */
@inline const member_timeouts_max: u8 = 3;
@inline const member_errors_max: u8 = 3;

@inline export const NOTE_RETRY: u8 = 0;
@inline export const NOTE_DEAD: u8 = 1;
@inline export const NOTE_REFUSED: u8 = 2;

// Member record: @0 ok u8 | @1 time-outs u8 | @2 errors u8 | @4 label LBA u32
@inline function at(m: u32): usize { return array_members_base + m * array_member_bytes; }
@inline export function member_ok(m: u32): bool { return m < geo_members() && load<u8>(at(m)) != 0; }

// ---- where each slot lives, and the rebuild ----------------------------------------------

/** The bus ID member (slot) m lives at: m, until a rebuild moved it to a spare. */
@inline export function member_target(m: u32): u32 { return load<u8>(array_bus_base + (m & 7)); }
@inline export function set_member_target(m: u32, t: u32): void { store<u8>(array_bus_base + (m & 7), <u8>t); }
/** The slot→bus table, a byte per slot (for the labels). */
@inline export function member_targets(): usize { return array_bus_base; }
/** The last LBA of the disk at bus ID t, as the assembly found it (0: none). */
@inline export function bus_last(t: u32): u64 { return <u64>load<u32>(array_bus_base + 16 + ((t & 7) << 2)); }
@inline export function set_bus_last(t: u32, l: u64): void { store<u32>(array_bus_base + 16 + ((t & 7) << 2), <u32>l); }

/** The slot being rebuilt onto a spare (NONE: none), and the rows done so far: those
 * rows of the slot are on the spare and count as live. */
@inline export const REBUILD_NONE: u32 = 0xff;
let rb_slot: u32 = REBUILD_NONE;
let rb_rows: u64 = 0;
@inline export function rebuild_slot(): u32 { return rb_slot; }
@inline export function rebuild_rows(): u64 { return rb_rows; }
export function set_rebuild(slot: u32, rows: u64): void { rb_slot = slot; rb_rows = rows; rb_confirmed = rows; }
/** Rows of the rebuild that a completed label write records (a boot resumes at least
 * from there), and the count the labels being written carry. Rows done past it are
 * live now but would not be after a cut: an update of one saves the rebuilt block
 * first, as it saves a hidden block (array.ts). */
let rb_confirmed: u64 = 0;
let rb_prepared: u64 = 0;
@inline export function rebuild_confirmed(): u64 { return rb_confirmed; }
@inline export function set_rebuild_rows(rows: u64): void { rb_rows = rows; }

/** Hot spares: bus IDs of blank disks no slot lives at (assembly). */
let spares: u32 = 0;
export function set_spares(mask: u32): void { spares = mask; }
@inline export function spares_mask(): u32 { return spares; }
/** Take a spare for a rebuild: its bus ID, or REBUILD_NONE. */
export function take_spare(): u32 {
  if (spares == 0) return REBUILD_NONE;
  let t = <u32>ctz(spares);
  spares &= ~(1 << t);
  return t;
}

/** Does member m hold row r (it is live, or being rebuilt and past r)? */
@inline export function member_live(m: u32, r: u64): bool {
  return member_ok(m) || (m == rb_slot && r < rb_rows);
}
/** A member's last block: its label, copy A. */
@inline export function member_label_lba(m: u32): u64 { return <u64>load<u32>(at(m), 4); }
/** Copy A is the last block, copy B the one before it. */
@inline export function member_label_copy_lba(m: u32, copy_n: u32): u64 { return member_label_lba(m) - <u64>copy_n; }
/** Blocks at each member's end that are not rows: label copies A and B, the intent
 * block (array/intent.ts). */
@inline export const member_tail_blocks: u32 = 3;

let failed_mask: u32 = 0;
let dirty = false;
let label_seq: u32 = 0;
let array_id: u64 = 0;
let list_n: u32 = 0;

export function members_init(id: u64): void {
  for (let m: u32 = 0; m < 8; m++) store<u64>(at(m), 0);
  for (let m: u32 = 0; m < 8; m++) set_member_target(m, m);
  rb_slot = REBUILD_NONE;
  rb_rows = 0;
  failed_mask = 0;
  dirty = false;
  label_seq = 0;
  list_n = 0;
  array_id = id;
}

/** The rebuild of slot m is done: it is a member again, its failure forgotten. */
export function member_rebuilt(m: u32, label_lba: u64): void {
  store<u8>(at(m), 1);
  store<u8>(at(m), 0, 1);
  store<u8>(at(m), 0, 2);
  store<u32>(at(m), <u32>label_lba, 4);
  failed_mask &= ~(1 << m);
  rb_slot = REBUILD_NONE;
  rb_rows = 0;
  dirty = true;
}

/** Rebuild slot m onto the spare at bus ID t: from now on its rows count as live as
 * they are done, and its labels go to t. */
export function member_start_rebuild(m: u32, t: u32): void {
  set_member_target(m, t);
  store<u32>(at(m), <u32>bus_last(t), 4);
  rb_slot = m;
  rb_rows = 0;
  rb_confirmed = 0;
  dirty = true;
}

/** The array takes another id (NV ACTION REPLAY of another store's array). */
export function members_rebrand(id: u64): void { array_id = id; }

/** Assembly: member m answers, its label at label_lba. */
export function member_set(m: u32, ok: bool, label_lba: u64): void {
  store<u8>(at(m), ok ? 1 : 0);
  store<u8>(at(m), 0, 1);
  store<u8>(at(m), 0, 2);
  store<u32>(at(m), <u32>label_lba, 4);
}

@inline export function members_failed_mask(): u32 { return failed_mask; }
export function members_set_state(failed: u32, seq: u32): void { failed_mask = failed; label_seq = seq; }
@inline export function members_label_seq(): u32 { return label_seq; }

/** Members missing (failed or absent). */
export function members_missing(): u32 {
  let n: u32 = 0;
  for (let m: u32 = 0; m < geo_members(); m++) if (!member_ok(m)) n++;
  return n;
}

/** The array gives every block back while at most one member is missing. */
export function array_usable(): bool { return geo_members() > 0 && members_missing() <= 1; }

/** Fail member m: it is out until a rebuild; the labels say so before the next
 * command. */
export function member_fail(m: u32): void {
  if (m >= geo_members()) return;
  // The spare of a rebuild died: the rebuild stops, the slot stays failed.
  if (m == rb_slot) { rb_slot = REBUILD_NONE; rb_rows = 0; dirty = true; }
  if (load<u8>(at(m)) != 0) hal_log(LOG_ARRAY_MEMBER_FAILED, <i32>m, <i32>members_missing());
  store<u8>(at(m), 0);
  failed_mask |= 1 << m;
  dirty = true;
}

export function member_note_good(m: u32): void {
  if (m >= 8) return;
  store<u8>(at(m), 0, 1);
  store<u8>(at(m), 0, 2);
}

/** A member command that did not succeed and was not a medium error: transient
 * (retry the command) or the member is gone. */
export function member_note_error(m: u32, host: u8, status: u8, key: u8, straddled: bool, aborted: bool): u8 {
  if (m >= 8) return NOTE_RETRY;
  if (straddled) return NOTE_RETRY; // the disks lost power with us
  if (host == HOST_SELECTION_TIMEOUT) return NOTE_DEAD;
  if (host != 0) {
    if (!aborted) return NOTE_RETRY; // a bus reset
    let t = load<u8>(at(m), 1) + 1;
    store<u8>(at(m), t, 1);
    return t >= member_timeouts_max ? NOTE_DEAD : NOTE_RETRY;
  }
  if (status == STATUS_BUSY || key == KEY_UNIT_ATTENTION || key == KEY_NOT_READY) return NOTE_RETRY;
  // The member refused the command itself (a block past its end): the command is
  // wrong, not the disk.
  if (key == KEY_ILLEGAL_REQUEST) return NOTE_REFUSED;
  let e = load<u8>(at(m), 2) + 1;
  store<u8>(at(m), e, 2);
  return e >= member_errors_max ? NOTE_DEAD : NOTE_RETRY;
}

// ---- the labels ------------------------------------------------------------------------

@inline export function labels_dirty(): bool { return dirty; }
@inline export function set_labels_dirty(): void { dirty = true; }

/** Build the next label (slot set per member when it is written). */
export function labels_prepare(): void {
  rb_prepared = rb_rows;
  label_seq++;
  ml_build(array_id, geo_level(), geo_members(), geo_rows(), stripe_unit_blocks, label_seq, failed_mask,
    array_list_base, list_n, member_targets(), rb_slot, rb_rows);
  dirty = false;
}

/** The label writes go copy A on every member, then copy B (a cut tears one copy at
 * most): write k is copy k / n on slot k mod n. The next write at or after k that has
 * a disk to go to (a live member, or the spare being rebuilt onto); 2n when none is
 * left. */
export function label_write_next(k: u32): u32 {
  let n = geo_members();
  for (; k < 2 * n; k++) {
    let m = k % n;
    if (member_ok(m) || m == rb_slot) return k;
  }
  return 2 * n;
}

/** The labels went out (to the members that are still live). */
export function labels_written(): void {
  if (rb_prepared > rb_confirmed) rb_confirmed = rb_prepared;
}

// ---- the list: array blocks that cannot be given back -----------------------------------

@inline function list_at(i: u32): usize { return array_list_base + (i << 3); }
@inline export function list_count(): u32 { return list_n; }
@inline export function list_lba(i: u32): u64 { return load<u64>(list_at(i)); }

export function list_has(lba: u64): bool {
  for (let i: u32 = 0; i < list_n; i++) if (load<u64>(list_at(i)) == lba) return true;
  return false;
}

/** Add a block (the caller writes the labels). false if the list is full. */
export function list_add(lba: u64): bool {
  if (list_has(lba)) return true;
  if (list_n >= array_list_max) return false;
  store<u64>(list_at(list_n), lba);
  list_n++;
  dirty = true;
  return true;
}

/** Remove [lba, lba+n) from the list; true if anything was (labels to write). */
export function list_remove_range(lba: u64, n: u32): bool {
  let removed = false;
  let i: u32 = 0;
  while (i < list_n) {
    let l = load<u64>(list_at(i));
    if (l >= lba && l < lba + <u64>n) {
      list_n--;
      store<u64>(list_at(i), load<u64>(list_at(list_n)));
      removed = true;
    } else i++;
  }
  return removed;
}

/** Load the list from the label in member_label_base (assembly). */
export function list_load(count: u32, lbas: usize): void {
  list_n = 0;
  for (let i: u32 = 0; i < count && i < array_list_max; i++) {
    store<u64>(list_at(i), load<u64>(lbas + (i << 3)));
    list_n++;
  }
}
