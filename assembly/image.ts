// The NV image: what the power-fail handler writes to the EEPROM and what the next
// boot reads back. docs/SPEC.md is the format's reference; keep them in step.
//
// EEPROM map (256-byte pages):
//   0 .. image_pages_max-1   image pages, logical page n at physical page n
//   probe_page               scratch page for measuring the write cycle
//   state_page_a, _b         two copies of the state record (store id, retired gen)
//   spare_first ..           spares for image pages that will not take data
//
// Every page: header (generation u32, logical u16, count u16), 212 payload bytes,
// CRC-32C of those 220 bytes, then 28 SECDED check bytes for the 28 words before
// them (so the CRC is corrected like the data), and 4 reserved bytes.
// The payload of pages 0..count-1 of one generation, in order, is the image stream:
//   meta record, the same meta record again, then one data record per block.
// meta:  magic u32 | version u16 | header bytes u16 | generation u32 | blocks u32 |
//        store id u64 | reserved u32 | blocks × (lun u8, 3 × 0, lba u64) | crc u32
// data:  lun u8 | 3 × 0 | lba u64 | 512 data bytes | crc u32
// All little-endian. A state page carries logical 0xFFFE (a) / 0xFFFD (b), its
// sequence number in the generation field, and payload:
//   magic u32 | store id u64 | retired generation u32 | armed generation u32
// "Armed" means write-back may hold acknowledged data: the next save will be that
// generation, so a boot that finds the state armed and no image of that generation
// knows the cache's contents were lost and says so.

import {
  nv_page_bytes, nvbuf_base, nvbuf_count, nvmap_base, nvmap_entry_bytes, nvlog_base, nv_pages_max,
  block_bytes, cache_blocks_max,
} from "./layout";
import { crc32c } from "./crc32c";
import { secded_encode, secded_decode } from "./secded";
import { zero, copy } from "./scsi";
import { eeprom_read, eeprom_write_verify, eeprom_wren, eeprom_measure, eeprom_wait_idle } from "./eeprom";
import {
  entry_state, entry_lun, entry_lba, entry_data, entry_is_nv, ENTRY_FREE,
} from "./cache";
import { hal_pfail_level, hal_log } from "./hal";
import { OK, ERR_CORRUPT, ERR_IO, LOG_SAVE_PAGE_MOVED, LOG_SAVE_ABORTED } from "./errors";

// ---- EEPROM map ----------------------------------------------------------------------
@inline export const image_pages_max: u32 = 476;
@inline export const probe_page: u32 = 476;
@inline export const state_page_a: u32 = 478;
@inline export const state_page_b: u32 = 479;
@inline export const spare_first: u32 = 480;
@inline export const spare_count: u32 = 32;
@inline const eeprom_pages: u32 = spare_first + spare_count;
if (eeprom_pages > nv_pages_max) ERROR("the restore map indexes every EEPROM page");

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
@inline const LOGICAL_IMAGE_MAX: u32 = 0xff00;

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

// ---- buffers: the save (interrupt) and the main loop each have their own, since the
// save may preempt the main loop while it waits for a write cycle of its own ----------
@inline const isr_page: usize = nvbuf_base;
@inline const isr_verify: usize = nvbuf_base + 256;
@inline const main_page: usize = nvbuf_base + 512;
@inline const main_verify: usize = nvbuf_base + 768;
@inline const read_buf: usize = nvbuf_base + 1024;
@inline const isr_cmd: usize = nvbuf_base + 1280;     // 4-byte SPI command
@inline const isr_rec: usize = nvbuf_base + 1288;     // record pieces (≤ 48 bytes)
@inline const main_cmd: usize = nvbuf_base + 1344;
@inline const main_rec: usize = nvbuf_base + 1352;    // record pieces (≤ 48 bytes)
@inline const header_word: usize = nvbuf_base + 1408; // 8-byte header + check byte
if (nvbuf_count * nv_page_bytes < 1424) ERROR("nv buffers");

/** Finish the page in buf: generation, logical index, count, CRC, SECDED. */
function seal_page(buf: usize, gen: u32, logical: u32, count: u32): void {
  store<u32>(buf, gen, 0);
  store<u16>(buf, <u16>logical, 4);
  store<u16>(buf, <u16>count, 6);
  store<u32>(buf + page_crc_at, crc32c(buf, page_crc_at, 0));
  secded_encode(buf, page_words, buf + page_check_at);
  store<u32>(buf + page_check_at + page_words, 0);
}

/** Check a page read into buf: correct single-bit errors, verify the CRC. Returns
 * the number of corrected words, or ERR_CORRUPT. */
