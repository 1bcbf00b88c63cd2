// The host of a pair (issue 10): one initiator port to each controller (seed 003's
// first and second buffer means: a whole command and its data sit in the adapter's
// mailbox before the doorbell), and a multipath layer over them that behaves the way
// Linux dm-multipath with ALUA does: a command goes to the path that owns its LUN; NOT
// READY, TARGET PORT IN STANDBY STATE sends it to the other path; ASYMMETRIC ACCESS
// STATE TRANSITION, BECOMING READY (a restore writing its blocks; Linux sd retries it
// too) and BUSY retry after a pause; a unit attention retries at once; a
// path whose controller died, or that does not answer within the command time-out, is
// failed over. A re-sent write carries the same data, so it lands once in effect.

import { HostAdapter, HostResult } from "./host.js";
import type { PairSystem } from "./pair.js";
import { KEY, STATUS } from "./scsi/spc.js";

/** A command unanswered this long on a path is re-sent on the other (dm-multipath's
 * checker plus a short SCSI time-out). */
export const PATH_TIMEOUT_MS = 2000;
/** Give up on a command after this long of retries. */
export const COMMAND_DEADLINE_MS = 60_000;
const RETRY_PAUSE_MS = 20;
const ASC_ALUA_TRANSITION = 0x040a, ASC_ALUA_STANDBY = 0x040b, ASC_BECOMING_READY = 0x0401;

export interface PathResult extends HostResult {
  /** The controller (0: A, 1: B) whose answer this is. */
  path: number;
}

export class MultipathHost {
  readonly paths: [HostAdapter, HostAdapter];
  /** The path a LUN goes to first: where it last succeeded. */
  private readonly preferred = new Map<number, number>();
  readonly stats = { commands: 0, failovers: 0, retries: 0, timeouts: 0, gave_up: 0 };

  constructor(private readonly pair: PairSystem, readonly queueDepth = 4) {
    this.paths = [new HostAdapter(pair.boards[0], queueDepth), new HostAdapter(pair.boards[1], queueDepth)];
  }

  get idle(): boolean { return this.inFlight === 0 && this.waiting.length === 0; }

  /** Commands waiting for one of the queueDepth places (the time-out runs from the
   * moment a command is sent, not while it waits here). */
  private readonly waiting: Array<() => void> = [];
  private inFlight = 0;

  get outstanding(): number { return this.inFlight + this.waiting.length; }

  submit(lun: number, cdb: Uint8Array, dataOut: Uint8Array | null, dataInLen: number, cb: (r: PathResult) => void): void {
    this.stats.commands++;
    this.waiting.push(() => this.start(lun, cdb, dataOut, dataInLen, (r) => {
      this.inFlight--;
      cb(r);
      this.pump();
    }));
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.queueDepth && this.waiting.length) {
      this.inFlight++;
      this.waiting.shift()!();
    }
  }

  private start(lun: number, cdb: Uint8Array, dataOut: Uint8Array | null, dataInLen: number, cb: (r: PathResult) => void): void {
    const clock = this.pair.clock;
    const deadline = clock.now_ns + COMMAND_DEADLINE_MS * 1e6;
    let path = this.preferred.get(lun) ?? (lun & 1);
    let attempt = 0;
    const send = (): void => {
      const mine = ++attempt;
      let settled = false;
      const timer = clock.after(PATH_TIMEOUT_MS * 1e6, "path timeout", () => {
        if (settled) return;
        settled = true;
        this.stats.timeouts++;
        retry(true, 0);
      });
      this.paths[path].submit(lun, cdb, dataOut, dataInLen, (r) => {
        if (settled || mine !== attempt) return; // a late answer of an attempt given up
        settled = true;
        clock.cancel(timer);
        const s = r.sense;
        if (r.lost) return retry(true, 0);
        if (r.status === STATUS.BUSY) return retry(false, RETRY_PAUSE_MS);
        if (r.status === STATUS.CHECK_CONDITION && s) {
          if (s.key === KEY.UNIT_ATTENTION) return retry(false, 0);
          if (s.key === KEY.NOT_READY && s.asc === ASC_ALUA_STANDBY) return retry(true, 0);
          if (s.key === KEY.NOT_READY && s.asc === ASC_ALUA_TRANSITION) return retry(false, RETRY_PAUSE_MS);
          if (s.key === KEY.NOT_READY && s.asc === ASC_BECOMING_READY) return retry(false, RETRY_PAUSE_MS);
        }
        if (r.status === STATUS.GOOD) this.preferred.set(lun, path);
        cb({ ...r, path });
      });
    };
    const retry = (other: boolean, pause_ms: number): void => {
      if (clock.now_ns > deadline) {
        this.stats.gave_up++;
        cb({ status: -1, sense: null, senseRaw: null, data: new Uint8Array(0), lost: true, path });
        return;
      }
      this.stats.retries++;
      if (other) { path = 1 - path; this.stats.failovers++; }
      // Both paths refusing (a takeover under way): pause before going round again.
      const wait = other && attempt % 2 === 0 ? RETRY_PAUSE_MS : pause_ms;
      if (wait > 0) clock.after(wait * 1e6, "multipath retry", send);
      else send();
    };
    send();
  }
}
