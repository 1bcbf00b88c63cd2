// The director's device commands: tags (two per mailbox slot, for the drive and the
// caching disk, and one of its own), submitting, and waiting for its own commands
// under a deadline (a drive that does not answer is aborted: a hung drive).

import { hal_scsi_submit, hal_scsi_abort, hal_idle, hal_now_us, hal_timer_arm } from "../base/hal";
import { RES_STATUS, RES_HOST_STATUS, RES_SENSE, HOST_OK } from "../base/abi";
import { STATUS_GOOD, STATUS_CHECK_CONDITION, zero, put_be32 } from "../base/scsi";
import { OP_LOCATE_10, OP_READ_6 } from "./board";
import { mailbox_slots, tags_base, tags_max, tag_bytes, tag_cdb_at, tag_result_at } from "./layout";

@inline export function tag_at(t: u32): usize { return tags_base + t * tag_bytes; }
@inline export function tag_cdb(t: u32): usize { return tag_at(t) + tag_cdb_at; }
@inline export function tag_result(t: u32): usize { return tag_at(t) + tag_result_at; }
/** A slot's drive command goes on tag s, its cache write on tag s + mailbox_slots. */
@inline export function drive_tag(s: u32): u32 { return s; }
@inline export function cache_tag(s: u32): u32 { return s + mailbox_slots; }
/** The write-behind's drive commands (behind.ts), and the director's own. */
@inline export const behind_tag: u32 = 2 * mailbox_slots;
@inline export const own_tag: u32 = tags_max - 1;
if (<u32>2 * mailbox_slots + 2 > tags_max) ERROR("director: two tags a slot, the write-behind's and its own");

/** Tags whose command ended (bit per tag), and tags out. */
let done_tags: u32 = 0;
let out_tags: u32 = 0;

/** irq_scsi: the command on `tag` ended. */
export function note_done(tag: u32): void { if (tag < tags_max) done_tags |= 1 << tag; }
/** Of the tags in `mask`, those out and not yet ended. */
@inline export function tags_waiting(mask: u32): u32 { return (out_tags & ~done_tags) & mask; }
/** The tags in `mask` are no longer the director's business. */
@inline export function release(mask: u32): void { out_tags &= ~mask; }

/** The longest a tape command may take: a full-length wind and an unload, twice over.
 * A drive that has not answered by then is taken for hung (aborted, then failed). */
@inline export const command_limit_us: i64 = 300_000_000;
/** How often the main loop looks at the time while it waits for a device. */
@inline export const watch_tick_us: i32 = 1_000_000;
/** Polls of a command the director waits for itself, at most. */
@inline const own_polls_max: u32 = 1_000_000;

/** Submit the CDB at tag's CDB area on `tag` to `target`. */
export function submit(tag: u32, target: i32, cdb_len: i32, data: usize, bytes: u32, out: bool): bool {
  out_tags |= 1 << tag;
  done_tags &= ~(1 << tag);
  let r = hal_scsi_submit(target, <i32>tag, tag_cdb(tag), cdb_len, data, <i32>bytes, out ? 1 : 0, tag_result(tag));
  if (r != 0) { out_tags &= ~(1 << tag); return false; }
  return true;
}

/** Mark a tag out after a submit of its own (scatter-gather); false undoes it. */
export function mark_out(tag: u32, submitted: bool): bool {
  if (submitted) { out_tags |= 1 << tag; done_tags &= ~(1 << tag); }
  return submitted;
}

// While the director waits for a command of its own, the server is served as far as
// a failover lets it be (index.ts: its writes taken at a reduced rate), and a replay
// of the caching disk's newest record first waits for that record to be there.
function nothing(): void {}
let serve_hook: () => void = nothing;
let settle_hook: () => void = nothing;
export function bus_hooks(serve: () => void, settle: () => void): void { serve_hook = serve; settle_hook = settle; }
export function bus_settle(): void { settle_hook(); }

/** Wait for `tag` to end, serving the server meanwhile, aborting it at `deadline_us`
 * (its end then comes with host status ABORTED, within 1 ms). true if it aborted. */
export function wait_serving(tag: u32, deadline_us: i64): bool {
  let aborted = false;
  for (let i: u32 = 0; i < own_polls_max && (done_tags & (1 << tag)) == 0; i++) {
    if (!aborted && hal_now_us() >= deadline_us) { hal_scsi_abort(<i32>tag); aborted = true; }
    hal_timer_arm(watch_tick_us);
    serve_hook(); // may arm the timer sooner
    if ((done_tags & (1 << tag)) != 0) break;
    hal_idle();
  }
  return aborted;
}

/** Let `us` pass, serving the server meanwhile (a failover's polls of a loading drive). */
export function pause_us(us: i64): void {
  let until = hal_now_us() + us;
  for (let i: u32 = 0; i < own_polls_max && hal_now_us() < until; i++) {
    let left = until - hal_now_us();
    hal_timer_arm(<i32>(left < <i64>watch_tick_us ? left : <i64>watch_tick_us));
    serve_hook(); // may arm the timer sooner
    hal_idle();
  }
}

/** Wait for a command on `tag` to end (the director's own bookkeeping). */
export function wait_tag(tag: u32): void {
  if ((out_tags & (1 << tag)) == 0) return;
  for (let i: u32 = 0; i < own_polls_max && (done_tags & (1 << tag)) == 0; i++) hal_idle();
  out_tags &= ~(1 << tag);
}

/** The own tag's CDB area, cleared. */
export function own_cdb(): usize {
  let t = tag_cdb(own_tag);
  zero(t, 16);
  return t;
}

/** Run the CDB at own_cdb() to its end; false if it failed (GOOD, or done with a
 * warning: NO SENSE, early warning, a filemark read, count as done). */
export function run_own(target: i32, cdb_len: i32, data: usize, bytes: u32, out: bool): bool {
  if (!submit(own_tag, target, cdb_len, data, bytes, out)) return false;
  wait_serving(own_tag, hal_now_us() + command_limit_us);
  out_tags &= ~(1 << own_tag);
  let res = tag_result(own_tag);
  if ((done_tags & (1 << own_tag)) == 0 || load<u8>(res + RES_HOST_STATUS) != HOST_OK) return false;
  let status = load<u8>(res + RES_STATUS);
  return status == STATUS_GOOD || (status == STATUS_CHECK_CONDITION && (load<u8>(res + RES_SENSE, 2) & 0x0f) == 0);
}

/** LOCATE(10) the drive at `target` to `object`. */
export function locate_own(target: i32, object: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_LOCATE_10);
  put_be32(t + 3, object);
  return run_own(target, 10, 0, 0, false);
}

/** READ(6), variable, SILI (a shorter block is no error), up to `bytes` into `buf`
 * from the drive at `target`; its result is at tag_result(own_tag). */
export function read_own(target: i32, buf: usize, bytes: u32): void {
  let t = own_cdb();
  store<u8>(t, OP_READ_6);
  store<u8>(t, 2, 1);
  store<u8>(t, <u8>(bytes >>> 16), 2); store<u8>(t, <u8>(bytes >>> 8), 3); store<u8>(t, <u8>bytes, 4);
  run_own(target, 6, buf, bytes, false);
}

/** A 6-byte command of the director's own: op, byte 1, byte 4. */
export function own6(target: i32, op: u8, b1: u8, b4: u8, data: usize, bytes: u32, out: bool): bool {
  let t = own_cdb();
  store<u8>(t, op); store<u8>(t, b1, 1); store<u8>(t, b4, 4);
  return run_own(target, 6, data, bytes, out);
}
