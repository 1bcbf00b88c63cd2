// The initiator side: tagged commands to the disks on the device bus, and the boot
// probe that finds them (TEST UNIT READY, INQUIRY, READ CAPACITY (16)).

import {
  tags_base, tags_max, tag_bytes, scratch_base, block_bytes, label_base,
} from "./layout";
import { crc32c } from "./crc32c";
import {
  hal_scsi_submit, hal_idle, hal_now_us, hal_timer_arm, hal_log,
} from "./hal";
import {
  OP_TEST_UNIT_READY, OP_INQUIRY, OP_SERVICE_ACTION_IN_16, SA_READ_CAPACITY_16,
  OP_SYNCHRONIZE_CACHE_10, OP_READ_16, OP_WRITE_16, OP_WRITE_LONG_10,
  STATUS_GOOD, STATUS_CHECK_CONDITION, STATUS_PENDING, KEY_UNIT_ATTENTION,
  KEY_NOT_READY, be32, be64, put_be16, put_be32, put_be64, zero, sense_key_of,
} from "./scsi";
import {
  ERR_IO, ERR_TIMEOUT, ERR_NODEV, ERR_BUSY, OK, LOG_DISK_FOUND, LOG_DISK_SKIPPED,
} from "./errors";
import {
  tag_busy, set_tag_busy, tag_done, set_tag_done, luns_max, lun_set, LUN_READY, LUN_ABSENT,
  lun_set_identity, ID_OK, ID_BLANK, ID_FOREIGN, ID_WRONG_SLOT, ID_UNREADABLE,
  counter_add, CNT_DISK_COMMANDS, st_timer_fired, st_set_timer_fired, st_power_epoch,
} from "./state";

// ---- limits --------------------------------------------------------------------------

/** Device-bus IDs probed at boot: 0..6 (ID 7 is the controller itself). */
@inline export const targets_max: u32 = 7;
/** The tag the boot probe and other synchronous commands use. */
@inline export const tag_sync: u32 = tags_max - 1;
/** A synchronous command's deadline; a disk spins up within it or is skipped. */
@inline const sync_timeout_us: i64 = 2_000_000;
/** Interrupts a synchronous wait may take before it gives up (each idle returns on
 * one); far above what the deadline allows at the board's interrupt rates. */
@inline const sync_wakeups_max: u32 = 100_000;
/** TEST UNIT READY attempts per disk: unit attentions and "becoming ready". With
 * the retry delay this waits up to 30 s for a disk to spin up. */
@inline const tur_attempts_max: u32 = 300;
/** Pause between TEST UNIT READY attempts when the disk is becoming ready. */
@inline const tur_retry_delay_us: i32 = 100_000;

// ---- tag records ------------------------------------------------------------------------
// @0 CDB (16) | @16 result record (32, written by the bus) | @49 destage run length u8
// @50 power epoch at submit u8 | @56 destage run LBA u64

@inline export function tag_at(tag: u32): usize { return tags_base + tag * tag_bytes; }
@inline export function tag_cdb(tag: u32): usize { return tag_at(tag); }
@inline export function tag_result(tag: u32): usize { return tag_at(tag) + 16; }
@inline export function tag_status(tag: u32): u8 { return load<u8>(tag_result(tag), 0); }
@inline export function tag_host_status(tag: u32): u8 { return load<u8>(tag_result(tag), 1); }
/** Sense bytes from the disk, fixed format, within the result record. */
@inline export function tag_sense(tag: u32): usize { return tag_result(tag) + 8; }
/** The power epoch when the command went out (st_power_epoch). */
@inline export function tag_epoch(tag: u32): u8 { return load<u8>(tag_at(tag), 50); }
@inline export function tag_set_epoch(tag: u32): void { store<u8>(tag_at(tag), st_power_epoch(), 50); }
/** Did a power event happen while the command was out? */
@inline export function tag_straddled_power(tag: u32): bool { return tag_epoch(tag) != st_power_epoch(); }

/** Host status values the bus writes into the result record (docs/HAL.md). */
@inline export const HOST_OK: u8 = 0;
@inline export const HOST_SELECTION_TIMEOUT: u8 = 1;
@inline export const HOST_ABORTED: u8 = 2;

