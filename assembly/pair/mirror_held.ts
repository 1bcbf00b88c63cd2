// The partner's side of the mirrored write stores (pair/mirror.ts has the protocol):
// the copies of the owner's blocks this controller holds for it, as MIRROR entries of
// its cache (cache/cache.ts), under what its own blocks leave of its save budget; their
// confirmation, release and pruning; writing them at a takeover; and what a restore
// keeps of them.
import { hal_log } from "../base/hal";
import { cache_blocks_max, block_bytes } from "../layout";
import {
  cache_find, cache_alloc, cache_drop, cache_mirror_put, cache_mirror_count, cache_nv_count, cache_reusable_count,
  entry_state, entry_lun, entry_lba, entry_data, entry_flags, entry_is_mirror, entry_inflight, entry_seq,
  ENTRY_FREE, ENTRY_DIRTY, FLAG_OLD, NONE,
} from "../cache/cache";
import {
  st_lun_count, lun_state, lun_identity, lun_blocks, lun_epoch, lun_mirror_epoch, lun_set_mirror_epoch, lun_target,
  LUN_ABSENT, ID_OK, ID_PARTNER, ID_NO_DISK,
} from "../state";
import { LOG_MIRROR_HELD, LOG_REPLAYED } from "../base/abi";
import { label_read, label_pair_epoch } from "../base/label";
import { disk_exec_patient, cdb_rw16, sync_cdb } from "../base/initiator";
import { OP_WRITE_16, STATUS_GOOD } from "../base/scsi";
import { MSG_HEADER_BYTES, MSG_MIRROR_ACK, MIRROR_BODY_BYTES } from "./link";
import { pair_on, partner_out_sid, partner_watermark } from "./peer";
import { mirror_lba_mask } from "../nv/image";
import {
  recs_per_msg_max, newer, put_rec, send_recs, rec_at, rec_lba, rec_lun, rec_seq,
} from "./mirror_msg";

/** The partner's session whose copies we hold (0: none). */
let in_sid: u32 = 0;
/** The last watermark pruned with (a new session prunes again: adopt). */
let pruned_wm: u16 = 0;
/** Confirmations waiting to go out, in pair_tx_main, and the link to send them on. */
let acks_n: u32 = 0;
let ack_link: u32 = 0;

@inline export function held_sid(): u32 { return in_sid; }
export function held_boot(): void { in_sid = 0; pruned_wm = 0; acks_n = 0; }

/** What the partner's heartbeat says of its session: a new one to take, a watermark
 * to prune with. Fenced, we hold no session. */
export function held_heard(fenced: bool, alive: bool): bool {
  if (fenced) { in_sid = 0; return false; }
  if (!alive) return false;
  let did = false;
  let offered = partner_out_sid();
  if (offered != 0 && offered != in_sid) { adopt(offered); did = true; }
  let wm = <u16>partner_watermark();
  if (in_sid != 0 && offered == in_sid && wm != pruned_wm) {
    pruned_wm = wm;
    if (prune(wm)) did = true;
  }
  return did;
}

/** A pass's messages begin and end: the confirmations go out in one message. */
export function held_begin(): void { acks_n = 0; }
export function held_end(): void { if (acks_n > 0) send_acks(); }

/** A MIRROR that came on `link`. */
export function held_take(m: usize, budget: u32, epoch: u32, link: u32): void {
  if (take(m, budget, epoch)) ack_link = link;
}

/** The partner offers a new session, made from a clean cache: every copy we hold of
 * its blocks is of a version its disks have (or older). */
function adopt(sid: u32): void {
  let n: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) != ENTRY_FREE && entry_is_mirror(i)) { cache_drop(i); n++; }
  }
  in_sid = sid;
  pruned_wm = 0;
  hal_log(LOG_MIRROR_HELD, <i32>sid, <i32>n);
}

/** Drop this session's copies up to the owner's watermark. */
function prune(wm: u16): bool {
  let n: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) == ENTRY_FREE || !entry_is_mirror(i) || (entry_flags(i) & FLAG_OLD) != 0) continue;
    if (<i16>(entry_seq(i) - wm) <= 0) { cache_drop(i); n++; }
  }
  return n > 0;
}

/** A MIRROR: hold the block (a newer copy than ours, or the first) under our budget's
 * half, and confirm it. True if it was confirmed. */
