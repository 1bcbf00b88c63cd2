// The image of each medium on the caching disk ([026]; docs/DIRECTOR.md "The image"):
// every block and filemark the server writes becomes a record at the disk's head (the
// disk from block 2 on is a ring; blocks 0-1 are the state: state.ts), a 512-byte
// header then the data; a RAM index of the newest records; the replays a failover
// needs: the records from a tape's end of data to the server's position, or the whole
// medium onto a blank tape; and, after a boot, reading on the records the state block
// does not know yet. This file also keeps what the director knows of the medium in
// use: which one, the server's position on it, and the block size the server set.

import { hal_scsi_submit_sg } from "../base/hal";
import { crc32c } from "../base/crc32c";
import { zero, copy, equal, put_be32, put_be64, be32, STATUS_GOOD } from "../base/scsi";
import { MB_HOST_TAG, RES_STATUS, RES_HOST_STATUS, RES_SENSE, RES_RESIDUAL, HOST_OK } from "../base/abi";
import {
  mailbox_base, mailbox_slot_bytes, mailbox_data_bytes, scan_buf, scan_buf_blocks, own_buf, cache_hdr_base, cache_sg_base, index_base, index_entries, index_entry_bytes, replay_buf, replay_buf_bytes,
} from "./layout";
import {
  T_CACHE, BLOCK, CACHE_RING_START, OP_READ_CAPACITY_10, OP_SYNCHRONIZE_CACHE_10, OP_READ_16, OP_WRITE_16, OP_WRITE_6,
  OP_WRITE_FILEMARKS_6,
} from "./board";
import { cache_tag, tag_cdb, tag_result, mark_out, own_cdb, run_own, own_tag, locate_own, read_own } from "./bus";

// The record header (one 512-byte block before the record's data).
@inline const IMG_MAGIC: u32 = 0x49435548; // "HUCI"
@inline const IMG_VERSION: u16 = 2;
@inline const HDR_CRC_AT: u32 = 32;
@inline export const IMG_DATA: u16 = 1;
@inline export const IMG_FILEMARKS: u16 = 2;
/** Everything of the medium from `object` on is gone (a write the drive refused). */
@inline export const IMG_TRUNCATE: u16 = 3;

/** The caching disk: its size (blocks) and where the next record goes (the ring
 * starts after the two state blocks: state.ts). */
let cache_blocks: u64 = 0;
let cache_head: u64 = CACHE_RING_START;
let blocks_cached: u64 = 0;
let record_seq: u32 = 0;
/** The medium in the drive (counted from 1 at boot: a new one after an unload, or
 * when the drive reports one loaded), the drive's position on it as the director
 * knows it, where its first record is on the caching disk, and the block size the
 * server set (0: variable). */
let medium: u32 = 1;
let pos: u32 = 0;
let medium_start: u64 = CACHE_RING_START;
let block_size: u32 = 0;
/** The server's command reference number (its mailbox host tag) of the newest write
 * or filemark recorded: a command re-sent after a takeover with this number or a
 * smaller one was done. */
let last_crn: u32 = 0;
/** Records since the state block was last written, and whether it is due. */
let records_since_state: u32 = 0;
let state_due = false;
/** Every record of the medium since it began is in the index, until it wraps (not so
 * after a boot that found the image: state.ts). */
let index_whole = true;
/** The image holds the medium from its first object (a blank tape, or one read whole
 * at its load: load.ts); else a failover cannot write the whole medium elsewhere. */
let medium_whole = true;

/** The state block is written at least this often (records): the scan after a
 * takeover reads at most this many headers, and twice over. */
