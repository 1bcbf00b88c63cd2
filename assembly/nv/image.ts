// The NV image: what the power-fail handler writes to the EEPROM and what the next
// boot reads back, and the state record that says which image counts. docs/SPEC.md
// is the format's reference; keep them in step.
//
// EEPROM map (256-byte pages):
//   0 .. image_pages_max-1   image pages, logical page n at physical page n
//   probe_page               scratch page for measuring the write cycle
//   state_page_a, _b         two copies of the state record
//   spare_first ..           spares for image pages whose own page will not take data
//
// Every page: header (generation u32, logical u16, count u16), 212 payload bytes,
// CRC-32C, then 28 SECDED check bytes for the 28 words before them (so the CRC is
// corrected like the data), and 4 reserved bytes. An image page's CRC starts from the
// store id (CRC-32C of the store id's 8 bytes, then bytes 0..219): a page another
// store (or an earlier life of this EEPROM) wrote never checks good here. The state
// and probe pages' CRC starts from 0. The payload of pages 0..count-1 of one
// generation, in order, is the image stream:
//   meta record, the same meta record again, then one data record per block.
// meta:  magic u32 | version u16 | header bytes u16 | generation u32 | blocks u32 |
//        store id u64 | reserved u64 | blocks × (lun u8, 3 × 0, lba u64) | crc u32
// data:  lun u8 | 3 × 0 | lba u64 | 512 data bytes | crc u32
// All little-endian.

import {
  nv_page_bytes, nvmap_base, nvmap_entry_bytes, nvlog_base, nv_pages_max, nv_isr_page, nv_isr_verify,
  nv_main_page, nv_main_verify, nv_read_page, nv_isr_cmd, nv_isr_rec, nv_main_cmd, nv_main_rec,
  nv_header_word, nv_seed_buf,
  block_bytes, cache_blocks_max, bad_pages_base, bad_pages_bytes,
} from "../layout";
import { crc32c } from "../base/crc32c";
import { secded_encode, secded_decode } from "../base/secded";
import { zero, copy } from "../base/scsi";
import {
  eeprom_read, eeprom_write_verify, eeprom_measure, eeprom_t_wc_worst_us, eeprom_set_worst,
  EPOCH_ANY,
} from "../base/eeprom";
import { entry_state, entry_lun, entry_lba, entry_data, entry_is_nv, ENTRY_FREE } from "../cache/cache";
import { hal_pfail_level, hal_log } from "../base/hal";
import { OK, ERR_CORRUPT, ERR_IO, ERR_INTERRUPTED, LOG_SAVE_PAGE_MOVED, LOG_SAVE_ABORTED } from "../base/errors";

// ---- EEPROM map ----------------------------------------------------------------------
@inline export const image_pages_max: u32 = 476;
@inline export const probe_page: u32 = 476;
@inline export const state_page_a: u32 = 478;
@inline export const state_page_b: u32 = 479;
@inline export const spare_first: u32 = 480;
@inline export const spare_count: u32 = 32;
@inline export const eeprom_pages: u32 = spare_first + spare_count;
if (eeprom_pages > nv_pages_max) ERROR("the restore map indexes every EEPROM page");
if (eeprom_pages > bad_pages_bytes * 8) ERROR("the bad-page map covers every page");

// ---- page format -----------------------------------------------------------------------
@inline export const page_header_bytes: u32 = 8;
@inline export const page_payload_bytes: u32 = 212;
@inline const page_crc_at: u32 = 220;        // CRC-32C of bytes 0..219
@inline const page_words: u32 = 28;          // header + payload + CRC, 8 bytes each
@inline const page_check_at: u32 = 224;      // 28 SECDED check bytes
if (page_header_bytes + page_payload_bytes != page_crc_at) ERROR("page: CRC follows the payload");
if (page_crc_at + 4 != page_words * 8) ERROR("page: the CRC is inside the SECDED words");
if (page_check_at + page_words + 4 != nv_page_bytes) ERROR("page layout fills 256 bytes");

@inline export const LOGICAL_STATE_A: u32 = 0xfffe;
@inline export const LOGICAL_STATE_B: u32 = 0xfffd;
@inline export const LOGICAL_PROBE: u32 = 0xfffc;

/** Generations count up from 1 and stop here, far from the erased pattern 0xFFFFFFFF:
 * at one save a second that is 68 years; reaching it keeps write-back off. */
@inline export const GEN_MAX: u32 = 0x7fffffff;

