// Boot of the array: find the members, read their labels, build a new array on
// blank disks (or hold one that is out of place, or another store's), find the spares,
// and have repair.ts repair exactly the rows the write-command buffer names before the
// array answers its first command.

import { array_work_base, block_bytes, member_label_base } from "../layout";
import { hal_log, hal_config, CONFIG_RAID, CONFIG_MEMBERS } from "../base/hal";
import { disk_probe_one, disk_exec_patient, cdb_rw16, sync_cdb } from "../base/initiator";
import { OP_READ_16, OP_WRITE_16, STATUS_GOOD, copy } from "../base/scsi";
import { ERR_NODEV, ERR_TIMEOUT, LOG_ARRAY_MEMBER, LOG_ARRAY_CREATED, LOG_ARRAY_READY } from "../base/errors";
import {
  geo_set, geo_members, geo_blocks, geo_level, members_min, members_max, stripe_unit_blocks, RAID_3,
  RAID_4, RAID_5,
} from "./geometry";
import {
  ml_check, ml_level, ml_members, ml_slot, ml_rows, ml_unit, ml_seq, ml_failed, ml_list_count, ml_set_slot,
  ml_id, ml_target, ml_rebuild_slot, ml_rebuild_rows, ml_list_at, ML_OURS, ML_BLANK, ML_OTHER, ML_NONE,
  ML_FOREIGN, ML_NO_REBUILD,
} from "./member_label";
import {
  members_init, member_set, member_ok, member_fail, members_set_state, members_failed_mask, labels_prepare,
  list_load, array_usable, labels_dirty, members_rebrand, members_missing, member_label_copy_lba,
  member_tail_blocks, member_target, set_member_target, set_bus_last, bus_last, set_rebuild, rebuild_slot,
  set_spares, spares_mask,
} from "./members";
import { wcb_init } from "./wcb";
import { array_ops_init, array_target } from "./array";
import { rebuild_enable } from "./rebuild";
import { repair } from "./repair";

import {
  lun_set, LUN_READY, LUN_FAILED, LUN_ABSENT, luns_max, ID_OK, ID_FOREIGN, ID_WRONG_SLOT,
} from "../state";

export {
  array_repair_blocks, array_repair_us, array_hidden_used, array_repaired_rows, array_torn_records,
} from "./repair";

/** Is the board strapped for an array? */
export function array_configured(): bool {
  let lvl = hal_config(CONFIG_RAID);
  return lvl == <i32>RAID_3 || lvl == <i32>RAID_4 || lvl == <i32>RAID_5;
}

/** How the last assembly ended. */
@inline const ARR_NONE: u8 = 0;    // no array on these disks (foreign, or not all blank)
@inline const ARR_OK: u8 = 1;      // assembled (degraded if one member is missing)
@inline const ARR_HELD: u8 = 2;    // members of ours in the wrong slots: a technician's turn
@inline const ARR_FAILED: u8 = 3;  // two members or more gone
let assembled: u8 = ARR_NONE;
/** Why a held array is held, as the volume's identity (state.ts ID_*): its members in
 * each other's slots, or every member another store's (the controller's EEPROM was
 * replaced or lost its store id). */
let held_identity: u8 = ID_OK;
/** Held for another store's id: the id its members carry (NV ACTION REPLAY adopts it). */
let other_id: u64 = 0;

/** The array's state for ARRAY STATUS: 0 none, 1 optimal, 2 degraded, 3 held (members
 * out of place, or another store's), 4 failed (two members or more gone). */
export function array_state(): u8 {
  if (assembled == ARR_NONE) return 0;
  if (assembled == ARR_HELD) return 3;
  if (assembled == ARR_FAILED || !array_usable()) return 4;
  return members_missing() > 0 ? 2 : 1;
}

/** Is an array assembled (its write-command buffer live: the power-fail handler saves
 * it, the save budget counts its page)? */
export function array_active(): bool { return assembled == ARR_OK; }

