// The links to the partner controller (seed 002 claims 21-23): two, independent. A
// message goes out with hal_link_send, copied at the call; the partner's board puts each
// message that arrives into a free slot of the receive ring (layout.ts link_ring_*) and
// raises irq_link. Messages may be lost, duplicated, reordered or late: each carries a
// CRC, the sender's epoch and a sequence number, and the protocol above (peer.ts) takes
// every one as a hint that is safe to get twice, late, or not at all.
//
// Message: @0 type u8 | @1 from u8 (identity) | @2 bytes u16 (the whole message) |
// @4 epoch u32 | @8 seq u32 | @12 CRC-32C u32 (of the message with this field 0) |
// @16 the body. docs/SPEC.md "Pair messages".
import {
  link_ring_base, link_ring_slots, link_slot_bytes, link_slot_header_bytes, link_msg_max, block_bytes,
} from "../layout";
import { hal_link_send, hal_link_carrier } from "../base/hal";
import { crc32c } from "../base/crc32c";

@inline export const LINKS: u32 = 2;
@inline export const MSG_HEADER_BYTES: u32 = 16;

@inline export const MSG_HEARTBEAT: u8 = 1;
/** The mirror protocol's (pair/mirror.ts): the main loop takes these, the link
 * interrupt only heartbeats. */
@inline export const MSG_MIRROR: u8 = 2;
@inline export const MSG_MIRROR_ACK: u8 = 3;
@inline export const MSG_MIRROR_RELEASE: u8 = 4;

/** Each type's length (docs/SPEC.md "Pair messages"). The heartbeat's body: flags,
 * owned mask, store id, ready mask, the mirror protocol's out sid, in sid, watermark. */
@inline export const HB_BODY_BYTES: u32 = 32;
/** MIRROR: session, LUN, sequence number, epoch, LBA (32 bytes), then the block. */
@inline export const MIRROR_BODY_BYTES: u32 = 32;
/** MIRROR_ACK and MIRROR_RELEASE: session, count (8 bytes), then the count's records. */
@inline export const REC_BYTES: u32 = 16;

/** Messages dropped: a wrong length or CRC, or a length its type does not have (a CRC
 * that checks but a layout this firmware does not know). */
let bad_count: u32 = 0;
export function link_bad_count(): u32 { return bad_count; }

/** Slot fields (the board writes them). */
@inline const SLOT_FULL: u32 = 0;
@inline const SLOT_LINK: u32 = 1;
@inline const SLOT_LEN: u32 = 2;
/** The board's arrival number: the oldest full slot is taken first. */
@inline const SLOT_ARRIVAL: u32 = 4;

@inline function slot_at(i: u32): usize { return link_ring_base + i * link_slot_bytes; }

/** Sequence numbers of the messages this controller sends. */
let seq_next: u32 = 1;

/** Seal and send the message built at `msg` (bytes long) on link `link`. */
export function msg_send(link: u32, msg: usize, bytes: u32, type: u8, from: u8, epoch: u32): bool {
  if (bytes < MSG_HEADER_BYTES || bytes > link_msg_max) return false;
  store<u8>(msg, type, 0);
  store<u8>(msg, from, 1);
  store<u16>(msg, <u16>bytes, 2);
  store<u32>(msg, epoch, 4);
  store<u32>(msg, seq_next++, 8);
  store<u32>(msg, 0, 12);
  store<u32>(msg, crc32c(msg, bytes, 0), 12);
  return hal_link_send(<i32>link, msg, <i32>bytes) == 0;
}

@inline export function link_has_carrier(link: u32): bool { return hal_link_carrier(<i32>link) != 0; }

/** The oldest message waiting in the ring whose length and CRC are right, or 0: of
 * the heartbeats (data false: the link interrupt's) or of the others (data true: the
 * main loop's). A slot that fails its check is freed at once. Bounded by the ring's
 * slots. */
export function ring_next(data: bool): usize {
  for (let pass: u32 = 0; pass < link_ring_slots; pass++) {
    let best: usize = 0;
    for (let i: u32 = 0; i < link_ring_slots; i++) {
      let s = slot_at(i);
      if (load<u8>(s, SLOT_FULL) == 0) continue;
      if ((load<u8>(s + link_slot_header_bytes) != MSG_HEARTBEAT) != data) continue;
      if (best == 0 || <i32>(load<u32>(s, SLOT_ARRIVAL) - load<u32>(best, SLOT_ARRIVAL)) < 0) best = s;
    }
    if (best == 0) return 0;
    if (msg_valid(best)) return best;
    bad_count++;
    store<u8>(best, 0, SLOT_FULL);
  }
  return 0;
}

function msg_valid(slot: usize): bool {
  let len = <u32>load<u16>(slot, SLOT_LEN);
  let msg = slot + link_slot_header_bytes;
  if (len < MSG_HEADER_BYTES || len > link_msg_max || <u32>load<u16>(msg, 2) != len) return false;
  let crc = load<u32>(msg, 12);
  store<u32>(msg, 0, 12);
  let ok = crc32c(msg, len, 0) == crc;
  store<u32>(msg, crc, 12);
  return ok && length_ok(msg, len);
}

/** The message's length is its type's: a body read past it would be the slot's stale
 * bytes. A type this firmware does not know is dropped too. */
function length_ok(msg: usize, len: u32): bool {
  let t = load<u8>(msg);
  if (t == MSG_HEARTBEAT) return len == MSG_HEADER_BYTES + HB_BODY_BYTES;
  if (t == MSG_MIRROR) return len == MSG_HEADER_BYTES + MIRROR_BODY_BYTES + block_bytes;
  if (t != MSG_MIRROR_ACK && t != MSG_MIRROR_RELEASE || len < MSG_HEADER_BYTES + 8) return false;
  let n = load<u32>(msg, MSG_HEADER_BYTES + 4);
  return n <= (link_msg_max - MSG_HEADER_BYTES - 8) / REC_BYTES && len == MSG_HEADER_BYTES + 8 + n * REC_BYTES;
}

@inline export function slot_msg(slot: usize): usize { return slot + link_slot_header_bytes; }
@inline export function slot_link(slot: usize): u32 { return load<u8>(slot, SLOT_LINK); }
/** The message is handled: its slot takes the next one. */
@inline export function slot_free(slot: usize): void { store<u8>(slot, 0, SLOT_FULL); }

@inline export function msg_type(m: usize): u8 { return load<u8>(m, 0); }
@inline export function msg_from(m: usize): u8 { return load<u8>(m, 1); }
@inline export function msg_epoch(m: usize): u32 { return load<u32>(m, 4); }
@inline export function msg_seq(m: usize): u32 { return load<u32>(m, 8); }

/** At boot: whatever the ring held belongs to an earlier instance. */
export function ring_reset(): void {
  for (let i: u32 = 0; i < link_ring_slots; i++) store<u8>(slot_at(i), 0, SLOT_FULL);
}
