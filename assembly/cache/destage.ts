// Destage: dirty cache blocks go to their disks in LBA order (C-LOOK: upward from
// where the head last was, then around to the lowest), adjacent blocks merged into
// one WRITE (16) with FUA, one command per disk at a time, all disks at once. A block
// stays dirty until the disk has it durably: FUA, because the disks' own write
// caches acknowledge early and lose data at power loss (seed 000 claims 4-5).
//
// A LUN whose disk cannot take its blocks (not ours, failed) is skipped: its blocks
// stay in the cache, and in every save, until the host decides (NV ACTION).

import { own_conflict } from "../pair/handover";
import { STATUS_RESERVATION_CONFLICT } from "../base/scsi";
import {
  cache_blocks_max, destage_blocks_max, sg_base, sg_entry_bytes, block_bytes,
} from "../layout";
import { hal_scsi_submit_sg, hal_log, hal_now_us } from "../base/hal";
import {
  cache_find, entry_state, entry_lun, entry_lba, entry_flags, entry_data, entry_is_nv,
  cache_start_destage, cache_end_destage, ENTRY_DIRTY, NONE, FLAG_INFLIGHT, FLAG_UNCOR, FLAG_MIRROR,
} from "./cache";
import {
  tag_alloc, tag_arm, tag_free, tag_cdb, tag_result, tag_status, tag_host_status, tag_sense,
  tag_straddled_power, tag_aborted, tag_owner_id, OWNER_DESTAGE, TAG_NONE,
} from "../base/tags";
import { cdb_rw16 } from "../base/initiator";
import {
  OP_WRITE_16, STATUS_GOOD, STATUS_PENDING, STATUS_CHECK_CONDITION, KEY_UNIT_ATTENTION,
  KEY_NOT_READY, sense_key_of, be32, be64,
} from "../base/scsi";
import { HOST_OK, HOST_SELECTION_TIMEOUT, LOG_DISK_ERROR, LOG_DISK_FAILED } from "../base/errors";
import {
  st_lun_count, lun_usable, lun_target, lun_cursor, lun_set_cursor, lun_destaging,
  lun_set_destaging, lun_set_state, LUN_FAILED, counter_add, CNT_DISK_COMMANDS, CNT_DISK_ERRORS,
  lun_retry_at_ms, lun_set_retry_at_ms, lun_set_timeouts, lun_note_timeout, lun_write_errors,
  lun_set_write_errors,
} from "../state";
import { ur_clear_range } from "../nv/unreadable";
import { array_submit, array_target } from "../array/array";

@inline function sg_at(lun: u32): usize { return sg_base + lun * destage_blocks_max * sg_entry_bytes; }

/** Destages completed and blocks written, for the benchmarks. */
let destage_commands: u32 = 0;
let destage_blocks: u32 = 0;
@inline export function destage_command_count(): u32 { return destage_commands; }
@inline export function destage_block_count(): u32 { return destage_blocks; }

/** After a destage fails (a disk spinning up, a bus reset), wait this long before the
 * LUN's next try, so a disk that is not ready is not hammered. */
@inline const retry_backoff_ms: u32 = 50;
/** Destages refused by the disk with an error that is not transient, in a row,
 * before the disk counts as failed. */
@inline const write_errors_max: u32 = 3;

/** Is this entry a candidate: dirty, on lun, not on the bus, no WRITE LONG pending,
 * not the partner's (a pair), and (when NV blocks are frozen) not NV? */
@inline function candidate(i: u32, lun: u32, skip_nv: bool): bool {
  return entry_state(i) == ENTRY_DIRTY && entry_lun(i) == lun &&
    (entry_flags(i) & (FLAG_INFLIGHT | FLAG_UNCOR | FLAG_MIRROR)) == 0 && !(skip_nv && entry_is_nv(i));
}

/** Start a destage on every idle LUN that has dirty blocks. skip_nv: leave NV blocks
 * alone (a save of them is on the EEPROM and they must not change). Returns the
 * commands started. */
export function destage_kick(skip_nv: bool): u32 {
  let started: u32 = 0;
  let luns = st_lun_count();
  let now_ms = <u32>(hal_now_us() / 1000);
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_destaging(lun) || !lun_usable(lun)) continue;
    if (<i32>(now_ms - lun_retry_at_ms(lun)) < 0) continue;
    if (destage_one(lun, skip_nv)) started++;
  }
  return started;
}

