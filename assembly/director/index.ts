// The backup director (seed 004), first version: it stands between the backup server
// (the mailbox) and a tape drive (device bus target 0, through the fabric), mimics the
// drive's identity with its own fixed serial (the real one in vendor VPD page C0h,
// [029]), and writes every block the server writes both to the drive and to its
// caching disk (target 2), acknowledging when both have it ([024], [026]). The
// caching disk holds an exact image of each medium ([026]): every block and filemark
// as a record with a header saying which medium, which object, and how long
// (docs/DIRECTOR.md "The image"), made durable at the server's filemarks. Commands
// run one at a time, in the server's order, as a tape needs. Not yet: the failover of
// FIGS. 6A-6F and 7A-7C (docs/DIRECTOR.md "What comes next").

import {
  hal_scsi_submit, hal_scsi_submit_sg, hal_scsi_abort, hal_host_complete, hal_idle, hal_delay_us, hal_log, hal_now_us,
  hal_timer_arm,
} from "../base/hal";
import { crc32c } from "../base/crc32c";
import {
  MB_LUN, MB_CDB, MB_CDB_LEN, MB_STATUS, MB_SENSE_LEN, MB_SENSE, MB_DATA_BYTES, MB_DATA,
  RES_STATUS, RES_HOST_STATUS, RES_SENSE_LEN, RES_SENSE, RES_RESIDUAL, HOST_OK, LOG_DIRECTOR_FAILOVER,
} from "../base/abi";
import {
  STATUS_GOOD, STATUS_CHECK_CONDITION, KEY_ILLEGAL_REQUEST, KEY_HARDWARE_ERROR, ASC_LUN_NOT_SUPPORTED,
  ASC_INVALID_FIELD_IN_CDB, ASC_LUN_FAILURE, sense_build, zero, copy, put_be32, put_be64, put_be16, be32,
} from "../base/scsi";
import {
  mailbox_base, mailbox_slots, mailbox_slot_bytes, mailbox_data_bytes, tags_base, tags_max, tag_bytes,
  tag_cdb_at, tag_result_at, own_buf, own_buf_bytes, drive_serial_base, drive_serial_bytes,
  cache_hdr_base, cache_sg_base, index_base, index_entries, index_entry_bytes, replay_buf, replay_buf_bytes,
} from "./layout";

// ---- the board (docs/DIRECTOR.md "The installation") ----------------------------------

/** Device bus IDs: the drive the director starts on, the changer, the caching disk,
 * the spare drive (zoned to the director on the switch from the start). */
@inline const T_PRIMARY: i32 = 0;
@inline const T_CHANGER: i32 = 1;
@inline const T_CACHE: i32 = 2;
@inline const T_SPARE: i32 = 3;
/** The changer's element addresses of the robot, the drive the server knows (its
 * drive element, whichever drive is behind it), and the spare drive. */
@inline const ELEM_TRANSPORT: u32 = 0x0000;
@inline const ELEM_SERVER_DRIVE: u32 = 0x0100;
@inline const ELEM_SPARE: u32 = 0x0102;
/** The director's spare tape: the last storage slot. */
@inline const ELEM_SPARE_TAPE: u32 = 0x100f;
/** The drive in use: its bus ID and changer element. */
let drive_target: i32 = T_PRIMARY;
let drive_elem: u32 = ELEM_SERVER_DRIVE;
let spare_used = false;
let failovers: u32 = 0;
@inline const BLOCK: u32 = 512;

/** The identity the server sees, whichever drive is behind (INQUIRY, VPD 80h). */
const VENDOR_PRODUCT = "IBM     ULT3580-TD5     H5T1";
const MIMIC_SERIAL = "HUDIR00001";

// SSC opcodes the director looks at.
@inline const OP_INQUIRY: u8 = 0x12;
@inline const OP_READ_BLOCK_LIMITS: u8 = 0x05;
@inline const OP_WRITE_6: u8 = 0x0a;
@inline const OP_MODE_SELECT_6: u8 = 0x15;
@inline const OP_READ_CAPACITY_10: u8 = 0x25;
@inline const OP_WRITE_16: u8 = 0x8a;
@inline const OP_WRITE_FILEMARKS_6: u8 = 0x10;
@inline const OP_READ_POSITION: u8 = 0x34;
@inline const OP_SYNCHRONIZE_CACHE_10: u8 = 0x35;
@inline const OP_LOAD_UNLOAD: u8 = 0x1b;
@inline const OP_MOVE_MEDIUM: u8 = 0xa5;
@inline const OP_READ_ELEMENT_STATUS: u8 = 0xb8;
/** Barcodes (volume tags): 32 bytes in an element descriptor, from byte 12. */
@inline const VOLTAG_BYTES: u32 = 32;
@inline const OP_TEST_UNIT_READY: u8 = 0x00;
@inline const OP_SPACE_6: u8 = 0x11;
@inline const OP_READ_16: u8 = 0x88;

