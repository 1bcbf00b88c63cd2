// Controller state in the state region of the memory map (layout.ts). Fields are
// bytes or words at fixed offsets; each byte flag has one writer per transition
// (an interrupt handler sets it, the main loop clears it) so no flag needs a lock.

import { state_base, state_bytes, mailbox_slots } from "./layout";

// ---- offsets -----------------------------------------------------------------------
@inline const off_ready: u32 = 0;          // u8: boot finished, LUNs presented
@inline const off_power_failing: u32 = 1;  // u8: PFAIL# fell (set by irq_pfail)
@inline const off_timer_fired: u32 = 2;    // u8: irq_timer ran
@inline const off_lun_count: u32 = 3;      // u8: LUNs presented
@inline const off_power_epoch: u32 = 4;    // u8: counts PFAIL# edges (set by irq_pfail)
@inline const off_slot_rung: u32 = 8;      // u8[mailbox_slots]: doorbell rang
@inline const off_slot_busy: u32 = 16;     // u8[mailbox_slots]: command in progress
@inline const off_slot_tag: u32 = 24;      // u8[mailbox_slots]: its device command's tag
@inline const off_slot_piece: u32 = 32;    // u8[mailbox_slots]: piecewise read: next block
@inline const off_slot_mode: u32 = 40;     // u8[mailbox_slots]: what its device command is for
@inline const off_slot_evict: u32 = 48;    // u32[mailbox_slots]: cache evictions at its READ
@inline const off_counters: u32 = 88;      // u32[counter_count]
@inline export const counter_count: u32 = 8;
@inline const off_slot_wait: u32 = 120;    // u8[mailbox_slots]: what a slot waits for
@inline const off_luns: u32 = 128;         // lun entries
@inline const off_slot_seq: u32 = 512;     // u32[mailbox_slots]: arrival number of its command
@inline const off_seq_next: u32 = 528;     // u32: the next arrival number

/** LUNs the controller presents: one per disk found at boot. */
@inline export const luns_max: u32 = 8;
@inline const lun_entry_bytes: u32 = 48;

// Compile-time checks of the region sizes this file relies on.
if (off_slot_rung + mailbox_slots > off_slot_busy) ERROR("slot flags overlap");
if (off_slot_busy + mailbox_slots > off_slot_tag) ERROR("slot busy overlaps slot tags");
if (off_slot_tag + mailbox_slots > off_slot_piece) ERROR("slot tags overlap pieces");
if (off_slot_piece + mailbox_slots > off_slot_mode) ERROR("slot pieces overlap modes");
if (off_slot_mode + mailbox_slots > off_slot_evict) ERROR("slot modes overlap evictions");
if (off_slot_evict + mailbox_slots * 4 > off_counters) ERROR("slot evictions overlap counters");
if (off_counters + counter_count * 4 > off_slot_wait) ERROR("counters overlap slot waits");
if (off_slot_wait + mailbox_slots > off_luns) ERROR("slot waits overlap LUNs");
if (off_slot_seq + mailbox_slots * 4 > off_seq_next) ERROR("slot arrival numbers overlap the next one");
if (off_seq_next + 4 > state_bytes) ERROR("state: arrival numbers fit");
if (off_luns + luns_max * lun_entry_bytes > state_bytes) ERROR("state region too small");
if (off_luns + luns_max * lun_entry_bytes > off_slot_seq) ERROR("LUNs overlap slot arrival numbers");

// ---- flags ---------------------------------------------------------------------------

@inline export function st_ready(): bool { return load<u8>(state_base + off_ready) != 0; }
@inline export function st_set_ready(v: bool): void { store<u8>(state_base + off_ready, v ? 1 : 0); }

@inline export function st_power_failing(): bool {
  return load<u8>(state_base + off_power_failing) != 0;
}
@inline export function st_set_power_failing(v: bool): void {
  store<u8>(state_base + off_power_failing, v ? 1 : 0);
}

@inline export function st_timer_fired(): bool { return load<u8>(state_base + off_timer_fired) != 0; }
@inline export function st_set_timer_fired(v: bool): void {
  store<u8>(state_base + off_timer_fired, v ? 1 : 0);
}

