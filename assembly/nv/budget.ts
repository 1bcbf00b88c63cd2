// The save budget: how many acknowledged-but-not-durable blocks the controller may
// hold, so that their save fits in the hold-up the cap gives now.
//
// Hold-up of an ideal cap carrying a constant load P from V down to the brown-out
// voltage V2: t = C·(V² − V2²)/(2P). The firmware does not know C (the cap ages) or
// P, only their ratio matters, and it learns that ratio with a learn cycle: the
// board's learn load draws the hold-up power from the cap while the charger is off;
// timing the drop from V0 to V1 gives k = C/(2P) = Δt/(V0² − V1²). With the ADC's
// present reading, t(V) = k·(V² − V2²). The cap recharges after a power loss, so the
// budget is recomputed from the present voltage on every write.
//
// The save takes (pages of the image) × (the longest one page write + verify can take
// on this part: base/eeprom.ts) plus a fixed part; the budget is the most blocks whose
// save fits in what t(V) leaves after two deductions (usable_us):
//   - what the estimate may be off by, relative: the learn's own resolution (two ADC
//     steps over the drop it timed) plus the spread between consecutive learns (the
//     largest seen this boot, and at least spread_floor_ppm until there are two);
//   - a reserve of whole page writes for pages that go bad during the save: one
//     extra write each for stuck bits, two for a write that did not finish (image.ts
//     put_page). The pages a part comes with bad are found by the first boot's format.

import { hal_cap_mv, hal_cap_brownout_mv, hal_cap_learn, hal_now_us, hal_log } from "../base/hal";
import { image_pages, format_limit_blocks } from "./image";
import { array_active } from "../array/assemble";
import { cache_blocks_max } from "../layout";
import { LOG_LEARN, LOG_BUDGET } from "../base/errors";
import { eeprom_t_page_bound_us, eeprom_t_wc_bound_us } from "../base/eeprom";
import { st_power_epoch } from "../state";

/** The cap's ADC step (docs/BOARD.md: the board reads the cap in 1 mV steps). */
@inline const adc_step_mv: i64 = 1;
/** The least spread between learns the budget assumes: what the cap may lose (ageing,
 * temperature) and the load may gain between two learns a minute apart, far above
 * what a healthy cap does (EDLCs lose ~20 % over years), plus the ideal-cap model's
 * error over the 200 mV a learn spans. */
@inline const spread_floor_ppm: i64 = 15_000;
/** Page writes the save may need beyond its pages (docs/DESIGN.md "What it survives"). */
@inline export const reserve_pages: i64 = 8;
/** Fixed part of a save besides a write cycle the main loop may have left running:
 * the interrupt's latency, reading the state record back when an update of it was
 * under way (two pages, ~0.2 ms at 20 MHz), and the last page's tail. */
@inline const save_fixed_us: i64 = 1_000;
/** A learn cycle ends when the voltage has dropped this much, or after learn_max_us. */
@inline const learn_drop_mv: i32 = 200;
@inline const learn_max_us: i64 = 500_000;
/** A drop smaller than this is too small to trust: learn again later. */
@inline const learn_min_drop_mv: i32 = 20;
/** Learn again this often, so ageing is caught. */
@inline export const learn_interval_us: i64 = 60_000_000;

@inline export const LEARN_NONE: u8 = 0;
@inline export const LEARN_RUNNING: u8 = 1;
@inline export const LEARN_DONE: u8 = 2;

let learn_state: u8 = LEARN_NONE;
let learn_v0_mv: i32 = 0;
let learn_t0_us: i64 = 0;
/** The power epoch when the learn cycle began: a power event during it (the supply
 * dipped, the charger ran) spoils the measurement. */
let learn_epoch: u8 = 0;
let learned_at_us: i64 = 0;
/** When the last learn that failed to give a figure ended. */
let learn_failed_at_us: i64 = -1;
/** Wait this long before trying again after a learn that gave no figure. */
@inline const learn_retry_us: i64 = 5_000_000;
/** k in µs per mV² (f64: cycles are counted as software double on the MCU). */
let k_us_per_mv2: f64 = 0;
/** The resolution of the figure in use, and the largest relative difference between
 * consecutive learns this boot (ppm). */
