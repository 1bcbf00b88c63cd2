// The inter-controller link (host/devices/link.ts): line rate and latency, FIFO order,
// and each fault on its own: down, loss, duplication, reordering, delay; reproducible
// from the seed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualClock } from "../host/clock.js";
import { Rng } from "../host/rng.js";
import { Link, DEFAULT_LINK } from "../host/devices/link.js";

function setup(seed = 1) {
  const clock = new VirtualClock();
  const link = new Link("link0", DEFAULT_LINK, clock, new Rng(seed).fork("link0"));
  const got: Array<{ at: number; n: number; end: number }> = [];
  link.attach(0, (d) => got.push({ at: clock.now_ns, n: d[0] | (d[1] << 8), end: 0 }));
  link.attach(1, (d) => got.push({ at: clock.now_ns, n: d[0] | (d[1] << 8), end: 1 }));
  const msg = (n: number, bytes = 4096) => { const d = new Uint8Array(bytes); d[0] = n & 0xff; d[1] = n >> 8; return d; };
  const drain = () => { for (let i = 0; i < 1e6 && clock.runNext(); i++); };
  return { clock, link, got, msg, drain };
}

test("1 Gbit/s each way: a 4 KiB message arrives after its 33.1 µs on the wire and the 5 µs latency; back-to-back ones a wire time apart, in order; both directions at once", () => {
  const { link, got, msg, drain } = setup();
  for (let n = 0; n < 10; n++) assert.ok(link.send(0, msg(n)));
  assert.ok(link.send(1, msg(100)));
  drain();
  const wire = ((4096 + 38) * 8 * 1e9) / 1e9;
  const fwd = got.filter((g) => g.end === 1);
  assert.deepEqual(fwd.map((g) => g.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(Math.abs(fwd[0].at - (wire + 5000)) < 1e-6, `${fwd[0].at}`);
  assert.ok(Math.abs(fwd[9].at - fwd[8].at - wire) < 1e-6);
  assert.equal(got.find((g) => g.end === 0)?.at, fwd[0].at, "the other direction is its own wire");
  assert.equal(link.transit_ns(4096), wire + 5000);
  assert.equal(link.send(0, new Uint8Array(DEFAULT_LINK.max_bytes + 1)), false);
});

test("down: send refuses, and what was on the wire is lost; up again, it carries", () => {
  const { link, got, msg, drain, clock } = setup();
  link.send(0, msg(1));
  clock.advanceBy(10_000); // on the wire still
  link.setDown(true);
  assert.equal(link.send(0, msg(2)), false);
  drain();
  assert.equal(got.length, 0);
  link.setDown(false);
  assert.ok(link.send(0, msg(3)));
  drain();
  assert.deepEqual(got.map((g) => g.n), [3]);
  assert.equal(link.stats.lost, 1);
});

test("loss, duplication, reordering, each at its rate, the same for the same seed", () => {
  const run = (seed: number) => {
    const { link, got, msg, drain } = setup(seed);
    Object.assign(link.faults[0], { lossProb: 0.1, dupProb: 0.1, reorderProb: 0.1, reorder_ns: 200_000 });
    for (let n = 0; n < 2000; n++) link.send(0, msg(n, 64));
    drain();
    return { seq: got.map((g) => g.n), stats: { ...link.stats } };
  };
  const a = run(7), b = run(7), c = run(8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.seq, c.seq);
  const s = a.stats;
  for (const k of ["lost", "duplicated", "reordered"] as const) assert.ok(s[k] > 120 && s[k] < 300, `${k} ${s[k]}`);
  assert.equal(s.delivered, 2000 - s.lost + s.duplicated);
  // Reordered: some message arrives after one sent later.
  assert.ok(a.seq.some((n, i) => i > 0 && n < a.seq[i - 1]));
  // Only the faulted direction.
  const { link, got, msg, drain } = setup(7);
  Object.assign(link.faults[0], { lossProb: 1 });
  link.send(1, msg(5));
  link.send(0, msg(6));
  drain();
  assert.deepEqual(got.map((g) => g.n), [5]);
});

test("garbled: a delivered copy differs from what was sent in exactly one bit, at the fault's rate", () => {
  const clock = new VirtualClock();
  const link = new Link("link0", DEFAULT_LINK, clock, new Rng(3).fork("link0"));
  const got: Uint8Array[] = [];
  link.attach(1, (d) => got.push(d));
  const sent: Uint8Array[] = [];
  link.faults[0].garbleProb = 0.25;
  for (let n = 0; n < 1000; n++) {
    const d = new Uint8Array(64).map((_, i) => (n * 31 + i * 7) & 0xff);
    sent.push(d.slice());
    link.send(0, d);
  }
  for (let i = 0; i < 1e6 && clock.runNext(); i++);
  assert.equal(got.length, 1000);
  let garbled = 0;
  got.forEach((d, n) => {
    let bits = 0;
    d.forEach((b, i) => { let x = b ^ sent[n][i]; while (x) { bits += x & 1; x >>= 1; } });
    assert.ok(bits === 0 || bits === 1, `message ${n}: ${bits} bits differ`);
    garbled += bits;
  });
  assert.equal(garbled, link.stats.garbled);
  assert.ok(garbled > 200 && garbled < 300, `${garbled} garbled`);
});
