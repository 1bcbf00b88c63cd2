// SPI EEPROM driver (Microchip 25LC1024, DS22064D): page writes with WREN and WIP
// polling under a deadline, reads, and a timed probe write that measures the part's
// real write cycle. Every write is clamped to one page here, in one place: the part
// wraps within the page.

import {
  hal_spi_select, hal_spi_write, hal_spi_read, hal_spi_xfer, hal_now_us, hal_delay_us,
  hal_irq_mask_pfail,
} from "./hal";
import { nv_page_bytes } from "./layout";
import { OK, ERR_TIMEOUT, ERR_INVAL } from "./errors";

// Instruction set (DS22064D Table 2-1) and status bits (§2.10).
@inline const CMD_READ: i32 = 0x03;
@inline const CMD_WRITE: i32 = 0x02;
@inline const CMD_WREN: i32 = 0x06;
@inline const CMD_RDSR: i32 = 0x05;
@inline const SR_WIP: i32 = 0x01;

/** Longest write cycle we wait for: the datasheet's 6 ms max, with room for slower
 * parts (M95M02: 10 ms); a poll past it ends with one last look (Zephyr eeprom_at2x). */
@inline const wip_timeout_floor_us: i64 = 20_000;
/** Interval between status polls once the expected write time has passed. */
@inline const wip_poll_interval_us: i32 = 20;
/** Polls per write at most (the deadline stops it first). */
@inline const wip_polls_max: u32 = 5_000;

/** The part's write cycle as measured (µs); 0 until measured. */
let t_wc_us: i32 = 0;
/** Wall time of one full page write + verify as measured (µs). */
let t_page_us: i32 = 0;

@inline export function eeprom_t_wc_us(): i32 { return t_wc_us; }
@inline export function eeprom_t_page_us(): i32 { return t_page_us; }

/** Command + 24-bit address, big-endian, in a 4-byte buffer at p. */
@inline function put_cmd(p: usize, cmd: i32, addr: u32): void {
  store<u8>(p, <u8>cmd, 0);
  store<u8>(p, <u8>(addr >>> 16), 1);
  store<u8>(p, <u8>(addr >>> 8), 2);
  store<u8>(p, <u8>addr, 3);
}

/** The 4-byte command buffer: just below the caller's page buffer would race with
 * the ISR, so each context passes its own. */
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

/** Wait for WIP to clear: sleep the expected write time, then poll under a deadline,
 * with one last poll after it. Returns OK or ERR_TIMEOUT. */
export function eeprom_wait_idle(expected_us: i32): i32 {
  let start = hal_now_us();
  let limit = <i64>expected_us * 3;
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

/** Write one whole page (page-aligned addr, nv_page_bytes from src) and wait for the
 * write cycle. The page boundary is enforced here and nowhere else. */
export function eeprom_write_page(cmd_buf: usize, addr: u32, src: usize): i32 {
  if ((addr & (nv_page_bytes - 1)) != 0) return ERR_INVAL;
  start_page_write(cmd_buf, addr, src);
  return eeprom_wait_idle(t_wc_us);
}

/** WREN and WRITE of one page with the power-fail interrupt held off, so that the
 * save never finds the bus in the middle of a main-loop command (a few hundred µs
 * at most; the write cycle itself runs with the interrupt enabled, and the save
 * waits for it before its first command). */
function start_page_write(cmd_buf: usize, addr: u32, src: usize): void {
  let was = hal_irq_mask_pfail(1);
  eeprom_wren();
  put_cmd(cmd_buf, CMD_WRITE, addr);
  hal_spi_select(1);
  hal_spi_write(cmd_buf, 4);
  hal_spi_write(src, <i32>nv_page_bytes);
  hal_spi_select(0);
  hal_irq_mask_pfail(was);
}

/** Compare len bytes; true if equal. */
export function bytes_equal(a: usize, b: usize, len: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
  for (; i < len; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Write a page, read it back and compare. OK, ERR_TIMEOUT, or 1 for a mismatch. */
export function eeprom_write_verify(cmd_buf: usize, addr: u32, src: usize, verify_buf: usize): i32 {
  let err = eeprom_write_page(cmd_buf, addr, src);
  if (err != OK) return err;
  eeprom_read(cmd_buf, addr, verify_buf, <i32>nv_page_bytes);
  return bytes_equal(src, verify_buf, nv_page_bytes) ? OK : 1;
}

/** Measure the part: time one write cycle (WIP polled finely from the start) and a
 * whole write + verify of `page_addr`, which holds nothing we need. */
export function eeprom_measure(cmd_buf: usize, page_addr: u32, src: usize, verify_buf: usize): i32 {
  let t0 = hal_now_us();
  start_page_write(cmd_buf, page_addr, src);
  let t_cs = hal_now_us();
  // Fine polling from the start: the write cycle measured to ±20 µs.
  let err = eeprom_wait_idle(0);
  let t_done = hal_now_us();
  if (err != OK) return err;
  eeprom_read(cmd_buf, page_addr, verify_buf, <i32>nv_page_bytes);
  let t_end = hal_now_us();
  t_wc_us = <i32>(t_done - t_cs);
  t_page_us = <i32>(t_end - t0) + wip_poll_interval_us;
  return bytes_equal(src, verify_buf, nv_page_bytes) ? OK : 1;
}
