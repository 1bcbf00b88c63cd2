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
// Every page (format 2): logical u16, count u16, 248 payload bytes, then the CRC-32C
// of those 252 bytes, which also corrects one wrong bit anywhere in the page
// (base/crc32c.ts crc32c_correct). An image page's CRC starts from the image seed:
// the CRC-32C of the store id (8 bytes) and the generation (4 bytes), so a page of
// another store, another generation or an earlier life of this EEPROM never checks
// good as part of this image. The state, probe and ring pages start from 0 or the
// store seed and carry their sequence number in their payload. The payload of pages
// 0..count-1 of one image, in order, is the image stream:
//   meta record, one data record per block, the same meta record again.
// meta:  magic u32 | version u16 | header bytes u16 | generation u32 | blocks u32 |
//        store id u64 | blocks × entry u64 (LBA in bits 0..55, LUN in bits 56..63;
//        a pair's MIRROR entry, the partner's block held here: bit 63 set, LUN in
//        bits 56..62, the low 16 bits of its mirror epoch in 40..55, LBA in 0..39)
// data:  512 data bytes | crc u32 (CRC-32C from the image seed over the entry, then
//        the data)
// All little-endian. Where the meta copies sit (first and last) keeps both copies of
// an entry off any one page.

import {
  nv_page_bytes, nvmap_spares_max, nv_isr_page, nv_isr_verify,
  nv_main_page, nv_main_verify, nv_isr_cmd, nv_isr_rec, nv_main_cmd, nv_seed_buf,
  block_bytes, cache_blocks_max, bad_pages_base, bad_pages_bytes,
} from "../layout";
import { crc32c, crc32c_correct } from "../base/crc32c";
import { zero, copy } from "../base/scsi";
import { eeprom_read, eeprom_write_verify, eeprom_measure, EPOCH_ANY } from "../base/eeprom";
import { entry_state, entry_lun, entry_lba, entry_data, entry_is_nv, entry_is_mirror, ENTRY_FREE } from "../cache/cache";
import { lun_mirror_epoch, luns_max } from "../state";
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
if (spare_count > nvmap_spares_max) ERROR("the restore's spare map covers every spare");
if (eeprom_pages > bad_pages_bytes * 8) ERROR("the bad-page map covers every page");

// ---- page format -----------------------------------------------------------------------
@inline export const page_header_bytes: u32 = 4;
@inline export const page_payload_bytes: u32 = 248;
@inline const page_crc_at: u32 = 252;        // CRC-32C of bytes 0..251
if (page_header_bytes + page_payload_bytes != page_crc_at) ERROR("page: CRC follows the payload");
if (page_crc_at + 4 != nv_page_bytes) ERROR("page layout fills 256 bytes");
/** State and ring pages: their sequence number, in the payload's last 4 bytes. */
@inline export const page_seq_at: u32 = page_header_bytes + page_payload_bytes - 4;

@inline export const LOGICAL_STATE_A: u32 = 0xfffe;
@inline export const LOGICAL_STATE_B: u32 = 0xfffd;
@inline export const LOGICAL_PROBE: u32 = 0xfffc;
/** The test pattern the format writes (nv.ts: a first boot's format). */
@inline export const LOGICAL_FORMAT: u32 = 0xfffa;

/** Generations count up from 1 and stop here, far from the erased pattern 0xFFFFFFFF:
 * at one save a second that is 68 years; reaching it keeps write-back off. */
@inline export const GEN_MAX: u32 = 0x7fffffff;

// ---- records -----------------------------------------------------------------------------
@inline export const META_MAGIC: u32 = 0x4d495548;  // "HUIM"
@inline export const STATE_MAGIC: u32 = 0x54535548; // "HUST"
@inline const meta_version: u16 = 2;
@inline export const meta_header_bytes: u32 = 24;
@inline export const meta_entry_bytes: u32 = 8;
@inline export const data_record_bytes: u32 = block_bytes + 4;
/** LBAs an entry can hold (56 bits; the LUN is the top byte). */
@inline export const entry_lba_mask: u64 = 0x00ffffffffffffff;

