// The one memory map of the firmware. Every region of linear memory is placed here
// and nowhere else; nothing is allocated after boot (the build uses --runtime stub and
// never calls it). Sizes are in bytes unless the name says otherwise.
//
// Linear memory is two WASM pages (128 KiB), the most an MCU port gives us.
//
//   0x00000 ┌──────────────────────────────┐
//           │ static    12 KiB             │ AS data segments: SECDED tables, assert
//           │                              │ strings; the CRC-32C tables (zero in the
//           │                              │ image, filled at boot) (--memoryBase 16)
//   0x03000 ├──────────────────────────────┤
//           │ state      1 KiB             │ controller state: flags, LUN table
//   0x03400 ├──────────────────────────────┤
//           │ scsi tags  32 × 64 B = 2 KiB │ device commands in flight (base/tags.ts)
//   0x03C00 ├──────────────────────────────┤
//           │ scratch    1 KiB             │ probe replies, synchronous CDB and sense
//   0x04000 ├──────────────────────────────┤
//           │ mailbox    4 × 4160 B        │ host slots: 64 B header + 4 KiB data
//   0x08100 ├──────────────────────────────┤
//           │ evictions  16 × 16 B = 256 B │ blocks that left the cache lately
//   0x08200 ├──────────────────────────────┤
//           │ wcb        64 × 16 B = 1 KiB │ write-command buffer (seed 003)
//   0x08600 ├──────────────────────────────┤
//           │ cache dir  128 × 16 B = 2 KiB│ one entry per cache block
//   0x08E00 ├──────────────────────────────┤
//           │ mirror     2 × 128 × 2 B     │ a pair: each entry's sequence numbers
//   0x09000 ├──────────────────────────────┤
//           │ cache     128 × 512 B        │ write cache data (64 KiB)
//           │                              │
//   0x19000 ├──────────────────────────────┤
//           │ nv map     64 B              │ restore: where spare EEPROM pages belong
//   0x19040 ├──────────────────────────────┤
//           │ link ring  7 × 704 B         │ messages from the partner (pair/link.ts)
//   0x1A380 ├──────────────────────────────┤
//           │ (gap)      128 B             │
//   0x1A400 ├──────────────────────────────┤
//           │ sg lists   8 × 16 × 8 B      │ destage scatter-gather lists (1 KiB)
//   0x1A800 ├──────────────────────────────┤
//           │ hash       256 B             │ cache hash buckets
//   0x1A900 ├──────────────────────────────┤
//           │ label      512 B             │ disk identity label buffer
//   0x1AB00 ├──────────────────────────────┤
//           │ nv pages   6 × 256 B         │ EEPROM buffers: save, main, read, small
//   0x1B100 ├──────────────────────────────┤
//           │ entries    128 × 16 B = 2 KiB│ restore: where each image record belongs
//   0x1B900 ├──────────────────────────────┤
//           │ lost       128 × 16 B = 2 KiB│ restore: records to mark unreadable
//   0x1C100 ├──────────────────────────────┤
//           │ unreadable 64 × 16 B = 1 KiB │ blocks the disks cannot mark (label list)
//   0x1C500 ├──────────────────────────────┤
//           │ bad pages  64 B              │ EEPROM pages that do not take writes
//   0x1C540 ├──────────────────────────────┤
//           │ array ops  8 × 32 B          │ array commands queued/running (array/)
//   0x1C640 ├──────────────────────────────┤
//           │ array list 56 × 8 B          │ array blocks that are unreadable (53 used)
//   0x1C800 ├──────────────────────────────┤
//           │ array work 8 × 512 B         │ parity and old-data buffers of an update
//   0x1D800 ├──────────────────────────────┤
//           │ member lbl 512 B             │ the array's member label buffer
//   0x1DA00 ├──────────────────────────────┤
//           │ members    8 × 8 B           │ array members: state, error counts
//   0x1DA40 ├──────────────────────────────┤
//           │ bus        64 B              │ slot → bus ID; each bus ID's last LBA
//   0x1DA80 ├──────────────────────────────┤
//           │ zero block 512 B             │ what a marked array block holds
//   0x1DC80 ├──────────────────────────────┤
//           │ pair tx    832 B             │ messages to the partner being built
//   0x1DFC0 ├──────────────────────────────┤
//           │ free       64 B              │ unassigned
//   0x1E000 ├──────────────────────────────┤
//           │ stack      8 KiB (reserved)  │ see stack_bytes
//   0x20000 └──────────────────────────────┘
//
// A test (tests/build.test.ts) checks that the regions are in order, do not overlap,
// fit in memory, and that the compiler's data segments end below static_end.
import { MB_HEADER_BYTES } from "./base/abi";

