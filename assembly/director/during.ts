// The server's writes while a failover runs (seed 004 [031], [049]-[051], [032]; FIG.
// 6C step 611; docs/DIRECTOR.md "During a failover"): once the director knows a spare
// can take over, it takes the server's blocks into the image at a reduced rate (each
// acknowledged no sooner than the rate allows), and answers BUSY when it cannot take
// one: a medium's worth taken since the failure ([032]), the spare tape could not hold
// it with its allowance (the director's own end of medium), or the caching disk would
// wrap past the medium's image. Anything else the server sends waits for the
// failover's end (a delayed acknowledgement, [049]); a filemark too, so a job the
// server counts as done is on a tape. After the failover, the catch-up writes what was
// taken (replay.ts).
//
// The rate is a board strap (key 5, KiB/s; 0 takes nothing: every command waits). It
// must be below what the catch-up writes back (the caching disk read through its
// window, about 1.7 MB/s: docs/DIRECTOR.md), or the catch-up would not end.

import { hal_config, hal_now_us } from "../base/hal";
import { image_fits, image_room, image_whole, image_ready } from "./image";

@inline export const DURING_HOLD: u32 = 0;
@inline export const DURING_TAKE: u32 = 1;
@inline export const DURING_BUSY: u32 = 2;

/** A failover runs (take_spare), and it has found a spare: the server is served. */
let running = false;
let open = false;
let rate_bytes_s: i64 = 0;
let medium_bytes_max: u64 = 0;
/** Taken since the failure began, and when the newest may be acknowledged. */
let taken_bytes: u64 = 0;
let ack_at_us: i64 = 0;

export function during_boot(): void {
  rate_bytes_s = <i64>hal_config(5) * 1024;
  medium_bytes_max = <u64>hal_config(3) * 1048576;
}

/** A failover begins: nothing is taken until it finds a spare (during_open). */
export function during_begin(): void { running = true; open = false; taken_bytes = 0; ack_at_us = hal_now_us(); }
/** The failover found a spare ([050]-[051]): the server's writes are taken, if the
 * image says how full the medium is (it holds the whole medium). */
export function during_open(): void { open = running && rate_bytes_s > 0 && image_ready() && image_whole(); }
export function during_end(): void { running = false; open = false; }
@inline export function during_serving(): bool { return open; }
@inline export function during_running(): bool { return running; }
@inline export function during_taken_bytes(): u64 { return taken_bytes; }

/** A write of `bytes` (`blocks` on the caching disk), now. */
export function during_admit(bytes: u32, blocks: u64): u32 {
  if (!open) return DURING_HOLD;
  if (taken_bytes + <u64>bytes > medium_bytes_max || !image_fits(<u64>bytes) || !image_room(blocks)) return DURING_BUSY;
  return DURING_TAKE;
}

/** `bytes` taken: when it may be acknowledged (the rate's time after the last one). */
export function during_took(bytes: u32): i64 {
  taken_bytes += <u64>bytes;
  let now = hal_now_us();
  if (ack_at_us < now) ack_at_us = now;
  ack_at_us += <i64>bytes * 1_000_000 / rate_bytes_s;
  return ack_at_us;
}