@inline export const state_every_records: u32 = 256;
@inline export function image_state_due(): bool { return state_due; }
/** Something the state block holds changed (a failover, a new medium). */
export function image_mark_state(): void { state_due = true; }
export function image_state_saved(): void { state_due = false; records_since_state = 0; }
@inline export function image_head(): u64 { return cache_head; }
@inline export function image_seq(): u32 { return record_seq; }
@inline export function image_medium(): u32 { return medium; }
@inline export function image_medium_start(): u64 { return medium_start; }
@inline export function image_last_crn(): u32 { return last_crn; }
export function image_set_last_crn(c: u32): void { if (c > last_crn) last_crn = c; }
@inline export function image_whole(): bool { return medium_whole; }
export function image_set_whole(w: bool): void { medium_whole = w; state_due = true; }

@inline export function image_pos(): u32 { return pos; }
export function image_set_pos(p: u32): void { pos = p; }
export function image_advance(n: u32): void { pos += n; }
@inline export function image_block_size(): u32 { return block_size; }
export function image_set_block_size(b: u32): void { block_size = b; }
@inline export function image_blocks_cached(): u64 { return blocks_cached; }
/** The caching disk answered at boot: records can be kept. */
@inline export function image_ready(): bool { return cache_blocks > 0; }

/** A new medium in the drive: at its beginning, its records from the head on. */
export function image_new_medium(): void {
  medium++;
  pos = 0;
  index_used = 0;
  index_whole = true;
  medium_whole = true;
  medium_start = cache_head;
  state_due = true;
}

/** Tries of a boot command that a disk may refuse while it comes up. */
@inline const boot_tries_max: u32 = 50;

/** Boot: the caching disk's size. It answers its first command with UNIT ATTENTION
 * (power on), and NOT READY while it spins up: asked again. */
export function image_boot(): void {
  for (let tries: u32 = 0; tries < boot_tries_max && cache_blocks == 0; tries++) {
    let t = own_cdb();
    store<u8>(t, OP_READ_CAPACITY_10);
    if (run_own(T_CACHE, 10, own_buf, 8, false)) cache_blocks = <u64>be32(own_buf) + 1;
  }
}

/** Build slot s's record header: `kind`, at object `object`, `count` objects, `bytes`
 * of data. */
function header(s: u32, crn: u32, kind: u16, object: u32, count: u32, bytes: u32): usize {
  let h = cache_hdr_base + s * BLOCK;
  zero(h, BLOCK);
  store<u32>(h, IMG_MAGIC);
  store<u16>(h, IMG_VERSION, 4);
  store<u16>(h, kind, 6);
  store<u32>(h, medium, 8);
  store<u32>(h, object, 12);
  store<u32>(h, count, 16);
  store<u32>(h, bytes, 20);
  store<u32>(h, ++record_seq, 24);
  // The server's number for the command: a block or filemark of it is done; a
  // truncation undoes its command's block (it was refused), so it is not.
  store<u32>(h, crn, 28);
  note_crn(kind, crn);
  // The header's own CRC (its 32 bytes): a CRC of the data would cost the MCU 9
  // cycles a byte, three times the drive's time for a 4 KiB record; a sector the
  // disk tore reads back as an error instead.
  store<u32>(h, crc32c(h, HDR_CRC_AT, 0), HDR_CRC_AT);
  return h;
}

/** A record to the caching disk at its head: the header block, then the data padded
 * to whole blocks, in one WRITE(16) on slot s's cache tag. Into the disk's write cache
 * (with FUA each 4 KiB write would wait a revolution: 0.5 MB/s against the drive's
 * 39); the server's filemarks make it durable (image_sync). */
export function image_record(s: u32, kind: u16, object: u32, count: u32, data: usize, bytes: u32): bool {
  return record(s, load<u32>(mailbox_base + s * mailbox_slot_bytes + MB_HOST_TAG), kind, object, count, data, bytes);
}

/** image_record for a record of the director's own (a load's read): no command number. */
export function image_record_own(s: u32, kind: u16, object: u32, count: u32, data: usize, bytes: u32): bool {
  return record(s, 0, kind, object, count, data, bytes);
}

