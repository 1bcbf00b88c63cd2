// The backup server: an initiator that writes backup jobs to a tape drive the way a
// backup application does (Bacula, Amanda): each tape starts with a label block and a
// filemark, each job is a GNU tar stream in 4 KiB records (one variable block each)
// followed by a filemark; on early warning it ends the record, writes a filemark,
// has the changer put the next tape in and goes on there; a tape with room left gets
// the next job appended after its end of data. What it sees as an error it records
// (job_errors) and gives the job up, as a backup application would.
//
// The server is a generator of commands (to the drive it was given, or the changer);
// `drive` may be a physical drive or something that mimics one (the director).

import type { ScsiResult } from "../devices/target.js";
import { ssc, parseTapeSense, parseElementStatus, parsePosition, TKEY, TASC, ELEMENT } from "../scsi/ssc.js";
import { TAR_RECORD } from "./tar.js";

export type Device = "drive" | "changer";
export type ServerStep = { to: Device; cdb: Uint8Array; data?: Uint8Array | null } | { pause_ms: number };
export type ServerScript = Generator<ServerStep, void, ScsiResult | null>;

/** Bounds of the server's own loops. */
const ready_polls_max = 600;
const busy_retries_max = 100_000;

export interface ServerConfig {
  /** The changer's element addresses: the robot, and the drive element the server loads. */
  transport: number;
  driveElement: number;
  /** Slots whose cartridges it may write, in order. */
  scratch: number[];
}

export interface TapeLog {
  barcode: string;
  slot: number;
  /** The object this run's first file starts at (after the label, or the tape's end
   * of data when it appended). */
  startObject: number;
  /** The job each file from there on belongs to. */
  jobs: number[];
}

export class BackupServer {
  /** Tapes written, in order, with the job each file after the label belongs to. */
  readonly tapes: TapeLog[] = [];
  readonly jobErrors: string[] = [];
  /** The jobs it finished (their last filemark written without an error), in order. */
  readonly jobsDone: number[] = [];
  /** The longest a single command took, ms (the server stalled that long). */
  stallMaxMs = 0;
  bytesWritten = 0;
  /** The longest a WRITE of job data took, BUSY answers and their retries included,
   * ms (the stream stalled that long). */
  writeStallMaxMs = 0;
  /** BUSY answers (each sent again after 100 ms). */
  busyAnswers = 0;
  /** Virtual time spent in WRITE commands of job data (the streaming rate's time). */
  writeTime_ns = 0;
  private nextScratch = 0;
  private current: TapeLog | null = null;
  now: () => number = () => 0;

  constructor(readonly cfg: ServerConfig, readonly jobs: Uint8Array[]) {}

  /** Send one command, again while it answers BUSY; the result. */
  private *send(to: Device, cdb: Uint8Array, data: Uint8Array | null = null): Generator<ServerStep, ScsiResult, ScsiResult | null> {
    for (let tries = 0; tries < busy_retries_max; tries++) {
      const t0 = this.now();
      const r = yield { to, cdb, data };
      this.stallMaxMs = Math.max(this.stallMaxMs, (this.now() - t0) / 1e6);
      if (!r) return { status: 0, hostStatus: 2, sense: null, dataIn: null };
      if (r.status !== 0x08) return r;
      this.busyAnswers++;
      yield { pause_ms: 100 };
    }
    return { status: 0x08, hostStatus: 0, sense: null, dataIn: null };
  }

  /** Wait for the drive to become ready after a load. */
  private *untilReady(): Generator<ServerStep, boolean, ScsiResult | null> {
    for (let i = 0; i < ready_polls_max; i++) {
      const r = yield* this.send("drive", ssc.tur());
      if (r.status === 0 && r.hostStatus === 0) return true;
      const s = parseTapeSense(r.sense);
      if (r.hostStatus !== 0 || !s || (s.key !== TKEY.NOT_READY && s.key !== TKEY.UNIT_ATTENTION)) return false;
      if (s.key === TKEY.NOT_READY) yield { pause_ms: 1000 };
    }
    return false;
  }

