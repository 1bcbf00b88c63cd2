// holdup firmware: entry points. The board calls main() once per power-up and the
// interrupt handlers irq_* when their sources fire (docs/HAL.md lists them all).

import { mailbox_slots, tags_max, mailbox_base, mailbox_slot_bytes, mailbox_data_bytes } from "./layout";
import { hal_idle, hal_log, hal_power_save_done, hal_pfail_level, hal_now_us, hal_irq_mask_pfail } from "./base/hal";
import {
  st_set_ready, st_ready, st_set_power_failing, st_power_failing, st_set_lun_count,
  st_lun_count, slot_rung, set_slot_rung, st_set_timer_fired, counter, counter_add, counter_count,
  slot_busy, set_slot_busy, slot_wait, slot_seq, WAIT_NONE, WAIT_DISK, WAIT_MIRROR, st_bump_power_epoch, CNT_HOST_PROTOCOL,
} from "./state";
import {
  tags_init, tag_busy, tag_done, tag_set_done, tag_owner_kind, tags_abort_overdue, OWNER_HOST,
  OWNER_DESTAGE, OWNER_PROBE, tag_free,
} from "./base/tags";
import { disks_probe } from "./base/initiator";
import {
  array_configured, array_probe, array_repaired_rows, array_torn_records, array_active, array_repair_blocks,
  array_repair_us,
} from "./array/assemble";
import { eeprom_wait_idle } from "./base/eeprom";
import {
  array_poll, array_busy, array_rmw_rows, array_rcw_rows, array_full_rows, array_reconstructed,
  array_restarts,
} from "./array/array";
import { members_failed_mask, list_count } from "./array/members";
import { wcb_ring_writes, wcb_isr_save } from "./array/wcb";
import { rebuild_permille } from "./array/rebuild";
import { intent_in_use } from "./array/intent";
import { host_command_start, host_tag_done, host_slot_poll, last_write_ms, host_command_busy } from "./target/target";
import { destage_kick, destage_done, destage_command_count, destage_block_count } from "./cache/destage";
import { nv_boot, nv_after_probe, nv_bind_blank, nv_poll, nv_power_fail, nv_writeback_allowed, nv_store_id, nv_frozen, nv_own_budget } from "./nv/nv";
import { SAVE_ABORTED } from "./nv/image";
import { cache_nv_count, cache_dirty_count, cache_own_nv_count } from "./cache/cache";
import { budget_blocks, learn_state_now, learn_check_stop, learn_abort_load, LEARN_RUNNING } from "./nv/budget";
import { LOG_BOOT, LOG_READY, LOG_PFAIL, LOG_POWER_BACK, LOG_DOORBELL_BUSY } from "./base/errors";
import { timer_arm, timer_fired } from "./base/timer";
import { pair_init, pair_timer, pair_rx, pair_io_done, pair_io_check, pair_on, peer_state, peer_heartbeats, peer_set_store } from "./pair/peer";
import { own_boot, own_refresh_alua, own_binds_pending, own_configure } from "./pair/own";
import { own_fence_boot, own_poll, register_bound, own_takeovers, own_givebacks, own_fenced, own_guard } from "./pair/handover";
import { lun_alua, lun_epoch } from "./state";
import { mirror_boot, mirror_poll, mirror_on, mirror_busy, mirror_catchups, mirror_catchup_us } from "./pair/mirror";
import { link_bad_count } from "./pair/link";
import { io_probe_poll } from "./pair/iopath";
import { link_ring_base, link_ring_slots, link_slot_bytes } from "./layout";

export {
  layout_region_count, layout_region_base, layout_region_bytes,
} from "./layout";
export { crc32c } from "./base/crc32c";
import { crc32c_init } from "./base/crc32c";
export { secded_encode, secded_decode } from "./base/secded";

/** While a learn cycle runs, dirty blocks wait, or device commands are out (their
 * deadlines), wake at least this often. */
@inline const tick_us: i32 = 10_000;
/** A pair's blocks wait for the partner's confirmation: wake this often (a resend). */
@inline const mirror_tick_us: i32 = 2_000;
/** Saves one power failure may take: each one the supply interrupted, going on from
 * where the last stopped, when it fails again before the handler is done. */
