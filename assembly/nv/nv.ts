// Save and restore: the protocol of docs/DESIGN.md.
//
// The state record on the EEPROM (image.ts) says (retired R, armed A). Armed A != 0
// is a promise: the cache may hold acknowledged blocks that no disk has (NV blocks),
// and the EEPROM holds, or the next power-fail save will write, image A of them. A
// boot that finds A armed restores image A and nothing else; if image A is not there
// whole, it says what was lost instead of serving older data.
//
// The RAM side of that promise (this file):
//   armed_gen     the armed generation as the EEPROM has it (0: nothing armed)
//   image_mode    the EEPROM holds a complete image armed_gen of every NV block (a
//                 boot restored it): the save has nothing to write
//   save_from     pages of image armed_gen the save wrote this run for the NV set as
//                 it is (0: none). While it is set the NV set is frozen: no block
//                 becomes or stops being NV and no NV block's data changes, so an
//                 interrupted save can go on where it stopped, and pages of two saves
//                 of one generation never disagree.
//   trans_*       a state write of the main loop is under way: the save reads the
//                 record back to learn which state holds (state writes never start
//                 after a power event, so what it reads is final)
//
// Power fails → irq_pfail → nv_power_fail: save the NV set as image armed_gen (resume
//               an interrupted save of the same set); nothing in image mode.
// Supply back → nv_poll: once the cap covers the NV blocks again, retire the image
//               and arm the next generation in one state write (retired A, armed
//               A + 1); the NV set thaws. With no NV blocks, retire (A, 0).
// Boot        → nv_boot (state record; image A if armed) → probe → nv_after_probe
//               (labels; load image A into the cache as NV blocks; image mode) →
//               nv_poll: lost records marked unreadable on their disks, restored
//               blocks destaged, then retire (A, 0) or, once the cap is learned and
//               covers what is left (blocks of LUNs that cannot take them yet), re-arm.

import {
  cache_init, cache_drop, cache_nv_count, cache_count_nv, cache_nv_version, entry_lun, entry_state,
  entry_is_nv, ENTRY_FREE,
} from "../cache/cache";
import {
  image_save, image_probe_measure, image_pages, save_pages_done, format_step, format_pages, bad_pages_count,
  image_formatted, set_image_formatted, GEN_MAX,
} from "./image";
import { image_select, image_meta, restore_corrected } from "./reader";
import {
  state_write, state_read, rd_store_id, rd_retired, rd_armed, rd_corrected,
} from "./state_record";
import { eeprom_wait_idle, eeprom_identify, eeprom_t_wc_us, eeprom_t_page_bound_us, EPOCH_ANY } from "../base/eeprom";
import {
  learn_due, learn_start, learn_step, learn_state_now, learn_known, learn_may_start, budget_blocks, LEARN_RUNNING,
} from "./budget";
import { cache_blocks_max } from "../layout";
import { hal_entropy, hal_log, hal_now_us, hal_irq_mask_pfail } from "../base/hal";
import {
  st_lun_count, st_power_epoch, st_power_failing, lun_state, lun_identity, lun_set_identity, lun_blocks,
  lun_target, lun_set_in_image, lun_in_image, lun_usable, lun_nv, lun_set_state, LUN_READY, LUN_ABSENT,
  LUN_FAILED, ID_OK, ID_BLANK, ID_NO_DISK, luns_max, lun_set_epoch,
} from "../state";
import { label_read, label_begin, label_write, label_pair_epoch } from "../base/label";
import { own_may_bind } from "../pair/own";
import { pair_on } from "../pair/peer";
import { mirror_on, mirror_after_restore } from "../pair/mirror";
import { array_target } from "../array/array";
import { array_recheck, array_adopt, array_held_identity } from "../array/assemble";
import { ur_init, ur_load_label } from "./unreadable";
import { load_image, mark_lost, lost_unmarked, lost_give_up_unusable, restore_lost_records } from "./restore";
import {
  OK, ERR_IO, LOG_SAVE_START, LOG_SAVE_DONE, LOG_RESTORE_FOUND, LOG_RESTORE_LOADED,
  LOG_RESTORE_DONE, LOG_RECORD_LOST, LOG_IMAGE_PENDING, LOG_RETIRED, LOG_BOUND,
  LOG_EEPROM_MEASURED, LOG_IMAGE_DISCARDED, LOG_IDENTITY, LOG_ARMED, LOG_SCAN_DONE,
  LOG_LOAD_START, LOG_DISARMED, LOG_REARMED, LOG_RECORD_BAD, LOG_MARKED, LOG_EEPROM_THROTTLED,
  LOG_HELD, LOG_SAVE_EMERGENCY_ARM, LOG_DISK_FAILED, LOG_EEPROM_FORMATTED,
} from "../base/errors";

