// The initiator side: commands to the disks on the device bus (tags from tags.ts),
// the synchronous form the boot and the rare main-loop chores use, and the boot probe
// that finds the disks (TEST UNIT READY, INQUIRY, READ CAPACITY (16)).

import { block_bytes, probe_reply_base, sync_cdb_base, sync_sense_base } from "../layout";
import { hal_scsi_submit, hal_idle, hal_now_us, hal_log } from "./hal";
import { timer_arm } from "./timer";
import {
  OP_TEST_UNIT_READY, OP_INQUIRY, OP_SERVICE_ACTION_IN_16, SA_READ_CAPACITY_16,
  OP_SYNCHRONIZE_CACHE_10, OP_WRITE_LONG_10, STATUS_GOOD, STATUS_CHECK_CONDITION,
  STATUS_PENDING, STATUS_BUSY, KEY_UNIT_ATTENTION, KEY_NOT_READY, be32, be64, put_be16, put_be32,
  put_be64, zero, sense_key_of,
} from "./scsi";
import {
  ERR_IO, ERR_TIMEOUT, ERR_NODEV, ERR_BUSY, ERR_INTERRUPTED, OK, LOG_DISK_FOUND, LOG_DISK_SKIPPED,
  LOG_DISK_TIMEOUT,
} from "./errors";
import { HOST_OK, HOST_SELECTION_TIMEOUT } from "./abi";
import {
  tag_alloc, tag_arm, tag_free, tag_cdb, tag_result, tag_done, tag_status, tag_host_status,
  tag_sense, abort_tag, OWNER_SYNC, TAG_NONE,
} from "./tags";
import {
  luns_max, lun_set, LUN_READY, LUN_ABSENT, lun_set_identity, counter_add, CNT_DISK_COMMANDS,
  st_timer_fired, st_set_timer_fired,
} from "../state";
import { label_read } from "./label";
import { array_submit, array_poll, array_target } from "../array/array";

// ---- limits --------------------------------------------------------------------------

/** Device-bus IDs probed at boot: 0..6 (ID 7 is the controller itself). */
@inline export const targets_max: u32 = 7;
/** A synchronous command's first deadline; a disk spins up within it or is retried.
 * Each retry after a time-out doubles it (2, 4, 8, 16 s: 30 s in all before a disk
 * is given up), so a disk that is slow now and then (an error recovery of a few
 * seconds, and the commands queued behind it) is not taken for a hung one. */
@inline const sync_timeout_us: i64 = 2_000_000;
/** After an abort, the wait for its completion (the HAL promises 1 ms). */
@inline const abort_wait_us: i64 = 50_000;
/** Interrupts a synchronous wait may take before it gives up (each idle returns on
 * one); far above what the deadline allows at the board's interrupt rates. */
@inline const sync_wakeups_max: u32 = 100_000;
/** TEST UNIT READY attempts per disk: unit attentions and "becoming ready". With
 * the retry delay this waits up to 30 s for a disk to spin up. */
@inline const tur_attempts_max: u32 = 300;
/** Attempts that time out before a disk is skipped (a disk busy with a command it
 * takes long over answers a later one late too); the deadline doubles each time. */
@inline const tur_timeouts_max: u32 = 4;
/** Pause between TEST UNIT READY attempts when the disk is becoming ready. */
@inline const tur_retry_delay_us: i32 = 100_000;

// ---- asynchronous commands ---------------------------------------------------------------

/** Queue the CDB already built at tag_cdb(tag). OK, or ERR_IO with nothing queued. */
export function disk_submit(
  tag: u32, target: u32, cdb_len: u32, data: usize, bytes: u32, data_out: bool,
): i32 {
  tag_arm(tag, STATUS_PENDING);
  if (target == array_target) return array_submit(tag, data, bytes, 0, 0);
  let r = hal_scsi_submit(
    <i32>target, <i32>tag, tag_cdb(tag), <i32>cdb_len, data, <i32>bytes,
    data_out ? 1 : 0, tag_result(tag),
  );
  if (r != 0) return ERR_IO;
  counter_add(CNT_DISK_COMMANDS, 1);
  return OK;
}

// ---- CDB builders --------------------------------------------------------------------

export function cdb_rw16(p: usize, opcode: u8, lba: u64, blocks: u32, fua: bool): void {
  zero(p, 16);
  store<u8>(p, opcode, 0);
  store<u8>(p, fua ? 0x08 : 0, 1);
  put_be64(p + 2, lba);
  put_be32(p + 10, blocks);
}

