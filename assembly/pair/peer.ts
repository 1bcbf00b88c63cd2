// The partner controller, as this one sees it (seed 002 claims 6-10): heartbeats on both
// links, and a verdict that tells apart a partner that is dead (no carrier on either
// link: its board has no power), one whose firmware hung (carrier, but no heartbeat for
// SILENT_US), and one that is alive but whose own I/O hung (its heartbeats say so).
// Heartbeats go out from the timer's handler, so a partner busy in a long main-loop
// chore (a boot's disk probe, a synchronous command) still sends them.
//
// The verdicts and their bounds (docs/DESIGN.md "The pair"):
//   dead     - at the carrier's loss (the board raises irq_link): µs;
//   hung     - SILENT_US after the last message heard, judged at the next heartbeat
//              tick: ≤ SILENT_US + HB_INTERVAL_US;
//   I/O hung - the partner's own verdict (IO_STUCK_US without a device completion while
//              a command is out), made at its main loop's next pass (≤ one 10 ms tick),
//              reaches us in its next heartbeat (≤ HB_INTERVAL_US): ≤ IO_STUCK_US +
//              3 × HB_INTERVAL_US.
import { hal_config, CONFIG_IDENTITY, hal_now_us, hal_log } from "../base/hal";
import { timer_periodic_at } from "../base/timer";
import { pair_tx_irq } from "../layout";
import { LOG_PARTNER_ALIVE, LOG_PARTNER_DEAD, LOG_PARTNER_HUNG, LOG_PARTNER_IO_HUNG, LOG_IO_STUCK } from "../base/abi";
import {
  LINKS, MSG_HEADER_BYTES, MSG_HEARTBEAT, HB_BODY_BYTES, msg_send, link_has_carrier, ring_next, ring_reset, slot_msg,
  slot_link, slot_free, msg_type, msg_from,
} from "./link";

/** A heartbeat on each link this often. */
@inline export const HB_INTERVAL_US: i64 = 10_000;
/** Carrier, but nothing heard on either link for this long: the partner's firmware hung. */
@inline export const SILENT_US: i64 = 50_000;
/** A device command out and none completed for this long: this controller's I/O hung. */
@inline export const IO_STUCK_US: i64 = 2_000_000;
/** Messages taken from the ring in one interrupt: the ring's slots, twice. */
@inline const rx_per_irq_max: u32 = 8;

@inline export const PEER_NONE: u8 = 0;     // no pair: this controller is alone
@inline export const PEER_UNKNOWN: u8 = 1;  // not judged yet (just booted)
@inline export const PEER_ALIVE: u8 = 2;
@inline export const PEER_DEAD: u8 = 3;
@inline export const PEER_HUNG: u8 = 4;
@inline export const PEER_IO_HUNG: u8 = 5;

/** Heartbeat flags: its I/O hung (and it has stood down); it is fenced or stood down
 * and waits to be let back; it lets a fenced partner back; it is registered on the
 * disks and serving (pair/own.ts). */
@inline const HB_IO_STUCK: u32 = 1;
@inline export const HB_FENCED: u32 = 2;
@inline export const HB_WELCOME: u32 = 4;
@inline export const HB_REGISTERED: u32 = 8;
/** It mirrors its writes to us (its session, out sid, is on). */
@inline export const HB_MIRRORING: u32 = 16;
/** Heartbeats further apart than this: the partner may have judged us hung (it does at
 * SILENT_US) and be taking our LUNs over: we stand down until it lets us back. */
@inline export const LEASE_GAP_US: i64 = SILENT_US / 2;

let me: u8 = 0;
let state: u8 = PEER_NONE;
let next_hb_us: i64 = 0;
let heard_us0: i64 = 0;
let heard_us1: i64 = 0;
let partner_flags: u32 = 0;
let heartbeats_heard: u32 = 0;
/** This controller's store id (once the boot has read it) and the partner's (0: not
 * heard yet); the heartbeat carries each side's. */
let my_store: u64 = 0;
let partner_store_id: u64 = 0;
@inline export function partner_store(): u64 { return partner_store_id; }
/** What own.ts says of this controller, for the heartbeat: fenced, and the LUNs it
 * serves; and what the partner's heartbeat said of it. */
let my_fenced: bool = false;
let my_owned: u32 = 0;
let partner_owned_mask: u32 = 0;
let alive_since_us: i64 = 0;
/** A takeover under way here (no welcome meanwhile); this controller has stood down
 * for its stuck I/O (only then does the heartbeat say so); it is registered. */