// ---- mailbox slots and tags ------------------------------------------------------------

@inline function slot_at(s: u32): usize { return mailbox_base + s * mailbox_slot_bytes; }
@inline function tag_at(t: u32): usize { return tags_base + t * tag_bytes; }
/** A slot's drive command goes on tag s, its cache write on tag s + mailbox_slots. */
@inline function drive_tag(s: u32): u32 { return s; }
@inline function cache_tag(s: u32): u32 { return s + mailbox_slots; }
if (<u32>2 * mailbox_slots + 1 > tags_max) ERROR("director: two tags a slot and its own");

/** Doorbells rung (bit per slot), in the order they came: the queue of slot numbers. */
let rung: u32 = 0;
let order: u32 = 0;       // 4 bits a slot, oldest in the low bits
let queued: u32 = 0;
/** Tags whose command ended (bit per tag), and tags out. */
let done_tags: u32 = 0;
let out_tags: u32 = 0;
/** The slot being served (mailbox_slots: none). */
let current: u32 = mailbox_slots;
/** The fixed block size the drive was set to (0: variable). */
let block_size: u32 = 0;
/** The caching disk: its size (blocks) and where the next record goes. */
let cache_blocks: u64 = 0;
let cache_head: u64 = 0;
let blocks_cached: u64 = 0;
/** The medium in the drive (counted from 1 at boot: a new one after an unload, or
 * when the drive reports one loaded), the drive's position on it as the director
 * knows it, and the image's record sequence. */
let medium: u32 = 1;
let pos: u32 = 0;
let record_seq: u32 = 0;

// The image's record header (one 512-byte block before the record's data).
@inline const IMG_MAGIC: u32 = 0x49435548; // "HUCI"
@inline const IMG_DATA: u16 = 1;
@inline const IMG_FILEMARKS: u16 = 2;
/** Everything of the medium from `object` on is gone (a write the drive refused). */
@inline const IMG_TRUNCATE: u16 = 3;

export function irq_doorbell(slot: i32): void {
  if (<u32>slot >= mailbox_slots || (rung & (1 << slot)) != 0) return;
  rung |= 1 << slot;
  order |= <u32>slot << (queued * 4);
  queued++;
}

export function irq_scsi(tag: i32): void {
  if (<u32>tag < tags_max) done_tags |= 1 << tag;
}

export function irq_timer(): void {}
/** The director keeps nothing across a power loss yet: nothing to save. */
export function irq_pfail(): void {}

export function mailbox_addr(): usize { return mailbox_base; }
export function mailbox_slot_count(): u32 { return mailbox_slots; }
export function mailbox_slot_size(): u32 { return mailbox_slot_bytes; }
export function mailbox_data_size(): u32 { return mailbox_data_bytes; }
export function blocks_in_cache(): u64 { return blocks_cached; }
export function failover_count(): u32 { return failovers; }

// ---- device commands ---------------------------------------------------------------------

/** Submit cdb (at tag's CDB area) on `tag` to `target`. */
function submit(tag: u32, target: i32, cdb_len: i32, data: usize, bytes: u32, out: bool): bool {
  out_tags |= 1 << tag;
  done_tags &= ~(1 << tag);
  let r = hal_scsi_submit(target, <i32>tag, tag_at(tag) + tag_cdb_at, cdb_len, data, <i32>bytes, out ? 1 : 0, tag_at(tag) + tag_result_at);
  if (r != 0) { out_tags &= ~(1 << tag); return false; }
  return true;
}

/** Polls of a command the director waits for itself (boot), at most. */
@inline const own_polls_max: u32 = 1_000_000;

/** Run one command of the director's own to its end; false if it failed. */
function run_own(target: i32, cdb_len: i32, data: usize, bytes: u32, out: bool): bool {
  let tag = tags_max - 1;
  if (!submit(tag, target, cdb_len, data, bytes, out)) return false;
  wait_or_abort(tag, hal_now_us() + command_limit_us);
  out_tags &= ~(1 << tag);
  let res = tag_at(tag) + tag_result_at;
  if ((done_tags & (1 << tag)) == 0 || load<u8>(res + RES_HOST_STATUS) != HOST_OK) return false;
  let status = load<u8>(res + RES_STATUS);
  // GOOD, or done with a warning (NO SENSE: early warning, a filemark read).
  return status == STATUS_GOOD || (status == STATUS_CHECK_CONDITION && (load<u8>(res + RES_SENSE, 2) & 0x0f) == 0);
}

