// The EEPROM image format (docs/SPEC.md) in TypeScript: sizes, and a reader that
// decodes an EEPROM dump independently of the firmware, for tests and inspection.

import { crc32c as crc32cJs } from "./crc.js";

export const PAGE_BYTES = 256;
export const PAGE_HEADER_BYTES = 8;
export const PAGE_PAYLOAD_BYTES = 212;
export const PAGE_CRC_AT = 220;
export const PAGE_WORDS = 28;
export const PAGE_CHECK_AT = 224;
export const IMAGE_PAGES_MAX = 476;
export const PROBE_PAGE = 476;
export const STATE_PAGE_A = 478;
export const STATE_PAGE_B = 479;
export const SPARE_FIRST = 480;
export const SPARE_COUNT = 32;
export const LOGICAL_STATE_A = 0xfffe;
export const LOGICAL_STATE_B = 0xfffd;
export const LOGICAL_PROBE = 0xfffc;
export const META_MAGIC = 0x4d495548;
export const STATE_MAGIC = 0x54535548;
export const META_HEADER_BYTES = 32;
export const META_ENTRY_BYTES = 12;
export const DATA_RECORD_BYTES = 12 + 512 + 4;

export const meta_bytes = (blocks: number) => META_HEADER_BYTES + blocks * META_ENTRY_BYTES + 4;
export const image_bytes = (blocks: number) => 2 * meta_bytes(blocks) + blocks * DATA_RECORD_BYTES;
export const image_pages_for = (blocks: number) => Math.ceil(image_bytes(blocks) / PAGE_PAYLOAD_BYTES);

/** Hamming positions of data bits 0..63: the non-powers of two from 3 to 71. */
const POS: number[] = [];
for (let p = 1; p <= 71; p++) if (p & (p - 1)) POS.push(p);

/** The SECDED check byte of 8 bytes (docs/SPEC.md), computed bit by bit. */
export function secdedCheckByte(w: Uint8Array): number {
  let h = 0, parity = 0;
  for (let i = 0; i < 64; i++) {
    if ((w[i >> 3] >> (i & 7)) & 1) { h ^= POS[i]; parity ^= 1; }
  }
  for (let j = 0; j < 7; j++) parity ^= (h >> j) & 1;
  return h | (parity << 7);
}

/** Seal a page in place as the firmware does: CRC-32C (continuing from `seed`) of
 * bytes 0..219 at 220, then the SECDED check byte of each of the 28 words. */
export function sealPage(p: Uint8Array, seed = 0): void {
  const v = new DataView(p.buffer, p.byteOffset, PAGE_BYTES);
  v.setUint32(PAGE_CRC_AT, crc32cJs(p.subarray(0, PAGE_CRC_AT), seed), true);
  for (let w = 0; w < PAGE_WORDS; w++) p[PAGE_CHECK_AT + w] = secdedCheckByte(p.subarray(w * 8, w * 8 + 8));
}

export interface Page {
  gen: number;
  logical: number;
  count: number;
  payload: Uint8Array;
  /** Words whose check byte did not match (a clean page has none). */
  badWords: number;
  crcOk: boolean;
}

/** The CRC seed of image pages: the CRC-32C of the store id's 8 bytes (LE). State
 * and probe pages use 0. */
export function pageSeed(storeId: bigint): number {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, storeId, true);
  return crc32cJs(b);
}

/** Decode one 256-byte page as stored (no correction: reports mismatches); `seed`
 * continues the CRC (pageSeed for image pages, 0 for the state record). */