/** Bytes of the image stream for `blocks` blocks. */
@inline export function image_bytes(blocks: u32): u32 {
  return 2 * meta_bytes(blocks) + blocks * data_record_bytes;
}
@inline export function meta_bytes(blocks: u32): u32 {
  return meta_header_bytes + blocks * meta_entry_bytes;
}
/** Stream offsets: the first meta copy, data record i, the second meta copy. */
@inline export function meta_at(copy_n: u32, blocks: u32): u32 {
  return copy_n == 0 ? 0 : meta_bytes(blocks) + blocks * data_record_bytes;
}
@inline export function record_at(i: u32, blocks: u32): u32 {
  return meta_bytes(blocks) + i * data_record_bytes;
}
@inline export function image_pages(blocks: u32): u32 {
  return (image_bytes(blocks) + page_payload_bytes - 1) / page_payload_bytes;
}
/** An entry: LBA with the LUN in the top byte. */
@inline export function entry_word(lun: u32, lba: u64): u64 {
  return (lba & entry_lba_mask) | (<u64>(lun & 0xff) << 56);
}
/** LBAs a MIRROR entry's word can hold (40 bits: 512 TiB of 512-byte blocks). */
@inline export const mirror_lba_mask: u64 = 0xffffffffff;
@inline export const ENTRY_MIRROR_BIT: u64 = 0x8000000000000000;
@inline export function mirror_word(lun: u32, lba: u64, epoch: u32): u64 {
  return ENTRY_MIRROR_BIT | (<u64>(lun & 0x7f) << 56) | (<u64>(epoch & 0xffff) << 40) | (lba & mirror_lba_mask);
}
/** The word of cache entry i's record. */
function record_word(i: u32): u64 {
  let lun = entry_lun(i);
  if (entry_is_mirror(i)) return mirror_word(lun, entry_lba(i), lun < luns_max ? lun_mirror_epoch(lun) : 0);
  return entry_word(lun, entry_lba(i));
}
if (image_pages(cache_blocks_max) > image_pages_max) ERROR("a full cache's image fits the EEPROM");

// ---- buffers (layout.ts): the save and the main loop each have their own ----------
@inline const isr_page: usize = nv_isr_page;
@inline const isr_verify: usize = nv_isr_verify;
@inline const main_page: usize = nv_main_page;
@inline const main_verify: usize = nv_main_verify;
@inline const isr_cmd: usize = nv_isr_cmd;
@inline const isr_rec: usize = nv_isr_rec;
@inline const main_cmd: usize = nv_main_cmd;
@inline const seed_buf: usize = nv_seed_buf;

/** CRC seed of ring pages: CRC-32C of the store id's 8 bytes (little-endian). */
export function page_seed(store_id: u64): u32 {
  store<u64>(seed_buf, store_id);
  return crc32c(seed_buf, 8, 0);
}

/** CRC seed of image pages and data records: CRC-32C of the store id's 8 bytes and
 * the generation's 4 (little-endian). */
export function image_seed(store_id: u64, gen: u32): u32 {
  store<u64>(seed_buf, store_id);
  store<u32>(seed_buf + 8, gen);
  return crc32c(seed_buf, 12, 0);
}

@inline export function page_logical(buf: usize): u32 { return <u32>load<u16>(buf); }
@inline export function page_count(buf: usize): u32 { return <u32>load<u16>(buf, 2); }
@inline export function page_seq(buf: usize): u32 { return load<u32>(buf + page_seq_at); }
@inline export function set_page_seq(buf: usize, seq: u32): void { store<u32>(buf + page_seq_at, seq); }

/** Finish the page in buf: logical index, count, CRC. */
export function seal_page(buf: usize, logical: u32, count: u32, seed: u32): void {
  store<u16>(buf, <u16>logical, 0);
  store<u16>(buf, <u16>count, 2);
  store<u32>(buf + page_crc_at, crc32c(buf, page_crc_at, seed));
}

/** Check a page read into buf and correct one wrong bit. Returns the bits corrected
 * (0 or 1), or ERR_CORRUPT. */