/** Bumped at every PFAIL# edge: a device command that straddles one may have been
 * cut by the disks losing power, and its failure is not the disk's fault; a state
 * write that sees it change stops (nv/nv.ts). */
@inline export function st_power_epoch(): u8 { return load<u8>(state_base + off_power_epoch); }
@inline export function st_bump_power_epoch(): void {
  store<u8>(state_base + off_power_epoch, load<u8>(state_base + off_power_epoch) + 1);
}

@inline export function st_lun_count(): u32 { return load<u8>(state_base + off_lun_count); }
@inline export function st_set_lun_count(n: u32): void { store<u8>(state_base + off_lun_count, <u8>n); }

// ---- mailbox slots -----------------------------------------------------------------

@inline export function slot_rung(slot: u32): bool { return load<u8>(state_base + off_slot_rung + slot) != 0; }
@inline export function set_slot_rung(slot: u32, v: bool): void {
  store<u8>(state_base + off_slot_rung + slot, v ? 1 : 0);
}
@inline export function slot_busy(slot: u32): bool { return load<u8>(state_base + off_slot_busy + slot) != 0; }
@inline export function set_slot_busy(slot: u32, v: bool): void {
  store<u8>(state_base + off_slot_busy + slot, v ? 1 : 0);
}
/** The tag of the slot's device command (base/tags.ts; 0xFF none). */
@inline export function slot_tag(slot: u32): u32 { return load<u8>(state_base + off_slot_tag + slot); }
@inline export function set_slot_tag(slot: u32, tag: u32): void { store<u8>(state_base + off_slot_tag + slot, <u8>tag); }
/** A read done in pieces around blocks the cache supersedes: the next block to look at. */
@inline export function slot_piece(slot: u32): u32 { return load<u8>(state_base + off_slot_piece + slot); }
@inline export function set_slot_piece(slot: u32, k: u32): void { store<u8>(state_base + off_slot_piece + slot, <u8>k); }
@inline export function slot_mode(slot: u32): u8 { return load<u8>(state_base + off_slot_mode + slot); }
/** The cache's eviction count when the slot's READ went out (cache.ts). */
@inline export function slot_evictions(slot: u32): u32 { return load<u32>(state_base + off_slot_evict + (slot << 2)); }
@inline export function set_slot_evictions(slot: u32, n: u32): void { store<u32>(state_base + off_slot_evict + (slot << 2), n); }
@inline export function set_slot_mode(slot: u32, m: u8): void { store<u8>(state_base + off_slot_mode + slot, m); }

/** What a busy slot waits for before its command can go on or finish. */
@inline export const WAIT_NONE: u8 = 0;
@inline export const WAIT_SPACE: u8 = 1;  // cache space, or a block busy elsewhere: run again
@inline export const WAIT_CLEAN: u8 = 2;  // write-through: its blocks durable, then GOOD
@inline export const WAIT_DISK: u8 = 3;   // a command on the slot's tag
@inline export const WAIT_RETRY: u8 = 4;  // run again at the slot's retry time
@inline export const WAIT_MIRROR: u8 = 5; // a pair: its blocks held by both stores, then GOOD
/** Commands in the order they came: a slot's arrival number (wraps; compare by
 * difference). */
@inline export function slot_seq(slot: u32): u32 { return load<u32>(state_base + off_slot_seq + (slot << 2)); }
@inline export function stamp_slot_arrival(slot: u32): void {
  let n = load<u32>(state_base + off_seq_next);
  store<u32>(state_base + off_slot_seq + (slot << 2), n);
  store<u32>(state_base + off_seq_next, n + 1);
}
@inline export function slot_wait(slot: u32): u8 { return load<u8>(state_base + off_slot_wait + slot); }
@inline export function set_slot_wait(slot: u32, w: u8): void { store<u8>(state_base + off_slot_wait + slot, w); }

// ---- counters (read by the host through the debug exports) --------------------------
@inline export const CNT_HOST_COMMANDS: u32 = 0;
@inline export const CNT_CHECK_CONDITIONS: u32 = 1;
@inline export const CNT_DISK_COMMANDS: u32 = 2;
@inline export const CNT_DISK_ERRORS: u32 = 3;
@inline export const CNT_BUSY_REPLIES: u32 = 4;
@inline export const CNT_ABORTS: u32 = 5;
@inline export const CNT_HOST_PROTOCOL: u32 = 6;
@inline export const CNT_EEPROM_WRITES: u32 = 7;