function take(m: usize, budget: u32, epoch: u32): bool {
  let sid = load<u32>(m, MSG_HEADER_BYTES);
  let lun = <u32>load<u8>(m, MSG_HEADER_BYTES + 4);
  let seq = load<u16>(m, MSG_HEADER_BYTES + 6);
  let lun_ep = load<u32>(m, MSG_HEADER_BYTES + 8);
  let lba = load<u64>(m, MSG_HEADER_BYTES + 16);
  // Not whether we reach its disk now: the copy is for the partner's sake.
  if (sid != in_sid || in_sid == 0 || lun >= st_lun_count() || lun_state(lun) == LUN_ABSENT) return false;
  if (lun_identity(lun) == ID_OK || lba > mirror_lba_mask || lba >= lun_blocks(lun)) return false;
  // Copies of another epoch of the LUN are of no use from now on.
  if ((lun_mirror_epoch(lun) & 0xffff) != (lun_ep & 0xffff)) {
    drop_lun(lun);
    lun_set_mirror_epoch(lun, lun_ep);
  }
  let i = cache_find(lun, lba);
  if (i != NONE && entry_is_mirror(i)) {
    if (!newer(seq, entry_seq(i))) { queue_ack(lun, lba, seq); return true; } // a copy we have
    if (!cache_mirror_put(i, m + MSG_HEADER_BYTES + MIRROR_BODY_BYTES, seq, epoch)) return false;
    queue_ack(lun, lba, seq);
    return true;
  }
  // The partner's copies may use what our own blocks leave of the save budget, but
  // not the quarter kept for them (our own writes take half at most: target/rw.ts).
  if (cache_mirror_count() >= budget - budget / 4 || cache_nv_count() >= budget) return false;
  if (i != NONE) {
    // Our own copy of a block the partner owns now: stale.
    if (entry_state(i) == ENTRY_DIRTY || entry_inflight(i)) return false;
    cache_drop(i);
  }
  if (cache_reusable_count(1) == 0) return false;
  let e = cache_alloc(lun, lba);
  if (e == NONE) return false;
  if (!cache_mirror_put(e, m + MSG_HEADER_BYTES + MIRROR_BODY_BYTES, seq, epoch)) { cache_drop(e); return false; }
  queue_ack(lun, lba, seq);
  return true;
}

/** Drop every copy held for the LUN. */
export function drop_lun(lun: u32): void {
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) != ENTRY_FREE && entry_is_mirror(i) && entry_lun(i) == lun) cache_drop(i);
  }
}

function queue_ack(lun: u32, lba: u64, seq: u16): void {
  if (acks_n >= recs_per_msg_max) send_acks();
  put_rec(acks_n++, lun, lba, seq);
}

function send_acks(): void {
  send_recs(MSG_MIRROR_ACK, in_sid, acks_n, ack_link);
  acks_n = 0;
}

/** The owner released copies: drop each unless we hold a newer one. */
export function held_released(m: usize): void {
  if (load<u32>(m, MSG_HEADER_BYTES) != in_sid || in_sid == 0) return;
  let n = load<u32>(m, MSG_HEADER_BYTES + 4);
  if (n > recs_per_msg_max) return;
  for (let k: u32 = 0; k < n; k++) {
    let r = rec_at(m, k);
    let i = cache_find(rec_lun(r), rec_lba(r));
    if (i != NONE && entry_is_mirror(i) && !newer(entry_seq(i), rec_seq(r))) cache_drop(i);
  }
}

// ---- takeover, restore ---------------------------------------------------------------

/** A takeover, after the partner is fenced on the LUN's disk and before the label
 * names us: write the partner's blocks we hold for it, if they are of the label's
 * epoch (else the partner went on alone after we took them, wrote everything since
 * through, and they are stale): the earlier sessions' first, then in sequence order.
 * False if a write failed (the takeover of this LUN waits). */
export function mirror_replay(lun: u32, store_id: u64): bool {
  let held: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) if (mirror_of(i, lun)) held++;
  if (held == 0) return true;
  let t = lun_target(lun);
  if (label_read(t, lun_blocks(lun), store_id) == ID_NO_DISK) return false;
  if ((label_pair_epoch() & 0xffff) != (lun_mirror_epoch(lun) & 0xffff)) {
    drop_lun(lun);
    hal_log(LOG_REPLAYED, <i32>lun, -1);
    return true;
  }
  let written: u32 = 0;
  for (let k: u32 = 0; k < cache_blocks_max; k++) {
    let best = NONE;
    for (let i: u32 = 0; i < cache_blocks_max; i++) {
      if (!mirror_of(i, lun)) continue;
      if ((entry_flags(i) & FLAG_OLD) != 0) { best = i; break; }
      if (best == NONE || newer(entry_seq(best), entry_seq(i))) best = i;
    }
    if (best == NONE) break;
    cdb_rw16(sync_cdb, OP_WRITE_16, entry_lba(best), 1, true);
    if (disk_exec_patient(t, sync_cdb, 16, entry_data(best), block_bytes, true) != <i32>STATUS_GOOD) return false;
    cache_drop(best);
    written++;
  }
  hal_log(LOG_REPLAYED, <i32>lun, <i32>written);
  return true;
}

function mirror_of(i: u32, lun: u32): bool {
  return entry_state(i) != ENTRY_FREE && entry_is_mirror(i) && entry_lun(i) == lun;
}

/** After the image is loaded (nv.ts), with the labels read: our own blocks of LUNs the
 * partner took over while we were down are superseded (it wrote its copies of them);
 * the partner's blocks of LUNs now ours, or of an epoch the label left, are of no use. */
export function mirror_after_restore(): void {
  if (!pair_on()) return;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) == ENTRY_FREE) continue;
    let lun = entry_lun(i);
    if (lun >= st_lun_count()) {
      if (entry_is_mirror(i)) cache_drop(i); // a LUN the shelf no longer has
      continue;
    }
    let id = lun_identity(lun);
    if (entry_is_mirror(i)) {
      if (id == ID_OK || (lun_epoch(lun) & 0xffff) != (lun_mirror_epoch(lun) & 0xffff)) cache_drop(i);
    } else if (id == ID_PARTNER) cache_drop(i);
  }
}