export function check_page(buf: usize): i32 {
  let fixed = secded_decode(buf, page_words, buf + page_check_at);
  if (fixed < 0) return ERR_CORRUPT;
  if (crc32c(buf, page_crc_at, 0) != load<u32>(buf + page_crc_at)) return ERR_CORRUPT;
  return fixed;
}

/** Write a sealed isr_page to physical page `phys`, or, if it will not take the data
 * after `attempts` tries, to the next spare. Returns the page used, or -1. */
@inline const write_attempts_max: u32 = 2;
let spare_next: u32 = spare_first;

function put_page(phys: u32): i32 {
  for (let a: u32 = 0; a < write_attempts_max; a++) {
    if (eeprom_write_verify(isr_cmd, phys * nv_page_bytes, isr_page, isr_verify) == OK) return <i32>phys;
  }
  // Move to a spare (bounded by the spare count).
  while (spare_next < spare_first + spare_count) {
    let s = spare_next++;
    hal_log(LOG_SAVE_PAGE_MOVED, <i32>phys, <i32>s);
    for (let a: u32 = 0; a < write_attempts_max; a++) {
      if (eeprom_write_verify(isr_cmd, s * nv_page_bytes, isr_page, isr_verify) == OK) return <i32>s;
    }
  }
  return -1;
}

// ---- the stream writer ---------------------------------------------------------------------

let w_gen: u32 = 0;
let w_count: u32 = 0;
let w_logical: u32 = 0;
let w_fill: u32 = 0;
let w_failed: bool = false;
let w_aborted: bool = false;

function stream_begin(gen: u32, count: u32): void {
  w_gen = gen;
  w_count = count;
  w_logical = 0;
  w_fill = 0;
  w_failed = false;
  w_aborted = false;
  spare_next = spare_first;
  zero(isr_page, nv_page_bytes);
}

function stream_flush(): void {
  if (w_failed || w_aborted) return;
  seal_page(isr_page, w_gen, w_logical, w_count);
  if (put_page(w_logical) < 0) w_failed = true;
  w_logical++;
  w_fill = 0;
  zero(isr_page, nv_page_bytes);
  // The supply came back: stop; the main loop retires what was written.
  if (hal_pfail_level() != 0) w_aborted = true;
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
  for (let i: u32 = 0; i < cache_blocks_max; i++) {
    if (!entry_is_nv(i) || entry_state(i) == ENTRY_FREE) continue;
    put_entry_tag(isr_rec, i);
    crc = crc32c(isr_rec, meta_entry_bytes, crc);
    emit(isr_rec, meta_entry_bytes);
  }
  store<u32>(isr_rec, crc);
  emit(isr_rec, 4);
}

@inline function put_entry_tag(p: usize, i: u32): void {
  store<u32>(p, entry_lun(i), 0);
  store<u64>(p, entry_lba(i), 4);
}

/** The save: every NV entry, as a complete image of generation `gen`. Called from the
 * power-fail handler; returns OK, ERR_IO if pages ran out, or 1 if the supply came
 * back before the end (the image is then partial and must be retired). */
export function image_save(gen: u32, store_id: u64, nv_count: u32): i32 {
  // The first commands on the bus, as early as possible: a status read (a write cycle
  // the main loop started may still run), then WEL for the first page.
  eeprom_wait_idle(0);
  eeprom_wren();
  let pages = image_pages(nv_count);
  stream_begin(gen, pages);
  emit_meta(gen, nv_count, store_id);
  emit_meta(gen, nv_count, store_id);
  for (let i: u32 = 0; i < cache_blocks_max && !w_failed && !w_aborted; i++) {
    if (!entry_is_nv(i) || entry_state(i) == ENTRY_FREE) continue;
    put_entry_tag(isr_rec, i);
    let crc = crc32c(isr_rec, 12, 0);
    crc = crc32c(entry_data(i), block_bytes, crc);
    emit(isr_rec, 12);
    emit(entry_data(i), block_bytes);
    store<u32>(isr_rec, crc);
    emit(isr_rec, 4);
  }
  if (w_fill > 0) stream_flush();
  if (w_aborted) { hal_log(LOG_SAVE_ABORTED, <i32>w_logical, 0); return 1; }
  if (w_failed) return ERR_IO;
  assert(w_logical == pages, "image page count");
  return OK;
}


/** Sequence number of the last state record written or found. */
let state_seq: u32 = 0;

/** Write the state record to both state pages, one after the other, with the next
 * sequence number. Returns OK if at least one copy verified. */
