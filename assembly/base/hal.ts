// The board's hardware abstraction layer: everything the firmware imports, all from
// module "hal", all scalar arguments. docs/HAL.md is the contract; keep them in step.

// ---- clock -----------------------------------------------------------------------

/** Microseconds since this boot. Main loop and interrupt. */
@external("hal", "now_us")
export declare function hal_now_us(): i64;

/** Wait for an interrupt (WFI): returns after at least one handler ran. Main loop. */
@external("hal", "idle")
export declare function hal_idle(): void;

/** Busy-wait for at least delay_us (used between EEPROM status polls). Both. */
@external("hal", "delay_us")
export declare function hal_delay_us(delay_us: i32): void;

/** Arm the one-shot timer interrupt delay_us from now (0 disarms). Both. The firmware
 * arms it through base/timer.ts, which shares it with the pair's heartbeat. */
@external("hal", "timer_arm")
export declare function hal_timer_arm(delay_us: i32): void;

// ---- power -----------------------------------------------------------------------

/** Level of the PFAIL# pin: 1 while the supply is good, 0 after it failed. Both. */
@external("hal", "pfail_level")
export declare function hal_pfail_level(): i32;

/** Tell the power switch the save is done: the cap is disconnected and keeps its
 * remaining charge; the MCU stops. Never returns on the board. Interrupt. */
@external("hal", "power_save_done")
export declare function hal_power_save_done(): void;

/** The supercap's voltage from the board's ADC, mV. Both. */
@external("hal", "cap_mv")
export declare function hal_cap_mv(): i32;

/** The voltage below which the MCU and EEPROM stop (the board's brown-out), mV. */
@external("hal", "cap_brownout_mv")
export declare function hal_cap_brownout_mv(): i32;

/** Learn load on (1: charger off, the cap drives a load equal to the hold-up load)
 * or off (0: charging again). Main loop. */
@external("hal", "cap_learn")
export declare function hal_cap_learn(on: i32): void;

/** 32 bits from the MCU's hardware random number generator. Both. */
@external("hal", "entropy")
export declare function hal_entropy(): i32;

/** Hold off (1) or allow (0) the power-fail interrupt; returns the previous setting.
 * A PFAIL# edge while held off is taken when allowed again. Both. */
@external("hal", "irq_mask_pfail")
export declare function hal_irq_mask_pfail(masked: i32): i32;

// ---- SPI (EEPROM) ----------------------------------------------------------------

/** Assert (1) or release (0) the EEPROM chip select. Releasing CS starts a write. */
@external("hal", "spi_select")
export declare function hal_spi_select(selected: i32): void;

/** Clock out len bytes from memory at addr (input ignored). Blocks for the bus time. */
@external("hal", "spi_write")
export declare function hal_spi_write(addr: usize, len: i32): void;

/** Clock in len bytes to memory at addr (0x00 shifted out). Blocks for the bus time. */
@external("hal", "spi_read")
export declare function hal_spi_read(addr: usize, len: i32): void;

/** Exchange one byte. */
@external("hal", "spi_xfer")
export declare function hal_spi_xfer(out: i32): i32;

// ---- SCSI initiator (disk side) ----------------------------------------------------

/** Queue a tagged command to a target. The bus DMAs data from/to data_addr and, at
 * completion, writes the 32-byte result record at result_addr, then raises
 * irq_scsi(tag). Returns 0, or a negative code if the tag is busy or an argument is
 * out of range (nothing queued). Main loop and interrupt. */
@external("hal", "scsi_submit")
export declare function hal_scsi_submit(
  target: i32, tag: i32, cdb_addr: usize, cdb_len: i32,
  data_addr: usize, data_bytes: i32, data_out: i32, result_addr: usize,
): i32;

/** As scsi_submit, with the data in pieces: sg_count entries of (address u32,
 * bytes u32), little-endian, at sg_addr. */
@external("hal", "scsi_submit_sg")
export declare function hal_scsi_submit_sg(
  target: i32, tag: i32, cdb_addr: usize, cdb_len: i32,
  sg_addr: usize, sg_count: i32, data_out: i32, result_addr: usize,
): i32;

/** ABORT TASK for the command on `tag`: it ends with host status 2 (aborted) and
 * irq_scsi(tag) within 1 ms; anything the target does with it later is not heard.
 * Returns 0, or a negative code if no command is in flight on the tag. Main loop
 * and interrupt. */
@external("hal", "scsi_abort")
export declare function hal_scsi_abort(tag: i32): i32;

// ---- host adapter (target side) -----------------------------------------------------

/** Hand a finished mailbox slot back to the host (status, sense, data are in it). */
@external("hal", "host_complete")
export declare function hal_host_complete(slot: i32): void;

// ---- board straps -------------------------------------------------------------------

/** A board strap (a DIP switch or a board-file setting), read at boot: CONFIG_RAID
 * the RAID level of an array built on blank disks (0: one LUN per disk, 3, 4, 5),
 * CONFIG_MEMBERS its member count (bus IDs 0..n−1). 0 for a key the board does not
 * have. Main loop. */
@external("hal", "config")
export declare function hal_config(key: i32): i32;
@inline export const CONFIG_RAID: i32 = 0;
@inline export const CONFIG_MEMBERS: i32 = 1;
/** This controller's place in a pair: 0 alone, 1 controller A, 2 controller B. */
@inline export const CONFIG_IDENTITY: i32 = 6;

// ---- links to the partner controller (a pair, seed 002) ------------------------------

/** Send `len` bytes at `addr` on link 0 or 1 to the partner (copied at the call; they
 * reach the partner's receive ring, docs/HAL.md "Links"). 0, or negative: -1 no
 * carrier, -2 a bad argument (link, length, address). Both. */
@external("hal", "link_send")
export declare function hal_link_send(link: i32, addr: usize, len: i32): i32;

/** 1 if link 0 or 1 has carrier (both ends powered, the cable whole), else 0. Both. */
@external("hal", "link_carrier")
export declare function hal_link_carrier(link: i32): i32;

// ---- diagnostics -----------------------------------------------------------------

/** Log an event: code (see errors.ts) and two scalar arguments. Both. */
@external("hal", "log")
export declare function hal_log(code: i32, a: i32, b: i32): void;

/** A broken invariant: the board records it and resets the MCU. `message` and `file`
 * point at the assert's text and source file name (AssemblyScript strings: UTF-16LE,
 * their byte length in the 4 bytes before them; 0 if there is none), so a port can
 * print them from its own memory. */
@external("hal", "fault")
export declare function hal_fault(line: i32, column: i32, message: i32, file: i32): void;

/** Replaces asc's abort (asconfig.json "use"), so the only imports are the HAL's. */
export function fw_abort(
  message: usize, fileName: usize, line: u32, column: u32,
): void {
  hal_fault(<i32>line, <i32>column, <i32>message, <i32>fileName);
  unreachable();
}