/** The longest a tape command may take: a full-length wind and an unload, twice over.
 * A drive that has not answered by then is taken for hung (aborted, then failed). */
@inline const command_limit_us: i64 = 300_000_000;
/** How often the main loop looks at the time while it waits for a device. */
@inline const watch_tick_us: i32 = 1_000_000;

/** Wait for `tag` to end, aborting it at `deadline_us` (its end then comes with host
 * status ABORTED, within 1 ms). */
function wait_or_abort(tag: u32, deadline_us: i64): void {
  let aborted = false;
  for (let i: u32 = 0; i < own_polls_max && (done_tags & (1 << tag)) == 0; i++) {
    if (!aborted && hal_now_us() >= deadline_us) { hal_scsi_abort(<i32>tag); aborted = true; }
    hal_timer_arm(watch_tick_us);
    hal_idle();
  }
}

/** Wait for a command on `tag` to end (the director's own bookkeeping). */
function wait_tag(tag: u32): void {
  if ((out_tags & (1 << tag)) == 0) return;
  for (let i: u32 = 0; i < own_polls_max && (done_tags & (1 << tag)) == 0; i++) hal_idle();
  out_tags &= ~(1 << tag);
}

/** Boot: the real drive's serial (VPD 80h) and the caching disk's size. */
function boot(): void {
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_INQUIRY); store<u8>(t, 1, 1); store<u8>(t, 0x80, 2); put_be16(t + 3, own_buf_bytes);
  zero(drive_serial_base, drive_serial_bytes);
  if (run_own(T_PRIMARY, 6, own_buf, own_buf_bytes, false)) {
    let n = <u32>load<u8>(own_buf, 3);
    copy(drive_serial_base, own_buf + 4, n < drive_serial_bytes ? n : drive_serial_bytes);
  }
  // The caching disk answers its first command with UNIT ATTENTION (power on), and
  // NOT READY while it spins up: asked again.
  for (let tries: u32 = 0; tries < boot_tries_max && cache_blocks == 0; tries++) {
    zero(t, 16);
    store<u8>(t, OP_READ_CAPACITY_10);
    if (run_own(T_CACHE, 10, own_buf, 8, false)) cache_blocks = <u64>be32(own_buf) + 1;
  }
}
/** Tries of a boot command that a disk may refuse while it comes up. */
@inline const boot_tries_max: u32 = 50;

export function main(): void {
  boot();
  while (true) {
    if (!poll()) hal_idle();
  }
}

// ---- serving the server -----------------------------------------------------------------

/** One step of the main loop; true if it did something. */
export function poll(): bool {
  if (current == mailbox_slots) return start_next();
  let s = current;
  let dt = drive_tag(s), ct = cache_tag(s);
  let waiting = (out_tags & ~done_tags) & ((1 << dt) | (1 << ct));
  if (waiting != 0) {
    // A drive that does not answer within command_limit_us is hung: the command is
    // aborted, and its end (host status ABORTED) starts a failover.
    if ((waiting & (1 << dt)) != 0 && !current_aborted && hal_now_us() - current_started_us >= command_limit_us) {
      hal_scsi_abort(<i32>dt);
      current_aborted = true;
    }
    hal_timer_arm(watch_tick_us);
    return false;
  }
  complete_forwarded(s);
  return true;
}
let current_started_us: i64 = 0;
let current_aborted = false;

function start_next(): bool {
  if (queued == 0) return false;
  let s = order & 15;
  order >>>= 4;
  queued--;
  rung &= ~(1 << s);
  current = s;
  current_started_us = hal_now_us();
  current_aborted = false;
  start(s);
  return true;
}

/** Finish slot s now with `status` (sense already at the slot for a CHECK CONDITION). */
function finish(s: u32, status: u8, data_in: u32): void {
  let p = slot_at(s);
  store<u8>(p + MB_STATUS, status);
  store<u8>(p + MB_SENSE_LEN, status == STATUS_CHECK_CONDITION ? 18 : 0);
  store<u32>(p + MB_DATA_BYTES, data_in);
  out_tags &= ~((1 << drive_tag(s)) | (1 << cache_tag(s)));
  current = mailbox_slots;
  hal_host_complete(<i32>s);
}

function fail(s: u32, key: u8, asc: u16, byte: i32): void {
  sense_build(slot_at(s) + MB_SENSE, key, asc, byte, -1);
  finish(s, STATUS_CHECK_CONDITION, 0);
}

