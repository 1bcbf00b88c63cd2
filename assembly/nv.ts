// Save and restore: the protocol of docs/DESIGN.md.
//
// Power fails  → irq_pfail → nv_power_fail: the NV blocks (acknowledged, not yet on
//                a disk) go to the EEPROM as one image of a new generation.
// Power-up     → nv_boot (scan the EEPROM) → disks probed with their labels →
//                nv_after_probe: if an unretired image exists and every disk it names
//                carries our label in its slot, load it into the cache as NV blocks
//                (restoring); else keep it and wait for the host (pending).
// Main loop    → nv_poll: when the restored blocks are all durable on the disks,
//                mark the records that could not be read as unreadable on the disks,
//                then retire the image (state record = its generation).
// While restoring or pending, the power-fail handler writes nothing: the EEPROM
// already holds what matters, and a second save could overwrite it half-way.

import {
  cache_init, cache_alloc, cache_drop, cache_mark_written, cache_nv_count, entry_data,
  cache_find, NONE,
} from "./cache";
import {
  image_scan, image_candidate_below, image_select, image_meta, image_meta_entry, image_data,
  image_save, state_write, image_probe_measure, scan_store_id, scan_retired_gen, scan_armed_gen,
  scan_have_state, restore_corrected, image_pages_max,
} from "./image";
import { eeprom_t_page_us, eeprom_t_wc_us, eeprom_wait_idle } from "./eeprom";
import {
  budget_set_page_us, learn_due, learn_start, learn_step, learn_state_now, LEARN_RUNNING,
  LEARN_DONE,
} from "./budget";
import { free_base, free_bytes, cache_blocks_max } from "./layout";
import { hal_entropy, hal_log, hal_pfail_level } from "./hal";
import {
  st_lun_count, lun_state, lun_identity, lun_set_identity, lun_blocks, lun_target,
  lun_set_in_pending_image, lun_in_pending_image, LUN_READY, ID_OK, ID_BLANK, luns_max,
} from "./state";
import { label_read, label_write, disk_exec_sync, tag_cdb, tag_sync, cdb_write_long_uncor } from "./disks";
import {
  OK, LOG_SAVE_START, LOG_SAVE_DONE, LOG_RESTORE_FOUND, LOG_RESTORE_LOADED,
  LOG_RESTORE_DONE, LOG_RECORD_LOST, LOG_IMAGE_PENDING, LOG_RETIRED, LOG_BOUND,
  LOG_EEPROM_MEASURED, LOG_IMAGE_DISCARDED, LOG_IDENTITY, LOG_ARMED, LOG_SCAN_DONE,
  LOG_LOAD_START,
} from "./errors";

// ---- state -------------------------------------------------------------------------

@inline export const IMAGE_NONE: u8 = 0;
@inline export const IMAGE_RESTORING: u8 = 1;   // loaded into the cache, going to disk
@inline export const IMAGE_PENDING: u8 = 2;     // kept: a disk it names is not ours
@inline export const IMAGE_UNREADABLE: u8 = 3;  // an image exists but its start is lost

let store_id: u64 = 0;
let retired_gen: u32 = 0;
let next_gen: u32 = 1;
let image_state: u8 = IMAGE_NONE;
let image_gen: u32 = 0;
let image_blocks: u32 = 0;
/** A save this run wrote (the supply came back during or after it): retire it. */
let unretired_gen: u32 = 0;
let lost_records: u32 = 0;
let corrected_words: u32 = 0;
let retire_failed: bool = false;
/** The EEPROM says write-back may hold acknowledged data: the next save is this
 * generation (0: not armed). Set in RAM only once the state record says so. */
let armed_gen: u32 = 0;
/** The power-fail handler disarmed while an arm was being written. */
let disarmed_by_isr: bool = false;

/** Records of the restored image that could not be read: (lun u32, lba u64) each,
 * marked unreadable on the disks before the image is retired. */
@inline const lost_base: usize = free_base;
@inline const lost_entry_bytes: u32 = 16;
@inline const lost_max: u32 = cache_blocks_max;
/** Scratch for one meta entry. */
@inline const entry_buf: usize = free_base + lost_max * lost_entry_bytes;
/** The meta record's entries, read in one pass before the data records, so that the
 * EEPROM is read front to back once: (lun u32, lba u64) in 16 bytes each. */
