// A pair's fencing, takeover, rejoin and giveback (seed 002 claims 34-42; issue 10;
// docs/DESIGN.md "The pair"): the main loop's part (own_guard first, own_poll later in
// each pass). Who owns what, and the ALUA states, are own.ts; the reservations fence.ts.
import { hal_now_us, hal_log } from "../base/hal";
import { label_read, label_adopt, label_pair_epoch } from "../base/label";
import { OK } from "../base/errors";
import {
  st_lun_count, lun_state, lun_set_state, lun_set_timeouts, LUN_FAILED, LUN_ABSENT, lun_identity, lun_set_identity,
  lun_target, lun_blocks, lun_alua, lun_set_alua, lun_epoch, lun_set_epoch, LUN_READY, ID_OK, ID_BLANK, ID_PARTNER,
  ID_NO_DISK, ALUA_OPTIMIZED, ALUA_STANDBY, ALUA_TRANSITIONING, slot_busy, slot_wait, WAIT_CLEAN, WAIT_MIRROR,
} from "../state";
import { mirror_on, mirror_replay, mirror_mark_sole, mirror_lun_sole } from "./mirror";
import { mailbox_slots, cache_blocks_max } from "../layout";
import {
  LOG_TAKEOVER, LOG_FENCED, LOG_REJOINED, LOG_GIVEBACK, LOG_TOOK_BACK, LOG_LOST_ARBITRATION,
} from "../base/abi";
import { KEY_NOT_READY, ASC_ALUA_STANDBY, FIELD_NONE, STATUS_RESERVATION_CONFLICT } from "../base/scsi";
import { fail, slot_lun } from "../target/slot";
import { entry_lun, entry_state, entry_is_nv, entry_is_mirror, ENTRY_DIRTY } from "../cache/cache";
import { ur_load_label } from "../nv/unreadable";
import {
  pair_identity, pair_on, partner_store, peer_state, peer_flags, peer_set_ready, partner_ready, PEER_ALIVE, PEER_DEAD,
  PEER_HUNG, PEER_IO_HUNG, HB_FENCED, HB_WELCOME, HB_REGISTERED, partner_owned, peer_alive_since_us, peer_set_status,
  peer_lease_broken, peer_lease_renewed, pair_io_stuck,
} from "./peer";
import { pair_key, pr_register, pr_reserve, pr_preempt, pr_read_keys, KEYS_MINE, KEYS_PARTNER } from "./fence";
import { own_default_mine, own_refresh_alua, own_mask, own_ready_mask, own_forget } from "./own";

/** The partner must have been back (registered, welcomed) this long before this
 * controller gives its LUNs back, so a partner that flaps does not bounce them. */
@inline const giveback_settle_us: i64 = 1_000_000;
/** A LUN standby here that the partner does not serve and is ours by default: its
 * label is read again at most this often (a giveback whose message was lost). */
@inline const relook_us: i64 = 100_000;

let fenced: bool = false;
/** Registered on the disks (at boot, or after a rejoin) and not fenced since. */
let registered: bool = false;
/** Stood down for this controller's own stuck I/O (the heartbeat says so only then). */
let stood_down_io: bool = false;
/** A takeover under way: the heartbeat lets no fenced partner back meanwhile. */
let taking: bool = false;
let conflict_seen: bool = false;
@inline const FENCED_BY_DISK: i32 = 0;
@inline const FENCED_LEASE: i32 = 1;
@inline const FENCED_IO: i32 = 2;
@inline const FENCED_OVERLAP: i32 = 3;
let takeovers: u32 = 0;
let givebacks: u32 = 0;
let last_relook_us: i64 = 0;

@inline export function own_fenced(): bool { return fenced; }
@inline export function own_takeovers(): u32 { return takeovers; }
@inline export function own_givebacks(): u32 { return givebacks; }

/** A disk refused a write with RESERVATION CONFLICT (destage.ts): look whether this
 * controller was fenced. */
