// The target's name and the session parameters it negotiates (RFC 7143 §13).

export const TARGET_IQN = "iqn.2026-11.dev.holdup:controller";
/** What we receive in one data segment, and what an initiator may send unsolicited or
 * per R2T (bytes). The board's mailbox takes 4 KiB a command; larger transfers go to it
 * in pieces (blocks.ts), so these only bound the connection's buffers. */
export const MAX_RECV_DATA = 65536;
export const MAX_BURST = 262144;
export const FIRST_BURST = 65536;
/** Commands a session may have outstanding (MaxCmdSN − ExpCmdSN + 1). */
export const CMD_WINDOW = 32;
/** The largest transfer the target buffers for one command. */
export const MAX_TRANSFER = 1 << 20;