@inline const entries_base: usize = entry_buf + 16;
if (entries_base + cache_blocks_max * 16 > free_base + free_bytes) ERROR("restore tables fit the free region");

@inline export function nv_store_id(): u64 { return store_id; }
@inline export function nv_image_state(): u8 { return image_state; }
@inline export function nv_image_gen(): u32 { return image_gen; }
@inline export function nv_image_blocks(): u32 { return image_blocks; }
@inline export function nv_lost_records(): u32 { return lost_records; }
@inline export function nv_corrected_words(): u32 { return corrected_words; }
@inline export function nv_restoring(): bool { return image_state == IMAGE_RESTORING; }

/** May the controller acknowledge writes from its cache now? */
export function nv_writeback_allowed(): bool {
  return armed_gen != 0 && image_state == IMAGE_NONE && unretired_gen == 0 && !retire_failed &&
    learn_state_now() == LEARN_DONE && !learn_due();
}

// ---- boot --------------------------------------------------------------------------

/** Scan the EEPROM: the store id (made now on a first boot), the retired generation,
 * the newest unretired image if any. */
export function nv_boot(): void {
  cache_init();
  image_scan();
  corrected_words = 0;
  let armed_found: u32 = 0;
  armed_gen = 0;
  if (!scan_have_state) {
    store_id = (<u64><u32>hal_entropy() << 32) | <u64><u32>hal_entropy();
    if (store_id == 0) store_id = 1;
    retired_gen = 0;
    state_write(store_id, 0, 0, false);
  } else {
    store_id = scan_store_id;
    retired_gen = scan_retired_gen;
    armed_found = scan_armed_gen;
  }
  next_gen = retired_gen + 1;
  if (armed_found >= next_gen) next_gen = armed_found + 1;
  // The newest generation above the retired one whose first page is good. One whose
  // first page is not (a save cut in its first page, or a stray header) is skipped;
  // if it was the armed generation, the check below reports the loss.
  let limit: u32 = 0xffffffff;
  for (let tries: u32 = 0; tries < image_pages_max; tries++) {
    let g = image_candidate_below(limit, retired_gen);
    if (g == 0) break;
    let r = image_select(g);
    if (r < 0) { limit = g; if (g >= next_gen) next_gen = g + 1; continue; }
    image_gen = g;
    if (g >= next_gen) next_gen = g + 1;
    corrected_words = restore_corrected;
    image_state = IMAGE_PENDING; // restored or kept: decided after the probe
    hal_log(LOG_RESTORE_FOUND, <i32>g, r);
    break;
  }
  hal_log(LOG_SCAN_DONE, <i32>image_gen, <i32>image_state);
  // Armed, and no page of the save it promised: the power failed before the save
  // wrote anything. The data is gone; say so instead of serving what the disks have.
  if (armed_found > retired_gen && (image_state == IMAGE_NONE || image_gen < armed_found)) {
    image_state = IMAGE_UNREADABLE;
    image_gen = armed_found;
    hal_log(LOG_RESTORE_FOUND, <i32>armed_found, -1);
  }
}

/** After the disks and their labels are known: restore, or keep the image pending.
 * Then bind blank disks that no pending image names. */
export function nv_after_probe(): void {
  let luns = st_lun_count();
  if (image_state == IMAGE_PENDING) {
    let blocks = image_meta(entry_buf);
    if (blocks < 0) {
      image_state = IMAGE_UNREADABLE;
    } else {
      image_blocks = <u32>blocks;
      // Which LUNs the image names.
      for (let i: u32 = 0; i < image_blocks; i++) {
        if (image_meta_entry(i, entry_buf) != OK) continue;
        let lun = load<u32>(entry_buf);
        if (lun < luns_max) lun_set_in_pending_image(lun, true);
      }
      try_restore();
    }
  }
  if (image_state == IMAGE_UNREADABLE) hal_log(LOG_IMAGE_PENDING, <i32>image_gen, -1);
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) != LUN_READY) continue;
    if (lun_identity(lun) != ID_OK) hal_log(LOG_IDENTITY, <i32>lun, lun_identity(lun));
    if (lun_identity(lun) == ID_BLANK && !lun_in_pending_image(lun) && image_state != IMAGE_UNREADABLE) {
      bind(lun);
    }
  }
}

