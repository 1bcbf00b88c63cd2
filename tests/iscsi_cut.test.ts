// A real initiator (libiscsi, tests/tools/iscsi_writer.c) writes to holdup serve while
// the controller's power is cut (SIGUSR1 to the server): the connection drops, the
// initiator logs in again after the reboot and goes on, and every block it was told was
// written reads back right.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../host/firmware.js";
import { startServe, HOLDUP_IQN } from "./iscsi_helpers.js";

const WRITES = 1200;
const CUT_AFTER_ACKS = 300;

test("writes from libiscsi across a power cut: reconnect after the reboot, every acknowledged block reads back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "holdup-writer-"));
  const writer = join(dir, "iscsi_writer");
  // Debian libiscsi-dev and gcc: a real initiator's library.
  execFileSync("gcc", ["-O2", "-Wall", "-o", writer, join(ROOT, "tests", "tools", "iscsi_writer.c"), "-liscsi"]);
  const serve = await startServe(["--seed", "5"]);
  let out = "", werr = "";
  const w = spawn(writer, [`iscsi://127.0.0.1:${serve.port}/${HOLDUP_IQN}/0`, String(WRITES)], { stdio: ["ignore", "pipe", "pipe"] });
  let cut = false;
  const acks = () => (out.match(/^ACK /gm) ?? []).length;
  w.stdout.on("data", (d) => {
    out += d;
    if (!cut && acks() >= CUT_AFTER_ACKS) { cut = true; serve.child.kill("SIGUSR1"); }
  });
  w.stderr.on("data", (d) => { werr += d; });
  const code = await new Promise<number>((resolve) => w.on("exit", (c) => resolve(c ?? -1)));
  await serve.stop();
  const log = serve.log();
  const why = `writer exit ${code}, its stderr: ${werr.slice(-400)}; serve: ${log.split("\n").filter((l) => !/logged in/.test(l)).slice(-8).join(" | ")}`;
  assert.ok(cut, `the power was cut mid-run (${why})`);
  assert.match(log, /board: power lost/, why);
  assert.equal((log.match(/board: power up/g) ?? []).length, 2, "the board booted again");
  const m = /VERIFY ok=(\d+) bad=(\d+)/.exec(out);
  assert.ok(m, why);
  assert.equal(Number(m![2]), 0, "every acknowledged block read back right");
  assert.equal(Number(m![1]), acks());
  assert.ok(acks() > CUT_AFTER_ACKS + 100, `writes went on after the reboot (${acks()} acknowledged)`);
  assert.equal(code, 0);
});