@inline const save_attempts_max: u32 = 8;

/** Boot, then serve the host forever. The main loop's only unbounded loop is this
 * one: each pass does bounded work (one scan of slots, tags and LUNs) and then waits
 * for an interrupt. */
export function main(): void {
  crc32c_init();
  hal_log(LOG_BOOT, 0, 0);
  pair_init();
  st_set_ready(false);
  st_set_power_failing(hal_pfail_level() == 0);
  tags_init();
  nv_boot();
  peer_set_store(nv_store_id()); // the heartbeat carries it from now on
  let luns = array_configured() ? array_probe(nv_store_id()) : disks_probe(nv_store_id());
  st_set_lun_count(luns);
  own_boot(nv_store_id());
  mirror_boot();
  nv_after_probe();
  own_refresh_alua(false);
  own_fence_boot();
  st_set_ready(true);
  hal_log(LOG_READY, <i32>luns, 0);
  while (true) {
    if (!poll()) {
      if (learn_state_now() == LEARN_RUNNING || cache_dirty_count() > 0 || slots_waiting() || tags_out() ||
        array_busy()) {
        timer_arm(tick_us);
      }
      if (pair_on() && mirror_busy()) timer_arm(mirror_tick_us);
      hal_idle();
    }
  }
}

/** One pass of the main loop. Returns whether it did anything. */
export function poll(): bool {
  let worked = false;
  own_guard(); // a pair: stand down before serving anything, if we may have been taken over
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
    if (!slot_claim(slot)) continue;
    host_command_start(slot, false);
    worked = true;
  }
  // The array first: the commands it completes are then taken in the same pass.
  if (array_poll()) worked = true;
  for (let tag: u32 = 0; tag < tags_max; tag++) {
    if (!tag_busy(tag) || !tag_done(tag)) continue;
    let kind = tag_owner_kind(tag);
    if (kind == OWNER_HOST) host_tag_done(tag);
    else if (kind == OWNER_DESTAGE) destage_done(tag, nv_frozen());
    else if (kind == OWNER_PROBE) tag_free(tag); // its completion was the point
    else continue; // a synchronous command (its caller waits) or the array's own
    worked = true;
  }
  if (tags_abort_overdue() > 0) worked = true;
  if (pair_on()) {
    pair_io_check(hal_now_us(), tags_out());
    if (io_probe_poll(hal_now_us())) worked = true;
    own_configure(nv_store_id()); // the partner's store id, as last heard, for the labels
    if (own_binds_pending() && nv_bind_blank() > 0) { own_refresh_alua(true); register_bound(); worked = true; }
    if (own_poll(nv_store_id())) worked = true;
    if (mirror_poll(own_fenced(), budget_blocks())) worked = true;
  }
  // Waiting commands run again oldest first, so the space a destage frees goes to the
  // command that has waited longest (a fixed slot order starves the last slots).
  let polled: u32 = 0;
  for (let n: u32 = 0; n < mailbox_slots; n++) {
    let best: u32 = mailbox_slots;
    for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
      if ((polled & (1 << slot)) != 0 || !slot_busy(slot)) continue;
      let w = slot_wait(slot);
      if (w == WAIT_NONE || w == WAIT_DISK) continue;
      if (best == mailbox_slots || <i32>(slot_seq(slot) - slot_seq(best)) < 0) best = slot;
    }
    if (best == mailbox_slots) break;
    polled |= 1 << best;
    if (host_slot_poll(best)) worked = true;
  }
  // No destage while the supply is down: the disks are off (their commands were reset).
  if (!st_power_failing() && destage_wanted() && destage_kick(nv_frozen()) > 0) worked = true;
  if (nv_poll()) worked = true;
  return worked;
}

/** Take a rung slot for the main loop. The power-fail interrupt answers BUSY to rung
 * slots that are not busy, so the test and the claim are one step with PFAIL masked:
 * an interrupt between them would complete the slot, and the main loop would run the
 * command and complete it again. */
function slot_claim(slot: u32): bool {
  let was = hal_irq_mask_pfail(1);
  let rung = slot_rung(slot);
  if (rung) {
    set_slot_rung(slot, false);
    set_slot_busy(slot, true);
  }
  hal_irq_mask_pfail(was);
  return rung;
}

