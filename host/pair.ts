// Two controllers (issue 10, seed 002): each its own board (MCU, EEPROM, supercap, power
// feed) running its own instance of the firmware, booted with its identity strap; a
// shelf of dual-ported disks on its own power that both reach, each through its own
// port (an I_T nexus per controller: reservations tell them apart); two independent
// links between them. Every MCU shares one clock under one scheduler (mcu_coop.ts).
// A test assembles it in one line and drives either side's mailbox.

import { VirtualClock } from "./clock.js";
import { CoopScheduler, DEFAULT_SKEW_NS } from "./coop_scheduler.js";
import { Board, BoardOptions } from "./board.js";
import { Disk, DiskParams, DEFAULT_DISK } from "./devices/disk.js";
import { Link, LinkParams, DEFAULT_LINK } from "./devices/link.js";
import { Rng } from "./rng.js";

export interface PairOptions {
  seed: number;
  /** Disks on the shelf (bus IDs 0..n−1 on both controllers' buses). */
  disks: number;
  disk: Partial<DiskParams>;
  link: Partial<LinkParams>;
  /** Options both boards take (their identity and disks are the pair's). */
  board: BoardOptions;
  skew_ns: number;
}

export class PairSystem {
  readonly clock = new VirtualClock();
  readonly sched: CoopScheduler;
  /** Controller A (identity 1) and B (identity 2). */
  readonly boards: [Board, Board];
  readonly shelf: Disk[] = [];
  readonly links: [Link, Link];

  constructor(module: WebAssembly.Module, o: Partial<PairOptions> = {}) {
    const seed = o.seed ?? 1;
    this.sched = new CoopScheduler(this.clock, o.skew_ns ?? DEFAULT_SKEW_NS);
    const rng = new Rng(seed).fork("pair");
    for (let i = 0; i < (o.disks ?? 4); i++) {
      this.shelf.push(new Disk(i, { ...DEFAULT_DISK, ...o.disk }, this.clock, rng.fork(`disk${i}`)));
    }
    const board = (id: number) => new Board(module, { ...o.board, seed: seed * 2 + id, identity: id, disks: 0 }, this.clock, this.sched);
    this.boards = [board(1), board(2)];
    // Initiator k on each disk is controller k's port.
    this.boards.forEach((b, k) => b.bus.targets.push(...this.shelf.map((d) => d.port(k))));
    const link = (i: number) => new Link(`link${i}`, { ...DEFAULT_LINK, ...o.link }, this.clock, rng.fork(`link${i}`));
    this.links = [link(0), link(1)];
    this.links.forEach((l, i) => {
      this.boards[0].links.attach(i, l, 0);
      this.boards[1].links.attach(i, l, 1);
    });
  }

  /** What controller k's firmware says of its partner (assembly/pair/peer.ts PEER_*),
   * or -1 while it is off. */
  peerState(k: number): number {
    const fw = this.boards[k].firmware;
    return fw ? (fw.pair_peer_state as () => number)() : -1;
  }

  /** Heartbeats controller k has heard from its partner since its boot. */
  heartbeats(k: number): number {
    const fw = this.boards[k].firmware;
    return fw ? (fw.pair_heartbeats as () => number)() : 0;
  }

  /** Run both controllers until done() or the clock passes limit_ms. */
  run(done: () => boolean, limit_ms: number): void { this.sched.run(done, limit_ms * 1e6); }

  /** Run for ms of virtual time. */
  runFor(ms: number): void {
    const end = this.clock.now_ns + ms * 1e6;
    this.sched.run(() => this.clock.now_ns >= end, end);
  }
}