/** The volume's identity while the array is held, or ID_OK. */
export function array_held_identity(): u8 { return assembled == ARR_HELD ? held_identity : ID_OK; }

/** Probe the members, assemble (or build) the array, repair it, and present it as
 * LUN 0. Returns the LUN count (1, or 0 if there is no array to present). */
export function array_probe(store_id: u64): u32 {
  for (let l: u32 = 0; l < luns_max; l++) lun_set(l, l, LUN_ABSENT, 0);
  members_init(store_id);
  wcb_init(store_id);
  array_ops_init();
  assembled = assemble(store_id);
  if (assembled == ARR_NONE) return 0;
  // The array's last block is the volume's own label, as a disk's is. A held array
  // answers its commands with errors until NV ACTION RECHECK assembles it.
  lun_set(0, array_target, assembled == ARR_FAILED ? LUN_FAILED : LUN_READY, geo_blocks() - 1);
  if (assembled == ARR_OK) rebuild_enable();
  return 1;
}

/** NV ACTION RECHECK, before the volume's label is read again: an array that was
 * held (its members in each other's slots) is assembled again, the disks being back
 * where they belong. */
export function array_recheck(store_id: u64): void {
  if (assembled != ARR_HELD) return;
  members_init(store_id);
  let a = assemble(store_id);
  if (a == ARR_OK || a == ARR_HELD) assembled = a;
  if (assembled == ARR_OK) rebuild_enable();
}

/** NV ACTION REPLAY on an array held for another store's id: take its members as
 * ours (their labels get our id), then assemble it. */
export function array_adopt(store_id: u64): void {
  if (assembled != ARR_HELD || held_identity != ID_FOREIGN) return;
  members_init(other_id);
  if (assemble(other_id) != ARR_OK) return;
  members_rebrand(store_id);
  labels_prepare();
  for (let m: u32 = 0; m < geo_members(); m++) if (member_ok(m)) write_member_label(m);
  members_init(store_id);
  assembled = assemble(store_id);
  if (assembled == ARR_OK) rebuild_enable();
}

