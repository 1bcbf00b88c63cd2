// A Fibre Channel switch (the fabric between the directors and the tape drives, and a
// second one between the directors and their caching disks: seed 004 FIG. 5). Devices
// sit on ports; an initiator reaches a device only while a zone joins their ports (FC
// zoning), so a director takes a spare drive by zoning itself to the spare's port, and
// a spare director takes over by zoning itself to what the dead one had. An initiator
// addresses a device by its port; a port outside its zones, or down, does not answer
// selection (the fabric rejects the login: a selection time-out on our buses).

import type { VirtualClock } from "../clock.js";
import { SELECTION_TIMEOUT_NS, type ScsiResult, type ScsiTarget } from "./target.js";

export class Fabric {
  private readonly devices = new Map<number, ScsiTarget>();
  private readonly zones = new Set<string>();
  readonly downPorts = new Set<number>();
  readonly stats = { zoneChanges: 0 };

  constructor(private readonly clock: VirtualClock, readonly name = "fabric") {}

  /** Put a device on a port. */
  attach(port: number, device: ScsiTarget): void { this.devices.set(port, device); }

  /** Join (or part) an initiator's port and a device's port. */
  zone(initiator: number, port: number, on: boolean): void {
    const k = `${initiator}:${port}`;
    if (on === this.zones.has(k)) return;
    if (on) this.zones.add(k); else this.zones.delete(k);
    this.stats.zoneChanges++;
  }

  zoned(initiator: number, port: number): boolean { return this.zones.has(`${initiator}:${port}`); }

  /** What an initiator on `initiator` sees at `port`: the device while zoned and up;
   * otherwise every command ends in a selection time-out. */
  view(initiator: number, port: number): ScsiTarget {
    return {
      submit: (cdb: Uint8Array, dataOut: Uint8Array | null, done: (r: ScsiResult) => void) => {
        const dev = this.devices.get(port);
        if (!dev || !this.zoned(initiator, port) || this.downPorts.has(port) || this.downPorts.has(initiator)) {
          this.clock.after(SELECTION_TIMEOUT_NS, `${this.name} port ${port} unreachable`, () =>
            done({ status: 0, hostStatus: 1, sense: null, dataIn: null }));
          return null;
        }
        return dev.submit(cdb, dataOut, done);
      },
      abort: (handle: object | null) => { this.devices.get(port)?.abort(handle); },
    };
  }
}
