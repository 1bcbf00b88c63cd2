// The NV image: what the power-fail handler writes to the EEPROM and what the next
// boot reads back (state_record.ts has the record that says which image counts).
// docs/SPEC.md is the format's reference; keep them in step.
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
@inline export const page_check_at: u32 = 224; // 28 SECDED check bytes
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
export function seal_page(buf: usize, gen: u32, logical: u32, count: u32, seed: u32): void {
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

/** Read a page and check it, twice if the first read fails (a transient read error
 * is not a bad page). Returns the corrected words, or ERR_CORRUPT. */
export function read_checked(cmd: usize, phys: u32, buf: usize, seed: u32): i32 {
  for (let tries: u32 = 0; tries < 2; tries++) {
    eeprom_read(cmd, phys * nv_page_bytes, buf, <i32>nv_page_bytes);
    let r = check_page(buf, seed);
    if (r >= 0) return r;
  }
  return ERR_CORRUPT;
}

/** Measure the EEPROM with a sealed throwaway page on the probe page. */
export function image_probe_measure(): i32 {
  zero(main_page, nv_page_bytes);
  seal_page(main_page, 0, LOGICAL_PROBE, 1, 0);
  let r = eeprom_measure(main_cmd, probe_page * nv_page_bytes, main_page, main_verify);
  if (r != OK) set_page_bad(probe_page);
  return r;
}
