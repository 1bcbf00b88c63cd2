// The director's installation (seed 004 FIGS. 5 and 7): the director's firmware on its
// own MCU (build/director.metered.wasm on a Board), and a spare director on a second
// one if asked for; the backup server on the director port (LUN 0 the drive it knows,
// LUN 1 the changer) through its path (DirectorPath); the tape library behind an FC
// switch: device bus ID 0 the drive a director starts on, ID 3 the spare (the third
// drive), the changer on ID 1; the caching disk on ID 2, on its own power and a second
// switch, reached by both directors.
//
// A director that dies loses the commands in its mailbox; the server's path sends
// them again with the same command number. With a spare director the switch gives the
// director port (and the drives' zones) to the spare at once (FIG. 7); without one,
// the port waits for the director to come back.

import { Board } from "../board.js";
import { HostAdapter, HostResult } from "../host.js";
import { Fabric } from "../devices/fabric.js";
import { Disk, DEFAULT_DISK } from "../devices/disk.js";
import type { ScsiResult } from "../devices/target.js";
import type { VirtualClock } from "../clock.js";
import { Rng } from "../rng.js";
import { makeLibrary, Library, LibraryConfig, ADDR, DEFAULT_LIBRARY } from "./library.js";
import { Cartridge } from "../devices/tape_media.js";
import type { ServerScript, TapeLog } from "./server.js";

/** Fabric ports: the directors from 1, the drives from DRIVE_PORT. */
export const DIRECTOR_PORT = 1;
export const DRIVE_PORT = 100;
/** The spare drive: the library's third (changer element 0102h). */
export const SPARE_DRIVE = 2;
export const SPARE_TAPE_BARCODE = "HU9001L5";
/** How long the server's FC driver waits before it sends a lost command again (the
 * exchange's time-out, FCP-4 REC_TOV-like): an assumption, in docs/DIRECTOR.md. */
export const RESEND_MS = 2000;

/** The tape the server put back in a slot: what the read-back reads behind a director
 * (a replacement tape stands where the original was: [030]). */
export function tapeInSlot(inst: DirectorInstallation): (barcode: string, t: TapeLog) => Cartridge | null {
  return (_b, t) => inst.lib.changer.slots[t.slot - ADDR.STORAGE] ?? null;
}

/** The server's path to the director port: each command gets the next command number
 * (the mailbox host tag); one lost with a director that died goes again, with the same
 * number, RESEND_MS later, to whichever director holds the port then. */
export class DirectorPath {
  private next = 1;
  /** The director holding the port (index into the boards). */
  active = 0;
  readonly adapters: HostAdapter[];
  readonly stats = { resent: 0 };

  constructor(boards: Board[], private readonly clock: VirtualClock) {
    this.adapters = boards.map((b) => new HostAdapter(b, 1));
  }

  submit(lun: number, cdb: Uint8Array, dataOut: Uint8Array | null, dataInLen: number, cb: (r: HostResult) => void): void {
    const tag = this.next++;
    const send = () => this.adapters[this.active].submit(lun, cdb, dataOut, dataInLen, (r) => {
      if (!r.lost) { cb(r); return; }
      this.stats.resent++;
      this.clock.after(RESEND_MS * 1e6, "server resends", send);
    }, tag);
    send();
  }
}

export interface DirectorInstallation {
  /** The director the server starts with (the first of `boards`). */
  board: Board;
  boards: Board[];
  host: DirectorPath;
  lib: Library;
  fabric: Fabric;
  cache: Disk;
  /** Takeovers by the spare director. */
  takeovers: number;
}

export interface DirectorOptions {
  /** Install a spare director (FIG. 7). */
  spareDirector: boolean;
  /** Appends to a tape less full than this (%) are protected ([035]). */
  appendThresholdPct: number;
  /** The rate (KiB/s) the director takes the server's writes at while a failover
   * runs; 0: none (the server waits for the failover's end). */
  failoverRateKiBs: number;
  /** The allowance (per mille of the data) the director's early warning leaves for a
   * spare tape's rewrites; 0: its warning comes with the drive's. */
  replayAllowancePermille: number;
  /** The caching disk's size, MiB (default: the disk model's, 1 GiB). */
  cacheMiB: number;
}

/** `--append-threshold`'s default. */
export const DEFAULT_APPEND_THRESHOLD_PCT = 50;
/** `--failover-rate`'s default (KiB/s): below what the catch-up writes back from the
 * caching disk (docs/DIRECTOR.md "During a failover"). */
