// The write cache: cache_blocks_max blocks of RAM (layout.ts), a directory entry per
// block, and a hash from (LUN, LBA) to entry. Nothing is allocated: entries are FREE,
// CLEAN (same as the disk) or DIRTY (newer than the disk).
//
// Flags:
//   NV        the entry holds data the host was told is written (acknowledged) and the
//             disk does not have yet: the power-fail save must keep it. The number of
//             NV entries never exceeds the save budget (budget.ts).
//   INFLIGHT  a destage write of the entry is on the bus; inflight_version says which
//             version of the data it carries. Its data must not change until the
//             write completes (docs/HAL.md: the bus reads buffers in the data phase).
//   UNCOR     a WRITE LONG (WR_UNCOR) for the block is on the bus: the entry is
//             neither destaged nor written until it ends.
//   MIRROR    a pair: the block is the partner's, held for it (pair/mirror.ts): DIRTY
//             and NV (the save keeps it), never destaged nor evicted; its sequence
//             number is in the mirror table. A takeover writes it to the disk.
//   OLD       a MIRROR block of an earlier session of the partner's: kept until the
//             partner says it holds a newer copy of everything it needs. On one of
//             this controller's own blocks: not yet confirmed in the session's catch-up.
//   HELD      not MIRROR: the partner holds a copy of some version of this block that
//             is not on the disk yet (its sequence number: the mirror table's second).
//   SENT      not MIRROR: its current version is on its way to the partner.
// A host write bumps `version`; a destage only cleans the entry if the version it
// wrote is still the entry's version.
//
// What the power-fail save reads (an NV entry's flags, LUN, LBA and data) changes only
// inside a critical section with PFAIL# held off (cache_write, set_clean_state,
// cache_drop), so the save sees every block whole: the old version or the new, never
// a mix. Every change to the set of NV entries or to their data bumps nv_version.
//
// Directory entry (16 bytes):
//   @0 lun u8 | @1 state u8 | @2 flags u8 | @3 hash next u8 | @4 version u16
//   @6 inflight_version u16 | @8 lba u64

import {
  cache_dir_base, cache_dir_entry_bytes, cache_blocks_max, cache_data_base, block_bytes,
  hash_base, hash_buckets, evict_ring_base, evict_ring_len, evict_ring_entry_bytes,
  mirror_seq_base, mirror_ack_base,
} from "../layout";
import { hal_irq_mask_pfail } from "../base/hal";
import { copy } from "../base/scsi";
import { lun_add_nv, luns_max, st_power_epoch } from "../state";

@inline export const ENTRY_FREE: u8 = 0;
@inline export const ENTRY_CLEAN: u8 = 1;
@inline export const ENTRY_DIRTY: u8 = 2;

@inline export const FLAG_NV: u8 = 1;
@inline export const FLAG_INFLIGHT: u8 = 2;
@inline export const FLAG_UNCOR: u8 = 4;
@inline export const FLAG_MIRROR: u8 = 8;
@inline export const FLAG_OLD: u8 = 16;
@inline export const FLAG_HELD: u8 = 32;
@inline export const FLAG_SENT: u8 = 64;

@inline export const NONE: u32 = 0xff;

if (cache_dir_entry_bytes < 16) ERROR("cache entry holds 16 bytes");

// Counters live in module globals: they are rebuilt at every boot (cache_init).
let nv_blocks: u32 = 0;
let dirty_blocks: u32 = 0;
/** MIRROR entries (counted in nv_blocks and dirty_blocks too). */
let mirror_blocks: u32 = 0;
/** Dirty entries that became clean (or were dropped), counted: what pair/mirror.ts
 * releases is looked for only when it moved. */
