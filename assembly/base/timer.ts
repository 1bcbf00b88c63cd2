// The board's one one-shot timer, shared: the main loop's and the waits' wake-ups
// (timer_arm, as hal_timer_arm was used alone) and a periodic duty with its own due time
// (the pair's heartbeat, pair/peer.ts). The timer is armed for whichever comes first;
// a wake-up that comes early for one of them is only a spurious one, which every
// waiter already tolerates (it checks its own time).
import { hal_timer_arm, hal_now_us } from "./hal";

/** When the last timer_arm wants its interrupt (µs since boot), or -1: none. */
let wanted_at_us: i64 = -1;
/** When the periodic duty is next due, or -1: none. */
let periodic_at_us: i64 = -1;

/** Arm the timer delay_us from now (0: this wake-up is no longer wanted). Both. */
export function timer_arm(delay_us: i32): void {
  let now = hal_now_us();
  wanted_at_us = delay_us > 0 ? now + <i64>delay_us : -1;
  rearm(now);
}

/** The periodic duty is next due at at_us (-1: none). Both. */
export function timer_periodic_at(at_us: i64): void {
  periodic_at_us = at_us;
  rearm(hal_now_us());
}

/** From irq_timer: forget a wake-up that has come, and arm for the next. */
export function timer_fired(now: i64): void {
  if (wanted_at_us >= 0 && now >= wanted_at_us) wanted_at_us = -1;
  rearm(now);
}

function rearm(now: i64): void {
  let next = wanted_at_us;
  if (periodic_at_us >= 0 && (next < 0 || periodic_at_us < next)) next = periodic_at_us;
  if (next < 0) { hal_timer_arm(0); return; }
  let d = next - now;
  hal_timer_arm(d < 1 ? 1 : d > 0x7fffffff ? 0x7fffffff : <i32>d);
}