function assemble(store_id: u64): u8 {
  let want_level = <u32>hal_config(CONFIG_RAID);
  let want_n = <u32>hal_config(CONFIG_MEMBERS);
  if (want_n < members_min || want_n > members_max) return ARR_NONE;

  // Every bus ID: its disk's size, its label (kind and slot); the newest label of
  // ours decides the array (geometry, where each slot lives, failures, a rebuild).
  let best_seq: u32 = 0;
  let have_best = false;
  let level: u32 = 0, n: u32 = 0, rows: u64 = 0, failed: u32 = 0;
  let rb: u32 = ML_NO_REBUILD;
  let rb_rows: u64 = 0;
  let last = new_u64s();
  let kind = last + 64;   // u8 per bus ID: ML_* (ML_NONE: no disk or no label read)
  let slot_of = last + 72; // u8 per bus ID: the slot its label names
  let targets = last + 80; // u8 per slot: the bus ID (from the newest label)
  let blank: u32 = 0, others: u32 = 0;
  let other: u64 = 0;
  let o_level: u32 = 0, o_n: u32 = 0, o_rows: u64 = 0;
  let min_last: u64 = 0;
  for (let t: u32 = 0; t < members_max; t++) {
    store<u8>(kind + t, ML_NONE);
    let l = disk_probe_one(t);
    store<u64>(last + (t << 3), l);
    set_bus_last(t, l);
    if (l == 0) continue;
    if (t < want_n && (min_last == 0 || l < min_last)) min_last = l;
    let c = read_member_label(t, l, store_id);
    store<u8>(kind + t, c);
    if (c == ML_NONE) continue;
    hal_log(LOG_ARRAY_MEMBER, <i32>t, <i32>c);
    if (c == ML_BLANK) { blank |= 1 << t; continue; }
    store<u8>(slot_of + t, <u8>ml_slot());
    if (c == ML_OTHER && ml_slot() == t) {
      if (others == 0 || ml_id() == other) {
        others |= 1 << t;
        other = ml_id();
        o_level = ml_level(); o_n = ml_members(); o_rows = ml_rows();
      }
      continue;
    }
    if (c != ML_OURS || ml_unit() != stripe_unit_blocks) { store<u8>(kind + t, ML_FOREIGN); continue; }
    if (!have_best || ml_seq() > best_seq) {
      have_best = true;
      best_seq = ml_seq();
      level = ml_level(); n = ml_members(); rows = ml_rows(); failed = ml_failed();
      rb = ml_rebuild_slot(); rb_rows = ml_rebuild_rows();
      for (let k: u32 = 0; k < 8; k++) store<u8>(targets + k, <u8>ml_target(k));
      list_load(ml_list_count(), ml_list_at());
    }
  }

  held_identity = ID_OK;
  if (!have_best) {
    for (let t: u32 = 0; t < members_max; t++) {
      if (load<u8>(kind + t) == ML_OURS) return ARR_NONE; // ours, none usable: nothing to go by
    }
    // Every member of one other array, each in its slot: held until the host says
    // (REPLAY takes it as ours).
    let all_other = true;
    for (let m: u32 = 0; m < want_n; m++) if ((others & (1 << m)) == 0) all_other = false;
    if (all_other && o_n >= members_min && o_n <= members_max && o_rows > 0) {
      other_id = other;
      held_identity = ID_FOREIGN;
      geo_set(o_level, o_n, o_rows);
      return ARR_HELD;
    }
    // No array yet: build one if every member is blank — or all but one, which does
    // not answer at all (the array starts degraded, that member failed).
    let absent = want_n;
    for (let m: u32 = 0; m < want_n; m++) {
      if ((blank & (1 << m)) != 0) continue;
      if (load<u64>(last + (m << 3)) != 0 || absent != want_n) return ARR_NONE;
      absent = m;
    }
    if (min_last == 0) return ARR_NONE;
    // Each member's last two blocks are its label's copies, the one before them its
    // intent block.
    level = want_level; n = want_n; rows = min_last + 1 - member_tail_blocks; failed = 0;
    geo_set(level, n, rows);
    for (let m: u32 = 0; m < n; m++) member_set(m, m != absent, m != absent ? load<u64>(last + (m << 3)) : 0);
    members_set_state(0, 0);
    if (absent < n) member_fail(absent);
    find_spares(n, rows);
    labels_prepare();
    for (let m: u32 = 0; m < n; m++) if (member_ok(m)) write_member_label(m);
    hal_log(LOG_ARRAY_CREATED, <i32>level, <i32>n);
    hal_log(LOG_ARRAY_READY, <i32>geo_level(), <i32>members_failed_mask());
    return ARR_OK;
  }
  if (n < members_min || n > members_max || (level != RAID_3 && level != RAID_4 && level != RAID_5)) return ARR_NONE;
  geo_set(level, n, rows);
  members_set_state(failed, best_seq);
  // Each slot on the bus ID the labels give it: ours, naming that slot, not failed by
  // the others, and big enough. A slot being rebuilt is on its spare (not live yet).
  let missing: u32 = 0;
  let placed: u32 = 0; // bus IDs that hold their slot
  for (let m: u32 = 0; m < n; m++) {
    let t = <u32>load<u8>(targets + m);
    if (t >= members_max) t = m;
    set_member_target(m, t);
    let l = load<u64>(last + (t << 3));
    let here = load<u8>(kind + t) == ML_OURS && <u32>load<u8>(slot_of + t) == m && l >= rows + <u64>member_tail_blocks - 1;
    if (here) placed |= 1 << t;
    let ok = here && (failed & (1 << m)) == 0;
    member_set(m, ok, l);
    if (m == rb && here && (failed & (1 << m)) != 0) set_rebuild(m, rb_rows);
    if (!ok) missing++;
  }
  let misplaced = false;
  for (let t: u32 = 0; t < members_max; t++) {
    if (load<u8>(kind + t) == ML_OURS && (placed & (1 << t)) == 0) misplaced = true;
  }
  if (missing > 1) {
    // Members of ours in the wrong slots: nothing is written until they are back.
    if (misplaced) { held_identity = ID_WRONG_SLOT; return ARR_HELD; }
    return ARR_FAILED;
  }
  // One member missing at most: the array runs without it, and says so in the labels
  // (a disk that comes back is not trusted until it is rebuilt).
  for (let m: u32 = 0; m < n; m++) if (!member_ok(m) && (failed & (1 << m)) == 0) member_fail(m);
  find_spares(n, rows);
  repair();
  if (labels_dirty()) {
    labels_prepare();
    for (let m: u32 = 0; m < n; m++) if (member_ok(m) || m == rebuild_slot()) write_member_label(m);
  }
  hal_log(LOG_ARRAY_READY, <i32>geo_level(), <i32>(members_failed_mask() | (spares_mask() << 8)));
  return ARR_OK;
}

