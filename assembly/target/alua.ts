// Asymmetric logical unit access through this controller's port (SPC-4 5.15; a pair,
// seed 002): the gate a command passes before it runs, and REPORT TARGET PORT GROUPS.
// Each controller is one target port group: group 1 with relative target port 1 is
// controller A, group 2 / port 2 is B. Alone, the controller is group 1, always
// active/optimized.
import {
  KEY_NOT_READY, KEY_UNIT_ATTENTION, ASC_ALUA_TRANSITION, ASC_ALUA_STANDBY, ASC_ALUA_CHANGED, STATUS_GOOD,
  OP_INQUIRY, OP_REQUEST_SENSE, OP_MAINTENANCE_IN, OP_MODE_SENSE_6, OP_MODE_SENSE_10, OP_READ_CAPACITY_10,
  OP_SERVICE_ACTION_IN_16, SA_REPORT_TARGET_PORT_GROUPS, FIELD_NONE, zero, put_be16, put_be32, be32,
} from "../base/scsi";
import {
  lun_alua, lun_alua_ua, lun_clear_alua_ua, ALUA_OPTIMIZED, ALUA_STANDBY, ALUA_TRANSITIONING,
} from "../state";
import { pair_on, pair_identity, peer_state, PEER_ALIVE } from "../pair/peer";
import { finish, fail, fail_field, slot_data, min_u32 } from "./slot";
import { mailbox_data_bytes } from "../layout";

/** ALUA states a group may report (SPC-4 table 163): unavailable. */
@inline const ALUA_UNAVAILABLE: u8 = 3;

/** Before a command runs on a pair's LUN: the access-state change it is owed (UNIT
 * ATTENTION, once), then, unless the LUN is active/optimized here, NOT READY for all
 * but the commands a standby port answers (SPC-4 5.15.2.4.4). False: failed. */
export function alua_gate(slot: u32, lun: u32, op: u8): bool {
  if (!pair_on()) return true;
  if (lun_alua_ua(lun) && op != OP_INQUIRY && op != OP_REQUEST_SENSE) {
    lun_clear_alua_ua(lun);
    fail(slot, KEY_UNIT_ATTENTION, ASC_ALUA_CHANGED, FIELD_NONE, FIELD_NONE);
    return false;
  }
  let s = lun_alua(lun);
  if (s == ALUA_OPTIMIZED) return true;
  switch (op) {
    case OP_INQUIRY: case OP_REQUEST_SENSE: case OP_MAINTENANCE_IN: case OP_MODE_SENSE_6:
    case OP_MODE_SENSE_10: case OP_READ_CAPACITY_10: case OP_SERVICE_ACTION_IN_16:
      return true;
  }
  fail(slot, KEY_NOT_READY, s == ALUA_TRANSITIONING ? ASC_ALUA_TRANSITION : ASC_ALUA_STANDBY, FIELD_NONE, FIELD_NONE);
  return false;
}

/** INQUIRY byte 5's TPGS field: implicit ALUA (01b) in a pair, none alone. */
@inline export function alua_tpgs(): u8 { return pair_on() ? 0x10 : 0; }

/** MAINTENANCE IN / REPORT TARGET PORT GROUPS (SPC-4 6.36), length format: a group
 * descriptor per controller, its state for this LUN, its one port. */
export function report_target_port_groups(slot: u32, lun: u32, cdb: usize): void {
  if ((load<u8>(cdb, 1) & 0x1f) != SA_REPORT_TARGET_PORT_GROUPS) { fail_field(slot, 1, 4); return; }
  if ((load<u8>(cdb, 1) & 0xe0) != 0) { fail_field(slot, 1, 7); return; } // extended format: no
  let alloc = be32(cdb + 6);
  let d = slot_data(slot);
  let groups: u32 = pair_on() ? 2 : 1;
  let len = 4 + groups * 12;
  zero(d, len);
  put_be32(d, len - 4);
  let mine = pair_on() ? lun_alua(lun) : ALUA_OPTIMIZED;
  let other: u8 = peer_state() != PEER_ALIVE ? ALUA_UNAVAILABLE
    : mine == ALUA_OPTIMIZED ? ALUA_STANDBY : mine == ALUA_STANDBY ? ALUA_OPTIMIZED : ALUA_TRANSITIONING;
  let me: u32 = pair_on() ? pair_identity() : 1;
  for (let g: u32 = 0; g < groups; g++) {
    let p = d + 4 + g * 12;
    let id: u32 = g == 0 ? me : 3 - me;
    store<u8>(p, g == 0 ? mine : other, 0);
    store<u8>(p, 0x80 | 0x08 | 0x04 | 0x01, 1); // T_SUP, U_SUP, S_SUP, AO_SUP
    put_be16(p + 2, id);
    store<u8>(p, 1, 7);                          // one target port
    put_be16(p + 10, id);                        // its relative target port identifier
  }
  finish(slot, STATUS_GOOD, min_u32(min_u32(len, alloc), mailbox_data_bytes));
}