// ---- state -------------------------------------------------------------------------

@inline export const IMAGE_NONE: u8 = 0;
@inline export const IMAGE_RESTORING: u8 = 1;   // loaded into the cache, going to disk
@inline export const IMAGE_KEPT: u8 = 2;        // blocks held for LUNs that cannot take them
@inline export const IMAGE_UNREADABLE: u8 = 3;  // armed, but the image is not there to read

let store_id: u64 = 0;
let retired_gen: u32 = 0;
let armed_gen: u32 = 0;
let next_gen: u32 = 1;
/** Write-back may use armed_gen: the arm was written and verified this run. */
let arm_ok: bool = false;
/** This run armed armed_gen (a state write of its own): the save may write image
 * armed_gen. A generation found armed at boot is an image already on the EEPROM (or
 * one lost), which nothing may overwrite until it is retired. */
let owns_gen: bool = false;
let image_mode: bool = false;
let save_from: u32 = 0;
let save_version: u32 = 0;
/** When the supply came back after a save (ms since boot), for freeze_max_ms. */
let thaw_wait_since_ms: u32 = 0;
let trans_active: bool = false;
let trans_retired: u32 = 0;
let trans_armed: u32 = 0;

let image_state: u8 = IMAGE_NONE;
let image_gen: u32 = 0;
let image_blocks_n: u32 = 0;
let lost_records: u32 = 0;
let corrected_words: u32 = 0;

/** After a save, the NV blocks stay frozen until the cap covers them again (it
 * recharges within seconds); past this, the controller re-arms anyway so that the
 * blocks can go to their disks (a cap that cannot cover them has aged past what was
 * learned: the next learn cycle finds out). */
@inline const freeze_max_ms: u32 = 10_000;

/** Main-loop state writes are rate-limited: a burst of this many, then one per
 * refill interval (a supply that flaps for days wears the two state pages at most
 * ~9,000 times a day). The save's writes are not limited: it writes once per failure. */
@inline const state_writes_burst: u32 = 16;
@inline const state_write_refill_ms: u32 = 10_000;
let tokens: u32 = state_writes_burst;
let tokens_at_ms: u32 = 0;
let throttled_logged: bool = false;

/** The EEPROM's write cycle is measured at the first learn cycle of a boot and then
 * this often (each measurement writes the probe page once). */
@inline const probe_interval_us: i64 = 24 * 3600 * 1_000_000;
let probed_at_us: i64 = -1;

@inline export function nv_store_id(): u64 { return store_id; }
@inline export function nv_image_gen(): u32 { return image_gen; }
@inline export function nv_image_blocks(): u32 { return image_blocks_n; }
@inline export function nv_lost_records(): u32 { return lost_records; }
@inline export function nv_corrected_words(): u32 { return corrected_words; }
@inline export function nv_restoring(): bool { return image_mode; }
@inline export function nv_unreadable(): bool { return image_state == IMAGE_UNREADABLE; }
/** No NV block may change (a save of them is on the EEPROM and may be resumed). */
@inline export function nv_frozen(): bool { return save_from != 0; }
/** Waiting for the host, or not yet safe: write-through. */
@inline export function nv_unretired(): bool { return image_mode || save_from != 0 || trans_active || image_state == IMAGE_UNREADABLE; }

/** NV STATUS byte 0: the image's state. */
export function nv_image_state(): u8 {
  if (image_state == IMAGE_UNREADABLE || image_state == IMAGE_RESTORING) return image_state;
  return held_blocks() > 0 ? IMAGE_KEPT : IMAGE_NONE;
}

