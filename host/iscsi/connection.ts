// One iSCSI connection of holdup serve (RFC 7143): its login, sequence numbers, and
// the PDUs of the full feature phase. A session has one connection (MaxConnections 1).

import type { Socket } from "node:net";
import { OP, REJECT, RESERVED_TAG, Pdu, build, splitPdus, parseText, textData, opcode, immediate, itt, lunOf, putLun } from "./pdu.js";
import type { Outcome } from "./blocks.js";
import { TARGET_IQN, MAX_RECV_DATA, MAX_BURST, FIRST_BURST, CMD_WINDOW, MAX_TRANSFER } from "./params.js";
import type { IscsiTarget } from "./target.js";

interface Task {
  itt: number;
  lun: number;
  cdb: Buffer;
  read: boolean;
  write: boolean;
  edtl: number;
  data: Buffer;
  received: number;
  ttt: number;
  r2tsn: number;
  /** R2Ts sent and not yet filled. */
  outstanding: number;
  cmdsn: number;
}

export class Connection {
  private buf: Buffer = Buffer.alloc(0);
  private phase: "login" | "full" = "login";
  private discovery = false;
  private statSN = 0;
  private expCmdSN = 0;
  private tsih = 0;
  private maxSendData = 8192; // the initiator's MaxRecvDataSegmentLength
  private immediateData = true;
  private initialR2T = true;
  private firstBurst = FIRST_BURST;
  private maxBurst = MAX_BURST;
  private readonly tasks = new Map<number, Task>();
  private nextTtt = 1;
  private closed = false;

