// What the iSCSI front end does with a command before and after the board (the host
// adapter's side of seed 003's block buffering): a READ or WRITE (10)/(16) larger than
// one mailbox slot goes to the board in slot-sized pieces, after the front end has
// checked the whole range against the LUN's capacity (asked once per LUN and boot);
// the iSCSI expected data transfer length (EDTL) and the CDB's transfer length are
// reconciled as RFC 7143 §11.4.5.1 says (the smaller one moves; the difference is the
// residual, overflow or underflow). Any other command goes to the board as it is.

export interface Outcome {
  status: number;
  sense: Uint8Array | null;
  data: Uint8Array;
  /** Residual: +n underflow (less moved than the EDTL), −n overflow (the command
   * wanted more than the EDTL), 0 none. */
  residual: number;
}

export type BoardSubmit = (lun: number, cdb: Uint8Array, dataOut: Uint8Array | null, dataInLen: number,
  cb: (status: number, sense: Uint8Array | null, data: Uint8Array, lost: boolean) => void) => void;

const BLOCK = 512;
const STATUS_GOOD = 0, STATUS_CHECK = 2;

interface Rw { write: boolean; lba: bigint; blocks: number; long: boolean }

/** READ/WRITE (10) and (16): the ones the board implements. */
function parseRw(cdb: Uint8Array): Rw | null {
  const op = cdb[0];
  const v = new DataView(cdb.buffer, cdb.byteOffset, cdb.length);
  if ((op === 0x28 || op === 0x2a) && cdb.length >= 10) {
    return { write: op === 0x2a, lba: BigInt(v.getUint32(2)), blocks: v.getUint16(7), long: false };
  }
  if ((op === 0x88 || op === 0x8a) && cdb.length >= 16) {
    return { write: op === 0x8a, lba: v.getBigUint64(2), blocks: v.getUint32(10), long: true };
  }
  return null;
}

function pieceCdb(cdb: Uint8Array, rw: Rw, lba: bigint, blocks: number): Uint8Array {
  const c = Uint8Array.from(cdb);
  const v = new DataView(c.buffer);
  if (rw.long) { v.setBigUint64(2, lba); v.setUint32(10, blocks); }
  else { v.setUint32(2, Number(lba)); v.setUint16(7, blocks); }
  return c;
}

/** Fixed-format sense (SPC-4 4.5.3): key, ASC/ASCQ. */
function sense(key: number, asc: number, ascq = 0): Uint8Array {
  const s = new Uint8Array(18);
  s[0] = 0x70; s[2] = key; s[7] = 10; s[12] = asc; s[13] = ascq;
  return s;
}

export class BlockBridge {
  /** Blocks one mailbox slot takes (the board says at boot). */
  maxBlocks = 8;
  private readonly capacity = new Map<number, bigint>();

  constructor(private readonly submit: BoardSubmit) {}

  /** A power loss or a boot: capacities are asked again. */
  reset(): void { this.capacity.clear(); }

  execute(lun: number, cdb: Uint8Array, edtl: number, dataOut: Uint8Array | null, cb: (o: Outcome | null) => void): void {
    const rw = parseRw(cdb);
    if (!rw || rw.blocks === 0 || (rw.blocks <= this.maxBlocks && edtl === rw.blocks * BLOCK)) {
      // As it is: a read's residual is what it did not fill of the EDTL.
      this.submit(lun, cdb, dataOut, dataOut ? 0 : edtl, (status, s, data, lost) => {
        if (lost) { cb(null); return; }
        cb({ status, sense: s, data, residual: dataOut ? 0 : edtl - data.length });
      });
      return;
    }
    this.withCapacity(lun, (cap, fail) => {
      if (fail) { cb(fail); return; }
      if (rw.lba + BigInt(rw.blocks) > cap!) {
        cb({ status: STATUS_CHECK, sense: sense(0x05, 0x21), data: new Uint8Array(0), residual: 0 });
        return;
      }
      this.pieces(lun, cdb, rw, edtl, dataOut, cb);
    });
  }

  /** READ CAPACITY (16) once per LUN and boot. A failure (a unit attention, NOT READY)
   * is the initiator's command's answer: it will try again. */
  private withCapacity(lun: number, k: (cap: bigint | null, fail: Outcome | null) => void): void {
    const known = this.capacity.get(lun);
    if (known !== undefined) { k(known, null); return; }
    const c = new Uint8Array(16);
    c[0] = 0x9e; c[1] = 0x10; c[13] = 32;
    this.submit(lun, c, null, 32, (status, s, data, lost) => {
      if (lost) { k(null, null); return; }
      if (status !== STATUS_GOOD || data.length < 12) { k(null, { status, sense: s, data: new Uint8Array(0), residual: 0 }); return; }
      const cap = new DataView(data.buffer, data.byteOffset, data.length).getBigUint64(0) + 1n;
      this.capacity.set(lun, cap);
      k(cap, null);
    });
  }

  /** The transfer in slot-sized pieces, at most what both the CDB and the EDTL allow. */
  private pieces(lun: number, cdb: Uint8Array, rw: Rw, edtl: number, dataOut: Uint8Array | null,
    cb: (o: Outcome | null) => void): void {
    const wanted = rw.blocks * BLOCK;
    const bytes = Math.min(edtl, wanted);
    const blocks = rw.write ? Math.floor(bytes / BLOCK) : Math.ceil(bytes / BLOCK);
    const residual = edtl - wanted; // > 0 underflow, < 0 overflow
    if (blocks === 0) { cb({ status: STATUS_GOOD, sense: null, data: new Uint8Array(0), residual }); return; }
    const n = Math.ceil(blocks / this.maxBlocks);
    const results: Array<{ status: number; sense: Uint8Array | null; data: Uint8Array } | null> = new Array(n).fill(null);
    let left = n, lost = false;
    for (let i = 0; i < n; i++) {
      const first = i * this.maxBlocks;
      const k = Math.min(this.maxBlocks, blocks - first);
      const out = rw.write && dataOut ? dataOut.subarray(first * BLOCK, (first + k) * BLOCK) : null;
      this.submit(lun, pieceCdb(cdb, rw, rw.lba + BigInt(first), k), out, rw.write ? 0 : k * BLOCK, (status, s, data, l) => {
        if (l) lost = true;
        results[i] = { status, sense: s, data };
        if (--left > 0) return;
        if (lost) { cb(null); return; }
        const bad = results.find((r) => r!.status !== STATUS_GOOD);
        if (bad) { cb({ status: bad.status, sense: bad.sense, data: new Uint8Array(0), residual: 0 }); return; }
        if (rw.write) { cb({ status: STATUS_GOOD, sense: null, data: new Uint8Array(0), residual }); return; }
        const all = new Uint8Array(blocks * BLOCK);
        results.forEach((r, j) => all.set(r!.data.subarray(0, Math.min(r!.data.length, all.length - j * this.maxBlocks * BLOCK)), j * this.maxBlocks * BLOCK));
        cb({ status: STATUS_GOOD, sense: null, data: all.subarray(0, bytes), residual });
      });
    }
  }
}