export function own_conflict(): void { if (pair_on()) conflict_seen = true; }

/** The disk the two race for when neither can prove the other dead: the first that
 * answers, lowest bus ID first (both controllers see the same shelf). */
function arbiter(): u32 {
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) if (lun_state(lun) == LUN_READY) return lun_target(lun);
  return 0;
}

/** At boot, after the labels: fenced while away (the arbiter holds the partner's key
 * and not ours)? Else register on every disk and hold the reservation of our own. */
export function own_fence_boot(): void {
  if (!pair_on()) return;
  // Taken over while away: a disk of our portion bears the partner's label. We wait,
  // unregistered, until the partner lets us back (rejoin).
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) == LUN_READY && lun_identity(lun) == ID_PARTNER && own_default_mine(lun_target(lun))) {
      become_fenced(FENCED_BY_DISK);
      return;
    }
  }
  register_all();
}

/** After a late bind: reserve what we now own (registered at boot). */
export function register_bound(): void { if (!fenced) register_all(); }

function register_all(): void {
  registered = true;
  let me = pair_identity();
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) != LUN_READY) continue;
    pr_register(lun_target(lun), pair_key(me));
    if (lun_identity(lun) == ID_OK) pr_reserve(lun_target(lun), pair_key(me));
  }
}

/** Serve nothing: every LUN standby here, what waits for a disk write or the
 * partner's copy answered standby (the host sends it again through the partner). The
 * cache stays as it is (nothing of it is destaged or read meanwhile): if the partner
 * takes our LUNs over it writes its copies of our blocks, and the rejoin then drops
 * ours (the label's epoch moved); if not, they are still the newest. Then wait, in the heartbeat
 * saying so, until the partner lets us back (rejoin). Why (the log's first number):
 * FENCED_BY_DISK the disks refused us or our key is gone; FENCED_LEASE our heartbeats
 * stopped long enough that the partner may be taking our LUNs over; FENCED_IO our own
 * I/O hung (the partner takes our LUNs; we stop first); FENCED_OVERLAP the partner
 * serves a LUN we serve. */
function become_fenced(why: i32): void {
  fenced = true;
  registered = false;
  hal_log(LOG_FENCED, why, 0);
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    lun_set_alua(lun, ALUA_STANDBY);
    if (lun_identity(lun) == ID_OK) lun_set_identity(lun, ID_PARTNER);
  }
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) {
    if (slot_busy(slot) && (slot_wait(slot) == WAIT_CLEAN || slot_wait(slot) == WAIT_MIRROR)) {
      fail(slot, KEY_NOT_READY, ASC_ALUA_STANDBY, FIELD_NONE, FIELD_NONE);
    }
  }
}


/** The main loop's part, each pass. Returns whether it did something. */
export function own_poll(store_id: u64): bool {
  if (!pair_on()) return false;
  let did = own_step(store_id);
  peer_set_status(fenced, own_mask(), false, stood_down_io, registered);
  peer_set_ready(own_ready_mask());
  return did;
}

/** First thing in each pass of the main loop, before any host command runs: stand down
 * (serve nothing, until let back) when the partner may be serving our LUNs or about
 * to: our heartbeats stopped for a while (we were hung: the partner may have judged us
 * so), or our own I/O hung (the partner takes our LUNs; we stop before it hears why). */
export function own_guard(): void {
  if (!pair_on() || fenced) return;
  if (peer_lease_broken()) { peer_lease_renewed(); become_fenced(FENCED_LEASE); }
  else if (pair_io_stuck()) { stood_down_io = true; become_fenced(FENCED_IO); }
  else return;
  peer_set_status(fenced, own_mask(), taking, stood_down_io, registered);
}

/** The partner says it serves a LUN we serve: the disk's label decides. If it names us,
 * the partner is the stale one (it stands down on its own); else we are. */
