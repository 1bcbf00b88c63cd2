// The faults a tape drive takes on demand (host/devices/tape.ts), apart from its model.

export interface TapeFaults {
  dead: boolean;
  hang: boolean;
  /** The drive fails (HARDWARE ERROR on every command) once it has written this many
   * bytes in all (Infinity: never). */
  failAfterBytes: number;
  /** With failAfterBytes: the block being written as it fails lands torn (its second
   * half zeros) instead of being lost. */
  tornOnFail: boolean;
  /** LOAD UNLOAD (unload) fails: the cartridge stays in the drive. */
  noUnload: boolean;
  /** The drive hangs (hang) at the first WRITE once it has taken this many bytes
   * (Infinity: never). */
  hangAfterBytes: number;
  /** The WRITE that takes the drive past this many bytes holds for `stall_s` (the
   * drive's error recovery: a data set rewritten over and over), then it goes on. */
  stallAfterBytes: number;
  stall_s: number;
}

export function noTapeFaults(): TapeFaults {
  return {
    dead: false, hang: false, failAfterBytes: Infinity, tornOnFail: false, noUnload: false, hangAfterBytes: Infinity,
    stallAfterBytes: Infinity, stall_s: 0,
  };
}