if (tag_bytes < 50) ERROR("tag record too small");

/** Queue the CDB already built at tag_cdb(tag). */
export function disk_submit(
  tag: u32, target: u32, cdb_len: u32, data: usize, bytes: u32, data_out: bool,
): i32 {
  if (tag >= tags_max) return ERR_BUSY;
  if (tag_busy(tag)) return ERR_BUSY;
  store<u8>(tag_result(tag), STATUS_PENDING, 0);
  set_tag_done(tag, false);
  set_tag_busy(tag, true);
  tag_set_epoch(tag);
  let r = hal_scsi_submit(
    <i32>target, <i32>tag, tag_cdb(tag), <i32>cdb_len, data, <i32>bytes,
    data_out ? 1 : 0, tag_result(tag),
  );
  if (r != 0) {
    set_tag_busy(tag, false);
    return ERR_IO;
  }
  counter_add(CNT_DISK_COMMANDS, 1);
  return OK;
}

/** Release a tag whose completion has been handled. */
@inline export function tag_release(tag: u32): void {
  set_tag_done(tag, false);
  set_tag_busy(tag, false);
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

// ---- synchronous commands (boot) ---------------------------------------------------------

/** Run one command on tag_sync and wait for it: the SCSI status, or a negative
 * error (ERR_NODEV for a selection timeout, ERR_TIMEOUT past the deadline). */
export function disk_exec_sync(
  target: u32, cdb_len: u32, data: usize, bytes: u32, data_out: bool,
): i32 {
  let tag = tag_sync;
  let err = disk_submit(tag, target, cdb_len, data, bytes, data_out);
  if (err != OK) return err;
  let deadline_us = hal_now_us() + sync_timeout_us;
  st_set_timer_fired(false);
  hal_timer_arm(<i32>sync_timeout_us);
  let wakeups: u32 = 0;
  while (!tag_done(tag)) {
    if (hal_now_us() >= deadline_us || wakeups >= sync_wakeups_max) {
      hal_timer_arm(0);
      // The tag stays busy: the command is still out on the bus.
      return ERR_TIMEOUT;
    }
    hal_idle();
    wakeups++;
  }
  hal_timer_arm(0);
  st_set_timer_fired(false);
  let host = tag_host_status(tag);
  let status = tag_status(tag);
  tag_release(tag);
  if (host == HOST_SELECTION_TIMEOUT) return ERR_NODEV;
  if (host != HOST_OK) return ERR_IO;
  return <i32>status;
}

/** Sleep on the timer for delay_us (boot only; the main loop never sleeps). */
function sleep_us(delay_us: i32): void {
  st_set_timer_fired(false);
  hal_timer_arm(delay_us);
  let wakeups: u32 = 0;
  while (!st_timer_fired() && wakeups < sync_wakeups_max) {
    hal_idle();
    wakeups++;
  }
  st_set_timer_fired(false);
}

/** TEST UNIT READY until GOOD, through unit attentions and spin-up. */
function disk_wait_ready(target: u32): i32 {
  for (let attempt: u32 = 0; attempt < tur_attempts_max; attempt++) {
    let cdb = tag_cdb(tag_sync);
    zero(cdb, 16);
    store<u8>(cdb, OP_TEST_UNIT_READY);
    let st = disk_exec_sync(target, 6, 0, 0, false);
    if (st < 0) return st;
    if (st == STATUS_GOOD) return OK;
    if (st != STATUS_CHECK_CONDITION) return ERR_IO;
    let key = sense_key_of(tag_sense(tag_sync));
    if (key == KEY_NOT_READY) sleep_us(tur_retry_delay_us);
    else if (key != KEY_UNIT_ATTENTION) return ERR_IO;
  }
  return ERR_TIMEOUT;
}

/** Probe targets 0..targets_max-1 and present each 512-byte-block disk as the LUN
 * with its target's number, so a LUN keeps its number when another disk is missing.
 * Returns the number of LUN slots (highest LUN found + 1). */
export function disks_probe(store_id: u64): u32 {
  let luns: u32 = 0;
  let buf = scratch_base;
  if (targets_max > luns_max) ERROR("a LUN per target");
  for (let target: u32 = 0; target < targets_max; target++) {
    lun_set(target, target, LUN_ABSENT, 0);
    if (disk_wait_ready(target) != OK) continue;

    let cdb = tag_cdb(tag_sync);
    zero(cdb, 16);
    store<u8>(cdb, OP_INQUIRY);
    store<u8>(cdb, 36, 4);
    zero(buf, 36);
    if (disk_exec_sync(target, 6, buf, 36, false) != STATUS_GOOD) continue;
    // Peripheral qualifier 0 and device type 0 (direct access block device) only:
    // tape drives and changers on the same bus are not LUNs.
    if (load<u8>(buf) != 0) {
      hal_log(LOG_DISK_SKIPPED, <i32>target, load<u8>(buf));
      continue;
    }

    zero(cdb, 16);
    store<u8>(cdb, OP_SERVICE_ACTION_IN_16);
    store<u8>(cdb, SA_READ_CAPACITY_16, 1);
    put_be32(cdb + 10, 32);
    zero(buf, 32);
    if (disk_exec_sync(target, 16, buf, 32, false) != STATUS_GOOD) continue;
    let last_lba = be64(buf);
    let lba_bytes = be32(buf + 8);
    if (lba_bytes != block_bytes || last_lba == u64.MAX_VALUE) {
      hal_log(LOG_DISK_SKIPPED, <i32>target, <i32>lba_bytes);
      continue;
    }
    // The last block holds the controller's label; the LUN is one block shorter.
    lun_set(target, target, LUN_READY, last_lba);
    lun_set_identity(target, label_read(target, last_lba, store_id));
    hal_log(LOG_DISK_FOUND, <i32>target, <i32>last_lba);
    luns = target + 1;
  }
  return luns;
}

// ---- identity labels (seed 000 claims 33, 52) --------------------------------------
// The last block of every disk this controller has bound carries its label:
//   @0 "HOLDUPID" | @8 version u32 | @12 bus ID u32 | @16 store id u64 | @508 CRC-32C

@inline const label_version: u32 = 1;
@inline const label_crc_at: u32 = 508;

function label_magic_ok(p: usize): bool {
  return load<u64>(p) == 0x44495055444c4f48; // "HOLDUPID" little-endian
}

/** Read the label block and say what it is to us. */
export function label_read(target: u32, label_lba: u64, store_id: u64): u8 {
  let cdb = tag_cdb(tag_sync);
  cdb_rw16(cdb, OP_READ_16, label_lba, 1, false);
  if (disk_exec_sync(target, 16, label_base, block_bytes, false) != STATUS_GOOD) return ID_UNREADABLE;
  let blank = true;
  for (let i: u32 = 0; i < block_bytes; i += 8) {
    if (load<u64>(label_base + i) != 0) { blank = false; break; }
  }
  if (blank) return ID_BLANK;
  if (!label_magic_ok(label_base)) return ID_FOREIGN;
  if (crc32c(label_base, label_crc_at, 0) != load<u32>(label_base + label_crc_at)) return ID_FOREIGN;
  if (load<u64>(label_base, 16) != store_id) return ID_FOREIGN;
  if (load<u32>(label_base, 12) != target) return ID_WRONG_SLOT;
  return ID_OK;
}

/** Write our label to the disk (durably: FUA). OK or an error. */
export function label_write(target: u32, label_lba: u64, store_id: u64): i32 {
  zero(label_base, block_bytes);
  store<u64>(label_base, 0x44495055444c4f48);
  store<u32>(label_base, label_version, 8);
  store<u32>(label_base, target, 12);
  store<u64>(label_base, store_id, 16);
  store<u32>(label_base + label_crc_at, crc32c(label_base, label_crc_at, 0));
  let cdb = tag_cdb(tag_sync);
  cdb_rw16(cdb, OP_WRITE_16, label_lba, 1, true);
  if (disk_exec_sync(target, 16, label_base, block_bytes, true) != STATUS_GOOD) return ERR_IO;
  // FUA, and a cache flush too: the label decides whether an image is replayed, so it
  // must be on the media even on a disk that treats FUA loosely.
  cdb_sync_cache10(cdb, <u32>label_lba, 1);
  return disk_exec_sync(target, 10, 0, 0, false) == STATUS_GOOD ? OK : ERR_IO;
}
