// A medium loaded ([035], [036]; docs/DIRECTOR.md "Appends"): before the server hears
// that the tape is ready, the director reads it from the beginning into the image: its
// header up to the first filemark always, and on to the end of data while the tape is
// less full than the append threshold (a board strap, `holdup backup
// --append-threshold`). Then the image holds the whole medium and an append is
// protected: a failover that must write the whole medium onto a spare tape can. Past
// the threshold it stops: the image does not hold the whole medium, and such a
// failover reports the error to the server instead ([035]: "a failure ... may result
// in an error being reported").

import { hal_config } from "../base/hal";
import { RES_STATUS, RES_HOST_STATUS, RES_SENSE, RES_RESIDUAL, HOST_OK } from "../base/abi";
import { STATUS_GOOD, KEY_NO_SENSE, KEY_BLANK_CHECK } from "../base/scsi";
import { replay_buf, replay_buf_bytes } from "./layout";
import { OP_REWIND } from "./board";
import { own6, read_own, own_tag, tag_result, cache_tag, wait_tag } from "./bus";
import { image_record_own, image_set_pos, image_set_whole, IMG_DATA, IMG_FILEMARKS } from "./image";

/** Objects read at a load, at most: a cartridge's worth of 4 KiB blocks and more. */
@inline const load_objects_max: u32 = 1 << 20;

let threshold_bytes: u64 = 0;

/** Boot: the straps. No threshold (0): only the header is read. */
export function load_boot(): void {
  let pct = hal_config(2), mib = hal_config(3);
  threshold_bytes = pct > 0 && mib > 0 ? <u64>pct * <u64>mib * 1048576 / 100 : 0;
}

/** The drive at `target` has just loaded a medium (the image's new medium began):
 * read it into the image through slot s's cache tag, and rewind. */
export function load_medium(s: u32, target: i32): void {
  if (!own6(target, OP_REWIND, 0, 0, replay_buf, 0, false)) { image_set_whole(false); return; }
  let bytes: u64 = 0;
  let header_done = false;
  let whole = false;
  let object: u32 = 0;
  for (let k: u32 = 0; k < load_objects_max; k++) {
    read_own(target, replay_buf, replay_buf_bytes);
    let r = tag_result(own_tag);
    if (load<u8>(r + RES_HOST_STATUS) != HOST_OK) break;
    let key = load<u8>(r + RES_SENSE, 2) & 0x0f;
    let filemark = (load<u8>(r + RES_SENSE, 2) & 0x80) != 0;
    if (load<u8>(r + RES_STATUS) == STATUS_GOOD || (key == KEY_NO_SENSE && !filemark && (load<u8>(r + RES_SENSE, 2) & 0x20) == 0)) {
      let n = replay_buf_bytes - load<u32>(r + RES_RESIDUAL);
      if (n == 0 || n > replay_buf_bytes) break;
      if (header_done && bytes + <u64>n > threshold_bytes) break; // too full: appends not protected
      if (!image_record_own(s, IMG_DATA, object, 1, replay_buf, n)) break;
      wait_tag(cache_tag(s));
      bytes += <u64>n;
      object++;
      continue;
    }
    if (key == KEY_NO_SENSE && filemark) {
      if (!image_record_own(s, IMG_FILEMARKS, object, 1, 0, 0)) break;
      wait_tag(cache_tag(s));
      object++;
      header_done = true;
      continue;
    }
    // The end of data: all of it is in the image. Anything else (a block longer than
    // the buffer: ILI; an error): not.
    whole = key == KEY_BLANK_CHECK;
    break;
  }
  image_set_whole(whole);
  own6(target, OP_REWIND, 0, 0, replay_buf, 0, false);
  image_set_pos(0);
}
