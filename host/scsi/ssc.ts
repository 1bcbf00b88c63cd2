// Tape (SSC-3) and medium changer (SMC-3) commands as the emulated tape library speaks
// them: opcodes, sense (with the FILEMARK, EOM and ILI bits and the INFORMATION
// field, SPC-4 §4.5.3), CDB builders for initiators and tests, and parsers of the
// answers. mhVTL's behaviour (early warning as NO SENSE + EOM, VOLUME OVERFLOW at the
// end) is the model where SSC leaves a choice.

import { putBe16, putBe32, be16, be32, senseBytes, SENSE_BYTES } from "./spc.js";

export const SSC_OP = {
  TEST_UNIT_READY: 0x00,
  REWIND: 0x01,
  REQUEST_SENSE: 0x03,
  READ_BLOCK_LIMITS: 0x05,
  INITIALIZE_ELEMENT_STATUS: 0x07,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  WRITE_FILEMARKS_6: 0x10,
  SPACE_6: 0x11,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  MODE_SENSE_6: 0x1a,
  LOAD_UNLOAD: 0x1b,
  LOCATE_10: 0x2b,
  READ_POSITION: 0x34,
  MOVE_MEDIUM: 0xa5,
  READ_ELEMENT_STATUS: 0xb8,
} as const;

/** Sense keys tapes add to SPC's (SPC-4 Table 28). */
export const TKEY = {
  NO_SENSE: 0x0, NOT_READY: 0x2, MEDIUM_ERROR: 0x3, HARDWARE_ERROR: 0x4, ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6, BLANK_CHECK: 0x8, ABORTED_COMMAND: 0xb, VOLUME_OVERFLOW: 0xd,
} as const;

/** ASC/ASCQ (asc << 8 | ascq) of SPC-4 Annex F that tapes and changers use. */
export const TASC = {
  NONE: 0x0000,
  FILEMARK_DETECTED: 0x0001,
  END_OF_MEDIUM: 0x0002,
  BEGINNING_OF_MEDIUM: 0x0004,
  END_OF_DATA: 0x0005,
  BECOMING_READY: 0x0401,
  WRITE_ERROR: 0x0c00,
  UNRECOVERED_READ_ERROR: 0x1100,
  INVALID_OPCODE: 0x2000,
  INVALID_ELEMENT: 0x2101,
  INVALID_FIELD_IN_CDB: 0x2400,
  INVALID_FIELD_IN_PARAMETERS: 0x2600,
  NOT_READY_TO_READY: 0x2800,
  POWER_ON_RESET: 0x2900,
  MEDIUM_NOT_PRESENT: 0x3a00,
  DESTINATION_FULL: 0x3b0d,
  SOURCE_EMPTY: 0x3b0e,
  INTERNAL_TARGET_FAILURE: 0x4400,
  LOAD_OR_EJECT_FAILED: 0x5300,
  REMOVAL_PREVENTED: 0x5302,
} as const;

export interface TapeSense {
  key: number;
  asc: number;
  filemark?: boolean;
  eom?: boolean;
  ili?: boolean;
  /** INFORMATION (VALID set): a residue, or an element address. */
  info?: number;
  /** Sense-key specific field pointer [byte, bit or -1]. */
  field?: [number, number];
}

export const TAPE_SENSE_BYTES = SENSE_BYTES;

/** Fixed-format sense data (SPC-4 §4.5.3): SPC's, with the FILEMARK, EOM and ILI
 * bits and INFORMATION. */
export function tapeSense(s: TapeSense): Uint8Array {
  const b = senseBytes(s);
  if (s.info !== undefined) { b[0] |= 0x80; putBe32(b, 3, s.info >>> 0); }
  b[2] |= (s.filemark ? 0x80 : 0) | (s.eom ? 0x40 : 0) | (s.ili ? 0x20 : 0);
  return b;
}

export function parseTapeSense(b: Uint8Array | null): TapeSense | null {
  if (!b || b.length < 14) return null;
  const s: TapeSense = { key: b[2] & 0x0f, asc: (b[12] << 8) | b[13] };
  if (b[2] & 0x80) s.filemark = true;
  if (b[2] & 0x40) s.eom = true;
  if (b[2] & 0x20) s.ili = true;
  if (b[0] & 0x80) s.info = be32(b, 3) | 0;
  return s;
}

// ---- CDBs ------------------------------------------------------------------------------

const cdb6 = (op: number) => { const c = new Uint8Array(6); c[0] = op; return c; };
const put24 = (c: Uint8Array, i: number, v: number) => { c[i] = (v >> 16) & 0xff; c[i + 1] = (v >> 8) & 0xff; c[i + 2] = v & 0xff; };

