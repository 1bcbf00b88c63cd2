// The device bus between the controller (initiator, bus ID 7) and its targets: tagged
// commands, their data moved by the host bus adapter's DMA, the result record and the
// completion interrupt (docs/HAL.md "Device bus"), and ABORT TASK.
//
// The adapter reads a command's data-out when the target asks for it and writes
// data-in when the target sends it; our disks are modelled as taking the data at
// submit time, so the bus keeps a snapshot of every buffer a command owns and checks
// at completion that the firmware did not change it meanwhile (a real adapter would
// have sent the changed bytes): that is a protocol violation.

import type { VirtualClock } from "./clock.js";
import { DiskResult, SELECTION_TIMEOUT_NS } from "./devices/disk.js";
import type { ScsiTarget } from "./devices/target.js";
import { RESULT, HOST_STATUS } from "./abi.js";

/** ABORT TASK: message out, the target's acknowledgement, the adapter's bookkeeping. */
export const ABORT_NS = 100_000;

/** What the bus needs from the board: the MCU's memory, whether a firmware instance
 * is still the one that asked, and the interrupt line. */
export interface BusHost {
  readonly mem: Uint8Array;
  alive(gen: number): boolean;
  raiseScsi(tag: number): void;
  trace(event: string): void;
  violation(msg: string): void;
}

interface InFlight {
  serial: number;
  target: number;
  cdbAddr: number;
  cdb: Uint8Array;
  sg: Array<[number, number]>;
  /** Snapshot of the data-out, or of the data-in buffer (to see it was not touched). */
  snapshot: Uint8Array;
  dataOut: boolean;
  resultAddr: number;
  handle: object | null;
  aborted: boolean;
  /** The MCU instance that submitted it. */
  gen: number;
}

export class DeviceBus {
  readonly targets: (ScsiTarget | null)[] = [];
  private inflight = new Map<number, InFlight>();
  private serial = 0;
  readonly stats = { commands: 0, aborts: 0 };
  /** A fault: the adapter hangs: commands go out and nothing comes back, aborts
   * neither (the controller's I/O path is hung, seed 002 claim 10). When the path comes
   * back the adapter has been reset: every command it held ends at once with host
   * status aborted, as an HBA's reset returns its outstanding commands. */
  get hung(): boolean { return this.hungNow; }
  set hung(v: boolean) {
    const was = this.hungNow;
    this.hungNow = v;
    if (!was || v) return;
    for (const [tag, f] of [...this.inflight]) {
      this.complete(f.gen, tag, f.serial, { status: 0, hostStatus: HOST_STATUS.ABORTED, sense: null, dataIn: null }, true);
    }
  }
  private hungNow = false;

  /** A probe on the bus phases (vcd.ts): 1 when a command goes out, 3 at its status. */
  onPhase: ((target: number, phase: number) => void) | null = null;

  constructor(private readonly clock: VirtualClock, private readonly host: BusHost) {}

  /** A new firmware instance: nothing it did not submit is in flight. */
  reset(): void { this.inflight.clear(); }

  get busyTags(): number { return this.inflight.size; }

  /** Queue a command: 0, or a negative error with nothing queued. */
  submit(gen: number, target: number, tag: number, cdbAddr: number, cdbLen: number,
    sg: Array<[number, number]>, dataOut: boolean, resultAddr: number): number {
    const mem = this.host.mem;
    const ok = (a: number, n: number) => a >= 0 && n >= 0 && a + n <= mem.length;
    if (cdbLen < 6 || cdbLen > 16 || !ok(cdbAddr, cdbLen) || !sg.every(([a, n]) => ok(a, n)) ||
        !ok(resultAddr, RESULT.BYTES) || tag < 0 || tag > 255 || target < 0 || target > 15) {
      this.host.violation(`scsi_submit with bad arguments: target ${target} tag ${tag}`);
      return -22;
    }
    if (this.inflight.has(tag)) {
      this.host.violation(`scsi_submit on tag ${tag} while a command is in flight on it`);
      return -16;
    }
    const cdb = mem.slice(cdbAddr, cdbAddr + cdbLen);
    const bytes = sg.reduce((n, [, len]) => n + len, 0);
    const snapshot = new Uint8Array(bytes);
    let at = 0;
    for (const [a, n] of sg) { snapshot.set(mem.subarray(a, a + n), at); at += n; }
    const f: InFlight = {
      serial: ++this.serial, target, cdbAddr, cdb, sg, snapshot, dataOut, resultAddr, handle: null, aborted: false, gen,
    };
    this.inflight.set(tag, f);
    this.stats.commands++;
    this.host.trace(`scsi submit t${target} tag ${tag} op ${cdb[0].toString(16)}`);
    this.onPhase?.(target, 1);
    const done = (r: DiskResult) => this.complete(gen, tag, f.serial, r);
    const disk = this.targets[target];
    if (!disk) {
      this.clock.after(SELECTION_TIMEOUT_NS, `t${target} selection timeout`, () =>
        done({ status: 0, hostStatus: HOST_STATUS.SELECTION_TIMEOUT, sense: null, dataIn: null }));
      return 0;
    }
    f.handle = disk.submit(cdb, dataOut ? snapshot.slice() : null, done);
    return 0;
  }

