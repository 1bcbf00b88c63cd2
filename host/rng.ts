// Seeded pseudo-random numbers: sfc32 seeded through splitmix32. Every random choice
// in the emulator comes from one of these, so a seed reproduces a run exactly.
// fork(label) gives an independent stream per device, so adding a random draw in one
// device does not shift the draws of the others.

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) >>> 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [(z ^ (z >>> 16)) >>> 0, state];
}

function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(readonly seed: number) {
    let s = seed >>> 0;
    let v: number;
    [v, s] = splitmix32(s); this.a = v;
    [v, s] = splitmix32(s); this.b = v;
    [v, s] = splitmix32(s); this.c = v;
    [v, s] = splitmix32(s); this.d = v;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** An independent stream derived from this seed and a label. */
  fork(label: string): Rng {
    return new Rng((this.seed ^ hashLabel(label)) >>> 0);
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  float(): number { return this.u32() / 4294967296; }

  /** Uniform integer in [0, n). */
  int(n: number): number { return Math.floor(this.float() * n); }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }

  chance(p: number): boolean { return this.float() < p; }

  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]; }

  fill(buf: Uint8Array): void {
    // Whole little-endian words where the buffer allows (the same bytes, 4 at a time).
    if (LITTLE_ENDIAN && buf.byteOffset % 4 === 0 && buf.length % 4 === 0) {
      const w = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
      for (let i = 0; i < w.length; i++) w[i] = this.u32();
      return;
    }
    for (let i = 0; i < buf.length; i += 4) {
      const v = this.u32();
      for (let k = 0; k < 4 && i + k < buf.length; k++) buf[i + k] = (v >>> (8 * k)) & 0xff;
    }
  }
}