/** Does any slot wait for something that time (not an interrupt) brings? */
function slots_waiting(): bool {
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
    if (slot_busy(slot) && slot_wait(slot) != WAIT_NONE && slot_wait(slot) != WAIT_DISK) return true;
  }
  return false;
}

/** Is a device command out (its deadline needs watching)? */
function tags_out(): bool {
  for (let tag: u32 = 0; tag < tags_max; tag++) if (tag_busy(tag) && !tag_done(tag)) return true;
  return false;
}

/** Destage runs when something waits on it, when write-back is off, from the high
 * watermark (half the budget) down to the low one (a quarter), and for everything
 * once no write has come for destage_idle_ms; otherwise dirty blocks gather, which
 * gives the elevator more to sort. */
@inline const destage_idle_ms: u32 = 100;
let draining = false;

function destage_wanted(): bool {
  let dirty = cache_dirty_count();
  if (dirty == 0) { draining = false; return false; }
  if (!nv_writeback_allowed()) return true;
  if (dirty > cache_nv_count()) return true;       // write-through blocks wait for it
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
    // (One waiting for the partner's copy needs no destage.)
    if (slot_busy(slot) && slot_wait(slot) != WAIT_NONE && slot_wait(slot) != WAIT_MIRROR) return true;
  }
  // Its own blocks against its own part of the budget (a pair: the partner's copies,
  // never destaged here, take the rest).
  let nv = cache_own_nv_count();
  let budget = nv_own_budget();
  if (nv * 2 >= budget) draining = true;
  else if (nv * 4 <= budget) draining = false;
  if (draining) return true;
  return <u32>(hal_now_us() / 1000) - last_write_ms() >= destage_idle_ms;
}

// ---- interrupt handlers: the least that is safe ------------------------------------

/** Host doorbell: the host filled mailbox slot `slot` and hands it to us. A doorbell
 * for a slot that still holds a command breaks the mailbox protocol: it is ignored
 * (and counted), so that no command is completed twice. */
export function irq_doorbell(slot: i32): void {
  if (<u32>slot >= mailbox_slots) return;
  if (slot_rung(<u32>slot) || slot_busy(<u32>slot)) {
    counter_add(CNT_HOST_PROTOCOL, 1);
    hal_log(LOG_DOORBELL_BUSY, slot, 0);
    return;
  }
  set_slot_rung(<u32>slot, true);
}

/** Device bus: the command on `tag` finished and its result record is written. */
export function irq_scsi(tag: i32): void {
  if (<u32>tag >= tags_max || !tag_busy(<u32>tag)) return;
  tag_set_done(<u32>tag);
  pair_io_done();
}

/** A message from the partner reached the receive ring over `link`, or a link's
 * carrier changed (a pair, seed 002). */
export function irq_link(link: i32): void {
  pair_rx();
}

/** The one-shot timer expired. A learn cycle's load goes off here on time, however
 * long the main loop is busy. */
export function irq_timer(): void {
  st_set_timer_fired(true);
  learn_check_stop();
  let now = hal_now_us();
  pair_timer(now);
  timer_fired(now);
}

/** PFAIL# changed. On a fall: stop taking host commands (they get BUSY), make every
 * acknowledged block that is not on a disk safe on the EEPROM, then tell the power
 * switch the save is done. If the supply comes back during the save, the save stops
 * and the main loop takes over; if it fails again before this handler is done, the
 * save goes on from where it stopped. */
export function irq_pfail(): void {
  st_bump_power_epoch();
  if (hal_pfail_level() != 0) {
    st_set_power_failing(false);
    hal_log(LOG_POWER_BACK, 0, 0);
    return;
  }
  st_set_power_failing(true);
  learn_abort_load();
  hal_log(LOG_PFAIL, <i32>cache_nv_count(), 0);
  // Commands the host rang for that never started: BUSY, so the host retries them.
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
    if (slot_rung(slot) && !slot_busy(slot)) {
      set_slot_rung(slot, false);
      host_command_busy(slot);
    }
  }
  // The array's write-command buffer first (one page): the rows it names are the
  // ones the boot repairs.
  // (Not while the EEPROM takes no page: updates put their entries on the members'
  // intent blocks then, before their first write.)
  if (array_active() && !intent_in_use()) {
    eeprom_wait_idle(0);
    wcb_isr_save();
  }
  for (let attempt: u32 = 0; attempt < save_attempts_max; attempt++) {
    if (nv_power_fail() != SAVE_ABORTED) break;
    if (hal_pfail_level() != 0) return; // ridden through: the main loop takes over
  }
  hal_power_save_done();
}