export function check_page(buf: usize, seed: u32): i32 {
  let r = crc32c_correct(buf, page_crc_at, seed);
  return r < 0 ? ERR_CORRUPT : r;
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
/** A write whose verify differs in this many bits or fewer hit cells that do not
 * change (stuck bits): writing the page again would fail the same way, so the save
 * moves on at once. A wider difference (a write that did not finish) is tried again. */
@inline const stuck_bits_max: u32 = 4;

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

/** Write page `buf` to physical page `phys` and verify it, at most
 * write_attempts_max times (once if the verify shows stuck bits). */
function write_tries(cmd: usize, phys: u32, buf: usize, verify: usize, epoch: i32): i32 {
  let r: i32 = ERR_IO;
  for (let a: u32 = 0; a < write_attempts_max; a++) {
    r = eeprom_write_verify(cmd, phys * nv_page_bytes, buf, verify, epoch);
    if (r == OK || r == ERR_INTERRUPTED) return r;
    if (r > 0 && <u32>r <= stuck_bits_max) return r;
  }
  return r;
}

/** Write a sealed isr_page to physical page `phys`, or, if that page is known bad or
 * will not take the data, to the next good spare. Returns the page used, or -1. */
function put_page(phys: u32): i32 {
  if (!page_bad(phys)) {
    if (write_tries(isr_cmd, phys, isr_page, isr_verify, EPOCH_ANY) == OK) return <i32>phys;
    set_page_bad(phys);
  }
  while (spare_next < spare_first + spare_count) {
    let s = spare_next++;
    if (page_bad(s)) continue;
    hal_log(LOG_SAVE_PAGE_MOVED, <i32>phys, <i32>s);
    if (write_tries(isr_cmd, s, isr_page, isr_verify, EPOCH_ANY) == OK) return <i32>s;
    set_page_bad(s);
  }
  return -1;
}

function stream_flush(): void {
  if (w_failed || w_aborted) return;
  // Pages before w_from were written (and verified) by an earlier, interrupted run of
  // this same save: the stream is the same, so they are skipped.
  if (w_logical >= w_from) {
    seal_page(isr_page, w_logical, w_count, w_seed);
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

/** Emit one meta record for the NV entries, in directory order. */
function emit_meta(gen: u32, blocks: u32, store_id: u64): void {
  zero(isr_rec, meta_header_bytes);
  store<u32>(isr_rec, META_MAGIC, 0);
  store<u16>(isr_rec, meta_version, 4);
  store<u16>(isr_rec, <u16>meta_header_bytes, 6);
  store<u32>(isr_rec, gen, 8);
  store<u32>(isr_rec, blocks, 12);
  store<u64>(isr_rec, store_id, 16);
  emit(isr_rec, meta_header_bytes);
  let k: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max && k < blocks; i++) {
    if (!entry_is_nv(i) || entry_state(i) == ENTRY_FREE) continue;
    store<u64>(isr_rec, record_word(i));
    emit(isr_rec, meta_entry_bytes);
    k++;
  }
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
  w_seed = image_seed(store_id, gen);
  w_count = image_pages(blocks);
  w_logical = 0;
  w_fill = 0;
  w_from = from;
  w_failed = false;
  w_aborted = false;
  if (from == 0) spare_next = spare_first;
  zero(isr_page, nv_page_bytes);
  emit_meta(gen, blocks, store_id);
  let k: u32 = 0;
  for (let i: u32 = 0; i < cache_blocks_max && k < blocks && !w_failed && !w_aborted; i++) {
    if (!entry_is_nv(i) || entry_state(i) == ENTRY_FREE) continue;
    store<u64>(isr_rec, record_word(i));
    let crc = crc32c(isr_rec, meta_entry_bytes, w_seed);
    crc = crc32c(entry_data(i), block_bytes, crc);
    emit(entry_data(i), block_bytes);
    store<u32>(isr_rec, crc);
    emit(isr_rec, 4);
    k++;
  }
  emit_meta(gen, blocks, store_id);
  if (w_fill > 0) stream_flush();
  if (w_aborted) { hal_log(LOG_SAVE_ABORTED, <i32>w_logical, 0); return SAVE_ABORTED; }
  if (w_failed) return ERR_IO;
  return w_logical == w_count ? OK : ERR_IO;
}

/** Read a page and check it, twice if the first read fails (a transient read error
 * is not a bad page). Returns the bits corrected, or ERR_CORRUPT. */
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
  seal_page(main_page, LOGICAL_PROBE, 1, 0);
  let r = eeprom_measure(main_cmd, probe_page * nv_page_bytes, main_page, main_verify);
  if (r != OK) set_page_bad(probe_page);
  return r;
}

// ---- format (a first boot's) ---------------------------------------------------------------
//
// A new EEPROM may have pages that do not take writes. A save that found them would
// pay two writes each, more than its reserve (budget.ts) allows for many at once. So a
// store's first boot writes a test page to every page a save can use, reads it back,
// and marks those that fail bad: the spares first, then the image area from page 0
// up. Write-back need not wait for it: until it is done, the budget counts only
// blocks whose image fits the pages formatted so far (format_limit_blocks), so a
// save never writes a page the format has not tested, and the format never writes a
// page a save may use. Pages that go bad later are found by a save: one extra write
// each for stuck bits, two for a write that did not finish.

/** The EEPROM was formatted: written with every state record (state_record.ts). */
let formatted: bool = false;
@inline export function image_formatted(): bool { return formatted; }
export function set_image_formatted(v: bool): void { formatted = v; }

/** The next page to test, counted in format order (spares, then image pages). */
let format_next: u32 = 0;

/** Pages the format covers: the spares, then the image area of a full cache. */
export function format_pages(): u32 { return spare_count + image_pages(cache_blocks_max); }
@inline function format_phys(k: u32): u32 {
  return k < spare_count ? spare_first + k : k - spare_count;
}

/** The format's progress, per mille of its pages (1000: done). */
export function format_permille(): u32 {
  return formatted ? 1000 : format_next * 999 / format_pages();
}

/** The most blocks whose image lies on pages the format has tested. */
export function format_limit_blocks(): u32 {
  if (formatted) return cache_blocks_max;
  if (format_next <= spare_count) return 0;
  let pages = format_next - spare_count;
  let b: u32 = cache_blocks_max;
  for (let steps: u32 = 0; steps <= cache_blocks_max && b > 0 && image_pages(b) > pages; steps++) b--;
  return image_pages(b) <= pages ? b : 0;
}

/** Pages a format step may find tested already and pass over, at most. */
@inline const format_skip_max: u32 = 8;

/** Does the page at phys hold the format's test page, whole (no bit corrected)? A
 * boot cut off before its format ended finds the pages it had tested so. */
function holds_format_page(phys: u32): bool {
  eeprom_read(main_cmd, phys * nv_page_bytes, main_verify, <i32>nv_page_bytes);
  return crc32c(main_verify, page_crc_at, 0) == load<u32>(main_verify + page_crc_at) &&
    page_logical(main_verify) == LOGICAL_FORMAT;
}

/** The format's test page in main_page. */
function build_format_page(): void {
  zero(main_page, nv_page_bytes);
  // A pattern that puts both values of every bit into the page.
  for (let i: u32 = page_header_bytes; i < page_crc_at; i++) store<u8>(main_page + i, <u8>(i * 0x5b ^ 0xa5));
  seal_page(main_page, LOGICAL_FORMAT, 1, 0);
}

/** Test the next page from the main loop (passing over up to format_skip_max pages
 * an earlier boot tested); a power event stops it (ERR_INTERRUPTED: the same page
 * again next time). OK when a page is done (good, or now marked bad); 1 when every
 * page is done. */
export function format_step(epoch: i32): i32 {
  for (let skips: u32 = 0; skips < format_skip_max; skips++) {
    if (format_next >= format_pages()) return 1;
    let phys = format_phys(format_next);
    if (!page_bad(phys) && !holds_format_page(phys)) break;
    format_next++;
  }
  if (format_next >= format_pages()) return 1;
  let phys = format_phys(format_next);
  if (!page_bad(phys)) {
    build_format_page();
    let r = write_tries(main_cmd, phys, main_page, main_verify, epoch);
    if (r == ERR_INTERRUPTED) return r;
    if (r != OK) set_page_bad(phys);
  }
  format_next++;
  return OK;
}