export function state_write(store_id: u64, retired_gen: u32, armed_gen: u32, in_isr: bool): i32 {
  let page = in_isr ? isr_page : main_page;
  let verify = in_isr ? isr_verify : main_verify;
  let cmd = in_isr ? isr_cmd : main_cmd;
  let good: u32 = 0;
  state_seq++;
  let seq = state_seq;
  for (let copy_n: u32 = 0; copy_n < 2; copy_n++) {
    zero(page, nv_page_bytes);
    store<u32>(page + page_header_bytes, STATE_MAGIC, 0);
    store<u64>(page + page_header_bytes, store_id, 4);
    store<u32>(page + page_header_bytes, retired_gen, 12);
    store<u32>(page + page_header_bytes, armed_gen, 16);
    seal_page(page, seq, copy_n == 0 ? LOGICAL_STATE_A : LOGICAL_STATE_B, 1);
    let phys = copy_n == 0 ? state_page_a : state_page_b;
    if (eeprom_write_verify(cmd, phys * nv_page_bytes, page, verify) == OK) good++;
  }
  return good > 0 ? OK : ERR_IO;
}

// ---- the scan and the reader (boot, main loop) -------------------------------------------

@inline function map_at(phys: u32): usize { return nvmap_base + phys * nvmap_entry_bytes; }
@inline function log_at(logical: u32): usize { return nvlog_base + logical * 2; }

/** What the scan found. */
export let scan_store_id: u64 = 0;
export let scan_retired_gen: u32 = 0;
export let scan_armed_gen: u32 = 0;
export let scan_have_state: bool = false;
export let scan_corrected: u32 = 0;

/** Read every page's header (word 0 and its check byte), correct it, and note
 * (generation, logical, count) per physical page; read the state pages whole. */
export function image_scan(): void {
  scan_store_id = 0;
  scan_retired_gen = 0;
  scan_armed_gen = 0;
  state_seq = 0;
  scan_have_state = false;
  scan_corrected = 0;
  for (let phys: u32 = 0; phys < eeprom_pages; phys++) {
    let m = map_at(phys);
    store<u64>(m, 0xffffffffffffffff);
    eeprom_read(main_cmd, phys * nv_page_bytes, header_word, 8);
    eeprom_read(main_cmd, phys * nv_page_bytes + page_check_at, header_word + 8, 1);
    let fixed = secded_decode(header_word, 1, header_word + 8);
    if (fixed < 0) continue;
    scan_corrected += <u32>fixed;
    let gen = load<u32>(header_word);
    let logical = <u32>load<u16>(header_word, 4);
    let count = <u32>load<u16>(header_word, 6);
    if (gen == 0xffffffff) continue; // erased
    store<u32>(m, gen, 0);
    store<u16>(m, <u16>logical, 4);
    store<u16>(m, <u16>count, 6);
    if (logical == LOGICAL_STATE_A || logical == LOGICAL_STATE_B) {
      eeprom_read(main_cmd, phys * nv_page_bytes, read_buf, <i32>nv_page_bytes);
      let r = check_page(read_buf);
      if (r < 0) continue;
      scan_corrected += <u32>r;
      if (load<u32>(read_buf + page_header_bytes) != STATE_MAGIC) continue;
      // The copy with the higher sequence number is the newer one.
      let seq = load<u32>(read_buf);
      if (!scan_have_state || seq > state_seq) {
        state_seq = seq;
        scan_store_id = load<u64>(read_buf + page_header_bytes, 4);
        scan_retired_gen = load<u32>(read_buf + page_header_bytes, 12);
        scan_armed_gen = load<u32>(read_buf + page_header_bytes, 16);
      }
      scan_have_state = true;
    }
  }
}

/** The newest generation above `above` that some image page claims, or 0. */
export function image_candidate_below(limit: u32, above: u32): u32 {
  let best: u32 = 0;
  for (let phys: u32 = 0; phys < eeprom_pages; phys++) {
    let m = map_at(phys);
    let gen = load<u32>(m);
    let logical = <u32>load<u16>(m, 4);
    if (gen == 0xffffffff || logical >= LOGICAL_IMAGE_MAX) continue;
    if (gen > above && gen < limit && gen > best) best = gen;
  }
  return best;
}

/** For generation gen, map each logical page to a physical copy from the headers the
 * scan read, and check logical page 0 whole (its count is the image's). Other pages
 * are checked when read (image_read), falling back to another copy if one fails.
 * Returns the page count, or ERR_CORRUPT if page 0 has no good copy. */
let r_gen: u32 = 0;
let r_count: u32 = 0;
let r_cached_logical: u32 = 0xffffffff;
export let restore_corrected: u32 = 0;