let learn_err_ppm: i64 = 0;
let spread_ppm: i64 = 0;
let last_budget: u32 = 0;

@inline export function learn_state_now(): u8 { return learn_state; }
@inline export function budget_last(): u32 { return last_budget; }

/** The learn load went off: the voltage and time then (0: still on). */
let learn_v1_mv: i32 = 0;
let learn_t1_us: i64 = 0;
/** A measurement that ran this much past learn_max_us was not stopped in time (the
 * load drained the cap further than the ADC saw): it is not used. */
@inline const learn_late_us: i64 = 50_000;
/** While a learn cycle runs, the timer must fire at least this often (its handler
 * stops the load on time even when the main loop is busy). */
@inline export const learn_tick_us: i32 = 10_000;

/** Is the hold-up known: a learn cycle of this boot gave a figure? It stays known
 * while a later learn runs or fails: the budget goes on from it. */
let k_known = false;
@inline export function learn_known(): bool { return k_known; }

/** Begin a learn cycle. With the hold-up known (a healthy cap relearning), write-back
 * goes on meanwhile: the budget is taken at the voltage the learn can take the cap
 * down to (learn_floor_mv), and the learn starts only when the NV blocks fit that
 * budget (learn_may_start). The first learn of a boot has no figure to go on: the
 * caller makes sure nothing unsaved depends on the cap. */
export function learn_start(): void {
  learn_v0_mv = hal_cap_mv();
  learn_t0_us = hal_now_us();
  learn_epoch = st_power_epoch();
  learn_t1_us = 0;
  hal_cap_learn(1);
  learn_state = LEARN_RUNNING;
}

/** The supply failed: the learn load goes off at once (the save needs all the cap
 * has), and the learn gives no figure (its power epoch changed). Interrupt. */
export function learn_abort_load(): void {
  if (learn_state != LEARN_RUNNING || learn_t1_us != 0) return;
  hal_cap_learn(0);
  learn_v1_mv = hal_cap_mv();
  learn_t1_us = hal_now_us();
}

/** Stop the learn load once the drop or the time is reached. From the timer
 * interrupt and the main loop, whichever comes first. */
export function learn_check_stop(): void {
  if (learn_state != LEARN_RUNNING || learn_t1_us != 0) return;
  let v = hal_cap_mv();
  let now = hal_now_us();
  let drop = learn_v0_mv - v;
  if (drop < learn_drop_mv && now - learn_t0_us < learn_max_us && v > hal_cap_brownout_mv() + learn_drop_mv) return;
  hal_cap_learn(0);
  learn_v1_mv = v;
  learn_t1_us = now;
}

/** Step a running learn cycle (main loop); returns true when it has ended. */
export function learn_step(): bool {
  if (learn_state != LEARN_RUNNING) return true;
  learn_check_stop();
  if (learn_t1_us == 0) return false;
  let v = learn_v1_mv, now = learn_t1_us;
  let drop = learn_v0_mv - v;
  let dv2 = <f64>learn_v0_mv * <f64>learn_v0_mv - <f64>v * <f64>v;
  // Usable only if the drop was real and undisturbed: no power event meanwhile, the
  // load stopped on time, and the cap stayed above its brown-out voltage.
  let usable = drop >= learn_min_drop_mv && dv2 > 0 && st_power_epoch() == learn_epoch &&
    now - learn_t0_us <= learn_max_us + learn_late_us && v > hal_cap_brownout_mv();
  if (usable) {
    let k = <f64>(now - learn_t0_us) / dv2;
    if (k_known) {
      let d = <i64>(Math.abs(k - k_us_per_mv2) / k_us_per_mv2 * 1e6);
      if (d > spread_ppm) spread_ppm = d;
    }
    learn_err_ppm = 2 * adc_step_mv * 1_000_000 / <i64>drop;
    k_us_per_mv2 = k;
    k_known = true;
    learned_at_us = now;
    learn_state = LEARN_DONE;
  } else {
    // No figure: the old one (if any) stands, and the learn is tried again later.
    learn_state = k_known ? LEARN_DONE : LEARN_NONE;
    learn_failed_at_us = hal_now_us();
  }
  hal_log(LOG_LEARN, drop, <i32>(now - learn_t0_us));
  return true;
}

