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
// Partner (in; mirror_held.ts). It holds the owner's blocks as MIRROR entries under its
// own save budget (what its own writes leave of it, three quarters at most), saves them
// with its own at a power loss (nv/image.ts), and at a takeover (handover.ts) writes
// those whose epoch is the label's to the disk (restored ones first, then in sequence
// order), before it relabels the LUN and takes new writes for it.
//
// Messages (link.ts header, then the body; mirror_msg.ts; docs/SPEC.md "Pair messages"):
//   MIRROR     @16 sid u32 | @20 lun u8 | @21 pad | @22 seq u16 | @24 epoch u32 |
//              @28 pad u32 | @32 lba u64 | @40 pad u64 | @48 the block (512 bytes)
//   MIRROR_ACK @16 sid u32 | @20 count u32 | count × (lba u64, lun u8, pad u8, seq u16,
//              pad u32): the partner holds these copies
//   MIRROR_RELEASE  the same records, from the owner: the disk has these blocks at this
//              version or newer; drop the copy unless it is newer
import { hal_now_us, hal_log, hal_entropy } from "../base/hal";
import { cache_blocks_max, block_bytes, pair_tx_mirror, link_ring_slots } from "../layout";
import {
  cache_find, cache_drop, cache_set_mirror_flag, cache_set_pair_guard, cache_cleaned, entry_state, entry_lun,
  entry_lba, entry_data, entry_flags, entry_is_nv, entry_is_mirror, entry_inflight, entry_seq, entry_set_seq,
  entry_acked, entry_set_acked, ENTRY_FREE, ENTRY_DIRTY, ENTRY_CLEAN, FLAG_HELD, FLAG_SENT, NONE,
} from "../cache/cache";
import { st_power_epoch, lun_identity, lun_epoch, lun_set_mirror_epoch, ID_OK, ID_PARTNER, luns_max } from "../state";
import { copy } from "../base/scsi";
import { LOG_MIRROR_ON, LOG_MIRROR_OFF, LOG_SOLE } from "../base/abi";
import {
  MSG_HEADER_BYTES, MSG_MIRROR, MSG_MIRROR_ACK, MSG_MIRROR_RELEASE, msg_send, link_has_carrier, ring_next, slot_msg,
  slot_link, slot_free, msg_type, msg_from, LINKS, MIRROR_BODY_BYTES,
} from "./link";
import {
  pair_on, pair_identity, peer_state, peer_flags, PEER_ALIVE, HB_FENCED, HB_REGISTERED, partner_in_sid,
  peer_set_mirror,
} from "./peer";
import {
  MIRROR_MSG_BYTES, recs_per_msg_max, put_rec, send_recs, rec_at, rec_lba, rec_lun, rec_seq,
} from "./mirror_msg";
import { held_boot, held_sid, held_heard, held_begin, held_end, held_take, held_released } from "./mirror_held";
export { mirror_replay, mirror_after_restore, drop_lun } from "./mirror_held";

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
/** Sequence numbers are u16 and compared by difference: the oldest one still needed
 * stays within this of the newest (a write waits for the destage otherwise). */
@inline const seq_span_max: u32 = 16384;

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


@inline export function mirror_on(): bool { return out_on; }
@inline export function mirror_catchups(): u32 { return catchups; }
/** The last catch-up's time in µs (-1: none yet). */
@inline export function mirror_catchup_us(): i64 { return catchup_us_last; }
@inline export function mirror_lun_sole(lun: u32): bool { return lun < 32 && (sole_mask & (1 << lun)) != 0; }
@inline export function mirror_seq_stalled(): bool { return seq_stalled; }


/** The LUNs marked sole, here and in the cache's eviction guard (cache.ts). */
function set_sole(mask: u32): void {
  sole_mask = mask;
  cache_set_pair_guard(true, mask);
}

/** At boot, before the image is loaded. */
export function mirror_boot(): void {
  for (let lun: u32 = 0; lun < luns_max; lun++) lun_set_mirror_epoch(lun, 0);
  sid_counter = <u32>hal_entropy() & 0xffff0000;
  out_sid = 0; out_on = false; preparing_since_us = -1; not_before_us = 0;
  if (pair_on()) set_sole(0);
  held_boot();
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
function count(): void {
  let w: u32 = 0, f: u32 = 0;
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
  if (!fenced && now - forgot_us >= forget_period_us) { forgot_us = now; forget_foreign(); }
  count();
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
  set_sole(0);
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
  set_sole(0);
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
  if (!out_on) { wm_last = 0; seq_stalled = false; } // only a session's copies bound the span
  else if (now - wm_at_us >= wm_period_us) { wm_last = watermark(); wm_at_us = now; }
  peer_set_mirror(out_sid, held_sid(), <u32>wm_last, out_on);
}

// ---- the messages ----------------------------------------------------------------------

/** The messages in the ring, and what the partner's heartbeat says of its session. */
function rx(now: i64, fenced: bool, budget: u32): bool {
  let did = held_heard(fenced, peer_state() == PEER_ALIVE);
  held_begin();
  let epoch = <u32>st_power_epoch();
  for (let k: u32 = 0; k < rx_per_poll_max; k++) {
    let slot = ring_next(true);
    if (slot == 0) break;
    let m = slot_msg(slot);
    if (msg_from(m) == 3 - pair_identity()) {
      let t = msg_type(m);
      if (t == MSG_MIRROR && !fenced) held_take(m, budget, epoch, slot_link(slot));
      else if (t == MSG_MIRROR_ACK) confirmed(m, now);
      else if (t == MSG_MIRROR_RELEASE) held_released(m);
    }
    slot_free(slot);
    did = true;
  }
  held_end();
  return did;
}

/** The partner confirmed copies: of this session, of the version each entry holds. */
function confirmed(m: usize, now: i64): void {
  if (!out_on || load<u32>(m, MSG_HEADER_BYTES) != out_sid) return;
  let n = load<u32>(m, MSG_HEADER_BYTES + 4);
  if (n > recs_per_msg_max) return;
  for (let k: u32 = 0; k < n; k++) {
    let r = rec_at(m, k);
    let i = cache_find(rec_lun(r), rec_lba(r));
    if (i == NONE || entry_is_mirror(i) || entry_seq(i) != rec_seq(r)) continue;
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
  set_sole(sole_mask | (1 << lun));
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (own(i) && entry_lun(i) == lun && entry_state(i) == ENTRY_CLEAN) entry_set_acked(i, entry_seq(i));
  }
  hal_log(LOG_SOLE, <i32>lun, <i32>lun_epoch(lun));
}
