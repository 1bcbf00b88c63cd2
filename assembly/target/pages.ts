// The target's data-in pages: REQUEST SENSE, INQUIRY (standard and VPD), MODE SENSE
// (caching page), READ CAPACITY, and the vendor NV STATUS. Each checks the fields it
// uses (docs/HAL.md "Command set") and answers at most the allocation length.

import { mirror_on } from "../pair/mirror";
import { alua_tpgs } from "./alua";
import { pair_on, pair_identity, peer_state } from "../pair/peer";
import { own_fenced, own_takeovers } from "../pair/handover";
import { block_bytes, mailbox_data_bytes } from "../layout";
import {
  STATUS_GOOD, KEY_NO_SENSE, KEY_ILLEGAL_REQUEST, KEY_UNIT_ATTENTION, ASC_NONE,
  ASC_POWER_ON_RESET, ASC_SAVING_PARAMS_UNSUPPORTED, FIELD_NONE, sense_fixed_bytes,
  be16, be32, be64, put_be16, put_be32, put_be64, zero, sense_build,
} from "../base/scsi";
import {
  st_lun_count, lun_state, lun_blocks, lun_ua_pending, lun_clear_ua, lun_identity, lun_in_image,
  lun_nv, lun_usable, LUN_ABSENT, luns_max,
} from "../state";
import { cache_nv_count } from "../cache/cache";
import {
  nv_writeback_allowed, nv_image_state, nv_image_gen, nv_image_blocks, nv_lost_records,
  nv_corrected_words, nv_store_id, nv_unretired,
} from "../nv/nv";
import { budget_blocks, budget_last, holdup_us, learn_known } from "../nv/budget";
import { format_permille } from "../nv/image";
import { eeprom_t_page_bound_us } from "../base/eeprom";
import { finish, fail, fail_field, slot_data, min_u32 } from "./slot";
import { array_configured, array_state } from "../array/assemble";
import { members_failed_mask, list_count } from "../array/members";
import { rebuild_permille } from "../array/rebuild";

/** Largest transfer per command, in blocks (reported in the Block Limits VPD page). */
@inline export const max_transfer_blocks: u32 = mailbox_data_bytes / block_bytes;

export function request_sense(slot: u32, lun: u32, cdb: usize): void {
  if ((load<u8>(cdb, 1) & 0x01) != 0) { fail_field(slot, 1, 0); return; } // DESC
  let data = slot_data(slot);
  if (lun_ua_pending(lun)) {
    lun_clear_ua(lun);
    sense_build(data, KEY_UNIT_ATTENTION, ASC_POWER_ON_RESET, FIELD_NONE, FIELD_NONE);
  } else {
    sense_build(data, KEY_NO_SENSE, ASC_NONE, FIELD_NONE, FIELD_NONE);
  }
  finish(slot, STATUS_GOOD, min_u32(<u32>load<u8>(cdb, 4), sense_fixed_bytes));
}

/** Write ASCII at p, one byte per character, padded with spaces to width. */
function put_ascii(p: usize, text: string, width: u32): void {
  let n = <u32>text.length;
  for (let i: u32 = 0; i < width; i++) {
    store<u8>(p + i, i < n ? <u8>text.charCodeAt(<i32>i) : 0x20);
  }
}

/** Unit serial number: "HOLDUP" and two digits of the LUN (8 bytes). */
function put_serial(p: usize, lun: u32): void {
  put_ascii(p, "HOLDUP", 6);
  store<u8>(p + 6, <u8>(0x30 + (lun / 10) % 10));
  store<u8>(p + 7, <u8>(0x30 + lun % 10));
}