// ---- memory ----------------------------------------------------------------------

/** WASM page size, fixed by the spec. */
@inline export const wasm_page_bytes: u32 = 65536;
/** Pages of linear memory: an MCU port gives two (asconfig.json initialMemory). */
@inline export const memory_pages: u32 = 2;
@inline export const memory_bytes: u32 = memory_pages * wasm_page_bytes;

// ---- static: compiler-placed data ------------------------------------------------

/** Where asc starts its data segments (asconfig.json memoryBase). */
@inline export const static_base: u32 = 0x00010;
/** End of the region the compiler may fill; a test checks the segments stop here. */
@inline export const static_end: u32 = 0x03000;

// ---- state: controller variables -------------------------------------------------

@inline export const state_base: u32 = 0x03000;
/** Flags, counters and the LUN table (see state.ts for the fields). */
@inline export const state_bytes: u32 = 1024;

// ---- scsi tags: device-side commands ---------------------------------------------

@inline export const tags_base: u32 = 0x03400;
/** Tagged commands in flight on the device bus at once. */
@inline export const tags_max: u32 = 32;
/** One tag record: CDB, result record written by the bus, owner, deadline. */
@inline export const tag_bytes: u32 = 64;

// ---- scratch ---------------------------------------------------------------------

@inline export const scratch_base: u32 = 0x03C00;
@inline export const scratch_bytes: u32 = 1024;
/** The boot probe's replies (INQUIRY 36 B, READ CAPACITY (16) 32 B). */
@inline export const probe_reply_base: u32 = scratch_base;
@inline export const probe_reply_bytes: u32 = 64;
/** The CDB of a synchronous device command (base/initiator.ts). */
@inline export const sync_cdb_base: u32 = scratch_base + 64;
/** The sense of the last synchronous device command. */
@inline export const sync_sense_base: u32 = scratch_base + 96;
if (sync_sense_base + 32 > scratch_base + scratch_bytes) ERROR("layout: scratch parts fit");

// ---- mailbox: host adapter slots --------------------------------------------------

@inline export const mailbox_base: u32 = 0x04000;
/** Host commands in flight at once (the host's queue depth). */
@inline export const mailbox_slots: u32 = 4;
/** Slot header: LUN, CDB, status, sense, lengths (see docs/HAL.md). */
@inline export const mailbox_header_bytes: u32 = MB_HEADER_BYTES;
/** Data per slot: the largest transfer per command (Block Limits VPD). */
@inline export const mailbox_data_bytes: u32 = 4096;
@inline export const mailbox_slot_bytes: u32 = mailbox_header_bytes + mailbox_data_bytes;

// ---- eviction ring --------------------------------------------------------------------

/** The last blocks that left the cache, (LUN u32, LBA u64) in 16 bytes: a disk read
 * that lays cached blocks over its data checks none of its blocks left meanwhile. */
@inline export const evict_ring_base: u32 = 0x08100;
@inline export const evict_ring_len: u32 = 16;
@inline export const evict_ring_entry_bytes: u32 = 16;

// ---- write-command buffer (seed 003) ---------------------------------------------

