// SCSI in TypeScript: constants (SPC-4, SBC-3), fixed-format sense, and the CDB
// checks our block devices apply, in the order they apply them. The disk model uses
// these checks to answer the firmware; the tests use them as the independent
// statement of what the firmware's LUNs must answer (assembly/target.ts implements
// the same rules in AssemblyScript; docs/HAL.md lists them).

export const OP = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  INQUIRY: 0x12,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_LONG_10: 0x3f,
  MODE_SENSE_10: 0x5a,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SERVICE_ACTION_IN_16: 0x9e,
  /** MAINTENANCE IN: REPORT TARGET PORT GROUPS (SPC-4 6.36), for ALUA (a pair). */
  MAINTENANCE_IN: 0xa3,
  /** Vendor-specific (group 6), 10-byte CDBs of the controller (docs/HAL.md). */
  NV_STATUS: 0xc0,
  NV_ACTION: 0xc1,
  ARRAY_STATUS: 0xc2,
} as const;
export const NV_ACTION = { REPLAY: 1, DISCARD: 2, RECHECK: 3 } as const;
export const SA_READ_CAPACITY_16 = 0x10;
export const SA_REPORT_TARGET_PORT_GROUPS = 0x0a;
export const SUPPORTED_OPS: ReadonlySet<number> = new Set(Object.values(OP));

export const STATUS = { GOOD: 0x00, CHECK_CONDITION: 0x02, BUSY: 0x08 } as const;

export const KEY = {
  NO_SENSE: 0x0, NOT_READY: 0x2, MEDIUM_ERROR: 0x3, HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5, UNIT_ATTENTION: 0x6, ABORTED_COMMAND: 0xb,
} as const;

/** ASC/ASCQ pairs as asc << 8 | ascq (SPC-4 Annex F). */
export const ASC = {
  NONE: 0x0000,
  BECOMING_READY: 0x0401,
  MANUAL_INTERVENTION: 0x0403,
  WRITE_ERROR: 0x0c00,
  UNRECOVERED_READ_ERROR: 0x1100,
  INVALID_OPCODE: 0x2000,
  LBA_OUT_OF_RANGE: 0x2100,
  INVALID_FIELD_IN_CDB: 0x2400,
  LUN_NOT_SUPPORTED: 0x2500,
  POWER_ON_RESET: 0x2900,
  SAVING_PARAMS_UNSUPPORTED: 0x3900,
  LUN_FAILURE: 0x3e01,
  DATA_PHASE_ERROR: 0x4b00,
} as const;

export const SENSE_BYTES = 18;

export interface Sense {
  key: number;
  asc: number; // asc << 8 | ascq
  /** Sense-key specific field pointer: [byte, bit or -1], when SKSV is set. */
  field?: [number, number];
}

export function senseBytes(s: Sense): Uint8Array {
  const b = new Uint8Array(SENSE_BYTES);
  b[0] = 0x70;
  b[2] = s.key & 0x0f;
  b[7] = SENSE_BYTES - 8;
  b[12] = s.asc >> 8;
  b[13] = s.asc & 0xff;
  if (s.field) {
    const [byte, bit] = s.field;
    b[15] = 0x80 | 0x40 | (bit >= 0 ? 0x08 | (bit & 7) : 0);
    b[16] = byte >> 8;
    b[17] = byte & 0xff;
  }
  return b;
}

export function parseSense(b: Uint8Array): Sense {
  const s: Sense = { key: b[2] & 0x0f, asc: (b[12] << 8) | b[13] };
  if (b[15] & 0x80) s.field = [(b[16] << 8) | b[17], b[15] & 0x08 ? b[15] & 7 : -1];
  return s;
}

export function senseName(s: Sense): string {
  const key = Object.entries(KEY).find(([, v]) => v === s.key)?.[0] ?? `key ${s.key}`;
  const asc = Object.entries(ASC).find(([, v]) => v === s.asc)?.[0] ??
    `${(s.asc >> 8).toString(16).padStart(2, "0")}h/${(s.asc & 0xff).toString(16).padStart(2, "0")}h`;
  return `${key} ${asc}`;
}

/** CDB length from the group code (SPC-4 4.2.5.1); 0 for groups we do not accept. */
export function cdbGroupBytes(op: number): number {
  if (op === OP.NV_STATUS || op === OP.NV_ACTION || op === OP.ARRAY_STATUS) return 10;
  const g = op >> 5;
  return g === 0 ? 6 : g === 1 || g === 2 ? 10 : g === 4 ? 16 : g === 5 ? 12 : 0;
}