export function image_select(gen: u32): i32 {
  r_gen = gen;
  r_count = 0;
  r_cached_logical = 0xffffffff;
  restore_corrected = 0;
  for (let l: u32 = 0; l < image_pages_max; l++) store<u16>(log_at(l), 0xffff);
  for (let phys: u32 = 0; phys < eeprom_pages; phys++) {
    let m = map_at(phys);
    if (load<u32>(m) != gen) continue;
    let logical = <u32>load<u16>(m, 4);
    if (logical >= image_pages_max || load<u16>(log_at(logical)) != 0xffff) continue;
    store<u16>(log_at(logical), <u16>phys);
  }
  if (!load_logical(0)) return ERR_CORRUPT;
  r_count = <u32>load<u16>(read_buf, 6);
  if (r_count == 0 || r_count > image_pages_max) return ERR_CORRUPT;
  return <i32>r_count;
}

/** Read logical page `logical` of the selected image into read_buf and check it,
 * trying every physical copy the scan saw. false if none is good. */
function load_logical(logical: u32): bool {
  if (r_cached_logical == logical) return true;
  r_cached_logical = 0xffffffff;
  for (let tries: u32 = 0; tries < eeprom_pages; tries++) {
    let phys = <u32>load<u16>(log_at(logical));
    if (phys == 0xffff) return false;
    eeprom_read(main_cmd, phys * nv_page_bytes, read_buf, <i32>nv_page_bytes);
    let r = check_page(read_buf);
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

/** The meta record of the selected image: its block count, or ERR_CORRUPT. The
 * count follows from the page count (each block adds more than two pages), which
 * places the second copy even when the first is unreadable. */
let r_meta_at: u32 = 0;
let r_blocks: u32 = 0;

function blocks_for_pages(pages: u32): i32 {
  for (let b: u32 = 0; b <= cache_blocks_max; b++) if (image_pages(b) == pages) return <i32>b;
  return -1;
}

export function image_meta(store_id_out: usize): i32 {
  let b = blocks_for_pages(r_count);
  if (b < 0) return ERR_CORRUPT;
  let blocks = <u32>b;
  for (let c: u32 = 0; c < 2; c++) {
    let at = c * meta_bytes(blocks);
    if (image_read(at, main_rec, meta_header_bytes) != OK) continue;
    if (load<u32>(main_rec) != META_MAGIC || load<u32>(main_rec, 8) != r_gen) continue;
    if (load<u32>(main_rec, 12) != blocks) continue;
    let store_id = load<u64>(main_rec, 16);
    let crc = crc32c(main_rec, meta_header_bytes, 0);
    let ok = true;
    for (let i: u32 = 0; i < blocks && ok; i++) {
      if (image_read(at + meta_header_bytes + i * meta_entry_bytes, main_rec + 32, meta_entry_bytes) != OK) ok = false;
      else crc = crc32c(main_rec + 32, meta_entry_bytes, crc);
    }
    if (!ok) continue;
    if (image_read(at + meta_header_bytes + blocks * meta_entry_bytes, main_rec + 32, 4) != OK) continue;
    if (load<u32>(main_rec + 32) != crc) continue;
    r_blocks = blocks;
    r_meta_at = at;
    store<u64>(store_id_out, store_id);
    return b;
  }
  return ERR_CORRUPT;
}

/** Entry i of the meta record: (lun, lba) into out (lun u32 @0, lba u64 @8). */
export function image_meta_entry(i: u32, out: usize): i32 {
  if (image_read(r_meta_at + meta_header_bytes + i * meta_entry_bytes, main_rec, meta_entry_bytes) != OK) {
    return ERR_CORRUPT;
  }
  store<u32>(out, load<u32>(main_rec));
  store<u64>(out, load<u64>(main_rec, 4), 8);
  return OK;
}

/** Data record i into dst (512 bytes), checked against its CRC and the expected
 * (lun, lba). OK or ERR_CORRUPT. */
export function image_data(i: u32, lun: u32, lba: u64, dst: usize): i32 {
  let at = 2 * meta_bytes(r_blocks) + i * data_record_bytes;
  if (image_read(at, main_rec, 12) != OK) return ERR_CORRUPT;
  if (load<u32>(main_rec) != lun || load<u64>(main_rec, 4) != lba) return ERR_CORRUPT;
  let crc = crc32c(main_rec, 12, 0);
  if (image_read(at + 12, dst, block_bytes) != OK) return ERR_CORRUPT;
  crc = crc32c(dst, block_bytes, crc);
  if (image_read(at + 12 + block_bytes, main_rec, 4) != OK) return ERR_CORRUPT;
  return load<u32>(main_rec) == crc ? OK : ERR_CORRUPT;
}

/** Measure the EEPROM with a sealed throwaway page on the probe page. */
export function image_probe_measure(): i32 {
  zero(main_page, nv_page_bytes);
  seal_page(main_page, 0, LOGICAL_PROBE, 1);
  return eeprom_measure(main_cmd, probe_page * nv_page_bytes, main_page, main_verify);
}