@inline export const wcb_base: u32 = 0x08200;
/** Pending writes recorded at once (location + length each). */
@inline export const wcb_slots_max: u32 = 64;
@inline export const wcb_slot_bytes: u32 = 16;

// ---- cache -----------------------------------------------------------------------

@inline export const cache_dir_base: u32 = 0x08600;
/** Cache blocks: 64 KiB of data, more than the default hold-up can save. */
@inline export const cache_blocks_max: u32 = 128;
@inline export const cache_dir_entry_bytes: u32 = 16;

/** A pair's mirror table (pair/mirror.ts, cache/cache.ts): per cache entry the u16
 * sequence number of its last write (a MIRROR entry: of the partner's copy it holds),
 * then per entry the last one the partner confirmed. */
@inline export const mirror_seq_base: u32 = 0x08E00;
@inline export const mirror_ack_base: u32 = mirror_seq_base + cache_blocks_max * 2;
@inline export const mirror_table_bytes: u32 = cache_blocks_max * 4;

@inline export const cache_data_base: u32 = 0x09000;
/** Cache block size equals the disks' logical block size. */
@inline export const block_bytes: u32 = 512;

// ---- NV (EEPROM) restore map --------------------------------------------------------

@inline export const nvmap_base: u32 = 0x19000;
/** EEPROM pages the bad-page map covers (a 25LC1024 has 512 of 256 bytes). */
@inline export const nv_pages_max: u32 = 512;
/** Per spare page: the logical page of the image being restored that it holds (u16,
 * 0xFFFF: none), read once, when the restore first finds a page away from home.
 * 0x19040 onwards is the link ring's. */
@inline export const nvmap_spares_max: u32 = 32;
@inline export const nvmap_entry_bytes: u32 = 2;
@inline export const nvmap_bytes: u32 = nvmap_spares_max * nvmap_entry_bytes;

// ---- the pair's receive ring (seed 002) ----------------------------------------------

/** Messages from the partner controller over either link: the board writes each into
 * the next free slot and raises irq_link (docs/HAL.md "Links"). Slot: @0 full u8 (board
 * sets, firmware clears), @1 link u8, @2 length u16, @16 the message. */
@inline export const link_ring_base: u32 = 0x19040;
/** Seven slots: a window of mirrored blocks (pair/mirror.ts window_max) and the
 * heartbeats of both links. A slot holds a block's MIRROR message (560 bytes). */
@inline export const link_ring_slots: u32 = 7;
@inline export const link_slot_bytes: u32 = 704;
@inline export const link_slot_header_bytes: u32 = 16;
@inline export const link_msg_max: u32 = link_slot_bytes - link_slot_header_bytes;

// ---- destage scatter-gather lists -------------------------------------------------

@inline export const sg_base: u32 = 0x1A400;
/** Destage commands in flight at once: one per LUN (state.ts luns_max). */
@inline export const destage_tags_max: u32 = 8;
/** Blocks merged into one destage command (its scatter-gather entries). */
@inline export const destage_blocks_max: u32 = 16;
@inline export const sg_entry_bytes: u32 = 8;

// ---- cache hash -------------------------------------------------------------------

@inline export const hash_base: u32 = 0x1A800;
/** Hash buckets of the cache directory: u8 head index each, 0xFF empty. */
@inline export const hash_buckets: u32 = 256;

// ---- disk label buffer ---------------------------------------------------------------

@inline export const label_base: u32 = 0x1A900;

// ---- EEPROM page buffers ---------------------------------------------------------------

