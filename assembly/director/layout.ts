// The director's memory map (build/director.wasm; docs/DIRECTOR.md). Two 64 KiB pages,
// like the controller's; every buffer is here and nowhere else.
//
//   0x00000 .. 0x03FFF   the compiler's static data (string literals, tables)
//   0x04000 .. 0x080FF   mailbox: 4 slots × (64 B header + 4 KiB data), the backup
//                        server's commands (docs/HAL.md "Mailbox")
//   0x08200 .. 0x0847F   device-bus tags: 10 × (16 B CDB, 32 B result, 16 B spare):
//                        per slot one for the drive and one for the caching disk,
//                        the write-behind's, and the director's own
//   0x08600 .. 0x087FF   a 512-byte buffer for the director's own device commands
//   0x08800 .. 0x08809   the real drive's serial number (VPD 80h, 10 bytes)
//   0x08A00 .. 0x091FF   per slot: the cache record's header block (512 B) and its
//                        scatter-gather list (2 entries, 16 B) at 0x09200 + 16·slot
//   0x09400 .. 0x0B3FF   the index of the newest image records: 512 × 16 B (object,
//                        caching-disk block, bytes, kind, count), for a failover's
//                        replay of what a failed drive's buffer lost
//   0x0B400 .. 0x0C3FF   the replay buffer: one block read back from the caching disk
//   0x0C400 .. 0x1C3FF   the write-behind ring: 16 blocks of 4 KiB acknowledged to the
//                        server and not yet taken by the drive (behind.ts)
//   0x1C400 .. 0x1C43F   their lengths: 16 × u32
//   0x1C600 .. 0x1C7FF   the state block being written or read (state.ts)
//   0x1C800 .. 0x1FFFF   the read-back window: 28 blocks of the caching disk at a time
//                        (a replay's records, three or more a read: image.ts)
import { MB_HEADER_BYTES } from "../base/abi";

@inline export const static_end: u32 = 0x04000;

@inline export const mailbox_base: u32 = 0x04000;
@inline export const mailbox_slots: u32 = 4;
@inline export const mailbox_header_bytes: u32 = MB_HEADER_BYTES;
@inline export const mailbox_data_bytes: u32 = 4096;
@inline export const mailbox_slot_bytes: u32 = mailbox_header_bytes + mailbox_data_bytes;
/** Mailbox slot s's address. */
@inline export function slot_at(s: u32): usize { return mailbox_base + s * mailbox_slot_bytes; }

@inline export const tags_base: u32 = 0x08200;
@inline export const tags_max: u32 = 10;
@inline export const tag_bytes: u32 = 64;
@inline export const tag_cdb_at: u32 = 0;
@inline export const tag_result_at: u32 = 16;

@inline export const own_buf: u32 = 0x08600;
@inline export const own_buf_bytes: u32 = 512;
@inline export const drive_serial_base: u32 = 0x08800;
@inline export const drive_serial_bytes: u32 = 10;

@inline export const cache_hdr_base: u32 = 0x08A00;
@inline export const cache_sg_base: u32 = 0x09200;

@inline export const index_base: u32 = 0x09400;
@inline export const index_entries: u32 = 512;
@inline export const index_entry_bytes: u32 = 16;
@inline export const replay_buf: u32 = 0x0B400;
@inline export const replay_buf_bytes: u32 = 4096;

@inline export const stage_base: u32 = 0x0C400;
@inline export const stage_entries: u32 = 16;
@inline export const stage_entry_bytes: u32 = 4096;
@inline export const stage_len_base: u32 = 0x1C400;

@inline export const state_buf: u32 = 0x1C600;
@inline export const scan_buf: u32 = 0x1C800;
@inline export const scan_buf_blocks: u32 = 28;

@inline export const memory_bytes: u32 = 2 * 65536;

if (mailbox_base < static_end) ERROR("director layout: mailbox over static data");
if (mailbox_base + mailbox_slots * mailbox_slot_bytes > tags_base) ERROR("director layout: mailbox overlaps tags");
if (tags_base + tags_max * tag_bytes > own_buf) ERROR("director layout: tags overlap the own buffer");
if (own_buf + own_buf_bytes > drive_serial_base) ERROR("director layout: own buffer overlaps the serial");
if (drive_serial_base + drive_serial_bytes > cache_hdr_base) ERROR("director layout: serial overlaps the cache headers");
if (cache_hdr_base + mailbox_slots * 512 > cache_sg_base) ERROR("director layout: cache headers overlap their lists");
if (cache_sg_base + mailbox_slots * 16 > index_base) ERROR("director layout: cache lists overlap the index");
if (index_base + index_entries * index_entry_bytes > replay_buf) ERROR("director layout: index overlaps the replay buffer");
if (replay_buf + replay_buf_bytes > stage_base) ERROR("director layout: replay buffer overlaps the ring");
if (stage_base + stage_entries * stage_entry_bytes > stage_len_base) ERROR("director layout: ring overlaps its lengths");
if (stage_len_base + stage_entries * 4 > state_buf) ERROR("director layout: ring lengths overlap the state block");
if (state_buf + 512 > scan_buf) ERROR("director layout: the state block overlaps the window");
if (scan_buf + scan_buf_blocks * 512 > memory_bytes) ERROR("director layout: past memory");
if (scan_buf_blocks < 1 + mailbox_data_bytes / 512) ERROR("director layout: the window holds a record");
if (stage_entry_bytes < mailbox_data_bytes) ERROR("director layout: a ring entry holds a record");
if (replay_buf_bytes < mailbox_data_bytes) ERROR("director layout: the replay buffer holds a record");