export const be16 = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
export const be32 = (b: Uint8Array, i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
export const be64 = (b: Uint8Array, i: number) => (BigInt(be32(b, i)) << 32n) | BigInt(be32(b, i + 4));
export function putBe16(b: Uint8Array, i: number, v: number): void { b[i] = (v >> 8) & 0xff; b[i + 1] = v & 0xff; }
export function putBe32(b: Uint8Array, i: number, v: number): void {
  b[i] = (v >>> 24) & 0xff; b[i + 1] = (v >>> 16) & 0xff; b[i + 2] = (v >>> 8) & 0xff; b[i + 3] = v & 0xff;
}
export function putBe64(b: Uint8Array, i: number, v: bigint): void {
  putBe32(b, i, Number((v >> 32n) & 0xffffffffn));
  putBe32(b, i + 4, Number(v & 0xffffffffn));
}

/** What a well-formed command asks for. */
export interface Command {
  op: number;
  lba: bigint;
  blocks: number;
  fua: boolean;
  /** Allocation length for data-in commands. */
  alloc: number;
  write: boolean;
  evpd: boolean;
  page: number;
  pc: number;
  dbd: boolean;
  immed: boolean;
}

export type Verdict = { ok: true; cmd: Command } | { ok: false; sense: Sense };

const invalid = (byte: number, bit = -1): Verdict =>
  ({ ok: false, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB, field: [byte, bit] } });
const outOfRange = (): Verdict => ({ ok: false, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.LBA_OUT_OF_RANGE } });

/** Step 1: the CDB length the host adapter gave. */
export function checkLength(cdbLen: number): Verdict | null {
  return cdbLen === 0 || cdbLen > 16 ? invalid(0) : null;
}

/** Step 2: the opcode (after the LUN check). */
export function checkOpcode(cdb: Uint8Array, cdbLen: number): Verdict | null {
  const op = cdb[0];
  if (!SUPPORTED_OPS.has(op)) {
    return { ok: false, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_OPCODE, field: [0, -1] } };
  }
  if (cdbGroupBytes(op) > cdbLen) return invalid(0);
  return null;
}

/** Step 3 (after any unit attention): the control byte and every field the command
 * uses, then the LBA range. `capacity` is in blocks. */
