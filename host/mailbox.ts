// The host adapter's side of the mailbox (docs/HAL.md "Mailbox"): the host puts a
// whole command and its data into a slot, then rings the doorbell; the firmware hands
// the slot back with host_complete. The adapter checks the protocol: a completion of
// a slot that holds no command is a violation.

import type { VirtualClock } from "./clock.js";
import { MAILBOX } from "./abi.js";

export interface HostCompletion {
  slot: number;
  status: number;
  sense: Uint8Array;
  data: Uint8Array;
}

/** The firmware exports the adapter reads (where the slots are). */
interface MailboxExports {
  mailbox_addr(): number;
  mailbox_slot_count(): number;
  mailbox_slot_size(): number;
  mailbox_data_size(): number;
}

export interface MailboxHost {
  readonly mem: Uint8Array;
  readonly fw: MailboxExports | null;
  /** The firmware instance now running (changes at every boot). */
  readonly gen: number;
  raiseDoorbell(slot: number): void;
  trace(event: string): void;
  violation(msg: string): void;
  complete(c: HostCompletion): void;
}

export interface AdapterTiming {
  /** DMA of a command and its data into the mailbox, bytes/s. */
  host_dma_bytes_per_s: number;
  /** Fixed cost of a doorbell or a completion. */
  host_irq_latency_ns: number;
}

export class Mailbox {
  /** Slots the host has rung and the firmware has not completed. */
  private rung = new Set<number>();
  /** Doorbells rung on a slot the firmware still held (a host that broke the rules). */
  hostProtocolErrors = 0;

  constructor(private readonly clock: VirtualClock, private readonly t: AdapterTiming,
    private readonly host: MailboxHost) {}

  reset(): void { this.rung.clear(); }

  private base(slot: number): number {
    const fw = this.host.fw!;
    return fw.mailbox_addr() + slot * fw.mailbox_slot_size();
  }

  /** Put a command in `slot` and ring its doorbell after the DMA time. Returns false if
   * no firmware runs. A slot that still holds a command is rung anyway (as a faulty
   * host would): the firmware must not complete either command twice. */
  submit(slot: number, lun: number, cdb: Uint8Array, dataOut: Uint8Array | null, dataInLen: number, tag = 0): boolean {
    const fw = this.host.fw;
    if (!fw) return false;
    const gen = this.host.gen;
    const bytes = dataOut ? dataOut.length : 0;
    const delay = this.t.host_irq_latency_ns + bytes / this.t.host_dma_bytes_per_s * 1e9;
    this.clock.after(delay, "host doorbell", () => {
      if (gen !== this.host.gen || !this.host.fw) return;
      const m = this.host.mem;
      const base = this.base(slot);
      if (this.rung.has(slot)) this.hostProtocolErrors++;
      m.fill(0, base, base + MAILBOX.HEADER_BYTES);
      m[base + MAILBOX.LUN] = lun;
      m[base + MAILBOX.CDB_LEN] = cdb.length;
      new DataView(m.buffer).setUint32(base + MAILBOX.DATA_BYTES, dataOut ? dataOut.length : dataInLen, true);
      new DataView(m.buffer).setUint32(base + MAILBOX.HOST_TAG, tag >>> 0, true);
      m.set(cdb.subarray(0, 16), base + MAILBOX.CDB);
      if (dataOut) m.set(dataOut.subarray(0, fw.mailbox_data_size()), base + MAILBOX.DATA);
      this.host.trace(`doorbell slot ${slot} lun ${lun} op ${cdb[0]?.toString(16)}`);
      this.rung.add(slot);
      this.host.raiseDoorbell(slot);
    });
    return true;
  }

  /** The firmware handed `slot` back: read status, sense and data-in, and deliver them
   * after the adapter's DMA of the data. */
  complete(gen: number, slot: number): void {
    const fw = this.host.fw!;
    if (slot < 0 || slot >= fw.mailbox_slot_count() || !this.rung.has(slot)) {
      this.host.violation(`host_complete of slot ${slot}, which holds no command`);
      return;
    }
    this.rung.delete(slot);
    const base = this.base(slot);
    const m = this.host.mem;
    const status = m[base + MAILBOX.STATUS];
    const senseLen = Math.min(32, m[base + MAILBOX.SENSE_LEN]);
    const dataBytes = new DataView(m.buffer).getUint32(base + MAILBOX.DATA_BYTES, true);
    const data = m.slice(base + MAILBOX.DATA, base + MAILBOX.DATA + Math.min(dataBytes, fw.mailbox_data_size()));
    const sense = m.slice(base + MAILBOX.SENSE, base + MAILBOX.SENSE + senseLen);
    this.host.trace(`host complete slot ${slot} status ${status}`);
    const c: HostCompletion = { slot, status, sense, data };
    const delay = this.t.host_irq_latency_ns + data.length / this.t.host_dma_bytes_per_s * 1e9;
    this.clock.after(delay, "host completion", () => {
      if (gen !== this.host.gen) return;
      this.host.complete(c);
    });
  }
}
