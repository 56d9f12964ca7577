// Deterministic pseudo-random numbers: mulberry32 with Box–Muller normals.

/** mulberry32's output function of the counter state: 32 random bits. */
function mixBits(s: number): number {
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

const mix = (s: number): number => mixBits(s) / 4294967296;

/** mulberry32's counter step: each draw advances the state by it. */
const STEP = 0x6d2b79f5;

export class Rng {
  private state: number;
  private spare: number | undefined;
  constructor(seed: number) {
    // Mix the seed so that small consecutive seeds give unrelated streams.
    let s = Math.floor(Number.isFinite(seed) ? seed : 0) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x45d9f3b) >>> 0;
    this.state = (s ^ 0x9e3779b9) >>> 0;
  }
  /** Uniform on [0, 1). */
  uniform(): number {
    this.state = (this.state + STEP) >>> 0;
    return mix(this.state);
  }
  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u <= 1e-300) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /**
   * n random signs (Rademacher: ±1, mean 0, unit variance) as bits, 32 per draw: sign j
   * of a draw u is bit j of floor(u·2³²), 1 meaning +1 (read with `signAt`). A random
   * direction for millions of values at a thirty-second of the draws of uniforms.
   */
  signs(n: number): Uint32Array {
    const out = new Uint32Array(Math.ceil(n / 32));
    let s = this.state;
    for (let i = 0; i < out.length; i++) {
      s = (s + STEP) >>> 0;
      out[i] = mixBits(s);
    }
    this.state = s;
    return out;
  }
  /**
   * `out.length` draws of uniform(), each times `scale`, into `out`: the stream continues after them. One loop on
   * the state, not a call a draw (a noise realisation of 16,000 steps, made while a model is analysed, in its cold
   * code: kohonen.ode's 101 of them).
   */
  uniforms(out: Float64Array, scale: number): void {
    let s = this.state;
    for (let i = 0; i < out.length; i++) {
      s = (s + STEP) >>> 0;
      out[i] = scale * mix(s);
    }
    this.state = s;
  }
  normals(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }
}

/** Sign k (±1) of bits drawn by Rng.signs (branch-free: random branches mispredict half the time; 2.7 ns a sign against 5). */
export function signAt(bits: Uint32Array, k: number): number {
  return (((bits[k >>> 5] >>> (k & 31)) & 1) << 1) - 1;
}

/** A seed for one named stream: the model's seed mixed with the name's characters (also a Markov chain's coins). */
export function streamSeed(seed: number, name: string): number {
  let h = Math.imul(Math.floor(seed) >>> 0, 0x9e3779b1) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
