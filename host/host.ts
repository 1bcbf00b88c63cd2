// The host side of the mailbox: a SCSI initiator that queues commands, puts each in a
// free mailbox slot, and calls back with the outcome. Commands in flight when the
// controller loses power are reported as `lost` (the host never hears back).

import type { Board, HostCompletion } from "./board.js";
import { Sense, parseSense, STATUS } from "./scsi/spc.js";

export interface HostResult {
  status: number;
  sense: Sense | null;
  /** The sense bytes as sent (fixed format), or null. */
  senseRaw: Uint8Array | null;
  data: Uint8Array;
  /** The controller died with the command in flight: outcome unknown. */
  lost: boolean;
}

interface Request {
  lun: number;
  cdb: Uint8Array;
  dataOut: Uint8Array | null;
  dataInLen: number;
  cb: (r: HostResult) => void;
  submitted_ns: number;
  /** The host's number for the command (mailbox host tag; 0: none). */
  tag: number;
}

export class HostAdapter {
  private slots: (Request | null)[] = [];
  private queue: Request[] = [];
  private running = false;
  readonly stats = { commands: 0, good: 0, check: 0, busy: 0, lost: 0 };
  /** Latency of each completed command, ns (for the benchmarks). */
  lastLatency_ns = 0;

  constructor(private readonly board: Board, readonly maxQueueDepth = 4) {
    board.onBoot = () => {
      const fw = board.firmware!;
      this.slots = new Array(Math.min(fw.mailbox_slot_count(), this.maxQueueDepth)).fill(null);
      this.running = true;
      this.pump();
    };
    board.onPowerLost = () => this.controllerLost();
    board.onHostComplete = (c) => this.complete(c);
  }

  get inFlight(): number { return this.slots.filter((s) => s).length + this.queue.length; }
  get idle(): boolean { return this.inFlight === 0; }

  submit(lun: number, cdb: Uint8Array, dataOut: Uint8Array | null, dataInLen: number,
    cb: (r: HostResult) => void, tag = 0): void {
    this.queue.push({ lun, cdb, dataOut, dataInLen, cb, submitted_ns: this.board.now_ns, tag });
    this.pump();
  }

  private pump(): void {
    if (!this.running) return;
    for (let s = 0; s < this.slots.length && this.queue.length; s++) {
      if (this.slots[s]) continue;
      const req = this.queue.shift()!;
      this.slots[s] = req;
      req.submitted_ns = this.board.now_ns;
      this.stats.commands++;
      if (!this.board.hostSubmit(s, req.lun, req.cdb, req.dataOut, req.dataInLen, req.tag)) {
        this.slots[s] = null;
        this.queue.unshift(req);
        return;
      }
    }
  }

  private complete(c: HostCompletion): void {
    const req = this.slots[c.slot];
    if (!req) return;
    this.slots[c.slot] = null;
    this.lastLatency_ns = this.board.now_ns - req.submitted_ns;
    if (c.status === STATUS.GOOD) this.stats.good++;
    else if (c.status === STATUS.BUSY) this.stats.busy++;
    else this.stats.check++;
    const sense = c.status === STATUS.CHECK_CONDITION && c.sense.length >= 14 ? parseSense(c.sense) : null;
    req.cb({ status: c.status, sense, senseRaw: sense ? c.sense : null, data: c.data, lost: false });
    this.pump();
  }

  /** The controller stopped: every command in a slot is lost; queued ones wait. */
  private controllerLost(): void {
    this.running = false;
    const dead = this.slots.filter((r): r is Request => r !== null);
    this.slots = this.slots.map(() => null);
    for (const req of dead) {
      this.stats.lost++;
      req.cb({ status: -1, sense: null, senseRaw: null, data: new Uint8Array(0), lost: true });
    }
  }
}
