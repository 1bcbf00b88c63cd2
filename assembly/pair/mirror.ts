// The mirrored write stores of a pair (seed 002 claims 1-5, 11-13, 37, 42; issue 10;
// docs/DESIGN.md "The pair"). A host write goes into the owner's cache and, block by
// block, into the partner's (a MIRROR entry: cache/cache.ts); the owner acknowledges
// it once the partner confirmed every block (MIRROR_ACK) and its own save budget covers
// it too. The protocol in one place, both roles:
//
// Owner (out). A session is a number (out sid) this controller offers in its
// heartbeat; it is on once the partner's heartbeat says it holds it (in sid). It is
// offered only from a clean cache (new writes wait meanwhile, prepare_max_us at most):
// every copy the partner holds from before is then of a version the disks have, and it
// drops them all when it takes the session (that is the catch-up: what the owner holds
// that no disk has is nothing, and the partner holds nothing stale). Every write to a
// cache entry takes the next sequence number (mirror table: entry_seq); the partner's
// confirmation sets entry_acked, and a write is acknowledged only once each of its
// blocks is confirmed at the version it wrote. So a copy the partner holds is never
// older than the newest acknowledged version of its block: written at a takeover, it
// can take the disk back past a version nobody acknowledged, never past one that was.
// Once a block is on the disk the owner releases the partner's copy (MIRROR_RELEASE);
// its watermark (in its heartbeat) says the same of every copy up to a sequence number,
// for releases that were lost.
//
// Alone (no session). Writes go through to the disk, and a write is acknowledged only
// once its LUN is marked *sole*: its label's epoch moved on, after every block the
// partner might hold a copy of went to the disk. A partner that holds older copies
// finds their epoch behind the label's and never writes them.
//
// Partner (in). It holds the owner's blocks as MIRROR entries under its own save
// budget (what its own writes leave of it, three quarters at most), saves them with its
// own at a power loss (nv/image.ts), and at a takeover (handover.ts) writes those whose
// epoch is the label's to the disk (restored ones first, then in sequence order),
// before it relabels the LUN and takes new writes for it.
//
// Messages (link.ts header, then the body; docs/SPEC.md "Pair messages"):
//   MIRROR     @16 sid u32 | @20 lun u8 | @21 pad | @22 seq u16 | @24 epoch u32 |
//              @28 pad u32 | @32 lba u64 | @40 pad u64 | @48 the block (512 bytes)
//   MIRROR_ACK @16 sid u32 | @20 count u32 | count × (lba u64, lun u8, pad u8, seq u16,
//              pad u32): the partner holds these copies
//   MIRROR_RELEASE  the same records, from the owner: the disk has these blocks at this
//              version or newer; drop the copy unless it is newer
import { hal_now_us, hal_log, hal_entropy } from "../base/hal";
import {
  cache_blocks_max, block_bytes, pair_tx_main, pair_tx_main_bytes, pair_tx_mirror, link_ring_slots,
} from "../layout";
import {
  cache_find, cache_alloc, cache_drop, cache_mirror_put, cache_set_mirror_flag, cache_mirror_count, cache_nv_count,
  cache_reusable_count, cache_set_pair_guard, cache_cleaned, entry_state, entry_lun, entry_lba, entry_data, entry_flags, entry_is_nv, entry_is_mirror,
  entry_inflight, entry_seq, entry_set_seq, entry_acked, entry_set_acked, ENTRY_FREE, ENTRY_DIRTY, ENTRY_CLEAN,
  FLAG_OLD, FLAG_HELD, FLAG_SENT, FLAG_MIRROR, NONE,
} from "../cache/cache";
import {
  st_lun_count, st_power_epoch, lun_state, lun_identity, lun_blocks, lun_epoch, lun_mirror_epoch,
  lun_set_mirror_epoch, lun_target, LUN_READY, LUN_ABSENT, ID_OK, ID_PARTNER, ID_NO_DISK, luns_max,
} from "../state";
import { copy } from "../base/scsi";
import { LOG_MIRROR_ON, LOG_MIRROR_OFF, LOG_MIRROR_HELD, LOG_SOLE, LOG_REPLAYED } from "../base/abi";
import { label_read, label_pair_epoch } from "../base/label";
import { disk_exec_patient, cdb_rw16, sync_cdb } from "../base/initiator";
import { OP_WRITE_16, STATUS_GOOD } from "../base/scsi";
import {
  MSG_HEADER_BYTES, MSG_MIRROR, MSG_MIRROR_ACK, MSG_MIRROR_RELEASE, msg_send, link_has_carrier, ring_next, slot_msg, slot_link, slot_free,
  msg_type, msg_from, LINKS,
} from "./link";
import {
  pair_on, pair_identity, peer_state, peer_flags, PEER_ALIVE, HB_FENCED, HB_REGISTERED,
  partner_out_sid, partner_in_sid, partner_watermark, peer_set_mirror,
} from "./peer";
import { mirror_lba_mask } from "../nv/image";