// ---- records -----------------------------------------------------------------------------
@inline export const META_MAGIC: u32 = 0x4d495548;  // "HUIM"
@inline export const STATE_MAGIC: u32 = 0x54535548; // "HUST"
@inline const meta_version: u16 = 1;
@inline export const meta_header_bytes: u32 = 32;
@inline export const meta_entry_bytes: u32 = 12;
@inline export const data_record_bytes: u32 = 12 + block_bytes + 4;

/** Bytes of the image stream for `blocks` blocks. */
@inline export function image_bytes(blocks: u32): u32 {
  return 2 * meta_bytes(blocks) + blocks * data_record_bytes;
}
@inline export function meta_bytes(blocks: u32): u32 {
  return meta_header_bytes + blocks * meta_entry_bytes + 4;
}
@inline export function image_pages(blocks: u32): u32 {
  return (image_bytes(blocks) + page_payload_bytes - 1) / page_payload_bytes;
}
if (image_pages(cache_blocks_max) > image_pages_max) ERROR("a full cache's image fits the EEPROM");

// ---- buffers (layout.ts): the save and the main loop each have their own ----------
@inline const isr_page: usize = nv_isr_page;
@inline const isr_verify: usize = nv_isr_verify;
@inline const main_page: usize = nv_main_page;
@inline const main_verify: usize = nv_main_verify;
@inline const read_buf: usize = nv_read_page;
@inline const isr_cmd: usize = nv_isr_cmd;
@inline const isr_rec: usize = nv_isr_rec;
@inline const main_cmd: usize = nv_main_cmd;
@inline const main_rec: usize = nv_main_rec;
@inline const header_word: usize = nv_header_word;
@inline const seed_buf: usize = nv_seed_buf;

/** CRC seed of image pages: CRC-32C of the store id's 8 bytes (little-endian). */
export function page_seed(store_id: u64): u32 {
  store<u64>(seed_buf, store_id);
  return crc32c(seed_buf, 8, 0);
}

/** Finish the page in buf: generation, logical index, count, CRC, SECDED. */
function seal_page(buf: usize, gen: u32, logical: u32, count: u32, seed: u32): void {
  store<u32>(buf, gen, 0);
  store<u16>(buf, <u16>logical, 4);
  store<u16>(buf, <u16>count, 6);
  store<u32>(buf + page_crc_at, crc32c(buf, page_crc_at, seed));
  secded_encode(buf, page_words, buf + page_check_at);
  store<u32>(buf + page_check_at + page_words, 0);
}

/** Check a page read into buf: correct single-bit errors, verify the CRC. Returns
 * the number of corrected words, or ERR_CORRUPT. */
export function check_page(buf: usize, seed: u32): i32 {
  let fixed = secded_decode(buf, page_words, buf + page_check_at);
  if (fixed < 0) return ERR_CORRUPT;
  if (crc32c(buf, page_crc_at, seed) != load<u32>(buf + page_crc_at)) return ERR_CORRUPT;
  return fixed;
}

// ---- bad pages ---------------------------------------------------------------------------

@inline export function page_bad(p: u32): bool {
  return (load<u8>(bad_pages_base + (p >>> 3)) & (1 << (p & 7))) != 0;
}
@inline export function set_page_bad(p: u32): void {
  store<u8>(bad_pages_base + (p >>> 3), <u8>(<u32>load<u8>(bad_pages_base + (p >>> 3)) | (<u32>1 << (p & 7))));
}
export function bad_pages_count(): u32 {
  let n: u32 = 0;
  for (let p: u32 = 0; p < eeprom_pages; p++) if (page_bad(p)) n++;
  return n;
}

// ---- the stream writer (the power-fail handler's; one at a time) ---------------------------

/** Tries of one page write before it moves on (to a spare). */
@inline const write_attempts_max: u32 = 2;

let w_gen: u32 = 0;
let w_seed: u32 = 0;
let w_count: u32 = 0;
let w_logical: u32 = 0;
let w_fill: u32 = 0;
let w_from: u32 = 0;
let w_failed: bool = false;
let w_aborted: bool = false;
/** The next spare to try. A save resumed after an interruption goes on from where it
 * was, so that it never overwrites a spare holding one of its own pages. */
let spare_next: u32 = spare_first;

@inline export function save_pages_done(): u32 { return w_logical; }
@inline export function save_spare_next(): u32 { return spare_next; }