function start(s: u32): void {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  let op = load<u8>(cdb);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  let lun = load<u8>(p + MB_LUN);
  if (lun == 1) { start_changer(s); return; }
  if (lun != 0) { fail(s, KEY_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, -1); return; }
  if (op == OP_INQUIRY) { inquiry(s); return; }
  if (op == OP_READ_BLOCK_LIMITS) {
    // The largest block the mailbox takes, whatever the drive could.
    let d = p + MB_DATA;
    zero(d, 6);
    put_be32(d, mailbox_data_bytes);
    store<u8>(d, 0);
    put_be16(d + 4, 1);
    finish(s, STATUS_GOOD, host_bytes < 6 ? host_bytes : 6);
    return;
  }
  // Everything else goes to the drive as it came; a write also to the caching disk.
  let len = <i32>load<u8>(p + MB_CDB_LEN);
  copy(tag_at(drive_tag(s)) + tag_cdb_at, cdb, 16);
  let data_out = op == OP_MODE_SELECT_6;
  if (op == OP_WRITE_6) {
    let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
    let bytes = (load<u8>(cdb, 1) & 1) != 0 ? n * block_size : n;
    if (bytes > mailbox_data_bytes || bytes > host_bytes) { fail(s, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 2); return; }
    cache_record(s, IMG_DATA, pos, 1, p + MB_DATA, bytes);
    if (!submit(drive_tag(s), drive_target, len, p + MB_DATA, bytes, true)) { fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1); return; }
    return;
  }
  if (op == OP_WRITE_FILEMARKS_6) {
    let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
    if (n > 0) cache_record(s, IMG_FILEMARKS, pos, n, 0, 0);
  }
  if (op == OP_MODE_SELECT_6 && host_bytes >= 12) {
    block_size = (<u32>load<u8>(p + MB_DATA, 9) << 16) | (<u32>load<u8>(p + MB_DATA, 10) << 8) | <u32>load<u8>(p + MB_DATA, 11);
  }
  if (!submit(drive_tag(s), drive_target, len, p + MB_DATA, host_bytes < mailbox_data_bytes ? host_bytes : mailbox_data_bytes, data_out)) {
    fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1);
  }
}

/** Build slot s's image record header: `kind`, at object `object`, `count` objects,
 * `bytes` of data (none for filemarks). */
function image_header(s: u32, kind: u16, object: u32, count: u32, data: usize, bytes: u32): usize {
  let h = cache_hdr_base + s * BLOCK;
  zero(h, BLOCK);
  store<u32>(h, IMG_MAGIC);
  store<u16>(h, 1, 4);
  store<u16>(h, kind, 6);
  store<u32>(h, medium, 8);
  store<u32>(h, object, 12);
  store<u32>(h, count, 16);
  store<u32>(h, bytes, 20);
  store<u32>(h, ++record_seq, 24);
  // The header's own CRC (its 28 bytes): a CRC of the data would cost the MCU 9
  // cycles a byte, three times the drive's time for a 4 KiB record; a sector the
  // disk tore reads back as an error instead.
  store<u32>(h, crc32c(h, 28, 0), 28);
  return h;
}

/** A record to the caching disk at its head (circular, the whole disk): the header
 * block, then the data padded to whole blocks, in one WRITE(16) on slot s's cache tag.
 * Into the disk's write cache (with FUA each 4 KiB write would wait a revolution:
 * 0.5 MB/s against the drive's 39); the server's filemarks make it durable. */
function cache_record(s: u32, kind: u16, object: u32, count: u32, data: usize, bytes: u32): void {
  if (cache_blocks == 0) return;
  let h = image_header(s, kind, object, count, data, bytes);
  let data_blocks = (bytes + BLOCK - 1) / BLOCK;
  let blocks = <u64>(1 + data_blocks);
  if (cache_head + blocks > cache_blocks) cache_head = 0;
  let sg = cache_sg_base + s * 16;
  store<u32>(sg, <u32>h);
  store<u32>(sg, BLOCK, 4);
  store<u32>(sg, <u32>data, 8);
  store<u32>(sg, data_blocks * BLOCK, 12);
  let t = tag_at(cache_tag(s)) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_WRITE_16);
  put_be64(t + 2, cache_head);
  put_be32(t + 10, <u32>blocks);
  let tag = cache_tag(s);
  out_tags |= 1 << tag;
  done_tags &= ~(1 << tag);
  if (hal_scsi_submit_sg(T_CACHE, <i32>tag, t, 16, sg, data_blocks > 0 ? 2 : 1, 1, tag_at(tag) + tag_result_at) != 0) {
    out_tags &= ~(1 << tag);
    return;
  }
  index_add(kind, object, count, bytes, cache_head);
  cache_head += blocks;
  blocks_cached += blocks;
}

// ---- the index of the newest records (for a failover's replay) --------------------------

let index_next: u32 = 0;
let index_used: u32 = 0;

@inline function index_at(k: u32): usize { return index_base + (k % index_entries) * index_entry_bytes; }