@inline export function counter(i: u32): u32 { return load<u32>(state_base + off_counters + (i << 2)); }
@inline export function counter_add(i: u32, n: u32): void {
  let p = state_base + off_counters + (i << 2);
  store<u32>(p, load<u32>(p) + n);
}

// ---- LUN table -------------------------------------------------------------------------
// @0 target u8 | @1 state u8 | @2 unit attention u8 | @3 identity u8 | @4 in image u8
// @5 timeouts u8 | @6 destaging u8 | @7 write errors u8 | @8 blocks u64 | @16 cursor u64
// @24 retry at ms u32 | @28 NV blocks u32 | @32 ALUA state u8 (a pair) | @33 ALUA unit
// attention u8 | @36 the label's pair epoch u32 | @40 the epoch of the partner's mirror
// blocks held here for it (a pair, pair/mirror.ts; its low 16 bits count)

@inline export const LUN_ABSENT: u8 = 0;
@inline export const LUN_READY: u8 = 1;
@inline export const LUN_FAILED: u8 = 2;

@inline export function lun_at(lun: u32): usize { return state_base + off_luns + lun * lun_entry_bytes; }
@inline export function lun_target(lun: u32): u32 { return load<u8>(lun_at(lun), 0); }
@inline export function lun_state(lun: u32): u8 { return load<u8>(lun_at(lun), 1); }
@inline export function lun_ua_pending(lun: u32): bool { return load<u8>(lun_at(lun), 2) != 0; }
/** Blocks the LUN presents (its disk's, less the label block). */
@inline export function lun_blocks(lun: u32): u64 { return load<u64>(lun_at(lun), 8); }

/** A LUN at boot (before any block is loaded into the cache). */
@inline export function lun_set(lun: u32, target: u32, state: u8, blocks: u64): void {
  let p = lun_at(lun);
  store<u8>(p, <u8>target, 0);
  store<u8>(p, state, 1);
  store<u8>(p, 1, 2); // unit attention: power on occurred
  store<u8>(p, ID_NO_DISK, 3);
  store<u8>(p, 0, 4);
  store<u8>(p, 0, 5);
  store<u8>(p, 0, 6);
  store<u8>(p, 0, 7);
  store<u64>(p, blocks, 8);
  store<u64>(p, 0, 16);
  store<u32>(p, 0, 24);
  store<u32>(p, 0, 28);
  store<u32>(p, 0, 32);
  store<u32>(p, 0, 36);
}
@inline export function lun_set_state(lun: u32, state: u8): void { store<u8>(lun_at(lun), state, 1); }
@inline export function lun_clear_ua(lun: u32): void { store<u8>(lun_at(lun), 0, 2); }

// Identity of the disk behind a LUN: its label against this controller's store id.
@inline export const ID_OK: u8 = 0;
@inline export const ID_BLANK: u8 = 1;       // never bound: no label
@inline export const ID_FOREIGN: u8 = 2;     // another store's label, or not ours
@inline export const ID_WRONG_SLOT: u8 = 3;  // ours, but bound to another bus ID
@inline export const ID_UNREADABLE: u8 = 4;  // the label block cannot be read
@inline export const ID_NO_DISK: u8 = 5;
@inline export const ID_PARTNER: u8 = 6;     // a pair's disk, owned by the partner controller
@inline export function lun_identity(lun: u32): u8 { return load<u8>(lun_at(lun), 3); }
@inline export function lun_set_identity(lun: u32, id: u8): void { store<u8>(lun_at(lun), id, 3); }

/** The restored image has records for this LUN (it is not ready until they are safe). */
@inline export function lun_in_image(lun: u32): bool { return load<u8>(lun_at(lun), 4) != 0; }
@inline export function lun_set_in_image(lun: u32, v: bool): void { store<u8>(lun_at(lun), v ? 1 : 0, 4); }

