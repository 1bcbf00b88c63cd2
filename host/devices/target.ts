// What a SCSI target on an emulated bus offers (host/bus.ts): a disk, a tape drive, a
// medium changer. The target takes the command and its data at submit time and calls
// done once, with the status, the host status (0 ok, 1 selection time-out, 2 the
// target dropped off: a bus reset), the sense and the data-in.

export interface ScsiResult {
  status: number;
  hostStatus: number;
  sense: Uint8Array | null;
  dataIn: Uint8Array | null;
}

export interface ScsiTarget {
  /** Queue a command; the handle is for abort (null: nothing queued). */
  submit(cdb: Uint8Array, dataOut: Uint8Array | null, done: (r: ScsiResult) => void): object | null;
  /** ABORT TASK: the command's end is not reported. */
  abort(handle: object | null): void;
}

import type { VirtualClock } from "../clock.js";

/** SCSI selection time-out (SPI-5: 250 ms recommended). */
export const SELECTION_TIMEOUT_NS = 250e6;

export interface QueuedCommand { cdb: Uint8Array; dataOut: Uint8Array | null; done: (r: ScsiResult) => void }

/** A target that runs one command at a time, in order (a tape drive, a changer): the
 * queue, ABORT TASK (a queued command is dropped; a running one is not heard of) and
 * the selection time-out of a target that does not answer. */
export abstract class SerialTarget implements ScsiTarget {
  private queue: QueuedCommand[] = [];
  private busy = false;

  constructor(protected readonly clock: VirtualClock, private readonly name: string) {}

  /** The target does not answer selection (dead, or off the fabric). */
  protected abstract unreachable(): boolean;
  /** Run a command now: its result and how long it takes (ns), or null if it never
   * ends (a hung target). */
  protected abstract run(job: QueuedCommand): { r: ScsiResult; ns: number } | null;

  submit(cdb: Uint8Array, dataOut: Uint8Array | null, done: (r: ScsiResult) => void): object | null {
    if (this.unreachable()) {
      this.clock.after(SELECTION_TIMEOUT_NS, `${this.name} selection timeout`, () => done({ status: 0, hostStatus: 1, sense: null, dataIn: null }));
      return null;
    }
    const job: QueuedCommand = { cdb: cdb.slice(), dataOut, done };
    this.queue.push(job);
    this.kick();
    return job;
  }

  abort(handle: object | null): void {
    if (!handle) return;
    const job = handle as QueuedCommand;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    job.done = () => {};
  }

  private kick(): void {
    if (this.busy) return;
    const job = this.queue.shift();
    if (!job) return;
    this.busy = true;
    const x = this.run(job);
    if (!x) return; // accepted, never finished
    this.clock.after(x.ns, `${this.name} done`, () => {
      this.busy = false;
      job.done(x.r);
      this.kick();
    });
  }
}
