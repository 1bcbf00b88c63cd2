// The write-command buffer's fallback on the members themselves: when the EEPROM no
// longer takes the ring's pages (every try fails its verify), the pending entries go
// to an intent block on every live member instead, with FUA, before the update's
// first write. Each member's intent block is the block before its label's copies.
//   @0 "HOLDUPWI" | @8 sequence u32 | @12 count u32 | @16 entries (16 bytes each, as
//   in RAM, wcb.ts) | @508 CRC-32C of bytes 0..507
// The boot reads them all; the newest good one adds its entries to the ring's.

import { member_label_base, block_bytes, wcb_slots_max, wcb_slot_bytes, wcb_base } from "../layout";
import { crc32c } from "../base/crc32c";
import { zero, copy } from "../base/scsi";
import { wcb_state, wcb_add, WCB_FROM_INTENT } from "./wcb";

@inline const wi_magic: u64 = 0x49575055444c4f48; // "HOLDUPWI" little-endian
@inline const wi_entries_at: u32 = 16;
@inline const wi_crc_at: u32 = 508;
@inline export const intent_entries_max: u32 = (wi_crc_at - wi_entries_at) / wcb_slot_bytes;

let intent_seq: u32 = 0;
/** The EEPROM stopped taking the ring: updates use the intent blocks. */
let ring_broken = false;
@inline export function intent_in_use(): bool { return ring_broken; }
@inline export function set_intent_in_use(): void { ring_broken = true; }

/** The intent block is the block before the member label's two copies. */
@inline export function intent_lba(label_lba: u64): u64 { return label_lba - 2; }

/** Build the intent block (the pending entries) in member_label_base. */
export function intent_build(): void {
  let b = member_label_base;
  zero(b, block_bytes);
  store<u64>(b, wi_magic);
  intent_seq++;
  store<u32>(b, intent_seq, 8);
  let n: u32 = 0;
  for (let i: u32 = 0; i < wcb_slots_max && n < intent_entries_max; i++) {
    if (wcb_state(i) == 0) continue;
    copy(b + wi_entries_at + n * wcb_slot_bytes, wcb_base + i * wcb_slot_bytes, wcb_slot_bytes);
    n++;
  }
  store<u32>(b, n, 12);
  store<u32>(b + wi_crc_at, crc32c(b, wi_crc_at, 0));
}

/** Boot: the intent block read into member_label_base. Returns its sequence number
 * (0 if it is not a good intent block). */
export function intent_check(): u32 {
  let b = member_label_base;
  if (load<u64>(b) != wi_magic) return 0;
  if (crc32c(b, wi_crc_at, 0) != load<u32>(b + wi_crc_at)) return 0;
  let seq = load<u32>(b, 8);
  if (seq > intent_seq) intent_seq = seq;
  return seq;
}

/** Boot: add the entries of the intent block in member_label_base. Returns how many. */
export function intent_take(): u32 {
  let b = member_label_base;
  let n = load<u32>(b, 12);
  if (n > intent_entries_max) n = intent_entries_max;
  let taken: u32 = 0;
  for (let j: u32 = 0; j < n; j++) {
    let src = b + wi_entries_at + j * wcb_slot_bytes;
    let blocks = <u32>load<u16>(src, 2);
    if (blocks == 0) continue;
    if (wcb_add(load<u64>(src, 8), blocks, load<u32>(src, 4), load<u8>(src, 1) | WCB_FROM_INTENT) < wcb_slots_max) taken++;
  }
  return taken;
}