/** C-LOOK: the lowest dirty LBA at or above the cursor, else the lowest of all. */
function destage_one(lun: u32, skip_nv: bool): bool {
  let cursor = lun_cursor(lun);
  let best_up = NONE, best_any = NONE;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!candidate(i, lun, skip_nv)) continue;
    let lba = entry_lba(i);
    if (best_any == NONE || lba < entry_lba(best_any)) best_any = i;
    if (lba >= cursor && (best_up == NONE || lba < entry_lba(best_up))) best_up = i;
  }
  let first = best_up != NONE ? best_up : best_any;
  if (first == NONE) return false;
  let tag = tag_alloc(OWNER_DESTAGE, lun);
  if (tag == TAG_NONE) return false;
  // Merge the run of adjacent dirty blocks after it.
  let lba = entry_lba(first);
  let sg = sg_at(lun);
  let n: u32 = 0;
  let i = first;
  while (n < destage_blocks_max) {
    store<u32>(sg + n * sg_entry_bytes, <u32>entry_data(i));
    store<u32>(sg + n * sg_entry_bytes, block_bytes, 4);
    cache_start_destage(i);
    n++;
    i = cache_find(lun, lba + n);
    if (i == NONE || !candidate(i, lun, skip_nv)) break;
  }
  cdb_rw16(tag_cdb(tag), OP_WRITE_16, lba, n, true);
  tag_arm(tag, STATUS_PENDING);
  let target = lun_target(lun);
  let r = target == array_target
    ? array_submit(tag, 0, 0, sg, n)
    : hal_scsi_submit_sg(<i32>target, <i32>tag, tag_cdb(tag), 16, sg, <i32>n, 1, tag_result(tag));
  if (r != 0) {
    tag_free(tag);
    end_run(lun, lba, n, false, false);
    return false;
  }
  counter_add(CNT_DISK_COMMANDS, 1);
  lun_set_destaging(lun, true);
  lun_set_cursor(lun, lba + n);
  return true;
}

/** The run's blocks are no longer on the bus; ok: their data is on the disk. With
 * `frozen` (a save of the NV set is on the EEPROM and may be resumed: nv.ts) an NV
 * block stays NV even so: a destage the array restarted after the power came back
 * can end during the freeze, and the set must not change under the save. It is
 * written again after the thaw. */
function end_run(lun: u32, lba: u64, n: u32, ok: bool, frozen: bool): void {
  for (let k: u32 = 0; k < n; k++) {
    let i = cache_find(lun, lba + k);
    if (i == NONE || (entry_flags(i) & FLAG_INFLIGHT) == 0) continue;
    cache_end_destage(i, ok && !(frozen && entry_is_nv(i)));
  }
}

/** A destage command completed: the run it carried is in its CDB. `frozen`: the NV
 * set may not change now (end_run). */
export function destage_done(tag: u32, frozen: bool): void {
  let lun = tag_owner_id(tag);
  let lba = be64(tag_cdb(tag) + 2);
  let n = be32(tag_cdb(tag) + 10);
  let host = tag_host_status(tag);
  let status = tag_status(tag);
  let ok = host == HOST_OK && status == STATUS_GOOD;
  if (status == STATUS_RESERVATION_CONFLICT) own_conflict(); // fenced? (a pair)
  if (ok) {
    lun_set_timeouts(lun, 0);
    lun_set_write_errors(lun, 0);
    // Blocks the label lists as unreadable are readable again once their new data is
    // durable: the label says so before the blocks stop being NV.
    if (!ur_clear_range(lun, lba, n)) ok = false;
    else {
      destage_commands++;
      destage_blocks += n;
    }
  } else {
    counter_add(CNT_DISK_ERRORS, 1);
    hal_log(LOG_DISK_ERROR, <i32>lun, <i32>status | (<i32>host << 8));
    if (failed_disk(tag, lun, host, status)) {
      lun_set_state(lun, LUN_FAILED);
      hal_log(LOG_DISK_FAILED, <i32>lun, <i32>host);
    }
    lun_set_retry_at_ms(lun, <u32>(hal_now_us() / 1000) + retry_backoff_ms);
  }
  end_run(lun, lba, n, ok, frozen);
  tag_free(tag);
  lun_set_destaging(lun, false);
}

/** Does this failure mean the disk is gone? A selection time-out (unless the power
 * failed while the command was out: the disks were off), too many commands aborted
 * for taking too long, or too many writes it refused. Its blocks stay in the cache. */
function failed_disk(tag: u32, lun: u32, host: u8, status: u8): bool {
  if (host == HOST_SELECTION_TIMEOUT) return !tag_straddled_power(tag);
  if (host != HOST_OK) {
    if (!tag_aborted(tag)) return false; // a bus reset: the disk lost power
    return lun_note_timeout(lun);
  }
  if (status != STATUS_CHECK_CONDITION) return false; // BUSY
  let key = sense_key_of(tag_sense(tag));
  if (key == KEY_UNIT_ATTENTION || key == KEY_NOT_READY) return false;
  lun_set_write_errors(lun, lun_write_errors(lun) + 1);
  return lun_write_errors(lun) >= write_errors_max;
}
