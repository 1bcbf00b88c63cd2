// The reader of the NV image (boot): read the pages of one generation where the save
// put them (logical page n at physical page n, else in a spare), check them (CRC-32C,
// one wrong bit corrected, two reads before a page counts as bad), and read the meta
// records and the data records out of the stream. image.ts has the format and the
// writer; docs/SPEC.md "Reading it back" is the procedure.

import {
  nvmap_base, nvmap_entry_bytes, block_bytes, cache_blocks_max,
  nv_main_cmd, nv_main_rec, nv_read_page,
} from "../layout";
import { crc32c } from "../base/crc32c";
import { copy } from "../base/scsi";
import { OK, ERR_CORRUPT } from "../base/errors";
import {
  read_checked, set_page_bad, page_bad, image_seed, image_pages, image_pages_max, spare_first, spare_count,
  page_header_bytes, page_payload_bytes, page_logical, page_count, meta_header_bytes, meta_entry_bytes,
  meta_at, record_at, entry_lba_mask, mirror_lba_mask, ENTRY_MIRROR_BIT, META_MAGIC,
} from "./image";

@inline const main_cmd: usize = nv_main_cmd;
@inline const main_rec: usize = nv_main_rec;
@inline const read_buf: usize = nv_read_page;
@inline const NO_PAGE: u32 = 0xffff;

/** Spare k's logical page (NO_PAGE: none of this image). */
@inline function spare_map_at(k: u32): usize { return nvmap_base + k * nvmap_entry_bytes; }

let r_seed: u32 = 0;
/** The image's page count (NO_PAGE until page 0 is read). */
let r_count: u32 = NO_PAGE;
let r_cached_logical: u32 = 0xffffffff;
let spares_mapped: bool = false;
export let restore_corrected: u32 = 0;

/** Select image `gen` of this store: read logical page 0, whose count is the image's.
 * Returns the page count, or ERR_CORRUPT if page 0 has no good copy. */
export function image_select(gen: u32, store_id: u64): i32 {
  r_seed = image_seed(store_id, gen);
  r_count = NO_PAGE;
  r_cached_logical = 0xffffffff;
  spares_mapped = false;
  restore_corrected = 0;
  if (!load_logical(0)) return ERR_CORRUPT;
  let count = page_count(read_buf);
  if (count == 0 || count > image_pages_max) return ERR_CORRUPT;
  r_count = count;
  return <i32>count;
}

/** Is the page in read_buf logical page `logical` of the selected image? */
@inline function is_page(logical: u32): bool {
  return page_logical(read_buf) == logical && (r_count == NO_PAGE || page_count(read_buf) == r_count);
}

/** Read every spare once and note which logical page of the image each holds: only
 * when a page is not at home (the save moved it). */
function map_spares(): void {
  spares_mapped = true;
  r_cached_logical = 0xffffffff;
  for (let k: u32 = 0; k < spare_count; k++) {
    let logical = NO_PAGE;
    if (read_checked(main_cmd, spare_first + k, read_buf, r_seed) >= 0 && page_logical(read_buf) < image_pages_max) {
      logical = page_logical(read_buf);
    }
    store<u16>(spare_map_at(k), <u16>logical);
  }
}

/** Read logical page `logical` of the selected image into read_buf and check it: at
 * home, else every spare that holds it. false if no copy is good. */
function load_logical(logical: u32): bool {
  if (r_cached_logical == logical) return true;
  r_cached_logical = 0xffffffff;
  if (!page_bad(logical)) {
    let r = read_checked(main_cmd, logical, read_buf, r_seed);
    if (r >= 0 && is_page(logical)) {
      restore_corrected += <u32>r;
      r_cached_logical = logical;
      return true;
    }
  }
  if (!spares_mapped) map_spares();
  for (let k: u32 = 0; k < spare_count; k++) {
    if (<u32>load<u16>(spare_map_at(k)) != logical) continue;
    let r = read_checked(main_cmd, spare_first + k, read_buf, r_seed);
    if (r < 0 || !is_page(logical)) continue;
    // The save moved this page: its home did not take the write.
    set_page_bad(logical);
    restore_corrected += <u32>r;
    r_cached_logical = logical;
    return true;
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

/** Check the selected image's meta header (either copy): its magic, generation,
 * block count and store id. Returns the block count, or ERR_CORRUPT. */
export function image_meta(gen: u32, store_id: u64): i32 {
  let b = blocks_for_pages(r_count);
  if (b < 0) return ERR_CORRUPT;
  let blocks = <u32>b;
  for (let c: u32 = 0; c < 2; c++) {
    if (image_read(meta_at(c, blocks), main_rec, meta_header_bytes) != OK) continue;
    if (load<u32>(main_rec) != META_MAGIC || load<u32>(main_rec, 8) != gen) continue;
    if (load<u32>(main_rec, 12) != blocks || load<u64>(main_rec, 16) != store_id) continue;
    r_blocks = blocks;
    return b;
  }
  return ERR_CORRUPT;
}

/** Where record i belongs, into out (lun u32 @0, a MIRROR record's epoch u16 @4 and
 * 1 @6, lba u64 @8, the record's word @16 is not kept): from the first meta
 * copy, else the second. Each page read is checked, so an entry from a good page is
 * the one the save wrote even when other pages of its copy are lost; the two copies
 * of an entry are never on one page. */
export function image_entry(i: u32, out: usize): i32 {
  for (let c: u32 = 0; c < 2; c++) {
    let at = meta_at(c, r_blocks) + meta_header_bytes + i * meta_entry_bytes;
    if (image_read(at, main_rec, meta_entry_bytes) != OK) continue;
    let word = load<u64>(main_rec);
    if ((word & ENTRY_MIRROR_BIT) != 0) {
      store<u32>(out, <u32>(word >>> 56) & 0x7f);
      store<u16>(out, <u16>(word >>> 40), 4);
      store<u16>(out, 1, 6);
      store<u64>(out, word & mirror_lba_mask, 8);
    } else {
      store<u32>(out, <u32>(word >>> 56));
      store<u32>(out, 0, 4);
      store<u64>(out, word & entry_lba_mask, 8);
    }
    return OK;
  }
  return ERR_CORRUPT;
}

/** Data record i into dst (512 bytes), checked. Every page it comes from checked
 * good, so while no page of this image needed a correction the data is as the save
 * wrote it; after one did (a miscorrection is possible when more than one bit was
 * wrong), the record's own CRC, which covers where it belongs (lun, lba) too, must
 * check as well. OK or ERR_CORRUPT. */
export function image_data(i: u32, word: u64, dst: usize): i32 {
  let at = record_at(i, r_blocks);
  if (image_read(at, dst, block_bytes) != OK) return ERR_CORRUPT;
  if (image_read(at + block_bytes, main_rec + 8, 4) != OK) return ERR_CORRUPT;
  if (restore_corrected == 0) return OK;
  store<u64>(main_rec, word);
  let crc = crc32c(main_rec, meta_entry_bytes, r_seed);
  crc = crc32c(dst, block_bytes, crc);
  return load<u32>(main_rec, 8) == crc ? OK : ERR_CORRUPT;
}