export function cdb_sync_cache10(p: usize, lba: u32, blocks: u32): void {
  zero(p, 16);
  store<u8>(p, OP_SYNCHRONIZE_CACHE_10, 0);
  put_be32(p + 2, lba);
  put_be16(p + 7, blocks);
}

export function cdb_write_long_uncor(p: usize, lba: u32): void {
  zero(p, 16);
  store<u8>(p, OP_WRITE_LONG_10, 0);
  store<u8>(p, 0x40, 1); // WR_UNCOR
  put_be32(p + 2, lba);
}

// ---- synchronous commands (boot, and rare main-loop chores) ------------------------------

/** The result of the last synchronous command: its sense, kept until the next one. */
let sync_sense_at: usize = 0;
@inline export function sync_sense(): usize { return sync_sense_at; }

/** While the main loop waits here, the timer fires at least this often: its handler
 * has work that must not wait for the main loop (it ends a learn cycle on time). */
@inline const wait_tick_us: i64 = 10_000;

/** Arm the timer for the next wake-up of a wait that ends at end_us. */
@inline function arm_wait(now: i64, end_us: i64): void {
  let d = end_us - now;
  st_set_timer_fired(false);
  timer_arm(<i32>(d < wait_tick_us ? d : wait_tick_us));
}

/** Sleep for delay_us (main loop only). */
function sleep_us(delay_us: i32): void {
  let end = hal_now_us() + <i64>delay_us;
  for (let wakeups: u32 = 0; wakeups < sync_wakeups_max; wakeups++) {
    let now = hal_now_us();
    if (now >= end) break;
    arm_wait(now, end);
    hal_idle();
  }
  timer_arm(0);
  st_set_timer_fired(false);
}

/** Wait (main loop) until the tag is done or the clock passes deadline_us. */
function wait_done(tag: u32, deadline_us: i64): bool {
  let wakeups: u32 = 0;
  while (!tag_done(tag)) {
    let now = hal_now_us();
    if (now >= deadline_us || wakeups >= sync_wakeups_max) return false;
    // A command to the array completes only as the array runs.
    if (array_poll()) { wakeups++; continue; }
    arm_wait(now, deadline_us);
    hal_idle();
    wakeups++;
  }
  timer_arm(0);
  return true;
}

/** Run one command (its CDB copied from `cdb`) and wait for it. Returns the SCSI
 * status, or a negative error: ERR_NODEV for a selection time-out, ERR_TIMEOUT past the
 * deadline (the command is aborted and its tag freed), ERR_BUSY if no tag is free,
 * ERR_INTERRUPTED if a bus reset ended it (the disk lost power), ERR_IO for any other
 * bus failure. The sense of a CHECK CONDITION is copied to sync_sense(). */
export function disk_exec_sync(
  target: u32, cdb: usize, cdb_len: u32, data: usize, bytes: u32, data_out: bool,
  timeout_us: i64 = sync_timeout_us,
): i32 {
  let tag = tag_alloc(OWNER_SYNC, 0);
  if (tag == TAG_NONE) return ERR_BUSY;
  for (let i: u32 = 0; i < 16; i++) store<u8>(tag_cdb(tag) + i, load<u8>(cdb + i));
  if (disk_submit(tag, target, cdb_len, data, bytes, data_out) != OK) {
    tag_free(tag);
    return ERR_IO;
  }
  if (!wait_done(tag, hal_now_us() + timeout_us)) {
    hal_log(LOG_DISK_TIMEOUT, <i32>target, load<u8>(cdb));
    abort_tag(tag);
    // The abort's completion frees the tag; a bus that broke its promise keeps it.
    if (wait_done(tag, hal_now_us() + abort_wait_us)) tag_free(tag);
    return ERR_TIMEOUT;
  }
  let host = tag_host_status(tag);
  let status = tag_status(tag);
  for (let i: u32 = 0; i < 24; i++) store<u8>(sync_sense_buf + i, load<u8>(tag_sense(tag) + i));
  sync_sense_at = sync_sense_buf;
  tag_free(tag);
  if (host == HOST_SELECTION_TIMEOUT) return ERR_NODEV;
  if (host != HOST_OK) return ERR_INTERRUPTED;
  return <i32>status;
}

/** disk_exec_sync, again while the disk is not there yet: a bus reset (its power
 * dipped), a unit attention, a disk becoming ready or BUSY every tur_retry_delay_us,
 * up to tur_attempts_max times (30 s, longer than a spin-up); a command past its
 * deadline at once, with twice the deadline, up to tur_timeouts_max times. With
 * `resend` false, a command that went out and whose outcome is unknown (it timed out,
 * or a bus reset ended it) is not sent again: the caller finds out what happened.
 * Returns
 * as disk_exec_sync. */
