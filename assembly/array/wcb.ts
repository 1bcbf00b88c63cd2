// The write-command buffer (seed 003 claims 2, 7, 12): every update of the array in
// flight, by location (array LBA, blocks) and a sequence number, from before its first
// member write until its data and parity are both durable. It lives in RAM
// (layout.ts wcb_base) and in a ring of EEPROM pages written before the update's
// first member write, so that after any power loss the boot knows exactly which rows
// may have parity that disagrees with their data (array/repair.ts).
//
// RAM entry (16 bytes): @0 state u8 | @1 flags u8 | @2 blocks u16 | @4 sequence u32 |
// @8 array LBA u64. The ring page (docs/SPEC.md "Write-command buffer ring") carries
// the pending entries, whole, in its payload after a 4-byte magic and a u32 count.

import {
  wcb_base, wcb_slots_max, wcb_slot_bytes, nv_page_bytes, nv_main_page, nv_main_verify, nv_main_cmd,
  cache_blocks_max, block_bytes,
} from "../layout";
import { seal_page, read_checked, page_seed, page_header_bytes, page_payload_bytes, image_pages } from "../nv/image";
import { eeprom_write_verify } from "../base/eeprom";
import { zero, copy } from "../base/scsi";
import { OK, ERR_INTERRUPTED, ERR_IO, LOG_ARRAY_RING_FAILED } from "../base/errors";
import { hal_log } from "../base/hal";
import { st_power_epoch } from "../state";

/** EEPROM pages of the ring: after the largest image (334 pages for 128 blocks),
 * before the probe page (476). 128 pages spread the wear of one write per update. */
@inline export const ring_first_page: u32 = 340;
@inline export const ring_pages: u32 = 128;
@inline const ring_logical: u32 = 0xfffb;
/** The boot reads the ring into the main loop's verify page: the restore keeps a page of
 * its image in nv_read_page across the probe. */
@inline const ring_read_buf: usize = nv_main_verify;
@inline const ring_magic: u32 = 0x42435755; // "UWCB"
@inline const hidden_magic: u32 = 0x4d435755; // "UWCM"
/** A hidden block's record: 16 bytes of header (@0 magic u32, @4 part u8, @5 parts u8,
 * @8 group u32: the ring sequence of its first page, @12 row u32), then its data in
 * pieces of 196 bytes. */
@inline const hidden_header_bytes: u32 = 16;
@inline const hidden_piece_bytes: u32 = page_payload_bytes - hidden_header_bytes;
@inline const hidden_parts: u32 = (block_bytes + hidden_piece_bytes - 1) / hidden_piece_bytes;
/** Entries one ring page holds: (212 − 8) / 16. */
@inline export const wcb_persist_max: u32 = (page_payload_bytes - 8) / wcb_slot_bytes;
/** Pages tried past one that does not verify, before the update waits. */
@inline const ring_tries_max: u32 = 4;

@inline const WCB_FREE: u8 = 0;
@inline const WCB_PENDING: u8 = 1;

@inline function at(i: u32): usize { return wcb_base + i * wcb_slot_bytes; }
@inline export function wcb_state(i: u32): u8 { return load<u8>(at(i)); }
@inline export function wcb_lba(i: u32): u64 { return load<u64>(at(i), 8); }
@inline export function wcb_blocks(i: u32): u32 { return load<u16>(at(i), 2); }

/** Sequence of the last ring page written or found. */
let ring_seq: u32 = 0;
let next_entry_seq: u32 = 1;
let store_seed: u32 = 0;
/** EEPROM page writes the ring has made this boot (the bench's figure). */
let ring_writes: u32 = 0;
@inline export function wcb_ring_writes(): u32 { return ring_writes; }
/** Sequence of the last ring page written. */
@inline export function wcb_ring_seq(): u32 { return ring_seq; }

export function wcb_init(store_id: u64): void {
  if (ring_first_page < image_pages(cache_blocks_max)) ERROR("wcb ring: after the largest image");
  for (let i: u32 = 0; i < wcb_slots_max; i++) store<u8>(at(i), WCB_FREE);
  store_seed = page_seed(store_id);
}

export function wcb_pending(): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < wcb_slots_max; i++) if (wcb_state(i) == WCB_PENDING) n++;
  return n;
}

/** Record an update in RAM; the index, or wcb_slots_max if there is no room for one
 * more that the ring can carry. */
export function wcb_add(lba: u64, blocks: u32): u32 {
  if (wcb_pending() >= wcb_persist_max) return wcb_slots_max;
  for (let i: u32 = 0; i < wcb_slots_max; i++) {
    if (wcb_state(i) != WCB_FREE) continue;
    let p = at(i);
    store<u8>(p, 0, 1);
    store<u16>(p, <u16>blocks, 2);
    store<u32>(p, next_entry_seq++, 4);
    store<u64>(p, lba, 8);
    store<u8>(p, WCB_PENDING);
    return i;
  }
  return wcb_slots_max;
}