export const ssc = {
  tur: () => cdb6(SSC_OP.TEST_UNIT_READY),
  rewind: (immed = false) => { const c = cdb6(SSC_OP.REWIND); c[1] = immed ? 1 : 0; return c; },
  requestSense: (alloc = TAPE_SENSE_BYTES) => { const c = cdb6(SSC_OP.REQUEST_SENSE); c[4] = alloc; return c; },
  readBlockLimits: () => cdb6(SSC_OP.READ_BLOCK_LIMITS),
  /** READ(6): fixed: `n` blocks of the mode's block size; variable: one block of up to n bytes. */
  read: (n: number, fixed = false, sili = false) => {
    const c = cdb6(SSC_OP.READ_6);
    c[1] = (fixed ? 1 : 0) | (sili ? 2 : 0);
    put24(c, 2, n);
    return c;
  },
  write: (n: number, fixed = false) => { const c = cdb6(SSC_OP.WRITE_6); c[1] = fixed ? 1 : 0; put24(c, 2, n); return c; },
  writeFilemarks: (n = 1, immed = false) => { const c = cdb6(SSC_OP.WRITE_FILEMARKS_6); c[1] = immed ? 1 : 0; put24(c, 2, n); return c; },
  /** SPACE(6): code 0 blocks, 1 filemarks, 3 end of data; count may be negative. */
  space: (code: 0 | 1 | 3, count: number) => { const c = cdb6(SSC_OP.SPACE_6); c[1] = code; put24(c, 2, count & 0xffffff); return c; },
  inquiry: (alloc = 96, evpd = false, page = 0) => {
    const c = cdb6(SSC_OP.INQUIRY);
    c[1] = evpd ? 1 : 0; c[2] = page; putBe16(c, 3, alloc);
    return c;
  },
  modeSense: (alloc = 12) => { const c = cdb6(SSC_OP.MODE_SENSE_6); c[2] = 0x3f; c[4] = alloc; return c; },
  modeSelect: (len: number) => { const c = cdb6(SSC_OP.MODE_SELECT_6); c[1] = 0x10; c[4] = len; return c; },
  /** The MODE SELECT(6) parameter list that sets the block size (0: variable). */
  blockSizeParams: (size: number) => { const p = new Uint8Array(12); p[3] = 8; put24(p, 9, size); return p; },
  load: () => { const c = cdb6(SSC_OP.LOAD_UNLOAD); c[4] = 1; return c; },
  unload: () => { const c = cdb6(SSC_OP.LOAD_UNLOAD); c[4] = 0; return c; },
  locate: (object: number) => { const c = new Uint8Array(10); c[0] = SSC_OP.LOCATE_10; putBe32(c, 3, object); return c; },
  readPosition: () => { const c = new Uint8Array(10); c[0] = SSC_OP.READ_POSITION; return c; },
  moveMedium: (transport: number, from: number, to: number) => {
    const c = new Uint8Array(12);
    c[0] = SSC_OP.MOVE_MEDIUM; putBe16(c, 2, transport); putBe16(c, 4, from); putBe16(c, 6, to);
    return c;
  },
  readElementStatus: (type: number, first: number, count: number, alloc = 0xffff, volTag = true) => {
    const c = new Uint8Array(12);
    c[0] = SSC_OP.READ_ELEMENT_STATUS; c[1] = (volTag ? 0x10 : 0) | (type & 0x0f);
    putBe16(c, 2, first); putBe16(c, 4, count); put24(c, 7, alloc);
    return c;
  },
  initElementStatus: () => cdb6(SSC_OP.INITIALIZE_ELEMENT_STATUS),
};

// ---- answers ----------------------------------------------------------------------------

export interface Position { bop: boolean; eop: boolean; object: number }

/** READ POSITION, short form (SSC-3 §7.5.1). */
export function parsePosition(d: Uint8Array): Position {
  return { bop: (d[0] & 0x80) !== 0, eop: (d[0] & 0x40) !== 0, object: be32(d, 4) };
}

export const ELEMENT = { TRANSPORT: 1, STORAGE: 2, IMPORT_EXPORT: 3, DRIVE: 4 } as const;

export interface ElementStatus { type: number; address: number; full: boolean; barcode: string; source: number | null; except: boolean }

/** READ ELEMENT STATUS data (SMC-3 §6.10): every element of every page. */
export function parseElementStatus(d: Uint8Array): ElementStatus[] {
  const out: ElementStatus[] = [];
  const total = Math.min(d.length, 8 + ((d[5] << 16) | (d[6] << 8) | d[7]));
  let at = 8;
  while (at + 8 <= total) {
    const type = d[at], volTag = (d[at + 1] & 0x80) !== 0, len = be16(d, at + 2);
    const bytes = (d[at + 5] << 16) | (d[at + 6] << 8) | d[at + 7];
    let p = at + 8;
    const end = Math.min(total, p + bytes);
    while (len > 0 && p + len <= end) {
      const flags = d[p + 2];
      const barcode = volTag ? new TextDecoder().decode(d.subarray(p + 12, p + 44)).trim() : "";
      out.push({
        type, address: be16(d, p), full: (flags & 1) !== 0, except: (flags & 4) !== 0, barcode,
        source: d[p + 9] & 0x80 ? be16(d, p + 10) : null,
      });
      p += len;
    }
    at = end;
  }
  return out;
}
