// Is it our I/O path that hangs, or one disk? (seed 002 claim 10: the partner alive
// but its I/O hung.) peer.ts judges the path hung when device commands are out and
// none has completed for IO_STUCK_US. Commands out to one hung disk alone would look
// the same, and a controller that stood down for that would hand the partner a
// takeover it cannot finish (the partner's commands to that disk hang too) and leave
// every other LUN of ours unserved. So once commands have been out io_probe_us with
// none completed, a TEST UNIT READY goes to the disk of the next LUN in turn, one
// probe a disk at most: a disk that answers is a completion (irq_scsi), the path
// works, and the hung disk's commands end at their own deadline (tags.ts), aborted.
// A hung path answers no probe either, and is judged as before.
import { tag_alloc, tag_busy, tag_done, tag_owner_kind, tag_owner_id, tag_cdb, tag_free, TAG_NONE, OWNER_PROBE } from "../base/tags";
import { disk_submit } from "../base/initiator";
import { zero, OP_TEST_UNIT_READY } from "../base/scsi";
import { tags_max } from "../layout";
import { st_lun_count, lun_state, lun_target, LUN_ABSENT } from "../state";
import { pair_io_quiet_us } from "./peer";

/** Commands out this long with none completed: probe another disk. Well inside
 * IO_STUCK_US (2 s), so that a disk answers before the path is judged. */
@inline const io_probe_us: i64 = 400_000;

/** The LUN whose disk the next probe goes to. */
let probe_lun: u32 = 0;
let probed_us: i64 = 0;

/** The main loop's part: a probe every io_probe_us while commands are out and none
 * completes. True if one went out. Bounded by the LUN count. */
export function io_probe_poll(now: i64): bool {
  if (pair_io_quiet_us(now) < io_probe_us || now - probed_us < io_probe_us) return false;
  probed_us = now;
  let luns = st_lun_count();
  for (let k: u32 = 0; k < luns; k++) {
    let lun = (probe_lun + k) % luns;
    if (lun_state(lun) == LUN_ABSENT || probe_out(lun_target(lun))) continue;
    probe_lun = lun + 1;
    let tag = tag_alloc(OWNER_PROBE, lun_target(lun));
    if (tag == TAG_NONE) return false;
    zero(tag_cdb(tag), 16);
    store<u8>(tag_cdb(tag), OP_TEST_UNIT_READY);
    if (disk_submit(tag, lun_target(lun), 6, 0, 0, false) != 0) { tag_free(tag); return false; }
    return true;
  }
  return false;
}

/** A probe to this disk is still out. */
function probe_out(target: u32): bool {
  for (let t: u32 = 0; t < tags_max; t++) {
    if (tag_busy(t) && !tag_done(t) && tag_owner_kind(t) == OWNER_PROBE && tag_owner_id(t) == target) return true;
  }
  return false;
}
