// The mirror protocol's messages (pair/mirror.ts has the protocol; docs/SPEC.md "Pair
// messages" the layout): a block's MIRROR, and the records of MIRROR_ACK and
// MIRROR_RELEASE, built in pair_tx_main.
import { block_bytes, pair_tx_main, pair_tx_main_bytes } from "../layout";
import { MSG_HEADER_BYTES, MIRROR_BODY_BYTES, REC_BYTES, msg_send, link_has_carrier } from "./link";
import { pair_identity } from "./peer";

@inline export const MIRROR_MSG_BYTES: u32 = MSG_HEADER_BYTES + MIRROR_BODY_BYTES + block_bytes;
/** Records (confirmations, releases) in one MIRROR_ACK or MIRROR_RELEASE. */
@inline const rec_bytes: u32 = REC_BYTES;
@inline export const recs_per_msg_max: u32 = (pair_tx_main_bytes - MSG_HEADER_BYTES - 8) / rec_bytes;

/** Sequence numbers are u16, compared by difference: is a after b? */
@inline export function newer(a: u16, b: u16): bool { return <i16>(a - b) > 0; }

/** Record k of the message being built in pair_tx_main: (lba u64, lun u8, pad u8,
 * seq u16, pad u32). */
export function put_rec(k: u32, lun: u32, lba: u64, seq: u16): void {
  let r = pair_tx_main + MSG_HEADER_BYTES + 8 + k * rec_bytes;
  store<u64>(r, lba);
  store<u8>(r, <u8>lun, 8);
  store<u8>(r, 0, 9);
  store<u16>(r, seq, 10);
  store<u32>(r, 0, 12);
}

export function send_recs(type: u8, sid: u32, n: u32, link: u32): void {
  let m = pair_tx_main;
  store<u32>(m, sid, MSG_HEADER_BYTES);
  store<u32>(m, n, MSG_HEADER_BYTES + 4);
  let bytes = MSG_HEADER_BYTES + 8 + n * rec_bytes;
  let l = link_has_carrier(link) ? link : 1 - link;
  msg_send(l, m, bytes, type, pair_identity(), sid);
}

/** Record k of a received MIRROR_ACK or MIRROR_RELEASE at m. */
@inline export function rec_at(m: usize, k: u32): usize { return m + MSG_HEADER_BYTES + 8 + k * rec_bytes; }
@inline export function rec_lba(r: usize): u64 { return load<u64>(r); }
@inline export function rec_lun(r: usize): u32 { return <u32>load<u8>(r, 8); }
@inline export function rec_seq(r: usize): u16 { return load<u16>(r, 10); }