  /** Unload the tape in the drive (if any), put it back in its slot, load the next
   * scratch tape, label it. false if that failed (no tape left, or a device error). */
  private *mountNext(): Generator<ServerStep, boolean, ScsiResult | null> {
    if (this.current) {
      const u = yield* this.send("drive", ssc.unload());
      if (u.status !== 0 || u.hostStatus !== 0) return false;
      const m = yield* this.send("changer", ssc.moveMedium(this.cfg.transport, this.cfg.driveElement, this.current.slot));
      if (m.status !== 0) return false;
      this.current = null;
    }
    if (this.nextScratch >= this.cfg.scratch.length) return false;
    const slot = this.cfg.scratch[this.nextScratch++];
    const st = yield* this.send("changer", ssc.readElementStatus(ELEMENT.STORAGE, slot, 1));
    const el = st.dataIn ? parseElementStatus(st.dataIn)[0] : undefined;
    if (!el || !el.full) return false;
    const m = yield* this.send("changer", ssc.moveMedium(this.cfg.transport, slot, this.cfg.driveElement));
    if (m.status !== 0) return false;
    if (!(yield* this.untilReady())) return false;
    const sel = yield* this.send("drive", ssc.modeSelect(12), ssc.blockSizeParams(0));
    if (sel.status !== 0) return false;
    // Append after what the tape holds: to its end of data (a new tape: at once).
    const eod = yield* this.send("drive", ssc.space(3, 0));
    if (eod.status !== 0) return false;
    const pos = yield* this.send("drive", ssc.readPosition());
    if (!pos.dataIn) return false;
    const atStart = (pos.dataIn[0] & 0x80) !== 0;
    const object = parsePosition(pos.dataIn).object;
    this.current = { barcode: el.barcode, slot, startObject: atStart ? 2 : object, jobs: [] };
    this.tapes.push(this.current);
    if (atStart) {
      const label = new Uint8Array(TAR_RECORD);
      label.set(new TextEncoder().encode(`HOLDUP TAPE LABEL ${el.barcode}\n`));
      const w = yield* this.send("drive", ssc.write(TAR_RECORD), label);
      if (w.status !== 0 && !this.isWarning(w)) return false;
      const fm = yield* this.send("drive", ssc.writeFilemarks(1));
      if (fm.status !== 0 && !this.isWarning(fm)) return false;
    }
    return true;
  }

  /** Early warning: the command did what it was asked, and the tape is nearly full. */
  private isWarning(r: ScsiResult): boolean {
    const s = parseTapeSense(r.sense);
    return r.status === 2 && !!s && s.key === TKEY.NO_SENSE && !!s.eom && s.asc === TASC.END_OF_MEDIUM;
  }

  *run(): ServerScript {
    if (!(yield* this.mountNext())) { this.jobErrors.push("no tape could be mounted"); return; }
    for (let j = 0; j < this.jobs.length; j++) {
      const ok = yield* this.job(j);
      if (ok) this.jobsDone.push(j);
      if (!ok && !(yield* this.mountNext())) {
        this.jobErrors.push(`job ${j + 1}: no tape left after an error`);
        return;
      }
    }
    // The last tape goes back to its slot.
    if (this.current) {
      yield* this.send("drive", ssc.unload());
      yield* this.send("changer", ssc.moveMedium(this.cfg.transport, this.cfg.driveElement, this.current.slot));
      this.current = null;
    }
  }

  /** Write job j from the current position: records, then a filemark. */
  private *job(j: number): Generator<ServerStep, boolean, ScsiResult | null> {
    const stream = this.jobs[j];
    this.current!.jobs.push(j);
    for (let at = 0; at < stream.length;) {
      const rec = stream.subarray(at, at + TAR_RECORD);
      const t0 = this.now();
      const w = yield* this.send("drive", ssc.write(rec.length), rec);
      this.writeTime_ns += this.now() - t0;
      this.writeStallMaxMs = Math.max(this.writeStallMaxMs, (this.now() - t0) / 1e6);
      const s = parseTapeSense(w.sense);
      if (w.status === 0 || this.isWarning(w)) {
        at += rec.length;
        this.bytesWritten += rec.length;
        if (w.status === 0) continue;
        // Early warning: close this tape's part of the job and go on on the next.
        if (!(yield* this.closeFile(j))) return false;
        if (!(yield* this.mountNext())) { this.jobErrors.push(`job ${j + 1}: no tape for the rest`); return false; }
        this.current!.jobs.push(j);
        continue;
      }
      if (s?.key === TKEY.VOLUME_OVERFLOW) {
        // Not written: the record goes on the next tape.
        if (!(yield* this.closeFile(j))) return false;
        if (!(yield* this.mountNext())) { this.jobErrors.push(`job ${j + 1}: no tape for the rest`); return false; }
        this.current!.jobs.push(j);
        continue;
      }
      this.jobErrors.push(`job ${j + 1}: write at byte ${at}: status ${w.status} host ${w.hostStatus} sense ${JSON.stringify(s)}`);
      return false;
    }
    return yield* this.closeFile(j);
  }

  private *closeFile(j: number): Generator<ServerStep, boolean, ScsiResult | null> {
    const fm = yield* this.send("drive", ssc.writeFilemarks(1));
    if (fm.status === 0 || this.isWarning(fm)) return true;
    this.jobErrors.push(`job ${j + 1}: filemark: status ${fm.status} sense ${JSON.stringify(parseTapeSense(fm.sense))}`);
    return false;
  }
}