export function checkFields(
  cdb: Uint8Array, capacity: bigint, maxTransferBlocks: number,
): Verdict {
  const op = cdb[0];
  const n = cdbGroupBytes(op);
  const control = cdb[n - 1];
  if (control & 0x04) return invalid(n - 1, 2); // NACA
  if (control & 0x01) return invalid(n - 1, 0); // LINK
  const cmd: Command = {
    op, lba: 0n, blocks: 0, fua: false, alloc: 0, write: false, evpd: false, page: 0,
    pc: 0, dbd: false, immed: false,
  };
  const inRange = (lba: bigint, blocks: bigint) => lba <= capacity && blocks <= capacity - lba;
  switch (op) {
    case OP.TEST_UNIT_READY:
    case OP.START_STOP_UNIT:
      break;
    case OP.REQUEST_SENSE:
      if (cdb[1] & 0x01) return invalid(1, 0);
      cmd.alloc = cdb[4];
      break;
    case OP.INQUIRY: {
      if (cdb[1] & 0x02) return invalid(1, 1);
      cmd.evpd = (cdb[1] & 0x01) !== 0;
      cmd.page = cdb[2];
      cmd.alloc = be16(cdb, 3);
      if (!cmd.evpd && cmd.page !== 0) return invalid(2);
      if (cmd.evpd && ![0x00, 0x80, 0x83, 0xb0].includes(cmd.page)) return invalid(2);
      break;
    }
    case OP.MODE_SENSE_6:
    case OP.MODE_SENSE_10: {
      cmd.dbd = (cdb[1] & 0x08) !== 0;
      cmd.pc = cdb[2] >> 6;
      cmd.page = cdb[2] & 0x3f;
      const subpage = cdb[3];
      cmd.alloc = op === OP.MODE_SENSE_10 ? be16(cdb, 7) : cdb[4];
      if (cmd.pc === 3) {
        return { ok: false, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.SAVING_PARAMS_UNSUPPORTED, field: [2, 7] } };
      }
      if (cmd.page !== 0x08 && cmd.page !== 0x0a && cmd.page !== 0x3f) return invalid(2, 5);
      if (subpage !== 0 && !(cmd.page === 0x3f && subpage === 0xff)) return invalid(3);
      break;
    }
    case OP.READ_CAPACITY_10:
      if (!(cdb[8] & 0x01) && be32(cdb, 2) !== 0) return invalid(2);
      break;
    case OP.SERVICE_ACTION_IN_16:
      if ((cdb[1] & 0x1f) !== SA_READ_CAPACITY_16) return invalid(1, 4);
      if (!(cdb[14] & 0x01) && be64(cdb, 2) !== 0n) return invalid(2);
      cmd.alloc = be32(cdb, 10);
      break;
    case OP.READ_10: case OP.WRITE_10: case OP.READ_16: case OP.WRITE_16: {
      const ten = op === OP.READ_10 || op === OP.WRITE_10;
      cmd.write = op === OP.WRITE_10 || op === OP.WRITE_16;
      cmd.fua = (cdb[1] & 0x08) !== 0;
      cmd.lba = ten ? BigInt(be32(cdb, 2)) : be64(cdb, 2);
      cmd.blocks = ten ? be16(cdb, 7) : be32(cdb, 10);
      if (cdb[1] & 0xe0) return invalid(1, 7);
      if (cmd.blocks > maxTransferBlocks) return invalid(ten ? 7 : 10);
      if (!inRange(cmd.lba, BigInt(cmd.blocks))) return outOfRange();
      break;
    }
    case OP.SYNCHRONIZE_CACHE_10:
      cmd.lba = BigInt(be32(cdb, 2));
      cmd.blocks = be16(cdb, 7);
      cmd.immed = (cdb[1] & 0x02) !== 0;
      if (!inRange(cmd.lba, BigInt(cmd.blocks))) return outOfRange();
      break;
    case OP.NV_STATUS: case OP.ARRAY_STATUS:
      cmd.alloc = be16(cdb, 7);
      break;
    case OP.MAINTENANCE_IN:
      if ((cdb[1] & 0x1f) !== SA_REPORT_TARGET_PORT_GROUPS) return invalid(1, 4);
      if (cdb[1] & 0xe0) return invalid(1, 7); // only the length-only format
      cmd.alloc = be32(cdb, 6);
      break;
    case OP.NV_ACTION:
      if (cdb[1] < NV_ACTION.REPLAY || cdb[1] > NV_ACTION.RECHECK) return invalid(1);
      break;
    case OP.WRITE_LONG_10:
      if (!(cdb[1] & 0x40)) return invalid(1, 6);
      if (cdb[1] & 0x20) return invalid(1, 5);
      cmd.lba = BigInt(be32(cdb, 2));
      cmd.blocks = 1;
      if (!inRange(cmd.lba, 1n)) return outOfRange();
      break;
    default:
      return { ok: false, sense: { key: KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_OPCODE, field: [0, -1] } };
  }
  return { ok: true, cmd };
}

/** A full CDB builder for the common commands, used by the host and the tests. */
export const cdb = {
  tur: () => new Uint8Array(6),
  inquiry: (alloc = 36, evpd = false, page = 0) => {
    const c = new Uint8Array(6); c[0] = OP.INQUIRY; c[1] = evpd ? 1 : 0; c[2] = page; putBe16(c, 3, alloc); return c;
  },
  requestSense: (alloc = 18) => { const c = new Uint8Array(6); c[0] = OP.REQUEST_SENSE; c[4] = alloc; return c; },
  readCapacity16: () => { const c = new Uint8Array(16); c[0] = OP.SERVICE_ACTION_IN_16; c[1] = SA_READ_CAPACITY_16; putBe32(c, 10, 32); return c; },
  readCapacity10: () => { const c = new Uint8Array(10); c[0] = OP.READ_CAPACITY_10; return c; },
  rw16: (write: boolean, lba: bigint | number, blocks: number, fua = false) => {
    const c = new Uint8Array(16);
    c[0] = write ? OP.WRITE_16 : OP.READ_16;
    c[1] = fua ? 0x08 : 0;
    putBe64(c, 2, BigInt(lba));
    putBe32(c, 10, blocks);
    return c;
  },
  rw10: (write: boolean, lba: number, blocks: number, fua = false) => {
    const c = new Uint8Array(10);
    c[0] = write ? OP.WRITE_10 : OP.READ_10;
    c[1] = fua ? 0x08 : 0;
    putBe32(c, 2, lba);
    putBe16(c, 7, blocks);
    return c;
  },
  syncCache10: (lba = 0, blocks = 0) => {
    const c = new Uint8Array(10); c[0] = OP.SYNCHRONIZE_CACHE_10; putBe32(c, 2, lba); putBe16(c, 7, blocks); return c;
  },
  writeLongUncor: (lba: number) => {
    const c = new Uint8Array(10); c[0] = OP.WRITE_LONG_10; c[1] = 0x40; putBe32(c, 2, lba); return c;
  },
  nvStatus: (alloc = 64) => { const c = new Uint8Array(10); c[0] = OP.NV_STATUS; putBe16(c, 7, alloc); return c; },
  nvAction: (action: number) => { const c = new Uint8Array(10); c[0] = OP.NV_ACTION; c[1] = action; return c; },
  arrayStatus: (alloc = 1024) => { const c = new Uint8Array(10); c[0] = OP.ARRAY_STATUS; putBe16(c, 7, alloc); return c; },
  modeSense6: (page = 0x08, alloc = 255, pc = 0) => {
    const c = new Uint8Array(6); c[0] = OP.MODE_SENSE_6; c[2] = (pc << 6) | page; c[4] = alloc; return c;
  },
};

