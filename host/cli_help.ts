// The help texts of the command line: one per command (holdup CMD --help) and the
// overview (holdup --help).
import { EEPROM_PARTS } from "./devices/eeprom.js";
import { DEFAULT_WORKLOAD } from "./scenario.js";
import { CUTS_PER_RUN, VARIANTS } from "./torture.js";

const EXIT = `exit status: 0 if the guarantee held; 1 if acknowledged data was lost silently or
served corrupt, a loss was reported that no fault beyond the design explains, a
device protocol was broken, the firmware trapped, or the run checked no
acknowledged write; 2 for bad usage.`;

export const HELP_MAIN = `holdup — storage-controller firmware and its board emulator

usage: holdup <command> [options]

commands:
  run        boot the firmware on the reference board, drive a host workload to its
             LUNs, cut the power at random instants, boot again, and check every
             acknowledged write (the main job; npm start runs it)
  bench      benchmark figures: save and restore times against their physical
             bounds, checksum cost, elevator against FIFO destage, ack latency
  torture    power-loss torture: random cuts with EEPROM faults, disk swaps and cuts
             during restore, swarm runs that combine every fault, and a sweep that
             cuts the save after every k-th page
  fuzz       random CDBs against the controller, each answer checked against the
             SCSI rules in host/scsi/spc.ts
  merge      add the JSON lines of torture runs (shards of one run) into one
  serve      the controller's LUNs as an iSCSI target for real initiators
  backup     backup jobs through the backup director onto an emulated tape library,
             the tapes read back and restored by GNU tar (seed 004)
  help       this text (holdup help COMMAND: a command's)

  holdup COMMAND --help lists a command's options.

${EXIT}`;