/** NV blocks of LUNs that cannot take them now (kept until the host decides). */
export function held_blocks(): u32 {
  let n: u32 = 0;
  for (let lun: u32 = 0; lun < luns_max; lun++) if (!lun_usable(lun)) n += lun_nv(lun);
  return n;
}

/** May the controller acknowledge writes from its cache now? */
export function nv_writeback_allowed(): bool {
  // A pair acknowledges from its cache only while the partner holds a copy of each
  // block (pair/mirror.ts); alone, it writes through.
  if (pair_on() && !mirror_on()) return false;
  return armed_gen != 0 && arm_ok && !nv_unretired() && learn_known();
}

/** The save budget this controller's own writes may use: all of it alone; half of it
 * in a pair (the partner's copies take the rest: pair/mirror_held.ts). */
export function nv_own_budget(): u32 {
  let b = budget_blocks();
  return pair_on() ? b / 2 : b;
}

// ---- boot --------------------------------------------------------------------------

/** Read the state record (the store id, made now on a first boot; retired and armed
 * generations) and, if armed, find image A. */
export function nv_boot(): void {
  cache_init();
  eeprom_identify();
  corrected_words = 0;
  image_state = IMAGE_NONE;
  image_mode = false;
  save_from = 0;
  trans_active = false;
  arm_ok = false;
  owns_gen = false;
  tokens = state_writes_burst;
  tokens_at_ms = 0;
  if (state_read(false, true)) {
    store_id = rd_store_id;
    retired_gen = rd_retired <= GEN_MAX ? rd_retired : GEN_MAX;
    armed_gen = rd_armed > retired_gen && rd_armed <= GEN_MAX ? rd_armed : 0;
    corrected_words = rd_corrected;
  } else {
    // First boot (or both copies lost): a new store. Pages another store id wrote
    // never check good under this one (their CRC starts from the store id).
    store_id = (<u64><u32>hal_entropy() << 32) | <u64><u32>hal_entropy();
    if (store_id == 0) store_id = 1;
    retired_gen = 0;
    armed_gen = 0;
    state_write(store_id, 0, 0, false, EPOCH_ANY);
  }
  next_gen = (armed_gen > retired_gen ? armed_gen : retired_gen) + 1;
  ur_init(store_id);
  if (armed_gen != 0) {
    image_gen = armed_gen;
    let pages = image_select(armed_gen, store_id);
    let blocks = pages < 0 ? -1 : image_meta(armed_gen, store_id);
    hal_log(LOG_RESTORE_FOUND, <i32>armed_gen, blocks);
    if (blocks < 0) {
      // Armed, and image A cannot be read: the save was cut before it wrote enough.
      // The data is gone; say so instead of serving what the disks have.
      image_state = IMAGE_UNREADABLE;
    } else {
      image_blocks_n = <u32>blocks;
      image_state = IMAGE_RESTORING;
      image_mode = true;
    }
  }
  hal_log(LOG_SCAN_DONE, <i32>image_gen, <i32>image_state);
}

/** After the disks are known: read their labels, load the image, bind blank disks. */
export function nv_after_probe(): void {
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) == LUN_READY) read_label(lun);
  }
  if (image_state == IMAGE_RESTORING) {
    hal_log(LOG_LOAD_START, <i32>image_gen, <i32>image_blocks_n);
    if (load_image(image_blocks_n) != OK) {
      image_state = IMAGE_UNREADABLE; // a record's place is unknown: its LUN too
      image_mode = false;
    }
    lost_records = restore_lost_records();
    corrected_words += restore_corrected;
    mirror_after_restore();
  }
  if (image_state == IMAGE_UNREADABLE) hal_log(LOG_IMAGE_PENDING, <i32>image_gen, -1);
  nv_bind_blank();
}

/** Bind the blank disks this controller may bind now (alone: all; in a pair: its own
 * portion, pair/own.ts). Returns how many it bound. */
export function nv_bind_blank(): u32 {
  let luns = st_lun_count();
  let bound: u32 = 0;
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) == LUN_READY && lun_identity(lun) == ID_BLANK && lun_nv(lun) == 0 &&
        !lun_in_image(lun) && image_state != IMAGE_UNREADABLE && own_may_bind(lun)) {
      bind(lun);
      bound++;
    }
  }
  return bound;
}

