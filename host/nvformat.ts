// The EEPROM image format (docs/SPEC.md, format 2) in TypeScript: sizes, and a reader
// that decodes an EEPROM dump independently of the firmware, for tests and inspection.

import { crc32c as crc32cJs } from "./crc.js";

export const PAGE_BYTES = 256;
export const PAGE_HEADER_BYTES = 4;
export const PAGE_PAYLOAD_BYTES = 248;
export const PAGE_CRC_AT = 252;
/** State and ring pages: their sequence number (u32) at this offset of the page. */
export const PAGE_SEQ_AT = 248;
export const IMAGE_PAGES_MAX = 476;
export const PROBE_PAGE = 476;
export const STATE_PAGE_A = 478;
export const STATE_PAGE_B = 479;
export const SPARE_FIRST = 480;
export const SPARE_COUNT = 32;
export const LOGICAL_STATE_A = 0xfffe;
export const LOGICAL_STATE_B = 0xfffd;
export const LOGICAL_PROBE = 0xfffc;
export const LOGICAL_FORMAT = 0xfffa;
export const META_MAGIC = 0x4d495548;
export const STATE_MAGIC = 0x54535548;
export const META_HEADER_BYTES = 24;
export const META_ENTRY_BYTES = 8;
export const DATA_RECORD_BYTES = 512 + 4;

export const meta_bytes = (blocks: number) => META_HEADER_BYTES + blocks * META_ENTRY_BYTES;
export const image_bytes = (blocks: number) => 2 * meta_bytes(blocks) + blocks * DATA_RECORD_BYTES;
export const image_pages_for = (blocks: number) => Math.ceil(image_bytes(blocks) / PAGE_PAYLOAD_BYTES);

/** Seal a page in place as the firmware does: the CRC-32C (continuing from `seed`)
 * of bytes 0..251 at 252. */
export function sealPage(p: Uint8Array, seed = 0): void {
  const v = new DataView(p.buffer, p.byteOffset, PAGE_BYTES);
  v.setUint32(PAGE_CRC_AT, crc32cJs(p.subarray(0, PAGE_CRC_AT), seed), true);
}

export interface Page {
  logical: number;
  count: number;
  payload: Uint8Array;
  /** State and ring pages' sequence number (the payload's last 4 bytes). */
  seq: number;
  crcOk: boolean;
}

/** The CRC seed of ring pages: the CRC-32C of the store id's 8 bytes (LE). */
export function pageSeed(storeId: bigint): number {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, storeId, true);
  return crc32cJs(b);
}

/** The CRC seed of image pages and data records: the CRC-32C of the store id (8
 * bytes) and the generation (4 bytes), little-endian. */
export function imageSeed(storeId: bigint, gen: number): number {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, storeId, true);
  v.setUint32(8, gen, true);
  return crc32cJs(b);
}

/** Decode one 256-byte page as stored (no correction); `seed` continues the CRC
 * (imageSeed for image pages, 0 for the state record). */
export function readPage(p: Uint8Array, seed = 0): Page {
  const v = new DataView(p.buffer, p.byteOffset, PAGE_BYTES);
  return {
    logical: v.getUint16(0, true), count: v.getUint16(2, true),
    payload: p.slice(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + PAGE_PAYLOAD_BYTES),
    seq: v.getUint32(PAGE_SEQ_AT, true),
    crcOk: crc32cJs(p.subarray(0, PAGE_CRC_AT), seed) === v.getUint32(PAGE_CRC_AT, true),
  };
}

export interface StateRecord {
  seq: number; store_id: bigint; retired: number; armed: number;
  /** The slowest EEPROM write cycle measured, µs (0: none yet). */
  worst_wc_us: number;
  /** Physical pages known not to take writes. */
  bad_pages: number[];
  /** The first boot's format of the EEPROM is done. */
  formatted: boolean;
}

export function readState(eeprom: Uint8Array): StateRecord | null {
  let best: StateRecord | null = null;
  for (const [phys, tag] of [[STATE_PAGE_A, LOGICAL_STATE_A], [STATE_PAGE_B, LOGICAL_STATE_B]]) {
    const pg = readPage(eeprom.subarray(phys * PAGE_BYTES, (phys + 1) * PAGE_BYTES));
    const v = new DataView(pg.payload.buffer);
    if (!pg.crcOk || pg.logical !== tag || v.getUint32(0, true) !== STATE_MAGIC) continue;
    const bad_pages: number[] = [];
    for (let p = 0; p < 512; p++) if (pg.payload[24 + (p >> 3)] & (1 << (p & 7))) bad_pages.push(p);
    const r = {
      seq: pg.seq, store_id: v.getBigUint64(4, true), retired: v.getUint32(12, true), armed: v.getUint32(16, true),
      worst_wc_us: v.getUint32(20, true), bad_pages, formatted: (v.getUint32(88, true) & 1) !== 0,
    };
    if (!best || r.seq > best.seq) best = r;
  }
  return best;
}

export interface ImageBlock { lun: number; lba: bigint; data: Uint8Array; crcOk: boolean; }
export interface Image { gen: number; blocks: ImageBlock[]; store_id: bigint; pages: number; }

/** Assemble the image of generation gen of store storeId from a dump (pages whose
 * CRC checks, at home or in a spare), or null if a page or the meta header is
 * missing. */
export function readImage(eeprom: Uint8Array, gen: number, storeId: bigint): Image | null {
  const seed = imageSeed(storeId, gen);
  const page = (phys: number) => readPage(eeprom.subarray(phys * PAGE_BYTES, (phys + 1) * PAGE_BYTES), seed);
  const find = (l: number): Page | null => {
    const home = page(l);
    if (home.crcOk && home.logical === l) return home;
    for (let s = SPARE_FIRST; s < SPARE_FIRST + SPARE_COUNT; s++) {
      const pg = page(s);
      if (pg.crcOk && pg.logical === l) return pg;
    }
    return null;
  };
  const first = find(0);
  if (!first) return null;
  const count = first.count;
  const stream = new Uint8Array(count * PAGE_PAYLOAD_BYTES);
  for (let l = 0; l < count; l++) {
    const pg = find(l);
    if (!pg || pg.count !== count) return null;
    stream.set(pg.payload, l * PAGE_PAYLOAD_BYTES);
  }
  const v = new DataView(stream.buffer);
  if (v.getUint32(0, true) !== META_MAGIC || v.getUint32(8, true) !== gen) return null;
  const n = v.getUint32(12, true);
  const store_id = v.getBigUint64(16, true);
  if (image_pages_for(n) !== count) return null;
  const blocks: ImageBlock[] = [];
  const entry = new Uint8Array(8);
  for (let i = 0; i < n; i++) {
    const word = v.getBigUint64(META_HEADER_BYTES + 8 * i, true);
    const lun = Number(word >> 56n);
    const lba = word & 0x00ffffffffffffffn;
    const at = meta_bytes(n) + i * DATA_RECORD_BYTES;
    const data = stream.slice(at, at + 512);
    new DataView(entry.buffer).setBigUint64(0, word, true);
    const crc = crc32cJs(data, crc32cJs(entry, seed));
    blocks.push({ lun, lba, data, crcOk: crc === v.getUint32(at + 512, true) });
  }
  return { gen, blocks, store_id, pages: count };
}
