// The tape library the backup server writes to (docs/DIRECTOR.md "The installation"):
// LTO-5 drives (2 in use and 1 spare by default), a changer with storage slots full of
// labelled-by-barcode cartridges and an import/export slot. A test or a run builds one
// in a line.

import type { VirtualClock } from "../clock.js";
import { TapeDrive } from "../devices/tape.js";
import { Cartridge, TapeParams, LTO5_SCALED } from "../devices/tape_media.js";
import { Changer, ChangerParams, DEFAULT_CHANGER, ADDR } from "../devices/changer.js";

export interface LibraryConfig {
  drives: number;
  /** Cartridges in slots 0 .. tapes-1. */
  tapes: number;
  tape: TapeParams;
  changer: ChangerParams;
}

export const DEFAULT_LIBRARY: LibraryConfig = { drives: 3, tapes: 12, tape: LTO5_SCALED, changer: DEFAULT_CHANGER };

export interface Library { drives: TapeDrive[]; changer: Changer; cartridge(barcode: string): Cartridge | null }

export function makeLibrary(clock: VirtualClock, cfg: Partial<LibraryConfig> = {}): Library {
  const c = { ...DEFAULT_LIBRARY, ...cfg };
  const drives = Array.from({ length: c.drives }, (_, i) =>
    new TapeDrive(i, `HU5D${String(i + 1).padStart(6, "0")}`, clock, c.tape));
  const changer = new Changer(clock, drives, c.changer);
  const all: Cartridge[] = [];
  for (let i = 0; i < c.tapes && i < changer.slots.length; i++) {
    const cart = new Cartridge(`HU${String(i + 1).padStart(4, "0")}L5`, c.tape.capacity_bytes, c.tape.filemark_bytes);
    changer.slots[i] = cart;
    all.push(cart);
  }
  return { drives, changer, cartridge: (b) => all.find((x) => x.barcode === b) ?? null };
}

export { ADDR };
