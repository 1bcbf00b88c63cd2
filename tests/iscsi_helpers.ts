// Helpers for the iSCSI tests: a holdup serve child, tgtd beside it, iscsi-test-cu runs
// and their CUnit XML.
import { spawn, spawnSync, ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../host/firmware.js";

export const HOLDUP_IQN = "iqn.2026-11.dev.holdup:controller";

/** A free TCP port on the loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const a = s.address(); s.close(() => resolve(typeof a === "object" && a ? a.port : 0)); });
  });
}

/** holdup serve on the loopback; resolves once it listens. */
export async function startServe(args: string[] = []): Promise<{ child: ChildProcess; port: number; log: () => string; stop: () => Promise<string> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, "bin", "holdup.js"), "serve", "--iscsi", `127.0.0.1:${port}`, ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout!.on("data", (d) => { out += d; });
  child.stderr!.on("data", (d) => { err += d; });
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (out.includes("holdup serve:")) { clearInterval(t); resolve(); }
      if (child.exitCode !== null) { clearInterval(t); reject(new Error(`serve exited: ${err}`)); }
    }, 20);
  });
  return {
    child, port, log: () => err,
    stop: () => new Promise((resolve) => { child.once("exit", () => resolve(out)); child.kill("SIGINT"); }),
  };
}

export interface CuResult { passed: number; failed: number; tests: Map<string, boolean> }

/** iscsi-test-cu on `url` for the tests in `list` (comma-separated), its per-test
 * results from the CUnit XML it writes (a test passes if none of its asserts failed). */
export function runTestCu(url: string, list: string): CuResult {
  const dir = mkdtempSync(join(tmpdir(), "holdup-cu-"));
  const r = spawnSync("iscsi-test-cu", ["-d", "-x", "-t", list, url], { cwd: dir, encoding: "utf8", timeout: 240_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`iscsi-test-cu (Debian package libiscsi-bin) must be installed: ${r.error.message}`);
  const xml = join(dir, "CUnitAutomated-Results.xml");
  if (!existsSync(xml)) throw new Error(`iscsi-test-cu wrote no results: ${r.stdout.slice(-2000)} ${r.stderr.slice(-2000)}`);
  const s = readFileSync(xml, "utf8");
  const tests = new Map<string, boolean>();
  let suite = "";
  for (const m of s.matchAll(/<SUITE_NAME>\s*(\S+)\s*<\/SUITE_NAME>|<CUNIT_RUN_TEST_(SUCCESS|FAILURE)>\s*<TEST_NAME>\s*(\S+)\s*<\/TEST_NAME>/g)) {
    if (m[1]) { suite = m[1]; continue; }
    const k = `${suite}.${m[3]}`;
    if (m[2] === "FAILURE") tests.set(k, false);
    else if (!tests.has(k)) tests.set(k, true);
  }
  let passed = 0;
  for (const ok of tests.values()) if (ok) passed++;
  return { passed, failed: tests.size - passed, tests };
}

/** tgtd (Debian tgt) with one 1 GiB LUN on a sparse file, if it can run here (root). */
export async function startTgt(): Promise<{ url: string; stop: () => void } | null> {
  if (spawnSync("which", ["tgtd"]).status !== 0 || process.getuid?.() !== 0) return null;
  const port = await freePort();
  const control = 10000 + (port % 20000);
  const dir = mkdtempSync(join(tmpdir(), "holdup-tgt-"));
  const img = join(dir, "lun.img");
  execFileSync("truncate", ["-s", "1G", img]);
  const child = spawn("tgtd", ["-f", "-C", String(control), "--iscsi", `portal=127.0.0.1:${port}`], { stdio: "ignore" });
  const iqn = "iqn.2026-11.dev.holdup:tgt";
  const adm = (...a: string[]) => spawnSync("tgtadm", ["-C", String(control), "--lld", "iscsi", ...a], { encoding: "utf8" });
  for (let i = 0; i < 50 && adm("--op", "show", "--mode", "target").status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  const steps = [
    ["--op", "new", "--mode", "target", "--tid", "1", "-T", iqn],
    ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", img],
    ["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"],
  ];
  for (const s of steps) {
    const r = adm(...s);
    if (r.status !== 0) { child.kill(); return null; }
  }
  return { url: `iscsi://127.0.0.1:${port}/${iqn}/1`, stop: () => { child.kill("SIGKILL"); } };
}
