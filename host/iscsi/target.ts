// `holdup serve --iscsi HOST:PORT`: the emulated controller's LUNs as an iSCSI target
// (RFC 7143) for real initiators. The network is here; the board runs in a worker
// (board_worker.ts). One target, several sessions, one connection per session, login
// without authentication, SCSI commands with Data-In, Data-Out (immediate data and
// R2T), NOP, text (SendTargets), task management (answered, not acted on) and logout.
// A power loss of the board closes every connection; initiators log in again after
// the reboot.

import { createServer, Server, Socket } from "node:net";
import { MessageChannel, Worker } from "node:worker_threads";
import type { BoardWorkerData, FromBoard, ToBoard } from "./board_worker.js";
import type { BoardOptions } from "../board.js";
import { BlockBridge } from "./blocks.js";
import { Connection } from "./connection.js";
export { TARGET_IQN } from "./params.js";

export interface ServeOptions {
  host: string;
  port: number;
  board: BoardOptions;
  /** Cut the board's supply at this virtual instant (ms), back after off_ms. */
  cutAt_ms?: number | null;
  off_ms?: number;
  log?: (line: string) => void;
}


export class IscsiTarget {
  private readonly worker: Worker;
  private readonly port: MessageChannel["port1"];
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly server: Server;
  private readonly pending = new Map<number, (m: Extract<FromBoard, { t: "done" }>) => void>();
  private readonly conns = new Set<Connection>();
  private nextId = 1;
  private nextTsih = 1;
  boardUp = false;
  /** Splits and checks block transfers for the board (blocks.ts). */
  readonly blocks = new BlockBridge((lun, cdb, out, inLen, cb) =>
    this.submit(lun, Buffer.from(cdb), out ? Buffer.from(out) : null, inLen, (m) => cb(m.status, m.sense, m.data, m.lost)));
  readonly stats = { logins: 0, commands: 0, cuts: 0 };
  private readonly log: (line: string) => void;
  /** Resolves when the board's worker has stopped. */
  readonly stoppedP: Promise<FromBoard>;

  constructor(readonly o: ServeOptions) {
    this.log = o.log ?? (() => {});
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: BoardWorkerData = {
      port: port2, signal: this.signal.buffer as SharedArrayBuffer, board: o.board,
      cutAt_ms: o.cutAt_ms ?? null, off_ms: o.off_ms ?? 3000,
    };
    this.worker = new Worker(new URL("./board_worker.js", import.meta.url), { workerData: data, transferList: [port2] });
    let stopped: (m: FromBoard) => void = () => {};
    this.stoppedP = new Promise((r) => { stopped = r; });
    this.port.on("message", (m: FromBoard) => {
      if (m.t === "done") { const cb = this.pending.get(m.id); this.pending.delete(m.id); cb?.(m); }
      else if (m.t === "power") {
        this.boardUp = m.up;
        this.blocks.reset();
        if (m.up && m.maxBlocks) this.blocks.maxBlocks = m.maxBlocks;
        this.log(`board: power ${m.up ? "up (booted)" : "lost"} at ${m.virtual_ms.toFixed(1)} ms virtual`);
        if (!m.up) { this.stats.cuts++; for (const c of this.conns) c.drop(); }
      } else if (m.t === "stopped") stopped(m);
    });
    this.worker.on("error", (e) => this.log(`board worker: ${e.stack ?? e}`));
    this.server = createServer((s) => this.accept(s));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.o.port, this.o.host, () => {
        const a = this.server.address();
        resolve(typeof a === "object" && a ? a.port : this.o.port);
      });
    });
  }

  private send(m: ToBoard): void {
    this.port.postMessage(m);
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }

  /** A SCSI command to the board; the callback gets its outcome. */
  submit(lun: number, cdb: Buffer, dataOut: Buffer | null, dataInLen: number,
    cb: (m: Extract<FromBoard, { t: "done" }>) => void): void {
    const id = this.nextId++;
    this.pending.set(id, cb);
    this.stats.commands++;
    this.send({ t: "cmd", id, lun, cdb: new Uint8Array(cdb), dataOut: dataOut ? new Uint8Array(dataOut) : null, dataInLen });
  }

  /** Cut the board's supply now (a signal, or a test); back after off_ms. */
  cutPower(off_ms = this.o.off_ms ?? 3000): void { this.send({ t: "cut", off_ms }); }

  newTsih(): number { this.nextTsih = (this.nextTsih % 0xfffe) + 1; return this.nextTsih; }

  private accept(s: Socket): void {
    s.setNoDelay(true);
    const c = new Connection(this, s, this.log);
    this.conns.add(c);
    s.on("close", () => this.conns.delete(c));
  }

  noteLogin(): void { this.stats.logins++; }

  async close(): Promise<FromBoard> {
    for (const c of this.conns) c.drop();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.send({ t: "stop" });
    const m = await this.stoppedP;
    await this.worker.terminate();
    return m;
  }
}

