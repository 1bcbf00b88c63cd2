// SCSI-3 persistent reservations on a dual-ported disk (SPC-4 §5.13; PERSISTENT
// RESERVE IN §6.15, PERSISTENT RESERVE OUT §6.16), the way clusters fence a failed
// node on shared disks (Linux fence_scsi: each node registers its key, one holds WRITE
// EXCLUSIVE – REGISTRANTS ONLY, the survivor PREEMPT AND ABORTs the dead node's key).
// Kept apart from the disk's storage and timing (disk.ts asks it two things: run a
// PR command, and may this initiator run that command now).
//
// An initiator is an I_T nexus: a number the disk's port gives (disk.port(n)). Scope is
// the logical unit only (LU_SCOPE); SPEC_I_PT and ALL_TG_PT are not supported (ILLEGAL
// REQUEST); APTPL keeps the registrations and the reservation through a power loss.

import { KEY, Sense } from "../scsi/spc.js";

export const OP_PR_IN = 0x5e;
export const OP_PR_OUT = 0x5f;
/** SAM-5 status codes the reservations add. */
export const STATUS_RESERVATION_CONFLICT = 0x18;
export const STATUS_TASK_ABORTED = 0x40;

/** PERSISTENT RESERVE OUT service actions (SPC-4 table 169). */
export const PR_OUT = { REGISTER: 0, RESERVE: 1, RELEASE: 2, CLEAR: 3, PREEMPT: 4, PREEMPT_AND_ABORT: 5, REGISTER_AND_IGNORE: 6 } as const;
/** PERSISTENT RESERVE IN service actions (SPC-4 table 162). */
export const PR_IN = { READ_KEYS: 0, READ_RESERVATION: 1 } as const;
/** Reservation types (SPC-4 table 167). */
export const PR_TYPE = { WE: 1, EA: 3, WE_RO: 5, EA_RO: 6, WE_AR: 7, EA_AR: 8 } as const;

/** ASC/ASCQ (SPC-4 Annex F). */
const ASC_INVALID_FIELD_IN_CDB = 0x2400;
const ASC_INVALID_FIELD_IN_PARAMETER_LIST = 0x2600;
const ASC_INVALID_RELEASE = 0x2604;
const ASC_PARAMETER_LIST_LENGTH_ERROR = 0x1a00;
const ASC_RESERVATIONS_PREEMPTED = 0x2a03;
const ASC_RESERVATIONS_RELEASED = 0x2a04;
const ASC_REGISTRATIONS_PREEMPTED = 0x2a05;
const ASC_INVALID_OPCODE = 0x2000;

/** What a PR command comes to: GOOD (with data for PR IN), a check condition, or a
 * reservation conflict; and the initiators whose queued commands the disk must abort
 * (PREEMPT AND ABORT). */
export type PrResult =
  | { kind: "good"; data: Uint8Array | null; abort: number[] }
  | { kind: "check"; sense: Sense }
  | { kind: "conflict" };

const good = (data: Uint8Array | null = null, abort: number[] = []): PrResult => ({ kind: "good", data, abort });
const check = (asc: number, field?: [number, number]): PrResult => ({ kind: "check", sense: { key: KEY.ILLEGAL_REQUEST, asc, field } });
const conflict: PrResult = { kind: "conflict" };

function be64(b: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(b[at + i]);
  return v;
}
function put64(b: Uint8Array, at: number, v: bigint): void {
  for (let i = 7; i >= 0; i--) { b[at + i] = Number(v & 0xffn); v >>= 8n; }
}
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff; b[at + 1] = (v >>> 16) & 0xff; b[at + 2] = (v >>> 8) & 0xff; b[at + 3] = v & 0xff;
}

export class Reservations {
  /** Registered initiators and their keys. */
  readonly keys = new Map<number, bigint>();
  /** The reservation: its holder and type (null: none). For the all-registrants types
   * every registrant holds it; `holder` is the one that made it. */
  holder: number | null = null;
  type = 0;
  /** PRgeneration: counts REGISTER (and AND IGNORE), CLEAR, PREEMPT changes. */
  generation = 0;
  /** Activate persist through power loss (the last REGISTER's APTPL). */
  aptpl = false;
  /** Unit attentions owed to initiators (REGISTRATIONS PREEMPTED, RESERVATIONS
   * RELEASED), taken by the disk on the initiator's next command. */
  readonly pendingUa = new Map<number, number>();
  /** Writes refused with RESERVATION CONFLICT, by initiator. */
  readonly conflicts = new Map<number, number>();

