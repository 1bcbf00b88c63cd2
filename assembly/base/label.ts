// Disk identity labels (seed 000 claims 33, 52): the last block of every disk this
// controller has bound says whose it is and in which slot, and lists the blocks of
// that disk the controller declared unreadable where the disk itself cannot mark
// them (no WRITE LONG). docs/SPEC.md "Disk label" is the format:
//   @0 "HOLDUPID" | @8 version u32 | @12 bus ID u32 | @16 store id u64
//   @24 unreadable count u32 | @28 zero | @32 unreadable LBAs u64 × count | @508 CRC-32C
// and on a pair's disk (seed 002) its pair section:
//   @448 "PAIR" | @452 owner identity u8 | @456 epoch u32 | @464 store id of controller
//   A u64 | @472 of controller B u64

import { label_base, block_bytes } from "../layout";
import { crc32c } from "./crc32c";
import { OP_READ_16, OP_WRITE_16, STATUS_GOOD, zero } from "./scsi";
import { OK, ERR_IO, ERR_NODEV, ERR_TIMEOUT } from "./errors";
import { ID_OK, ID_BLANK, ID_FOREIGN, ID_WRONG_SLOT, ID_UNREADABLE, ID_NO_DISK, ID_PARTNER, lun_epoch } from "../state";
import { disk_exec_patient, cdb_rw16, cdb_sync_cache10, sync_cdb } from "./initiator";

@inline const label_magic: u64 = 0x44495055444c4f48; // "HOLDUPID" little-endian
@inline const label_version: u32 = 1;
@inline const label_crc_at: u32 = 508;
@inline const label_list_at: u32 = 32;
/** Unreadable blocks one label can list. */
@inline export const label_list_max: u32 = 48;
if (label_list_at + label_list_max * 8 > label_crc_at) ERROR("label: the list fits before the CRC");

// The pair section (a controller of a pair writes it into every label it writes).
@inline const pair_at: u32 = 448;
@inline const pair_magic: u32 = 0x52494150; // "PAIR" little-endian
if (label_list_at + label_list_max * 8 > pair_at || pair_at + 32 > label_crc_at) ERROR("label: the pair section fits");
/** This controller's identity in a pair (0: alone) and both controllers' store ids
 * (0: not known yet); set by pair/own.ts. */
let pair_me: u8 = 0;
let pair_store_a: u64 = 0;
let pair_store_b: u64 = 0;

export function label_pair_config(me: u8, store_a: u64, store_b: u64): void {
  pair_me = me;
  pair_store_a = store_a;
  pair_store_b = store_b;
}

/** After label_read: the pair section's epoch and owner (0 if the label has none). */
export function label_pair_epoch(): u32 {
  return load<u32>(label_base, pair_at) == pair_magic ? load<u32>(label_base, pair_at + 8) : 0;
}

/** Read the label block into label_base and say what it is to us (ID_NO_DISK: the disk
 * no longer answers). */
export function label_read(target: u32, label_lba: u64, store_id: u64): u8 {
  cdb_rw16(sync_cdb, OP_READ_16, label_lba, 1, false);
  let st = disk_exec_patient(target, sync_cdb, 16, label_base, block_bytes, false);
  if (st == ERR_NODEV || st == ERR_TIMEOUT) return ID_NO_DISK;
  if (st != STATUS_GOOD) return ID_UNREADABLE;
  let blank = true;
  for (let i: u32 = 0; i < block_bytes; i += 8) {
    if (load<u64>(label_base + i) != 0) { blank = false; break; }
  }
  if (blank) return ID_BLANK;
  if (load<u64>(label_base) != label_magic) return ID_FOREIGN;
  if (crc32c(label_base, label_crc_at, 0) != load<u32>(label_base + label_crc_at)) return ID_FOREIGN;
  let id = ID_OK;
  if (load<u64>(label_base, 16) != store_id) {
    // A pair's disk that the partner owns: its section names this controller's store,
    // or its owner is the partner's store (a label written before ours was known).
    if (pair_me == 0 || load<u32>(label_base, pair_at) != pair_magic) return ID_FOREIGN;
    let partner = pair_me == 1 ? pair_store_b : pair_store_a;
    let names_us = load<u64>(label_base + pair_at + (pair_me == 1 ? 16 : 24)) == store_id;
    if (!names_us && (partner == 0 || load<u64>(label_base, 16) != partner)) return ID_FOREIGN;
    id = ID_PARTNER;
  }
  if (load<u32>(label_base, 12) != target) return ID_WRONG_SLOT;
  return id;
}

