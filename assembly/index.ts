// holdup firmware: entry points. The board calls main() once per power-up and the
// interrupt handlers irq_* when their sources fire (docs/HAL.md lists them all).

import { mailbox_slots, tags_max, mailbox_base, mailbox_slot_bytes, mailbox_data_bytes } from "./layout";
import { hal_idle, hal_log, hal_power_save_done, hal_pfail_level } from "./hal";
import {
  st_set_ready, st_ready, st_set_power_failing, st_power_failing, st_set_lun_count,
  st_lun_count, slot_rung, set_slot_rung, tag_done, tag_busy, set_tag_done,
  st_set_timer_fired, counter, counter_count,
} from "./state";
import { disks_probe, tag_sync } from "./disks";
import { host_command_start, host_tag_done } from "./target";
import { LOG_BOOT, LOG_READY, LOG_PFAIL, LOG_POWER_BACK } from "./errors";

export {
  layout_region_count, layout_region_base, layout_region_bytes,
} from "./layout";
export { crc32c } from "./crc32c";
export { secded_encode, secded_decode } from "./secded";

/** Boot, then serve the host forever. The main loop's only unbounded loop is this
 * one: each pass does bounded work (one scan of slots and tags) and then waits for
 * an interrupt. */
export function main(): void {
  hal_log(LOG_BOOT, 0, 0);
  st_set_ready(false);
  st_set_power_failing(hal_pfail_level() == 0);
  let luns = disks_probe();
  st_set_lun_count(luns);
  st_set_ready(true);
  hal_log(LOG_READY, <i32>luns, 0);
  while (true) {
    if (!poll()) hal_idle();
  }
}

/** One pass of the main loop: start commands the host rang for, finish commands
 * whose disk completions arrived. Returns whether it did anything. */
export function poll(): bool {
  let worked = false;
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
    if (!slot_rung(slot)) continue;
    set_slot_rung(slot, false);
    host_command_start(slot);
    worked = true;
  }
  for (let tag: u32 = 0; tag < mailbox_slots; tag++) {
    if (!tag_done(tag)) continue;
    host_tag_done(tag);
    worked = true;
  }
  return worked;
}

// ---- interrupt handlers: the least that is safe ------------------------------------

/** Host doorbell: the host filled mailbox slot `slot` and hands it to us. */
export function irq_doorbell(slot: i32): void {
  if (<u32>slot >= mailbox_slots) return;
  set_slot_rung(<u32>slot, true);
}

/** Device bus: the command on `tag` finished and its result record is written. */
export function irq_scsi(tag: i32): void {
  if (<u32>tag >= tags_max || !tag_busy(<u32>tag)) return;
  set_tag_done(<u32>tag, true);
}

/** The one-shot timer expired. */
export function irq_timer(): void {
  st_set_timer_fired(true);
}

/** PFAIL# changed. On a fall: stop taking host commands (they get BUSY) and save.
 * Writing through, every acknowledged write is already on the media, so there is
 * nothing to save and the cap is released at once. On a rise before the cap ran
 * out: take commands again. */
export function irq_pfail(): void {
  if (hal_pfail_level() == 0) {
    st_set_power_failing(true);
    hal_log(LOG_PFAIL, 0, 0);
    hal_power_save_done();
  } else {
    st_set_power_failing(false);
    hal_log(LOG_POWER_BACK, 0, 0);
  }
}

// ---- board information (read by the emulator and the host adapter) ------------------

export function mailbox_addr(): usize { return mailbox_base; }
export function mailbox_slot_count(): u32 { return mailbox_slots; }
export function mailbox_slot_size(): u32 { return mailbox_slot_bytes; }
export function mailbox_data_size(): u32 { return mailbox_data_bytes; }
export function lun_count(): u32 { return st_lun_count(); }
export function is_ready(): bool { return st_ready(); }
export function is_power_failing(): bool { return st_power_failing(); }
export function counter_value(i: u32): u32 { return i < counter_count ? counter(i) : 0; }
export function sync_tag(): u32 { return tag_sync; }
