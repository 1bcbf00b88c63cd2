// Who owns each LUN of a pair (seed 002 claim 38; issue 10): by default the disk at an
// even bus ID is controller A's, an odd one B's; the disk's label says who owns it now
// (its store id, and the pair section with both controllers' stores and an epoch, base/
// label.ts). A controller serves only the LUNs it owns (ALUA active/optimized); through
// its port the others are standby: they answer INQUIRY, REQUEST SENSE, REPORT TARGET
// PORT GROUPS, MODE SENSE and READ CAPACITY, and anything else NOT READY, TARGET PORT
// IN STANDBY STATE, which a multipath host takes as "use the other path".
// Fencing, takeover, rejoin and giveback are handover.ts.
import { hal_now_us } from "../base/hal";
import { label_pair_config } from "../base/label";
import {
  st_lun_count, lun_state, lun_identity, lun_target, lun_alua, lun_set_alua, lun_clear_alua_ua, LUN_READY, ID_OK,
  ID_BLANK, ALUA_OPTIMIZED, ALUA_STANDBY,
} from "../state";
import { cache_blocks_max } from "../layout";
import { entry_lun, entry_state, entry_inflight, entry_is_mirror, cache_drop, ENTRY_FREE } from "../cache/cache";
import { pair_identity, pair_on, partner_store } from "./peer";

/** A controller that has not heard its partner binds its blank disks after this long
 * anyway (its labels then lack the partner's store id until it is heard). */
@inline const bind_wait_us: i64 = 2_000_000;

/** The disk at bus ID `target` belongs, by default, to this controller. */
@inline export function own_default_mine(target: u32): bool {
  return pair_identity() == <u8>(1 + (target & 1));
}

let booted_us: i64 = 0;

/** After the probe, before the labels are read: what the labels are checked against. */
export function own_boot(store_id: u64): void {
  if (!pair_on()) return;
  booted_us = hal_now_us();
  own_configure(store_id);
}

/** The label module's view of the pair: this controller and both stores. */
export function own_configure(store_id: u64): void {
  let other = partner_store();
  if (pair_identity() == 1) label_pair_config(1, store_id, other);
  else label_pair_config(2, other, store_id);
}

/** May the boot bind this blank LUN now? Alone: yes. In a pair: only the ones that are
 * this controller's by default, and only once the partner's store id is known (or it
 * has not been heard for bind_wait_us). */
export function own_may_bind(lun: u32): bool {
  if (!pair_on()) return true;
  if (!own_default_mine(lun_target(lun))) return false;
  if (partner_store() == 0) {
    if (hal_now_us() - booted_us < bind_wait_us) return false;
  }
  return true;
}

/** Each LUN's access state through this port: the owner's is active/optimized. */
export function own_refresh_alua(announce: bool): void {
  if (!pair_on()) return;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    let mine = lun_state(lun) == LUN_READY && lun_identity(lun) == ID_OK;
    lun_set_alua(lun, mine ? ALUA_OPTIMIZED : ALUA_STANDBY);
    if (!announce) lun_clear_alua_ua(lun); // the boot's POWER ON says it all
  }
}

/** Blank LUNs this controller waits to bind. */
export function own_binds_pending(): bool {
  if (!pair_on()) return false;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_state(lun) == LUN_READY && lun_identity(lun) == ID_BLANK && own_default_mine(lun_target(lun))) return true;
  }
  return false;
}

/** LUNs this controller serves (bit per LUN), for the heartbeat. */
export function own_mask(): u32 {
  if (!pair_on()) return 0;
  let m: u32 = 0;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns && lun < 32; lun++) if (lun_alua(lun) == ALUA_OPTIMIZED) m |= 1 << lun;
  return m;
}

/** LUNs whose disks this controller reaches, bit per LUN (the heartbeat's). */
export function own_ready_mask(): u32 {
  let m: u32 = 0;
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns && lun < 32; lun++) if (lun_state(lun) == LUN_READY) m |= 1 << lun;
  return m;
}

/** Drop every block the cache holds for the LUN (its owner changes). */
export function own_forget(lun: u32): void {
  // The partner's blocks held for it stay while the LUN is not ours (pair/mirror.ts).
  let keep_mirror = lun_identity(lun) != ID_OK;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (entry_state(i) == ENTRY_FREE || entry_lun(i) != lun || entry_inflight(i)) continue;
    if (keep_mirror && entry_is_mirror(i)) continue;
    cache_drop(i);
  }
}