/** Write a sealed isr_page to physical page `phys`, or, if that page is known bad or
 * will not take the data after `write_attempts_max` tries, to the next good spare.
 * Returns the page used, or -1. */
function put_page(phys: u32): i32 {
  if (!page_bad(phys)) {
    for (let a: u32 = 0; a < write_attempts_max; a++) {
      if (eeprom_write_verify(isr_cmd, phys * nv_page_bytes, isr_page, isr_verify, EPOCH_ANY) == OK) return <i32>phys;
    }
    set_page_bad(phys);
  }
  while (spare_next < spare_first + spare_count) {
    let s = spare_next++;
    if (page_bad(s)) continue;
    hal_log(LOG_SAVE_PAGE_MOVED, <i32>phys, <i32>s);
    for (let a: u32 = 0; a < write_attempts_max; a++) {
      if (eeprom_write_verify(isr_cmd, s * nv_page_bytes, isr_page, isr_verify, EPOCH_ANY) == OK) return <i32>s;
    }
    set_page_bad(s);
  }
  return -1;
}

function stream_flush(): void {
  if (w_failed || w_aborted) return;
  // Pages before w_from were written (and verified) by an earlier, interrupted run of
  // this same save: the stream is the same, so they are skipped.
  if (w_logical >= w_from) {
    seal_page(isr_page, w_gen, w_logical, w_count, w_seed);
    if (put_page(w_logical) < 0) { w_failed = true; return; }
  }
  w_logical++;
  w_fill = 0;
  zero(isr_page, nv_page_bytes);
  // The supply came back: stop; the main loop decides what comes next.
  if (w_logical >= w_from && hal_pfail_level() != 0) w_aborted = true;
}

/** Append len bytes from src to the stream, writing pages as they fill. */
function emit(src: usize, len: u32): void {
  let done: u32 = 0;
  while (done < len && !w_failed && !w_aborted) {
    let room = page_payload_bytes - w_fill;
    let n = len - done < room ? len - done : room;
    copy(isr_page + page_header_bytes + w_fill, src + done, n);
    w_fill += n;
    done += n;
    if (w_fill == page_payload_bytes) stream_flush();
  }
}

@inline function put_entry_tag(p: usize, i: u32): void {
  store<u32>(p, entry_lun(i), 0);
  store<u64>(p, entry_lba(i), 4);
}

/** Emit one meta record for the NV entries, in directory order. */
function emit_meta(gen: u32, blocks: u32, store_id: u64): void {
  zero(isr_rec, meta_header_bytes);
  store<u32>(isr_rec, META_MAGIC, 0);
  store<u16>(isr_rec, meta_version, 4);
  store<u16>(isr_rec, <u16>meta_header_bytes, 6);
  store<u32>(isr_rec, gen, 8);
  store<u32>(isr_rec, blocks, 12);
  store<u64>(isr_rec, store_id, 16);
  let crc = crc32c(isr_rec, meta_header_bytes, 0);
  emit(isr_rec, meta_header_bytes);
  let k: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max && k < blocks; i++) {
    if (!entry_is_nv(i) || entry_state(i) == ENTRY_FREE) continue;
    put_entry_tag(isr_rec, i);
    crc = crc32c(isr_rec, meta_entry_bytes, crc);
    emit(isr_rec, meta_entry_bytes);
    k++;
  }
  store<u32>(isr_rec, crc);
  emit(isr_rec, 4);
}

@inline export const SAVE_ABORTED: i32 = 1;

/** The save: the `blocks` NV entries (the caller counted them), as a complete image
 * of generation `gen`, from logical page `from` on (0 for a new save; more to resume
 * one the supply interrupted, over the same NV set). Called from the power-fail
 * handler after any write cycle of the main loop has ended. Returns OK, ERR_IO if
 * every spare is used up, or SAVE_ABORTED if the supply came back before the end
 * (save_pages_done() then says how far it got). */
