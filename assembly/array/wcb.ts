// The write-command buffer (seed 003 claims 2, 7, 12): every update of the array in
// flight, by location (array LBA, blocks) and a sequence number, from before its first
// member write until its data and parity are both durable. It lives in RAM
// (layout.ts wcb_base) and goes to a ring of EEPROM pages:
//   - with the hold-up to count on (write-back), the power-fail handler writes it,
//     first, before the cache's image (one page; the save budget counts it);
//   - without (write-through: a weak or unlearned cap, a restore under way), the main
//     loop writes it before the update's first member write;
// so that after any power loss the boot knows exactly which rows may have parity that
// disagrees with their data (array/assemble.ts repairs them).
//
// RAM entry (16 bytes): @0 state u8 | @1 flags u8 | @2 blocks u16 | @4 sequence u32 |
// @8 array LBA u64. The sequence numbers only grow, across boots too (the boot starts
// above every one the ring holds), so an entry names its update for good. The ring
// page (docs/SPEC.md "Write-command buffer ring") carries the pending entries, whole.

import {
  wcb_base, wcb_slots_max, wcb_slot_bytes, nv_page_bytes, nv_main_page, nv_main_verify, nv_main_cmd,
  nv_isr_page, nv_isr_verify, nv_isr_cmd, cache_blocks_max, block_bytes,
} from "../layout";
import {
  seal_page, read_checked, page_seed, page_header_bytes, page_payload_bytes, image_pages, page_seq, set_page_seq,
  page_logical,
} from "../nv/image";
import { eeprom_write_verify, EPOCH_ANY } from "../base/eeprom";
import { zero, copy } from "../base/scsi";
import { OK, ERR_INTERRUPTED, ERR_IO, LOG_ARRAY_RING_FAILED } from "../base/errors";
import { hal_log } from "../base/hal";
import { st_power_epoch } from "../state";

/** EEPROM pages of the ring: after the largest image (334 pages for 128 blocks),
 * before the probe page (476). 128 pages spread the wear. */
@inline export const ring_first_page: u32 = 340;
@inline export const ring_pages: u32 = 128;
@inline const ring_logical: u32 = 0xfffb;
/** The boot reads the ring into the main loop's verify page: the restore keeps a page of
 * its image in nv_read_page across the probe. */
@inline const ring_read_buf: usize = nv_main_verify;
@inline const ring_magic: u32 = 0x42435755; // "UWCB"
@inline const hidden_magic: u32 = 0x4d435755; // "UWCM"
/** A ring page's payload less its sequence number (the last 4 bytes). */
@inline const ring_payload_bytes: u32 = page_payload_bytes - 4;
/** A hidden block's record: 20 bytes of header (@0 magic u32, @4 part u8, @5 parts u8,
 * @8 group u32: the ring sequence of its first page, @12 row u32, @16 the sequence of
 * the update it was saved for u32), then its data in pieces of 192 bytes. */
@inline const hidden_header_bytes: u32 = 20;
@inline const hidden_piece_bytes: u32 = ring_payload_bytes - hidden_header_bytes;
@inline const hidden_parts: u32 = (block_bytes + hidden_piece_bytes - 1) / hidden_piece_bytes;
/** Entries one ring page holds: (244 − 8) / 16. */
@inline export const wcb_persist_max: u32 = (ring_payload_bytes - 8) / wcb_slot_bytes;
/** Pages tried past one that does not verify, before the update waits. */
@inline const ring_tries_max: u32 = 4;

@inline const WCB_FREE: u8 = 0;
@inline const WCB_PENDING: u8 = 1;

@inline function at(i: u32): usize { return wcb_base + i * wcb_slot_bytes; }
@inline export function wcb_state(i: u32): u8 { return load<u8>(at(i)); }
@inline export function wcb_lba(i: u32): u64 { return load<u64>(at(i), 8); }
@inline export function wcb_blocks(i: u32): u32 { return load<u16>(at(i), 2); }
@inline export function wcb_seq(i: u32): u32 { return load<u32>(at(i), 4); }
/** Entry flag: it came from an intent block (the EEPROM was out: no hidden block was
 * saved for it). */
@inline export const WCB_FROM_INTENT: u8 = 1;
/** Entry flag: a member was missing when the update began (so it saves the hidden
 * block of every row before writing the row). */
@inline export const WCB_DEGRADED: u8 = 2;
@inline export function wcb_flags(i: u32): u8 { return load<u8>(at(i), 1); }

/** Sequence of the last ring page written or found. */
let ring_seq: u32 = 0;
let next_entry_seq: u32 = 1;
let store_seed: u32 = 0;
/** EEPROM page writes the ring has made this boot (the bench's figure). */
let ring_writes: u32 = 0;
@inline export function wcb_ring_writes(): u32 { return ring_writes; }
/** Bumped at every change of the pending set; the handler saves a set once. */
let version: u32 = 0;
let isr_saved_version: u32 = 0xffffffff;