@inline export const nvbuf_base: u32 = 0x1AB00;
@inline export const nvbuf_count: u32 = 6;
@inline export const nv_page_bytes: u32 = 256;
// One set per context, since the save may preempt the main loop while it waits for
// a write cycle of its own:
/** The save's page being written, and its read-back. */
@inline export const nv_isr_page: u32 = nvbuf_base;
@inline export const nv_isr_verify: u32 = nvbuf_base + 256;
/** The main loop's page being written (state record, probe), and its read-back. */
@inline export const nv_main_page: u32 = nvbuf_base + 512;
@inline export const nv_main_verify: u32 = nvbuf_base + 768;
/** A page the main loop reads (the restore). */
@inline export const nv_read_page: u32 = nvbuf_base + 1024;
/** 4-byte SPI command and ≤ 48 bytes of record pieces, the save's then the main loop's. */
@inline export const nv_isr_cmd: u32 = nvbuf_base + 1280;
@inline export const nv_isr_rec: u32 = nvbuf_base + 1288;
@inline export const nv_main_cmd: u32 = nvbuf_base + 1344;
@inline export const nv_main_rec: u32 = nvbuf_base + 1352;
/** The store id and the generation, to seed image pages' CRC. */
@inline export const nv_seed_buf: u32 = nvbuf_base + 1424;
if (nv_seed_buf + 12 > nvbuf_base + nvbuf_count * nv_page_bytes) ERROR("layout: nv buffers fit");

// ---- restore tables -------------------------------------------------------------------

/** The image's records: (LUN u32, LBA u64, state u8) in 16 bytes, one per cache
 * block an image can hold; read once, before the data records (nv.ts). */
@inline export const entries_base: u32 = 0x1B100;
@inline export const entry_rec_bytes: u32 = 16;
/** Records of the restored image that could not be read: (LUN, LBA, marked) in 16
 * bytes; each is made unreadable on its disk before the image is retired. */
@inline export const lost_base: u32 = 0x1B900;
@inline export const lost_rec_bytes: u32 = 16;
@inline export const lost_max: u32 = cache_blocks_max;

// ---- unreadable list -------------------------------------------------------------------

/** Blocks whose disk cannot mark them unreadable (no WRITE LONG): (LUN u8, used u8,
 * LBA u64) in 16 bytes; the disk's label keeps its own (nv/unreadable.ts). */
@inline export const unreadable_base: u32 = 0x1C100;
@inline export const unreadable_max: u32 = 64;
@inline export const unreadable_rec_bytes: u32 = 16;

// ---- bad EEPROM pages -------------------------------------------------------------------

/** One bit per EEPROM page the map can index: set if the page does not take writes. */
@inline export const bad_pages_base: u32 = 0x1C500;
@inline export const bad_pages_bytes: u32 = nv_pages_max / 8;

// ---- array (seed 003) ----------------------------------------------------------------

/** Commands to the array (a host read, a destage, a synchronous command) queued or
 * running; one runs at a time (array/array.ts). */
@inline export const array_ops_base: u32 = 0x1C540;
@inline export const array_ops_max: u32 = 8;
@inline export const array_op_bytes: u32 = 32;
/** Array blocks that cannot be given back (torn records, marked blocks): array LBA
 * u64 each; the member labels keep the same list (array/member_label.ts). */
@inline export const array_list_base: u32 = 0x1C640;
@inline export const array_list_max: u32 = 53;
/** An update's buffers: per row of the update, its data blocks as read (old data or
 * the rest of the row) and its parity (array/array.ts). */
@inline export const array_work_base: u32 = 0x1C800;
@inline export const array_work_blocks: u32 = 8;
/** A member label being read or written. */
@inline export const member_label_base: u32 = 0x1D800;

/** Per array member (bus ID): state u8, time-outs in a row u8, errors in a row u8. */
@inline export const array_members_base: u32 = 0x1DA00;
@inline export const array_member_bytes: u32 = 8;
@inline export const array_members_room: u32 = 8;

/** The array's bus: @0 the bus ID of each slot u8 × 8, @16 each bus ID's last LBA
 * u32 × 8 (found at assembly: where member labels go, and the spares' sizes). */
@inline export const array_bus_base: u32 = 0x1DA40;
@inline export const array_bus_bytes: u32 = 64;
/** A block of zeros: the pattern an array block gets when it is marked unreadable
 * (its row's parity counts it as zeros). Zeroed at boot, never written. */
