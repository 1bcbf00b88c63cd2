// Tags of the device bus: one allocator for every command the controller sends to a
// device, each tag owned by whoever asked (a host slot, a LUN's destage, a synchronous
// command), with a deadline. A command past its deadline is aborted (ABORT TASK); its
// completion then arrives with host status "aborted" and the owner decides.
//
// Tag record (64 bytes, layout.ts tags_base):
//   @0 CDB (16) | @16 result record (32, written by the bus; abi.ts RES_*)
//   @48 owner kind u8 | @49 owner id u8 | @50 power epoch at submit u8
//   @51 done u8 (set by irq_scsi) | @52 aborted u8 | @53 member u8 and @54 io u8 (an
//   array member command's) | @55 virtual u8 (a command to the array, which the array
//   completes: it has no deadline of its own) | @56 deadline, ms since boot u32

import { tags_base, tags_max, tag_bytes } from "../layout";
import { hal_scsi_abort, hal_log, hal_now_us } from "./hal";
import { RES_BYTES, RES_STATUS, RES_HOST_STATUS, RES_SENSE, LOG_ABORTED } from "./abi";
import { st_power_epoch, counter_add, CNT_ABORTS } from "../state";

@inline export const TAG_NONE: u32 = 0xff;

/** Who a tag belongs to; the main loop routes its completion by this. */
@inline export const OWNER_NONE: u8 = 0;
@inline export const OWNER_HOST: u8 = 1;     // id: the mailbox slot
@inline export const OWNER_DESTAGE: u8 = 2;  // id: the LUN
@inline export const OWNER_SYNC: u8 = 3;     // a synchronous command (boot, labels, marks)
@inline export const OWNER_ARRAY: u8 = 4;    // id: the array command it serves
@inline export const OWNER_PROBE: u8 = 5;    // id: the target (pair/iopath.ts)

/** How long a device command may take, from when it goes out, before it is aborted:
 * a seek and a turn take tens of ms, but a disk recovering an error may take seconds
 * (desktop drives without time-limited recovery far more; RAID firmware commonly
 * allows 7 s, TLER) and the commands queued behind it wait as long. */
@inline export const command_timeout_ms: u32 = 8_000;

if (tag_bytes < 60) ERROR("tag record holds 60 bytes");
if (RES_BYTES != 32) ERROR("the result record is 32 bytes");

@inline export function tag_at(tag: u32): usize { return tags_base + tag * tag_bytes; }
@inline export function tag_cdb(tag: u32): usize { return tag_at(tag); }
@inline export function tag_result(tag: u32): usize { return tag_at(tag) + 16; }
@inline export function tag_status(tag: u32): u8 { return load<u8>(tag_result(tag) + RES_STATUS); }
@inline export function tag_host_status(tag: u32): u8 { return load<u8>(tag_result(tag) + RES_HOST_STATUS); }
/** Sense bytes from the device, fixed format, within the result record. */
@inline export function tag_sense(tag: u32): usize { return tag_result(tag) + RES_SENSE; }
@inline export function tag_owner_kind(tag: u32): u8 { return load<u8>(tag_at(tag), 48); }
@inline export function tag_owner_id(tag: u32): u32 { return load<u8>(tag_at(tag), 49); }
@inline export function tag_busy(tag: u32): bool { return tag_owner_kind(tag) != OWNER_NONE; }
@inline export function tag_done(tag: u32): bool { return load<u8>(tag_at(tag), 51) != 0; }
/** The firmware aborted the command (it took too long). */
@inline export function tag_aborted(tag: u32): bool { return load<u8>(tag_at(tag), 52) != 0; }
/** Did a power event happen while the command was out? */
@inline export function tag_straddled_power(tag: u32): bool { return load<u8>(tag_at(tag), 50) != st_power_epoch(); }

/** Every tag free (boot). */
export function tags_init(): void {
  for (let t: u32 = 0; t < tags_max; t++) store<u8>(tag_at(t), OWNER_NONE, 48);
}

/** Take a free tag for (kind, id); TAG_NONE if all are in use. */
export function tag_alloc(kind: u8, id: u32): u32 {
  for (let t: u32 = 0; t < tags_max; t++) {
    if (tag_busy(t)) continue;
    let p = tag_at(t);
    store<u8>(p, <u8>id, 49);
    store<u8>(p, 0, 51);
    store<u8>(p, 0, 52);
    store<u8>(p, 0, 55);
    store<u8>(p, kind, 48); // last: the tag is taken once its record is ready
    return t;
  }
  return TAG_NONE;
}

/** The tag's command is about to go out: mark the result pending, note the power
 * epoch and the deadline. */
export function tag_arm(tag: u32, pending_status: u8): void {
  let p = tag_at(tag);
  store<u8>(tag_result(tag) + RES_STATUS, pending_status);
  store<u8>(p, 0, 51);
  store<u8>(p, 0, 52);
  store<u8>(p, st_power_epoch(), 50);
  store<u32>(p, <u32>(hal_now_us() / 1000) + command_timeout_ms, 56);
}

/** An array member command's member and io number (array/array.ts). */
@inline export function tag_member(tag: u32): u32 { return load<u8>(tag_at(tag), 53); }
@inline export function tag_io(tag: u32): u32 { return load<u8>(tag_at(tag), 54); }
export function tag_set_member_io(tag: u32, member: u32, io: u32): void {
  store<u8>(tag_at(tag), <u8>member, 53);
  store<u8>(tag_at(tag), <u8>io, 54);
}
/** The command went to the array, not the bus: the array completes it. */
@inline export function tag_set_virtual(tag: u32): void { store<u8>(tag_at(tag), 1, 55); }
@inline export function tag_virtual(tag: u32): bool { return load<u8>(tag_at(tag), 55) != 0; }

/** irq_scsi: the command on `tag` completed. */
@inline export function tag_set_done(tag: u32): void { store<u8>(tag_at(tag), 1, 51); }

/** The owner is finished with the tag. */
export function tag_free(tag: u32): void {
  if (tag >= tags_max) return;
  let p = tag_at(tag);
  store<u8>(p, 0, 51);
  store<u8>(p, OWNER_NONE, 48);
}

/** Abort every command past its deadline (once each). Returns how many. */
export function tags_abort_overdue(): u32 {
  let now_ms = <u32>(hal_now_us() / 1000);
  let n: u32 = 0;
  for (let t: u32 = 0; t < tags_max; t++) {
    if (!tag_busy(t) || tag_done(t) || tag_aborted(t) || tag_virtual(t)) continue;
    if (<i32>(now_ms - load<u32>(tag_at(t), 56)) < 0) continue;
    if (abort_tag(t)) n++;
  }
  return n;
}

/** ABORT TASK for one tag: its completion (host status aborted) follows. */
export function abort_tag(tag: u32): bool {
  store<u8>(tag_at(tag), 1, 52);
  counter_add(CNT_ABORTS, 1);
  hal_log(LOG_ABORTED, <i32>tag, <i32>tag_owner_kind(tag));
  return hal_scsi_abort(<i32>tag) == 0;
}