/** After label_read returned ID_OK: the unreadable blocks it lists. */
export function label_list_count(): u32 {
  let n = load<u32>(label_base, 24);
  return n <= label_list_max ? n : label_list_max;
}
@inline export function label_list_lba(i: u32): u64 { return load<u64>(label_base + label_list_at + (i << 3)); }

/** Start a label in label_base (the list empty); label_list_add, then label_write. */
export function label_begin(target: u32, store_id: u64): void {
  zero(label_base, block_bytes);
  store<u64>(label_base, label_magic);
  store<u32>(label_base, label_version, 8);
  store<u32>(label_base, target, 12);
  store<u64>(label_base, store_id, 16);
  // A pair: this controller binds the disk, so it is the owner, in the LUN's epoch
  // (JBOD: LUN n is the disk at bus ID n).
  if (pair_me != 0) put_pair_section(pair_me, lun_epoch(target));
}

/** The pair section: the owner, the epoch, both stores as configured. */
function put_pair_section(owner: u8, epoch: u32): void {
  store<u32>(label_base, pair_magic, pair_at);
  store<u8>(label_base, owner, pair_at + 4);
  store<u32>(label_base, epoch, pair_at + 8);
  store<u64>(label_base, pair_store_a, pair_at + 16);
  store<u64>(label_base, pair_store_b, pair_at + 24);
}

/** After label_read: bind the disk to `store_id` (controller `owner` of the pair) in
 * `epoch`, keeping its list of unreadable blocks, and write it (a takeover, a
 * giveback). */
export function label_adopt(target: u32, label_lba: u64, store_id: u64, owner: u8, epoch: u32, resend: bool = true): i32 {
  store<u64>(label_base, label_magic);
  store<u32>(label_base, label_version, 8);
  store<u32>(label_base, target, 12);
  store<u64>(label_base, store_id, 16);
  put_pair_section(owner, epoch);
  if (label_list_count() != load<u32>(label_base, 24)) store<u32>(label_base, label_list_count(), 24);
  return label_write(target, label_lba, resend);
}

/** Add an unreadable block to the label being built; false if the list is full. */
export function label_list_add(lba: u64): bool {
  let n = load<u32>(label_base, 24);
  if (n >= label_list_max) return false;
  store<u64>(label_base + label_list_at + (n << 3), lba);
  store<u32>(label_base, n + 1, 24);
  return true;
}

/** Write the label built in label_base (durably: FUA, then a cache flush). */
/** `resend` false: a write whose outcome is unknown is not sent again (initiator.ts
 * disk_exec_patient); the caller reads the label to know. */
export function label_write(target: u32, label_lba: u64, resend: bool = true): i32 {
  store<u32>(label_base + label_crc_at, crc32c(label_base, label_crc_at, 0));
  cdb_rw16(sync_cdb, OP_WRITE_16, label_lba, 1, true);
  if (disk_exec_patient(target, sync_cdb, 16, label_base, block_bytes, true, resend) != STATUS_GOOD) return ERR_IO;
  // FUA, and a cache flush too: the label decides whether an image is replayed, so it
  // must be on the media even on a disk that treats FUA loosely.
  cdb_sync_cache10(sync_cdb, 0, 0);
  return disk_exec_patient(target, sync_cdb, 10, 0, 0, false, resend) == STATUS_GOOD ? OK : ERR_IO;
}