@inline export const array_zero_base: u32 = 0x1DA80;

// ---- the pair's outgoing messages ---------------------------------------------------

/** Messages to the partner being built: the timer handler's (a heartbeat) at +0, the
 * main loop's at +64 (pair/: confirmations), a block's mirror at +256 (pair/mirror.ts:
 * 32 bytes of header and body, then the block). */
@inline export const pair_tx_base: u32 = 0x1DC80;
@inline export const pair_tx_bytes: u32 = 832;
@inline export const pair_tx_irq: u32 = pair_tx_base;
@inline export const pair_tx_main: u32 = pair_tx_base + 64;
@inline export const pair_tx_main_bytes: u32 = 192;
@inline export const pair_tx_mirror: u32 = pair_tx_base + 256;
@inline export const pair_tx_mirror_bytes: u32 = 576;
if (pair_tx_mirror + pair_tx_mirror_bytes > pair_tx_base + pair_tx_bytes) ERROR("layout: the mirror message fits pair tx");

// ---- free ------------------------------------------------------------------------

@inline export const free_base: u32 = 0x1DFC0;
@inline export const free_bytes: u32 = 0x00040;

// ---- stack -----------------------------------------------------------------------

/** Reserved for a shadow stack. With --runtime stub asc emits none (stackSize 0) and
 * locals live on the WASM runtime's own operand stack, outside linear memory; the
 * region is kept free so that a build with --stackSize 8192 still fits. */
@inline export const stack_base: u32 = 0x1E000;
@inline export const stack_bytes: u32 = 8192;

// ---- build-time checks: regions in order, no overlap, inside memory -----------------

if (static_base >= static_end) ERROR("layout: static region empty");
if (static_end > state_base) ERROR("layout: static overlaps state");
if (state_base + state_bytes > tags_base) ERROR("layout: state overlaps tags");
if (tags_base + tags_max * tag_bytes > scratch_base) ERROR("layout: tags overlap scratch");
if (scratch_base + scratch_bytes > mailbox_base) ERROR("layout: scratch overlaps mailbox");
if (mailbox_base + mailbox_slots * mailbox_slot_bytes > evict_ring_base) ERROR("layout: mailbox overlaps the eviction ring");
if (evict_ring_base + evict_ring_len * evict_ring_entry_bytes > wcb_base) ERROR("layout: eviction ring overlaps wcb");
if (wcb_base + wcb_slots_max * wcb_slot_bytes > cache_dir_base) ERROR("layout: wcb overlaps cache dir");
if (cache_dir_base + cache_blocks_max * cache_dir_entry_bytes > mirror_seq_base) ERROR("layout: cache dir overlaps the mirror table");
if (mirror_seq_base + mirror_table_bytes > cache_data_base) ERROR("layout: the mirror table overlaps cache");
if (cache_data_base + cache_blocks_max * block_bytes > nvmap_base) ERROR("layout: cache overlaps nv map");
if (nvmap_base + nvmap_bytes > link_ring_base) ERROR("layout: nv map overlaps the link ring");
if (link_ring_base + link_ring_slots * link_slot_bytes > sg_base) ERROR("layout: the link ring overlaps sg lists");
if (sg_base + destage_tags_max * destage_blocks_max * sg_entry_bytes > hash_base) ERROR("layout: sg overlaps hash");
if (hash_base + hash_buckets > label_base) ERROR("layout: hash overlaps label");
if (label_base + block_bytes > nvbuf_base) ERROR("layout: label overlaps nv buffers");
if (nvbuf_base + nvbuf_count * nv_page_bytes > entries_base) ERROR("layout: nv buffers overlap entries");
if (entries_base + cache_blocks_max * entry_rec_bytes > lost_base) ERROR("layout: entries overlap lost");
if (lost_base + lost_max * lost_rec_bytes > unreadable_base) ERROR("layout: lost overlaps unreadable");
if (unreadable_base + unreadable_max * unreadable_rec_bytes > bad_pages_base) ERROR("layout: unreadable overlaps bad pages");
if (bad_pages_base + bad_pages_bytes > array_ops_base) ERROR("layout: bad pages overlap array ops");
if (array_ops_base + array_ops_max * array_op_bytes > array_list_base) ERROR("layout: array ops overlap the array list");
if (array_list_base + array_list_max * 8 > array_work_base) ERROR("layout: array list overlaps array work");
if (array_work_base + array_work_blocks * block_bytes > member_label_base) ERROR("layout: array work overlaps member label");
if (member_label_base + block_bytes > array_members_base) ERROR("layout: member label overlaps members");
if (array_members_base + array_members_room * array_member_bytes > array_bus_base) ERROR("layout: members overlap the bus table");
if (array_bus_base + array_bus_bytes > array_zero_base) ERROR("layout: the bus table overlaps the zero block");
if (array_zero_base + block_bytes > pair_tx_base) ERROR("layout: the zero block overlaps pair tx");
if (pair_tx_base + pair_tx_bytes > free_base) ERROR("layout: pair tx overlaps free");
if (cache_blocks_max > 255) ERROR("layout: cache indices are u8 (0xFF = none)");
if (free_base + free_bytes > stack_base) ERROR("layout: free overlaps stack");
if (stack_base + stack_bytes > memory_bytes) ERROR("layout: stack past the end of memory");
if ((mailbox_data_bytes % block_bytes) != 0) ERROR("layout: mailbox data holds whole blocks");
if (mailbox_slots > 8) ERROR("layout: state.ts keeps 8 slot flags");

