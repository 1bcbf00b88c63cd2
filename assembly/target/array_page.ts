// ARRAY STATUS (vendor C2h): the array's state, and the records it cannot give back —
// the host writes them again (seed 003 claims 4, 9, 14). docs/HAL.md "ARRAY STATUS".

import { array_list_max } from "../layout";
import { be16, put_be32, put_be64, zero } from "../base/scsi";
import { finish, slot_data, min_u32 } from "./slot";
import { geo_level, geo_members, geo_rows } from "../array/geometry";
import {
  members_failed_mask, list_count, list_lba, rebuild_slot, rebuild_rows, member_target, REBUILD_NONE,
} from "../array/members";
import {
  array_configured, array_repaired_rows, array_torn_records, array_hidden_used, array_state,
} from "../array/assemble";
import { wcb_ring_writes } from "../array/wcb";
import { intent_in_use } from "../array/intent";

/** Header bytes; then one 16-byte record per listed block. */
@inline export const array_status_header_bytes: u32 = 48;
@inline export const array_status_record_bytes: u32 = 16;

export function array_status(slot: u32, cdb: usize): void {
  let d = slot_data(slot);
  let n = array_configured() ? list_count() : 0;
  if (n > array_list_max) n = array_list_max;
  let total = array_status_header_bytes + n * array_status_record_bytes;
  zero(d, total);
  if (array_configured()) {
    store<u8>(d, <u8>geo_level(), 0);
    store<u8>(d, <u8>geo_members(), 1);
    store<u8>(d, array_state(), 2);
    store<u8>(d, intent_in_use() ? 1 : 0, 3);
    put_be32(d + 4, members_failed_mask());
    put_be64(d + 8, geo_rows());
    put_be32(d + 16, array_repaired_rows());
    put_be32(d + 20, array_torn_records());
    put_be32(d + 24, array_hidden_used());
    put_be32(d + 28, wcb_ring_writes());
    put_be32(d + 32, n);
    store<u8>(d + 36, <u8>rebuild_slot());
    store<u8>(d + 37, rebuild_slot() != REBUILD_NONE ? <u8>member_target(rebuild_slot()) : 0xff);
    put_be64(d + 40, rebuild_slot() != REBUILD_NONE ? rebuild_rows() : 0);
    for (let i: u32 = 0; i < n; i++) {
      let r = d + array_status_header_bytes + i * array_status_record_bytes;
      store<u8>(r, 0);           // LUN: the array is LUN 0
      put_be32(r + 4, 1);        // length, blocks
      put_be64(r + 8, list_lba(i));
    }
  }
  finish(slot, 0, min_u32(be16(cdb + 7), total));
}
