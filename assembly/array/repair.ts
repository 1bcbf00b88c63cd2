// The boot's repair of the array (seed 003 claims 3, 8, 13): exactly the rows the
// write-command buffer names (the newest ring page's entries, and the members' intent
// blocks') are made consistent before the array answers its first command.
//
// Repair of a row: read every live member's block of it. A data block that reads
// MEDIUM ERROR was torn by the power loss: it gets a known pattern (zeros), is marked
// on its disk (WRITE LONG, WR_UNCOR) and goes on the array's list. A data block on a
// missing member comes from its hidden block or from the row's parity (see
// repair_row), else it goes on the list too. The parity is then computed from the
// data as it now stands (a listed block counts as zeros) and written. The write
// cache's restore then writes back every acknowledged block of those rows, which takes
// them off the list.

import { array_work_base, block_bytes, wcb_slots_max, member_label_base } from "../layout";
import { hal_log, hal_now_us } from "../base/hal";
import { disk_exec_patient, cdb_rw16, cdb_write_long_uncor, sync_cdb } from "../base/initiator";
import { OP_READ_16, OP_WRITE_16, STATUS_GOOD, zero } from "../base/scsi";
import { ERR_NODEV, ERR_TIMEOUT, OK, LOG_ARRAY_REPAIRED, LOG_ARRAY_TORN } from "../base/errors";
import { geo_rows, geo_members, geo_data, geo_data_member, geo_parity_member, members_max } from "./geometry";
import {
  member_ok, member_fail, list_add, list_has, member_label_lba, member_target, member_live,
} from "./members";
import {
  wcb_load, wcb_state, wcb_lba, wcb_blocks, wcb_remove, wcb_persist, wcb_hidden_find, wcb_seq, wcb_flags,
  WCB_FROM_INTENT, WCB_DEGRADED,
} from "./wcb";
import { intent_build, intent_check, intent_take, intent_lba, intent_in_use, set_intent_in_use } from "./intent";
import { xor_into } from "./parity";

/** What the last boot's repair did, for ARRAY STATUS and the host's report. */
let repaired_rows: u32 = 0;
let torn_records: u32 = 0;
/** Blocks it read and wrote, and how long it took (µs). */
let repair_blocks: u32 = 0;
let repair_us: u32 = 0;
/** Hidden blocks (on a missing member, not being written) it took from the buffer. */
let hidden_used: u32 = 0;
@inline export function array_repair_blocks(): u32 { return repair_blocks; }
@inline export function array_repair_us(): u32 { return repair_us; }
@inline export function array_hidden_used(): u32 { return hidden_used; }
@inline export function array_repaired_rows(): u32 { return repaired_rows; }
@inline export function array_torn_records(): u32 { return torn_records; }

/** Repair every row the write-command buffer names (the ring's entries, and the
 * members' intent blocks'), then empty it. */
export function repair(): void {
  repaired_rows = 0;
  torn_records = 0;
  hidden_used = 0;
  let t0 = hal_now_us();
  repair_blocks = 0;
  let loaded = wcb_load();
  let intents = intents_load();
  loaded += intents;
  if (loaded == 0) { repair_us = <u32>(hal_now_us() - t0); return; }
  for (let w: u32 = 0; w < wcb_slots_max; w++) {
    if (wcb_state(w) == 0) continue;
    let first = wcb_lba(w) / <u64>geo_data();
    let last_row = (wcb_lba(w) + <u64>wcb_blocks(w) - 1) / <u64>geo_data();
    for (let r = first; r <= last_row && r < geo_rows(); r++) {
      let f = wcb_flags(w);
      repair_row(r, wcb_seq(w), wcb_lba(w), wcb_blocks(w), (f & WCB_FROM_INTENT) == 0 && (f & WCB_DEGRADED) != 0);
    }
    wcb_remove(w);
  }
  repair_us = <u32>(hal_now_us() - t0);
  // The rows are consistent now: the ring (and the intent blocks) say nothing is
  // pending.
  if (wcb_persist() != OK) set_intent_in_use();
  if (intents > 0 || intent_in_use()) {
    intent_build();
    for (let m: u32 = 0; m < geo_members(); m++) {
      if (!member_ok(m)) continue;
      cdb_rw16(sync_cdb, OP_WRITE_16, intent_lba(member_label_lba(m)), 1, true);
      disk_exec_patient(member_target(m), sync_cdb, 16, member_label_base, block_bytes, true);
    }
  }
}

/** The newest good intent block of the live members: its entries join the buffer. */
function intents_load(): u32 {
  let best: u32 = 0, best_m: u32 = members_max;
  for (let m: u32 = 0; m < geo_members(); m++) {
    if (!member_ok(m)) continue;
    cdb_rw16(sync_cdb, OP_READ_16, intent_lba(member_label_lba(m)), 1, false);
    if (disk_exec_patient(member_target(m), sync_cdb, 16, member_label_base, block_bytes, false) != STATUS_GOOD) continue;
    let seq = intent_check();
    if (seq > best) { best = seq; best_m = m; }
  }
  if (best_m == members_max) return 0;
  cdb_rw16(sync_cdb, OP_READ_16, intent_lba(member_label_lba(best_m)), 1, false);
  if (disk_exec_patient(member_target(best_m), sync_cdb, 16, member_label_base, block_bytes, false) != STATUS_GOOD) return 0;
  if (intent_check() == 0) return 0;
  return intent_take();
}