// ---- board information (read by the emulator and the host adapter) ------------------

export function mailbox_addr(): usize { return mailbox_base; }
/** The pair's receive ring (docs/HAL.md "Links"). */
export function link_ring_addr(): usize { return link_ring_base; }
export function link_ring_slot_count(): u32 { return link_ring_slots; }
export function link_ring_slot_size(): u32 { return link_slot_bytes; }
/** The partner as this controller sees it (pair/peer.ts PEER_*), and heartbeats heard. */
export function pair_peer_state(): u32 { return peer_state(); }
export function pair_heartbeats(): u32 { return peer_heartbeats(); }
/** A pair: the LUN's access state through this port (state.ts ALUA_*; 0xFF: no LUN). */
export function pair_lun_alua(lun: u32): u32 { return lun < st_lun_count() ? lun_alua(lun) : 0xff; }
/** A pair: the epoch this controller holds for the LUN (its label's, as it last read or
 * wrote it). */
export function pair_lun_epoch(lun: u32): u32 { return lun < st_lun_count() ? lun_epoch(lun) : 0; }
/** A pair: takeovers, givebacks since boot, whether this controller is fenced, its
 * mirroring (1: on), catch-ups (sessions started) since boot, the last one's µs
 * (0xFFFFFFFF: none), link messages dropped (a wrong CRC or length). */
export function pair_stat(i: u32): u32 {
  if (i == 0) return own_takeovers();
  if (i == 1) return own_givebacks();
  if (i == 2) return own_fenced() ? 1 : 0;
  if (i == 3) return mirror_on() ? 1 : 0;
  if (i == 4) return mirror_catchups();
  if (i == 5) { let us = mirror_catchup_us(); return us < 0 ? 0xffffffff : <u32>us; }
  if (i == 6) return link_bad_count();
  return 0;
}
export function mailbox_slot_count(): u32 { return mailbox_slots; }
export function mailbox_slot_size(): u32 { return mailbox_slot_bytes; }
export function mailbox_data_size(): u32 { return mailbox_data_bytes; }
export function lun_count(): u32 { return st_lun_count(); }
export function is_ready(): bool { return st_ready(); }
export function is_power_failing(): bool { return st_power_failing(); }
export function counter_value(i: u32): u32 { return i < counter_count ? counter(i) : 0; }
export function nv_blocks(): u32 { return cache_nv_count(); }
export function dirty_blocks(): u32 { return cache_dirty_count(); }
export function save_budget(): u32 { return budget_blocks(); }
export function writeback_on(): bool { return nv_writeback_allowed(); }
export function destages(): u32 { return destage_command_count(); }
export function destaged_blocks(): u32 { return destage_block_count(); }
/** The array (seed 003): rows repaired and torn records found at the last boot, rows
 * written by read-modify-write, reconstruct-write and whole, blocks reconstructed,
 * commands restarted, failed members (bit mask), listed blocks, ring page writes,
 * blocks the last repair read and wrote, and its time in µs, the rebuild's progress
 * per mille (1000: none under way). */
export function array_stat(i: u32): u32 {
  switch (i) {
    case 0: return array_repaired_rows();
    case 1: return array_torn_records();
    case 2: return array_rmw_rows();
    case 3: return array_rcw_rows();
    case 4: return array_full_rows();
    case 5: return array_reconstructed();
    case 6: return array_restarts();
    case 7: return members_failed_mask();
    case 8: return list_count();
    case 9: return wcb_ring_writes();
    case 10: return array_repair_blocks();
    case 11: return array_repair_us();
    case 12: return rebuild_permille();
  }
  return 0;
}
