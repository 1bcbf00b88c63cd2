// The state record: two copies on the EEPROM (pages 478, 479) of what says which image
// counts. docs/SPEC.md "State record" is the format:
//   magic u32 | store id u64 | retired gen u32 | armed gen u32 |
//   slowest write cycle µs u32 | bad-page map (64 bytes, bit p = page p) |
//   flags u32 (bit 0: the EEPROM is formatted) | zeros | sequence number u32 (the
//   payload's last 4 bytes)
// Written one copy after the other with one sequence number,
// the copy that does not hold the newest record first; a reader takes the good copy
// with the higher one. So a write cut or torn anywhere leaves the newest record whole
// in the other copy, even after an earlier write got through one copy only.

import {
  nv_page_bytes, bad_pages_base, bad_pages_bytes, nv_isr_page, nv_isr_verify, nv_isr_cmd,
  nv_main_page, nv_main_verify, nv_main_cmd, nv_read_page,
} from "../layout";
import { zero, copy } from "../base/scsi";
import { eeprom_write_verify, eeprom_t_wc_worst_us, eeprom_set_worst } from "../base/eeprom";
import { OK, ERR_IO, ERR_INTERRUPTED } from "../base/errors";
import {
  seal_page, read_checked, page_header_bytes, page_payload_bytes, page_seq_at, page_seq, set_page_seq,
  page_logical, image_formatted, set_image_formatted, STATE_MAGIC, LOGICAL_STATE_A, LOGICAL_STATE_B, state_page_a, state_page_b,
} from "./image";

@inline const st_magic_at: u32 = 0;
@inline const st_store_at: u32 = 4;
@inline const st_retired_at: u32 = 12;
@inline const st_armed_at: u32 = 16;
@inline const st_worst_at: u32 = 20;
@inline const st_bad_at: u32 = 24;
@inline const st_flags_at: u32 = st_bad_at + bad_pages_bytes;
@inline const FLAG_FORMATTED: u32 = 1;
if (page_header_bytes + st_flags_at + 4 > page_seq_at) ERROR("state record fits a page");


/** Sequence number of the last state record written or found. */
let state_seq: u32 = 0;

/** Read state copy `copy_n` (0: A, 1: B) into buf. Returns the bits corrected
 * it took, or -1 if it is not a good state record; its sequence number is at buf. */
function read_copy(cmd: usize, copy_n: u32, buf: usize): i32 {
  let r = read_checked(cmd, copy_n == 0 ? state_page_a : state_page_b, buf, 0);
  if (r < 0 || load<u32>(buf + page_header_bytes, st_magic_at) != STATE_MAGIC) return -1;
  if (page_logical(buf) != (copy_n == 0 ? LOGICAL_STATE_A : LOGICAL_STATE_B)) return -1;
  return r;
}

/** Sequence number of the newest good copy newest_copies() found. */
let newest_seq: u32 = 0;

/** Which copies hold the newest good record (bit 0: A, bit 1: B; 0 if neither is
 * good), read from the EEPROM itself: RAM may not know what an interrupted write left. */
function newest_copies(cmd: usize, buf: usize): u32 {
  let mask: u32 = 0;
  newest_seq = 0;
  for (let copy_n: u32 = 0; copy_n < 2; copy_n++) {
    if (read_copy(cmd, copy_n, buf) < 0) continue;
    let seq = page_seq(buf);
    if (mask == 0 || seq > newest_seq) { mask = 1 << copy_n; newest_seq = seq; }
    else if (seq == newest_seq) mask |= 1 << copy_n;
  }
  return mask;
}

/** Write the state record to both state pages, one after the other, with the next
 * sequence number; the slowest write cycle and the bad-page map go with it. The copy
 * that does not hold the newest record goes first. A copy does not start if `epoch`
 * is set and a power event came since (the save then owns the EEPROM). Returns OK if
 * at least one copy verified, ERR_INTERRUPTED if a power event stopped it, else
 * ERR_IO. */
export function state_write(store_id: u64, retired_gen: u32, armed_gen: u32, in_isr: bool, epoch: i32): i32 {
  let page: usize = in_isr ? nv_isr_page : nv_main_page;
  let verify: usize = in_isr ? nv_isr_verify : nv_main_verify;
  let cmd: usize = in_isr ? nv_isr_cmd : nv_main_cmd;
  let good: u32 = 0;
  let newest = newest_copies(cmd, verify);
  if (newest != 0 && newest_seq > state_seq) state_seq = newest_seq;
  state_seq++;
  let seq = state_seq;
  // Only A holds the newest record: B first. Else (B alone, both, neither) A first.
  let first: u32 = newest == 1 ? 1 : 0;
  for (let k: u32 = 0; k < 2; k++) {
    let copy_n: u32 = k == 0 ? first : 1 - first;
    zero(page, nv_page_bytes);
    let pl = page + page_header_bytes;
    store<u32>(pl, STATE_MAGIC, st_magic_at);
    store<u64>(pl, store_id, st_store_at);
    store<u32>(pl, retired_gen, st_retired_at);
    store<u32>(pl, armed_gen, st_armed_at);
    store<u32>(pl, <u32>eeprom_t_wc_worst_us(), st_worst_at);
    copy(pl + st_bad_at, bad_pages_base, bad_pages_bytes);
    store<u32>(pl, image_formatted() ? FLAG_FORMATTED : 0, st_flags_at);
    set_page_seq(page, seq);
    seal_page(page, copy_n == 0 ? LOGICAL_STATE_A : LOGICAL_STATE_B, 1, 0);
    let phys = copy_n == 0 ? state_page_a : state_page_b;
    let r = eeprom_write_verify(cmd, phys * nv_page_bytes, page, verify, epoch);
    if (r == OK) good++;
    else if (r == ERR_INTERRUPTED) return r; // the save has the EEPROM now
  }
  return good > 0 ? OK : ERR_IO;
}

/** What state_read found. */
export let rd_found: bool = false;
export let rd_store_id: u64 = 0;
export let rd_retired: u32 = 0;
export let rd_armed: u32 = 0;
export let rd_corrected: u32 = 0;

/** Read both state copies and take the good one with the higher sequence number.
 * With load_extras, also take the slowest write cycle and the bad-page map (boot). */
export function state_read(in_isr: bool, load_extras: bool): bool {
  let buf: usize = in_isr ? nv_isr_verify : nv_read_page;
  let cmd: usize = in_isr ? nv_isr_cmd : nv_main_cmd;
  rd_found = false;
  rd_corrected = 0;
  let best_seq: u32 = 0;
  for (let copy_n: u32 = 0; copy_n < 2; copy_n++) {
    let r = read_copy(cmd, copy_n, buf);
    if (r < 0) continue;
    let pl = buf + page_header_bytes;
    let seq = page_seq(buf);
    if (rd_found && seq <= best_seq) continue;
    rd_found = true;
    best_seq = seq;
    rd_corrected += <u32>r;
    rd_store_id = load<u64>(pl, st_store_at);
    rd_retired = load<u32>(pl, st_retired_at);
    rd_armed = load<u32>(pl, st_armed_at);
    if (load_extras) {
      set_image_formatted((load<u32>(pl, st_flags_at) & FLAG_FORMATTED) != 0);
      eeprom_set_worst(<i32>load<u32>(pl, st_worst_at));
      for (let b: u32 = 0; b < bad_pages_bytes; b++) {
        store<u8>(bad_pages_base + b, load<u8>(bad_pages_base + b) | load<u8>(pl + st_bad_at + b));
      }
    }
  }
  if (rd_found && !in_isr) state_seq = best_seq;
  return rd_found;
}

