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

/** The device does not have that command (ILLEGAL REQUEST, INVALID OPCODE). */
@inline export const ERR_UNSUPPORTED: i32 = -95;
/** Not now: a state write found a power event in its way and stopped. */
@inline export const ERR_INTERRUPTED: i32 = -4;

// Log codes are in abi.ts (generated from abi/abi.json, with their names).
export * from "./abi";