let cleaned: u32 = 0;
@inline export function cache_cleaned(): u32 { return cleaned; }
/** Bumped whenever an entry becomes or stops being NV, or an NV entry's data changes. */
let nv_version: u32 = 0;
/** Free entries form a list through their `next` byte (unused while free). */
let free_head: u32 = NONE;
let free_count: u32 = 0;
/** Clock hand for evicting clean entries. */
let evict_hand: u32 = 0;
/** Blocks that left the cache (evicted or dropped), counted, and the last few of them
 * in a ring: a read from the disk that overlays cached blocks checks that none of its
 * blocks left the cache while it was out (it would have read older data there). */
let evictions: u32 = 0;
@inline function ring_at(k: u32): usize { return evict_ring_base + k * evict_ring_entry_bytes; }

@inline export function entry_at(i: u32): usize { return cache_dir_base + i * cache_dir_entry_bytes; }
@inline export function entry_lun(i: u32): u32 { return load<u8>(entry_at(i), 0); }
@inline export function entry_state(i: u32): u8 { return load<u8>(entry_at(i), 1); }
@inline export function entry_flags(i: u32): u8 { return load<u8>(entry_at(i), 2); }
@inline export function entry_version(i: u32): u16 { return load<u16>(entry_at(i), 4); }
@inline export function entry_lba(i: u32): u64 { return load<u64>(entry_at(i), 8); }
@inline export function entry_data(i: u32): usize { return cache_data_base + i * block_bytes; }
@inline export function entry_is_nv(i: u32): bool { return (entry_flags(i) & FLAG_NV) != 0; }
@inline export function entry_inflight(i: u32): bool { return (entry_flags(i) & FLAG_INFLIGHT) != 0; }
@inline export function entry_uncor(i: u32): bool { return (entry_flags(i) & FLAG_UNCOR) != 0; }
@inline export function entry_is_mirror(i: u32): bool { return (entry_flags(i) & FLAG_MIRROR) != 0; }
/** The mirror table (layout.ts): per entry, the sequence number of its last write
 * (or, for a MIRROR entry, of the partner's copy it holds) and the last the partner
 * confirmed. */
@inline export function entry_seq(i: u32): u16 { return load<u16>(mirror_seq_base + (i << 1)); }
@inline export function entry_set_seq(i: u32, s: u16): void { store<u16>(mirror_seq_base + (i << 1), s); }
@inline export function entry_acked(i: u32): u16 { return load<u16>(mirror_ack_base + (i << 1)); }
@inline export function entry_set_acked(i: u32, s: u16): void { store<u16>(mirror_ack_base + (i << 1), s); }
@inline function entry_next(i: u32): u32 { return load<u8>(entry_at(i), 3); }

@inline export function cache_nv_count(): u32 { return nv_blocks; }
@inline export function cache_mirror_count(): u32 { return mirror_blocks; }
/** NV entries of this controller's own (not the partner's copies). */
@inline export function cache_own_nv_count(): u32 { return nv_blocks - mirror_blocks; }
@inline export function cache_dirty_count(): u32 { return dirty_blocks; }
@inline export function cache_nv_version(): u32 { return nv_version; }

/** NV entries counted one by one (the save does not trust a counter it may have
 * interrupted). */
export function cache_count_nv(): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) if (entry_is_nv(i) && entry_state(i) != ENTRY_FREE) n++;
  return n;
}

@inline function bucket_of(lun: u32, lba: u64): u32 {
  let h = <u32>lba * 0x9e3779b1 ^ <u32>(lba >>> 32) * 0x85ebca6b ^ lun * 0xc2b2ae35;
  return (h >>> 24) & (hash_buckets - 1);
}

if (hash_buckets != 256) ERROR("bucket_of takes the top 8 bits");

export function cache_init(): void {
  for (let b: u32 = 0; b < hash_buckets; b++) store<u8>(hash_base + b, <u8>NONE);
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    entry_set_seq(i, 0);
    entry_set_acked(i, 0);
    let p = entry_at(i);
    store<u64>(p, 0);
    store<u64>(p, 0, 8);
    store<u8>(p, <u8>(i + 1 < cache_blocks_max ? i + 1 : NONE), 3);
  }
  free_head = 0;
  free_count = cache_blocks_max;
  evictions = 0;
  nv_blocks = 0;
  dirty_blocks = 0;
  mirror_blocks = 0;
  nv_version = 0;
  evict_hand = 0;
}