export const DEFAULT_FAILOVER_RATE_KIB_S = 1024;
/** `--replay-allowance`'s default (per mille): a spare cartridge whose drive rewrites
 * up to 3 % of the data sets still takes a full medium's image. */
export const DEFAULT_REPLAY_ALLOWANCE_PERMILLE = 30;

export function makeDirectorInstallation(module: WebAssembly.Module, seed: number, cfg: Partial<LibraryConfig> = {},
  opts: Partial<DirectorOptions> = {}): DirectorInstallation {
  const lib0 = { ...DEFAULT_LIBRARY, ...cfg };
  const straps = {
    raid: 0, disks: 0, append_threshold_pct: opts.appendThresholdPct ?? DEFAULT_APPEND_THRESHOLD_PCT,
    medium_mib: Math.floor(lib0.tape.capacity_bytes / 1048576),
    failover_accept_kib_s: opts.failoverRateKiBs ?? DEFAULT_FAILOVER_RATE_KIB_S,
    replay_allowance_permille: opts.replayAllowancePermille ?? DEFAULT_REPLAY_ALLOWANCE_PERMILLE,
  };
  const a = new Board(module, { seed, ...straps });
  const clock = a.clock;
  const boards = [a];
  if (opts.spareDirector) boards.push(new Board(module, { seed: seed + 1, ...straps }, clock));
  const lib = makeLibrary(clock, cfg);
  const fabric = new Fabric(clock);
  lib.drives.forEach((d, i) => fabric.attach(DRIVE_PORT + i, d));
  const cacheParams = opts.cacheMiB ? { ...DEFAULT_DISK, blocks: opts.cacheMiB * 2048 } : DEFAULT_DISK;
  const cache = new Disk(2, cacheParams, clock, new Rng(seed).fork("caching disk"));
  // The director's spare tape, in the last slot (changer element 100Fh).
  lib.changer.slots[lib.changer.slots.length - 1] = new Cartridge(SPARE_TAPE_BARCODE, lib.drives[0].p.capacity_bytes);
  const inst: DirectorInstallation = { board: a, boards, host: new DirectorPath(boards, clock), lib, fabric, cache, takeovers: 0 };
  boards.forEach((b, k) => {
    const port = DIRECTOR_PORT + k;
    b.bus.targets[0] = fabric.view(port, DRIVE_PORT);
    b.bus.targets[1] = lib.changer;
    b.bus.targets[2] = cache;
    b.bus.targets[3] = fabric.view(port, DRIVE_PORT + SPARE_DRIVE);
  });
  zoneDirector(fabric, DIRECTOR_PORT, true);
  if (boards.length > 1) {
    // The switch gives the port to the spare the moment the director's link goes dark.
    const lost = a.onPowerLost;
    a.onPowerLost = () => {
      lost?.();
      if (inst.host.active !== 0) return;
      zoneDirector(fabric, DIRECTOR_PORT, false);
      zoneDirector(fabric, DIRECTOR_PORT + 1, true);
      inst.host.active = 1;
      inst.takeovers++;
    };
  }
  return inst;
}

function zoneDirector(fabric: Fabric, port: number, on: boolean): void {
  fabric.zone(port, DRIVE_PORT, on);
  fabric.zone(port, DRIVE_PORT + SPARE_DRIVE, on);
}

/** Every director's log, in time order. */
export function directorLog(inst: DirectorInstallation): string[] {
  return inst.boards.flatMap((b) => b.log).sort((x, y) => parseFloat(x) - parseFloat(y));
}

export function directorCycles(inst: DirectorInstallation): number {
  return inst.boards.reduce((n, b) => n + b.cyclesTotal, 0);
}

/** Run the server through the director (its drive commands to LUN 0, its changer
 * commands to LUN 1) until it ends or `limit_ms` of virtual time: the director holding
 * the port runs, the other waits. */
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
  const limit_ns = limit_ms * 1e6;
  inst.board.clock.after(0, "server starts", () => step(null));
  for (let turns = 0; turns < 16 && !finished && inst.board.clock.now_ns <= limit_ns; turns++) {
    const b = inst.boards[inst.host.active];
    b.run(() => finished || inst.boards[inst.host.active] !== b, limit_ns);
  }
  return finished;
}
