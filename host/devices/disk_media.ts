// A disk's mechanics and platters, kept apart from its command set and timing
// (disk.ts): the parameters of docs/BOARD.md's disk, the seek curve, and the sparse sector
// storage with its torn and unreadable marks.

export const BLOCK_BYTES = 512;

export interface DiskParams {
  blocks: number;
  rpm: number;
  track_to_track_ms: number;
  average_seek_ms: number;
  full_stroke_ms: number;
  media_bytes_per_s: number;
  /** Command decode and bus phases, per command. */
  overhead_us: number;
  /** Bus transfer rate for data that does not touch the media (cache hits). */
  bus_bytes_per_s: number;
  /** Spin-up after power-on: NOT READY, BECOMING READY until then. */
  spinup_ms: number;
  write_cache: boolean;
  /** Delay before the disk starts writing its cache back on its own when idle. */
  cache_flush_idle_ms: number;
  /** The largest transfer it accepts, in blocks. */
  max_transfer_blocks: number;
}

export const DEFAULT_DISK: DiskParams = {
  blocks: 2 * 1024 * 1024, // 1 GiB
  rpm: 7200,
  track_to_track_ms: 0.8,
  average_seek_ms: 8.5,
  full_stroke_ms: 16,
  media_bytes_per_s: 100e6,
  overhead_us: 50,
  bus_bytes_per_s: 320e6, // Ultra320
  spinup_ms: 2000,
  write_cache: true,
  cache_flush_idle_ms: 50,
  max_transfer_blocks: 65535,
};

/** The seek curve t(d): 0 at d = 0, a + b·√d up to d0 cylinders, then c + e·d, with
 * t(1) = track-to-track, t(max) = full stroke and the mean over uniformly random start
 * and end cylinders equal to the average seek. b is solved for exactly (the mean is
 * linear in it); d0 is a third of the stroke. */
export class SeekCurve {
  readonly d0: number;
  readonly a: number; readonly b: number; readonly c: number; readonly e: number;
  constructor(readonly cylinders: number, t1_ms: number, avg_ms: number, full_ms: number) {
    const N = cylinders;
    const dmax = N - 1;
    this.d0 = Math.max(2, Math.floor(dmax / 3));
    const d0 = this.d0;
    // For a given b: a = t1 − b; linear part through (d0, a + b√d0) and (dmax, full).
    const shape = (b: number) => {
      const a = t1_ms - b;
      const y0 = a + b * Math.sqrt(d0);
      const e = (full_ms - y0) / (dmax - d0);
      const c = y0 - e * d0;
      return { a, c, e };
    };
    // Mean over d with density 2(N − d)/N² (d ≥ 1), computed by summation.
    const mean = (b: number) => {
      const { a, c, e } = shape(b);
      let s = 0;
      for (let d = 1; d <= dmax; d++) {
        const t = d <= d0 ? a + b * Math.sqrt(d) : c + e * d;
        s += t * 2 * (N - d);
      }
      return s / (N * N);
    };
    const m0 = mean(0), m1 = mean(1);
    this.b = (avg_ms - m0) / (m1 - m0);
    const { a, c, e } = shape(this.b);
    this.a = a; this.c = c; this.e = e;
  }
  time_ms(d: number): number {
    d = Math.abs(d);
    if (d === 0) return 0;
    return d <= this.d0 ? this.a + this.b * Math.sqrt(d) : this.c + this.e * d;
  }
}

/** The platters: sparse sector storage, torn and unreadable marks. */
export class DiskMedia {
  readonly sectors = new Map<number, Uint8Array>();
  /** Sectors whose write was cut by a power loss. */
  readonly torn = new Set<number>();
  /** Sectors marked unreadable by WRITE LONG with WR_UNCOR. */
  readonly uncorrectable = new Set<number>();
  /** Injected medium errors: reads of these fail until rewritten. */
  readonly mediumErrors = new Set<number>();

  read(lba: number): Uint8Array | null {
    if (this.torn.has(lba) || this.uncorrectable.has(lba) || this.mediumErrors.has(lba)) return null;
    return this.sectors.get(lba) ?? new Uint8Array(BLOCK_BYTES);
  }
  write(lba: number, data: Uint8Array): void {
    this.sectors.set(lba, data.slice());
    this.torn.delete(lba);
    this.uncorrectable.delete(lba);
    this.mediumErrors.delete(lba);
  }
}