/** The entry holding (lun, lba), or NONE. Bounded by the chain length ≤ entries. */
export function cache_find(lun: u32, lba: u64): u32 {
  let i = <u32>load<u8>(hash_base + bucket_of(lun, lba));
  for (let steps: u32 = 0; i != NONE && steps < cache_blocks_max; steps++) {
    if (entry_lba(i) == lba && entry_lun(i) == lun && entry_state(i) != ENTRY_FREE) return i;
    i = entry_next(i);
  }
  return NONE;
}

function unlink(i: u32): void {
  let head = hash_base + bucket_of(entry_lun(i), entry_lba(i));
  let j = <u32>load<u8>(head);
  if (j == i) { store<u8>(head, <u8>entry_next(i)); return; }
  for (let steps: u32 = 0; j != NONE && steps < cache_blocks_max; steps++) {
    let n = entry_next(j);
    if (n == i) { store<u8>(entry_at(j), <u8>entry_next(i), 3); return; }
    j = n;
  }
}

/** A pair (pair/mirror.ts): a clean block whose version the partner has not confirmed
 * stays until it does or its LUN is sole (bit per LUN): a write waiting on it checks it;
 * and one whose copy the partner holds stays until it is released. */
let pair_guard: bool = false;
let sole_luns: u32 = 0;
export function cache_set_pair_guard(on: bool, sole_mask: u32): void { pair_guard = on; sole_luns = sole_mask; }

/** Can an entry be given to a new block now (free, or clean and not busy)? */
export function entry_reusable(i: u32): bool {
  let s = entry_state(i);
  if (s == ENTRY_FREE) return true;
  if (s != ENTRY_CLEAN || (entry_flags(i) & (FLAG_INFLIGHT | FLAG_UNCOR)) != 0) return false;
  if (!pair_guard) return true;
  // The partner holds a copy the owner has not released yet (pair/mirror.ts releases
  // it within a pass): reused now, the release would be lost.
  if ((entry_flags(i) & FLAG_HELD) != 0) return false;
  return entry_seq(i) == entry_acked(i) || (entry_lun(i) < 32 && (sole_luns & (1 << entry_lun(i))) != 0);
}

/** Entries a new block could take now; counts clean ones only if the free list is
 * shorter than `wanted`. */
export function cache_reusable_count(wanted: u32): u32 {
  if (free_count >= wanted) return free_count;
  let n: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) if (entry_reusable(i)) n++;
  return n;
}

/** Take an entry for (lun, lba), which must not be cached: a free one, else the next
 * clean one after the clock hand. Returns NONE if every entry is dirty or busy. The
 * entry is CLEAN and not NV, so the save ignores it until cache_write. */
export function cache_alloc(lun: u32, lba: u64): u32 {
  let found = free_head;
  if (found != NONE) {
    free_head = entry_next(found);
    free_count--;
  } else {
    for (let k: u32 = 0; k < cache_blocks_max; k++) {
      let i = (evict_hand + k) % cache_blocks_max;
      if (entry_reusable(i)) { found = i; break; }
    }
    if (found == NONE) return NONE;
    evict_hand = (found + 1) % cache_blocks_max;
    note_gone(found);
    unlink(found);
  }
  let p = entry_at(found);
  entry_set_seq(found, 0);
  entry_set_acked(found, 0);
  store<u8>(p, <u8>lun, 0);
  store<u8>(p, ENTRY_CLEAN, 1);
  store<u8>(p, 0, 2);
  store<u16>(p, 0, 4);
  store<u16>(p, 0, 6);
  store<u64>(p, lba, 8);
  let head = hash_base + bucket_of(lun, lba);
  store<u8>(p, load<u8>(head), 3);
  store<u8>(head, <u8>found);
  return found;
}