function bind(lun: u32): void {
  if (label_write(lun_target(lun), lun_blocks(lun), store_id) == OK) {
    lun_set_identity(lun, ID_OK);
    hal_log(LOG_BOUND, <i32>lun, 0);
  }
}

/** Every LUN the pending image names is ours and in its slot: load the image. */
function try_restore(): void {
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns_max; lun++) {
    if (!lun_in_pending_image(lun)) continue;
    if (lun >= luns || lun_state(lun) != LUN_READY || lun_identity(lun) != ID_OK) {
      hal_log(LOG_IMAGE_PENDING, <i32>image_gen, <i32>lun);
      image_state = IMAGE_PENDING;
      return;
    }
  }
  load_image();
}

function load_image(): void {
  hal_log(LOG_LOAD_START, <i32>image_gen, <i32>image_blocks);
  lost_records = 0;
  let loaded: u32 = 0;
  for (let i: u32 = 0; i < image_blocks; i++) {
    // The meta record was checked whole by image_meta: its entries read back.
    if (image_meta_entry(i, entries_base + i * 16) != OK) store<u32>(entries_base + i * 16, 0xffffffff);
  }
  for (let i: u32 = 0; i < image_blocks; i++) {
    let lun = load<u32>(entries_base + i * 16);
    let lba = load<u64>(entries_base + i * 16, 8);
    if (lun >= luns_max) continue;
    let e = cache_find(lun, lba);
    if (e == NONE) e = cache_alloc(lun, lba);
    assert(e != NONE, "an image fits the cache");
    if (image_data(i, lun, lba, entry_data(e)) == OK) {
      cache_mark_written(e, true);
      loaded++;
    } else {
      cache_drop(e);
      if (lost_records < lost_max) {
        let p = lost_base + lost_records * lost_entry_bytes;
        store<u32>(p, lun);
        store<u64>(p, lba, 8);
      }
      lost_records++;
      hal_log(LOG_RECORD_LOST, <i32>lun, <i32>lba);
    }
  }
  for (let lun: u32 = 0; lun < luns_max; lun++) lun_set_in_pending_image(lun, false);
  image_state = IMAGE_RESTORING;
  corrected_words = restore_corrected;
  hal_log(LOG_RESTORE_LOADED, <i32>loaded, <i32>lost_records);
}

// ---- main loop ---------------------------------------------------------------------

/** Finish a restore once its blocks are durable; retire a save the supply outlived;
 * run the learn cycle. Returns whether it did something. */
export function nv_poll(): bool {
  if (image_state == IMAGE_RESTORING && cache_nv_count() == 0) {
    // Records that could not be read: make their blocks unreadable on the disks, so
    // the host gets MEDIUM ERROR instead of the old data (detected, never wrong).
    let n = lost_records < lost_max ? lost_records : lost_max;
    for (let k: u32 = 0; k < n; k++) {
      let p = lost_base + k * lost_entry_bytes;
      let lun = load<u32>(p);
      if (lun >= st_lun_count() || lun_state(lun) != LUN_READY) continue;
      cdb_write_long_uncor(tag_cdb(tag_sync), <u32>load<u64>(p, 8));
      disk_exec_sync(lun_target(lun), 10, 0, 0, false);
    }
    retire(image_gen);
    image_state = IMAGE_NONE;
    hal_log(LOG_RESTORE_DONE, <i32>image_gen, <i32>lost_records);
    return true;
  }
  if (unretired_gen != 0 && hal_pfail_level() != 0) {
    retire(unretired_gen);
    unretired_gen = 0;
    return true;
  }
  if (learn_state_now() == LEARN_RUNNING) {
    learn_step();
    return false;
  }
  if (armed_gen == 0 && image_state == IMAGE_NONE && unretired_gen == 0 && !retire_failed &&
      learn_state_now() == LEARN_DONE && !learn_due()) {
    arm();
    return true;
  }
  if (learn_due() && cache_nv_count() == 0 && image_state == IMAGE_NONE && unretired_gen == 0) {
    // Measure the EEPROM (a write cycle on the probe page), then learn the cap.
    image_probe_measure();
    budget_set_page_us(eeprom_t_page_us());
    hal_log(LOG_EEPROM_MEASURED, eeprom_t_wc_us(), eeprom_t_page_us());
    learn_start();
    return true;
  }
  return false;
}

