// The image of each medium on the caching disk ([026]; docs/DIRECTOR.md "The image"):
// every block and filemark the server writes becomes a record at the disk's head (the
// disk from block 2 on is a ring; blocks 0-1 are the state: state.ts), a 512-byte
// header then the data; a RAM index of the newest records (replay.ts writes them back
// to a tape); and, after a boot, reading on the records the state block does not know
// yet. This file also keeps what the director knows of the medium in use: which one,
// the server's position on it, the block size the server set, and how full it is
// (the director's own early warning).

import { hal_scsi_submit_sg, hal_config } from "../base/hal";
import { crc32c } from "../base/crc32c";
import { zero, copy, put_be32, put_be64, be32 } from "../base/scsi";
import { MB_HOST_TAG } from "../base/abi";
import {
  mailbox_base, mailbox_slot_bytes, own_buf, cache_hdr_base, cache_sg_base, index_base, index_entries, index_entry_bytes,
} from "./layout";
import { T_CACHE, BLOCK, CACHE_RING_START, OP_READ_CAPACITY_10, OP_SYNCHRONIZE_CACHE_10, OP_WRITE_16, EW_RESERVE_BYTES } from "./board";
import { cache_tag, tag_cdb, tag_result, mark_out, own_cdb, run_own } from "./bus";
import { window, window_forget, window_drop } from "./replay";

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
/** The data bytes of the medium's image (what a spare tape would be given): exact
 * while the server appends; a rewrite before the end is not taken off (more than the
 * tape holds: the early warning comes sooner, never later). */
let medium_bytes: u64 = 0;
/** Where a failover began (image_freeze): the server's position, the disk's head and
 * the newest record's sequence number then. Its replays stop there; what the server
 * writes after is the catch-up's (replay.ts). */
let frozen_pos: u32 = 0;
let frozen_head: u64 = CACHE_RING_START;
let frozen_seq: u32 = 0;

/** The state block is written this often (records) by the main loop; not while a
 * failover runs (the server's writes taken meanwhile), so the scan after a takeover
 * reads on as far as the records go in sequence, not just this far. */
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
@inline export function image_medium_bytes(): u64 { return medium_bytes; }
export function image_set_medium_bytes(b: u64): void { medium_bytes = b; }
@inline export function image_cache_blocks(): u64 { return cache_blocks; }
export function image_freeze(): void { frozen_pos = pos; frozen_head = cache_head; frozen_seq = record_seq; }
@inline export function image_frozen_pos(): u32 { return frozen_pos; }
@inline export function image_frozen_head(): u64 { return frozen_head; }
@inline export function image_frozen_seq(): u32 { return frozen_seq; }
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
  medium_bytes = 0;
  medium_start = cache_head;
  state_due = true;
}

// ---- the director's early warning ---------------------------------------------------------

/** The cartridge's capacity (a board strap, key 3, MiB) and the allowance a replay
 * onto another cartridge needs on top of the data it writes (key 4, per mille: the
 * rewrites a drive's read-after-write check makes, which differ from cartridge to
 * cartridge). 0: no early warning of the director's own. */
let capacity_bytes: u64 = 0;
let allowance_permille: u64 = 0;

/** What a spare tape would need for this medium's image with `more` bytes on it:
 * the data, what the server may write after hearing early warning (EW_RESERVE_BYTES,
 * the drive's own early-warning distance), and the replay's allowance on both. */
function replay_need(more: u64): u64 {
  let data = medium_bytes + more + <u64>EW_RESERVE_BYTES;
  return data + (data * allowance_permille + 999) / 1000;
}

/** The director's early warning ([027]): the medium's image has grown so far that a
 * spare tape would just hold it, with the allowance, and what the server writes once
 * told. Before the drive's own (EW_RESERVE_BYTES before the end) by the allowance on
 * the data: the pad grows with the data a replay would write. Only while the image
 * holds the whole medium (else the fill is not known: the drive's warning stands). */
export function image_early_warning(): bool {
  return capacity_bytes > 0 && medium_whole && replay_need(0) >= capacity_bytes;
}

/** May `bytes` more be taken while no drive reports the end (a failover runs)? The
 * spare tape must hold them with the allowance: past early warning the reserve is
 * what is left. */
export function image_fits(bytes: u64): bool {
  if (capacity_bytes == 0 || !medium_whole) return false;
  let data = medium_bytes + bytes;
  return data + (data * allowance_permille + 999) / 1000 <= capacity_bytes;
}

/** The disk's ring takes `blocks` more without wrapping past the medium's first
 * record (a failover may need the whole image, and its replay reads it in one pass
 * from there). */
export function image_room(blocks: u64): bool {
  return medium_start <= cache_head && cache_head + blocks <= cache_blocks;
}

