// Fencing on the shared disks with SCSI-3 persistent reservations (SPC-4 5.13), the way
// Linux fence_scsi does it: each controller registers its key on every disk (APTPL, so
// the keys outlive a disk's power loss), the owner of a disk holds a WRITE EXCLUSIVE –
// REGISTRANTS ONLY reservation, and a controller that takes over PREEMPT AND ABORTs its
// partner's key: from then on the partner's writes fail with RESERVATION CONFLICT and
// its queued commands are gone. All synchronous (main loop), each bounded by the
// initiator's deadlines.
import { OP_PR_IN, OP_PR_OUT, PR_OUT_REGISTER_AND_IGNORE, PR_OUT_RESERVE, PR_OUT_PREEMPT_AND_ABORT, PR_TYPE_WE_RO } from "../base/scsi";
import { zero, put_be32 } from "../base/scsi";
import { disk_exec_patient, sync_cdb } from "../base/initiator";
import { pair_tx_main } from "../layout";

/** Each controller's reservation key: "HOLD" and its identity. */
@inline export function pair_key(identity: u8): u64 { return 0x484f4c4400000000 | <u64>identity; }

/** The PR OUT parameter list and the PR IN data (pair_tx_main's room, layout.ts). */
@inline const param_buf: usize = pair_tx_main + 128;
@inline const keys_buf: usize = pair_tx_main + 64;
@inline const keys_buf_bytes: u32 = 64;

@inline function put_be64(p: usize, v: u64): void {
  put_be32(p, <u32>(v >> 32));
  put_be32(p + 4, <u32>v);
}
@inline function be64_at(p: usize): u64 {
  let v: u64 = 0;
  for (let i: u32 = 0; i < 8; i++) v = (v << 8) | <u64>load<u8>(p + i);
  return v;
}

/** PERSISTENT RESERVE OUT: the SCSI status, or a negative error (initiator.ts). */
function pr_out(target: u32, sa: u8, key: u64, sa_key: u64): i32 {
  zero(param_buf, 24);
  put_be64(param_buf, key);
  put_be64(param_buf + 8, sa_key);
  store<u8>(param_buf, 0x01, 20); // APTPL
  zero(sync_cdb, 16);
  store<u8>(sync_cdb, OP_PR_OUT);
  store<u8>(sync_cdb, sa, 1);
  store<u8>(sync_cdb, PR_TYPE_WE_RO, 2); // scope 0 (the LU)
  store<u8>(sync_cdb, 24, 8);
  return disk_exec_patient(target, sync_cdb, 10, param_buf, 24, true);
}

/** Register `key` (REGISTER AND IGNORE EXISTING KEY). */
export function pr_register(target: u32, key: u64): i32 { return pr_out(target, PR_OUT_REGISTER_AND_IGNORE, 0, key); }
/** Hold WRITE EXCLUSIVE – REGISTRANTS ONLY with `key`. */
export function pr_reserve(target: u32, key: u64): i32 { return pr_out(target, PR_OUT_RESERVE, key, 0); }
/** Remove `victim`'s registration (and abort its commands), taking its reservation. */
export function pr_preempt(target: u32, key: u64, victim: u64): i32 { return pr_out(target, PR_OUT_PREEMPT_AND_ABORT, key, victim); }

@inline export const KEYS_MINE: u32 = 1;
@inline export const KEYS_PARTNER: u32 = 2;

/** READ KEYS: KEYS_MINE | KEYS_PARTNER for the keys registered, or a negative error. */
export function pr_read_keys(target: u32, mine: u64, partner: u64): i32 {
  zero(sync_cdb, 16);
  store<u8>(sync_cdb, OP_PR_IN);
  store<u8>(sync_cdb, 0, 1); // READ KEYS
  store<u8>(sync_cdb, <u8>keys_buf_bytes, 8);
  zero(keys_buf, keys_buf_bytes);
  let st = disk_exec_patient(target, sync_cdb, 10, keys_buf, keys_buf_bytes, false);
  if (st != 0) return st < 0 ? st : -5;
  let bytes = (<u32>load<u8>(keys_buf, 6) << 8) | load<u8>(keys_buf, 7);
  if (bytes > keys_buf_bytes - 8) bytes = keys_buf_bytes - 8;
  let found: i32 = 0;
  for (let at: u32 = 0; at + 8 <= bytes; at += 8) {
    let k = be64_at(keys_buf + 8 + at);
    if (k == mine) found |= KEYS_MINE;
    if (k == partner) found |= KEYS_PARTNER;
  }
  return found;
}