/** Mirror messages out and not confirmed at once: the partner's ring has 7 slots,
 * which its heartbeats (one a link) and our releases share. */
@inline const window_max: u32 = 4;
/** Nothing confirmed for this long while blocks wait: send them again. */
@inline const resend_us: i64 = 3_000;
/** The partner alive but confirming nothing for this long while blocks wait: end the
 * session (and go on alone) rather than hold the host's writes. */
@inline const stall_us: i64 = 300_000;
/** After a session ended for a stall, or its preparation took too long, the next is
 * offered this much later. */
@inline const backoff_us: i64 = 1_000_000;
/** New writes wait this long at most for the cache to be clean before a session. */
@inline const prepare_max_us: i64 = 500_000;
/** Messages the main loop takes from the ring in one pass: the ring, twice. */
@inline const rx_per_poll_max: u32 = link_ring_slots * 2;
/** Records (confirmations, releases) in one MIRROR_ACK or MIRROR_RELEASE. */
@inline const rec_bytes: u32 = 16;
@inline const recs_per_msg_max: u32 = (pair_tx_main_bytes - MSG_HEADER_BYTES - 8) / rec_bytes;
/** Sequence numbers are u16 and compared by difference: the oldest one still needed
 * stays within this of the newest (a write waits for the destage otherwise). */
@inline const seq_span_max: u32 = 16384;
@inline const MIRROR_BODY_BYTES: u32 = 32;
@inline const MIRROR_MSG_BYTES: u32 = MSG_HEADER_BYTES + MIRROR_BODY_BYTES + block_bytes;

@inline const OFF_STALL: i32 = 1;
@inline const OFF_PARTNER: i32 = 2;
@inline const OFF_DROPPED: i32 = 3;

// ---- owner side ------------------------------------------------------------------------
let out_sid: u32 = 0;
let out_on: bool = false;
let sid_counter: u32 = 0;
let seq_next: u16 = 1;
let last_resend_us: i64 = 0;
let last_confirm_us: i64 = 0;
let not_before_us: i64 = 0;
/** LUNs marked sole since the last session ended (bit per LUN). */
let sole_mask: u32 = 0;
let catchups: u32 = 0;
let catchup_us_last: i64 = -1;
/** Since when a session is being prepared (-1: not). */
let preparing_since_us: i64 = -1;
let seq_stalled: bool = false;

// ---- partner side -----------------------------------------------------------------------
let in_sid: u32 = 0;
/** The last watermark pruned with (a new session prunes again: adopt). */
let pruned_wm: u16 = 0;
/** Confirmations waiting to go out, in pair_tx_main, and the link to send them on. */
let acks_n: u32 = 0;
let ack_link: u32 = 0;

@inline export function mirror_on(): bool { return out_on; }
@inline export function mirror_catchups(): u32 { return catchups; }
/** The last catch-up's time in µs (-1: none yet). */
@inline export function mirror_catchup_us(): i64 { return catchup_us_last; }
@inline export function mirror_lun_sole(lun: u32): bool { return lun < 32 && (sole_mask & (1 << lun)) != 0; }
@inline export function mirror_seq_stalled(): bool { return seq_stalled; }

@inline function newer(a: u16, b: u16): bool { return <i16>(a - b) > 0; }