function note_gone(i: u32): void {
  let k = evictions % evict_ring_len;
  store<u32>(ring_at(k), entry_lun(i));
  store<u64>(ring_at(k), entry_lba(i), 8);
  evictions++;
}

@inline export function cache_evictions(): u32 { return evictions; }

/** Did a block of [lba, lba+n) on lun leave the cache since cache_evictions() was
 * `since`? (True too if more left than the ring remembers.) */
export function cache_left_since(since: u32, lun: u32, lba: u64, n: u32): bool {
  let gone = evictions - since;
  if (gone == 0) return false;
  if (gone > evict_ring_len) return true;
  for (let j: u32 = 0; j < gone; j++) {
    let k = (since + j) % evict_ring_len;
    let l = load<u64>(ring_at(k), 8);
    if (load<u32>(ring_at(k)) == lun && l >= lba && l - lba < <u64>n) return true;
  }
  return false;
}

/** Drop an entry (it must not be on the bus): its data is superseded or given up. */
export function cache_drop(i: u32): void {
  if (entry_state(i) == ENTRY_FREE || entry_inflight(i)) return;
  let was = hal_irq_mask_pfail(1);
  set_clean_state(i);
  store<u8>(entry_at(i), ENTRY_FREE, 1);
  store<u8>(entry_at(i), 0, 2);
  hal_irq_mask_pfail(was);
  note_gone(i);
  unlink(i);
  store<u8>(entry_at(i), <u8>free_head, 3);
  free_head = i;
  free_count++;
}

/** Copy a block of new data into the entry and mark it DIRTY at a new version; nv
 * says whether the host will be told it is written now (write-back). One critical
 * section: the save sees the old block or the new one, whole. The entry must not be
 * on the bus. The caller decided `nv` (and checked the block may change) in power
 * epoch `epoch`: if a power event came since, nothing is written and the result is
 * false (a save may have taken the NV set meanwhile, and the budget is no longer
 * what it was): the caller runs its command again. */
export function cache_write(i: u32, src: usize, nv: bool, epoch: u32): bool {
  let was = hal_irq_mask_pfail(1);
  if (st_power_epoch() != epoch) {
    hal_irq_mask_pfail(was);
    return false;
  }
  copy(entry_data(i), src, block_bytes);
  let p = entry_at(i);
  set_dirty(i);
  store<u16>(p, entry_version(i) + 1, 4);
  if (entry_is_nv(i)) nv_version++;
  else if (nv) set_nv(i);
  hal_irq_mask_pfail(was);
  return true;
}

/** Restore: the entry's data was read from the image into it; it is NV again. */
export function cache_mark_restored(i: u32): void {
  let was = hal_irq_mask_pfail(1);
  let p = entry_at(i);
  set_dirty(i);
  store<u16>(p, entry_version(i) + 1, 4);
  if (!entry_is_nv(i)) set_nv(i);
  else nv_version++;
  hal_irq_mask_pfail(was);
}

@inline function set_dirty(i: u32): void {
  if (entry_state(i) == ENTRY_DIRTY) return;
  store<u8>(entry_at(i), ENTRY_DIRTY, 1);
  dirty_blocks++;
}

/** The entry holds the partner's block (an earlier session's: old). */
@inline function set_mirror(i: u32, old: bool): void {
  if (!entry_is_mirror(i)) mirror_blocks++;
  let f = entry_flags(i) | FLAG_MIRROR;
  store<u8>(entry_at(i), old ? f | FLAG_OLD : f & ~FLAG_OLD, 2);
}

@inline function set_nv(i: u32): void {
  store<u8>(entry_at(i), entry_flags(i) | FLAG_NV, 2);
  nv_blocks++;
  nv_version++;
  if (entry_lun(i) < luns_max && !entry_is_mirror(i)) lun_add_nv(entry_lun(i), 1);
}