export function inquiry(slot: u32, lun: u32, cdb: usize): void {
  let flags = load<u8>(cdb, 1);
  let page = load<u8>(cdb, 2);
  let alloc = be16(cdb + 3);
  if ((flags & 0x02) != 0) { fail_field(slot, 1, 1); return; } // CMDDT (obsolete)
  let evpd = (flags & 0x01) != 0;
  let d = slot_data(slot);
  let len: u32 = 0;
  if (!evpd) {
    if (page != 0) { fail_field(slot, 2, FIELD_NONE); return; }
    zero(d, 74);
    store<u8>(d, 0x00, 0);  // PQ 0, direct-access block device
    store<u8>(d, 0x06, 2);  // SPC-4
    store<u8>(d, 0x02, 3);  // response data format 2
    store<u8>(d, 69, 4);    // additional length
    store<u8>(d, alua_tpgs(), 5); // TPGS: implicit ALUA in a pair (target/alua.ts)
    store<u8>(d, 0x02, 7);  // CMDQUE
    put_ascii(d + 8, "HOLDUP", 8);
    put_ascii(d + 16, "NV WRITE CACHE", 16);
    put_ascii(d + 32, "0.1", 4);
    // Version descriptors (SPC-4 6.4.2, Table 148): SAM-5, SPC-4, SBC-3.
    put_be16(d + 58, 0x00a0);
    put_be16(d + 60, 0x0460);
    put_be16(d + 62, 0x04c0);
    len = 74;
  } else if (page == 0x00) {
    zero(d, 8);
    store<u8>(d, 4, 3);
    store<u8>(d, 0x00, 4);
    store<u8>(d, 0x80, 5);
    store<u8>(d, 0x83, 6);
    store<u8>(d, 0xb0, 7);
    len = 8;
  } else if (page == 0x80) {
    zero(d, 4);
    store<u8>(d, 0x80, 1);
    store<u8>(d, 8, 3);
    put_serial(d + 4, lun);
    len = 12;
  } else if (page == 0x83) {
    // One T10 vendor ID designator (SPC-4 7.8.6.4): vendor "HOLDUP  " + serial.
    zero(d, 8);
    store<u8>(d, 0x83, 1);
    store<u8>(d, 20, 3);     // page length
    store<u8>(d, 0x02, 4);   // code set ASCII
    store<u8>(d, 0x01, 5);   // association LUN, type T10 vendor ID
    store<u8>(d, 16, 7);     // designator length
    put_ascii(d + 8, "HOLDUP", 8);
    put_serial(d + 16, lun);
    len = 24;
  } else if (page == 0xb0) {
    // Block Limits (SBC-3 6.5.3): maximum and optimal transfer length in blocks.
    zero(d, 64);
    store<u8>(d, 0xb0, 1);
    store<u8>(d, 0x3c, 3);
    put_be32(d + 8, max_transfer_blocks);
    put_be32(d + 12, max_transfer_blocks);
    len = 64;
  } else {
    fail_field(slot, 2, FIELD_NONE);
    return;
  }
  finish(slot, STATUS_GOOD, min_u32(alloc, len));
}

/** Caching mode page (SBC-3 6.4.5), 20 bytes. WCE is 1: writes are acknowledged
 * from the power-protected cache while the save budget allows (nothing changeable). */
function put_caching_page(p: usize, changeable: bool): void {
  zero(p, 20);
  store<u8>(p, 0x08, 0);
  store<u8>(p, 0x12, 1);
  if (!changeable) store<u8>(p, 0x04, 2); // WCE = 1, RCD = 0
}

/** Control mode page (SPC-4 7.5.8), 12 bytes, all defaults and nothing changeable:
 * TST 0, D_SENSE 0 (fixed-format sense), QERR 0, SWP 0 (not write protected). */
function put_control_page(p: usize): void {
  zero(p, 12);
  store<u8>(p, 0x0a, 0);
  store<u8>(p, 0x0a, 1);
}

export function mode_sense(slot: u32, lun: u32, cdb: usize, ten: bool): void {
  let dbd = (load<u8>(cdb, 1) & 0x08) != 0;
  let pc = load<u8>(cdb, 2) >>> 6;
  let page = load<u8>(cdb, 2) & 0x3f;
  let subpage = load<u8>(cdb, 3);
  let alloc = ten ? be16(cdb + 7) : <u32>load<u8>(cdb, 4);
  if (pc == 3) {
    fail(slot, KEY_ILLEGAL_REQUEST, ASC_SAVING_PARAMS_UNSUPPORTED, 2, 7);
    return;
  }
  if (page != 0x08 && page != 0x0a && page != 0x3f) { fail_field(slot, 2, 5); return; }
  if (subpage != 0 && !(page == 0x3f && subpage == 0xff)) { fail_field(slot, 3, FIELD_NONE); return; }
  let d = slot_data(slot);
  let header: u32 = ten ? 8 : 4;
  let bd: u32 = dbd ? 0 : 8;
  zero(d, header + bd);
  let blocks = lun_blocks(lun);
  if (bd != 0) {
    let b = d + header;
    let count = blocks > 0xffffff ? 0xffffff : <u32>blocks;
    store<u8>(b, <u8>(count >>> 16), 1);
    store<u8>(b, <u8>(count >>> 8), 2);
    store<u8>(b, <u8>count, 3);
    store<u8>(b, <u8>(block_bytes >>> 16), 5);
    store<u8>(b, <u8>(block_bytes >>> 8), 6);
    store<u8>(b, <u8>block_bytes, 7);
  }
  let total = header + bd;
  if (page == 0x08 || page == 0x3f) { put_caching_page(d + total, pc == 1); total += 20; }
  if (page == 0x0a || page == 0x3f) { put_control_page(d + total); total += 12; }
  if (ten) {
    put_be16(d, total - 2);
    store<u8>(d, 0x10, 3); // device-specific: DPOFUA
    put_be16(d + 6, bd);
  } else {
    store<u8>(d, <u8>(total - 1), 0);
    store<u8>(d, 0x10, 2);
    store<u8>(d, <u8>bd, 3);
  }
  finish(slot, STATUS_GOOD, min_u32(alloc, total));
}