  constructor(private readonly t: IscsiTarget, private readonly s: Socket, private readonly log: (l: string) => void) {
    s.on("data", (d) => this.onData(d));
    s.on("error", () => this.drop());
    s.on("close", () => { this.closed = true; });
  }

  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.s.destroy();
  }

  private write(b: Buffer): void { if (!this.closed) this.s.write(b); }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const r = splitPdus(this.buf, MAX_RECV_DATA);
    if (!r) { this.log("iscsi: a data segment over MaxRecvDataSegmentLength: connection dropped"); this.drop(); return; }
    this.buf = Buffer.from(r.rest);
    for (const p of r.pdus) {
      if (this.closed) return;
      try { this.onPdu(p); } catch (e) { this.log(`iscsi: ${(e as Error).message}: connection dropped`); this.drop(); }
    }
  }

  // ---- sequence numbers (§4.2.2) ------------------------------------------------------

  /** Fill StatSN (advancing it if `advance`), ExpCmdSN, MaxCmdSN at their usual places. */
  private sn(bhs: Buffer, advance: boolean): void {
    bhs.writeUInt32BE(this.statSN >>> 0, 24);
    if (advance) this.statSN = (this.statSN + 1) >>> 0;
    bhs.writeUInt32BE(this.expCmdSN >>> 0, 28);
    bhs.writeUInt32BE((this.expCmdSN + CMD_WINDOW - 1) >>> 0, 32);
  }

  /** A non-immediate command's CmdSN: in order, or outside the window (dropped). */
  private acceptCmdSN(p: Pdu): boolean {
    if (immediate(p)) return true;
    const cmdsn = p.bhs.readUInt32BE(24);
    const d = (cmdsn - this.expCmdSN) | 0;
    if (d < 0 || d >= CMD_WINDOW) {
      this.log(`iscsi: CmdSN ${cmdsn} outside [${this.expCmdSN}, +${CMD_WINDOW}): ignored (§4.2.2.1)`);
      return false;
    }
    if (d === 0) this.expCmdSN = (this.expCmdSN + 1) >>> 0;
    return true;
  }

  private reject(p: Pdu, reason: number): void {
    this.write(build(OP.REJECT, (h) => {
      h[1] = 0x80; h[2] = reason;
      h.writeUInt32BE(RESERVED_TAG, 16);
      this.sn(h, true);
    }, Buffer.from(p.bhs)));
  }

  private onPdu(p: Pdu): void {
    const op = opcode(p);
    if (this.phase === "login") {
      if (op !== OP.LOGIN_REQ) { this.log(`iscsi: opcode ${op} before login: connection dropped`); this.drop(); return; }
      this.login(p);
      return;
    }
    switch (op) {
      case OP.NOP_OUT: this.nop(p); return;
      case OP.SCSI_CMD: this.scsi(p); return;
      case OP.DATA_OUT: this.dataOut(p); return;
      case OP.TEXT_REQ: this.text(p); return;
      case OP.TMF_REQ: this.tmf(p); return;
      case OP.LOGOUT_REQ: this.logout(p); return;
      case OP.LOGIN_REQ: this.reject(p, REJECT.PROTOCOL_ERROR); return;
      default: this.reject(p, REJECT.NOT_SUPPORTED);
    }
  }

  // ---- login (§6.3, §13) -------------------------------------------------------------

  private login(p: Pdu): void {
    const b = p.bhs;
    const transit = (b[1] & 0x80) !== 0;
    const csg = (b[1] >> 2) & 3, nsg = b[1] & 3;
    const keys = parseText(p.data);
    this.expCmdSN = b.readUInt32BE(24);
    const status = (cls: number, detail: number, kvs: Array<[string, string]>, t: boolean, next: number) => {
      this.write(build(OP.LOGIN_RSP, (h) => {
        h[1] = (t ? 0x80 : 0) | (csg << 2) | (t ? next : 0);
        h[2] = 0; h[3] = 0;
        b.copy(h, 8, 8, 14); // ISID
        h.writeUInt16BE(this.tsih, 14);
        h.writeUInt32BE(itt(p), 16);
        this.sn(h, true);
        h[36] = cls; h[37] = detail;
      }, textData(kvs)));
    };
    if (keys.has("SessionType")) this.discovery = keys.get("SessionType") === "Discovery";
    const target = keys.get("TargetName");
    if (!this.discovery && csg === 0 || keys.has("TargetName")) {
      if (!this.discovery && target !== undefined && target !== TARGET_IQN) {
        status(0x02, 0x03, [], false, 0); // initiator error: not found
        this.drop();
        return;
      }
    }
    const out: Array<[string, string]> = [];
    for (const [k, v] of keys) {
      switch (k) {
        case "AuthMethod": out.push([k, v.split(",").includes("None") ? "None" : "Reject"]); break;
        case "HeaderDigest": case "DataDigest": out.push([k, "None"]); break;
        case "MaxConnections": out.push([k, "1"]); break;
        case "InitialR2T": this.initialR2T = v !== "No"; out.push([k, this.initialR2T ? "Yes" : "No"]); break;
        case "ImmediateData": this.immediateData = v === "Yes"; out.push([k, v === "Yes" ? "Yes" : "No"]); break;
        case "MaxRecvDataSegmentLength": this.maxSendData = Math.max(512, Math.min(Number(v) || 8192, 1 << 24)); break;
        case "MaxBurstLength": this.maxBurst = Math.min(Number(v) || MAX_BURST, MAX_BURST); out.push([k, String(this.maxBurst)]); break;
        case "FirstBurstLength": this.firstBurst = Math.min(Number(v) || FIRST_BURST, FIRST_BURST); out.push([k, String(this.firstBurst)]); break;
        case "DefaultTime2Wait": out.push([k, "2"]); break;
        case "DefaultTime2Retain": out.push([k, "0"]); break;
        case "MaxOutstandingR2T": out.push([k, "1"]); break;
        case "DataPDUInOrder": case "DataSequenceInOrder": out.push([k, "Yes"]); break;
        case "ErrorRecoveryLevel": out.push([k, "0"]); break;
        case "IFMarker": case "OFMarker": out.push([k, "No"]); break;
        case "InitiatorName": case "InitiatorAlias": case "SessionType": case "TargetName": break;
        default: out.push([k, "NotUnderstood"]);
      }
    }
    if (csg === 1 || (transit && nsg === 3)) {
      out.push(["MaxRecvDataSegmentLength", String(MAX_RECV_DATA)]);
      if (!this.discovery) out.push(["TargetPortalGroupTag", "1"]);
    }
    if (transit && nsg === 3) {
      if (!this.tsih) this.tsih = this.t.newTsih();
      status(0, 0, out, true, 3);
      this.phase = "full";
      this.t.noteLogin();
      this.log(`iscsi: ${this.discovery ? "discovery" : "normal"} session ${this.tsih} logged in (${keys.get("InitiatorName") ?? "?"})`);
      return;
    }
    status(0, 0, out, transit, nsg);
  }

  // ---- full feature phase -------------------------------------------------------------

  private nop(p: Pdu): void {
    if (!this.acceptCmdSN(p)) return;
    if (itt(p) === RESERVED_TAG) return; // a reply to our NOP-In (we send none)
    this.write(build(OP.NOP_IN, (h) => {
      h[1] = 0x80;
      p.bhs.copy(h, 8, 8, 16);
      h.writeUInt32BE(itt(p), 16);
      h.writeUInt32BE(RESERVED_TAG, 20);
      this.sn(h, true);
    }, p.data));
  }

  private text(p: Pdu): void {
    if (!this.acceptCmdSN(p)) return;
    const keys = parseText(p.data);
    const out: Array<[string, string]> = [];
    if (keys.has("SendTargets")) {
      const a = this.s.localAddress ?? this.t.o.host;
      const host = a.includes(":") && !a.startsWith("::ffff:") ? `[${a}]` : a.replace(/^::ffff:/, "");
      out.push(["TargetName", TARGET_IQN], ["TargetAddress", `${host}:${this.s.localPort},1`]);
    }
    this.write(build(OP.TEXT_RSP, (h) => {
      h[1] = 0x80;
      h.writeUInt32BE(itt(p), 16);
      h.writeUInt32BE(RESERVED_TAG, 20);
      this.sn(h, true);
    }, textData(out)));
  }

  private tmf(p: Pdu): void {
    if (!this.acceptCmdSN(p)) return;
    const fn = p.bhs[1] & 0x7f;
    const ref = p.bhs.readUInt32BE(20);
    // ABORT TASK (1): a task still collecting data is dropped; one at the board runs
    // to its end (the board has no ABORT from the host side), so "function complete"
    // only when it was not there. LUN RESET (5) and others: answered as complete,
    // rejected (not supported) for the rest.
    let response = 0;
    if (fn === 1) response = this.tasks.delete(ref) ? 0 : 1;
    else if (fn === 5 || fn === 6 || fn === 2 || fn === 3) response = 0;
    else response = 5;
    this.write(build(OP.TMF_RSP, (h) => {
      h[1] = 0x80; h[2] = response;
      h.writeUInt32BE(itt(p), 16);
      this.sn(h, true);
    }));
  }

  private logout(p: Pdu): void {
    this.acceptCmdSN(p);
    this.write(build(OP.LOGOUT_RSP, (h) => {
      h[1] = 0x80; h[2] = 0;
      h.writeUInt32BE(itt(p), 16);
      this.sn(h, true);
      h.writeUInt16BE(2, 40);
      h.writeUInt16BE(0, 42);
    }));
    this.s.end();
  }

  private scsi(p: Pdu): void {
    if (!this.acceptCmdSN(p)) return;
    if (this.discovery) { this.reject(p, REJECT.PROTOCOL_ERROR); return; }
    if (p.data.length && !this.immediateData) { this.reject(p, REJECT.PROTOCOL_ERROR); return; }
    const b = p.bhs;
    const read = (b[1] & 0x40) !== 0, write = (b[1] & 0x20) !== 0;
    const edtl = b.readUInt32BE(20);
    if (edtl > MAX_TRANSFER) { this.reject(p, REJECT.INVALID_PDU_FIELD); return; }
    const cdb = Buffer.concat([b.subarray(32, 48), p.ahs.length > 4 ? p.ahs.subarray(4) : Buffer.alloc(0)]);
    const task: Task = {
      itt: itt(p), lun: lunOf(b), cdb: Buffer.from(cdb.subarray(0, cdbLength(cdb))), read, write, edtl,
      data: Buffer.alloc(write ? edtl : 0), received: 0, ttt: RESERVED_TAG, r2tsn: 0, outstanding: 0,
      cmdsn: b.readUInt32BE(24),
    };
    if (write && p.data.length) {
      p.data.copy(task.data, 0, 0, Math.min(p.data.length, edtl));
      task.received = Math.min(p.data.length, edtl);
    }
    if (write && task.received < edtl) {
      this.tasks.set(task.itt, task);
      // Unsolicited data up to FirstBurstLength may follow when InitialR2T is No.
      if (this.initialR2T || task.received >= this.firstBurst) this.r2t(task);
      return;
    }
    this.run(task);
  }

  /** Ask for the next burst (MaxOutstandingR2T 1). */
  private r2t(task: Task): void {
    const want = Math.min(this.maxBurst, task.edtl - task.received);
    task.ttt = this.nextTtt = (this.nextTtt % 0xfffffffe) + 1;
    task.outstanding = want;
    this.write(build(OP.R2T, (h) => {
      h[1] = 0x80;
      putLun(h, task.lun);
      h.writeUInt32BE(task.itt, 16);
      h.writeUInt32BE(task.ttt, 20);
      this.sn(h, false);
      h.writeUInt32BE(task.r2tsn++, 36);
      h.writeUInt32BE(task.received, 40);
      h.writeUInt32BE(want, 44);
    }));
  }

  private dataOut(p: Pdu): void {
    const task = this.tasks.get(itt(p));
    if (!task) { this.reject(p, REJECT.INVALID_PDU_FIELD); return; }
    const offset = p.bhs.readUInt32BE(40);
    if (offset + p.data.length > task.edtl) { this.reject(p, REJECT.INVALID_PDU_FIELD); return; }
    p.data.copy(task.data, offset);
    task.received = Math.max(task.received, offset + p.data.length);
    if (task.ttt !== RESERVED_TAG) task.outstanding -= p.data.length;
    if (!(p.bhs[1] & 0x80)) return; // not the last PDU of this sequence
    if (task.received >= task.edtl) { this.tasks.delete(task.itt); this.run(task); return; }
    this.r2t(task);
  }

  /** The command goes to the board; its outcome comes back as Data-In and a response. */
  private run(task: Task): void {
    this.t.blocks.execute(task.lun, task.cdb, task.edtl, task.write ? task.data : null, (o) => {
      if (!o) { this.drop(); return; } // the board lost power: so did this connection
      this.respond(task, o);
    });
  }

  /** Residual flags and count (§11.4.5.1): U underflow, O overflow. */
  private residual(h: Buffer, o: Outcome): void {
    if (o.residual > 0) { h[1] |= 0x02; h.writeUInt32BE(o.residual, 44); }
    else if (o.residual < 0) { h[1] |= 0x04; h.writeUInt32BE(-o.residual, 44); }
  }

  private respond(task: Task, o: Outcome): void {
    const data = Buffer.from(o.data);
    if (task.read && o.status === 0 && data.length > 0) {
      // Data-In PDUs of at most the initiator's MaxRecvDataSegmentLength; the last
      // carries the status (phase collapse, §11.7.4).
      const n = Math.min(data.length, task.edtl);
      for (let off = 0, dsn = 0; off < n; dsn++) {
        const k = Math.min(this.maxSendData, n - off);
        const last = off + k >= n;
        this.write(build(OP.DATA_IN, (h) => {
          h[1] = last ? 0x80 | 0x01 : 0;
          if (last) { h[3] = o.status; this.residual(h, o); }
          putLun(h, task.lun);
          h.writeUInt32BE(task.itt, 16);
          h.writeUInt32BE(RESERVED_TAG, 20);
          this.sn(h, last);
          h.writeUInt32BE(dsn, 36);
          h.writeUInt32BE(off, 40);
        }, data.subarray(off, off + k)));
        off += k;
      }
      return;
    }
    const sense = o.sense;
    const senseData = sense && sense.length ? Buffer.concat([Buffer.from([sense.length >> 8, sense.length & 0xff]), Buffer.from(sense)]) : Buffer.alloc(0);
    this.write(build(OP.SCSI_RSP, (h) => {
      h[1] = 0x80;
      h[2] = 0; // command completed at target
      h[3] = o.status;
      h.writeUInt32BE(task.itt, 16);
      this.sn(h, true);
      this.residual(h, o);
    }, senseData));
  }
}

/** A CDB's length from its group code (SPC-4 4.2.5.1); groups 6 and 7 are vendor
 * specific: the controller's (NV STATUS, NV ACTION, ARRAY STATUS) are 10 bytes. */
function cdbLength(cdb: Buffer): number {
  return [6, 10, 10, 16, 16, 12, 10, 10][cdb[0] >> 5];
}