// ---- the map as data, for the build-time check -------------------------------------

/** Regions in address order as (base, bytes) pairs; exported so that the host test
 * can check order, overlap and bounds against the compiled module itself. */
/** (base, bytes) of each region, in address order (a static table: the switch it was
 * cost 550 bytes of code). */
const layout_regions: usize = memory.data<u32>([
  static_base, static_end - static_base,
  state_base, state_bytes,
  tags_base, tags_max * tag_bytes,
  scratch_base, scratch_bytes,
  mailbox_base, mailbox_slots * mailbox_slot_bytes,
  evict_ring_base, evict_ring_len * evict_ring_entry_bytes,
  wcb_base, wcb_slots_max * wcb_slot_bytes,
  cache_dir_base, cache_blocks_max * cache_dir_entry_bytes,
  mirror_seq_base, mirror_table_bytes,
  cache_data_base, cache_blocks_max * block_bytes,
  nvmap_base, nvmap_bytes,
  link_ring_base, link_ring_slots * link_slot_bytes,
  sg_base, destage_tags_max * destage_blocks_max * sg_entry_bytes,
  hash_base, hash_buckets,
  label_base, block_bytes,
  nvbuf_base, nvbuf_count * nv_page_bytes,
  entries_base, cache_blocks_max * entry_rec_bytes,
  lost_base, lost_max * lost_rec_bytes,
  unreadable_base, unreadable_max * unreadable_rec_bytes,
  bad_pages_base, bad_pages_bytes,
  array_ops_base, array_ops_max * array_op_bytes,
  array_list_base, array_list_max * 8,
  array_work_base, array_work_blocks * block_bytes,
  member_label_base, block_bytes,
  array_members_base, array_members_room * array_member_bytes,
  array_bus_base, array_bus_bytes,
  array_zero_base, block_bytes,
  pair_tx_base, pair_tx_bytes,
  free_base, free_bytes,
  stack_base, stack_bytes
]);

export function layout_region_count(): i32 {
  return 30;
}

export function layout_region_base(i: i32): u32 {
  return <u32>i < 30 ? load<u32>(layout_regions + (<usize>i << 3)) : 0;
}

export function layout_region_bytes(i: i32): u32 {
  return <u32>i < 30 ? load<u32>(layout_regions + (<usize>i << 3), 4) : 0;
}