function record(s: u32, crn: u32, kind: u16, object: u32, count: u32, data: usize, bytes: u32): bool {
  if (cache_blocks == 0) return false;
  let h = header(s, crn, kind, object, count, bytes);
  let data_blocks = (bytes + BLOCK - 1) / BLOCK;
  let blocks = <u64>(1 + data_blocks);
  if (cache_head + blocks > cache_blocks) cache_head = CACHE_RING_START;
  let sg = cache_sg_base + s * 16;
  store<u32>(sg, <u32>h);
  store<u32>(sg, BLOCK, 4);
  store<u32>(sg, <u32>data, 8);
  store<u32>(sg, data_blocks * BLOCK, 12);
  let tag = cache_tag(s);
  let t = tag_cdb(tag);
  zero(t, 16);
  store<u8>(t, OP_WRITE_16);
  put_be64(t + 2, cache_head);
  put_be32(t + 10, <u32>blocks);
  let ok = hal_scsi_submit_sg(T_CACHE, <i32>tag, t, 16, sg, data_blocks > 0 ? 2 : 1, 1, tag_result(tag)) == 0;
  if (!mark_out(tag, ok)) return false;
  index_add(kind, object, count, bytes, cache_head);
  cache_head += blocks;
  blocks_cached += blocks;
  if (++records_since_state >= state_every_records) state_due = true;
  return true;
}

/** The caching disk's write cache to its media (the server's filemark: a sync point). */
export function image_sync(): void {
  if (cache_blocks == 0) return;
  let t = own_cdb();
  store<u8>(t, OP_SYNCHRONIZE_CACHE_10);
  run_own(T_CACHE, 10, own_buf, 0, false);
}

// ---- the index of the newest records (a failover's replay) --------------------------------

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

// ---- replays ---------------------------------------------------------------------------------

// The caching disk is read back through a window of scan_buf_blocks blocks: a replay
// reads its records in order, three or more a command (each command waits about a
// revolution for its first block).
let win_lba: u64 = 0;
let win_blocks: u32 = 0;

/** The address of block `lba`, with `blocks` blocks after it, in the window (read
 * from `lba` on if they are not all there); 0 if the disk refused. */
function window(lba: u64, blocks: u32): usize {
  if (win_blocks == 0 || lba < win_lba || lba + <u64>blocks > win_lba + <u64>win_blocks) {
    let n: u64 = <u64>scan_buf_blocks;
    if (lba + n > cache_blocks) n = lba < cache_blocks ? cache_blocks - lba : 0;
    win_blocks = 0;
    if (n < <u64>blocks || n == 0) return 0;
    let t = own_cdb();
    store<u8>(t, OP_READ_16);
    put_be64(t + 2, lba);
    put_be32(t + 10, <u32>n);
    if (!run_own(T_CACHE, 16, scan_buf, <u32>n * BLOCK, false)) return 0;
    win_lba = lba;
    win_blocks = <u32>n;
  }
  return <usize>scan_buf + <usize>(lba - win_lba) * <usize>BLOCK;
}

/** A data record's `bytes` at `data` to the drive at `target`. */
function write_block(target: i32, data: usize, bytes: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_WRITE_6);
  store<u8>(t, <u8>(bytes >>> 16), 2); store<u8>(t, <u8>(bytes >>> 8), 3); store<u8>(t, <u8>bytes, 4);
  return run_own(target, 6, data, bytes, true);
}

function write_filemarks(target: i32, n: u32): bool {
  let t = own_cdb();
  store<u8>(t, OP_WRITE_FILEMARKS_6); store<u8>(t, 1, 1);
  store<u8>(t, <u8>(n >>> 16), 2); store<u8>(t, <u8>(n >>> 8), 3); store<u8>(t, <u8>n, 4);
  return run_own(target, 6, own_buf, 0, false);
}

/** The indexed records from object `eod` to the server's position, oldest first, to
 * the drive at `target` (what a failed drive's buffer lost). The bytes written, or -1. */