export function read_capacity10(slot: u32, lun: u32, cdb: usize): void {
  let pmi = (load<u8>(cdb, 8) & 0x01) != 0;
  if (!pmi && be32(cdb + 2) != 0) { fail_field(slot, 2, FIELD_NONE); return; }
  let last = lun_blocks(lun) - 1;
  let d = slot_data(slot);
  put_be32(d, last > 0xffffffff ? 0xffffffff : <u32>last);
  put_be32(d + 4, block_bytes);
  finish(slot, STATUS_GOOD, 8);
}

export function read_capacity16(slot: u32, lun: u32, cdb: usize): void {
  let pmi = (load<u8>(cdb, 14) & 0x01) != 0;
  if (!pmi && be64(cdb + 2) != 0) { fail_field(slot, 2, FIELD_NONE); return; }
  let d = slot_data(slot);
  zero(d, 32);
  put_be64(d, lun_blocks(lun) - 1);
  put_be32(d + 8, block_bytes);
  finish(slot, STATUS_GOOD, min_u32(be32(cdb + 10), 32));
}

/** NV STATUS (vendor C0h): what the host needs to decide about a kept image, and the
 * cache's state. 64 bytes, big-endian (docs/HAL.md "NV STATUS"). */
export function nv_status(slot: u32, cdb: usize): void {
  let d = slot_data(slot);
  zero(d, 64);
  store<u8>(d, nv_image_state(), 0);
  let mode: u8 = 0;
  if (!nv_writeback_allowed()) mode = nv_unretired() ? 3 : pair_on() && !mirror_on() ? 4 : !learn_known() ? 2 : 1;
  else if (budget_last() == 0) mode = 1;
  store<u8>(d, mode, 1);
  put_be32(d + 4, nv_image_gen());
  put_be32(d + 8, nv_image_blocks());
  put_be32(d + 12, nv_corrected_words());
  put_be32(d + 16, nv_lost_records());
  put_be32(d + 20, budget_blocks());
  put_be32(d + 24, cache_nv_count());
  put_be32(d + 28, <u32>(holdup_us() / 1000));
  put_be32(d + 32, <u32>eeprom_t_page_bound_us());
  let luns = st_lun_count();
  for (let lun: u32 = 0; lun < luns_max; lun++) {
    let v: u8 = 5;
    if (lun < luns && lun_state(lun) != LUN_ABSENT) v = lun_identity(lun);
    // Bit 7: blocks of this LUN wait in the controller (restoring, or held for it).
    if (lun_in_image(lun) || (lun_nv(lun) > 0 && !lun_usable(lun))) v |= 0x80;
    store<u8>(d + 36 + lun, v);
  }
  put_be64(d + 44, nv_store_id());
  // The array (ARRAY STATUS has the rest): its state and failed members.
  store<u8>(d + 52, array_configured() ? array_state() : 0);
  store<u8>(d + 53, array_configured() ? <u8>members_failed_mask() : 0);
  put_be16(d + 54, array_configured() ? list_count() : 0);
  put_be16(d + 56, array_configured() ? rebuild_permille() : 1000);
  put_be16(d + 58, format_permille());
  // A pair (seed 002): this controller, its verdict on the partner, fenced (bit 0) and
  // mirroring its writes to the partner (bit 1), takeovers since boot.
  store<u8>(d + 60, pair_identity());
  store<u8>(d + 61, peer_state());
  store<u8>(d + 62, <u8>((own_fenced() ? 1 : 0) | (mirror_on() ? 2 : 0)));
  store<u8>(d + 63, <u8>(own_takeovers() < 255 ? own_takeovers() : 255));
  finish(slot, STATUS_GOOD, min_u32(be16(cdb + 7), 64));
}