function index_add(kind: u16, object: u32, count: u32, bytes: u32, lba: u64): void {
  let e = index_at(index_next++);
  store<u32>(e, object);
  store<u32>(e, <u32>lba, 4);
  store<u32>(e, bytes, 8);
  store<u16>(e, kind, 12);
  store<u16>(e, <u16>(count < 0xffff ? count : 0xffff), 14);
  if (index_used < index_entries) index_used++;
}

/** Forget the index: a new medium (records of the old one never replay onto it). */
function index_clear(): void {
  index_used = 0;
  medium_start = cache_head;
}
/** Where the medium in use's first record is on the caching disk. */
let medium_start: u64 = 0;

/** The caching disk's write cache to its media (the server's filemark: a sync point). */
function cache_sync(): void {
  if (cache_blocks == 0) return;
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_SYNCHRONIZE_CACHE_10);
  run_own(T_CACHE, 10, own_buf, 0, false);
}

/** Ask the drive where it is (after a command that may have moved the tape). */
function query_position(): void {
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_READ_POSITION);
  if (run_own(drive_target, 10, own_buf, 20, false)) pos = be32(own_buf + 4);
}

/** The drive's answer is the server's (the cache write's is the director's business). */
function complete_forwarded(s: u32): void {
  let p = slot_at(s);
  let res = tag_at(drive_tag(s)) + tag_result_at;
  let lun = load<u8>(p + MB_LUN);
  let drive_failed = load<u8>(res + RES_HOST_STATUS) != HOST_OK ||
    (load<u8>(res + RES_STATUS) == STATUS_CHECK_CONDITION && (load<u8>(res + RES_SENSE, 2) & 0x0f) == KEY_HARDWARE_ERROR);
  if (lun == 0 && drive_failed) {
    // FIGS. 6A-6F: the server's command waits (its acknowledgement delayed) while the
    // director takes the spare drive, has the robot move the tape there, and writes
    // what the failed drive's buffer lost from the image; then the command runs again.
    // A drive the director aborted (hung) will not answer an unload either.
    if (failover(current_aborted)) { current_started_us = hal_now_us(); current_aborted = false; start(s); return; }
    fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1);
    return;
  }
  if (load<u8>(res + RES_HOST_STATUS) != HOST_OK) { fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1); return; }
  let status = load<u8>(res + RES_STATUS);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  let residual = load<u32>(res + RES_RESIDUAL);
  let moved = host_bytes > residual ? host_bytes - residual : 0;
  let op = load<u8>(p + MB_CDB);
  let data_in = op == OP_WRITE_6 || op == OP_MODE_SELECT_6 ? 0 : moved;
  let key: u8 = 0;
  if (status == STATUS_CHECK_CONDITION) {
    let n = <u32>load<u8>(res + RES_SENSE_LEN);
    zero(p + MB_SENSE, 18);
    copy(p + MB_SENSE, res + RES_SENSE, n < 18 ? n : 18);
    key = load<u8>(p + MB_SENSE, 2) & 0x0f;
    // UNIT ATTENTION, NOT READY TO READY: the changer put a medium in.
    if (key == 0x6 && load<u8>(p + MB_SENSE, 12) == 0x28) { medium++; pos = 0; index_clear(); }
  }
  if (lun == 0) track(s, op, status, key);
  else if (op == OP_READ_ELEMENT_STATUS && status == STATUS_GOOD) relabel(p + MB_DATA, data_in);
  finish(s, status, data_in);
}

// ---- the changer, through the director ----------------------------------------------------

/** LUN 1: the changer, as the server knows it: its drive element is whichever drive
 * the director uses now ([030]). */
function start_changer(s: u32): void {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  let t = tag_at(drive_tag(s)) + tag_cdb_at;
  copy(t, cdb, 16);
  if (load<u8>(cdb) == OP_MOVE_MEDIUM) {
    if (((<u32>load<u8>(t, 4) << 8) | <u32>load<u8>(t, 5)) == ELEM_SERVER_DRIVE) put_be16(t + 4, drive_elem);
    if (((<u32>load<u8>(t, 6) << 8) | <u32>load<u8>(t, 7)) == ELEM_SERVER_DRIVE) put_be16(t + 6, drive_elem);
  }
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  if (!submit(drive_tag(s), T_CHANGER, <i32>load<u8>(p + MB_CDB_LEN), p + MB_DATA,
    host_bytes < mailbox_data_bytes ? host_bytes : mailbox_data_bytes, false)) {
    fail(s, KEY_HARDWARE_ERROR, ASC_LUN_FAILURE, -1);
  }
}

/** The spare tape's barcode and the original's it stands for ([030]): after a
 * failover onto the spare tape the changer reports it under the original's barcode. */