let my_taking: bool = false;
/** The LUNs whose disks this controller reaches (READY), and the partner's. */
let my_ready: u32 = 0;
let partner_ready_mask: u32 = 0;
export function peer_set_ready(mask: u32): void { my_ready = mask; }
@inline export function partner_ready(): u32 { return partner_ready_mask; }
let my_stood_down: bool = false;
let my_registered: bool = false;
/** The heartbeat came late (LEASE_GAP_US): own.ts stands down and clears it. */
let lease_broken: bool = false;
let last_hb_us: i64 = 0;
export function peer_set_status(fenced: bool, owned: u32, taking: bool, stood_down: bool, registered: bool): void {
  my_fenced = fenced; my_owned = owned; my_taking = taking; my_stood_down = stood_down; my_registered = registered;
}
/** The mirror protocol's fields (pair/mirror.ts), both ways: the session this
 * controller mirrors its writes under (0: none), the partner's session whose blocks it
 * holds, the watermark (its blocks of that session up to it may go), mirroring on. */
let my_out_sid: u32 = 0;
let my_in_sid: u32 = 0;
let my_watermark: u32 = 0;
let my_mirroring: bool = false;
let partner_out_sid_v: u32 = 0;
let partner_in_sid_v: u32 = 0;
let partner_watermark_v: u32 = 0;
export function peer_set_mirror(out_sid: u32, in_sid: u32, watermark: u32, mirroring: bool): void {
  my_out_sid = out_sid; my_in_sid = in_sid; my_watermark = watermark; my_mirroring = mirroring;
}
@inline export function partner_out_sid(): u32 { return partner_out_sid_v; }
@inline export function partner_in_sid(): u32 { return partner_in_sid_v; }
@inline export function partner_watermark(): u32 { return partner_watermark_v; }
@inline export function peer_lease_broken(): bool { return lease_broken; }
export function peer_lease_renewed(): void { lease_broken = false; }
@inline export function peer_flags(): u32 { return partner_flags; }
@inline export function partner_owned(): u32 { return partner_owned_mask; }
/** When the partner last became alive (a verdict of PEER_ALIVE). */
@inline export function peer_alive_since_us(): i64 { return alive_since_us; }
export function peer_set_store(id: u64): void { my_store = id; }
/** This controller's own I/O: the last device completion, or a moment with none out. */
let io_progress_us: i64 = 0;
let io_stuck: bool = false;
/** Commands were out at the last check. */
let io_quiet: bool = false;

@inline export function pair_identity(): u8 { return me; }
@inline export function pair_on(): bool { return me != 0; }
@inline export function peer_state(): u8 { return state; }
@inline export function peer_heartbeats(): u32 { return heartbeats_heard; }
@inline export function pair_io_stuck(): bool { return io_stuck; }
/** How long device commands have been out with none completed (0: none out). */
export function pair_io_quiet_us(now: i64): i64 { return io_quiet ? now - io_progress_us : 0; }

/** At boot, before anything waits: read the identity strap; a pair starts its
 * heartbeat at once. */
export function pair_init(): void {
  let id = hal_config(CONFIG_IDENTITY);
  me = id == 1 || id == 2 ? <u8>id : 0;
  if (me == 0) return;
  ring_reset();
  let now = hal_now_us();
  state = PEER_UNKNOWN;
  heard_us0 = now;
  heard_us1 = now;
  io_progress_us = now;
  next_hb_us = now;
  last_hb_us = 0;
  lease_broken = false;
  carrier_before = true;
  timer_periodic_at(now);
}

/** From irq_timer: the heartbeat, when due, and a verdict. */
export function pair_timer(now: i64): void {
  if (me == 0) return;
  if (now >= next_hb_us) {
    if (last_hb_us != 0 && now - last_hb_us > LEASE_GAP_US) lease_broken = true;
    last_hb_us = now;
    heartbeat(now);
    next_hb_us = now + HB_INTERVAL_US;
    timer_periodic_at(next_hb_us);
  }
  judge(now);
}

