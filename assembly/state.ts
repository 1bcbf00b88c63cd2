// Controller state in the state region of the memory map (layout.ts). Fields are
// bytes or words at fixed offsets; each byte flag has one writer per transition
// (an interrupt handler sets it, the main loop clears it) so no flag needs a lock.

import { state_base, state_bytes, mailbox_slots, tags_max } from "./layout";

// ---- offsets -----------------------------------------------------------------------
@inline const off_ready: u32 = 0;          // u8: boot finished, LUNs presented
@inline const off_power_failing: u32 = 1;  // u8: PFAIL# fell (set by irq_pfail)
@inline const off_timer_fired: u32 = 2;    // u8: irq_timer ran
@inline const off_lun_count: u32 = 3;      // u8: LUNs presented
@inline const off_power_epoch: u32 = 4;    // u8: counts PFAIL# edges (set by irq_pfail)
@inline const off_slot_rung: u32 = 8;      // u8[mailbox_slots]: doorbell rang
@inline const off_slot_busy: u32 = 16;     // u8[mailbox_slots]: command in progress
@inline const off_tag_done: u32 = 24;      // u8[tags_max]: completion arrived
@inline const off_tag_busy: u32 = 56;      // u8[tags_max]: tag in use
@inline const off_counters: u32 = 88;      // u32[counter_count]
@inline export const counter_count: u32 = 8;
@inline const off_slot_wait: u32 = 120;    // u8[mailbox_slots]: what a slot waits for
@inline const off_luns: u32 = 128;         // lun entries

/** LUNs the controller presents: one per disk found at boot. */
@inline export const luns_max: u32 = 8;
@inline const lun_entry_bytes: u32 = 32;

// Compile-time checks of the region sizes this file relies on.
if (off_slot_rung + mailbox_slots > off_slot_busy) ERROR("slot flags overlap");
if (off_slot_busy + mailbox_slots > off_tag_done) ERROR("slot busy overlaps tags");
if (off_tag_done + tags_max > off_tag_busy) ERROR("tag flags overlap");
if (off_tag_busy + tags_max > off_counters) ERROR("tag busy overlaps counters");
if (off_counters + counter_count * 4 > off_slot_wait) ERROR("counters overlap slot waits");
if (off_slot_wait + mailbox_slots > off_luns) ERROR("slot waits overlap LUNs");
if (off_luns + luns_max * lun_entry_bytes > state_bytes) ERROR("state region too small");

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
 * cut by the disks losing power, and its failure is not the disk's fault. */
@inline export function st_power_epoch(): u8 { return load<u8>(state_base + off_power_epoch); }
@inline export function st_bump_power_epoch(): void {
  store<u8>(state_base + off_power_epoch, load<u8>(state_base + off_power_epoch) + 1);
}

@inline export function st_lun_count(): u32 { return load<u8>(state_base + off_lun_count); }
@inline export function st_set_lun_count(n: u32): void { store<u8>(state_base + off_lun_count, <u8>n); }

@inline export function slot_rung(slot: u32): bool { return load<u8>(state_base + off_slot_rung + slot) != 0; }
@inline export function set_slot_rung(slot: u32, v: bool): void {
  store<u8>(state_base + off_slot_rung + slot, v ? 1 : 0);
}
@inline export function slot_busy(slot: u32): bool { return load<u8>(state_base + off_slot_busy + slot) != 0; }
@inline export function set_slot_busy(slot: u32, v: bool): void {
  store<u8>(state_base + off_slot_busy + slot, v ? 1 : 0);
}

/** What a busy slot waits for before its command can go on or finish. */
@inline export const WAIT_NONE: u8 = 0;
@inline export const WAIT_SPACE: u8 = 1;  // cache space or a block off the bus: run again
@inline export const WAIT_CLEAN: u8 = 2;  // write-through: its blocks durable, then GOOD
@inline export const WAIT_DISK: u8 = 3;   // a command on the slot's tag
@inline export const WAIT_RETRY: u8 = 4;  // run again at the slot's retry time
@inline export function slot_wait(slot: u32): u8 { return load<u8>(state_base + off_slot_wait + slot); }
@inline export function set_slot_wait(slot: u32, w: u8): void { store<u8>(state_base + off_slot_wait + slot, w); }

