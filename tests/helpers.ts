// Shared test helpers: a fresh board per test, and a way to run host commands on it.
import { Board, BoardOptions } from "../host/board.js";
import { HostAdapter, HostResult } from "../host/host.js";
import { loadMetered } from "../host/firmware.js";

export interface Cmd {
  lun: number;
  cdb: Uint8Array;
  dataOut?: Uint8Array;
  dataIn?: number;
}

export function newBoard(opts: BoardOptions = {}, qd = 4): { board: Board; host: HostAdapter } {
  const board = new Board(loadMetered(), opts);
  const host = new HostAdapter(board, qd);
  return { board, host };
}

/** Boot the firmware (again) and run the commands, at most `qd` at a time, in order
 * of submission; returns their results in that order. Throws past limit_ms. */
export function runCommands(board: Board, host: HostAdapter, cmds: Cmd[], limit_ms = 600_000): HostResult[] {
  const results: HostResult[] = new Array(cmds.length);
  let done = 0;
  cmds.forEach((c, i) => host.submit(c.lun, c.cdb, c.dataOut ?? null, c.dataIn ?? 0, (r) => {
    results[i] = r;
    done++;
  }));
  board.run(() => done === cmds.length, board.now_ns + limit_ms * 1e6);
  if (done !== cmds.length) throw new Error(`only ${done} of ${cmds.length} commands finished`);
  return results;
}

/** Run until pred() or the limit; throws at the limit instead of hanging. */
export function runUntil(board: Board, pred: () => boolean, limit_ms: number): void {
  board.run(pred, board.now_ns + limit_ms * 1e6);
  if (!pred()) throw new Error(`runUntil: condition not met within ${limit_ms} ms`);
}