export function disk_exec_patient(
  target: u32, cdb: usize, cdb_len: u32, data: usize, bytes: u32, data_out: bool,
  resend: bool = true,
): i32 {
  let st: i32 = ERR_IO;
  let timeouts: u32 = 0;
  for (let attempt: u32 = 0; attempt < tur_attempts_max; attempt++) {
    st = disk_exec_sync(target, cdb, cdb_len, data, bytes, data_out, sync_timeout_us << <i64>timeouts);
    if (!resend && (st == ERR_TIMEOUT || st == ERR_INTERRUPTED)) return st;
    if (st == STATUS_BUSY || st == ERR_INTERRUPTED || st == ERR_BUSY) { sleep_us(tur_retry_delay_us); continue; }
    if (st == ERR_TIMEOUT) { if (++timeouts < tur_timeouts_max) continue; return st; }
    if (st != STATUS_CHECK_CONDITION) return st;
    let key = sense_key_of(sync_sense());
    if (key == KEY_UNIT_ATTENTION) continue;
    if (key != KEY_NOT_READY) return st;
    sleep_us(tur_retry_delay_us);
  }
  return st;
}
@inline const sync_sense_buf: usize = sync_sense_base;

/** Where callers build the CDB of a synchronous command (layout.ts). */
@inline export const sync_cdb: usize = sync_cdb_base;

/** TEST UNIT READY until GOOD, through unit attentions and spin-up. */
function disk_wait_ready(target: u32): i32 {
  zero(sync_cdb, 16);
  store<u8>(sync_cdb, OP_TEST_UNIT_READY);
  let st = disk_exec_patient(target, sync_cdb, 6, 0, 0, false);
  if (st < 0) return st;
  return st == STATUS_GOOD ? OK : ERR_IO;
}

/** Find the disk at `target`: ready, a direct-access device of 512-byte blocks.
 * Returns its last LBA, or 0 if there is none fit to use. */
export function disk_probe_one(target: u32): u64 {
  let buf = probe_reply_base;
  if (disk_wait_ready(target) != OK) return 0;
  zero(sync_cdb, 16);
  store<u8>(sync_cdb, OP_INQUIRY);
  store<u8>(sync_cdb, 36, 4);
  zero(buf, 36);
  if (disk_exec_patient(target, sync_cdb, 6, buf, 36, false) != STATUS_GOOD) return 0;
  // Peripheral qualifier 0 and device type 0 (direct access block device) only:
  // tape drives and changers on the same bus are not LUNs.
  if (load<u8>(buf) != 0) {
    hal_log(LOG_DISK_SKIPPED, <i32>target, load<u8>(buf));
    return 0;
  }
  zero(sync_cdb, 16);
  store<u8>(sync_cdb, OP_SERVICE_ACTION_IN_16);
  store<u8>(sync_cdb, SA_READ_CAPACITY_16, 1);
  put_be32(sync_cdb + 10, 32);
  zero(buf, 32);
  if (disk_exec_patient(target, sync_cdb, 16, buf, 32, false) != STATUS_GOOD) return 0;
  let last_lba = be64(buf);
  let lba_bytes = be32(buf + 8);
  if (lba_bytes != block_bytes || last_lba == 0 || last_lba == u64.MAX_VALUE) {
    hal_log(LOG_DISK_SKIPPED, <i32>target, <i32>lba_bytes);
    return 0;
  }
  return last_lba;
}

/** Probe targets 0..targets_max-1 and present each 512-byte-block disk as the LUN
 * with its target's number, so a LUN keeps its number when another disk is missing.
 * Returns the number of LUN slots (highest LUN found + 1). */
export function disks_probe(store_id: u64): u32 {
  let luns: u32 = 0;
  if (targets_max > luns_max) ERROR("a LUN per target");
  for (let target: u32 = 0; target < luns_max; target++) lun_set(target, target, LUN_ABSENT, 0);
  for (let target: u32 = 0; target < targets_max; target++) {
    let last_lba = disk_probe_one(target);
    if (last_lba == 0) continue;
    // The last block holds the controller's label; the LUN is one block shorter.
    lun_set(target, target, LUN_READY, last_lba);
    lun_set_identity(target, label_read(target, last_lba, store_id));
    hal_log(LOG_DISK_FOUND, <i32>target, <i32>last_lba);
    luns = target + 1;
  }
  return luns;
}