/** Leave DIRTY (and NV) for CLEAN. */
function set_clean_state(i: u32): void {
  let was = hal_irq_mask_pfail(1);
  let p = entry_at(i);
  if (entry_state(i) == ENTRY_DIRTY) { dirty_blocks--; cleaned++; }
  if (entry_is_nv(i)) {
    nv_blocks--;
    nv_version++;
    if (entry_lun(i) < luns_max && !entry_is_mirror(i)) lun_add_nv(entry_lun(i), -1);
  }
  if (entry_is_mirror(i)) mirror_blocks--;
  store<u8>(p, ENTRY_CLEAN, 1);
  store<u8>(p, entry_flags(i) & ~(FLAG_NV | FLAG_MIRROR | FLAG_OLD | FLAG_HELD), 2);
  hal_irq_mask_pfail(was);
}

@inline function set_flag(i: u32, f: u8, on: bool): void {
  let p = entry_at(i);
  store<u8>(p, on ? entry_flags(i) | f : entry_flags(i) & ~f, 2);
}

/** A WRITE LONG for the block went out (on) or ended (off). */
export function cache_set_uncor(i: u32, on: bool): void { set_flag(i, FLAG_UNCOR, on); }

/** A destage of the entry's current version is going out. */
export function cache_start_destage(i: u32): void {
  set_flag(i, FLAG_INFLIGHT, true);
  store<u16>(entry_at(i), entry_version(i), 6);
}

/** The destage finished: if it carried the current version and succeeded, the entry
 * is clean (and no longer needs saving). */
export function cache_end_destage(i: u32, ok: bool): void {
  set_flag(i, FLAG_INFLIGHT, false);
  if (ok && load<u16>(entry_at(i), 6) == entry_version(i)) set_clean_state(i);
}

/** Is any block of [lba, lba + blocks) on this LUN dirty? blocks 0 means "to the end". */
export function cache_range_dirty(lun: u32, lba: u64, blocks: u64): bool {
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) != ENTRY_DIRTY || entry_lun(i) != lun || entry_is_mirror(i)) continue;
    let e = entry_lba(i);
    if (e >= lba && (blocks == 0 || e - lba < blocks)) return true;
  }
  return false;
}

// ---- a pair's mirror entries (pair/mirror.ts) ----------------------------------------

/** Hold the partner's block in entry i (allocated for it, or a MIRROR entry of the
 * same block): the data, its sequence number, DIRTY + NV + MIRROR, in one critical
 * section, like cache_write. False (nothing changed) if a power event came since the
 * caller's checks (epoch). */
export function cache_mirror_put(i: u32, src: usize, seq: u16, epoch: u32): bool {
  let was = hal_irq_mask_pfail(1);
  if (st_power_epoch() != epoch) {
    hal_irq_mask_pfail(was);
    return false;
  }
  copy(entry_data(i), src, block_bytes);
  set_dirty(i);
  set_mirror(i, false);
  entry_set_seq(i, seq);
  if (entry_is_nv(i)) nv_version++;
  else set_nv(i);
  hal_irq_mask_pfail(was);
  return true;
}

/** Restore: the entry's data was read from the image; it is the partner's again (an
 * earlier session's: OLD). */
export function cache_mark_restored_mirror(i: u32): void {
  let was = hal_irq_mask_pfail(1);
  set_dirty(i);
  set_mirror(i, true);
  entry_set_seq(i, 0);
  if (!entry_is_nv(i)) set_nv(i);
  else nv_version++;
  hal_irq_mask_pfail(was);
}

/** Mark (on) or clear one of the flags the mirror protocol keeps (OLD, HELD). */
export function cache_set_mirror_flag(i: u32, f: u8, on: bool): void { set_flag(i, f, on); }
