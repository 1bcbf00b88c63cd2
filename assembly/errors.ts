// Errors are values: a small set of negative i32 codes (littlefs's LFS_ERR_*).
// 0 is success; a positive return is a count or a value.

@inline export const OK: i32 = 0;
/** A device did not answer or answered with an error we cannot use. */
@inline export const ERR_IO: i32 = -5;
/** Data failed its CRC or ECC: take the recovery path. */
@inline export const ERR_CORRUPT: i32 = -84;
/** SECDED saw two or more flipped bits in one word. */
@inline export const ERR_UNCORRECTABLE: i32 = -85;
/** An argument is out of range (a bad field from the host or a device). */
@inline export const ERR_INVAL: i32 = -22;
/** No free slot, tag or cache block now: try again later. */
@inline export const ERR_BUSY: i32 = -16;
/** A bounded wait ran out. */
@inline export const ERR_TIMEOUT: i32 = -110;
/** No such device. */
@inline export const ERR_NODEV: i32 = -19;

// Log codes for hal_log (the emulator prints them by name: host/firmware.ts).
@inline export const LOG_BOOT: i32 = 1;
@inline export const LOG_DISK_FOUND: i32 = 2;
@inline export const LOG_DISK_SKIPPED: i32 = 3;
@inline export const LOG_READY: i32 = 4;
@inline export const LOG_PFAIL: i32 = 5;
@inline export const LOG_DISK_ERROR: i32 = 6;
@inline export const LOG_DISK_TIMEOUT: i32 = 7;
@inline export const LOG_POWER_BACK: i32 = 8;
@inline export const LOG_SAVE_START: i32 = 9;
@inline export const LOG_SAVE_DONE: i32 = 10;
@inline export const LOG_SAVE_PAGE_MOVED: i32 = 11;
@inline export const LOG_SAVE_ABORTED: i32 = 12;
@inline export const LOG_RESTORE_FOUND: i32 = 13;
@inline export const LOG_RESTORE_LOADED: i32 = 14;
@inline export const LOG_RESTORE_DONE: i32 = 15;
@inline export const LOG_RECORD_LOST: i32 = 16;
@inline export const LOG_IDENTITY: i32 = 17;
@inline export const LOG_IMAGE_PENDING: i32 = 18;
@inline export const LOG_LEARN: i32 = 19;
@inline export const LOG_BUDGET: i32 = 20;
@inline export const LOG_RETIRED: i32 = 21;
@inline export const LOG_BOUND: i32 = 22;
@inline export const LOG_EEPROM_MEASURED: i32 = 23;
@inline export const LOG_IMAGE_DISCARDED: i32 = 24;
@inline export const LOG_ARMED: i32 = 25;
@inline export const LOG_SCAN_DONE: i32 = 26;
@inline export const LOG_LOAD_START: i32 = 27;