/** Repair row r of update `seq`, which wrote array blocks [lba, lba + blocks). */
function repair_row(r: u64, seq: u32, lba: u64, blocks: u32, saves_hidden: bool): void {
  let n = geo_members();
  let d = geo_data();
  let p = geo_parity_member(r);
  let torn: u32 = 0;   // bit per data index
  let listed: u32 = 0; // bit per data index
  let parity_read = false;
  for (let m: u32 = 0; m < n; m++) {
    let buf = array_work_base + m * block_bytes;
    zero(buf, block_bytes);
    if (!member_live(m, r)) continue;
    let k = data_index(r, m);
    cdb_rw16(sync_cdb, OP_READ_16, r, 1, false);
    let st = disk_exec_patient(member_target(m), sync_cdb, 16, buf, block_bytes, false);
    repair_blocks++;
    if (k < d && list_has(r * <u64>d + <u64>k)) {
      // Listed: it holds the zero pattern (marked unreadable on top, it reads as an
      // error), or still its old data if a mark was cut between its listing and its
      // pattern: as it reads, it is what the row's parity holds now.
      listed |= 1 << k;
      if (st != STATUS_GOOD) zero(buf, block_bytes);
      if (st == ERR_NODEV || st == ERR_TIMEOUT) member_fail(m);
      continue;
    }
    if (st == STATUS_GOOD) { if (m == p) parity_read = true; continue; }
    zero(buf, block_bytes);
    if (st == ERR_NODEV || st == ERR_TIMEOUT) { member_fail(m); continue; }
    if (k < d) torn |= 1 << k; // a data block that would not read: torn
  }
  // A data block on a missing member that the update did not write (its row's
  // parity alone holds it): saved on the EEPROM before the row's first write, if the
  // member was missing when the update began. Not saved then, the row was not written
  // yet (the save comes first), so its parity holds it still — unless the row shows a
  // torn block. A member that went missing during the update (a second fault), an
  // update whose buffer was on the intent blocks (no hidden block is saved there), or
  // a block the update wrote: it cannot be known (the cache's restore writes it again
  // if it was acknowledged).
  for (let k: u32 = 0; k < d; k++) {
    let m = geo_data_member(r, k);
    let alba = r * <u64>d + <u64>k;
    if (member_live(m, r) || list_has(alba)) continue;
    let dst = array_work_base + m * block_bytes;
    if (wcb_hidden_find(r, dst, seq)) { hidden_used++; continue; }
    let written = alba >= lba && alba < lba + <u64>blocks;
    if (!written && saves_hidden && torn == 0 && parity_read) {
      for (let o: u32 = 0; o < n; o++) {
        if (o == m) continue;
        let src = array_work_base + o * block_bytes;
        xor_into(dst, src);
      }
      continue;
    }
    torn |= 1 << k;
  }
  // Listed blocks get the zero pattern now (the parity below counts them as zeros).
  for (let k: u32 = 0; k < d; k++) {
    if ((listed & (1 << k)) == 0) continue;
    let m = geo_data_member(r, k);
    let buf = array_work_base + m * block_bytes;
    zero(buf, block_bytes);
    if (!member_live(m, r)) continue;
    cdb_rw16(sync_cdb, OP_WRITE_16, r, 1, true);
    disk_exec_patient(member_target(m), sync_cdb, 16, buf, block_bytes, true);
    repair_blocks++;
  }
  for (let k: u32 = 0; k < d; k++) {
    if ((torn & (1 << k)) == 0) continue;
    let alba = r * <u64>d + <u64>k;
    if (list_has(alba)) continue;
    torn_records++;
    hal_log(LOG_ARRAY_TORN, <i32>alba, <i32>geo_data_member(r, k));
    list_add(alba);
    let m = geo_data_member(r, k);
    if (!member_live(m, r)) continue;
    // The known pattern (zeros, already in its buffer), then the mark.
    let buf = array_work_base + m * block_bytes;
    cdb_rw16(sync_cdb, OP_WRITE_16, r, 1, true);
    disk_exec_patient(member_target(m), sync_cdb, 16, buf, block_bytes, true);
    repair_blocks++;
    cdb_write_long_uncor(sync_cdb, <u32>r);
    disk_exec_patient(member_target(m), sync_cdb, 10, 0, 0, false);
  }
  if (member_live(p, r)) {
    let par = array_work_base + p * block_bytes;
    zero(par, block_bytes);
    for (let m: u32 = 0; m < n; m++) {
      if (m == p) continue;
      let src = array_work_base + m * block_bytes;
      xor_into(par, src);
    }
    cdb_rw16(sync_cdb, OP_WRITE_16, r, 1, true);
    if (disk_exec_patient(member_target(p), sync_cdb, 16, par, block_bytes, true) != STATUS_GOOD) member_fail(p);
    repair_blocks++;
  }
  repaired_rows++;
  hal_log(LOG_ARRAY_REPAIRED, <i32>r, <i32>torn);
}

/** Which data block of row r member m holds (d for the parity). */
function data_index(r: u64, m: u32): u32 {
  let d = geo_data();
  for (let k: u32 = 0; k < d; k++) if (geo_data_member(r, k) == m) return k;
  return d;
}
