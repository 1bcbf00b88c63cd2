// Scripts of host actions on a board, written as generators: yield a command and get
// its result back, yield a pause, or yield a power cut and resume after the next boot.
// All in virtual time, in one run of the firmware (so its RAM persists between
// steps unless a cut ends it).

import { Board, BoardOptions } from "./board.js";
import { HostAdapter, HostResult } from "./host.js";
import { cdb, STATUS, KEY, parseNvStatus, NvStatus } from "./scsi/spc.js";

export interface Cmd { lun: number; cdb: Uint8Array; dataOut?: Uint8Array; dataIn?: number; }
export interface Pause { pause_ms: number; }
/** Cut the supply now; it returns after off_ms; the script resumes after the boot (or,
 * if the controller rode through on its cap, 1 ms after the supply is back). */
export interface Cut { cut_off_ms: number; }
export type Step = Cmd | Pause | Cut;
export type Script = Generator<Step, void, HostResult | null>;

export class Session {
  readonly board: Board;
  readonly host: HostAdapter;

  constructor(module: WebAssembly.Module, opts: BoardOptions = {}, qd = 4) {
    this.board = new Board(module, opts);
    this.host = new HostAdapter(this.board, qd);
  }

  /** Run a script to its end (throws past limit_ms of virtual time). */
  run(script: Script, limit_ms = 600_000): void {
    const board = this.board;
    let done = false;
    let waitingBoot = false;
    const innerBoot = board.onBoot;
    board.onBoot = () => {
      innerBoot?.();
      if (waitingBoot) { waitingBoot = false; board.clock.after(0, "script resumes", () => step(null)); }
    };
    const step = (input: HostResult | null) => {
      const next = script.next(input as HostResult);
      if (next.done) { done = true; return; }
      const s = next.value;
      if ("pause_ms" in s) {
        board.clock.after(s.pause_ms * 1e6, "script pause", () => step(null));
      } else if ("cut_off_ms" in s) {
        const boots = board.boots;
        board.cutPowerAt(board.now_ns);
        board.restorePowerAt(board.now_ns + s.cut_off_ms * 1e6);
        waitingBoot = true;
        // If the controller rides through on its cap (the supply is back before the
        // save ends), there is no boot: go on once the supply is back.
        board.clock.after(s.cut_off_ms * 1e6 + 1e6, "script: power back", () => {
          if (waitingBoot && board.boots === boots) { waitingBoot = false; step(null); }
        });
      } else {
        this.host.submit(s.lun, s.cdb, s.dataOut ?? null, s.dataIn ?? 0, (r) => {
          // A command the controller took down with it: the boot resumes the script
          // (with null), whether the script cut the power or something else did.
          if (r.lost) { waitingBoot = true; return; }
          step(r);
        });
      }
    };
    board.clock.after(0, "script starts", () => step(null));
    board.run(() => done, board.now_ns + limit_ms * 1e6);
    board.onBoot = innerBoot;
    if (!done) throw new Error(`script did not finish within ${limit_ms} ms of virtual time`);
  }
}

/** TEST UNIT READY until GOOD (through unit attentions, spin-up, restore). */
export function* untilReady(lun: number, attempts = 3000): Generator<Step, HostResult, HostResult | null> {
  let r: HostResult | null = null;
  for (let i = 0; i < attempts; i++) {
    r = (yield { lun, cdb: cdb.tur() })!;
    if (r.status === STATUS.GOOD) return r;
    if (r.sense?.key === KEY.ILLEGAL_REQUEST) return r;
    yield { pause_ms: 10 };
  }
  return r!;
}

export function* nvStatus(lun = 0): Generator<Step, NvStatus, HostResult | null> {
  const r = (yield { lun, cdb: cdb.nvStatus(64), dataIn: 64 })!;
  return parseNvStatus(r.data);
}

/** Wait until write-back is on (learned, armed). */
export function* untilWriteBack(lun = 0, attempts = 1000): Generator<Step, NvStatus, HostResult | null> {
  let st: NvStatus | null = null;
  for (let i = 0; i < attempts; i++) {
    st = yield* nvStatus(lun);
    // Write-back with its full budget: a first boot's EEPROM format done too.
    if (st.mode === 0 && st.budget > 0 && st.format_permille === 1000) return st;
    yield { pause_ms: 10 };
  }
  return st!;
}
