// SPI EEPROM parts: the instruction set and status register of the Microchip 25LC1024
// (DS22064D), the figures of the parts docs/docs/BOARD.md offers as options, and the array
// itself (EepromStore: bytes, wear, stuck bits, dead pages), kept apart from the SPI
// front end and its timing (eeprom.ts), as in avr8js's eeprom.ts.

// ---- instruction set (DS22064D Table 2-1) --------------------------------------------
export const CMD_READ = 0x03;
export const CMD_WRITE = 0x02;
export const CMD_WREN = 0x06;
export const CMD_WRDI = 0x04;
export const CMD_RDSR = 0x05;
export const CMD_WRSR = 0x01;
export const CMD_PE = 0x42;
export const CMD_SE = 0xd8;
export const CMD_CE = 0xc7;
export const CMD_RDID = 0xab; // also "release from deep power-down" (RES)
export const CMD_DPD = 0xb9;

// ---- status register bits (DS22064D §2.10, Table 2-2) ----------------------------------
export const SR_WIP = 1 << 0;  // write in progress (read-only)
export const SR_WEL = 1 << 1;  // write enable latch (read-only, set by WREN)
export const SR_BP0 = 1 << 2;  // block protect, Table 2-3
export const SR_BP1 = 1 << 3;
export const SR_WPEN = 1 << 7; // write-protect enable (with the WP pin)

/** Electronic signature returned by RDID (DS22064D §2.12). */
export const SIGNATURE_25LC1024 = 0x29;

export interface EepromPart {
  name: string;
  size_bytes: number;
  page_bytes: number;
  /** Sector size for SE and block protection (DS22064D: 32 KiB). */
  sector_bytes: number;
  max_clock_hz: number;
  /** Page write cycle time, max (DS22064D Table 1-2, tWC = 6 ms). */
  t_wc_ns: number;
  t_pe_ns: number;  // page erase, 6 ms max (DS22064D features list)
  t_se_ns: number;  // sector erase, 10 ms max
  t_ce_ns: number;  // chip erase, 10 ms max
  endurance_cycles: number; // 1,000,000 E/W cycles per page
  /** RDID/RES (ABh) electronic signature, or null for a part without the instruction
   * (it ignores the opcode, as parts do with opcodes they do not have). */
  signature: number | null;
}

export const PART_25LC1024: EepromPart = {
  name: "25LC1024",
  size_bytes: 128 * 1024,
  page_bytes: 256,
  sector_bytes: 32 * 1024,
  max_clock_hz: 20e6,
  t_wc_ns: 6e6,
  t_pe_ns: 6e6,
  t_se_ns: 10e6,
  t_ce_ns: 10e6,
  endurance_cycles: 1_000_000,
  signature: SIGNATURE_25LC1024,
};

/** ST M95M02 (DS: 256 KiB, 5 MHz at 2.5 V..., 10 ms write cycle), as docs/docs/BOARD.md offers.
 * Modelled with the 25LC1024 command set; its erase commands are not on the part. */
export const PART_M95M02: EepromPart = {
  ...PART_25LC1024,
  name: "M95M02",
  signature: null, // no ABh instruction (its identification page is read with 83h)
  size_bytes: 256 * 1024,
  max_clock_hz: 5e6,
  t_wc_ns: 10e6,
  t_pe_ns: 10e6,
  t_se_ns: 10e6,
  t_ce_ns: 10e6,
  sector_bytes: 64 * 1024,
};

/** Cypress FM25V20A FRAM (256 KiB, 40 MHz, no write delay), as docs/docs/BOARD.md offers. */
export const PART_FM25V20A: EepromPart = {
  ...PART_25LC1024,
  name: "FM25V20A",
  size_bytes: 256 * 1024,
  page_bytes: 256 * 1024, // no pages: a write streams through the whole array
  max_clock_hz: 40e6,
  t_wc_ns: 0,
  t_pe_ns: 0,
  t_se_ns: 0,
  t_ce_ns: 0,
  sector_bytes: 64 * 1024,
  endurance_cycles: 1e14,
  signature: null, // its device ID is read with 9Fh, not ABh
};

export const EEPROM_PARTS: Record<string, EepromPart> = {
  "25LC1024": PART_25LC1024,
  "M95M02": PART_M95M02,
  "FM25V20A": PART_FM25V20A,
};

/** The array itself: bytes, per-page wear, and permanent faults. */
export class EepromStore {
  readonly bytes: Uint8Array;
  readonly wear: Uint32Array;
  /** Stuck bits: address -> [mask, value]; those bits read as value whatever is written. */
  readonly stuck = new Map<number, [number, number]>();
  /** Pages that no longer take a write (the old contents stay). */
  readonly deadPages = new Set<number>();

  constructor(readonly part: EepromPart) {
    // A new part is erased: every byte 0xFF (DS22064D §2.6: erase sets bits to 1).
    this.bytes = new Uint8Array(part.size_bytes).fill(0xff);
    this.wear = new Uint32Array(Math.ceil(part.size_bytes / part.page_bytes));
  }

  read(addr: number): number {
    let v = this.bytes[addr];
    const s = this.stuck.get(addr);
    if (s) v = (v & ~s[0]) | (s[1] & s[0]);
    return v;
  }

  /** Program one page: `image` is the full page after the write. */
  programPage(page: number, image: Uint8Array): void {
    this.wear[page]++;
    if (this.deadPages.has(page)) return;
    this.bytes.set(image, page * this.part.page_bytes);
  }
}