/** Read the LUN's label: its identity (a disk that stopped answering fails the
 * LUN) and its unreadable list. */
function read_label(lun: u32): void {
  if (lun_target(lun) == array_target) {
    array_recheck(store_id);
    let held = array_held_identity();
    if (held != ID_OK) {
      lun_set_identity(lun, held);
      hal_log(LOG_IDENTITY, <i32>lun, held);
      return;
    }
  }
  let id = label_read(lun_target(lun), lun_blocks(lun), store_id);
  if (id == ID_NO_DISK) {
    lun_set_state(lun, LUN_FAILED);
    hal_log(LOG_DISK_FAILED, <i32>lun, 0);
    return;
  }
  lun_set_identity(lun, id);
  lun_set_epoch(lun, label_pair_epoch());
  if (id == ID_OK) ur_load_label(lun);
  else hal_log(LOG_IDENTITY, <i32>lun, id);
}

function bind(lun: u32): void {
  if (lun_target(lun) == array_target) {
    array_adopt(store_id);
    if (array_held_identity() != ID_OK) return;
  }
  label_begin(lun_target(lun), store_id);
  if (label_write(lun_target(lun), lun_blocks(lun)) == OK) {
    lun_set_identity(lun, ID_OK);
    hal_log(LOG_BOUND, <i32>lun, 0);
  }
}


// ---- main loop ---------------------------------------------------------------------

/** Move the protection on when it can; mark lost records; run the learn cycle.
 * Returns whether it did something. Nothing happens while the supply is down. */
export function nv_poll(): bool {
  if (st_power_failing()) return false;
  if (learn_state_now() == LEARN_RUNNING) {
    if (learn_step()) return true; // ended: arm at once
    // The learn only waits for the cap: the first boot's format goes on meanwhile.
    return !image_formatted() && !image_mode && image_state != IMAGE_UNREADABLE && save_from == 0 && format_poll();
  }
  if (image_state == IMAGE_UNREADABLE) return false; // the host decides (NV ACTION)
  if (image_mode) return restore_poll();
  if (save_from != 0) return thaw_poll();
  if (armed_gen == 0) {
    if (can_arm() && commit(retired_gen, next_gen)) { hal_log(LOG_ARMED, <i32>armed_gen, 0); return true; }
  } else if (cache_nv_count() == 0 && budget_blocks() == 0 && learn_known()) {
    // The cap cannot cover even a save of nothing now: disarm, so that a power loss
    // that finds nothing to save does not need a write the cap may not finish.
    if (commit(retired_gen, 0)) { hal_log(LOG_DISARMED, 0, 0); return true; }
  }
  if (learn_poll()) return true;
  return !image_formatted() && format_poll();
}

/** Test one more page for the first boot's format (image.ts "format"), or, when all
 * are, write the bad pages and the flag to the state record. Only when no image from
 * before this run waits (a restore, a frozen save): the format writes pages no save
 * of this run's budget can reach. */
function format_poll(): bool {
  if (armed_gen != 0 && !owns_gen) return false;
  let r = format_step(<i32>st_power_epoch());
  if (r != 1) return true;
  set_image_formatted(true);
  if (commit(retired_gen, armed_gen)) {
    hal_log(LOG_EEPROM_FORMATTED, <i32>format_pages(), <i32>bad_pages_count());
    return true;
  }
  set_image_formatted(false);
  return false;
}

function can_arm(): bool {
  return next_gen <= GEN_MAX && learn_known() && budget_blocks() > 0;
}

/** Start a learn cycle when one is due and nothing depends on the cap: no NV blocks,
 * or an image on the EEPROM already covers them. */
function learn_poll(): bool {
  let nv = cache_nv_count();
  // The learn load takes the cap down by learn_drop_mv (about an eighth of its
  // hold-up). The first learn of a boot has no hold-up figure yet: only blocks that
  // wait for the host may stay NV through it. A relearn keeps write-back on, once the
  // NV blocks fit the budget at the voltage the learn can end at (budget.ts).
  if (!learn_due()) return false;
  if (learn_known() ? !learn_may_start(nv) : (nv != 0 && !image_mode && nv != held_blocks())) return false;
  let now = hal_now_us();
  if (probed_at_us < 0 || now - probed_at_us >= probe_interval_us) {
    image_probe_measure();
    probed_at_us = now;
    hal_log(LOG_EEPROM_MEASURED, eeprom_t_wc_us(), eeprom_t_page_bound_us());
  }
  learn_start();
  return true;
}