export function readPage(p: Uint8Array, seed = 0): Page {
  const v = new DataView(p.buffer, p.byteOffset, PAGE_BYTES);
  let bad = 0;
  for (let w = 0; w < PAGE_WORDS; w++) {
    if (secdedCheckByte(p.subarray(w * 8, w * 8 + 8)) !== p[PAGE_CHECK_AT + w]) bad++;
  }
  return {
    gen: v.getUint32(0, true), logical: v.getUint16(4, true), count: v.getUint16(6, true),
    payload: p.slice(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + PAGE_PAYLOAD_BYTES),
    badWords: bad,
    crcOk: crc32cJs(p.subarray(0, PAGE_CRC_AT), seed) === v.getUint32(PAGE_CRC_AT, true),
  };
}

export interface StateRecord {
  seq: number; store_id: bigint; retired: number; armed: number;
  /** The slowest EEPROM write cycle measured, µs (0: none yet). */
  worst_wc_us: number;
  /** Physical pages known not to take writes. */
  bad_pages: number[];
}

export function readState(eeprom: Uint8Array): StateRecord | null {
  let best: StateRecord | null = null;
  for (const phys of [STATE_PAGE_A, STATE_PAGE_B]) {
    const pg = readPage(eeprom.subarray(phys * PAGE_BYTES, (phys + 1) * PAGE_BYTES));
    const v = new DataView(pg.payload.buffer);
    if (!pg.crcOk || pg.badWords || v.getUint32(0, true) !== STATE_MAGIC) continue;
    const bad_pages: number[] = [];
    for (let p = 0; p < 512; p++) if (pg.payload[24 + (p >> 3)] & (1 << (p & 7))) bad_pages.push(p);
    const r = {
      seq: pg.gen, store_id: v.getBigUint64(4, true), retired: v.getUint32(12, true), armed: v.getUint32(16, true),
      worst_wc_us: v.getUint32(20, true), bad_pages,
    };
    if (!best || r.seq > best.seq) best = r;
  }
  return best;
}

export interface ImageBlock { lun: number; lba: bigint; data: Uint8Array; crcOk: boolean; }
export interface Image { gen: number; blocks: ImageBlock[]; store_id: bigint; pages: number; }

/** Assemble the image of generation gen of store storeId from a dump (clean pages
 * only). */
export function readImage(eeprom: Uint8Array, gen: number, storeId: bigint): Image | null {
  const byLogical = new Map<number, Page>();
  const seed = pageSeed(storeId);
  for (let phys = 0; phys < SPARE_FIRST + SPARE_COUNT; phys++) {
    const pg = readPage(eeprom.subarray(phys * PAGE_BYTES, (phys + 1) * PAGE_BYTES), seed);
    if (pg.gen !== gen || pg.logical >= 0xff00 || !pg.crcOk || pg.badWords) continue;
    if (!byLogical.has(pg.logical)) byLogical.set(pg.logical, pg);
  }
  const first = byLogical.get(0);
  if (!first) return null;
  const count = first.count;
  const stream = new Uint8Array(count * PAGE_PAYLOAD_BYTES);
  for (let l = 0; l < count; l++) {
    const pg = byLogical.get(l);
    if (!pg) return null;
    stream.set(pg.payload, l * PAGE_PAYLOAD_BYTES);
  }
  const v = new DataView(stream.buffer);
  if (v.getUint32(0, true) !== META_MAGIC || v.getUint32(8, true) !== gen) return null;
  const n = v.getUint32(12, true);
  const store_id = v.getBigUint64(16, true);
  const metaLen = meta_bytes(n);
  if (crc32cJs(stream.subarray(0, metaLen - 4)) !== v.getUint32(metaLen - 4, true)) return null;
  const blocks: ImageBlock[] = [];
  for (let i = 0; i < n; i++) {
    const at = 2 * metaLen + i * DATA_RECORD_BYTES;
    const lun = v.getUint32(at, true);
    const lba = v.getBigUint64(at + 4, true);
    const data = stream.slice(at + 12, at + 12 + 512);
    const crcOk = crc32cJs(stream.subarray(at, at + 524)) === v.getUint32(at + 524, true);
    blocks.push({ lun, lba, data, crcOk });
  }
  return { gen, blocks, store_id, pages: count };
}