function overlap(store_id: u64): bool {
  let both = partner_owned() & own_mask();
  if (both == 0) return false;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns && lun < 32; lun++) {
    if ((both & (1 << lun)) == 0) continue;
    if (label_read(lun_target(lun), lun_blocks(lun), store_id) != ID_OK) { become_fenced(FENCED_OVERLAP); return true; }
  }
  return false;
}

function own_step(store_id: u64): bool {
  let ps = peer_state();
  if (conflict_seen) {
    conflict_seen = false;
    let me = pair_identity();
    let k = pr_read_keys(arbiter(), pair_key(me), pair_key(3 - me));
    if (!fenced && k >= 0 && (k & KEYS_MINE) == 0) { become_fenced(FENCED_BY_DISK); return true; }
  }
  if (!fenced && ps == PEER_ALIVE && overlap(store_id)) return true;
  if (fenced) {
    peer_lease_renewed();
    if (pair_io_stuck()) return false;
    stood_down_io = false;
    // Let back by the partner; or, both of us waiting (each stood down), A goes first.
    let both = ps == PEER_ALIVE && (peer_flags() & HB_FENCED) != 0 && pair_identity() == 1;
    if (ps != PEER_ALIVE || ((peer_flags() & HB_WELCOME) == 0 && !both)) return false;
    rejoin(store_id);
    return true;
  }
  if ((ps == PEER_DEAD || ps == PEER_HUNG || ps == PEER_IO_HUNG) && partner_luns() != 0) {
    takeover(store_id);
    return true;
  }
  if (!mirror_on() && sole_step(store_id)) return true;
  if (ps == PEER_ALIVE) {
    let back = (peer_flags() & (HB_FENCED | HB_REGISTERED)) == HB_REGISTERED;
    if (back && hal_now_us() - peer_alive_since_us() > giveback_settle_us && giveback(store_id)) return true;
    return relook(store_id);
  }
  return false;
}

/** Alone (no mirror session): a LUN of ours whose blocks the partner may hold copies
 * of is marked sole once none of ours waits for the disk: its label moves to the next
 * epoch, so those copies are never written (pair/mirror.ts). Until then a write to it
 * is not acknowledged. One LUN a pass, at most every sole_retry_us. */
@inline const sole_retry_us: i64 = 10_000;
let sole_tried_us: i64 = 0;
function sole_step(store_id: u64): bool {
  let now = hal_now_us();
  if (now - sole_tried_us < sole_retry_us) return false;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns && lun < 32; lun++) {
    if (lun_state(lun) != LUN_READY || lun_identity(lun) != ID_OK || mirror_lun_sole(lun)) continue;
    if (lun_alua(lun) != ALUA_OPTIMIZED || nv_dirty(lun)) continue;
    sole_tried_us = now;
    if (!adopt(lun, store_id, pair_identity(), true)) return false;
    mirror_mark_sole(lun);
    return true;
  }
  return false;
}

/** A block of ours on the LUN that the save keeps and the disk lacks. */
function nv_dirty(lun: u32): bool {
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) == ENTRY_DIRTY && entry_lun(i) == lun && entry_is_nv(i) && !entry_is_mirror(i)) return true;
  }
  return false;
}


/** LUNs the partner owns (by their labels), bit per LUN. */
function partner_luns(): u32 {
  let m: u32 = 0;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns && lun < 32; lun++) {
    if (lun_state(lun) != LUN_READY) continue;
    let id = lun_identity(lun);
    // A blank disk of the partner's portion: it died before it bound it.
    if (id == ID_PARTNER || (id == ID_BLANK && !own_default_mine(lun_target(lun)))) m |= 1 << lun;
  }
  return m;
}

/** Fence the partner, then take its LUNs: the arbiter first (a partition: the one of
 * us that preempts first wins; the other finds its key gone and is fenced), then each
 * of its disks, relabelled with our store and the next epoch. */