/** Boot restore: mark what was lost, let destage write the rest, then end image mode:
 * retire A when nothing is left, or re-arm when the cap covers what is left. */
function restore_poll(): bool {
  let worked = mark_lost();
  let unmarked = lost_unmarked();
  let nv = cache_nv_count();
  if (unmarked == 0 && nv == 0) {
    if (commit(image_gen, 0)) { end_image(); hal_log(LOG_RESTORE_DONE, <i32>image_gen, <i32>lost_records); return true; }
    return worked;
  }
  if (unmarked == 0 && learn_known() && budget_blocks() >= nv &&
      next_gen <= GEN_MAX) {
    if (commit(image_gen, next_gen)) {
      end_image();
      hal_log(LOG_REARMED, <i32>armed_gen, <i32>nv);
      hal_log(LOG_RESTORE_DONE, <i32>image_gen, <i32>lost_records);
      return true;
    }
  }
  if (learn_poll()) return true;
  return worked;
}

function end_image(): void {
  image_mode = false;
  image_state = IMAGE_NONE;
  for (let lun: u32 = 0; lun < luns_max; lun++) lun_set_in_image(lun, false);
  let held = held_blocks();
  if (held > 0) hal_log(LOG_HELD, <i32>held, 0);
}

/** After a save this run: thaw once the cap covers the NV blocks again. */
function thaw_poll(): bool {
  let now_ms = <u32>(hal_now_us() / 1000);
  if (thaw_wait_since_ms == 0) thaw_wait_since_ms = now_ms | 1;
  let nv = cache_nv_count();
  if (nv == 0) {
    if (commit(armed_gen, 0)) { hal_log(LOG_RETIRED, <i32>retired_gen, 0); return true; }
    return false;
  }
  let covered = learn_known() && budget_blocks() >= nv;
  let waited_too_long = <i32>(now_ms - thaw_wait_since_ms) >= <i32>freeze_max_ms;
  if ((covered || waited_too_long) && next_gen <= GEN_MAX) {
    if (commit(armed_gen, next_gen)) { hal_log(LOG_REARMED, <i32>armed_gen, <i32>nv); return true; }
  }
  return false;
}

/** Write the state record (retired r, armed a) from the main loop and, if no power
 * event came meanwhile, make it the RAM state. If one came, the save read the record
 * back and its view stands (this write stopped before its next page). A write that
 * failed leaves trans_active set: the save then reads the record to know. */
function commit(r: u32, a: u32): bool {
  if (!take_token()) return false;
  let epoch = <i32>st_power_epoch();
  trans_retired = r;
  trans_armed = a;
  trans_active = true;
  let res = state_write(store_id, r, a, false, epoch);
  let was = hal_irq_mask_pfail(1);
  let applied = false;
  if (<i32>st_power_epoch() == epoch && res == OK) {
    apply(r, a);
    trans_active = false;
    applied = true;
  }
  hal_irq_mask_pfail(was);
  return applied;
}

/** The state record says (r, a) now (the main loop's commit, or the save that found
 * a commit under way and read its outcome). Moving off a restored image ends it. */
function apply(r: u32, a: u32): void {
  if (image_mode && a != image_gen) end_image();
  retired_gen = r;
  if (a != armed_gen || a == 0) {
    armed_gen = a;
    save_from = 0;
    thaw_wait_since_ms = 0;
  }
  arm_ok = a != 0;
  owns_gen = a != 0;
  let top = r > a ? r : a;
  if (next_gen <= top) next_gen = top + 1;
}

function take_token(): bool {
  let now_ms = <u32>(hal_now_us() / 1000);
  let refills = (now_ms - tokens_at_ms) / state_write_refill_ms;
  if (refills > 0) {
    tokens = tokens + refills < state_writes_burst ? tokens + refills : state_writes_burst;
    tokens_at_ms += refills * state_write_refill_ms;
  }
  if (tokens == 0) {
    if (!throttled_logged) hal_log(LOG_EEPROM_THROTTLED, 0, 0);
    throttled_logged = true;
    return false;
  }
  throttled_logged = false;
  tokens--;
  return true;
}

