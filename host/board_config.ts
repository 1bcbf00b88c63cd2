// The reference board's straps and parameters (docs/BOARD.md): what a test or the
// command line may set, and the defaults.
import { DiskParams, DEFAULT_DISK } from "./devices/disk.js";
import { PowerParams, DEFAULT_POWER } from "./devices/power.js";

export interface BoardConfig {
  seed: number;
  cpu_hz: number;
  spi_hz: number;
  eeprom_part: string;
  disks: number;
  /** RAID level the board is strapped for (0: one LUN per disk; 3, 4, 5: an array of
   * the disks at bus IDs 0..disks−spares−1, presented as LUN 0). */
  raid: number;
  /** Disks after the members (hot spares). */
  spares: number;
  /** The backup director's straps (0 on a controller): the tape fill (%) below which
   * an append is protected ([035]), and the library's cartridge capacity in MiB. */
  append_threshold_pct: number;
  medium_mib: number;
  /** The director's: the allowance (per mille of the data) its early warning leaves for
   * writing a medium's image onto a spare tape, and the rate (KiB/s) at which it takes
   * the server's writes while a failover runs (0: none taken). */
  replay_allowance_permille: number;
  failover_accept_kib_s: number;
  /** A controller's place in a pair (config key 6): 0 alone, 1 controller A, 2 B. */
  identity: number;
  disk: DiskParams;
  power: PowerParams;
  /** Host adapter: DMA of a command and its data into the mailbox, bytes/s. */
  host_dma_bytes_per_s: number;
  /** Host adapter: fixed cost of a doorbell or a completion. */
  host_irq_latency_ns: number;
  /** Keep a readable trace of events (slower); the hash is kept either way. */
  trace: boolean;
  /** Where the firmware runs: "v8" (the module, in this process) or "native" (wasm2c's
   * C of the metered build in build/native/holdup-native, host/native.ts). */
  runtime: "v8" | "native";
  /** For the native runtime: which build its runner was compiled from (the V8 runtime
   * runs the module it is given). */
  build: "metered" | "release";
}

/** What callers pass: any field, and any part of the disk and power parameters. */
export type BoardOptions = Partial<Omit<BoardConfig, "disk" | "power">> & {
  disk?: Partial<DiskParams>;
  power?: Partial<PowerParams>;
};

export const DEFAULT_BOARD: BoardConfig = {
  seed: 1,
  cpu_hz: 160e6,
  spi_hz: 20e6,
  eeprom_part: "25LC1024",
  disks: 4,
  raid: 0,
  spares: 0,
  append_threshold_pct: 0,
  medium_mib: 0,
  replay_allowance_permille: 0,
  failover_accept_kib_s: 0,
  identity: 0,
  disk: DEFAULT_DISK,
  power: DEFAULT_POWER,
  host_dma_bytes_per_s: 200e6,
  host_irq_latency_ns: 2_000,
  trace: false,
  runtime: "v8",
  build: "metered",
};