function takeover(store_id: u64): void {
  let me = pair_identity();
  let mine = pair_key(me), theirs = pair_key(3 - me);
  let mask = partner_luns();
  let luns = st_lun_count();
  taking = true;
  peer_set_status(fenced, own_mask(), true, stood_down_io, registered);
  // Our own LUNs too, until the arbiter says we won: in a partition the loser must not
  // serve (a read from its cache) once the winner may have written.
  let own = own_mask();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (((mask | own) & (1 << lun)) != 0) lun_set_alua(lun, ALUA_TRANSITIONING);
  }
  let arb = arbiter();
  let k = pr_read_keys(arb, mine, theirs);
  if (k >= 0 && (k & KEYS_MINE) == 0) { taking = false; hal_log(LOG_LOST_ARBITRATION, <i32>arb, 0); become_fenced(FENCED_BY_DISK); return; }
  if (k >= 0 && (k & KEYS_PARTNER) != 0) {
    let st = pr_preempt(arb, mine, theirs);
    if (st == <i32>STATUS_RESERVATION_CONFLICT) { taking = false; hal_log(LOG_LOST_ARBITRATION, <i32>arb, 1); become_fenced(FENCED_BY_DISK); return; }
  }
  for (let lun: u32 = 0; lun < luns; lun++) if ((own & (1 << lun)) != 0) lun_set_alua(lun, ALUA_OPTIMIZED);
  let taken: u32 = 0;
  for (let lun: u32 = 0; lun < luns; lun++) {
    if ((mask & (1 << lun)) == 0) continue;
    let t = lun_target(lun);
    if (t != arb) {
      let kk = pr_read_keys(t, mine, theirs);
      if (kk >= 0 && (kk & KEYS_PARTNER) != 0) pr_preempt(t, mine, theirs);
    }
    // The partner's acknowledged blocks we hold go to the disk before the label names
    // us and before any new write is taken for the LUN.
    if (mirror_replay(lun, store_id) && adopt(lun, store_id, me, false)) {
      taken |= 1 << lun;
      own_forget(lun);
      mirror_mark_sole(lun);
      lun_set_alua(lun, ALUA_OPTIMIZED);
    } else lun_set_alua(lun, ALUA_STANDBY);
  }
  takeovers++;
  taking = false;
  hal_log(LOG_TAKEOVER, <i32>taken, 0);
}

/** Relabel the LUN's disk for `owner` (its store, the next epoch), keeping the label's
 * list of unreadable blocks. True if the label is on the disk. `ours`: a LUN we serve
 * (a sole mark, a giveback): only while its label still names us. A write whose
 * outcome is unknown (a time-out, a bus reset) is not sent again: it may have landed,
 * and one sent later could land over a label the partner has written since (it took
 * the LUN back at once). The caller reads the label again to know. */
function adopt(lun: u32, store_id: u64, owner: u8, ours: bool): bool {
  let t = lun_target(lun);
  let id = label_read(t, lun_blocks(lun), store_id);
  if (id == ID_NO_DISK || (ours && id != ID_OK)) return false;
  let epoch = label_pair_epoch() + 1;
  let store = owner == pair_identity() ? store_id : partner_store();
  if (label_adopt(t, lun_blocks(lun), store, owner, epoch, false) != OK) return false;
  lun_set_epoch(lun, epoch);
  if (owner == pair_identity()) {
    lun_set_identity(lun, ID_OK);
    ur_load_label(lun);
  } else lun_set_identity(lun, ID_PARTNER);
  return true;
}

/** The partner welcomed us back: register again, read every label anew (the
 * partner's where it took them, ours where it did not or gave them back), serve what
 * is ours. */
