// holdup serve --iscsi HOST:PORT: the emulated controller for real initiators.
import { IscsiTarget, TARGET_IQN } from "./iscsi/target.js";
import { fail, intOpt, raidOpt, randomSeed, Values } from "./cli.js";

export async function serve(values: Values): Promise<number> {
  const spec = values.iscsi;
  if (typeof spec !== "string") fail("serve needs --iscsi HOST:PORT", "serve");
  const m = /^(.*):(\d+)$/.exec(spec);
  if (!m || Number(m[2]) > 65535) fail(`--iscsi: HOST:PORT, not "${spec}"`, "serve");
  const host = m[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0";
  const seed = intOpt(values.seed, "seed", 0, 2 ** 32 - 1, randomSeed());
  const raid = raidOpt(values.raid);
  const spares = intOpt(values.spares, "spares", 0, 3, raid ? 1 : 0);
  const disks = intOpt(values.disks, "disks", 1, 7, 4);
  const cutAt = values["cut-power-at"] === undefined ? null : intOpt(values["cut-power-at"], "cut-power-at", 0, 1e9, 0);
  const off = intOpt(values["off-ms"], "off-ms", 1, 600_000, 3000);
  const quiet = values.quiet === true;
  const log = quiet ? () => {} : (l: string) => console.error(l);
  const t = new IscsiTarget({
    host, port: Number(m[2]), cutAt_ms: cutAt, off_ms: off, log,
    board: { seed, raid, spares: raid ? spares : 0, disks: disks + (raid ? spares : 0) },
  });
  let port: number;
  try { port = await t.listen(); } catch (e) { console.error(`holdup serve: ${(e as Error).message}`); await t.close(); return 1; }
  console.log(`holdup serve: ${TARGET_IQN} on ${host}:${port} (seed ${seed}, ${raid ? `RAID ${raid}` : `${disks} disks`}); ` +
    `SIGUSR1 cuts the power for ${off} ms, SIGINT stops`);
  process.on("SIGUSR1", () => { log("serve: SIGUSR1: power cut"); t.cutPower(); });
  await new Promise<void>((r) => { process.once("SIGINT", r); process.once("SIGTERM", r); });
  const end = await t.close();
  console.log(`holdup serve: stopped; ${t.stats.logins} logins, ${t.stats.commands} commands, ${t.stats.cuts} power losses` +
    (end.t === "stopped" ? `, ${end.virtual_ms.toFixed(1)} ms of virtual time` : ""));
  return 0;
}
