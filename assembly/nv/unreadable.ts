// Blocks the controller declares unreadable where the disk itself cannot mark them.
//
// A record of a restored image that could not be read back is made unreadable on its
// disk with WRITE LONG (WR_UNCOR), so the host reads MEDIUM ERROR there and not older
// data. WRITE LONG is optional in SBC-3: a disk without it gets the block on this
// list instead, kept in its label (base/label.ts) and here in RAM. A read of a listed
// block that the cache does not hold fails with MEDIUM ERROR; a block leaves the list
// once new data for it is durable on the disk, and the label says so before the
// block stops being NV in the cache (cache/destage.ts).
//
// Table entry (16 bytes, layout.ts unreadable_base): @0 LUN u8 | @1 used u8 | @8 LBA u64

import { unreadable_base, unreadable_max, unreadable_rec_bytes } from "../layout";
import { hal_log } from "../base/hal";
import { OK, LOG_UNREADABLE_LISTED, LOG_UNREADABLE_CLEARED } from "../base/errors";
import { label_begin, label_list_add, label_write, label_list_count, label_list_lba } from "../base/label";
import { lun_target, lun_blocks, lun_usable } from "../state";

@inline function rec(k: u32): usize { return unreadable_base + k * unreadable_rec_bytes; }
@inline function used(k: u32): bool { return load<u8>(rec(k), 1) != 0; }

let listed: u32 = 0;
let store_id: u64 = 0;

@inline export function ur_count(): u32 { return listed; }

export function ur_init(id: u64): void {
  store_id = id;
  listed = 0;
  for (let k: u32 = 0; k < unreadable_max; k++) store<u8>(rec(k), 0, 1);
}

/** The label just read (ID_OK) for `lun`: take its list. */
export function ur_load_label(lun: u32): void {
  let n = label_list_count();
  for (let i: u32 = 0; i < n; i++) if (!ur_has(lun, label_list_lba(i))) put(lun, label_list_lba(i));
}

function put(lun: u32, lba: u64): bool {
  for (let k: u32 = 0; k < unreadable_max; k++) {
    if (used(k)) continue;
    store<u8>(rec(k), <u8>lun, 0);
    store<u64>(rec(k), lba, 8);
    store<u8>(rec(k), 1, 1);
    listed++;
    return true;
  }
  return false;
}

export function ur_has(lun: u32, lba: u64): bool {
  if (listed == 0) return false;
  for (let k: u32 = 0; k < unreadable_max; k++) {
    if (used(k) && load<u8>(rec(k)) == lun && load<u64>(rec(k), 8) == lba) return true;
  }
  return false;
}

@inline function in_range(l: u64, lba: u64, n: u32): bool { return l >= lba && l - lba < <u64>n; }

/** Rewrite the LUN's label with its part of the list, less [skip_lba, skip_lba+skip_n). */
function persist(lun: u32, skip_lba: u64, skip_n: u32): bool {
  if (!lun_usable(lun)) return false;
  label_begin(lun_target(lun), store_id);
  for (let k: u32 = 0; k < unreadable_max; k++) {
    if (!used(k) || load<u8>(rec(k)) != lun) continue;
    let l = load<u64>(rec(k), 8);
    if (in_range(l, skip_lba, skip_n)) continue;
    if (!label_list_add(l)) return false; // more than label_list_max for one disk
  }
  return label_write(lun_target(lun), lun_blocks(lun)) == OK;
}

/** List a block (its disk has no WRITE LONG): durable in the label when this returns
 * true; false if the list is full or the label could not be written. */
export function ur_add(lun: u32, lba: u64): bool {
  if (ur_has(lun, lba)) return true;
  if (!put(lun, lba)) return false;
  if (persist(lun, 0, 0)) {
    hal_log(LOG_UNREADABLE_LISTED, <i32>lun, <i32>lba);
    return true;
  }
  remove(lun, lba, 1);
  return false;
}

function count_in(lun: u32, lba: u64, n: u32): u32 {
  let c: u32 = 0;
  for (let k: u32 = 0; k < unreadable_max; k++) {
    if (used(k) && load<u8>(rec(k)) == lun && in_range(load<u64>(rec(k), 8), lba, n)) c++;
  }
  return c;
}

function remove(lun: u32, lba: u64, n: u32): void {
  for (let k: u32 = 0; k < unreadable_max; k++) {
    if (!used(k) || load<u8>(rec(k)) != lun || !in_range(load<u64>(rec(k), 8), lba, n)) continue;
    store<u8>(rec(k), 0, 1);
    listed--;
  }
}

/** New data for [lba, lba+n) is durable on the LUN's disk: take those blocks off the
 * list, label first. false if the label could not be written (they stay listed). */
export function ur_clear_range(lun: u32, lba: u64, n: u32): bool {
  if (listed == 0 || count_in(lun, lba, n) == 0) return true;
  if (!persist(lun, lba, n)) return false;
  remove(lun, lba, n);
  hal_log(LOG_UNREADABLE_CLEARED, <i32>lun, <i32>lba);
  return true;
}
