// A link between the two controllers of a pair (seed 002 claims 21-23: two of them,
// independent; issue 10): a full-duplex point-to-point link, 1 Gbit/s each way, that
// carries messages (the mirror's writes, heartbeats) from one end's memory to the
// other's. Each direction is a FIFO: a message leaves once the one before it has been
// serialized at the line rate, and arrives `latency_ns` after its last bit. Kept apart
// from the boards: an end is whatever takes delivered messages (a controller's link
// port), so a test can join two of anything.
//
// Faults on demand, each direction on its own or both: the link down (no carrier:
// send refuses, and what is on the wire is lost), messages lost, duplicated, delayed,
// reordered (held back so that later ones overtake), or garbled (a bit flipped on its
// way into the far end's memory: past the MAC's frame check, as a DMA or memory fault
// would; the firmware's own CRC must catch it). Random draws come from the link's own
// stream (reproducible from the run's seed).

import type { VirtualClock } from "../clock.js";
import type { Rng } from "../rng.js";

export interface LinkParams {
  /** Line rate, each way. 1 Gbit/s: 1000BASE-T / 1000BASE-X (IEEE 802.3 clause 36/40),
   * the bit rate the issue names. */
  bits_per_s: number;
  /** From the last bit sent to the message in the far end's memory: the cable, the
   * PHYs and a DMA into memory. 5 µs is an assumption for a backplane or a short cable
   * between two controllers in one enclosure (no switch between them). */
  latency_ns: number;
  /** The largest message (a mailbox block and a header). */
  max_bytes: number;
  /** Per message on the wire besides its bytes: preamble, framing, CRC, interframe gap
   * (IEEE 802.3: 8 + 14 + 4 + 12 bytes). */
  overhead_bytes: number;
}

export const DEFAULT_LINK: LinkParams = { bits_per_s: 1e9, latency_ns: 5_000, max_bytes: 4096 + 128, overhead_bytes: 38 };

/** Faults of one direction (from end 0 to end 1, or back). */
export interface LinkFaults {
  down: boolean;
  lossProb: number;
  dupProb: number;
  /** A message held back by `reorder_ns` with this probability: later ones overtake it. */
  reorderProb: number;
  reorder_ns: number;
  /** Every message takes this much longer (a congested or slow path). */
  extraDelay_ns: number;
  /** A delivered copy has one bit flipped with this probability. */
  garbleProb: number;
}

export const noLinkFaults = (): LinkFaults =>
  ({ down: false, lossProb: 0, dupProb: 0, reorderProb: 0, reorder_ns: 0, extraDelay_ns: 0, garbleProb: 0 });

export type LinkEnd = 0 | 1;

export class Link {
  /** faults[e]: the direction from end e to the other. */
  readonly faults: [LinkFaults, LinkFaults] = [noLinkFaults(), noLinkFaults()];
  readonly stats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, garbled: 0, refused: 0, bytes: 0 };
  private readonly ends: [((data: Uint8Array) => void) | null, ((data: Uint8Array) => void) | null] = [null, null];
  /** When each direction's transmitter is free again. */
  private readonly freeAt_ns: [number, number] = [0, 0];
  /** Bumped when a direction goes down: what was on the wire then is lost. */
  private readonly epoch: [number, number] = [0, 0];

  constructor(readonly name: string, readonly p: LinkParams, private readonly clock: VirtualClock, private readonly rng: Rng) {}

  /** What end `e` does with a message that reaches it, and with a change of carrier. */
  attach(e: LinkEnd, deliver: (data: Uint8Array) => void, carrierChanged: (() => void) | null = null): void {
    this.ends[e] = deliver;
    this.carrierListeners[e] = carrierChanged;
  }

  /** Each end's PHY has power (its board's supply; the hold-up does not feed it). */
  private readonly powered: [boolean, boolean] = [true, true];
  private readonly carrierListeners: [(() => void) | null, (() => void) | null] = [null, null];

  /** Carrier: both PHYs powered and neither direction down (1000BASE-X drops the link
   * at both ends when one fiber is cut: remote fault, IEEE 802.3 clause 37). */
  get carrier(): boolean {
    return this.powered[0] && this.powered[1] && !this.faults[0].down && !this.faults[1].down;
  }

  /** End e's board lost or regained its supply. */
  setPowered(e: LinkEnd, on: boolean): void {
    const was = this.carrier;
    if (!on && this.powered[e]) { this.epoch[0]++; this.epoch[1]++; } // what was on the wire is lost
    this.powered[e] = on;
    this.carrierNotify(was);
  }

  private carrierNotify(was: boolean): void {
    if (this.carrier === was) return;
    for (const l of this.carrierListeners) l?.();
  }

  /** Take the link down (or up) in both directions, or in the one from end `from`. */
  setDown(down: boolean, from: LinkEnd | null = null): void {
    const was = this.carrier;
    for (const e of from === null ? [0, 1] as const : [from]) {
      if (down && !this.faults[e].down) this.epoch[e]++;
      this.faults[e].down = down;
    }
    this.carrierNotify(was);
  }

  /** End `from` sends `data` (copied now). false: no carrier, or too long. */
  send(from: LinkEnd, data: Uint8Array): boolean {
    const f = this.faults[from];
    if (!this.carrier || data.length > this.p.max_bytes || data.length === 0) { this.stats.refused++; return false; }
    this.stats.sent++;
    this.stats.bytes += data.length;
    const now = this.clock.now_ns;
    const start = Math.max(now, this.freeAt_ns[from]);
    const wire_ns = ((data.length + this.p.overhead_bytes) * 8 * 1e9) / this.p.bits_per_s;
    this.freeAt_ns[from] = start + wire_ns;
    let at = start + wire_ns + this.p.latency_ns + f.extraDelay_ns;
    if (f.lossProb > 0 && this.rng.chance(f.lossProb)) { this.stats.lost++; return true; }
    if (f.reorderProb > 0 && this.rng.chance(f.reorderProb)) { at += f.reorder_ns; this.stats.reordered++; }
    const copies = f.dupProb > 0 && this.rng.chance(f.dupProb) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const msg = data.slice();
    const epoch = this.epoch[from];
    const to = (1 - from) as LinkEnd;
    for (let k = 0; k < copies; k++) {
      const copy = msg.slice();
      if (f.garbleProb > 0 && this.rng.chance(f.garbleProb)) {
        const bit = this.rng.int(copy.length * 8);
        copy[bit >> 3] ^= 1 << (bit & 7);
        this.stats.garbled++;
      }
      this.clock.at(at + k * wire_ns, `${this.name} delivers`, () => {
        if (this.epoch[from] !== epoch) { this.stats.lost++; return; } // it went down meanwhile
        this.stats.delivered++;
        this.ends[to]?.(copy);
      });
    }
    return true;
  }

  /** The time a message of `bytes` takes from send to delivery on an idle, healthy
   * direction: the line's time and the latency. */
  transit_ns(bytes: number): number {
    return ((bytes + this.p.overhead_bytes) * 8 * 1e9) / this.p.bits_per_s + this.p.latency_ns;
  }
}
