// SPI EEPROM driver (Microchip 25LC1024, DS22064D): page writes with WREN and WIP
// polling under a deadline, reads, the part's identification (RDID), and a timed
// probe write. Every write is clamped to one page here, in one place: the part wraps
// within the page.
//
// Timing the save relies on: the write cycle of a page is bounded by what the part
// guarantees (its datasheet maximum, when RDID says which part it is) or, for a part
// that does not say, by twice the slowest cycle ever measured on it (datasheets give
// maxima about twice the typical time). One fast sample is never the bound.

import {
  hal_spi_select, hal_spi_write, hal_spi_read, hal_spi_xfer, hal_now_us, hal_delay_us,
  hal_irq_mask_pfail, hal_log,
} from "./hal";
import { nv_page_bytes } from "../layout";
import { OK, ERR_TIMEOUT, ERR_INVAL, ERR_INTERRUPTED, LOG_EEPROM_PART } from "./errors";
import { st_power_epoch, counter_add, CNT_EEPROM_WRITES } from "../state";

// Instruction set (DS22064D Table 2-1) and status bits (§2.10).
@inline const CMD_READ: i32 = 0x03;
@inline const CMD_WRITE: i32 = 0x02;
@inline const CMD_WREN: i32 = 0x06;
@inline const CMD_RDSR: i32 = 0x05;
@inline const CMD_RDID: i32 = 0xab;
@inline const SR_WIP: i32 = 0x01;

/** RDID signature of the 25LC1024 (DS22064D §2.12) and its page write time, max
 * (Table 1-2, tWC = 6 ms). Parts that do not answer RDID (no ABh instruction) leave
 * the bus high: 0xFF. */
@inline const SIGNATURE_25LC1024: i32 = 0x29;
@inline const t_wc_max_25lc1024_us: i32 = 6_000;
/** For a part that does not identify itself: the bound is this many times the
 * slowest write cycle measured on it. */
@inline const unknown_part_factor: i32 = 2;

/** The shortest deadline for one write cycle; a poll past it ends with one last look
 * (Zephyr eeprom_at2x). */
@inline const wip_timeout_floor_us: i64 = 20_000;
/** Interval between status polls once the expected write time has passed. */
@inline export const wip_poll_interval_us: i32 = 20;
/** Polls per write at most (the deadline stops it first). */
@inline const wip_polls_max: u32 = 5_000;

/** The part's write cycle as measured last (µs); 0 until measured. */
let t_wc_us: i32 = 0;
/** The slowest write cycle ever measured on this part (kept in the state record). */
let t_wc_worst_us: i32 = 0;
/** Wall time of one full page write + verify as measured, less its write cycle: the
 * bus time of WREN, command, 256 bytes out and 260 bytes back (µs). */
let t_bus_us: i32 = 0;
/** RDID's answer: the part's signature, or 0xFF for none. */
let signature: i32 = 0xff;

@inline export function eeprom_t_wc_us(): i32 { return t_wc_us; }
@inline export function eeprom_t_wc_worst_us(): i32 { return t_wc_worst_us; }
@inline export function eeprom_signature(): i32 { return signature; }
/** Set the worst cycle remembered from earlier boots (the state record). */
export function eeprom_set_worst(us: i32): void { if (us > t_wc_worst_us && us < 1_000_000) t_wc_worst_us = us; }

/** The longest a page write cycle can take on this part (µs), 0 until known. */
export function eeprom_t_wc_bound_us(): i32 {
  if (signature == SIGNATURE_25LC1024) return t_wc_max_25lc1024_us;
  let worst = t_wc_worst_us > t_wc_us ? t_wc_worst_us : t_wc_us;
  return worst * unknown_part_factor;
}

/** The longest one page write + verify can take (µs), 0 until measured. */
export function eeprom_t_page_bound_us(): i32 {
  if (t_bus_us == 0) return 0;
  return t_bus_us + eeprom_t_wc_bound_us() + wip_poll_interval_us;
}