export function image_save(gen: u32, store_id: u64, blocks: u32, from: u32): i32 {
  w_gen = gen;
  w_seed = page_seed(store_id);
  w_count = image_pages(blocks);
  w_logical = 0;
  w_fill = 0;
  w_from = from;
  w_failed = false;
  w_aborted = false;
  if (from == 0) spare_next = spare_first;
  zero(isr_page, nv_page_bytes);
  emit_meta(gen, blocks, store_id);
  emit_meta(gen, blocks, store_id);
  let k: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max && k < blocks && !w_failed && !w_aborted; i++) {
    if (!entry_is_nv(i) || entry_state(i) == ENTRY_FREE) continue;
    put_entry_tag(isr_rec, i);
    let crc = crc32c(isr_rec, 12, 0);
    crc = crc32c(entry_data(i), block_bytes, crc);
    emit(isr_rec, 12);
    emit(entry_data(i), block_bytes);
    store<u32>(isr_rec, crc);
    emit(isr_rec, 4);
    k++;
  }
  if (w_fill > 0) stream_flush();
  if (w_aborted) { hal_log(LOG_SAVE_ABORTED, <i32>w_logical, 0); return SAVE_ABORTED; }
  if (w_failed) return ERR_IO;
  return w_logical == w_count ? OK : ERR_IO;
}

// ---- the state record (pages 478, 479) -----------------------------------------------------
// payload: magic u32 | store id u64 | retired gen u32 | armed gen u32 |
//          slowest write cycle µs u32 | bad-page map (64 bytes, bit p = page p) | zeros

@inline const st_magic_at: u32 = 0;
@inline const st_store_at: u32 = 4;
@inline const st_retired_at: u32 = 12;
@inline const st_armed_at: u32 = 16;
@inline const st_worst_at: u32 = 20;
@inline const st_bad_at: u32 = 24;
if (st_bad_at + bad_pages_bytes > page_payload_bytes) ERROR("state record fits a page");

/** Sequence number of the last state record written or found. */
let state_seq: u32 = 0;

/** Write the state record to both state pages, one after the other, with the next
 * sequence number; the slowest write cycle and the bad-page map go with it. A copy
 * does not start if `epoch` is set and a power event came since (the save then owns
 * the EEPROM). Returns OK if at least one copy verified, ERR_INTERRUPTED if a power
 * event stopped it, else ERR_IO. */