/** NV STATUS data (64 bytes, big-endian; docs/HAL.md). */
export interface NvStatus {
  image: number; mode: number; generation: number; blocks: number; corrected: number;
  lost_records: number; budget: number; nv_blocks: number; holdup_ms: number; page_us: number;
  identity: number[]; store_id: bigint;
  /** The array (0 with --raid none): state as in ARRAY STATUS, failed members, listed blocks. */
  array_state: number; array_failed: number; array_listed: number;
  /** The rebuild's progress, per mille (1000: none under way). */
  array_rebuild_permille: number;
  /** The first boot's EEPROM format: pages tested, per mille (1000: done). */
  format_permille: number;
  /** A pair: this controller (0 alone, 1 A, 2 B), its verdict on the partner, fenced,
   * mirroring, takeovers since boot. */
  pair_identity: number;
  pair_peer: number;
  pair_fenced: boolean;
  pair_mirroring: boolean;
  pair_takeovers: number;
}
/** ARRAY STATUS (C2h), docs/HAL.md. */
export interface ArrayStatus {
  level: number; members: number; state: number; intent_blocks: boolean; failed_mask: number;
  rows: number; repaired_rows: number; torn_records: number; hidden_blocks: number;
  ring_writes: number; unreadable: Array<{ lun: number; lba: number; blocks: number }>;
}
export function parseArrayStatus(d: Uint8Array): ArrayStatus {
  const n = d.length >= 36 ? be32(d, 32) : 0;
  const unreadable: ArrayStatus["unreadable"] = [];
  for (let i = 0; i < n && 48 + i * 16 + 16 <= d.length; i++) {
    const r = 48 + i * 16;
    unreadable.push({ lun: d[r], blocks: be32(d, r + 4), lba: Number(be64(d, r + 8)) });
  }
  return {
    level: d[0], members: d[1], state: d[2], intent_blocks: d[3] !== 0, failed_mask: be32(d, 4),
    rows: Number(be64(d, 8)), repaired_rows: be32(d, 16), torn_records: be32(d, 20),
    hidden_blocks: be32(d, 24), ring_writes: be32(d, 28), unreadable,
  };
}

export function parseNvStatus(d: Uint8Array): NvStatus {
  return {
    image: d[0], mode: d[1], generation: be32(d, 4), blocks: be32(d, 8), corrected: be32(d, 12),
    lost_records: be32(d, 16), budget: be32(d, 20), nv_blocks: be32(d, 24), holdup_ms: be32(d, 28),
    page_us: be32(d, 32), identity: [...d.subarray(36, 44)], store_id: be64(d, 44),
    array_state: d[52] ?? 0, array_failed: d[53] ?? 0, array_listed: d.length >= 56 ? (d[54] << 8) | d[55] : 0,
    array_rebuild_permille: d.length >= 58 ? (d[56] << 8) | d[57] : 1000,
    format_permille: d.length >= 60 ? (d[58] << 8) | d[59] : 1000,
    pair_identity: d[60] ?? 0, pair_peer: d[61] ?? 0, pair_fenced: ((d[62] ?? 0) & 1) !== 0,
    pair_mirroring: ((d[62] ?? 0) & 2) !== 0, pair_takeovers: d[63] ?? 0,
  };
}
