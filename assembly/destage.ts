// Destage: dirty cache blocks go to their disks in LBA order (C-LOOK: upward from
// where the head last was, then around to the lowest), adjacent blocks merged into
// one WRITE (16) with FUA, one command per disk at a time, all disks at once. A block
// stays dirty until the disk has it durably: FUA, because the disks' own write
// caches acknowledge early and lose data at power loss (seed 000 claims 4-5).

import {
  cache_blocks_max, destage_blocks_max, sg_base, sg_entry_bytes, block_bytes, tags_max,
  mailbox_slots,
} from "./layout";
import { hal_scsi_submit_sg, hal_log, hal_now_us } from "./hal";
import {
  cache_find, entry_state, entry_lun, entry_lba, entry_inflight, entry_data,
  cache_start_destage, cache_end_destage, ENTRY_DIRTY, NONE,
} from "./cache";
import {
  tag_cdb, tag_result, tag_status, tag_host_status, tag_release, cdb_rw16, HOST_OK,
  HOST_SELECTION_TIMEOUT, tag_set_epoch, tag_straddled_power,
} from "./disks";
import { OP_WRITE_16, STATUS_GOOD, STATUS_PENDING } from "./scsi";
import {
  st_lun_count, lun_state, lun_target, lun_cursor, lun_set_cursor, lun_destaging,
  lun_set_destaging, lun_set_state, LUN_READY, LUN_FAILED, tag_busy, set_tag_busy,
  set_tag_done, counter_add, CNT_DISK_COMMANDS, CNT_DISK_ERRORS, lun_retry_at_ms, lun_set_retry_at_ms,
} from "./state";
import { LOG_DISK_ERROR } from "./errors";

/** Destage tags follow the mailbox slots' tags: one per LUN. */
@inline export const destage_tag_first: u32 = mailbox_slots;
@inline export function destage_tag(lun: u32): u32 { return destage_tag_first + lun; }
@inline export function is_destage_tag(tag: u32): bool {
  return tag >= destage_tag_first && tag < destage_tag_first + 8;
}
if (destage_tag_first + 8 >= tags_max - 1) ERROR("destage tags below the sync tag");

// Per destage tag: the run it carries (in the tag record's spare bytes).
@inline function run_set(tag: u32, lba: u64, count: u32): void {
  store<u64>(tag_cdb(tag) + 56, lba);
  store<u8>(tag_cdb(tag) + 49, <u8>count);
}
@inline function run_lba(tag: u32): u64 { return load<u64>(tag_cdb(tag) + 56); }
@inline function run_count(tag: u32): u32 { return load<u8>(tag_cdb(tag) + 49); }
@inline function sg_at(lun: u32): usize { return sg_base + lun * destage_blocks_max * sg_entry_bytes; }

/** Destages completed and blocks written, for the benchmarks. */
let destage_commands: u32 = 0;
let destage_blocks: u32 = 0;
@inline export function destage_command_count(): u32 { return destage_commands; }
@inline export function destage_block_count(): u32 { return destage_blocks; }

/** Is this entry a candidate: dirty, on lun, not already going out? */
@inline function candidate(i: u32, lun: u32): bool {
  return entry_state(i) == ENTRY_DIRTY && entry_lun(i) == lun && !entry_inflight(i);
}

/** After a destage fails (a disk spinning up, a bus reset), wait this long before the
 * LUN's next try, so a disk that is not ready is not hammered. */
@inline const retry_backoff_ms: u32 = 50;

/** Start a destage on every idle LUN that has dirty blocks. Returns commands started. */
export function destage_kick(): u32 {
  let started: u32 = 0;
  let luns = st_lun_count();
  let now_ms = <u32>(hal_now_us() / 1000);
  for (let lun: u32 = 0; lun < luns; lun++) {
    if (lun_destaging(lun) || lun_state(lun) != LUN_READY) continue;
    if (now_ms < lun_retry_at_ms(lun)) continue;
    if (destage_one(lun)) started++;
  }
  return started;
}

/** C-LOOK: the lowest dirty LBA at or above the cursor, else the lowest of all. */
function destage_one(lun: u32): bool {
  let cursor = lun_cursor(lun);
  let best_up = NONE, best_any = NONE;
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!candidate(i, lun)) continue;
    let lba = entry_lba(i);
    if (best_any == NONE || lba < entry_lba(best_any)) best_any = i;
    if (lba >= cursor && (best_up == NONE || lba < entry_lba(best_up))) best_up = i;
  }
  let first = best_up != NONE ? best_up : best_any;
  if (first == NONE) return false;
  let tag = destage_tag(lun);
  if (tag_busy(tag)) return false;
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
    if (i == NONE || !candidate(i, lun)) break;
  }
  cdb_rw16(tag_cdb(tag), OP_WRITE_16, lba, n, true);
  run_set(tag, lba, n);
  store<u8>(tag_result(tag), STATUS_PENDING, 0);
  set_tag_done(tag, false);
  set_tag_busy(tag, true);
  tag_set_epoch(tag);
  let r = hal_scsi_submit_sg(
    <i32>lun_target(lun), <i32>tag, tag_cdb(tag), 16, sg, <i32>n, 1, tag_result(tag),
  );
  if (r != 0) {
    set_tag_busy(tag, false);
    end_run(lun, lba, n, false);
    return false;
  }
  counter_add(CNT_DISK_COMMANDS, 1);
  lun_set_destaging(lun, true);
  lun_set_cursor(lun, lba + n);
  return true;
}

function end_run(lun: u32, lba: u64, n: u32, ok: bool): void {
  for (let k: u32 = 0; k < n; k++) {
    let i = cache_find(lun, lba + k);
    if (i != NONE && entry_inflight(i)) cache_end_destage(i, ok);
  }
}

/** A destage command completed. */
export function destage_done(tag: u32): void {
  let lun = tag - destage_tag_first;
  let lba = run_lba(tag);
  let n = run_count(tag);
  let ok = tag_host_status(tag) == HOST_OK && tag_status(tag) == STATUS_GOOD;
  if (!ok) {
    counter_add(CNT_DISK_ERRORS, 1);
    hal_log(LOG_DISK_ERROR, <i32>lun, <i32>tag_status(tag));
    // A disk that no longer answers keeps its dirty blocks in the cache (and in the
    // save); its LUN fails.
    // A disk that does not answer selection has failed, unless the power failed while
    // the command was out (the disks were off): then it is just retried.
    if (tag_host_status(tag) == HOST_SELECTION_TIMEOUT && !tag_straddled_power(tag)) lun_set_state(lun, LUN_FAILED);
    lun_set_retry_at_ms(lun, <u32>(hal_now_us() / 1000) + retry_backoff_ms);
  } else {
    destage_commands++;
    destage_blocks += n;
  }
  end_run(lun, lba, n, ok);
  tag_release(tag);
  lun_set_destaging(lun, false);
}