let swapped = false;
const barcode_base: usize = memory.data(2 * VOLTAG_BYTES);

/** In READ ELEMENT STATUS data (SMC-3 §6.10), the spare tape's barcode becomes the
 * original's. Bounded by the data's own lengths. */
function relabel(d: usize, n: u32): void {
  if (!swapped || n < 8) return;
  let at: u32 = 8;
  for (let pages: u32 = 0; pages < 8 && at + 8 <= n; pages++) {
    let vol = (load<u8>(d + at + 1) & 0x80) != 0;
    let len = (<u32>load<u8>(d + at + 2) << 8) | <u32>load<u8>(d + at + 3);
    let bytes = (<u32>load<u8>(d + at + 5) << 16) | (<u32>load<u8>(d + at + 6) << 8) | <u32>load<u8>(d + at + 7);
    let p = at + 8;
    let end = p + bytes < n ? p + bytes : n;
    for (let k: u32 = 0; k < 256 && vol && len >= 12 + VOLTAG_BYTES && p + len <= end; k++) {
      let tag = d + p + 12;
      let same = true;
      for (let i: u32 = 0; i < VOLTAG_BYTES && same; i++) if (load<u8>(tag + i) != load<u8>(barcode_base + i)) same = false;
      if (same) copy(tag, barcode_base + VOLTAG_BYTES, VOLTAG_BYTES);
      p += len;
    }
    if (len == 0) break;
    at = end;
  }
}

/** Read one element's volume tag (READ ELEMENT STATUS, VOLTAG) into dst. */
function read_voltag(elem: u32, dst: usize): bool {
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_READ_ELEMENT_STATUS);
  store<u8>(t, 0x10, 1);
  put_be16(t + 2, elem);
  put_be16(t + 4, 1);
  put_be16(t + 8, own_buf_bytes); // allocation length (bytes 7..9)
  if (!run_own(T_CHANGER, 12, own_buf, own_buf_bytes, false)) return false;
  // Header 8, page header 8, then the descriptor: its tag at 12.
  if ((load<u8>(own_buf + 9) & 0x80) == 0) return false;
  copy(dst, own_buf + 16 + 12, VOLTAG_BYTES);
  return true;
}

// ---- failover (FIGS. 6A-6F) -----------------------------------------------------------------

/** Polls of the spare drive while it loads (TEST UNIT READY every 0.5 s: a minute). */
@inline const ready_polls_max: u32 = 120;

/** One command of the director's own on the CDB at the own tag: OK or not. */
function own6(target: i32, op: u8, b1: u8, b4: u8, data: usize, bytes: u32, out: bool): bool {
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, op); store<u8>(t, b1, 1); store<u8>(t, b4, 4);
  return run_own(target, 6, data, bytes, out);
}

/** Move a cartridge with the robot: from element `from` to `to`. */
function move(from: u32, to: u32): bool {
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_MOVE_MEDIUM);
  put_be16(t + 2, ELEM_TRANSPORT);
  put_be16(t + 4, from);
  put_be16(t + 6, to);
  return run_own(T_CHANGER, 12, own_buf, 0, false);
}

/** The drive in use failed: take the spare drive and make it hold the medium as the
 * server believes it is ([031]-[033]):
 *  - the failed drive gives the tape up (a failed write channel still unloads): the
 *    robot moves it to the spare, which gets back from the image what the failed
 *    drive's buffer lost (the records from the tape's new end of data to the server's
 *    position);
 *  - the tape will not come out: the robot loads the director's spare tape, which
 *    gets the whole image of the medium written to it; it goes where the server puts
 *    its tape from now on (the server's drive element is the spare's).
 * A hung drive (`hung`: the director aborted its command) keeps its tape. false if
 * that cannot be done (no spare drive or tape left, the robot failed): the server is
 * told then. */
