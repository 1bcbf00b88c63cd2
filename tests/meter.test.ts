// The metering rewriter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { meter } from "../host/meter/instrument.js";
import { readBuild } from "../host/firmware.js";

const release = readBuild("firmware.wasm");

function instantiate(bytes: Uint8Array, tick: (c: bigint) => void = () => {}) {
  const hal = new Proxy({ meter_tick: tick }, { get: (t, k) => (k in t ? (t as never)[k] : () => 0) });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { hal: hal as never });
  return inst.exports as Record<string, unknown> & {
    memory: WebAssembly.Memory; crc32c(p: number, n: number, c: number): number;
    __meter_cycles(): bigint; __meter_set_deadline(d: bigint): void;
  };
}

test("the metered module keeps every export and import and adds the meter", () => {
  const { wasm, report } = meter(release);
  const m = new WebAssembly.Module(wasm);
  const before = new WebAssembly.Module(release);
  const exp = WebAssembly.Module.exports(m).map((e) => e.name);
  for (const e of WebAssembly.Module.exports(before)) assert.ok(exp.includes(e.name), e.name);
  assert.ok(exp.includes("__meter_cycles") && exp.includes("__meter_set_deadline"));
  const imp = WebAssembly.Module.imports(m).map((i) => `${i.module}.${i.name}`);
  assert.ok(imp.includes("hal.meter_tick"));
  assert.equal(imp.length, WebAssembly.Module.imports(before).length + 1);
  assert.ok(report.blocks > 100 && report.checks > 10);
});

test("metered code computes what the release code computes", () => {
  const plain = instantiate(release);
  const metered = instantiate(meter(release).wasm);
  for (const x of [plain, metered]) {
    const mem = new Uint8Array(x.memory.buffer);
    mem.set(new TextEncoder().encode("123456789"), 0x19000);
  }
  assert.equal(plain.crc32c(0x19000, 9, 0) >>> 0, 0xe3069283);
  assert.equal(metered.crc32c(0x19000, 9, 0) >>> 0, 0xe3069283);
});

test("cycles grow linearly with the work and repeat exactly", () => {
  const x = instantiate(meter(release).wasm);
  x.__meter_set_deadline(1n << 60n);
  const cost = (n: number) => { const c0 = x.__meter_cycles(); x.crc32c(0x19000, n, 0); return Number(x.__meter_cycles() - c0); };
  // The first CRC of an instance that has not booted fills the tables (crc32c_init).
  const first = cost(1024);
  const c1k = cost(1024), c2k = cost(2048), again = cost(1024);
  assert.ok(first > c1k + 10_000, `the first call ${first} cycles, then ${c1k}`);
  assert.equal(again, c1k);
  const perWord = (c2k - c1k) / 256;
  assert.ok(perWord > 5 && perWord < 60, `cycles per 4-byte step: ${perWord}`);
  assert.ok(Math.abs(c2k - 2 * c1k) < 100, "linear in length");
});

test("the deadline check calls meter_tick once the counter passes the deadline", () => {
  let ticks = 0;
  let seen = 0n;
  const x = instantiate(meter(release).wasm, (c) => { ticks++; seen = c; x.__meter_set_deadline(1n << 60n); });
  x.__meter_set_deadline(1n << 60n);
  x.crc32c(0x19000, 4096, 0);
  assert.equal(ticks, 0);
  const start = x.__meter_cycles();
  x.__meter_set_deadline(start + 500n);
  x.crc32c(0x19000, 4096, 0);
  assert.equal(ticks, 1);
  assert.ok(seen >= start + 500n && seen < start + 600n, `tick at ${seen - start} cycles past start`);
});

test("a module that is not WASM is refused", () => {
  assert.throws(() => meter(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /bad magic/);
});
