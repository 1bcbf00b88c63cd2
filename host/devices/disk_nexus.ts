// What a disk keeps per I_T nexus (each initiator port that reaches it: the two
// controllers of a pair reach a dual-ported disk through disk.port(n)): the power-on
// unit attention each one is owed, the unit attentions the reservations owe, and the
// persistent reservations themselves (disk_reservations.ts). A command is admitted
// here before the disk runs it.

import { KEY, ASC, STATUS, Sense, senseBytes } from "../scsi/spc.js";
import type { ScsiResult } from "./target.js";
import {
  Reservations, OP_PR_IN, OP_PR_OUT, STATUS_RESERVATION_CONFLICT, MEDIUM_WRITES, ALWAYS_ALLOWED,
} from "./disk_reservations.js";

const checkResult = (s: Sense): ScsiResult => ({ status: STATUS.CHECK_CONDITION, hostStatus: 0, sense: senseBytes(s), dataIn: null });
const conflictResult = (): ScsiResult => ({ status: STATUS_RESERVATION_CONFLICT, hostStatus: 0, sense: null, dataIn: null });

export class DiskNexus {
  /** Initiators that have had the power-on unit attention since the last power-on. */
  private uaTaken = new Set<number>();
  readonly reservations = new Reservations();

  static isPr(op: number): boolean { return op === OP_PR_IN || op === OP_PR_OUT; }

  /** Before a command runs (after its opcode and length are checked): a unit attention
   * the initiator is owed (SPC-4 §5.14: INQUIRY and REQUEST SENSE do not take it), or
   * RESERVATION CONFLICT; null: it runs. */
  admit(initiator: number, op: number): ScsiResult | null {
    if (op !== 0x12 && op !== 0x03) {
      if (!this.uaTaken.has(initiator)) {
        this.uaTaken.add(initiator);
        return checkResult({ key: KEY.UNIT_ATTENTION, asc: ASC.POWER_ON_RESET });
      }
      const ua = this.reservations.pendingUa.get(initiator);
      if (ua !== undefined) {
        this.reservations.pendingUa.delete(initiator);
        return checkResult({ key: KEY.UNIT_ATTENTION, asc: ua });
      }
    }
    if (!ALWAYS_ALLOWED.has(op) && !this.reservations.allows(initiator, MEDIUM_WRITES.has(op))) {
      this.reservations.refused(initiator);
      return conflictResult();
    }
    return null;
  }

  /** PERSISTENT RESERVE IN/OUT: the result, and the initiators whose queued commands
   * end (PREEMPT AND ABORT). */
  persistentReserve(initiator: number, cdb: Uint8Array, dataOut: Uint8Array | null): { r: ScsiResult; abort: number[] } {
    const x = this.reservations.command(initiator, cdb, dataOut);
    if (x.kind === "check") return { r: checkResult(x.sense), abort: [] };
    if (x.kind === "conflict") return { r: conflictResult(), abort: [] };
    return { r: { status: STATUS.GOOD, hostStatus: 0, sense: null, dataIn: x.data }, abort: x.abort };
  }

  powerOff(): void { this.reservations.powerLost(); }
  powerOn(): void { this.uaTaken.clear(); }
}