export function image_replay_tail(target: i32, eod: u32): i64 {
  let n = index_used;
  // The index holds the newest records only: when its oldest is past eod (it wrapped
  // within what must be written back), or it began after the medium did (a boot that
  // found the image), the records come from the caching disk.
  if (!index_whole || (n == index_entries && load<u32>(index_at(index_next - n)) > eod)) return image_replay_from(target, eod);
  let written: i64 = 0;
  win_blocks = 0; // records were written since the last read-back
  for (let k: u32 = 0; k < n; k++) {
    let e = index_at(index_next - n + k);
    let object = load<u32>(e);
    let kind = load<u16>(e, 12);
    let bytes = load<u32>(e, 8);
    if (object < eod || object >= pos || kind == IMG_TRUNCATE) continue;
    if (kind == IMG_FILEMARKS) {
      if (!write_filemarks(target, <u32>load<u16>(e, 14))) return -1;
      continue;
    }
    if (kind != IMG_DATA || bytes > mailbox_data_bytes) return -1;
    let d = window(<u64>load<u32>(e, 4) + 1, (bytes + BLOCK - 1) / BLOCK);
    if (d == 0 || !write_block(target, d, bytes)) return -1;
    written += <i64>bytes;
  }
  return written;
}

/** Objects before a tape's end of data read back and compared with the image after
 * the tape moved to the spare drive ([053] step 615). */
@inline const verify_objects: u32 = 4;

/** The newest index entry of a record placed at object k (0: none). */
function index_find(k: u32): usize {
  let n = index_used;
  for (let i: u32 = 0; i < n; i++) {
    let e = index_at(index_next - 1 - i);
    if (load<u16>(e, 12) != IMG_TRUNCATE && load<u32>(e) == k) return e;
  }
  return 0;
}

/** [053] step 615: the last objects before `eod` on the tape in the drive at `target`,
 * read back and compared with the image: the first that differs (a block the failed
 * drive tore as it failed) is where writing must go on; `eod` if all match, or if the
 * image cannot say (not in the index). The drive is left anywhere: locate first. */
export function image_verify(target: i32, eod: u32): u32 {
  let from = eod > verify_objects ? eod - verify_objects : 0;
  for (let k = from; k < eod; k++) if (index_find(k) == 0) return eod;
  if (!locate_own(target, from)) return eod;
  win_blocks = 0;
  for (let k = from; k < eod; k++) {
    let e = index_find(k);
    read_own(target, replay_buf, replay_buf_bytes);
    let r = tag_result(own_tag);
    if (load<u8>(r + RES_HOST_STATUS) != HOST_OK) return k;
    let sense2 = load<u8>(r + RES_SENSE, 2);
    let good = load<u8>(r + RES_STATUS) == STATUS_GOOD;
    let filemark = !good && (sense2 & 0x8f) == 0x80;
    if (load<u16>(e, 12) == IMG_FILEMARKS) { if (!filemark) return k; continue; }
    if (!good && (sense2 & 0xef) != 0) return k; // anything but a block (or a shorter one)
    if (filemark) return k;
    let bytes = load<u32>(e, 8);
    if (replay_buf_bytes - load<u32>(r + RES_RESIDUAL) != bytes) return k;
    let d = window(<u64>load<u32>(e, 4) + 1, (bytes + BLOCK - 1) / BLOCK);
    if (d == 0 || !equal(d, replay_buf, bytes)) return k;
  }
  return eod;
}

/** The whole image of the medium in use onto the (blank) tape in the drive at
 * `target`: every record of it on the caching disk from where the medium began, in
 * order, each at its object, up to the server's position (the held command's own
 * record is written by the command itself when it runs again). The bytes written, or
 * -1. */
export function image_replay_medium(target: i32): i64 { return image_replay_from(target, 0); }

/** The image from object `from` on (the tape in the drive at `target` is there, and
 * holds what comes before), read from the caching disk: image_replay_medium's scan,
 * records before `from` passed over. */
