// What the backup server backs up: a generated file tree (seeded), and its archive as
// GNU tar writes it (`tar --format=gnu -b 8`): a 512-byte header per member (GNU magic
// "ustar  ", octal fields, the checksum over the header with its own field as spaces),
// the data padded to 512 bytes, two zero blocks, and the whole padded to 4 KiB
// records. Debian's GNU tar lists and extracts it (tests/backup.test.ts).

import { Rng } from "../rng.js";

export const TAR_BLOCK = 512;
/** `tar -b 8`: 8 blocks a record. */
export const TAR_RECORD = 8 * TAR_BLOCK;

export interface TreeEntry { path: string; dir: boolean; data: Uint8Array }

/** A file tree of `files` files in a few directories, sizes from 0 to `maxBytes`. */
export function makeTree(seed: number, files: number, maxBytes: number): TreeEntry[] {
  const rng = new Rng(seed).fork("tree");
  const out: TreeEntry[] = [];
  const dirs = ["data", "data/a", "data/b", "data/b/c"];
  for (const d of dirs) out.push({ path: d, dir: true, data: new Uint8Array(0) });
  for (let i = 0; i < files; i++) {
    const size = rng.chance(0.1) ? 0 : rng.int(maxBytes + 1);
    const data = new Uint8Array(size);
    rng.fill(data);
    out.push({ path: `${dirs[rng.int(dirs.length)]}/f${String(i).padStart(5, "0")}.bin`, dir: false, data });
  }
  return out;
}

/** A fixed modification time, so that the archive is the same for a seed. */
const MTIME = 1_767_225_600; // 2026-01-01T00:00:00Z

function octal(b: Uint8Array, at: number, width: number, v: number): void {
  const s = v.toString(8).padStart(width - 1, "0");
  for (let i = 0; i < width - 1; i++) b[at + i] = s.charCodeAt(i);
  b[at + width - 1] = 0;
}

function text(b: Uint8Array, at: number, width: number, s: string): void {
  const e = new TextEncoder().encode(s);
  if (e.length > width) throw new Error(`tar: "${s}" does not fit ${width} bytes`);
  b.set(e, at);
}

/** One member's header (GNU format). */
export function tarHeader(e: TreeEntry): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  text(h, 0, 100, e.dir ? `${e.path}/` : e.path);
  octal(h, 100, 8, e.dir ? 0o755 : 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, e.dir ? 0 : e.data.length);
  octal(h, 136, 12, MTIME);
  h[156] = e.dir ? 0x35 : 0x30; // '5' directory, '0' regular file
  text(h, 257, 8, "ustar  "); // GNU magic and version: "ustar " " \0"
  text(h, 265, 32, "root");
  text(h, 297, 32, "root");
  for (let i = 148; i < 156; i++) h[i] = 0x20;
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += h[i];
  const s = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) h[148 + i] = s.charCodeAt(i);
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/** The whole archive of a tree, padded to TAR_RECORD. */
export function tarStream(tree: TreeEntry[]): Uint8Array {
  let n = 2 * TAR_BLOCK;
  for (const e of tree) n += TAR_BLOCK + Math.ceil(e.data.length / TAR_BLOCK) * TAR_BLOCK;
  n = Math.ceil(n / TAR_RECORD) * TAR_RECORD;
  const out = new Uint8Array(n);
  let at = 0;
  for (const e of tree) {
    out.set(tarHeader(e), at);
    at += TAR_BLOCK;
    out.set(e.data, at);
    at += Math.ceil(e.data.length / TAR_BLOCK) * TAR_BLOCK;
  }
  return out;
}