  /** The power went: without APTPL everything is forgotten (SPC-4 §5.13.4). */
  powerLost(): void {
    if (this.aptpl) return;
    this.keys.clear();
    this.holder = null;
    this.type = 0;
  }

  /** Does the reservation let `initiator` run a command that writes (`write`) or reads
   * the medium? Commands that touch neither always run. */
  allows(initiator: number, write: boolean): boolean {
    if (this.holder === null || this.holds(initiator)) return true;
    const t = this.type;
    if ((t === PR_TYPE.WE_RO || t === PR_TYPE.EA_RO) && this.keys.has(initiator)) return true;
    return !write && t !== PR_TYPE.EA && t !== PR_TYPE.EA_RO && t !== PR_TYPE.EA_AR;
  }

  /** A refused command, counted. */
  refused(initiator: number): void { this.conflicts.set(initiator, (this.conflicts.get(initiator) ?? 0) + 1); }

  /** PERSISTENT RESERVE IN or OUT from `initiator`. */
  command(initiator: number, cdb: Uint8Array, dataOut: Uint8Array | null): PrResult {
    if (cdb.length < 10) return check(ASC_INVALID_OPCODE, [0, -1]);
    if (cdb[9] & 0x05) return check(ASC_INVALID_FIELD_IN_CDB, [9, cdb[9] & 0x04 ? 2 : 0]);
    return cdb[0] === OP_PR_IN ? this.prIn(cdb) : this.prOut(initiator, cdb, dataOut);
  }

  private prIn(cdb: Uint8Array): PrResult {
    const alloc = (cdb[7] << 8) | cdb[8];
    const sa = cdb[1] & 0x1f;
    let d: Uint8Array;
    if (sa === PR_IN.READ_KEYS) {
      const keys = [...this.keys.values()];
      d = new Uint8Array(8 + 8 * keys.length);
      put32(d, 0, this.generation);
      put32(d, 4, 8 * keys.length);
      keys.forEach((k, i) => put64(d, 8 + 8 * i, k));
    } else if (sa === PR_IN.READ_RESERVATION) {
      d = new Uint8Array(this.holder === null ? 8 : 24);
      put32(d, 0, this.generation);
      put32(d, 4, this.holder === null ? 0 : 16);
      if (this.holder !== null) {
        put64(d, 8, this.keys.get(this.holder) ?? 0n);
        d[21] = this.type & 0x0f; // scope 0 (LU_SCOPE) in the high nibble
      }
    } else {
      return check(ASC_INVALID_FIELD_IN_CDB, [1, 4]);
    }
    return good(d.slice(0, Math.min(alloc, d.length)));
  }