function failover(hung: bool): bool {
  if (spare_used) return false;
  let whole = hung || !own6(drive_target, OP_LOAD_UNLOAD, 0, 0, own_buf, 0, false);
  if (whole) {
    // The spare tape will stand for the one stuck in the failed drive: their barcodes.
    swapped = read_voltag(ELEM_SPARE_TAPE, barcode_base) && read_voltag(drive_elem, barcode_base + VOLTAG_BYTES);
  }
  if (!move(whole ? ELEM_SPARE_TAPE : drive_elem, ELEM_SPARE)) return false;
  spare_used = true;
  drive_target = T_SPARE;
  drive_elem = ELEM_SPARE;
  // The spare loads the tape (12 s); its first answers are NOT READY, then UNIT
  // ATTENTION.
  let ready = false;
  for (let i: u32 = 0; i < ready_polls_max && !ready; i++) {
    ready = own6(drive_target, OP_TEST_UNIT_READY, 0, 0, own_buf, 0, false);
    if (!ready) hal_delay_us(500_000);
  }
  if (!ready) return false;
  // The block size the server set.
  zero(own_buf, 12);
  store<u8>(own_buf + 3, 8);
  store<u8>(own_buf + 9, <u8>(block_size >>> 16)); store<u8>(own_buf + 10, <u8>(block_size >>> 8)); store<u8>(own_buf + 11, <u8>block_size);
  if (!own6(drive_target, OP_MODE_SELECT_6, 0x10, 12, own_buf, 12, true)) return false;
  let replayed: u32 = 0;
  let objects: u32 = 0;
  if (whole) {
    let r = replay_medium();
    if (r < 0) return false;
    replayed = <u32>r;
    objects = pos;
  } else {
    // To the end of data: what reached the medium (the failed drive's buffer is lost).
    if (!own6(drive_target, OP_SPACE_6, 3, 0, own_buf, 0, false)) return false;
    let saved = pos;
    query_position();
    let eod = pos;
    pos = saved;
    // The image's records from there to the server's position, oldest first.
    let n = index_used;
    for (let k: u32 = 0; k < n; k++) {
      let e = index_at(index_next - n + k);
      let object = load<u32>(e);
      let kind = load<u16>(e, 12);
      if (kind == 0 || object < eod || object >= pos) continue;
      if (!replay(e)) return false;
      replayed += load<u32>(e, 8);
    }
    objects = pos - eod;
  }
  failovers++;
  hal_log(LOG_DIRECTOR_FAILOVER, <i32>objects, <i32>replayed);
  return true;
}

/** Write the whole image of the medium in use onto the (blank) tape in the drive in
 * use: every record of it on the caching disk from where the medium began, in order,
 * each at its object. The bytes written, or -1. */
function replay_medium(): i64 {
  if (medium_start > cache_head) return -1; // the ring wrapped within the medium: not kept whole
  let at = medium_start;
  let written: i64 = 0;
  let tape_pos: u32 = 0;
  for (let steps: u64 = 0; steps < cache_blocks && at < cache_head; steps++) {
    let t = tag_at(tags_max - 1) + tag_cdb_at;
    zero(t, 16);
    store<u8>(t, OP_READ_16);
    put_be64(t + 2, at);
    put_be32(t + 10, 1);
    if (!run_own(T_CACHE, 16, own_buf, BLOCK, false)) return -1;
    if (load<u32>(own_buf) != IMG_MAGIC || crc32c(own_buf, 28, 0) != load<u32>(own_buf, 28)) return -1;
    let kind = load<u16>(own_buf, 6);
    let rec_medium = load<u32>(own_buf, 8);
    let object = load<u32>(own_buf, 12);
    let count = load<u32>(own_buf, 16);
    let bytes = load<u32>(own_buf, 20);
    let blocks = (bytes + BLOCK - 1) / BLOCK;
    at += 1 + <u64>blocks;
    // The medium's records up to the server's position (the held command's own record
    // is written by the command itself when it runs again).
    if (rec_medium != medium || object >= pos) continue;
    if (kind == IMG_TRUNCATE) continue;
    if (object != tape_pos) {
      // A record placed before the end (a rewrite): there first.
      zero(t, 16);
      store<u8>(t, 0x2b);
      put_be32(t + 3, object);
      if (!run_own(drive_target, 10, own_buf, 0, false)) return -1;
      tape_pos = object;
    }
    if (kind == IMG_FILEMARKS) {
      zero(t, 16);
      store<u8>(t, OP_WRITE_FILEMARKS_6); store<u8>(t, 1, 1);
      store<u8>(t, <u8>(count >>> 16), 2); store<u8>(t, <u8>(count >>> 8), 3); store<u8>(t, <u8>count, 4);
      if (!run_own(drive_target, 6, own_buf, 0, false)) return -1;
      tape_pos += count;
      continue;
    }
    if (kind != IMG_DATA || bytes > replay_buf_bytes) return -1;
    zero(t, 16);
    store<u8>(t, OP_READ_16);
    put_be64(t + 2, at - <u64>blocks);
    put_be32(t + 10, blocks);
    if (!run_own(T_CACHE, 16, replay_buf, blocks * BLOCK, false)) return -1;
    zero(t, 16);
    store<u8>(t, OP_WRITE_6);
    store<u8>(t, <u8>(bytes >>> 16), 2); store<u8>(t, <u8>(bytes >>> 8), 3); store<u8>(t, <u8>bytes, 4);
    if (!run_own(drive_target, 6, replay_buf, bytes, true)) return -1;
    tape_pos++;
    written += <i64>bytes;
  }
  return written;
}

