// holdup bench --svg DIR: the figures people would rather look at than read, drawn with
// Vega-Lite and rendered headless to SVG by Vega (no browser, no canvas): the save
// timeline (the cap's voltage, each page written, verified and rewritten, against the
// hold-up), the destage's head path with the elevator and first-in-first-out, and the
// array's repair beside an md bitmap and a full scan.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, TopLevelSpec } from "vega-lite";
import { benchSaveRestore, benchDestage, BenchReport } from "./bench.js";
import type { Board } from "./board.js";
import { CMD_WRITE, CMD_READ } from "./devices/eeprom_part.js";
import { DEFAULT_DISK } from "./devices/disk.js";
import { Rng } from "./rng.js";

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}

interface SaveEvent { t_ms: number; kind: "write" | "verify" | "rewrite"; volts: number; page: number }

/** The save of the bench's full cache, event by event. */
function saveEvents(module: WebAssembly.Module): { events: SaveEvent[]; done_ms: number } {
  const all: Array<{ t: number; op: number; addr: number; volts: number }> = [];
  let board: Board | null = null;
  benchSaveRestore(module, 1, (b) => {
    board = b;
    b.eeprom.onCommand = (op, addr) => {
      if (op === CMD_WRITE || op === CMD_READ) all.push({ t: b.now_ns, op, addr, volts: b.cap.voltageAt(b.now_ns) });
    };
  });
  const b = board!;
  const t0 = b.pfailFell_ns, t1 = b.saveDone_ns;
  const page = b.eeprom.part.page_bytes;
  const written = new Set<number>();
  const events: SaveEvent[] = [];
  for (const e of all) {
    if (e.t < t0 || e.t > t1) continue;
    const p = Math.floor(e.addr / page);
    let kind: SaveEvent["kind"] = "verify";
    if (e.op === CMD_WRITE) { kind = written.has(p) ? "rewrite" : "write"; written.add(p); }
    events.push({ t_ms: (e.t - t0) / 1e6, kind, volts: e.volts, page: p });
  }
  return { events, done_ms: (t1 - t0) / 1e6 };
}

export async function writeSvgs(dir: string, module: WebAssembly.Module, r: BenchReport): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = async (name: string, spec: TopLevelSpec) => {
    const f = join(dir, name);
    writeFileSync(f, await render(spec));
    files.push(f);
  };

  const save = saveEvents(module);
  const xDomain = [0, Math.max(r.holdup_ms_estimated, save.done_ms) * 1.02];
  const x = { field: "t_ms", type: "quantitative", title: "ms after PFAIL#", scale: { domain: xDomain } };
  const rules = {
    data: { values: [{ t_ms: r.holdup_ms_estimated, label: "estimated hold-up" }, { t_ms: save.done_ms, label: "save done" }] },
    mark: { type: "rule", strokeDash: [4, 4] },
    encoding: { x, color: { field: "label", type: "nominal", title: "", scale: { range: ["#000", "#9467bd"] } } },
  };
  await put("save_timeline.svg", {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `Save of a full cache: ${r.save_blocks} blocks in ${r.save_pages} pages, ${r.save_ms.toFixed(0)} ms`,
      subtitle: `against ${r.holdup_ms_estimated} ms of estimated hold-up; page bound ${r.save_bound_ms.toFixed(0)} ms, payload bound ${r.save_bound_payload_ms.toFixed(0)} ms` },
    data: { values: save.events },
    vconcat: [
      { width: 640, height: 180, layer: [
        { mark: { type: "line", color: "#444" }, encoding: { x, y: { field: "volts", type: "quantitative", title: "cap voltage (V)", scale: { zero: false } } } },
        rules,
      ] },
      { width: 640, height: 90, layer: [
        { mark: { type: "tick", thickness: 1, color: "#1f77b4" }, encoding: {
          x, y: { field: "kind", type: "nominal", title: "EEPROM", sort: ["write", "verify", "rewrite"], scale: { domain: ["write", "verify", "rewrite"] } } } },
        { data: { values: [{ t_ms: r.holdup_ms_estimated }, { t_ms: save.done_ms }] }, mark: { type: "rule", strokeDash: [4, 4], color: "#888" }, encoding: { x } },
      ] },
    ],
    resolve: { scale: { color: "independent" } },
  } as TopLevelSpec);

  // The benchmark's 64 blocks (benchDestage draws them from the same seed); the boot's
  // label writes are left out. Time zero: each run's first write of one of them.
  const rng = new Rng(5);
  const lbas = new Set<number>();
  for (let i = 0; i < 64; i++) lbas.add(rng.int(DEFAULT_DISK.blocks - 2));
  const heads: Array<{ t_ms: number; lba: number; run: string }> = [];
  const start = new Map<string, number>();
  benchDestage(module, 5, (b, run) => {
    const d = b.disks[0];
    const w = d.media.write.bind(d.media);
    d.media.write = (lba: number, data: Uint8Array) => {
      w(lba, data);
      if (!lbas.has(lba)) return;
      if (!start.has(run)) start.set(run, b.now_ns);
      heads.push({ t_ms: (b.now_ns - start.get(run)!) / 1e6, lba, run: run === "fifo" ? "first in, first out" : "elevator (C-LOOK)" });
    };
  });
  const last = heads;
  await put("destage.svg", {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Destage of 64 random blocks: where the head writes, over time",
      subtitle: `seek + rotation: elevator ${r.destage_ms_elevator.toFixed(0)} ms, first-in-first-out ${r.destage_ms_fifo.toFixed(0)} ms` },
    width: 640, height: 300,
    data: { values: last },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "t_ms", type: "quantitative", title: "ms after the first write" },
      y: { field: "lba", type: "quantitative", title: "LBA" },
      color: { field: "run", type: "nominal", title: "order" },
    },
  } as TopLevelSpec);

  if (r.repair_blocks !== undefined) {
    await put("raid_repair.svg", {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: { text: `Repair after a cut with writes in flight (RAID ${r.raid})`, subtitle: "blocks read and written, log scale" },
      width: 480, height: 200,
      data: { values: [
        { how: "holdup: the rows the buffer names", blocks: r.repair_blocks },
        { how: "md write-intent bitmap, 64 MiB chunks", blocks: r.repair_blocks_bitmap64m },
        { how: "full parity scan", blocks: r.repair_blocks_fullscan },
      ] },
      layer: [
        { mark: { type: "bar" }, encoding: {
          y: { field: "how", type: "nominal", title: null, sort: null, axis: { labelLimit: 320 } },
          x: { field: "blocks", type: "quantitative", scale: { type: "log", domainMin: 1 }, title: "blocks" },
          x2: { datum: 1 } } },
        { mark: { type: "text", align: "left", dx: 4 }, encoding: {
          y: { field: "how", type: "nominal", sort: null },
          x: { field: "blocks", type: "quantitative" },
          text: { field: "blocks", type: "quantitative", format: "," } } },
      ],
    } as TopLevelSpec);
  }
  return files;
}
