// The built firmware: the board contract (imports, memory, features) and the map.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { BUILD, ROOT, readBuild } from "../host/firmware.js";
import { dataSegments } from "../host/meter/instrument.js";

const release = readBuild("firmware.wasm");
const mod = new WebAssembly.Module(release);

test("the release firmware imports only from module hal", () => {
  const imports = WebAssembly.Module.imports(mod);
  assert.ok(imports.length > 0);
  for (const i of imports) {
    assert.equal(i.module, "hal", `import ${i.module}.${i.name}`);
    assert.equal(i.kind, "function", `import ${i.name} is a function`);
  }
  const names = imports.map((i) => i.name).sort();
  assert.ok(!names.includes("abort") && !names.includes("trace") && !names.includes("seed"));
});

test("linear memory is at most 2 pages and cannot grow past them", () => {
  const text = execFileSync("node", ["-e", `
    const m = new WebAssembly.Module(require("fs").readFileSync(${JSON.stringify(join(BUILD, "firmware.wasm"))}));
    const i = new WebAssembly.Instance(m, { hal: new Proxy({}, { get: () => () => 0 }) });
    const mem = i.exports.memory;
    let grew = true; try { mem.grow(1); } catch { grew = false; }
    console.log(mem.buffer.byteLength, grew);`]).toString().trim();
  assert.equal(text, "131072 false");
});

test("the release build validates with bulk memory, SIMD, reference types and multi-value off", () => {
  const out = execFileSync("wasm-validate", [
    "--disable-bulk-memory", "--disable-simd", "--disable-reference-types", "--disable-multi-value",
    join(BUILD, "firmware.wasm"),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  assert.equal(out.toString(), "");
});

test("the memory map's regions are in order, disjoint, and inside memory", () => {
  const inst = new WebAssembly.Instance(mod, { hal: new Proxy({}, { get: () => () => 0 }) as never });
  const x = inst.exports as Record<string, (i?: number) => number>;
  const n = x.layout_region_count();
  assert.ok(n >= 15, `${n} regions`);
  let end = 0;
  for (let i = 0; i < n; i++) {
    const base = x.layout_region_base(i) >>> 0, bytes = x.layout_region_bytes(i) >>> 0;
    assert.ok(base >= end, `region ${i} at ${base} overlaps the one before (ends ${end})`);
    end = base + bytes;
  }
  assert.ok(end <= 2 * 65536, "the map fits in 2 pages");
});

test("the compiler's data segments stay inside the static region", () => {
  const inst = new WebAssembly.Instance(mod, { hal: new Proxy({}, { get: () => () => 0 }) as never });
  const x = inst.exports as Record<string, (i?: number) => number>;
  const staticBase = x.layout_region_base(0), staticEnd = staticBase + x.layout_region_bytes(0);
  const segs = dataSegments(release);
  assert.ok(segs.length > 0);
  for (const [off, len] of segs) {
    assert.ok(off >= staticBase && off + len <= staticEnd, `segment ${off}+${len} outside [${staticBase}, ${staticEnd})`);
  }
});

test("the program is under 64 KiB of WASM", () => {
  assert.ok(release.length < 64 * 1024, `${release.length} bytes`);
});

test("what crosses the wasm boundary is generated from abi/abi.json, and docs/HAL.md shows it", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "gen-abi.mjs"), "--check"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("the preemption build validates and imports the same HAL as the metered one", () => {
  const a = new WebAssembly.Module(readBuild("firmware.metered.wasm"));
  const b = new WebAssembly.Module(readBuild("firmware.preempt.wasm"));
  const names = (m: WebAssembly.Module) => WebAssembly.Module.imports(m).map((i) => i.name).sort();
  assert.deepEqual(names(b), names(a));
  assert.ok(names(a).includes("scsi_abort"));
});