/** At boot, before the image is loaded. */
export function mirror_boot(): void {
  for (let lun: u32 = 0; lun < luns_max; lun++) lun_set_mirror_epoch(lun, 0);
  sid_counter = <u32>hal_entropy() & 0xffff0000;
  out_sid = 0; out_on = false; in_sid = 0; sole_mask = 0; preparing_since_us = -1; not_before_us = 0;
}

/** Every write of a host block into cache entry i (the pair: always). */
export function mirror_wrote(i: u32): void {
  if (!pair_on()) return;
  cache_set_mirror_flag(i, FLAG_SENT, false);
  entry_set_seq(i, seq_next);
  seq_next++;
  if (seq_next == 0) seq_next = 1;
}

/** May a block of a command be acknowledged? (target/rw.ts, for WAIT_MIRROR and
 * WAIT_CLEAN in a pair.) The partner holds this very version and our own save covers
 * it (NV) or the disk has it; or, alone, the disk has it and the LUN is sole. */
export function mirror_block_done(lun: u32, lba: u64): bool {
  let i = cache_find(lun, lba);
  if (i == NONE) return true; // evicted: clean, and confirmed or sole (cache.ts entry_reusable)
  let clean = entry_state(i) == ENTRY_CLEAN;
  if (entry_seq(i) == entry_acked(i) && (clean || entry_is_nv(i))) return true;
  return !out_on && clean && mirror_lun_sole(lun);
}


/** Our own blocks of LUNs the partner owns now (their labels say so): stale, whatever
 * they hold (the partner wrote its copies of what we acknowledged at its takeover). A
 * rejoin drops them, but not one that was on the bus then (its destage, refused by
 * the disk, left it dirty). Not while fenced: a controller standing down keeps its
 * own LUNs' blocks (handover.ts). Every forget_period_us: till then such a block only
 * makes us refuse the partner's copy of it, which it sends again. */
@inline const forget_period_us: i64 = 50_000;
let forgot_us: i64 = 0;
function forget_foreign(): void {
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!own(i) || entry_inflight(i)) continue;
    let lun = entry_lun(i);
    if (lun < luns_max && lun_identity(lun) == ID_PARTNER) cache_drop(i);
  }
}

/** Blocks waiting for the partner's confirmation, and of those on their way, as of the
 * last count (count(): one scan a pass, not one per question). */
let waiting_n: u32 = 0;
let inflight_n: u32 = 0;
function count(fenced: bool, now: i64): void {
  let w: u32 = 0, f: u32 = 0;
  if (!fenced && now - forgot_us >= forget_period_us) { forgot_us = now; forget_foreign(); }
  if (!out_on) { waiting_n = 0; inflight_n = 0; return; }
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!waiting(i)) continue;
    w++;
    if ((entry_flags(i) & FLAG_SENT) != 0) f++;
  }
  waiting_n = w;
  inflight_n = f;
}

/** The main loop's part, each pass: the session, the messages, the catch-up, the
 * watermark. Returns whether it did something. */
export function mirror_poll(fenced: bool, budget: u32): bool {
  if (!pair_on()) return false;
  let now = hal_now_us();
  let did = rx(now, fenced, budget);
  count(fenced, now);
  did = owner_step(now, fenced) || did;
  did = pump(now) || did;
  publish(now);
  return did;
}

// ---- owner ----------------------------------------------------------------------------