/** Commands to the LUN's disk aborted for taking too long, in a row. */
@inline export function lun_timeouts(lun: u32): u32 { return load<u8>(lun_at(lun), 5); }
@inline export function lun_set_timeouts(lun: u32, n: u32): void { store<u8>(lun_at(lun), <u8>(n < 255 ? n : 255), 5); }
/** Commands aborted for taking too long, in a row, before a disk counts as failed. */
@inline export const lun_timeouts_max: u32 = 3;
/** One more command of the LUN's disk was aborted for taking too long: true if the
 * disk has now failed (it is marked so). */
export function lun_note_timeout(lun: u32): bool {
  lun_set_timeouts(lun, lun_timeouts(lun) + 1);
  if (lun_timeouts(lun) < lun_timeouts_max) return false;
  lun_set_state(lun, LUN_FAILED);
  return true;
}

/** Destage elevator position (next LBA to look from) and whether a destage is out. */
@inline export function lun_cursor(lun: u32): u64 { return load<u64>(lun_at(lun), 16); }
@inline export function lun_set_cursor(lun: u32, lba: u64): void { store<u64>(lun_at(lun), lba, 16); }
@inline export function lun_destaging(lun: u32): bool { return load<u8>(lun_at(lun), 6) != 0; }
@inline export function lun_set_destaging(lun: u32, v: bool): void { store<u8>(lun_at(lun), v ? 1 : 0, 6); }
/** Destages the disk refused (a CHECK CONDITION that is not transient), in a row. */
@inline export function lun_write_errors(lun: u32): u32 { return load<u8>(lun_at(lun), 7); }
@inline export function lun_set_write_errors(lun: u32, n: u32): void { store<u8>(lun_at(lun), <u8>(n < 255 ? n : 255), 7); }
/** Earliest time of the LUN's next destage after a failed one, ms since boot. */
@inline export function lun_retry_at_ms(lun: u32): u32 { return load<u32>(lun_at(lun), 24); }
@inline export function lun_set_retry_at_ms(lun: u32, ms: u32): void { store<u32>(lun_at(lun), ms, 24); }

/** NV blocks (acknowledged, not on the disk) the cache holds for this LUN. Kept by
 * cache.ts; a LUN that has some and cannot take them (not ours, failed, absent)
 * holds them until the host decides (NV ACTION). */
@inline export function lun_nv(lun: u32): u32 { return load<u32>(lun_at(lun), 28); }
@inline export function lun_add_nv(lun: u32, d: i32): void {
  let p = lun_at(lun);
  store<u32>(p, <u32>(<i32>load<u32>(p, 28) + d), 28);
}
@inline export function lun_zero_nv(lun: u32): void { store<u32>(lun_at(lun), 0, 28); }

/** Can the LUN's disk take its blocks now: present, answering, and ours? */
@inline export function lun_usable(lun: u32): bool {
  return lun < luns_max && lun_state(lun) == LUN_READY && lun_identity(lun) == ID_OK;
}

// ---- a pair's LUNs (seed 002, pair/own.ts) ---------------------------------------------

/** Asymmetric access state of the LUN through this controller's port (SPC-4 5.15.2.4):
 * what REPORT TARGET PORT GROUPS says and what the LUN answers here. */
@inline export const ALUA_OPTIMIZED: u8 = 0;
@inline export const ALUA_STANDBY: u8 = 2;
@inline export const ALUA_TRANSITIONING: u8 = 0xf;
@inline export function lun_alua(lun: u32): u8 { return load<u8>(lun_at(lun), 32); }
@inline export function lun_set_alua(lun: u32, s: u8): void {
  let p = lun_at(lun);
  if (load<u8>(p, 32) != s) store<u8>(p, 1, 33); // ASYMMETRIC ACCESS STATE CHANGED owed
  store<u8>(p, s, 32);
}
@inline export function lun_alua_ua(lun: u32): bool { return load<u8>(lun_at(lun), 33) != 0; }
@inline export function lun_clear_alua_ua(lun: u32): void { store<u8>(lun_at(lun), 0, 33); }
@inline export function lun_epoch(lun: u32): u32 { return load<u32>(lun_at(lun), 36); }
@inline export function lun_set_epoch(lun: u32, e: u32): void { store<u32>(lun_at(lun), e, 36); }
@inline export function lun_mirror_epoch(lun: u32): u32 { return load<u32>(lun_at(lun), 40); }
@inline export function lun_set_mirror_epoch(lun: u32, e: u32): void { store<u32>(lun_at(lun), e, 40); }