export function wcb_init(store_id: u64): void {
  if (ring_first_page < image_pages(cache_blocks_max)) ERROR("wcb ring: after the largest image");
  for (let i: u32 = 0; i < wcb_slots_max; i++) store<u8>(at(i), WCB_FREE);
  store_seed = page_seed(store_id);
  version++;
}

/** Is row r part of an update that is not known to be done (its parity may not match
 * its data)? `rows_per`: data blocks per row. */
export function wcb_row_pending(r: u64, rows_per: u32, except: u32 = wcb_slots_max): bool {
  for (let w: u32 = 0; w < wcb_slots_max; w++) {
    if (wcb_state(w) != WCB_PENDING || w == except) continue;
    let first = wcb_lba(w) / <u64>rows_per;
    let last = (wcb_lba(w) + <u64>wcb_blocks(w) - 1) / <u64>rows_per;
    if (r >= first && r <= last) return true;
  }
  return false;
}

export function wcb_pending(): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < wcb_slots_max; i++) if (wcb_state(i) == WCB_PENDING) n++;
  return n;
}

/** Record an update in RAM (seq 0: a new one); the index, or wcb_slots_max if there is
 * no room for one more that a ring page can carry. */
export function wcb_add(lba: u64, blocks: u32, seq: u32 = 0, flags: u8 = 0): u32 {
  if (wcb_pending() >= wcb_persist_max) return wcb_slots_max;
  for (let i: u32 = 0; i < wcb_slots_max; i++) {
    if (wcb_state(i) != WCB_FREE) continue;
    let p = at(i);
    store<u8>(p, flags, 1);
    store<u16>(p, <u16>blocks, 2);
    store<u32>(p, seq != 0 ? seq : next_entry_seq++, 4);
    store<u64>(p, lba, 8);
    store<u8>(p, WCB_PENDING); // last: the handler saves whole entries only
    version++;
    return i;
  }
  return wcb_slots_max;
}

/** The update is durable (data and parity): forget it. The ring learns at its next
 * write; until then a boot repairs the rows again, which is harmless while every
 * member is there (array.ts says when it is not). */
export function wcb_remove(i: u32): void {
  if (i < wcb_slots_max) { store<u8>(at(i), WCB_FREE); version++; }
}

/** Put back an entry just removed (its removal did not reach the ring): the same
 * slot if it is still free. */
export function wcb_readd(i: u32, lba: u64, blocks: u32, seq: u32): u32 {
  if (i < wcb_slots_max && wcb_state(i) == WCB_FREE) {
    store<u8>(at(i), WCB_PENDING);
    version++;
    return i;
  }
  return wcb_add(lba, blocks, seq);
}

/** Build the entries page in `page`. */
function build_entries_page(page: usize): void {
  zero(page, nv_page_bytes);
  let pl = page + page_header_bytes;
  store<u32>(pl, ring_magic);
  let n: u32 = 0;
  for (let i: u32 = 0; i < wcb_slots_max && n < wcb_persist_max; i++) {
    if (wcb_state(i) != WCB_PENDING) continue;
    copy(pl + 8 + n * wcb_slot_bytes, at(i), wcb_slot_bytes);
    n++;
  }
  store<u32>(pl, n, 4);
}

/** Write one page of the ring (sealed here) and verify it; the next page on a
 * mismatch. */
function ring_write(page: usize, verify: usize, cmd: usize, epoch: i32): i32 {
  for (let t: u32 = 0; t < ring_tries_max; t++) {
    ring_seq++;
    set_page_seq(page, ring_seq);
    seal_page(page, ring_logical, 1, store_seed);
    let phys = ring_first_page + ring_seq % ring_pages;
    let r = eeprom_write_verify(cmd, phys * nv_page_bytes, page, verify, epoch);
    ring_writes++;
    if (r == OK) return OK;
    hal_log(LOG_ARRAY_RING_FAILED, <i32>phys, r);
    if (r == ERR_INTERRUPTED) return r;
  }
  return ERR_IO;
}

/** Main loop: write the pending entries to the next ring page and verify it. OK;
 * ERR_INTERRUPTED if a power event came (the handler owns the EEPROM; try again
 * later); ERR_IO if no page took it. */
export function wcb_persist(): i32 {
  build_entries_page(nv_main_page);
  let r = ring_write(nv_main_page, nv_main_verify, nv_main_cmd, <i32>st_power_epoch());
  if (r == OK) isr_saved_version = 0xffffffff; // the handler saves again if asked
  return r;
}

/** The power-fail handler, before the cache's image: the pending entries, unless the
 * handler already saved this very set (a save resumed after a dip). */
export function wcb_isr_save(): i32 {
  if (isr_saved_version == version) return OK;
  build_entries_page(nv_isr_page);
  let r = ring_write(nv_isr_page, nv_isr_verify, nv_isr_cmd, EPOCH_ANY);
  if (r == OK) isr_saved_version = version;
  return r;
}