function heartbeat(now: i64): void {
  let m = pair_tx_irq;
  let flags: u32 = io_stuck && my_stood_down ? HB_IO_STUCK : 0;
  if (my_fenced) flags |= HB_FENCED;
  else if (state == PEER_ALIVE && (partner_flags & HB_FENCED) != 0 && !my_taking) flags |= HB_WELCOME;
  if (my_registered && !my_fenced) flags |= HB_REGISTERED;
  if (my_mirroring) flags |= HB_MIRRORING;
  store<u32>(m, flags, MSG_HEADER_BYTES);
  store<u32>(m, my_owned, MSG_HEADER_BYTES + 4);
  store<u64>(m, my_store, MSG_HEADER_BYTES + 8);
  store<u32>(m, my_ready, MSG_HEADER_BYTES + 16);
  store<u32>(m, my_out_sid, MSG_HEADER_BYTES + 20);
  store<u32>(m, my_in_sid, MSG_HEADER_BYTES + 24);
  store<u32>(m, my_watermark, MSG_HEADER_BYTES + 28);
  for (let link: u32 = 0; link < LINKS; link++) {
    if (link_has_carrier(link)) msg_send(link, m, MSG_HEADER_BYTES + HB_BODY_BYTES, MSG_HEARTBEAT, me, 0);
  }
}

/** From irq_link: messages in the ring, or a carrier that changed. */
export function pair_rx(): void {
  if (me == 0) return;
  let now = hal_now_us();
  for (let k: u32 = 0; k < rx_per_irq_max; k++) {
    let slot = ring_next(false);
    if (slot == 0) break;
    let m = slot_msg(slot);
    if (msg_from(m) == 3 - me) {
      if (slot_link(slot) == 0) heard_us0 = now; else heard_us1 = now;
      if (msg_type(m) == MSG_HEARTBEAT) {
        partner_flags = load<u32>(m, MSG_HEADER_BYTES);
        partner_owned_mask = load<u32>(m, MSG_HEADER_BYTES + 4);
        partner_ready_mask = load<u32>(m, MSG_HEADER_BYTES + 16);
        partner_out_sid_v = load<u32>(m, MSG_HEADER_BYTES + 20);
        partner_in_sid_v = load<u32>(m, MSG_HEADER_BYTES + 24);
        partner_watermark_v = load<u32>(m, MSG_HEADER_BYTES + 28);
        let store = load<u64>(m, MSG_HEADER_BYTES + 8);
        if (store != 0) partner_store_id = store;
        heartbeats_heard++;
      }
    }
    slot_free(slot);
  }
  judge(now);
}

/** From irq_scsi: a device command completed. */
export function pair_io_done(): void {
  if (me != 0) io_progress_us = hal_now_us();
}

/** From the main loop: whether a device command is out (its I/O can hang). */
export function pair_io_check(now: i64, commands_out: bool): void {
  if (me == 0) return;
  if (!commands_out) io_progress_us = now;
  io_quiet = commands_out;
  let stuck = commands_out && now - io_progress_us > IO_STUCK_US;
  if (stuck && !io_stuck) hal_log(LOG_IO_STUCK, <i32>((now - io_progress_us) / 1000), 0);
  io_stuck = stuck;
}

/** Whether either link had carrier at the last verdict. */
let carrier_before: bool = true;

function judge(now: i64): void {
  let carrier = link_has_carrier(0) || link_has_carrier(1);
  if (carrier && !carrier_before) {
    // A link came back (the partner's board powered up): it gets SILENT_US to speak.
    heard_us0 = now;
    heard_us1 = now;
  }
  carrier_before = carrier;
  let heard = heard_us0 > heard_us1 ? heard_us0 : heard_us1;
  let next: u8;
  if (!carrier) next = PEER_DEAD;
  else if (now - heard > SILENT_US) next = PEER_HUNG;
  else if (heartbeats_heard == 0) next = state == PEER_UNKNOWN ? PEER_UNKNOWN : PEER_ALIVE;
  else if ((partner_flags & HB_IO_STUCK) != 0) next = PEER_IO_HUNG;
  else next = PEER_ALIVE;
  if (next == state) return;
  let quiet_ms = <i32>((now - heard) / 1000);
  state = next;
  if (next == PEER_ALIVE) { alive_since_us = now; hal_log(LOG_PARTNER_ALIVE, quiet_ms, 0); }
  else if (next == PEER_DEAD) hal_log(LOG_PARTNER_DEAD, quiet_ms, 0);
  else if (next == PEER_HUNG) hal_log(LOG_PARTNER_HUNG, quiet_ms, 0);
  else if (next == PEER_IO_HUNG) hal_log(LOG_PARTNER_IO_HUNG, quiet_ms, 0);
}