/** The update is durable (data and parity): forget it. The ring learns at its next
 * write; until then a boot repairs the rows again, which is harmless. */
export function wcb_remove(i: u32): void {
  if (i < wcb_slots_max) store<u8>(at(i), WCB_FREE);
}

/** Sequence of the newest entries page the boot found (hidden blocks count only if
 * newer). */
let loaded_seq: u32 = 0;
@inline export function wcb_loaded_seq(): u32 { return loaded_seq; }

/** Put back an entry just removed (its removal did not reach the ring): the same
 * slot if it is still free. */
export function wcb_readd(i: u32, lba: u64, blocks: u32): u32 {
  if (i < wcb_slots_max && wcb_state(i) == WCB_FREE) {
    store<u8>(at(i), WCB_PENDING);
    return i;
  }
  return wcb_add(lba, blocks);
}

/** Write one page of the ring (sealed here) and verify it; the next page on a
 * mismatch. */
function ring_write(page: usize, epoch: i32): i32 {
  for (let t: u32 = 0; t < ring_tries_max; t++) {
    ring_seq++;
    seal_page(page, ring_seq, ring_logical, 1, store_seed);
    let phys = ring_first_page + ring_seq % ring_pages;
    let r = eeprom_write_verify(nv_main_cmd, phys * nv_page_bytes, page, nv_main_verify, epoch);
    ring_writes++;
    if (r == OK) return OK;
    hal_log(LOG_ARRAY_RING_FAILED, <i32>phys, r);
    if (r == ERR_INTERRUPTED) return r;
  }
  return ERR_IO;
}

/** Save a hidden block: row `row`'s data block on a missing member, which the row's
 * parity alone holds, before an update of the row that does not write it (so a cut
 * half-way through the update cannot lose it). In hidden_parts ring pages. */
export function wcb_save_hidden(row: u64, src: usize): i32 {
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
    let off = part * hidden_piece_bytes;
    let n = block_bytes - off < hidden_piece_bytes ? block_bytes - off : hidden_piece_bytes;
    copy(pl + hidden_header_bytes, src + off, n);
    let r = ring_write(page, epoch);
    if (r != OK) return r;
  }
  return OK;
}

/** Write the pending entries to the next ring page and verify it. OK; ERR_INTERRUPTED
 * if a power event came (the save owns the EEPROM; try again later); ERR_IO if no
 * page took it. */
export function wcb_persist(): i32 {
  let page = nv_main_page;
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
  return ring_write(page, <i32>st_power_epoch());
}

/** The newest complete hidden block saved for `row` after ring page since_seq (the
 * entries page of its update), into dst. false if there is none. */
export function wcb_hidden_find(row: u64, dst: usize, since_seq: u32): bool {
  let best_group: u32 = 0;
  let found: u32 = 0; // bit per part of best_group
  for (let k: u32 = 0; k < ring_pages; k++) {
    let b = ring_read_buf;
    if (read_checked(nv_main_cmd, ring_first_page + k, b, store_seed) < 0) continue;
    if (<u32>load<u16>(b, 4) != ring_logical || load<u32>(b) <= since_seq) continue;
    let pl = b + page_header_bytes;
    if (load<u32>(pl) != hidden_magic || <u64>load<u32>(pl, 12) != row) continue;
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
  return best_group != 0 && found == (1 << hidden_parts) - 1;
}

/** Boot: find the newest good ring page and load its entries as pending. Returns
 * the entries loaded. */
export function wcb_load(): u32 {
  let best: u32 = 0;
  let best_phys: u32 = 0xffffffff;
  let newest: u32 = 0;
  for (let k: u32 = 0; k < ring_pages; k++) {
    let phys = ring_first_page + k;
    if (read_checked(nv_main_cmd, phys, ring_read_buf, store_seed) < 0) continue;
    if (<u32>load<u16>(ring_read_buf, 4) != ring_logical) continue;
    let seq = load<u32>(ring_read_buf);
    // Every page written from now on is newer than any page there (a hidden block
    // of an earlier life must never pass for one of a later update).
    if (seq > newest) newest = seq;
    if (load<u32>(ring_read_buf + page_header_bytes) != ring_magic) continue;
    if (best_phys == 0xffffffff || seq > best) { best = seq; best_phys = phys; }
  }
  ring_seq = newest;
  if (best_phys == 0xffffffff) return 0;
  loaded_seq = best;
  if (read_checked(nv_main_cmd, best_phys, ring_read_buf, store_seed) < 0) return 0;
  let pl = ring_read_buf + page_header_bytes;
  let n = load<u32>(pl, 4);
  if (n > wcb_persist_max) n = wcb_persist_max;
  let loaded: u32 = 0;
  for (let j: u32 = 0; j < n; j++) {
    let src = pl + 8 + j * wcb_slot_bytes;
    let blocks = <u32>load<u16>(src, 2);
    if (blocks == 0) continue;
    if (wcb_add(load<u64>(src, 8), blocks) < wcb_slots_max) loaded++;
  }
  return loaded;
}