/** Save a hidden block: row `row`'s data block on a missing member, which the row's
 * parity alone holds, before update `seq` writes the row without writing it (so a
 * cut half-way through cannot lose it). In hidden_parts ring pages. */
export function wcb_save_hidden(row: u64, src: usize, seq: u32): i32 {
  let epoch = <i32>st_power_epoch();
  let group = ring_seq + 1;
  for (let part: u32 = 0; part < hidden_parts; part++) {
    let page = nv_main_page;
    zero(page, nv_page_bytes);
    let pl = page + page_header_bytes;
    store<u32>(pl, hidden_magic);
    store<u8>(pl, <u8>part, 4);
    store<u8>(pl, <u8>hidden_parts, 5);
    store<u32>(pl, group, 8);
    store<u32>(pl, <u32>row, 12);
    store<u32>(pl, seq, 16);
    let off = part * hidden_piece_bytes;
    let n = block_bytes - off < hidden_piece_bytes ? block_bytes - off : hidden_piece_bytes;
    copy(pl + hidden_header_bytes, src + off, n);
    let r = ring_write(page, nv_main_verify, nv_main_cmd, epoch);
    if (r != OK) return r;
  }
  return OK;
}

/** The newest complete hidden block saved for `row` by update `seq`, into dst. false
 * (and dst zeros) if there is none. */
export function wcb_hidden_find(row: u64, dst: usize, seq: u32): bool {
  let best_group: u32 = 0;
  let found: u32 = 0; // bit per part of best_group
  for (let k: u32 = 0; k < ring_pages; k++) {
    let b = ring_read_buf;
    if (read_checked(nv_main_cmd, ring_first_page + k, b, store_seed) < 0) continue;
    if (page_logical(b) != ring_logical) continue;
    let pl = b + page_header_bytes;
    if (load<u32>(pl) != hidden_magic || <u64>load<u32>(pl, 12) != row || load<u32>(pl, 16) != seq) continue;
    let part = <u32>load<u8>(pl, 4);
    let group = load<u32>(pl, 8);
    if (part >= hidden_parts || <u32>load<u8>(pl, 5) != hidden_parts) continue;
    if (group < best_group) continue;
    if (group > best_group) { best_group = group; found = 0; }
    let off = part * hidden_piece_bytes;
    let n = block_bytes - off < hidden_piece_bytes ? block_bytes - off : hidden_piece_bytes;
    copy(dst + off, pl + hidden_header_bytes, n);
    found |= 1 << part;
  }
  if (best_group != 0 && found == (1 << hidden_parts) - 1) return true;
  // Pieces of a group a cut left incomplete were copied on the way: dst is zeros again.
  zero(dst, block_bytes);
  return false;
}

/** Boot: find the newest good entries page and load its entries as pending (with
 * their own sequence numbers). New pages and new entries start above every sequence
 * number on the ring. Returns the entries loaded. */
export function wcb_load(): u32 {
  let best: u32 = 0;
  let best_phys: u32 = 0xffffffff;
  let newest: u32 = 0;
  let max_entry: u32 = 0;
  for (let k: u32 = 0; k < ring_pages; k++) {
    let phys = ring_first_page + k;
    if (read_checked(nv_main_cmd, phys, ring_read_buf, store_seed) < 0) continue;
    if (page_logical(ring_read_buf) != ring_logical) continue;
    let seq = page_seq(ring_read_buf);
    if (seq > newest) newest = seq;
    let pl = ring_read_buf + page_header_bytes;
    let magic = load<u32>(pl);
    if (magic == hidden_magic) {
      if (load<u32>(pl, 16) > max_entry) max_entry = load<u32>(pl, 16);
      continue;
    }
    if (magic != ring_magic) continue;
    let n = load<u32>(pl, 4);
    for (let j: u32 = 0; j < n && j < wcb_persist_max; j++) {
      let e = load<u32>(pl + 8 + j * wcb_slot_bytes, 4);
      if (e > max_entry) max_entry = e;
    }
    if (best_phys == 0xffffffff || seq > best) { best = seq; best_phys = phys; }
  }
  ring_seq = newest;
  next_entry_seq = max_entry + 1;
  if (best_phys == 0xffffffff) return 0;
  if (read_checked(nv_main_cmd, best_phys, ring_read_buf, store_seed) < 0) return 0;
  let pl = ring_read_buf + page_header_bytes;
  let n = load<u32>(pl, 4);
  if (n > wcb_persist_max) n = wcb_persist_max;
  let loaded: u32 = 0;
  for (let j: u32 = 0; j < n; j++) {
    let src = pl + 8 + j * wcb_slot_bytes;
    let blocks = <u32>load<u16>(src, 2);
    let seq = load<u32>(src, 4);
    if (blocks == 0 || seq == 0) continue;
    if (wcb_add(load<u64>(src, 8), blocks, seq, load<u8>(src, 1)) < wcb_slots_max) loaded++;
  }
  return loaded;
}