function owner_step(now: i64, fenced: bool): bool {
  let flags = peer_flags();
  let partner_ok = !fenced && peer_state() == PEER_ALIVE && (flags & (HB_FENCED | HB_REGISTERED)) == HB_REGISTERED;
  if (!partner_ok) {
    preparing_since_us = -1;
    if (out_sid != 0) { end_session(OFF_PARTNER); return true; }
    return false;
  }
  if (out_sid == 0) {
    if (now < not_before_us) return false;
    // A session starts from a clean cache: whatever copies the partner holds are then
    // of versions the disk has (or older), and it drops them all when it takes the
    // session. New writes wait meanwhile (for prepare_max_us at most).
    if (preparing_since_us < 0) preparing_since_us = now;
    if (own_dirty() > 0) {
      if (now - preparing_since_us > prepare_max_us) { preparing_since_us = -1; not_before_us = now + backoff_us; }
      return false;
    }
    sid_counter++;
    out_sid = sid_counter == 0 ? 1 : sid_counter;
    return true;
  }
  let held = partner_in_sid();
  if (!out_on) {
    if (held == out_sid) { start_session(now); return true; }
    return false;
  }
  if (held != out_sid) { end_session(OFF_DROPPED); return true; }
  // Stalled: blocks wait and nothing was confirmed for stall_us (the clock restarts
  // whenever nothing waits).
  if (waiting_n == 0) last_confirm_us = now;
  else if (now - last_confirm_us > stall_us) {
    end_session(OFF_STALL);
    not_before_us = now + backoff_us;
    return true;
  }
  return false;
}

/** The partner holds our session (and dropped every copy it had from before): writes
 * are mirrored from now on. What was written since the offer is sent now. */
function start_session(now: i64): void {
  out_on = true;
  sole_mask = 0;
  last_confirm_us = now;
  last_resend_us = now;
  catchups++;
  catchup_us_last = preparing_since_us < 0 ? 0 : now - preparing_since_us;
  preparing_since_us = -1;
  for (let i: u32 = 0; i < cache_blocks_max; i++) if (own(i)) cache_set_mirror_flag(i, FLAG_HELD | FLAG_SENT, false);
  hal_log(LOG_MIRROR_ON, <i32>out_sid, <i32>(catchup_us_last / 1000));
}

function end_session(why: i32): void {
  if (out_on) hal_log(LOG_MIRROR_OFF, why, 0);
  out_on = false;
  out_sid = 0;
  sole_mask = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) if (own(i)) cache_set_mirror_flag(i, FLAG_HELD, false);
}

/** Does the mirror protocol need the main loop again soon, with no interrupt to wake
 * it (blocks wait for the partner's confirmation, or a session is being prepared)? */
export function mirror_busy(): bool {
  return (out_on && waiting_n > 0) || mirror_holding_writes();
}

/** New writes wait: a session is being prepared (the cache is flushing). */
export function mirror_holding_writes(): bool { return preparing_since_us >= 0 && out_sid == 0; }

function own_dirty(): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) if (own(i) && entry_state(i) == ENTRY_DIRTY) n++;
  return n;
}

function own(i: u32): bool { return entry_state(i) != ENTRY_FREE && !entry_is_mirror(i); }

/** A block of a LUN we own whose version the partner has not confirmed. */
function waiting(i: u32): bool {
  return own(i) && entry_seq(i) != entry_acked(i) && entry_lun(i) < luns_max && lun_identity(entry_lun(i)) == ID_OK;
}


/** Send the blocks the partner has not confirmed, window_max at most on their way at
 * once; all of them again when nothing was confirmed for resend_us. */
function pump(now: i64): bool {
  if (!out_on) return false;
  if (now - last_confirm_us > resend_us && now - last_resend_us > resend_us) {
    last_resend_us = now;
    for (let i: u32 = 0; i < cache_blocks_max; i++) if (waiting(i)) cache_set_mirror_flag(i, FLAG_SENT, false);
    inflight_n = 0;
  }
  let out = inflight_n;
  let sent = false;
  for (let i: u32 = 0; i < cache_blocks_max && out < window_max && out < waiting_n; i++) {
    if (!waiting(i) || (entry_flags(i) & FLAG_SENT) != 0) continue;
    if (send_block(i)) { cache_set_mirror_flag(i, FLAG_SENT, true); out++; sent = true; }
  }
  return release_clean() || sent;
}

/** Tell the partner which of its copies it may drop: blocks of ours the disk has now
 * at the version it holds, or newer. Lost, the watermark drops them later. */
