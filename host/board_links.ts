// A controller board's two link ports (a pair, seed 002): the device half of the link
// HAL (docs/HAL.md "Links"). link_send copies a message out of the firmware's memory
// onto a link; a message that arrives is written into the next free slot of the
// firmware's receive ring (its address from the firmware's link_ring_* exports), and
// irq_link(link) is raised; so is it when a link's carrier changes. A message that finds
// the ring full is dropped and counted, as a NIC without a free descriptor drops a frame.

import type { Link, LinkEnd } from "./devices/link.js";
import type { Board } from "./board.js";

/** The ring slot's header (assembly/layout.ts link_ring_*). */
const SLOT_HEADER_BYTES = 16;

export class BoardLinks {
  readonly ports: Array<{ link: Link; end: LinkEnd } | null> = [null, null];
  readonly stats = { sent: 0, refused: 0, delivered: 0, overruns: 0 };
  private arrival = 0;
  private ring: { gen: number; base: number; slots: number; bytes: number } | null = null;

  constructor(private readonly b: Board) {}

  /** Port k (0 or 1) is end `end` of `link`. */
  attach(k: number, link: Link, end: LinkEnd): void {
    this.ports[k] = { link, end };
    link.attach(end, (data) => this.deliver(k, data), () => {
      this.b.trace(`link ${k} carrier ${link.carrier ? "up" : "down"}`);
      this.b.raise("link", k);
    });
  }

  /** The board's supply went or came back: the PHYs with it. */
  powered(on: boolean): void {
    for (const p of this.ports) p?.link.setPowered(p.end, on);
  }

  carrier(k: number): number { return this.ports[k]?.link.carrier ? 1 : 0; }

  /** hal.link_send: 0, -1 no carrier, -2 a bad argument. */
  send(k: number, addr: number, len: number): number {
    const p = this.ports[k];
    const mem = this.b.mcu.mem;
    if (!p || len <= 0 || addr < 0 || addr + len > mem.length || len > this.ringSlotBytes() - SLOT_HEADER_BYTES) {
      this.stats.refused++;
      return -2;
    }
    if (!p.link.send(p.end, mem.subarray(addr, addr + len))) { this.stats.refused++; return -1; }
    this.stats.sent++;
    this.b.trace(`link ${k} send ${len} type ${mem[addr]}`);
    return 0;
  }

  private ringSlotBytes(): number { return this.ringOf()?.bytes ?? 0; }

  private ringOf(): { base: number; slots: number; bytes: number } | null {
    const fw = this.b.mcu.fw;
    if (!fw || typeof fw.link_ring_addr !== "function") return null;
    if (this.ring?.gen !== this.b.mcu.gen) {
      const call = (n: string) => (fw[n] as () => number)() >>> 0;
      this.ring = { gen: this.b.mcu.gen, base: call("link_ring_addr"), slots: call("link_ring_slot_count"), bytes: call("link_ring_slot_size") };
      this.arrival = 0;
    }
    return this.ring;
  }

  private deliver(k: number, data: Uint8Array): void {
    const r = this.ringOf();
    if (!r) return; // the MCU is off: the PHY may be up, nobody takes the frame
    const mem = this.b.mcu.mem;
    if (data.length > r.bytes - SLOT_HEADER_BYTES) { this.stats.overruns++; return; }
    for (let i = 0; i < r.slots; i++) {
      const s = r.base + i * r.bytes;
      if (mem[s] !== 0) continue;
      mem.set(data, s + SLOT_HEADER_BYTES);
      const v = new DataView(mem.buffer);
      v.setUint8(s + 1, k);
      v.setUint16(s + 2, data.length, true);
      v.setUint32(s + 4, ++this.arrival >>> 0, true);
      mem[s] = 1;
      this.stats.delivered++;
      this.b.trace(`link ${k} rx ${data.length} type ${data[0]}`);
      this.b.raise("link", k);
      return;
    }
    this.stats.overruns++;
    this.b.trace(`link ${k} ring full: message dropped`);
  }
}
