// The director's board file (docs/DIRECTOR.md "The installation"): where its devices
// are on its device bus and in the changer, and the SCSI opcodes it uses.

/** Device bus IDs: the drive the director starts on, the changer, the caching disk,
 * the spare drive (zoned to the director on the switch from the start). */
@inline export const T_PRIMARY: i32 = 0;
@inline export const T_CHANGER: i32 = 1;
@inline export const T_CACHE: i32 = 2;
@inline export const T_SPARE: i32 = 3;
/** The changer's element addresses of the robot, the drive the server knows (its
 * drive element, whichever drive is behind it), the spare drive, and the director's
 * spare tape (the last storage slot); a damaged tape goes to the import/export slot. */
@inline export const ELEM_TRANSPORT: u32 = 0x0000;
@inline export const ELEM_IMPORT_EXPORT: u32 = 0x0010;
@inline export const ELEM_SERVER_DRIVE: u32 = 0x0100;
@inline export const ELEM_SPARE: u32 = 0x0102;
@inline export const ELEM_SPARE_TAPE: u32 = 0x100f;

@inline export const BLOCK: u32 = 512;
/** What a server may write after it is told of early warning, before it changes the
 * tape: the LTO drive's own early-warning distance (the tape model's, docs/DIRECTOR.md
 * "Tape drive"), so a server used to the drive's warning has the same room after the
 * director's. */
@inline export const EW_RESERVE_BYTES: u32 = 2 * 1024 * 1024;
/** The caching disk: blocks 0 and 1 the director's state (state.ts), the image's ring
 * from block 2 to the end. */
@inline export const CACHE_STATE_LBA: u64 = 0;
@inline export const CACHE_RING_START: u64 = 2;
/** Barcodes (volume tags): 32 bytes in an element descriptor, from byte 12. */
@inline export const VOLTAG_BYTES: u32 = 32;

// SSC, SMC and SBC opcodes the director uses.
@inline export const OP_TEST_UNIT_READY: u8 = 0x00;
@inline export const OP_REWIND: u8 = 0x01;
@inline export const OP_READ_BLOCK_LIMITS: u8 = 0x05;
@inline export const OP_READ_6: u8 = 0x08;
@inline export const OP_WRITE_6: u8 = 0x0a;
@inline export const OP_WRITE_FILEMARKS_6: u8 = 0x10;
@inline export const OP_SPACE_6: u8 = 0x11;
@inline export const OP_INQUIRY: u8 = 0x12;
@inline export const OP_MODE_SELECT_6: u8 = 0x15;
@inline export const OP_LOAD_UNLOAD: u8 = 0x1b;
@inline export const OP_READ_CAPACITY_10: u8 = 0x25;
@inline export const OP_LOCATE_10: u8 = 0x2b;
@inline export const OP_READ_POSITION: u8 = 0x34;
@inline export const OP_SYNCHRONIZE_CACHE_10: u8 = 0x35;
@inline export const OP_READ_16: u8 = 0x88;
@inline export const OP_WRITE_16: u8 = 0x8a;
@inline export const OP_MOVE_MEDIUM: u8 = 0xa5;
@inline export const OP_READ_ELEMENT_STATUS: u8 = 0xb8;
