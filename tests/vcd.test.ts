// The logic-analyzer trace (host/vcd.ts): a save recorded as VCD and decoded by
// Debian's sigrok-cli (SPI, then spiflash with the Macronix MX25L1605D command set,
// which shares the 25LC1024's READ, WRITE, WREN, RDSR and 24-bit addresses) shows
// every EEPROM command the firmware issued in the window, in order, with the address
// the EEPROM model decoded for it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMetered, loadTortureModules } from "../host/firmware.js";
import { tortureUnits, runUnits } from "../host/torture.js";
import { runScenario } from "../host/scenario.js";
import { VcdRecorder, vcdWindow } from "../host/vcd.js";

/** The spiflash decoder's names (libsigrokdecode spiflash/lists.py) of the opcodes
 * the firmware uses. */
const NAMES: Record<string, number> = {
  WRSR: 0x01, PP: 0x02, READ: 0x03, WRDI: 0x04, RDSR: 0x05, WREN: 0x06, "RDP/RES": 0xab, DP: 0xb9,
};

interface Cmd { op: number; addr: number }

/** Commands from sigrok-cli's spiflash annotations: the "field" class names each
 * command with an address or data once, at its first byte (the command classes repeat
 * RDSR per status byte); WREN and WRDI, one byte long, come in classes of their own. */
function decoded(text: string): Cmd[] {
  const out: Cmd[] = [];
  for (const line of text.split("\n")) {
    const c = /^spiflash-1: Command: .*\(([^)]+)\)$/.exec(line);
    if (c) { out.push({ op: NAMES[c[1]] ?? -2, addr: -1 }); continue; }
    const a = /^spiflash-1: Address: 0x([0-9a-f]+)$/.exec(line);
    if (a && out.length) out[out.length - 1].addr = parseInt(a[1], 16);
  }
  return out;
}

/** A save of a full budget (the cut waits for it) that the supply does not interrupt. */
const FULL_SAVE = { off_min_ms: 3000, off_max_ms: 3500 };

test("a save's VCD trace decodes with sigrok-cli to every EEPROM command the firmware issued, with its address", () => {
  const dir = mkdtempSync(join(tmpdir(), "holdup-vcd-"));
  const file = join(dir, "save.vcd");
  const window = vcdWindow(); // the first save
  const vcd = new VcdRecorder(window, 4);
  const issued: Cmd[] = [];
  let selectedAt = 0;
  const report = runScenario(loadMetered(), {
    seed: 4, cuts: 1, cut_when_full: true, workload: FULL_SAVE,
    setup: (b) => {
      b.attachProbe(vcd);
      const select = b.eeprom.select.bind(b.eeprom);
      b.eeprom.select = () => { selectedAt = b.now_ns; select(); };
      b.eeprom.onCommand = (op, addr) => {
        if (selectedAt >= window.from_ns && b.now_ns < window.to_ns) issued.push({ op, addr });
      };
    },
  });
  assert.equal(report.lost_writes, 0);
  // The probe only listens: the same cycles and events as a run without it.
  const bare = runScenario(loadMetered(), { seed: 4, cuts: 1, cut_when_full: true, workload: FULL_SAVE });
  assert.equal(report.trace_hash, bare.trace_hash);
  assert.equal(report.cycles, bare.cycles);
  vcd.write(file);
  assert.ok(Number.isFinite(window.from_ns) && Number.isFinite(window.to_ns), "the window closed on a save");
  const pp = issued.filter((c) => c.op === 0x02).length;
  assert.ok(pp >= 100, `the save wrote pages (${pp})`);

  const r = spawnSync("sigrok-cli", ["-I", "vcd", "-i", file,
    "-P", "spi:clk=SCK:mosi=MOSI:miso=MISO:cs=CS#,spiflash:chip=macronix_mx25l1605d", "-A", "spiflash=field:wren:wrdi"],
  { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: 60_000 });
  assert.equal(r.error, undefined, `sigrok-cli (Debian package sigrok-cli) must be installed: ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  const seen = decoded(r.stdout);
  assert.equal(seen.length, issued.length, `sigrok saw ${seen.length} commands, the firmware issued ${issued.length}`);
  for (let i = 0; i < issued.length; i++) {
    assert.deepEqual(seen[i], issued[i], `command ${i}`);
  }
  // The other signals are in the file by the names the docs give.
  const head = readFileSync(file, "utf8").slice(0, 4000);
  for (const v of ["PFAIL#", "SUPPLY", "VCAP", "CS#", "SCK", "MOSI", "MISO", "target0", "IRQ_PFAIL", "FWSTATE"]) {
    assert.match(head, new RegExp(`\\$var \\w+ \\d+ \\w+ ${v.replace("#", "\\#")} \\$end`), v);
  }
});

test("a torture unit runs again with the probe on its board (torture --vcd's path)", () => {
  const o = { seed: 7300, cuts: 20, sweep: false, raid: 0 } as const;
  const units = tortureUnits(o);
  const rec = new VcdRecorder(vcdWindow(0, 5000), 4);
  const r = runUnits(loadTortureModules(), { ...o, onBoard: (b) => b.attachProbe(rec) }, units, [0]);
  assert.equal(r.runs, 1);
  assert.ok(rec.changes > 1000, `${rec.changes} changes recorded`);
  assert.match(rec.text(), /\$var wire 1 \w+ PFAIL# \$end/);
});
