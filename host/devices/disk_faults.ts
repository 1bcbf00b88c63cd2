// The faults a disk takes on demand (host/devices/disk.ts), apart from its model.

export interface DiskFaults {
  /** The disk no longer answers: selection timeout. */
  dead: boolean;
  /** Probability per command of an extra delay, and its length. */
  latencySpikeProb: number;
  latencySpike_ms: number;
  /** Probability per media write that it lands `misdirectOffset` blocks away. */
  misdirectProb: number;
  misdirectOffset: number;
  /** The disk treats FUA writes as cached ones (a lying disk), so they can be lost. */
  ignoreFua: boolean;
  /** The disk accepts commands and never finishes them (a hung drive): only an abort
   * or a power cycle ends them. */
  hang: boolean;
  /** WRITE LONG is optional in SBC-3 (§5.39): this disk answers it with ILLEGAL
   * REQUEST, INVALID COMMAND OPERATION CODE. */
  noWriteLong: boolean;
  /** The next `slowCommands` commands each take `slow_ms` longer (a disk recovering
   * from an error, or slow after power-on). */
  slowCommands: number;
  slow_ms: number;
}

export function noDiskFaults(): DiskFaults {
  return {
    dead: false, latencySpikeProb: 0, latencySpike_ms: 0, misdirectProb: 0, misdirectOffset: 0,
    ignoreFua: false, hang: false, noWriteLong: false, slowCommands: 0, slow_ms: 0,
  };
}