  /** ABORT TASK for the command on `tag`: it ends with host status "aborted" after
   * ABORT_NS, and whatever the target does with it later is not heard. 0, or -22 if no
   * command is in flight on the tag. */
  abort(gen: number, tag: number): number {
    const f = this.inflight.get(tag);
    if (!f || f.aborted) return -22;
    f.aborted = true;
    this.stats.aborts++;
    this.targets[f.target]?.abort(f.handle);
    this.host.trace(`scsi abort tag ${tag}`);
    this.clock.after(ABORT_NS, `tag ${tag} abort`, () => this.complete(gen, tag, f.serial,
      { status: 0, hostStatus: HOST_STATUS.ABORTED, sense: null, dataIn: null }, true));
    return 0;
  }

  private complete(gen: number, tag: number, serial: number, r: DiskResult, byAbort = false): void {
    if (!this.host.alive(gen)) return; // the MCU that asked is gone
    if (this.hung) return;
    const f = this.inflight.get(tag);
    if (!f || f.serial !== serial || (f.aborted && !byAbort)) return;
    this.inflight.delete(tag);
    const m = this.host.mem;
    this.checkUntouched(tag, f);
    m.fill(0, f.resultAddr, f.resultAddr + RESULT.BYTES);
    m[f.resultAddr + RESULT.STATUS] = r.status;
    m[f.resultAddr + RESULT.HOST_STATUS] = r.hostStatus;
    if (r.sense) {
      m[f.resultAddr + RESULT.SENSE_LEN] = r.sense.length;
      m.set(r.sense.subarray(0, RESULT.SENSE_BYTES), f.resultAddr + RESULT.SENSE);
    }
    if (r.dataIn && !f.dataOut) {
      const n = Math.min(r.dataIn.length, f.snapshot.length);
      let at = 0;
      for (const [a, len] of f.sg) {
        if (at >= n) break;
        const k = Math.min(len, n - at);
        m.set(r.dataIn.subarray(at, at + k), a);
        at += k;
      }
      new DataView(m.buffer).setUint32(f.resultAddr + RESULT.RESIDUAL, f.snapshot.length - n, true);
    }
    this.host.trace(`scsi done t${f.target} tag ${tag} status ${r.status} host ${r.hostStatus}`);
    this.onPhase?.(f.target, 3);
    this.host.raiseScsi(tag);
  }

  /** The firmware must not change a buffer (or the CDB) of a command on the bus. */
  private checkUntouched(tag: number, f: InFlight): void {
    const m = this.host.mem;
    for (let i = 0; i < f.cdb.length; i++) {
      if (m[f.cdbAddr + i] !== f.cdb[i]) {
        this.host.violation(`the CDB of tag ${tag} changed while the command was on the bus`);
        break;
      }
    }
    let at = 0;
    for (const [a, n] of f.sg) {
      // A native compare first; the byte loop only to say where they differ.
      if (Buffer.from(m.buffer, m.byteOffset + a, n).equals(f.snapshot.subarray(at, at + n))) { at += n; continue; }
      for (let i = 0; i < n; i++) {
        if (m[a + i] !== f.snapshot[at + i]) {
          this.host.violation(`the ${f.dataOut ? "data-out" : "data-in"} buffer at ${a + i} of tag ${tag} ` +
            `(op ${f.cdb[0].toString(16)}) changed while the command was on the bus`);
          return;
        }
      }
      at += n;
    }
  }
}