@inline export function tag_done(tag: u32): bool { return load<u8>(state_base + off_tag_done + tag) != 0; }
@inline export function set_tag_done(tag: u32, v: bool): void {
  store<u8>(state_base + off_tag_done + tag, v ? 1 : 0);
}
@inline export function tag_busy(tag: u32): bool { return load<u8>(state_base + off_tag_busy + tag) != 0; }
@inline export function set_tag_busy(tag: u32, v: bool): void {
  store<u8>(state_base + off_tag_busy + tag, v ? 1 : 0);
}

// ---- counters (read by the host through the debug exports) --------------------------
@inline export const CNT_HOST_COMMANDS: u32 = 0;
@inline export const CNT_CHECK_CONDITIONS: u32 = 1;
@inline export const CNT_DISK_COMMANDS: u32 = 2;
@inline export const CNT_DISK_ERRORS: u32 = 3;
@inline export const CNT_BUSY_REPLIES: u32 = 4;

@inline export function counter(i: u32): u32 { return load<u32>(state_base + off_counters + (i << 2)); }
@inline export function counter_add(i: u32, n: u32): void {
  let p = state_base + off_counters + (i << 2);
  store<u32>(p, load<u32>(p) + n);
}

// ---- LUN table -------------------------------------------------------------------------
@inline export const LUN_ABSENT: u8 = 0;
@inline export const LUN_READY: u8 = 1;
@inline export const LUN_FAILED: u8 = 2;

@inline export function lun_at(lun: u32): usize { return state_base + off_luns + lun * lun_entry_bytes; }
@inline export function lun_target(lun: u32): u32 { return load<u8>(lun_at(lun), 0); }
@inline export function lun_state(lun: u32): u8 { return load<u8>(lun_at(lun), 1); }
@inline export function lun_ua_pending(lun: u32): bool { return load<u8>(lun_at(lun), 2) != 0; }
@inline export function lun_blocks(lun: u32): u64 { return load<u64>(lun_at(lun), 8); }

@inline export function lun_set(lun: u32, target: u32, state: u8, blocks: u64): void {
  let p = lun_at(lun);
  store<u8>(p, <u8>target, 0);
  store<u8>(p, state, 1);
  store<u8>(p, 1, 2); // unit attention: power on occurred
  store<u8>(p, ID_NO_DISK, 3);
  store<u64>(p, blocks, 8);
  store<u64>(p, 0, 16);
  store<u8>(p, 0, 24);
  store<u8>(p, 0, 25);
  store<u32>(p, 0, 28);
}
@inline export function lun_set_state(lun: u32, state: u8): void { store<u8>(lun_at(lun), state, 1); }

// Identity of the disk behind a LUN: its label against this controller's store id.
@inline export const ID_OK: u8 = 0;
@inline export const ID_BLANK: u8 = 1;       // never bound: no label
@inline export const ID_FOREIGN: u8 = 2;     // another store's label, or not ours
@inline export const ID_WRONG_SLOT: u8 = 3;  // ours, but bound to another bus ID
@inline export const ID_UNREADABLE: u8 = 4;  // the label block cannot be read
@inline export const ID_NO_DISK: u8 = 5;
@inline export function lun_identity(lun: u32): u8 { return load<u8>(lun_at(lun), 3); }
@inline export function lun_set_identity(lun: u32, id: u8): void { store<u8>(lun_at(lun), id, 3); }

/** Destage elevator position (next LBA to look from) and whether a destage is out. */
@inline export function lun_cursor(lun: u32): u64 { return load<u64>(lun_at(lun), 16); }
@inline export function lun_set_cursor(lun: u32, lba: u64): void { store<u64>(lun_at(lun), lba, 16); }
@inline export function lun_destaging(lun: u32): bool { return load<u8>(lun_at(lun), 24) != 0; }
@inline export function lun_set_destaging(lun: u32, v: bool): void { store<u8>(lun_at(lun), v ? 1 : 0, 24); }
/** Earliest time of the LUN's next destage after a failed one, ms since boot. */
@inline export function lun_retry_at_ms(lun: u32): u32 { return load<u32>(lun_at(lun), 28); }
@inline export function lun_set_retry_at_ms(lun: u32, ms: u32): void { store<u32>(lun_at(lun), ms, 28); }
/** The LUN has blocks in an image that waits for the host's decision. */
@inline export function lun_in_pending_image(lun: u32): bool { return load<u8>(lun_at(lun), 25) != 0; }
@inline export function lun_set_in_pending_image(lun: u32, v: bool): void { store<u8>(lun_at(lun), v ? 1 : 0, 25); }
@inline export function lun_clear_ua(lun: u32): void { store<u8>(lun_at(lun), 0, 2); }
