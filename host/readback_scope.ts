// Which blocks the read-back after a cut must read through the controller, so that it
// costs what changed rather than everything ever written (the oracle's read-back was
// quadratic in cuts). A block is read again when something could have changed what a
// read of it returns:
//   - the host wrote it since the last read-back (the oracle's epoch);
//   - its newest acknowledged data has not been seen on its disk's media yet (the
//     controller holds it, NV or dirty: every save and restore is its business);
//   - a disk took a write, a mark or a tear at its place, or lost it from its write
//     cache with the power (for an array: anywhere in its row);
//   - after a cut the supply rode through (no reboot), any block written since the
//     last boot: only writes put blocks in the cache, and it kept its clean ones;
// and everything is read when the map itself may have moved: a disk swapped, dead or
// hung, a label written (an unreadable list, a member failed, a rebuild's progress),
// a write to a disk that is no member, a LUN that came or went; and, as a check on all
// of this, after cuts 1, 2, 4, 8, … (so the whole run reads everything about twice)
// and after the last (host/scenario.ts verify).
import type { Board } from "./board.js";
import type { Disk } from "./devices/disk.js";
import type { Oracle } from "./oracle.js";
import type { ArrayMap } from "./array_map.js";

/** Does the read-back after cut n read everything anyway (n a power of two)? */
export const fullAfterCut = (n: number) => n > 0 && (n & (n - 1)) === 0;
const MAGIC = 0x50444c48; // "HLDP": the oracle's block pattern

const key = (lun: number, lba: number) => lun * 2 ** 32 + lba;

export class ReadScope {
  private touched = new Set<number>();
  private all = true;
  /** Per block: the newest acknowledged write id not yet seen on the media. */
  private readonly pending = new Map<number, number>();
  private disks: Disk[] = [];
  private faults = "";
  private targets: number[] = [];
  /** Blocks written (or sent a write) since the last boot. */
  private readonly sinceBoot = new Set<number>();

  constructor(private readonly board: Board, oracle: Oracle, private readonly map: ArrayMap | null) {
    oracle.onAcked = (lun, lba, id) => { this.pending.set(key(lun, lba), id); };
    oracle.onBegin = (lun, lba, n) => {
      for (let i = 0; i < n; i++) { this.touched.add(key(lun, lba + i)); this.sinceBoot.add(key(lun, lba + i)); }
    };
    for (const d of board.disks) {
      d.onTouch = (lba, n) => this.touch(d, lba, n);
      d.onDurable = (lba, data) => this.durable(d, lba, data);
    }
  }

  /** The blocks to read beyond those written this epoch, or null: everything. With
   * rodeThrough (no boot since the last read-back), also every block written since the
   * last boot. */
  select(full: boolean, rodeThrough: boolean): Set<number> | null {
    if (full || this.all || this.layoutChanged()) return null;
    const out = new Set(this.touched);
    for (const k of this.pending.keys()) out.add(k);
    if (rodeThrough) for (const k of this.sinceBoot) out.add(k);
    return out;
  }

  /** The controller booted: its cache holds only what it restored (pending). */
  boot(): void { this.sinceBoot.clear(); }

  /** A read-back ended: start counting changes anew. */
  reset(): void {
    this.touched.clear();
    this.all = false;
    this.disks = [...this.board.disks];
    this.faults = this.faultState();
    this.targets = this.map ? this.map.layout().targets : [];
  }

  private faultState(): string {
    return this.board.disks.map((d) => `${d.faults.dead ? 1 : 0}${d.faults.hang ? 1 : 0}`).join("");
  }

  private layoutChanged(): boolean {
    return this.disks.some((d, i) => this.board.disks[i] !== d) || this.faultState() !== this.faults;
  }

  /** The bus ID of disk d, and for an array the member slot it holds (-1: none). */
  private place(d: Disk): { bus: number; slot: number } {
    const bus = this.board.disks.indexOf(d);
    return { bus, slot: this.map && bus >= 0 ? this.targets.indexOf(bus) : -1 };
  }

  private touch(d: Disk, lba: number, n: number): void {
    if (this.all) return;
    const { bus, slot } = this.place(d);
    if (bus < 0) { this.all = true; return; }
    if (!this.map) {
      // The last block is the disk's label (its unreadable list): everything.
      if (lba + n > this.board.cfg.disk.blocks - 1) { this.all = true; return; }
      for (let i = 0; i < n; i++) this.touched.add(key(bus, lba + i));
      return;
    }
    // Not a member (a spare being rebuilt onto), or a member's label or intent block.
    if (slot < 0 || lba + n > this.map.rows) { this.all = true; return; }
    const per = this.map.dataPerRow;
    for (let r = lba; r < lba + n; r++) for (let k = 0; k < per; k++) this.touched.add(key(0, r * per + k));
  }

  /** Blocks landed on d's media at lba: an acknowledged write seen there, at the place
   * its own pattern names, is no longer the controller's to hold. */
  private durable(d: Disk, lba: number, data: Uint8Array[]): void {
    const { bus, slot } = this.place(d);
    if (bus < 0) return;
    for (let i = 0; i < data.length; i++) {
      const b = data[i];
      const v = new DataView(b.buffer, b.byteOffset, b.length);
      if (b.length < 16 || v.getUint32(0, true) !== MAGIC) continue;
      const lun = v.getUint32(4, true), at = v.getUint32(8, true), id = v.getUint32(12, true);
      let here: number;
      if (!this.map) {
        if (lun !== bus) continue;
        here = lba + i;
      } else {
        const row = lba + i, per = this.map.dataPerRow;
        let k = -1;
        for (let j = 0; j < per; j++) if (this.map.dataMember(row, j) === slot) k = j;
        if (lun !== 0 || k < 0) continue;
        here = row * per + k;
      }
      if (here !== at) continue;
      const kk = key(lun, at);
      if (this.pending.get(kk) === id) this.pending.delete(kk);
    }
  }
}
