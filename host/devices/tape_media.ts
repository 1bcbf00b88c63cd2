// A tape cartridge as the library model stores it, apart from any timing (tape.ts has
// the drive): a barcode, a capacity, and the logical objects on it from the beginning
// of the partition (SSC-3 §4.2.3): data blocks of any length and filemarks. The end of
// data follows the last object; writing at an object replaces everything from there on.

/** A filemark among the objects. */
export const FILEMARK = null;
export type TapeObject = Uint8Array | typeof FILEMARK;

/** Tape drive and cartridge parameters. The defaults are an LTO-5 drive (IBM TS4500
 * "Performance specifications for LTO tape drives", LTO 5 column: native data rate
 * 140 MB/s, nominal load-to-ready 12 s, nominal unload 17 s) with cartridges scaled
 * down to 64 MiB so that a run writes several. */
export interface TapeParams {
  capacity_bytes: number;
  /** Early warning: this far before the end of the medium, writes report EOM (and still
   * succeed); past the end they fail with VOLUME OVERFLOW. */
  early_warning_bytes: number;
  bytes_per_s: number;
  load_s: number;
  unload_s: number;
  /** Winding the whole length (rewind, locate, space): an assumption, not in the cited
   * table; position-dependent times scale with the fraction of the medium wound. */
  wind_full_s: number;
  /** Per command: the drive's own overhead. */
  overhead_us: number;
  /** Data moves between the initiator and the drive's buffer at this rate (8 Gb FC:
   * the LTO 5 column's burst rate, 800 MB/s, same IBM table). */
  burst_bytes_per_s: number;
  /** The drive's write buffer (buffered mode 1): a WRITE is GOOD once its data is in
   * the buffer, and on the medium only `bytes_per_s` later; a drive that fails loses
   * what its buffer held. Scaled with the cartridge (an assumption). */
  buffer_bytes: number;
  /** READ BLOCK LIMITS: the largest block. */
  max_block_bytes: number;
  /** Accounted per filemark on the medium (a data set's worth of overhead). */
  filemark_bytes: number;
}

export const LTO5_SCALED: TapeParams = {
  capacity_bytes: 64 * 1024 * 1024,
  early_warning_bytes: 2 * 1024 * 1024,
  bytes_per_s: 140e6,
  load_s: 12,
  unload_s: 17,
  wind_full_s: 60,
  overhead_us: 100,
  burst_bytes_per_s: 800e6,
  buffer_bytes: 1024 * 1024,
  max_block_bytes: 256 * 1024,
  filemark_bytes: 0,
};

export class Cartridge {
  readonly objects: TapeObject[] = [];
  /** Bytes on the medium before object i (used[objects.length]: all of it). */
  private used: number[] = [0];
  /** A medium error: writes at or past this object fail (a damaged stretch of tape). */
  badFrom = Infinity;
  /** The medium the drive's read-after-write rewrites spend, per million data bytes:
   * a data set that fails its verify is written again further on, so a worn cartridge
   * holds less (0: none). The director's early warning leaves room for it. */
  rewritePpm = 0;

  constructor(readonly barcode: string, readonly capacity_bytes: number, private readonly filemark_bytes = 0) {}

  get eod(): number { return this.objects.length; }
  bytesBefore(object: number): number { return this.used[Math.min(object, this.objects.length)]; }
  get bytesUsed(): number { return this.used[this.objects.length]; }

  /** Drop everything from object `at` on (a write there replaces the rest). */
  truncate(at: number): void {
    if (at >= this.objects.length) return;
    this.objects.length = at;
    this.used.length = at + 1;
  }

  append(o: TapeObject): void {
    const before = this.bytesUsed;
    this.objects.push(o);
    this.used.push(before + (o === FILEMARK ? this.filemark_bytes : this.cost(o.length)));
  }

  /** The medium `bytes` of data take on this cartridge, its rewrites included. */
  cost(bytes: number): number { return this.rewritePpm ? bytes + Math.ceil((bytes * this.rewritePpm) / 1e6) : bytes; }

  /** The data blocks from the start, with each filemark as an empty marker: the tape as
   * a reader that copies it off would see it. */
  files(): Uint8Array[][] {
    const out: Uint8Array[][] = [[]];
    for (const o of this.objects) {
      if (o === FILEMARK) out.push([]);
      else out[out.length - 1].push(o);
    }
    return out;
  }
}