/** Command + 24-bit address, big-endian, in a 4-byte buffer at p. */
@inline function put_cmd(p: usize, cmd: i32, addr: u32): void {
  store<u8>(p, <u8>cmd, 0);
  store<u8>(p, <u8>(addr >>> 16), 1);
  store<u8>(p, <u8>(addr >>> 8), 2);
  store<u8>(p, <u8>addr, 3);
}

/** Read len bytes at addr. Each context passes its own 4-byte command buffer: one
 * shared with the other context would race with it. */
export function eeprom_read(cmd_buf: usize, addr: u32, dst: usize, len: i32): void {
  let was = hal_irq_mask_pfail(1);
  put_cmd(cmd_buf, CMD_READ, addr);
  hal_spi_select(1);
  hal_spi_write(cmd_buf, 4);
  hal_spi_read(dst, len);
  hal_spi_select(0);
  hal_irq_mask_pfail(was);
}

export function eeprom_status(): i32 {
  let was = hal_irq_mask_pfail(1);
  hal_spi_select(1);
  hal_spi_xfer(CMD_RDSR);
  let s = hal_spi_xfer(0);
  hal_spi_select(0);
  hal_irq_mask_pfail(was);
  return s;
}

export function eeprom_wren(): void {
  hal_spi_select(1);
  hal_spi_xfer(CMD_WREN);
  hal_spi_select(0);
}

/** RDID (ABh, three dummy address bytes, then the signature): which part this is.
 * Boot only (no write cycle may run). */
export function eeprom_identify(): i32 {
  let was = hal_irq_mask_pfail(1);
  hal_spi_select(1);
  hal_spi_xfer(CMD_RDID);
  hal_spi_xfer(0);
  hal_spi_xfer(0);
  hal_spi_xfer(0);
  signature = hal_spi_xfer(0) & 0xff;
  hal_spi_select(0);
  hal_irq_mask_pfail(was);
  hal_log(LOG_EEPROM_PART, signature, eeprom_t_wc_bound_us());
  return signature;
}

/** Wait for WIP to clear: sleep the expected write time, then poll under a deadline
 * (three times the bound, at least wip_timeout_floor_us), with one last poll after it.
 * Returns OK or ERR_TIMEOUT. */
export function eeprom_wait_idle(expected_us: i32): i32 {
  let start = hal_now_us();
  let bound = <i64>eeprom_t_wc_bound_us();
  let limit = (bound > <i64>expected_us ? bound : <i64>expected_us) * 3;
  if (limit < wip_timeout_floor_us) limit = wip_timeout_floor_us;
  let deadline = start + limit;
  if (expected_us > wip_poll_interval_us) hal_delay_us(expected_us - wip_poll_interval_us);
  for (let polls: u32 = 0; polls < wip_polls_max; polls++) {
    if ((eeprom_status() & SR_WIP) == 0) return OK;
    if (hal_now_us() >= deadline) break;
    hal_delay_us(wip_poll_interval_us);
  }
  return (eeprom_status() & SR_WIP) == 0 ? OK : ERR_TIMEOUT;
}

/** A write may start only while the power epoch is `epoch` (-1: always). */
@inline export const EPOCH_ANY: i32 = -1;

/** Write one whole page (page-aligned addr, nv_page_bytes from src) and wait for the
 * write cycle. The page boundary is enforced here and nowhere else. */
export function eeprom_write_page(cmd_buf: usize, addr: u32, src: usize, epoch: i32): i32 {
  if ((addr & (nv_page_bytes - 1)) != 0) return ERR_INVAL;
  if (!start_page_write(cmd_buf, addr, src, epoch)) return ERR_INTERRUPTED;
  // Sleep the measured write time, but never past the part's bound: a measurement a
  // burst of interrupts stretched (9.6 ms seen on a 6 ms part) would otherwise make
  // every page of a save wait longer than the budget counted.
  let bound = eeprom_t_wc_bound_us();
  return eeprom_wait_idle(t_wc_us < bound ? t_wc_us : bound);
}