let released_at: u32 = 0;
function release_clean(): bool {
  if (cache_cleaned() == released_at) return false;
  released_at = cache_cleaned();
  let n: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!own(i) || entry_state(i) != ENTRY_CLEAN || (entry_flags(i) & FLAG_HELD) == 0) continue;
    cache_set_mirror_flag(i, FLAG_HELD, false);
    put_rec(n++, entry_lun(i), entry_lba(i), entry_seq(i));
    if (n == recs_per_msg_max) { send_recs(MSG_MIRROR_RELEASE, out_sid, n, 0); n = 0; }
  }
  if (n > 0) send_recs(MSG_MIRROR_RELEASE, out_sid, n, 0);
  return n > 0;
}

function send_block(i: u32): bool {
  let lun = entry_lun(i);
  let m = pair_tx_mirror;
  store<u32>(m, out_sid, MSG_HEADER_BYTES);
  store<u8>(m, <u8>lun, MSG_HEADER_BYTES + 4);
  store<u8>(m, 0, MSG_HEADER_BYTES + 5);
  store<u16>(m, entry_seq(i), MSG_HEADER_BYTES + 6);
  store<u32>(m, lun < luns_max ? lun_epoch(lun) : 0, MSG_HEADER_BYTES + 8);
  store<u32>(m, 0, MSG_HEADER_BYTES + 12);
  store<u64>(m, entry_lba(i), MSG_HEADER_BYTES + 16);
  store<u64>(m, 0, MSG_HEADER_BYTES + 24);
  copy(m + MSG_HEADER_BYTES + MIRROR_BODY_BYTES, entry_data(i), block_bytes);
  for (let k: u32 = 0; k < LINKS; k++) {
    let link = (entry_seq(i) + k) & 1; // alternate, so one link's loss costs a resend at most
    if (link_has_carrier(link) && msg_send(link, m, MIRROR_MSG_BYTES, MSG_MIRROR, pair_identity(), out_sid)) return true;
  }
  return false;
}

/** The watermark: every copy the partner holds of this session with a sequence number
 * up to it is of a version on the disk, or superseded by a newer copy it holds. It is
 * one before the oldest confirmed version of a block still dirty here. */
function watermark(): u16 {
  let oldest: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!own(i) || entry_state(i) != ENTRY_DIRTY || (entry_flags(i) & FLAG_HELD) == 0) continue;
    let d = <u32>(<u16>(seq_next - entry_acked(i)));
    if (d > oldest) oldest = d;
  }
  // A dirty block's version on its way to the partner: once stored there, the copy
  // must not fall under a watermark sent before.
  let span = oldest;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!waiting(i)) continue;
    let d = <u32>(<u16>(seq_next - entry_seq(i)));
    if (d >= 0x8000) continue;
    if (d > span) span = d;
    if (entry_state(i) == ENTRY_DIRTY && d > oldest) oldest = d;
  }
  // Every sequence number still in use stays within seq_span_max of the next one.
  seq_stalled = span > seq_span_max;
  return <u16>(seq_next - <u16>oldest - 1);
}

/** The watermark is worked out this often (the heartbeat carries it every 10 ms; one
 * worked out earlier is as safe, only lower). */
@inline const wm_period_us: i64 = 2_000;
let wm_at_us: i64 = 0;
let wm_last: u16 = 0;
function publish(now: i64): void {
  cache_set_pair_guard(true, sole_mask);
  if (!out_on) wm_last = 0;
  else if (now - wm_at_us >= wm_period_us) { wm_last = watermark(); wm_at_us = now; }
  peer_set_mirror(out_sid, in_sid, <u32>wm_last, out_on);
}

// ---- partner ------------------------------------------------------------------------