/** Hot spares: blank disks on bus IDs no slot lives at, big enough for the rows. */
function find_spares(n: u32, rows: u64): void {
  let mask: u32 = 0;
  for (let t: u32 = 0; t < members_max; t++) {
    let used = false;
    for (let m: u32 = 0; m < n; m++) if (member_target(m) == t) used = true;
    if (used || bus_last(t) < rows + <u64>member_tail_blocks - 1) continue;
    cdb_rw16(sync_cdb, OP_READ_16, bus_last(t), 1, false);
    if (disk_exec_patient(t, sync_cdb, 16, member_label_base, block_bytes, false) != STATUS_GOOD) continue;
    if (ml_check(0) == ML_BLANK) mask |= 1 << t;
  }
  set_spares(mask);
}

/** Scratch for the members' last LBAs (the work buffer's last block: not in use at
 * boot). */
@inline function new_u64s(): usize { return array_work_base + 7 * block_bytes; }

/** Write the label prepared in member_label_base to both copies on member m (FUA),
 * A then B: a cut tears one copy at most. */
function write_member_label(m: u32): bool {
  ml_set_slot(m);
  for (let copy_n: u32 = 0; copy_n < 2; copy_n++) {
    cdb_rw16(sync_cdb, OP_WRITE_16, member_label_copy_lba(m, copy_n), 1, true);
    let st = disk_exec_patient(member_target(m), sync_cdb, 16, member_label_base, block_bytes, true);
    if (st == STATUS_GOOD) continue;
    if (st == ERR_NODEV || st == ERR_TIMEOUT) member_fail(m);
    return false;
  }
  return true;
}

/** Read member m's two label copies (its last block is `last`) and leave the better
 * in member_label_base: a good one over a torn or blank one, the newer of two good
 * ones. Returns ml_check's answer for it, or ML_NONE if neither could be read. */
function read_member_label(m: u32, last: u64, id: u64): u8 {
  let spare = array_work_base + 6 * block_bytes;
  let c_b = ML_NONE;
  let seq_b: u32 = 0;
  cdb_rw16(sync_cdb, OP_READ_16, last - 1, 1, false);
  if (disk_exec_patient(m, sync_cdb, 16, member_label_base, block_bytes, false) == STATUS_GOOD) {
    c_b = ml_check(id);
    seq_b = ml_seq();
    copy(spare, member_label_base, block_bytes);
  }
  cdb_rw16(sync_cdb, OP_READ_16, last, 1, false);
  let c_a = ML_NONE;
  if (disk_exec_patient(m, sync_cdb, 16, member_label_base, block_bytes, false) == STATUS_GOOD) c_a = ml_check(id);
  let a_good = c_a == ML_OURS || c_a == ML_OTHER;
  let b_good = c_b == ML_OURS || c_b == ML_OTHER;
  if (b_good && (!a_good || seq_b > ml_seq())) {
    copy(member_label_base, spare, block_bytes);
    return c_b;
  }
  if (c_a == ML_NONE && c_b == ML_BLANK) return ML_BLANK;
  return c_a;
}

