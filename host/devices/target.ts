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