export const HELP: Record<string, string> = {
  run: `usage: holdup run [options]

Boot the firmware on the reference board, drive a host workload to its LUNs, cut the
power at random instants (each after the workload has had a write acknowledged), boot
again, and check every acknowledged write.

  --seed N       seed for every random choice (default: a random seed, printed);
                 the same seed gives the same cycles, trace and result
  --cuts N       power cuts, each followed by a reboot and a full read-back (default 3)
  --json         print one JSON object on standard output, the summary on
                 standard error (keys: seed, acked_writes,
                 lost_writes, corrupt_reads, power_cuts, cycles, virtual_ms,
                 parity_mismatches, repaired_stripes, torn_records, host_reissued,
                 unreadable_blocks, ...)
  --raid L       none (every disk its own LUN), 3, 4 or 5 (default 5: the disks as
                 one array, LUN 0; docs/DESIGN.md "The array")
  --spares N     hot spares after the array's disks (default 1; not with none)
  --fail-disk ID[@MS]  the disk at bus ID dies at MS ms of virtual time (default 0)
  --disks N      disks on the bus (default 4; with an array, its members)
  --eeprom PART  EEPROM part: ${Object.keys(EEPROM_PARTS).join(", ")} (default 25LC1024)
  --cap-pct N    supercap capacity left after ageing, percent (default 100)
  --qd N         host queue depth, 1..4 (default ${DEFAULT_WORKLOAD.queue_depth})
  --disk-fault F every disk has fault F (a comma-separated list): ignore-fua (it
                 caches FUA writes, a lying disk: beyond the design, acknowledged
                 data is lost and the run must fail), no-write-long (it refuses
                 WRITE LONG), latency (1 command in 20 is 200 ms late)
  --quiet        no progress line
  --vcd FILE     write a logic-analyzer trace (VCD: PulseView, sigrok-cli, GTKWave):
                 PFAIL#, SUPPLY, VCAP, the SPI bus bit by bit, a phase per SCSI
                 target, the interrupt lines, FWSTATE (docs/BOARD.md "Probes");
                 by default the first save only
  --vcd-from MS  the trace from this virtual instant (with --vcd)
  --vcd-to MS    the trace up to this virtual instant (with --vcd)
  --runtime R    v8 (default) or native: wasm2c's C of the firmware compiled by gcc
                 (npm run build:native), driven over a pipe; the same cycles, trace
                 and result (docs/PORTING.md)
  --build B      metered (default: cycles counted) or release (the build a board
                 flashes: no meter, time is what its HAL calls take)
  --controllers N  1 (default) or 2: a pair of controllers on a shelf of dual-ported
                 disks (issue 10, docs/DESIGN.md "The pair"): a multipath host writes
                 through both while one fault per event strikes at a random instant;
                 every block is read back after each event. Writes are mirrored
                 to the partner's cache. JSON adds takeovers, givebacks,
                 split_brain, fenced_writes, mirror_catchups
  --events N     with --controllers 2: events (default 6)
  --faults LIST  with --controllers 2: the fault kinds drawn from (default all): cut,
                 hang, io-hang, partition, link-down, cut-both, lossy (both
                 links lose, duplicate, reorder, delay and garble messages)
  --qd N, --think-ms MS, --span-blocks N, --window-ms MS   with --controllers 2,
                 the host's workload: commands in flight (default 4), its pause
                 after each one ends (default 0), the blocks of each LUN it uses
                 (default 2048), the span each event's fault instant is drawn from
                 (default 1500; the workload runs 3.5 s past it)

${EXIT}`,
  bench: `usage: holdup bench [options]

Benchmark figures in virtual time against their physical bounds.

  --controllers 2  instead: the pair's figures (detect_ms_dead, detect_ms_hung,
                 detect_ms_io_hung with their bounds, takeover_ms; the 4 KiB QD 1
                 ack mirrored, unmirrored (the owner alone) and single (one
                 controller, write-back) with their ratios; catchup_ms, rejoin_ms)
  --svg DIR      also draw, as SVG files in DIR (Vega-Lite): the save timeline
                 (cap voltage, pages written, verified and rewritten, against the
                 hold-up), the destage's head path (elevator against FIFO), and
                 the array's repair beside an md bitmap and a full scan
  --raid L       the array's figures on RAID L (default 5; none skips them)
  --spares N     hot spares after the four members (default 1)
  --fail-disk ID[@MS]  the disk at bus ID dies at MS ms of each array figure's run
  --json         print one JSON object on standard output, the summary on
                 standard error (keys: isr_latency_cycles,
                 save_ms, save_bound_ms, restore_ms, restore_bound_ms,
                 crc32c_cycles_per_byte, secded_encode_cycles_per_byte,
                 secded_decode_cycles_per_byte, crc32c_wasm_gbps, crc32_node_zlib_gbps,
                 crc32_sheetjs_gbps, crc32c_wasm_gbyte_s, crc32c_native_gbyte_s,
                 crc32c_sheetjs_gbyte_s, crc32_node_zlib_gbyte_s, crc32_sheetjs_gbyte_s,
                 save_bound_payload_ms, restore_bound_payload_ms, restore_scan_ms,
                 restore_load_ms, protected_bytes, protected_bytes_bound,
                 destage_seek_ms_elevator, destage_seek_ms_fifo, destage_ms_elevator,
                 destage_ms_fifo, ack_us_p50_sustained_writeback,
                 ack_us_p99_sustained_writeback, ack_us_p50_sustained_writethrough,
                 ack_us_p99_sustained_writethrough, port_flash_bytes, port_ram_bytes,
                 director_mb_s, drive_mb_s, drive_failover_ms, failover_bound_ms,
                 drive_failover_ms_stuck, failover_bound_ms_stuck,
                 failover_write_stall_ms, failover_held_ms,
                 ack_us_writeback, ack_us_writethrough, repair_blocks, repair_ms,
                 repair_blocks_bitmap64m, repair_blocks_fullscan, write_mb_s_fullstripe,
                 write_mb_s_rmw, write_mb_s_bound, wcb_eeprom_writes_per_host_write,
                 eeprom_life_days_at_100wps, rebuild_ms, rebuild_bound_ms,
                 rebuild_disk_mib, ...)`,
  torture: `usage: holdup torture [options]

Power-loss torture: random cuts with EEPROM faults, disk swaps and cuts during
restore, swarm runs that combine every fault, and sweeps that cut after every page
of a save and after every member write of an array update.

  --seed N       first seed (default: a random seed, printed); run i uses seed N+i
                 and its variant follows from that seed
  --cuts N       random power cuts in all, in runs of ${CUTS_PER_RUN} (default 200)
  --variant V    every run uses variant V: ${VARIANTS.join(", ")} (swarm: every
                 fault knob drawn from the run's seed, half the seeds on the build
                 that can be preempted before every store)
  --json         print one JSON object on standard output, the summary on
                 standard error (keys: cuts, acked_writes,
                 lost_writes, corrupt_reads, detected_errors, traps, ...)
  --no-sweep     skip the save sweep
  --sweep-only   only the save sweep
  --sweep-k K    sweep only k = K (to reproduce one sweep failure)
  --sweep-step S sweep every S-th k (default 1)
  --raid L       none, 3, 4 or 5 (default 5), as for run; four members and a spare
  --spares N     hot spares after the members (default 1)
  --fail-disk ID[@MS]  in every run, the disk at bus ID dies at MS ms
  --quiet        no progress line
  --jobs N       worker threads (default: the machine's cores); the result
                 does not depend on N
  --shard I/N    run only the I-th of N slices of the runs (every N-th from the I-th),
                 for a CI matrix or a cluster's job array; add the slices' JSON lines
                 with holdup merge
  --vcd FILE     the trace (as for run) of the first run that failed, run again
  --vcd-from MS, --vcd-to MS   its window (default: its first save)
  --controllers 2  instead: the pair (issue 10): runs of --events-per-run events (default
                 10) from consecutive seeds until --events events in all (default 100),
                 --faults and the workload (--qd, --think-ms, --span-blocks,
                 --window-ms) as for run, on --jobs worker threads
  --director     instead: backup runs through the backup director (seed 004), each
                 with faults at instants its seed picks, in turn: a drive that
                 fails (its tape movable or stuck) or hangs, a damaged tape, a
                 damaged tape then a failed drive, the robot dead when the drive
                 fails (no spare: the server must get the documented error), the
                 director dead (a spare director), the director's power cut, a
                 drive that tears a block as it fails;
                 --seed, --cuts (runs, default 30), --jobs, --json (holdup
                 backup's keys, summed, plus cuts (faults), runs, traps,
                 no_spare_runs, job_errors_no_spare, failures), --quiet

${EXIT}`,
  fuzz: `usage: holdup fuzz [options]

Random CDBs against the controller, each answer checked against the SCSI rules in
host/scsi/spc.ts.

  --raid L       the LUNs to fuzz: none (default: four disks) or 3, 4, 5 (the array)
  --seed N       first seed (default: a random seed, printed); seed i is N+i
  --seeds K      seeds to run (default 1)
  --cdbs N       random CDBs per seed (default 50000)
  --json         print one JSON object on standard output, the summary on
                 standard error (keys: seeds, cdbs,
                 mismatches, traps, violations)

${EXIT}`,
  serve: `usage: holdup serve --iscsi HOST:PORT [options]

The emulated controller's LUNs as an iSCSI target (RFC 7143: login without
authentication, SCSI Command and Response, Data-In, Data-Out with R2T, NOP, text
(SendTargets), logout, several sessions) named ${"iqn.2026-11.dev.holdup:controller"}, LUN i
being the controller's LUN i. Virtual time stands still while the board is idle and
runs as fast as it can while commands are in flight. A power loss closes every
connection; initiators log in again after the reboot.

  --iscsi HOST:PORT  where to listen (port 0: any free port, printed)
  --seed N       the board's seed (default: random, printed)
  --raid L       none, 3, 4 or 5 (default 5), --spares N, --disks N: as for run
  --cut-power-at MS  cut the supply at this virtual instant
  --off-ms MS    how long a cut keeps the supply off (default 3000); SIGUSR1 cuts
                 the power now, for as long
  --quiet        no log lines on standard error`,
  backup: `usage: holdup backup [options]

Backup jobs (GNU tar streams of generated trees, 4 KiB records) from a backup server
through the backup director (build/director.wasm) onto an emulated tape library (LTO-5
drives, a changer, docs/DIRECTOR.md); then the tapes are read back, compared with the
server's streams and restored by GNU tar. The director takes over a drive that fails
or hangs mid-job, its tape stuck in it or not (failovers_drive, replayed_bytes), and a
damaged tape (failovers_medium: its spare tape gets the medium's image), and a dead
director (failovers_director: the spare director resumes from the caching disk; the
server's lost command is sent again and done once); while a failover runs it takes
the server's writes at a reduced rate (BUSY when it cannot take more) and writes them
after; its own early warning leaves a spare tape room for the medium's image. When no
spare can help (the robot dead), the server gets HARDWARE ERROR, LOGICAL UNIT FAILURE
(3Eh/01h) and the run fails, every job the server finished still exact.

  --seed N        seed for the trees and the faults' instants (default: random)
  --jobs-count N  backup jobs (default 3)
  --faults LIST   comma-separated: drive-fail (the drive fails mid-job, losing its
                  buffer), medium-error (the first tape is damaged), no-unload (the
                  drive fails and will not give up its cartridge), robot-fail
                  (the robot fails after the first load, then the drive fails),
                  drive-hang (the drive stops answering mid-job), director-fail
                  (the director dies; a spare director takes over), director-cut
                  (the director's power fails for 20 s; it resumes), drive-torn (the
                  drive fails tearing the block it was writing), worn-spare (the
                  director's spare tape holds 5 % less: its drive rewrites),
                  drive-stall (the drive's error recovery holds a write for 40 s)
  --append-threshold PCT
                  appends to a tape less full than PCT % are protected: the director
                  reads the tape into its image at load (default 50; [035]); past it
                  a failover that needs the whole medium is reported to the server
  --failover-rate KIB_S
                  while a failover runs, the server's writes are taken into the
                  caching disk at this rate and written to the tape after it (default
                  1024; 0: the server waits for the failover's end)
  --replay-allowance PERMILLE
                  the room the director's early warning leaves for writing a
                  medium's image onto a spare tape, per mille of its data (default
                  30: a spare whose drive rewrites up to 3 %); 0: the drive's own
  --log           the directors' log lines on standard error, after the run
  --json          print one JSON object on standard output, the summary on standard
                  error (keys: seed, job_bytes, tapes_written, tape_mismatches,
                  tar_verified, failovers_drive, failovers_medium,
                  failovers_director, replayed_bytes, job_errors,
                  server_stall_ms_max, cycles, virtual_ms; and jobs_completed,
                  completed_mismatches: the jobs the server finished and the
                  bytes where their tapes differ; director_restarts,
                  resent_commands; failover_accepted_bytes, busy_answers,
                  write_stall_ms_max: what was taken during failovers, the BUSY
                  answers, the longest one write of job data waited)

exit status: 0 if the tapes hold exactly the jobs and no job saw an error; 1
otherwise; 2 for bad usage.`,
  merge: `usage: holdup merge FILE...

Add the JSON lines of torture --json runs (the last JSON line of each file; - reads
standard input) into one line of the same keys: every count summed, the seed the
lowest. Exits 1 if the merged runs had a failure.`,
};