export function image_replay_from(target: i32, from: u32): i64 {
  if (medium_start > cache_head) return -1; // the ring wrapped within the medium: not kept whole
  let at = medium_start;
  let written: i64 = 0;
  let tape_pos: u32 = from;
  win_blocks = 0; // records were written since the last read-back
  for (let steps: u64 = 0; steps < cache_blocks && at < cache_head; steps++) {
    let h = window(at, 1);
    if (h == 0 || !header_valid(h)) return -1;
    let kind = load<u16>(h, 6);
    let rec_medium = load<u32>(h, 8);
    let object = load<u32>(h, 12);
    let count = load<u32>(h, 16);
    let bytes = load<u32>(h, 20);
    let blocks = (bytes + BLOCK - 1) / BLOCK;
    at += 1 + <u64>blocks;
    if (rec_medium != medium || object >= pos || kind == IMG_TRUNCATE) continue;
    if (object < from) {
      // Before `from`: on the tape already; filemarks that reach past it, the rest.
      if (kind != IMG_FILEMARKS || object + count <= from) continue;
      count -= from - object;
      object = from;
    }
    if (object != tape_pos) {
      // A record placed before the end (a rewrite): there first.
      if (!locate_own(target, object)) return -1;
      tape_pos = object;
    }
    if (kind == IMG_FILEMARKS) {
      if (!write_filemarks(target, count)) return -1;
      tape_pos += count;
      continue;
    }
    if (kind != IMG_DATA || bytes > mailbox_data_bytes) return -1;
    let d = window(at - <u64>blocks, blocks);
    if (d == 0 || !write_block(target, d, bytes)) return -1;
    tape_pos++;
    written += <i64>bytes;
  }
  return written;
}

function note_crn(kind: u16, crn: u32): void {
  if (crn == 0) return;
  if (kind != IMG_TRUNCATE) { if (crn > last_crn) last_crn = crn; }
  else if (crn == last_crn) last_crn = crn - 1;
}

function header_valid(h: usize): bool {
  return load<u32>(h) == IMG_MAGIC && load<u16>(h, 4) == IMG_VERSION && crc32c(h, HDR_CRC_AT, 0) == load<u32>(h, HDR_CRC_AT);
}

// ---- after a boot: the image as the state block left it, and the records since -----------

/** Take up the image where the state block (state.ts) left it, then read on the records
 * written after it, in sequence, to the first that is not there (at most twice the
 * state's interval): the head, the server's position and the newest command number
 * come out. The index is empty: replays read the caching disk. */
export function image_recover(head: u64, seq: u32, med: u32, med_start: u64, p: u32, bs: u32, crn: u32, whole: bool): void {
  cache_head = head; record_seq = seq; medium = med; medium_start = med_start; pos = p; block_size = bs;
  medium_whole = whole;
  if (crn > last_crn) last_crn = crn;
  index_used = 0;
  index_whole = false;
  win_blocks = 0;
  for (let k: u32 = 0; k < 2 * state_every_records; k++) {
    let at = read_header(cache_head);
    if (at == 0 && cache_head != CACHE_RING_START) {
      // The writer wraps a record that does not fit before the end.
      at = read_header(CACHE_RING_START);
      if (at == 0) return;
      cache_head = CACHE_RING_START;
    }
    if (at == 0) return;
    let kind = load<u16>(own_buf, 6);
    let object = load<u32>(own_buf, 12);
    let count = load<u32>(own_buf, 16);
    let c = load<u32>(own_buf, 28);
    record_seq++;
    cache_head += 1 + <u64>((load<u32>(own_buf, 20) + BLOCK - 1) / BLOCK);
    pos = kind == IMG_TRUNCATE ? object : object + count;
    note_crn(kind, c);
  }
}

/** The header at `lba` into own_buf if it is the next record of this medium: 1, else 0. */
function read_header(lba: u64): u32 {
  if (lba >= cache_blocks) return 0;
  let h = window(lba, 1);
  if (h == 0) return 0;
  copy(own_buf, h, HDR_CRC_AT + 4);
  if (!header_valid(own_buf) || load<u32>(own_buf, 24) != record_seq + 1 || load<u32>(own_buf, 8) != medium) return 0;
  return 1;
}
