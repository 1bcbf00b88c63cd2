// The reader of the NV image (boot): find the pages of one generation, check them
// (SECDED, CRC, two reads before a page counts as bad, other copies in spares), and
// read the meta record and the data records out of the stream. image.ts has the
// format and the writer; docs/SPEC.md "Reading it back" is the procedure.

import {
  nv_page_bytes, nvmap_base, nvmap_entry_bytes, nvlog_base, block_bytes, cache_blocks_max,
  nv_main_cmd, nv_main_rec, nv_read_page, nv_header_word,
} from "../layout";
import { crc32c } from "../base/crc32c";
import { secded_decode } from "../base/secded";
import { copy } from "../base/scsi";
import { eeprom_read } from "../base/eeprom";
import { OK, ERR_CORRUPT } from "../base/errors";
import {
  read_checked, set_page_bad, page_seed, image_pages, meta_bytes, image_pages_max, eeprom_pages,
  spare_first, page_header_bytes, page_payload_bytes, page_check_at, meta_header_bytes,
  meta_entry_bytes, data_record_bytes, META_MAGIC,
} from "./image";

@inline const main_cmd: usize = nv_main_cmd;
@inline const main_rec: usize = nv_main_rec;
@inline const read_buf: usize = nv_read_page;
@inline const header_word: usize = nv_header_word;

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