/** The messages in the ring, and what the partner's heartbeat says of its session. */
function rx(now: i64, fenced: bool, budget: u32): bool {
  let did = false;
  let alive = peer_state() == PEER_ALIVE;
  if (fenced) in_sid = 0;
  else if (alive) {
    let offered = partner_out_sid();
    if (offered != 0 && offered != in_sid) { adopt(offered); did = true; }
    let wm = <u16>partner_watermark();
    if (in_sid != 0 && offered == in_sid && wm != pruned_wm) {
      pruned_wm = wm;
      if (prune(wm)) did = true;
    }
  }
  acks_n = 0;
  let epoch = <u32>st_power_epoch();
  for (let k: u32 = 0; k < rx_per_poll_max; k++) {
    let slot = ring_next(true);
    if (slot == 0) break;
    let m = slot_msg(slot);
    if (msg_from(m) == 3 - pair_identity()) {
      let t = msg_type(m);
      if (t == MSG_MIRROR && !fenced) { if (take(m, budget, epoch)) ack_link = slot_link(slot); }
      else if (t == MSG_MIRROR_ACK) confirmed(m, now);
      else if (t == MSG_MIRROR_RELEASE) released(m);
    }
    slot_free(slot);
    did = true;
  }
  if (acks_n > 0) send_acks();
  return did;
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

/** Record k of the message being built in pair_tx_main: (lba u64, lun u8, pad u8,
 * seq u16, pad u32). */
function put_rec(k: u32, lun: u32, lba: u64, seq: u16): void {
  let r = pair_tx_main + MSG_HEADER_BYTES + 8 + k * rec_bytes;
  store<u64>(r, lba);
  store<u8>(r, <u8>lun, 8);
  store<u8>(r, 0, 9);
  store<u16>(r, seq, 10);
  store<u32>(r, 0, 12);
}

function send_recs(type: u8, sid: u32, n: u32, link: u32): void {
  let m = pair_tx_main;
  store<u32>(m, sid, MSG_HEADER_BYTES);
  store<u32>(m, n, MSG_HEADER_BYTES + 4);
  let bytes = MSG_HEADER_BYTES + 8 + n * rec_bytes;
  let l = link_has_carrier(link) ? link : 1 - link;
  msg_send(l, m, bytes, type, pair_identity(), sid);
}

/** The owner released copies: drop each unless we hold a newer one. */
function released(m: usize): void {
  if (load<u32>(m, MSG_HEADER_BYTES) != in_sid || in_sid == 0) return;
  let n = load<u32>(m, MSG_HEADER_BYTES + 4);
  if (n > recs_per_msg_max) return;
  for (let k: u32 = 0; k < n; k++) {
    let r = m + MSG_HEADER_BYTES + 8 + k * rec_bytes;
    let i = cache_find(<u32>load<u8>(r, 8), load<u64>(r));
    if (i != NONE && entry_is_mirror(i) && !newer(entry_seq(i), load<u16>(r, 10))) cache_drop(i);
  }
}

/** The partner confirmed copies: of this session, of the version each entry holds. */
function confirmed(m: usize, now: i64): void {
  if (!out_on || load<u32>(m, MSG_HEADER_BYTES) != out_sid) return;
  let n = load<u32>(m, MSG_HEADER_BYTES + 4);
  if (n > recs_per_msg_max) return;
  for (let k: u32 = 0; k < n; k++) {
    let r = m + MSG_HEADER_BYTES + 8 + k * rec_bytes;
    let i = cache_find(<u32>load<u8>(r, 8), load<u64>(r));
    if (i == NONE || entry_is_mirror(i) || entry_seq(i) != load<u16>(r, 10)) continue;
    entry_set_acked(i, entry_seq(i));
    cache_set_mirror_flag(i, FLAG_HELD, true);
    last_confirm_us = now;
  }
}

// ---- takeover, sole, restore ------------------------------------------------------------

/** Alone: the LUN's label moved to a new epoch after every block of ours on it that
 * the partner might hold went to the disk (handover.ts sole_step, or a takeover). Our
 * clean blocks of it need no copy from now on. */
export function mirror_mark_sole(lun: u32): void {
  if (lun >= 32) return;
  sole_mask |= 1 << lun;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (own(i) && entry_lun(i) == lun && entry_state(i) == ENTRY_CLEAN) entry_set_acked(i, entry_seq(i));
  }
  cache_set_pair_guard(true, sole_mask);
  hal_log(LOG_SOLE, <i32>lun, <i32>lun_epoch(lun));
}

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
    if (lun >= st_lun_count()) continue;
    let id = lun_identity(lun);
    if (entry_is_mirror(i)) {
      if (id == ID_OK || (lun_epoch(lun) & 0xffff) != (lun_mirror_epoch(lun) & 0xffff)) cache_drop(i);
    } else if (id == ID_PARTNER) cache_drop(i);
  }
}

