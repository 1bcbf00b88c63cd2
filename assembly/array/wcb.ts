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
  cache_blocks_max,
} from "../layout";
import { seal_page, read_checked, page_seed, page_header_bytes, page_payload_bytes, image_pages } from "../nv/image";
import { eeprom_write_verify } from "../base/eeprom";
import { zero } from "../base/scsi";
import { OK, ERR_INTERRUPTED, ERR_IO, ERR_BUSY } from "../base/errors";
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

/** Write the pending entries to the next ring page and verify it. OK; ERR_INTERRUPTED
 * if a power event came (the save owns the EEPROM; try again later); ERR_IO if no
 * page took it. */
export function wcb_persist(): i32 {
  let epoch = <i32>st_power_epoch();
  for (let t: u32 = 0; t < ring_tries_max; t++) {
    let page = nv_main_page;
    zero(page, nv_page_bytes);
    let pl = page + page_header_bytes;
    store<u32>(pl, ring_magic);
    let n: u32 = 0;
    for (let i: u32 = 0; i < wcb_slots_max && n < wcb_persist_max; i++) {
      if (wcb_state(i) != WCB_PENDING) continue;
      let dst = pl + 8 + n * wcb_slot_bytes;
      for (let k: u32 = 0; k < wcb_slot_bytes; k += 4) store<u32>(dst + k, load<u32>(at(i) + k));
      n++;
    }
    store<u32>(pl, n, 4);
    ring_seq++;
    seal_page(page, ring_seq, ring_logical, 1, store_seed);
    let phys = ring_first_page + ring_seq % ring_pages;
    let r = eeprom_write_verify(nv_main_cmd, phys * nv_page_bytes, page, nv_main_verify, epoch);
    ring_writes++;
    if (r == OK) return OK;
    if (r == ERR_INTERRUPTED) return r;
  }
  return ERR_IO;
}

/** Boot: find the newest good ring page and load its entries as pending. Returns
 * the entries loaded. */
export function wcb_load(): u32 {
  let best: u32 = 0;
  let best_phys: u32 = 0xffffffff;
  for (let k: u32 = 0; k < ring_pages; k++) {
    let phys = ring_first_page + k;
    if (read_checked(nv_main_cmd, phys, ring_read_buf, store_seed) < 0) continue;
    if (<u32>load<u16>(ring_read_buf, 4) != ring_logical) continue;
    if (load<u32>(ring_read_buf + page_header_bytes) != ring_magic) continue;
    let seq = load<u32>(ring_read_buf);
    if (best_phys == 0xffffffff || seq > best) { best = seq; best_phys = phys; }
  }
  if (best_phys == 0xffffffff) return 0;
  ring_seq = best;
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