  private prOut(initiator: number, cdb: Uint8Array, dataOut: Uint8Array | null): PrResult {
    const sa = cdb[1] & 0x1f;
    const scope = cdb[2] >> 4, type = cdb[2] & 0x0f;
    const len = (cdb[5] << 24) | (cdb[6] << 16) | (cdb[7] << 8) | cdb[8];
    if (sa > PR_OUT.REGISTER_AND_IGNORE) return check(ASC_INVALID_FIELD_IN_CDB, [1, 4]);
    if (len !== 24) return check(ASC_PARAMETER_LIST_LENGTH_ERROR);
    if (!dataOut || dataOut.length < 24) return check(ASC_PARAMETER_LIST_LENGTH_ERROR);
    const key = be64(dataOut, 0), sark = be64(dataOut, 8);
    const flags = dataOut[20];
    if (flags & 0x0c) return check(ASC_INVALID_FIELD_IN_PARAMETER_LIST, [20, flags & 0x08 ? 3 : 2]); // SPEC_I_PT, ALL_TG_PT
    const mine = this.keys.get(initiator);
    if (sa === PR_OUT.REGISTER || sa === PR_OUT.REGISTER_AND_IGNORE) {
      if (sa === PR_OUT.REGISTER && (mine === undefined ? key !== 0n : key !== mine)) return conflict;
      if (sark === 0n) {
        if (mine === undefined) return good();
        this.unregister(initiator);
      } else {
        this.keys.set(initiator, sark);
      }
      this.aptpl = (flags & 0x01) !== 0;
      this.generation++;
      return good();
    }
    // Everything else: from a registered initiator, with its key.
    if (mine === undefined || key !== mine) return conflict;
    const typeOk = (Object.values(PR_TYPE) as number[]).includes(type);
    switch (sa) {
      case PR_OUT.RESERVE:
        if (scope !== 0) return check(ASC_INVALID_FIELD_IN_CDB, [2, 4]);
        if (!typeOk) return check(ASC_INVALID_FIELD_IN_CDB, [2, 0]);
        if (this.holder === null) { this.holder = initiator; this.type = type; return good(); }
        return this.holder === initiator && this.type === type ? good() : conflict;
      case PR_OUT.RELEASE:
        if (this.holder === null || !this.holds(initiator)) return good();
        if (this.type !== type) return check(ASC_INVALID_RELEASE);
        this.release(initiator);
        return good();
      case PR_OUT.CLEAR: {
        for (const i of this.keys.keys()) if (i !== initiator) this.pendingUa.set(i, ASC_RESERVATIONS_PREEMPTED);
        this.keys.clear();
        this.holder = null;
        this.type = 0;
        this.generation++;
        return good();
      }
      case PR_OUT.PREEMPT: case PR_OUT.PREEMPT_AND_ABORT: {
        if (scope !== 0) return check(ASC_INVALID_FIELD_IN_CDB, [2, 4]);
        const victims = [...this.keys.entries()].filter(([, k]) => k === sark).map(([i]) => i);
        const holderKey = this.holder === null ? undefined : this.keys.get(this.holder);
        if (this.holder !== null && holderKey === sark) {
          if (!typeOk) return check(ASC_INVALID_FIELD_IN_CDB, [2, 0]);
          for (const v of victims) if (v !== initiator) this.dropRegistration(v);
          this.holder = initiator;
          this.type = type;
        } else {
          if (sark === 0n) return check(ASC_INVALID_FIELD_IN_PARAMETER_LIST, [8, -1]);
          if (!victims.length) return conflict;
          for (const v of victims) if (v !== initiator) this.dropRegistration(v);
        }
        this.generation++;
        return good(null, sa === PR_OUT.PREEMPT_AND_ABORT ? victims.filter((v) => v !== initiator) : []);
      }
    }
    return check(ASC_INVALID_FIELD_IN_CDB, [1, 4]);
  }

  private holds(initiator: number): boolean {
    return this.holder === initiator || ((this.type === PR_TYPE.WE_AR || this.type === PR_TYPE.EA_AR) && this.keys.has(initiator));
  }

  /** The reservation ends: other registrants of a registrants-only or all-registrants
   * type hear RESERVATIONS RELEASED (SPC-4 §5.13.11.2). */
  private release(by: number): void {
    if (this.type !== PR_TYPE.WE && this.type !== PR_TYPE.EA) {
      for (const i of this.keys.keys()) if (i !== by) this.pendingUa.set(i, ASC_RESERVATIONS_RELEASED);
    }
    this.holder = null;
    this.type = 0;
  }

  private unregister(initiator: number): void {
    this.keys.delete(initiator);
    // The holder of a registrants-only reservation unregistering releases it; an
    // all-registrants one lasts while anyone is registered.
    if (this.holder === initiator) {
      if ((this.type === PR_TYPE.WE_AR || this.type === PR_TYPE.EA_AR) && this.keys.size > 0) this.holder = this.keys.keys().next().value!;
      else this.release(initiator);
    }
  }

  /** A preempted registration: gone, and its initiator hears REGISTRATIONS PREEMPTED. */
  private dropRegistration(initiator: number): void {
    this.keys.delete(initiator);
    if (this.holder === initiator) { this.holder = null; this.type = 0; }
    this.pendingUa.set(initiator, ASC_REGISTRATIONS_PREEMPTED);
  }
}

/** Commands that write the medium (a reservation of a write-exclusive type refuses
 * them to others); the rest of the disk's set reads it or touches neither. */
export const MEDIUM_WRITES: ReadonlySet<number> = new Set([0x2a, 0x8a, 0x35, 0x3f]);
/** Commands that run whatever the reservation (SPC-4 table 45: allowed in every
 * type): INQUIRY, REQUEST SENSE, TEST UNIT READY, READ CAPACITY, REPORT LUNS, PR IN/OUT. */
export const ALWAYS_ALLOWED: ReadonlySet<number> = new Set([0x12, 0x03, 0x00, 0x25, 0x9e, 0xa0, OP_PR_IN, OP_PR_OUT]);