/** Arm: the state record says the next save is generation next_gen. Only then may
 * writes be acknowledged from the cache. */
/** An arm in progress: if the power fails now, the handler disarms. */
let arming: bool = false;

function arm(): void {
  arming = true;
  let ok = state_write(store_id, retired_gen, next_gen, false) == OK;
  arming = false;
  // The save may have run (and disarmed) while this waited for a write cycle, with
  // the supply coming back: then the arm did not stand.
  if (disarmed_by_isr) { disarmed_by_isr = false; return; }
  if (ok) {
    armed_gen = next_gen;
    hal_log(LOG_ARMED, <i32>armed_gen, 0);
  } else {
    retire_failed = true;
  }
}

/** Retire a generation (its blocks are on the disks, or the host discarded it); the
 * state is disarmed (nothing acknowledged is in the cache at this point). */
function retire(gen: u32): void {
  armed_gen = 0;
  if (state_write(store_id, gen, 0, false) == OK) {
    retired_gen = gen;
    retire_failed = false;
    hal_log(LOG_RETIRED, <i32>gen, 0);
  } else {
    retire_failed = true;
  }
  if (next_gen <= gen) next_gen = gen + 1;
}

// ---- power fail (interrupt) ------------------------------------------------------------

/** Save the NV blocks. Returns the number saved, or a negative error. When armed with
 * nothing to save, disarm instead (one state write), so the next boot does not take
 * the armed state for a save that never happened. */
export function nv_power_fail(): i32 {
  if (image_state != IMAGE_NONE) return 0;
  let n = cache_nv_count();
  if (n == 0 && unretired_gen == 0) {
    if (armed_gen != 0 || arming) {
      eeprom_wait_idle(0);
      state_write(store_id, retired_gen, 0, true);
      armed_gen = 0;
      disarmed_by_isr = arming;
    }
    return 0;
  }
  let gen = armed_gen != 0 ? armed_gen : next_gen;
  if (next_gen <= gen) next_gen = gen + 1;
  armed_gen = 0;
  unretired_gen = gen;
  hal_log(LOG_SAVE_START, <i32>n, <i32>gen);
  let r = image_save(gen, store_id, n);
  hal_log(LOG_SAVE_DONE, r, <i32>gen);
  return r < 0 ? r : <i32>n;
}

// ---- host decisions ---------------------------------------------------------------------

@inline export const ACTION_REPLAY: u8 = 1;
@inline export const ACTION_DISCARD: u8 = 2;
@inline export const ACTION_RECHECK: u8 = 3;

/** REPLAY: take every present disk as ours (write our label), then restore.
 * DISCARD: retire the pending image without writing it (the host accepts the loss).
 * RECHECK: read the labels again (after the right disks are back), then restore if
 * they match. Returns OK or a negative error. */
export function nv_action(action: u8): i32 {
  if (image_state == IMAGE_RESTORING) return OK;
  let luns = st_lun_count();
  if (action == ACTION_DISCARD) {
    if (image_state == IMAGE_PENDING || image_state == IMAGE_UNREADABLE) {
      retire(image_gen);
      hal_log(LOG_IMAGE_DISCARDED, <i32>image_gen, 0);
      image_state = IMAGE_NONE;
      for (let lun: u32 = 0; lun < luns_max; lun++) lun_set_in_pending_image(lun, false);
    }
    return OK;
  }
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) != LUN_READY) continue;
    if (action == ACTION_RECHECK) {
      lun_set_identity(lun, label_read(lun_target(lun), lun_blocks(lun), store_id));
    } else if (lun_identity(lun) != ID_OK) {
      bind(lun);
    }
  }
  if (image_state == IMAGE_PENDING) try_restore();
  if (image_state == IMAGE_NONE) {
    for (let lun: u32 = 0; lun < luns; lun++) {
      if (lun_state(lun) == LUN_READY && lun_identity(lun) == ID_BLANK) bind(lun);
    }
  }
  return OK;
}

@inline export function nv_unretired(): bool { return unretired_gen != 0 || retire_failed; }
