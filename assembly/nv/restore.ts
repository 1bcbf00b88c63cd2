// The restore's work on an image found at boot: load its records into the cache as NV
// blocks, and mark the records that could not be read unreadable on their disks
// (docs/DESIGN.md "Restore"). nv.ts decides when; this file does it.
//
// Tables (layout.ts): entries (lun u32 @0, a mirror's epoch u16 @4 and flag u16 @6,
// lba u64 @8) and lost records (lun u32 @0, marked u8 @4, lba u64 @8).
//
// A pair's MIRROR records (the partner's blocks this controller held for it) go back
// into the cache as MIRROR entries of an earlier session (pair/mirror.ts): not this
// controller's to write, so they neither hold their LUN nor get marked when lost.

import {
  cache_alloc, cache_drop, cache_mark_restored, cache_mark_restored_mirror, cache_find, entry_data, NONE,
} from "../cache/cache";
import { image_entry, image_data } from "./reader";
import { entry_word, mirror_word } from "./image";
import { cache_blocks_max, entries_base, entry_rec_bytes, lost_base, lost_rec_bytes, lost_max } from "../layout";
import { hal_log } from "../base/hal";
import {
  lun_state, lun_blocks, lun_target, lun_set_in_image, lun_usable, lun_set_mirror_epoch, LUN_ABSENT, luns_max,
} from "../state";
import { disk_exec_patient, cdb_write_long_uncor, sync_cdb, sync_sense } from "../base/initiator";
import { STATUS_GOOD, STATUS_CHECK_CONDITION, KEY_ILLEGAL_REQUEST, sense_key_of } from "../base/scsi";
import { ur_add } from "./unreadable";
import { OK, ERR_CORRUPT, LOG_RESTORE_LOADED, LOG_RECORD_LOST, LOG_RECORD_BAD, LOG_MARKED } from "../base/errors";

@inline function entry_rec(i: u32): usize { return entries_base + i * entry_rec_bytes; }
@inline function lost_rec(k: u32): usize { return lost_base + k * lost_rec_bytes; }

/** Records of the last image loaded that were lost (unreadable or making no sense). */
let lost_records: u32 = 0;
@inline export function restore_lost_records(): u32 { return lost_records; }

/** Image A into the cache as NV blocks. Where a record belongs comes from the meta
 * record (either copy) or the record itself; one whose place nobody can say makes
 * the whole image unreadable (which LUN it was on is unknown). A record whose data
 * does not check is lost: it is marked unreadable on its disk before the image goes. */
export function load_image(blocks: u32): i32 {
  let n = blocks <= cache_blocks_max ? blocks : cache_blocks_max;
  lost_records = 0;
  lost_count = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (image_entry(i, entry_rec(i)) != OK) {
      hal_log(LOG_RECORD_BAD, <i32>i, -1);
      return ERR_CORRUPT;
    }
  }
  let loaded: u32 = 0;
  let lost: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let lun = load<u32>(entry_rec(i));
    let lba = load<u64>(entry_rec(i), 8);
    // A record that cannot belong to any block the host can address (a LUN past the
    // table, an LBA past its disk or on its label): counted, logged, not written.
    if (lun >= luns_max || (lun_state(lun) != LUN_ABSENT && lba >= lun_blocks(lun))) {
      lost_records++;
      hal_log(LOG_RECORD_BAD, <i32>lun, <i32>lba);
      continue;
    }
    let mirror = load<u16>(entry_rec(i), 6) != 0;
    let epoch = <u32>load<u16>(entry_rec(i), 4);
    if (!mirror) lun_set_in_image(lun, true);
    let e = cache_find(lun, lba);
    if (e == NONE) e = cache_alloc(lun, lba);
    if (e == NONE) { lost_records++; continue; } // cannot happen: the image fits the cache
    let word = mirror ? mirror_word(lun, lba, epoch) : entry_word(lun, lba);
    if (image_data(i, word, entry_data(e)) == OK) {
      if (mirror) {
        cache_mark_restored_mirror(e);
        lun_set_mirror_epoch(lun, epoch);
      } else cache_mark_restored(e);
      loaded++;
    } else if (mirror) {
      cache_drop(e);
      lost_records++;
      hal_log(LOG_RECORD_LOST, <i32>lun, <i32>lba);
    } else {
      cache_drop(e);
      if (lost < lost_max) {
        let p = lost_rec(lost++);
        store<u32>(p, lun);
        store<u8>(p, 0, 4);
        store<u64>(p, lba, 8);
      }
      lost_records++;
      hal_log(LOG_RECORD_LOST, <i32>lun, <i32>lba);
    }
  }
  lost_count = lost;
  hal_log(LOG_RESTORE_LOADED, <i32>loaded, <i32>lost_records);
  return OK;
}
let lost_count: u32 = 0;

/** Count and mark the restored image's lost records on their disks: WRITE LONG with
 * WR_UNCOR, or, for a disk without it, the label's list. Bounded by lost_max. */
export function mark_lost(): bool {
  let worked = false;
  for (let k: u32 = 0; k < lost_count; k++) {
    let p = lost_rec(k);
    if (load<u8>(p, 4) != 0) continue;
    let lun = load<u32>(p);
    if (!lun_usable(lun)) continue;
    let lba = load<u64>(p, 8);
    let marked = false;
    if (lba <= 0xffffffff) {
      cdb_write_long_uncor(sync_cdb, <u32>lba);
      let st = disk_exec_patient(lun_target(lun), sync_cdb, 10, 0, 0, false);
      if (st == STATUS_GOOD) marked = true;
      else if (st == STATUS_CHECK_CONDITION && sense_key_of(sync_sense()) == KEY_ILLEGAL_REQUEST) marked = ur_add(lun, lba);
    } else {
      marked = ur_add(lun, lba);
    }
    if (marked) {
      store<u8>(p, 1, 4);
      hal_log(LOG_MARKED, <i32>lun, <i32>lba);
      worked = true;
    }
  }
  return worked;
}

export function lost_unmarked(): u32 {
  let n: u32 = 0;
  for (let k: u32 = 0; k < lost_count; k++) if (load<u8>(lost_rec(k), 4) == 0) n++;
  return n;
}


/** The host gave up (DISCARD) what LUNs that cannot take their blocks held: their
 * lost records need no marking either. */
export function lost_give_up_unusable(): void {
  for (let k: u32 = 0; k < lost_count; k++) {
    if (!lun_usable(load<u32>(lost_rec(k)))) store<u8>(lost_rec(k), 1, 4);
  }
}