/** Write one indexed record to the drive in use: a block read back from the caching
 * disk, or filemarks. */
function replay(e: usize): bool {
  let kind = load<u16>(e, 12);
  let bytes = load<u32>(e, 8);
  if (kind == IMG_FILEMARKS) {
    let n = <u32>load<u16>(e, 14);
    let t = tag_at(tags_max - 1) + tag_cdb_at;
    zero(t, 16);
    store<u8>(t, OP_WRITE_FILEMARKS_6); store<u8>(t, 1, 1);
    store<u8>(t, <u8>(n >>> 16), 2); store<u8>(t, <u8>(n >>> 8), 3); store<u8>(t, <u8>n, 4);
    return run_own(drive_target, 6, own_buf, 0, false);
  }
  if (kind != IMG_DATA || bytes > replay_buf_bytes) return kind == IMG_TRUNCATE;
  let blocks = (bytes + BLOCK - 1) / BLOCK;
  let t = tag_at(tags_max - 1) + tag_cdb_at;
  zero(t, 16);
  store<u8>(t, OP_READ_16);
  put_be64(t + 2, <u64>load<u32>(e, 4) + 1);
  put_be32(t + 10, blocks);
  if (!run_own(T_CACHE, 16, replay_buf, blocks * BLOCK, false)) return false;
  zero(t, 16);
  store<u8>(t, OP_WRITE_6);
  store<u8>(t, <u8>(bytes >>> 16), 2); store<u8>(t, <u8>(bytes >>> 8), 3); store<u8>(t, <u8>bytes, 4);
  return run_own(drive_target, 6, replay_buf, bytes, true);
}

/** The drive's position after slot s's command, and the image's view of it. */
function track(s: u32, op: u8, status: u8, key: u8): void {
  let cdb = slot_at(s) + MB_CDB;
  if (op == OP_WRITE_6) {
    // Taken: GOOD, or early warning (NO SENSE with EOM). Anything else did not write
    // the block (the end of the medium, an error): the image drops it again.
    if (status == STATUS_GOOD || key == 0) pos++;
    else { cache_record(s, IMG_TRUNCATE, pos, 0, 0, 0); wait_tag(cache_tag(s)); }
    return;
  }
  if (op == OP_WRITE_FILEMARKS_6) {
    let n = (<u32>load<u8>(cdb, 2) << 16) | (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
    if (status == STATUS_GOOD || key == 0) pos += n;
    else query_position();
    // Without IMMED the server asks for everything to be on the medium: the image too.
    if ((load<u8>(cdb, 1) & 1) == 0) cache_sync();
    return;
  }
  if (op == OP_LOAD_UNLOAD && status == STATUS_GOOD && (load<u8>(cdb, 4) & 1) == 0) {
    medium++;
    pos = 0;
    index_clear();
    return;
  }
  if (op == 0x01 || op == 0x2b || op == 0x11 || op == 0x08 || op == OP_LOAD_UNLOAD) query_position();
}

function inquiry(s: u32): void {
  let p = slot_at(s);
  let cdb = p + MB_CDB;
  let d = p + MB_DATA;
  let alloc = (<u32>load<u8>(cdb, 3) << 8) | <u32>load<u8>(cdb, 4);
  let host_bytes = load<u32>(p + MB_DATA_BYTES);
  let cap = alloc < host_bytes ? alloc : host_bytes;
  zero(d, 96);
  if ((load<u8>(cdb, 1) & 1) != 0) {
    let page = load<u8>(cdb, 2);
    if (page == 0x80 || page == 0xc0) {
      store<u8>(d, 0x01);
      store<u8>(d, page, 1);
      store<u8>(d, <u8>drive_serial_bytes, 3);
      if (page == 0x80) { for (let i = 0; i < MIMIC_SERIAL.length; i++) store<u8>(d + 4 + i, <u8>MIMIC_SERIAL.charCodeAt(i)); }
      else copy(d + 4, drive_serial_base, drive_serial_bytes);
      let n: u32 = 4 + drive_serial_bytes;
      finish(s, STATUS_GOOD, n < cap ? n : cap);
      return;
    }
    fail(s, KEY_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 2);
    return;
  }
  store<u8>(d, 0x01);      // sequential-access device
  store<u8>(d, 0x80, 1);   // removable
  store<u8>(d, 0x06, 2);   // SPC-4
  store<u8>(d, 0x02, 3);
  store<u8>(d, 91, 4);
  for (let i = 0; i < VENDOR_PRODUCT.length; i++) store<u8>(d + 8 + i, <u8>VENDOR_PRODUCT.charCodeAt(i));
  finish(s, STATUS_GOOD, cap < 96 ? cap : 96);
}