function rejoin(store_id: u64): void {
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) == LUN_ABSENT) continue;
    let id = label_read(lun_target(lun), lun_blocks(lun), store_id);
    // A disk that looked failed while our own I/O hung: it answers again.
    if (lun_state(lun) == LUN_FAILED && id != ID_NO_DISK) { lun_set_state(lun, LUN_READY); lun_set_timeouts(lun, 0); }
    if (lun_state(lun) != LUN_READY) continue;
    // Ours, and nobody relabelled it while we stood down: what we hold is the newest.
    let unchanged = id == ID_OK && label_pair_epoch() == lun_epoch(lun);
    if (id != ID_NO_DISK) lun_set_identity(lun, id);
    if (id == ID_OK) ur_load_label(lun);
    lun_set_epoch(lun, label_pair_epoch());
    if (!unchanged) own_forget(lun);
  }
  register_all();
  fenced = false;
  own_refresh_alua(true);
  hal_log(LOG_REJOINED, 0, 0);
}

/** Give the partner back one LUN of its portion that we hold, once nothing of ours is
 * under way on it: standby here first, then the label. True if one was given. */
function giveback(store_id: u64): bool {
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) != LUN_READY || lun_identity(lun) != ID_OK || own_default_mine(lun_target(lun))) continue;
    if ((partner_ready() & (1 << lun)) == 0) continue; // it cannot reach the disk: keep it
    lun_set_alua(lun, ALUA_TRANSITIONING);
    if (lun_busy(lun)) return false; // the next pass
    if (!adopt(lun, store_id, 3 - pair_identity(), true)) {
      // The label may name the partner though our write's answer never came: it may
      // serve the LUN already. Ours again only if the label says so; the partner's if
      // it says that; else transitioning (serving nothing) until a read tells.
      let id = label_read(lun_target(lun), lun_blocks(lun), store_id);
      if (id == ID_OK) { lun_set_alua(lun, ALUA_OPTIMIZED); return false; }
      if (id != ID_PARTNER) return false;
      lun_set_identity(lun, ID_PARTNER);
      lun_set_epoch(lun, label_pair_epoch());
    }
    own_forget(lun);
    lun_set_alua(lun, ALUA_STANDBY);
    givebacks++;
    hal_log(LOG_GIVEBACK, <i32>lun, <i32>lun_epoch(lun));
    return true;
  }
  return false;
}

/** A slot works on the LUN, or the cache holds a block of it not yet on the disk. */
function lun_busy(lun: u32): bool {
  for (let slot: u32 = 0; slot < mailbox_slots; slot++) if (slot_busy(slot) && slot_lun(slot) == lun) return true;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) == ENTRY_DIRTY && entry_lun(i) == lun) return true;
  }
  return false;
}

/** A LUN of our portion standby here that the partner does not serve either: read its
 * label again (the partner gave it back). True if one was taken. */
function relook(store_id: u64): bool {
  let now = hal_now_us();
  if (now - last_relook_us < relook_us) return false;
  last_relook_us = now;
  let luns = st_lun_count();
  let theirs = partner_owned();
  for (let lun: u32 = 0; lun < luns && lun < 32; lun++) {
    if (lun_state(lun) != LUN_READY || lun_alua(lun) == ALUA_OPTIMIZED) continue;
    if ((theirs & (1 << lun)) != 0) {
      // The partner serves it: learn its label (it bound the disk since our boot).
      if (lun_identity(lun) != ID_PARTNER) {
        let pid = label_read(lun_target(lun), lun_blocks(lun), store_id);
        if (pid == ID_PARTNER) { lun_set_identity(lun, ID_PARTNER); lun_set_epoch(lun, label_pair_epoch()); }
      }
      continue;
    }
    if (!own_default_mine(lun_target(lun))) continue;
    let id = label_read(lun_target(lun), lun_blocks(lun), store_id);
    if (id != ID_OK) continue;
    lun_set_identity(lun, ID_OK);
    lun_set_epoch(lun, label_pair_epoch());
    ur_load_label(lun);
    own_forget(lun);
    pr_reserve(lun_target(lun), pair_key(pair_identity()));
    lun_set_alua(lun, ALUA_OPTIMIZED);
    hal_log(LOG_TOOK_BACK, <i32>lun, <i32>lun_epoch(lun));
    return true;
  }
  return false;
}