/** WREN and WRITE of one page with the power-fail interrupt held off, so that the
 * save never finds the bus in the middle of a main-loop command (a few hundred µs
 * at most; the write cycle itself runs with the interrupt enabled, and the save
 * waits for it before its first command). With `epoch` set, the write does not start
 * if a power event came since: checked with the interrupt held off, so a save that
 * ran meanwhile sees every page this caller will ever write. */
function start_page_write(cmd_buf: usize, addr: u32, src: usize, epoch: i32): bool {
  let was = hal_irq_mask_pfail(1);
  if (epoch != EPOCH_ANY && <i32>st_power_epoch() != epoch) {
    hal_irq_mask_pfail(was);
    return false;
  }
  eeprom_wren();
  put_cmd(cmd_buf, CMD_WRITE, addr);
  hal_spi_select(1);
  hal_spi_write(cmd_buf, 4);
  hal_spi_write(src, <i32>nv_page_bytes);
  hal_spi_select(0);
  counter_add(CNT_EEPROM_WRITES, 1);
  hal_irq_mask_pfail(was);
  return true;
}

/** Compare len bytes; true if equal. */
export function bytes_equal(a: usize, b: usize, len: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  for (; i < len; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Bits that differ between len bytes at a and b, counting up to `limit`. */
export function bits_differ(a: usize, b: usize, len: u32, limit: u32): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < len && n < limit; i++) n += popcnt<u32>(<u32>(load<u8>(a + i) ^ load<u8>(b + i)));
  return n;
}

/** Reads of a written page before it counts as not taken: a bit that flips on one
 * read (a transient) must not cost a rewrite. */
@inline const verify_reads_max: u32 = 2;
/** The most differing bits write_verify counts. */
@inline const verify_bits_limit: u32 = 255;

/** Write a page, read it back and compare (twice, if the first read differs). OK,
 * ERR_TIMEOUT, ERR_INTERRUPTED, or, for a page that did not take the data, the
 * number of bits that differ (1 .. 255). */
export function eeprom_write_verify(cmd_buf: usize, addr: u32, src: usize, verify_buf: usize, epoch: i32): i32 {
  let err = eeprom_write_page(cmd_buf, addr, src, epoch);
  if (err != OK) return err;
  for (let reads: u32 = 0; reads < verify_reads_max; reads++) {
    eeprom_read(cmd_buf, addr, verify_buf, <i32>nv_page_bytes);
    if (bytes_equal(src, verify_buf, nv_page_bytes)) return OK;
  }
  let d = bits_differ(src, verify_buf, nv_page_bytes, verify_bits_limit);
  return d > 0 ? <i32>d : 1;
}

/** Measure the part: time one write cycle (WIP polled finely from the start) and a
 * whole write + verify of `page_addr`, which holds nothing we need. */
export function eeprom_measure(cmd_buf: usize, page_addr: u32, src: usize, verify_buf: usize): i32 {
  let t0 = hal_now_us();
  start_page_write(cmd_buf, page_addr, src, EPOCH_ANY);
  let t_cs = hal_now_us();
  // Fine polling from the start: the write cycle measured to ±20 µs.
  let err = eeprom_wait_idle(0);
  let t_done = hal_now_us();
  if (err != OK) return err;
  eeprom_read(cmd_buf, page_addr, verify_buf, <i32>nv_page_bytes);
  let t_end = hal_now_us();
  t_wc_us = <i32>(t_done - t_cs);
  if (t_wc_us > t_wc_worst_us) t_wc_worst_us = t_wc_us;
  t_bus_us = <i32>(t_end - t0) - t_wc_us + wip_poll_interval_us;
  return bytes_equal(src, verify_buf, nv_page_bytes) ? OK : 1;
}
