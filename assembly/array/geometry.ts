// Where an array block lives (seed 003): RAID 5 with rotating parity, left-symmetric
// (the Linux md default: the parity of row r is on member n−1−(r mod n), and the row's
// data blocks follow it round the members), RAID 4 (parity on the last member) and
// RAID 3 (the same placement as RAID 4; every write is a full-row write, see array.ts).
//
// The stripe unit is one block (512 bytes): row r is block r of every member, so a
// row holds n−1 data blocks and one parity block. One block, because the parity
// buffers of an update scale with the unit and the MCU has 128 KiB in all; runs of
// rows are contiguous on every member, so a long write still streams.

import { luns_max } from "../state";

@inline export const RAID_NONE: u32 = 0;
@inline export const RAID_3: u32 = 3;
@inline export const RAID_4: u32 = 4;
@inline export const RAID_5: u32 = 5;

/** Blocks per member per row: the stripe unit. */
@inline export const stripe_unit_blocks: u32 = 1;
/** Members of an array at most (bus IDs 0..6, one of them possibly a spare). */
@inline export const members_max: u32 = 7;
/** Members at least: two data and a parity. */
@inline export const members_min: u32 = 3;
if (members_max > luns_max) ERROR("geometry: a member per bus ID");

let level: u32 = RAID_NONE;
let members: u32 = 0;
/** Rows: data blocks per member (each member's last block holds its member label). */
let rows: u64 = 0;

export function geo_set(lvl: u32, n: u32, row_count: u64): void {
  level = lvl;
  members = n;
  rows = row_count;
}
@inline export function geo_level(): u32 { return level; }
@inline export function geo_members(): u32 { return members; }
@inline export function geo_rows(): u64 { return rows; }
/** Data blocks per row. */
@inline export function geo_data(): u32 { return members - 1; }
/** Blocks the array presents (its own last block is the volume's label). */
@inline export function geo_blocks(): u64 { return rows * <u64>(members - 1); }

@inline export function geo_row(lba: u64): u64 { return lba / <u64>(members - 1); }
@inline export function geo_index(lba: u64): u32 { return <u32>(lba % <u64>(members - 1)); }

/** The member that holds row r's parity. */
export function geo_parity_member(r: u64): u32 {
  if (level == RAID_5) return members - 1 - <u32>(r % <u64>members);
  return members - 1;
}

/** The member that holds data block k (0..n−2) of row r. */
export function geo_data_member(r: u64, k: u32): u32 {
  if (level == RAID_5) return (geo_parity_member(r) + 1 + k) % members;
  return k;
}

/** Which data block of row r member m holds; members (an impossible index) if it
 * holds the parity. */
export function geo_member_index(r: u64, m: u32): u32 {
  let p = geo_parity_member(r);
  if (m == p) return members;
  if (level == RAID_5) return (m + members - p - 1) % members;
  return m;
}