// ---- power fail (interrupt) ------------------------------------------------------------

/** Make the NV blocks safe on the EEPROM. Returns OK when they are (saved now, or an
 * image already holds them), SAVE_ABORTED if the supply came back mid-save (the next
 * call resumes it), or ERR_IO if the EEPROM would not take it. */
export function nv_power_fail(): i32 {
  // A write cycle the main loop started: let it end, so its page is whole.
  eeprom_wait_idle(0);
  if (trans_active) resolve_transition();
  // An image from before this boot (being restored, or lost) is the EEPROM's content
  // until it is retired: nothing may overwrite it.
  if (image_mode || image_state == IMAGE_UNREADABLE || (armed_gen != 0 && !owns_gen)) return OK;
  let n = cache_count_nv();
  if (armed_gen == 0) {
    if (n == 0) return OK;
    // NV blocks with nothing armed (never, by construction): arm now.
    if (emergency_arm() != OK) return ERR_IO;
  } else if (save_from != 0 && cache_nv_version() != save_version) {
    // The NV set changed since the interrupted save (never, while frozen): a new
    // generation, so that pages of the two saves can never mix.
    if (emergency_arm() != OK) return ERR_IO;
  }
  if (save_from != 0 && save_from >= image_pages(n)) return OK; // complete already
  hal_log(LOG_SAVE_START, <i32>n, <i32>armed_gen);
  let r = image_save(armed_gen, store_id, n, save_from);
  save_from = save_pages_done();
  save_version = cache_nv_version();
  thaw_wait_since_ms = 0;
  arm_ok = false;
  hal_log(LOG_SAVE_DONE, r, <i32>armed_gen);
  return r;
}

/** A main-loop state write was under way: read the record back; if it says what the
 * write was writing, that is the state now. */
function resolve_transition(): void {
  trans_active = false;
  if (!state_read(true, false)) return;
  if (rd_retired == trans_retired && rd_armed == trans_armed) apply(trans_retired, trans_armed);
}

/** Arm the next generation from the handler (two page writes of hold-up). */
function emergency_arm(): i32 {
  if (next_gen > GEN_MAX) return ERR_IO;
  let r = armed_gen != 0 ? armed_gen : retired_gen;
  let a = next_gen;
  hal_log(LOG_SAVE_EMERGENCY_ARM, <i32>a, 0);
  if (state_write(store_id, r, a, true, EPOCH_ANY) != OK) return ERR_IO;
  apply(r, a);
  return OK;
}

// ---- host decisions ---------------------------------------------------------------------

@inline export const ACTION_REPLAY: u8 = 1;
@inline export const ACTION_DISCARD: u8 = 2;
@inline export const ACTION_RECHECK: u8 = 3;

/** REPLAY: take every present disk as ours (write our label); its held blocks then go
 * to it. DISCARD: give up what cannot be written: an unreadable image is retired,
 * held blocks (of LUNs that cannot take them) are dropped with their lost records.
 * RECHECK: read the labels again (after the right disks are back). Returns OK. */
export function nv_action(action: u8): i32 {
  let luns = st_lun_count();
  if (action == ACTION_DISCARD) {
    if (image_state == IMAGE_UNREADABLE) {
      if (commit(image_gen, 0)) {
        image_state = IMAGE_NONE;
        hal_log(LOG_IMAGE_DISCARDED, <i32>image_gen, 0);
      }
      return OK;
    }
    for (let i: u32 = 0; i < cache_blocks_max; i++) {
      if (entry_state(i) == ENTRY_FREE || !entry_is_nv(i)) continue;
      if (!lun_usable(entry_lun(i))) cache_drop(i);
    }
    lost_give_up_unusable();
    hal_log(LOG_IMAGE_DISCARDED, <i32>image_gen, 1);
    return OK;
  }
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) != LUN_READY) continue;
    if (action == ACTION_RECHECK) {
      read_label(lun);
    } else if (lun_identity(lun) != ID_OK) {
      bind(lun);
    }
  }
  return OK;
}
