// iSCSI PDUs (RFC 7143 §11): the 48-byte Basic Header Segment, the data segment padded
// to 4 bytes, the text keys of login and text requests. No digests (HeaderDigest and
// DataDigest negotiate to None).

export const OP = {
  NOP_OUT: 0x00, SCSI_CMD: 0x01, TMF_REQ: 0x02, LOGIN_REQ: 0x03, TEXT_REQ: 0x04, DATA_OUT: 0x05,
  LOGOUT_REQ: 0x06, SNACK: 0x10,
  NOP_IN: 0x20, SCSI_RSP: 0x21, TMF_RSP: 0x22, LOGIN_RSP: 0x23, TEXT_RSP: 0x24, DATA_IN: 0x25,
  LOGOUT_RSP: 0x26, R2T: 0x31, ASYNC: 0x32, REJECT: 0x3f,
} as const;

/** Reject reasons (§11.17.1). */
export const REJECT = { PROTOCOL_ERROR: 0x04, NOT_SUPPORTED: 0x05, INVALID_PDU_FIELD: 0x09 } as const;

export const BHS_BYTES = 48;
export const RESERVED_TAG = 0xffffffff;

export interface Pdu {
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
}

export function opcode(p: Pdu): number { return p.bhs[0] & 0x3f; }
export function immediate(p: Pdu): boolean { return (p.bhs[0] & 0x40) !== 0; }
export function itt(p: Pdu): number { return p.bhs.readUInt32BE(16); }

/** The LUN field (SAM: single-level, peripheral or flat addressing). */
export function lunOf(bhs: Buffer): number { return ((bhs[8] & 0x3f) << 8) | bhs[9]; }
export function putLun(bhs: Buffer, lun: number): void { bhs[8] = (lun >> 8) & 0x3f; bhs[9] = lun & 0xff; }

/** Cut complete PDUs off the front of a connection's bytes; returns them and the rest.
 * `maxData` bounds a data segment (a larger one is a protocol error: null). */
export function splitPdus(buf: Buffer, maxData: number): { pdus: Pdu[]; rest: Buffer } | null {
  const pdus: Pdu[] = [];
  let at = 0;
  while (buf.length - at >= BHS_BYTES) {
    const ahsLen = buf[at + 4] * 4;
    const dataLen = buf.readUIntBE(at + 5, 3);
    if (dataLen > maxData) return null;
    const total = BHS_BYTES + ahsLen + ((dataLen + 3) & ~3);
    if (buf.length - at < total) break;
    const bhs = Buffer.from(buf.subarray(at, at + BHS_BYTES));
    const ahs = Buffer.from(buf.subarray(at + BHS_BYTES, at + BHS_BYTES + ahsLen));
    const data = Buffer.from(buf.subarray(at + BHS_BYTES + ahsLen, at + BHS_BYTES + ahsLen + dataLen));
    pdus.push({ bhs, ahs, data });
    at += total;
  }
  return { pdus, rest: buf.subarray(at) };
}

/** A target PDU: its header (opcode set, data length filled in) and data, padded. */
export function build(op: number, fill: (bhs: Buffer) => void, data: Buffer = Buffer.alloc(0)): Buffer {
  const bhs = Buffer.alloc(BHS_BYTES);
  bhs[0] = op;
  fill(bhs);
  bhs[4] = 0;
  bhs.writeUIntBE(data.length, 5, 3);
  const pad = (4 - (data.length % 4)) % 4;
  return Buffer.concat([bhs, data, Buffer.alloc(pad)]);
}

/** key=value pairs, NUL-separated (§6). */
export function parseText(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of data.toString("utf8").split("\0")) {
    if (!kv) continue;
    const eq = kv.indexOf("=");
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}

export function textData(kvs: Array<[string, string]>): Buffer {
  return Buffer.from(kvs.map(([k, v]) => `${k}=${v}\0`).join(""), "utf8");
}