export function state_write(store_id: u64, retired_gen: u32, armed_gen: u32, in_isr: bool, epoch: i32): i32 {
  let page = in_isr ? isr_page : main_page;
  let verify = in_isr ? isr_verify : main_verify;
  let cmd = in_isr ? isr_cmd : main_cmd;
  let good: u32 = 0;
  state_seq++;
  let seq = state_seq;
  for (let copy_n: u32 = 0; copy_n < 2; copy_n++) {
    zero(page, nv_page_bytes);
    let pl = page + page_header_bytes;
    store<u32>(pl, STATE_MAGIC, st_magic_at);
    store<u64>(pl, store_id, st_store_at);
    store<u32>(pl, retired_gen, st_retired_at);
    store<u32>(pl, armed_gen, st_armed_at);
    store<u32>(pl, <u32>eeprom_t_wc_worst_us(), st_worst_at);
    copy(pl + st_bad_at, bad_pages_base, bad_pages_bytes);
    seal_page(page, seq, copy_n == 0 ? LOGICAL_STATE_A : LOGICAL_STATE_B, 1, 0);
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
  let buf = in_isr ? isr_verify : read_buf;
  let cmd = in_isr ? isr_cmd : main_cmd;
  rd_found = false;
  rd_corrected = 0;
  let best_seq: u32 = 0;
  for (let copy_n: u32 = 0; copy_n < 2; copy_n++) {
    let phys = copy_n == 0 ? state_page_a : state_page_b;
    let r = read_checked(cmd, phys, buf, 0);
    if (r < 0) continue;
    let pl = buf + page_header_bytes;
    if (load<u32>(pl, st_magic_at) != STATE_MAGIC) continue;
    let seq = load<u32>(buf);
    if (rd_found && seq <= best_seq) continue;
    rd_found = true;
    best_seq = seq;
    rd_corrected += <u32>r;
    rd_store_id = load<u64>(pl, st_store_at);
    rd_retired = load<u32>(pl, st_retired_at);
    rd_armed = load<u32>(pl, st_armed_at);
    if (load_extras) {
      eeprom_set_worst(<i32>load<u32>(pl, st_worst_at));
      for (let b: u32 = 0; b < bad_pages_bytes; b++) {
        store<u8>(bad_pages_base + b, load<u8>(bad_pages_base + b) | load<u8>(pl + st_bad_at + b));
      }
    }
  }
  if (rd_found && !in_isr) state_seq = best_seq;
  return rd_found;
}

/** Read a page and check it, twice if the first read fails (a transient read error
 * is not a bad page). Returns the corrected words, or ERR_CORRUPT. */
function read_checked(cmd: usize, phys: u32, buf: usize, seed: u32): i32 {
  for (let tries: u32 = 0; tries < 2; tries++) {
    eeprom_read(cmd, phys * nv_page_bytes, buf, <i32>nv_page_bytes);
    let r = check_page(buf, seed);
    if (r >= 0) return r;
  }
  return ERR_CORRUPT;
}

// ---- the reader (boot, main loop) ---------------------------------------------------------

@inline function map_at(phys: u32): usize { return nvmap_base + phys * nvmap_entry_bytes; }
@inline function log_at(logical: u32): usize { return nvlog_base + logical * 2; }

let r_gen: u32 = 0;
let r_seed: u32 = 0;
let r_count: u32 = 0;
let r_cached_logical: u32 = 0xffffffff;
export let restore_corrected: u32 = 0;

/** Find the pages of generation gen: read every page's header word (and its check
 * byte, correcting it), map each logical page to a physical copy, then check logical
 * page 0 whole (its count is the image's). Other pages are checked when read
 * (image_read), falling back to another copy if one fails. Returns the page count,
 * or ERR_CORRUPT if page 0 has no good copy. */
export function image_select(gen: u32, store_id: u64): i32 {
  r_gen = gen;
  r_seed = page_seed(store_id);
  r_count = 0;
  r_cached_logical = 0xffffffff;
  restore_corrected = 0;
  for (let l: u32 = 0; l < image_pages_max; l++) store<u16>(log_at(l), 0xffff);
  for (let phys: u32 = 0; phys < eeprom_pages; phys++) {
    let m = map_at(phys);
    store<u64>(m, 0xffffffffffffffff);
    eeprom_read(main_cmd, phys * nv_page_bytes, header_word, 8);
    eeprom_read(main_cmd, phys * nv_page_bytes + page_check_at, header_word + 8, 1);
    if (secded_decode(header_word, 1, header_word + 8) < 0) continue;
    if (load<u32>(header_word) != gen) continue;
    let logical = <u32>load<u16>(header_word, 4);
    store<u32>(m, gen, 0);
    store<u16>(m, <u16>logical, 4);
    store<u16>(m, load<u16>(header_word, 6), 6);
    if (logical < image_pages_max && load<u16>(log_at(logical)) == 0xffff) store<u16>(log_at(logical), <u16>phys);
  }
  if (!load_logical(0)) return ERR_CORRUPT;
  r_count = <u32>load<u16>(read_buf, 6);
  if (r_count == 0 || r_count > image_pages_max) return ERR_CORRUPT;
  return <i32>r_count;
}

/** Physical pages that hold a logical page of the selected image away from its home
 * page (moved to a spare by the save): their home pages did not take the write. */
export function note_moved_pages(): void {
  for (let l: u32 = 0; l < r_count; l++) {
    let phys = <u32>load<u16>(log_at(l));
    if (phys != 0xffff && phys >= spare_first) set_page_bad(l);
  }
}

/** Read logical page `logical` of the selected image into read_buf and check it,
 * trying every physical copy the scan saw. false if none is good. */
function load_logical(logical: u32): bool {
  if (r_cached_logical == logical) return true;
  r_cached_logical = 0xffffffff;
  for (let tries: u32 = 0; tries < eeprom_pages; tries++) {
    let phys = <u32>load<u16>(log_at(logical));
    if (phys == 0xffff) return false;
    let r = read_checked(main_cmd, phys, read_buf, r_seed);
    if (r >= 0 && load<u32>(read_buf) == r_gen && <u32>load<u16>(read_buf, 4) == logical) {
      restore_corrected += <u32>r;
      r_cached_logical = logical;
      return true;
    }
    // This copy is bad: forget it and look for another with the same header.
    store<u32>(map_at(phys), 0xffffffff);
    store<u16>(log_at(logical), 0xffff);
    for (let p: u32 = 0; p < eeprom_pages; p++) {
      let m = map_at(p);
      if (load<u32>(m) == r_gen && <u32>load<u16>(m, 4) == logical) {
        store<u16>(log_at(logical), <u16>p);
        break;
      }
    }
  }
  return false;
}

/** Read len bytes of the image stream at offset into dst. ERR_CORRUPT if any page it
 * touches has no good copy. */
export function image_read(offset: u32, dst: usize, len: u32): i32 {
  let done: u32 = 0;
  let bad = false;
  while (done < len) {
    let at = offset + done;
    let logical = at / page_payload_bytes;
    let within = at % page_payload_bytes;
    let n = page_payload_bytes - within;
    if (n > len - done) n = len - done;
    if (logical >= r_count) return ERR_CORRUPT;
    if (load_logical(logical)) copy(dst + done, read_buf + page_header_bytes + within, n);
    else bad = true;
    done += n;
  }
  return bad ? ERR_CORRUPT : OK;
}

/** Blocks in an image of `pages` pages (each block adds more than two pages' worth
 * of bytes, so the count is unique), or -1. */
function blocks_for_pages(pages: u32): i32 {
  for (let b: u32 = 0; b <= cache_blocks_max; b++) if (image_pages(b) == pages) return <i32>b;
  return -1;
}

let r_blocks: u32 = 0;
@inline export function image_blocks(): u32 { return r_blocks; }

/** Check the selected image's meta header (either copy): its generation, block count
 * and store id. Returns the block count, or ERR_CORRUPT. */
export function image_meta(store_id: u64): i32 {
  let b = blocks_for_pages(r_count);
  if (b < 0) return ERR_CORRUPT;
  let blocks = <u32>b;
  for (let c: u32 = 0; c < 2; c++) {
    if (image_read(c * meta_bytes(blocks), main_rec, meta_header_bytes) != OK) continue;
    if (load<u32>(main_rec) != META_MAGIC || load<u32>(main_rec, 8) != r_gen) continue;
    if (load<u32>(main_rec, 12) != blocks || load<u64>(main_rec, 16) != store_id) continue;
    r_blocks = blocks;
    return b;
  }
  return ERR_CORRUPT;
}

/** Where record i belongs, into out (lun u32 @0, lba u64 @8): from the first meta
 * copy, else the second, else the data record's own header (checked by its CRC).
 * Each page read is checked (SECDED + CRC), so an entry from a good page is the one
 * the save wrote even when the other pages of its copy are lost. */
export function image_entry(i: u32, out: usize): i32 {
  for (let c: u32 = 0; c < 2; c++) {
    let at = c * meta_bytes(r_blocks) + meta_header_bytes + i * meta_entry_bytes;
    if (image_read(at, main_rec, meta_entry_bytes) != OK) continue;
    store<u32>(out, load<u32>(main_rec));
    store<u64>(out, load<u64>(main_rec, 4), 8);
    return OK;
  }
  let at = 2 * meta_bytes(r_blocks) + i * data_record_bytes;
  if (image_read(at, main_rec, 12) != OK) return ERR_CORRUPT;
  let lun = load<u32>(main_rec);
  let lba = load<u64>(main_rec, 4);
  // The header alone is not proof: the whole record must check.
  if (image_data(i, lun, lba, 0) != OK) return ERR_CORRUPT;
  store<u32>(out, lun);
  store<u64>(out, lba, 8);
  return OK;
}

/** Data record i into dst (512 bytes; dst 0: check only), checked against its CRC
 * and the expected (lun, lba). OK or ERR_CORRUPT. */
export function image_data(i: u32, lun: u32, lba: u64, dst: usize): i32 {
  let at = 2 * meta_bytes(r_blocks) + i * data_record_bytes;
  if (image_read(at, main_rec, 12) != OK) return ERR_CORRUPT;
  if (load<u32>(main_rec) != lun || load<u64>(main_rec, 4) != lba) return ERR_CORRUPT;
  let crc = crc32c(main_rec, 12, 0);
  for (let off: u32 = 0; off < block_bytes; off += 32) {
    if (image_read(at + 12 + off, main_rec + 16, 32) != OK) return ERR_CORRUPT;
    crc = crc32c(main_rec + 16, 32, crc);
    if (dst != 0) copy(dst + off, main_rec + 16, 32);
  }
  if (image_read(at + 12 + block_bytes, main_rec, 4) != OK) return ERR_CORRUPT;
  return load<u32>(main_rec) == crc ? OK : ERR_CORRUPT;
}

/** Measure the EEPROM with a sealed throwaway page on the probe page. */
export function image_probe_measure(): i32 {
  zero(main_page, nv_page_bytes);
  seal_page(main_page, 0, LOGICAL_PROBE, 1, 0);
  let r = eeprom_measure(main_cmd, probe_page * nv_page_bytes, main_page, main_verify);
  if (r != OK) set_page_bad(probe_page);
  return r;
}
