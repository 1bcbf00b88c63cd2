// The director's installation (seed 004 FIG. 5, in its first form): the director's
// firmware on its own MCU (build/director.metered.wasm on a Board), the backup server
// on its mailbox (LUN 0 the drive it knows, LUN 1 the changer), the tape library
// behind an FC switch: device bus ID 0 the drive the director starts on, ID 3 the
// spare (the third drive; both zoned to the director), the changer on ID 1, the
// caching disk on ID 2.

import { Board } from "../board.js";
import { HostAdapter } from "../host.js";
import { Fabric } from "../devices/fabric.js";
import type { ScsiResult } from "../devices/target.js";
import { makeLibrary, Library, LibraryConfig, ADDR } from "./library.js";
import { Cartridge } from "../devices/tape_media.js";
import type { ServerScript, TapeLog } from "./server.js";

/** Fabric ports: the directors from 1, the drives from DRIVE_PORT. */
export const DIRECTOR_PORT = 1;
export const DRIVE_PORT = 100;
/** The spare drive: the library's third (changer element 0102h). */
export const SPARE_DRIVE = 2;
export const SPARE_TAPE_BARCODE = "HU9001L5";

/** The tape the server put back in a slot: what the read-back reads behind a director
 * (a replacement tape stands where the original was: [030]). */
export function tapeInSlot(inst: DirectorInstallation): (barcode: string, t: TapeLog) => Cartridge | null {
  return (_b, t) => inst.lib.changer.slots[t.slot - ADDR.STORAGE] ?? null;
}

export interface DirectorInstallation { board: Board; host: HostAdapter; lib: Library; fabric: Fabric }

export function makeDirectorInstallation(module: WebAssembly.Module, seed: number, cfg: Partial<LibraryConfig> = {}): DirectorInstallation {
  const board = new Board(module, { seed, raid: 0, disks: 3 });
  const lib = makeLibrary(board.clock, cfg);
  const fabric = new Fabric(board.clock);
  lib.drives.forEach((d, i) => fabric.attach(DRIVE_PORT + i, d));
  fabric.zone(DIRECTOR_PORT, DRIVE_PORT, true);
  fabric.zone(DIRECTOR_PORT, DRIVE_PORT + SPARE_DRIVE, true);
  board.bus.targets[0] = fabric.view(DIRECTOR_PORT, DRIVE_PORT);
  board.bus.targets[1] = lib.changer;
  board.bus.targets[3] = fabric.view(DIRECTOR_PORT, DRIVE_PORT + SPARE_DRIVE);
  // The director's spare tape, in the last slot (changer element 100Fh).
  lib.changer.slots[lib.changer.slots.length - 1] = new Cartridge(SPARE_TAPE_BARCODE, lib.drives[0].p.capacity_bytes);
  const host = new HostAdapter(board, 1);
  return { board, host, lib, fabric };
}

/** Run the server through the director (its drive commands to LUN 0, its changer
 * commands to LUN 1) until it ends or `limit_ms` of virtual time. */
export function runServerThroughDirector(inst: DirectorInstallation, script: ServerScript, limit_ms: number): boolean {
  let finished = false;
  const step = (r: ScsiResult | null) => {
    const n = script.next(r);
    if (n.done) { finished = true; return; }
    const s = n.value;
    if ("pause_ms" in s) { inst.board.clock.after(s.pause_ms * 1e6, "server pause", () => step(null)); return; }
    const dataIn = s.data ? 0 : 4096;
    inst.host.submit(s.to === "changer" ? 1 : 0, s.cdb, s.data ?? null, dataIn, (h) => step({
      status: h.status, hostStatus: h.lost ? 2 : 0, sense: h.senseRaw, dataIn: h.data.length ? h.data : null,
    }));
  };
  inst.board.clock.after(0, "server starts", () => step(null));
  inst.board.run(() => finished, limit_ms * 1e6);
  return finished;
}