/** Tries of a boot command that a disk may refuse while it comes up. */
@inline const boot_tries_max: u32 = 50;

/** Boot: the caching disk's size. It answers its first command with UNIT ATTENTION
 * (power on), and NOT READY while it spins up: asked again. */
export function image_boot(): void {
  capacity_bytes = <u64>hal_config(3) * 1048576;
  allowance_permille = <u64>hal_config(4);
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
  window_forget(cache_head, blocks);
  let tag = cache_tag(s);
  let t = tag_cdb(tag);
  zero(t, 16);
  store<u8>(t, OP_WRITE_16);
  put_be64(t + 2, cache_head);
  put_be32(t + 10, <u32>blocks);
  let ok = hal_scsi_submit_sg(T_CACHE, <i32>tag, t, 16, sg, data_blocks > 0 ? 2 : 1, 1, tag_result(tag)) == 0;
  if (!mark_out(tag, ok)) return false;
  if (!index_held) index_add(kind, object, count, bytes, cache_head);
  if (kind == IMG_DATA) { if (object == 0) medium_bytes = 0; medium_bytes += <u64>bytes; }
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
/** A failover runs: the index keeps what its replay needs, and the records the server
 * writes meanwhile go in as the catch-up writes them (image_index_add), in order. */
let index_held = false;
export function image_index_hold(h: bool): void { index_held = h; }
/** The index no longer says what the tape holds (a catch-up that failed half way):
 * replays read the caching disk. */
export function image_index_reset(): void { index_used = 0; index_whole = false; }
export function image_index_add(kind: u16, object: u32, count: u32, bytes: u32, lba: u64): void { index_add(kind, object, count, bytes, lba); }

@inline function index_at(k: u32): usize { return index_base + (k % index_entries) * index_entry_bytes; }
/** The index by absolute entry number: the oldest held, the next to be written, and
 * an entry (object, disk block, bytes, kind, count). */
@inline export function image_index_first(): u32 { return index_next - index_used; }
@inline export function image_index_next(): u32 { return index_next; }
@inline export function image_index_at(k: u32): usize { return index_at(k); }
@inline export function image_index_whole(): bool { return index_whole; }

function index_add(kind: u16, object: u32, count: u32, bytes: u32, lba: u64): void {
  let e = index_at(index_next++);
  store<u32>(e, object);
  store<u32>(e, <u32>lba, 4);
  store<u32>(e, bytes, 8);
  store<u16>(e, kind, 12);
  store<u16>(e, <u16>(count < 0xffff ? count : 0xffff), 14);
  if (index_used < index_entries) index_used++;
}

function note_crn(kind: u16, crn: u32): void {
  if (crn == 0) return;
  if (kind != IMG_TRUNCATE) { if (crn > last_crn) last_crn = crn; }
  else if (crn == last_crn) last_crn = crn - 1;
}

export function image_header_valid(h: usize): bool {
  return load<u32>(h) == IMG_MAGIC && load<u16>(h, 4) == IMG_VERSION && crc32c(h, HDR_CRC_AT, 0) == load<u32>(h, HDR_CRC_AT);
}

// ---- after a boot: the image as the state block left it, and the records since -----------

/** Take up the image where the state block (state.ts) left it, then read on the records
 * written after it, in sequence, to the first that is not there (at most a disk's
 * worth: usually the state's interval, more when the last director died during a
 * failover that took the server's writes): the head, the server's position and the
 * newest command number come out. The index is empty: replays read the caching disk. */
export function image_recover(head: u64, seq: u32, med: u32, med_start: u64, p: u32, bs: u32, crn: u32, whole: bool, mbytes: u64): void {
  cache_head = head; record_seq = seq; medium = med; medium_start = med_start; pos = p; block_size = bs;
  medium_whole = whole;
  medium_bytes = mbytes;
  if (crn > last_crn) last_crn = crn;
  index_used = 0;
  index_whole = false;
  window_drop();
  for (let k: u64 = 0; k < cache_blocks; k++) {
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
    if (kind == IMG_DATA) { if (object == 0) medium_bytes = 0; medium_bytes += <u64>load<u32>(own_buf, 20); }
    note_crn(kind, c);
  }
}

/** The header at `lba` into own_buf if it is the next record of this medium: 1, else 0. */
function read_header(lba: u64): u32 {
  if (lba >= cache_blocks) return 0;
  let h = window(lba, 1);
  if (h == 0) return 0;
  copy(own_buf, h, HDR_CRC_AT + 4);
  if (!image_header_valid(own_buf) || load<u32>(own_buf, 24) != record_seq + 1 || load<u32>(own_buf, 8) != medium) return 0;
  return 1;
}
