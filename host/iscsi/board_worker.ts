// The board of `holdup serve`, in a worker thread: the firmware runs here without a
// break (its RAM lives as long as its power), and the network is the main thread's.
// Commands come in as messages; when the host adapter has nothing in flight, the
// firmware waits for an interrupt and nothing is scheduled on the clock, this thread
// blocks until the next message, so virtual time stands still while the board is idle
// (no wall clock is read).

import { MessagePort, isMainThread, receiveMessageOnPort, workerData } from "node:worker_threads";
import { Board, BoardOptions } from "../board.js";
import { HostAdapter } from "../host.js";
import { loadMetered } from "../firmware.js";

export type ToBoard =
  | { t: "cmd"; id: number; lun: number; cdb: Uint8Array; dataOut: Uint8Array | null; dataInLen: number }
  | { t: "cut"; off_ms: number }
  | { t: "stop" };
export type FromBoard =
  | { t: "done"; id: number; status: number; sense: Uint8Array | null; data: Uint8Array; lost: boolean }
  | { t: "power"; up: boolean; virtual_ms: number; maxBlocks?: number }
  | { t: "stopped"; virtual_ms: number; cycles: number };

export interface BoardWorkerData {
  port: MessagePort;
  /** Int32 counter the main thread bumps (and notifies) after each message. */
  signal: SharedArrayBuffer;
  board: BoardOptions;
  cutAt_ms: number | null;
  off_ms: number;
}

if (!isMainThread && workerData?.signal) {
  const w = workerData as BoardWorkerData;
  const signal = new Int32Array(w.signal);
  const port = w.port;
  const board = new Board(loadMetered(), w.board);
  const host = new HostAdapter(board, 4);
  let stopped = false;
  const post = (m: FromBoard) => port.postMessage(m);
  const vms = () => board.now_ns / 1e6;

  const handle = (m: ToBoard) => {
    if (m.t === "stop") { stopped = true; return; }
    if (m.t === "cut") {
      board.cutPowerAt(board.now_ns);
      board.restorePowerAt(board.now_ns + m.off_ms * 1e6);
      return;
    }
    host.submit(m.lun, m.cdb, m.dataOut, m.dataInLen, (r) => {
      post({ t: "done", id: m.id, status: r.status, sense: r.senseRaw, data: r.data, lost: r.lost });
    });
  };
  /** Take every message waiting; block for one if `wait`. */
  const pump = (wait: boolean) => {
    for (;;) {
      const seen = Atomics.load(signal, 0);
      const got = receiveMessageOnPort(port);
      if (got) { handle(got.message as ToBoard); wait = false; continue; }
      if (!wait || stopped) return;
      Atomics.wait(signal, 0, seen);
    }
  };
  // Block only when nothing can happen unless the network says something: the host
  // has nothing in flight, the firmware waits for an interrupt, and no alarm is set on
  // the clock (no device is busy, no timer armed, no supply event planned). A save, a
  // restore, a destage, a disk's own cache flush all run on until then.
  board.mcu.onIdleWait = () => pump(host.idle && board.clock.nextAt_ns() === Infinity);
  const innerBoot = board.onBoot;
  board.onBoot = () => {
    innerBoot?.();
    post({ t: "power", up: true, virtual_ms: vms(), maxBlocks: Math.floor(board.firmware!.mailbox_data_size() / 512) });
  };
  const innerLost = board.onPowerLost;
  board.onPowerLost = () => { innerLost?.(); post({ t: "power", up: false, virtual_ms: vms() }); };
  if (w.cutAt_ms !== null) {
    board.cutPowerAt(w.cutAt_ms * 1e6);
    board.restorePowerAt((w.cutAt_ms + w.off_ms) * 1e6);
  }
  // While the MCU is off nothing idles: take messages between alarms too.
  board.run(() => { pump(false); return stopped; }, Infinity);
  post({ t: "stopped", virtual_ms: vms(), cycles: board.mcu.cyclesTotal });
}