/** Does the timer need to fire at least every learn_tick_us (a learn runs)? */
@inline export function learn_needs_tick(): bool { return learn_state == LEARN_RUNNING && learn_t1_us == 0; }

/** Is a new learn cycle due? Never within learn_retry_us of a learn that gave no
 * figure; otherwise at once without a figure, and learn_interval_us after the last. */
export function learn_due(): bool {
  let now = hal_now_us();
  if (learn_failed_at_us >= 0 && now - learn_failed_at_us < learn_retry_us) return false;
  if (learn_state == LEARN_NONE) return true;
  return learn_state == LEARN_DONE && now - learned_at_us >= learn_interval_us;
}

/** The lowest voltage the running learn can leave the cap at (its start less the
 * drop it stops at); while no learn runs, the present voltage less that drop, so that
 * a learn can start without the NV blocks outgrowing the budget. */
function learn_floor_mv(): i32 {
  let v0 = learn_state == LEARN_RUNNING ? learn_v0_mv : hal_cap_mv();
  return v0 - learn_drop_mv;
}

/** Estimated hold-up now, µs (0 until learned). While a learn runs, or is due: at the
 * voltage it may end at, not the present one (so the NV blocks shrink to fit before it
 * starts, and never outgrow the cap while it draws). */
export function holdup_us(): i64 {
  if (!k_known) return 0;
  let floor = learn_state == LEARN_RUNNING || learn_due();
  return holdup_at_us(floor ? min_i32(hal_cap_mv(), learn_floor_mv()) : hal_cap_mv());
}

function holdup_at_us(v_mv: i32): i64 {
  let v = <f64>v_mv;
  let v2 = <f64>hal_cap_brownout_mv();
  if (v <= v2) return 0;
  return <i64>(k_us_per_mv2 * (v * v - v2 * v2));
}

@inline function min_i32(a: i32, b: i32): i32 { return a < b ? a : b; }

/** The part of hold-up `h_us` the save may plan to use (see the top of the file). */
export function usable_us(h_us: i64): i64 {
  let rel = margin_ppm();
  if (rel >= 1_000_000) return 0;
  let u = h_us - h_us * rel / 1_000_000 - reserve_pages * <i64>eeprom_t_page_bound_us();
  return u > 0 ? u : 0;
}
/** The relative deduction now (ppm of the hold-up). */
@inline export function margin_ppm(): i64 {
  return learn_err_ppm + (spread_ppm > spread_floor_ppm ? spread_ppm : spread_floor_ppm);
}

/** May a relearn start now: do `nv` NV blocks fit the budget the learn's floor
 * voltage leaves? */
export function learn_may_start(nv: u32): bool {
  if (!k_known) return true;
  return save_us(nv) <= usable_us(holdup_at_us(learn_floor_mv()));
}

/** Time to save `blocks` blocks at most, µs: a write cycle of the main loop's to wait
 * for, then every page at its bound. */
@inline export function save_us(blocks: u32): i64 {
  // With an array, the handler writes the write-command buffer's page first.
  let pages = image_pages(blocks) + (array_active() ? 1 : 0);
  return <i64>pages * <i64>eeprom_t_page_bound_us() + <i64>eeprom_t_wc_bound_us() + save_fixed_us;
}

/** The most blocks whose save fits in the margin of the present hold-up. 0 also
 * means "do not arm": not even a save of nothing (one page) would surely fit. */
export function budget_blocks(): u32 {
  let usable = usable_us(holdup_us());
  if (eeprom_t_page_bound_us() <= 0 || usable < save_us(1)) { note(0); return 0; }
  // Binary search over 0..cache_blocks_max (save_us is increasing in blocks).
  // Until the first boot's format is done, only blocks whose image lies on pages it
  // has tested (image.ts "format").
  let lo: u32 = 0, hi: u32 = format_limit_blocks();
  for (let steps = 0; steps < 9 && lo < hi; steps++) {
    let mid = (lo + hi + 1) >>> 1;
    if (save_us(mid) <= usable) lo = mid; else hi = mid - 1;
  }
  note(lo);
  return lo;
}

@inline function note(b: u32): void {
  if (b != last_budget) hal_log(LOG_BUDGET, <i32>b, <i32>(holdup_us() / 1000));
  last_budget = b;
}
