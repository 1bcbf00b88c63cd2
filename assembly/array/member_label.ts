// Member labels: the last two blocks of every member disk (copies A and B, written
// one after the other, so a cut tears one at most) say which array it belongs to,
// where, and what the array knows that no single disk can (docs/SPEC.md "Member
// label"): the geometry, the bus ID of every slot, the members that failed, a rebuild
// under way, and the array blocks that cannot be given back. Every member carries the
// same label but for its slot; the copy with the highest sequence number wins.
//   @0 "HOLDUPAR" | @8 version u32 | @12 level u32 | @16 array id u64 | @24 members u32
//   @28 slot u32 | @32 rows u64 | @40 stripe unit (blocks) u16 | @42 zero u16
//   @44 sequence u32 | @48 failed members (bit mask) u32 | @52 list count u32
//   @56 bus ID of each slot u8 × 8 | @64 slot being rebuilt u8 (0xFF: none) | @65..71 zero
//   @72 rows rebuilt u64 | @80 array LBAs u64 × count | @508 CRC-32C of bytes 0..507

import { member_label_base, block_bytes, array_list_max } from "../layout";
import { crc32c } from "../base/crc32c";
import { zero } from "../base/scsi";

@inline const ml_magic: u64 = 0x52415055444c4f48; // "HOLDUPAR" little-endian
@inline const ml_version: u32 = 2;
@inline const ml_targets_at: u32 = 56;
@inline const ml_list_off: u32 = 80;
@inline const ml_crc_at: u32 = 508;
/** No slot is being rebuilt. */
@inline export const ML_NO_REBUILD: u32 = 0xff;
if (ml_list_off + array_list_max * 8 > ml_crc_at) ERROR("member label: the list fits before the CRC");

/** What a member's last block is to us. */
@inline export const ML_OURS: u8 = 0;
@inline export const ML_BLANK: u8 = 1;
@inline export const ML_FOREIGN: u8 = 2;
/** Another array's label: well-formed, another id. */
@inline export const ML_OTHER: u8 = 3;
/** Neither copy could be read. */
@inline export const ML_NONE: u8 = 4;

@inline const b: usize = member_label_base;

/** Classify the label just read into member_label_base for array `id`. */
export function ml_check(id: u64): u8 {
  let blank = true;
  for (let i: u32 = 0; i < block_bytes; i += 8) {
    if (load<u64>(b + i) != 0) { blank = false; break; }
  }
  if (blank) return ML_BLANK;
  if (load<u64>(b) != ml_magic || load<u32>(b, 8) != ml_version) return ML_FOREIGN;
  if (crc32c(b, ml_crc_at, 0) != load<u32>(b + ml_crc_at)) return ML_FOREIGN;
  if (load<u64>(b, 16) != id) return ML_OTHER;
  return ML_OURS;
}

/** The array id of the label just read (after ml_check said it is ours or another
 * array's). */
@inline export function ml_id(): u64 { return load<u64>(b, 16); }
@inline export function ml_level(): u32 { return load<u32>(b, 12); }
@inline export function ml_members(): u32 { return load<u32>(b, 24); }
@inline export function ml_slot(): u32 { return load<u32>(b, 28); }
@inline export function ml_rows(): u64 { return load<u64>(b, 32); }
@inline export function ml_unit(): u32 { return load<u16>(b, 40); }
@inline export function ml_seq(): u32 { return load<u32>(b, 44); }
@inline export function ml_failed(): u32 { return load<u32>(b, 48); }
/** The bus ID slot s lives at. */
@inline export function ml_target(s: u32): u32 { return load<u8>(b + ml_targets_at + (s & 7)); }
@inline export function ml_rebuild_slot(): u32 { return load<u8>(b, 64); }
@inline export function ml_rebuild_rows(): u64 { return load<u64>(b, 72); }
export function ml_list_count(): u32 {
  let n = load<u32>(b, 52);
  return n <= array_list_max ? n : array_list_max;
}
@inline export function ml_list_at(): usize { return b + ml_list_off; }

/** Build a label in member_label_base (its slot is set by ml_set_slot). `targets`
 * holds the bus ID of each slot, a byte each. */
export function ml_build(
  id: u64, level: u32, members: u32, rows: u64, unit: u32, seq: u32, failed: u32,
  list: usize, list_n: u32, targets: usize, rebuild_slot: u32, rebuild_rows: u64,
): void {
  zero(b, block_bytes);
  store<u64>(b, ml_magic);
  store<u32>(b, ml_version, 8);
  store<u32>(b, level, 12);
  store<u64>(b, id, 16);
  store<u32>(b, members, 24);
  store<u64>(b, rows, 32);
  store<u16>(b, <u16>unit, 40);
  store<u32>(b, seq, 44);
  store<u32>(b, failed, 48);
  let n = list_n <= array_list_max ? list_n : array_list_max;
  store<u32>(b, n, 52);
  for (let s: u32 = 0; s < 8; s++) store<u8>(b + ml_targets_at + s, load<u8>(targets + s));
  store<u8>(b, <u8>rebuild_slot, 64);
  store<u64>(b, rebuild_rows, 72);
  for (let i: u32 = 0; i < n; i++) store<u64>(b + ml_list_off + (i << 3), load<u64>(list + (i << 3)));
}

/** Put the slot in the label built and seal it (CRC). */
export function ml_set_slot(slot: u32): void {
  store<u32>(b, slot, 28);
  store<u32>(b + ml_crc_at, crc32c(b, ml_crc_at, 0));
}
