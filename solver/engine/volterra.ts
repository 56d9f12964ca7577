// XPPAUT's Volterra integrals on the fixed grid (its volterra2.c, after Linz's product integration):
//   K(t_n) = Σ_{j=i0}^{n} w_j · c(t_n − t_j) · g(t_n, t_j, x_j),   i0 = max(0, n − vmaxpts)
// with c the convolution kernel of int{K#u} tabulated at t0 + l·h (1 for int{K(t,t',u)}), g the
// integrand, and the weights of the trapezoid rule (½h, h, …, h, ½h) — or, for int[mu]{…}, the
// product-integration weights of (t − t')^−mu: ½((l+1)^{1−mu} − (l−1)^{1−mu})·h^{1−mu}/(1−mu) in the
// middle, ½(m^{1−mu} − (m−1)^{1−mu})·h^{1−mu}/(1−mu) at the oldest point, ½h^{1−mu}/(1−mu) at the newest.
// The newest term reads the state being solved for (the step is implicit, engine/volterraSolve.ts);
// the others are one sum per step over a [points] history tensor: O(n) work per step, O(N²) per solve.
// An integrand that reads neither t nor t' is evaluated once per grid point and kept; one that reads
// them is evaluated over the whole stored history each step (the scalar states stacked).
import type { Tensor, TF } from './tf';

/** What an integral's formulas read (engine/compileNode.ts's Env): states, parameters, t, t' and t as a number. */
export interface VolterraEnv {
  s: Tensor[];
  p: Tensor[];
  t?: Tensor;
  tp?: Tensor;
  now?: number;
}
type Fn = (env: VolterraEnv) => Tensor;
type Env = VolterraEnv;

/** XPPAUT's default number of points an integral reads back (VMAXPTS). */
export const DEFAULT_MAX_POINTS = 4000;

export interface IntegralSpec {
  mu: number;
  /** g: the formula after `#`, or the whole K(t, t', u) (a scalar). */
  integrand: Fn;
  /** c: the kernel K of int{K#u}, a formula of t (and the parameters), tabulated once per solve. */
  kernel?: Fn;
  kernelUsesP: boolean;
  /** g reads t or t': evaluated over the stacked history each step; else once per grid point. */
  overHistory: boolean;
}

/** Where the integrals stand: before a solve, at its initial point, at t_n (known), at t_{n+1} (being solved). */
type Phase = 'idle' | 'initial' | 'previous' | 'current';

interface Tabulated {
  /** c(t0 + l·h) for l = 0..L, reversed (c[L − i] at i), a tensor when it depends on the parameters. */
  reversed?: Tensor;
  values?: Float64Array;
  /** c(0) as a scalar tensor (parameter-dependent) or number. */
  first: Tensor | number;
}

export class VolterraIntegrals {
  readonly specs: IntegralSpec[] = [];
  maxPoints = DEFAULT_MAX_POINTS;
  private phase: Phase = 'idle';
  private t0 = 0;
  private h = 1;
  /** Grid points stored: x_0..x_{stored−1}. */
  private stored = 0;
  private tables: Tabulated[] = [];
  /** Per integral: g at the stored points of the window, oldest first ([m]), when it is kept per point. */
  private kept: (Tensor | undefined)[] = [];
  /** Per scalar state: its values at the stored points of the window ([m]), for integrands over the history. */
  private history: (Tensor | undefined)[] = [];
  private scalarStates: boolean[] = [];
  /** The sums over the stored history for the step being solved, and the integrals at the newest point. */
  private sums: Tensor[] = [];
  private latest: Tensor[] = [];
  private memoEnv?: Env;
  private readonly memo = new Map<Fn, Tensor>();

  constructor(private readonly tf: TF) {}

  add(spec: IntegralSpec): number {
    this.specs.push(spec);
    return this.specs.length - 1;
  }

  /** The value of integral k in the expression being evaluated (engine/compileNode.ts). */
  value(k: number, env: Env): Tensor {
    const tf = this.tf;
    switch (this.phase) {
      case 'idle':
      case 'initial':
        return tf.scalar(0);
      case 'previous':
        return this.latest[k];
      case 'current': {
        // One evaluation of each integrand per right-hand side (the env is that evaluation's).
        if (this.memoEnv !== env) {
          this.memoEnv = env;
          this.memo.clear();
        }
        const f = this.specs[k].integrand;
        let g = this.memo.get(f);
        if (!g) {
          g = f({ ...env, tp: env.t ?? tf.scalar(env.now ?? 0) });
          this.memo.set(f, g);
        }
        return tf.add(this.sums[k], tf.mul(this.newestWeight(k), g));
      }
    }
  }

  /** A new solve from the states x0 at t0, step h, N steps; `p` the parameters the kernels read. */
  begin(x0: Tensor[], t0: number, h: number, N: number, p: Tensor[]): void {
    const tf = this.tf;
    this.t0 = t0;
    this.h = h;
    this.stored = 0;
    const L = Math.min(N, this.maxPoints) + 1;
    this.tables = this.specs.map((s) => tabulate(tf, s, t0, h, L, p));
    this.kept = this.specs.map(() => undefined);
    this.scalarStates = x0.map((x) => x.rank === 0);
    this.history = x0.map(() => undefined);
    this.latest = this.specs.map(() => tf.scalar(0));
    this.phase = 'initial';
  }

  /** f at the initial point reads the integrals as 0 (XPPAUT's start). */
  initialPhase(): void {
    this.phase = 'initial';
  }

  /** f at t_n reads the integrals as they were at the end of the step that reached t_n. */
  previousPhase(): void {
    this.phase = 'previous';
  }

  /** The stored grid point n = stored − 1 (after its events), with the parameters of its step. */
  record(x: Tensor[], p: Tensor[]): void {
    const tf = this.tf;
    const n = this.stored;
    const now = this.t0 + n * this.h;
    const env: Env = { s: x, p, t: tf.scalar(now), tp: tf.scalar(now), now };
    const needHistory = this.specs.some((s) => s.overHistory);
    if (needHistory)
      this.history = x.map((xi, i) => (this.scalarStates[i] ? this.window(this.history[i], xi) : undefined));
    const once = new Map<Fn, Tensor>();
    this.specs.forEach((s, k) => {
      const g = once.get(s.integrand) ?? s.integrand(env);
      once.set(s.integrand, g);
      if (!s.overHistory) this.kept[k] = this.window(this.kept[k], g);
      // The integral at this point, for f at t_n in the next step (XPPAUT's final get_kn).
      if (n > 0) this.latest[k] = tf.add(this.sums[k], tf.mul(this.newestWeight(k), g));
    });
    this.stored = n + 1;
  }

  /** The sums over the stored points for the step to the next grid point; the phase becomes 'current'. */
  prepare(p: Tensor[]): void {
    const tf = this.tf;
    const n1 = this.stored;
    const m = Math.min(n1, this.maxPoints);
    const now = this.t0 + n1 * this.h;
    let env: Env | undefined;
    const once = new Map<Fn, Tensor>();
    this.sums = this.specs.map((s, k) => {
      const weights = this.historyWeights(k, m);
      let g: Tensor;
      if (s.overHistory) {
        const first = n1 - m;
        const times = Float32Array.from({ length: m }, (_, i) => this.t0 + (first + i) * this.h);
        env ??= {
          s: this.history.map((hist) => hist ?? tf.scalar(Number.NaN)),
          p,
          t: tf.scalar(now),
          tp: tf.tensor1d(times),
          now,
        };
        g = once.get(s.integrand) ?? s.integrand(env);
        once.set(s.integrand, g);
      } else g = this.kept[k]!;
      return tf.sum(tf.mul(weights, g));
    });
    this.phase = 'current';
  }

  /** No solve in progress: integrals read 0 (probes outside a solve). */
  end(): void {
    this.phase = 'idle';
    this.memoEnv = undefined;
    this.memo.clear();
    this.sums = [];
    this.kept = [];
    this.history = [];
    this.latest = [];
    this.tables = [];
  }

  /** w_j · c(lag) for the m stored points of the window, oldest first (lags m..1). */
  private historyWeights(k: number, m: number): Tensor {
    const tf = this.tf;
    const { mu } = this.specs[k];
    const table = this.tables[k];
    const w = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const lag = m - i;
      const weight = i === 0 ? oldestWeight(mu, this.h, m) : middleWeight(mu, this.h, lag);
      w[i] = table.values ? weight * table.values[lag] : weight;
    }
    const weights = tf.tensor1d(w);
    if (!table.reversed) return weights;
    const L = table.reversed.shape[0] - 1;
    return tf.mul(weights, tf.slice(table.reversed, [L - m], [m]));
  }

  private newestWeight(k: number): Tensor | number {
    const w = newestWeight(this.specs[k].mu, this.h);
    const first = this.tables[k].first;
    return typeof first === 'number' ? w * first : this.tf.mul(w, first);
  }

  /** `hist` with `v` appended, the oldest dropped beyond vmaxpts points. */
  private window(hist: Tensor | undefined, v: Tensor): Tensor {
    const tf = this.tf;
    const point = tf.reshape(v, [1]);
    if (!hist) return point;
    const joined = tf.concat([hist, point]);
    return joined.shape[0] > this.maxPoints ? tf.slice(joined, [1], [this.maxPoints]) : joined;
  }
}

/** The kernel c tabulated at t0 + l·h, l = 0..L−1 (XPPAUT's cnv); numbers when it reads no parameter. */
function tabulate(tf: TF, s: IntegralSpec, t0: number, h: number, L: number, p: Tensor[]): Tabulated {
  if (!s.kernel) return { values: new Float64Array(L).fill(1), first: 1 };
  const times = tf.tensor1d(Float32Array.from({ length: L }, (_, l) => t0 + l * h));
  const c = tf.add(tf.zeros([L]), s.kernel({ s: [], p, t: times, tp: times, now: t0 }));
  if (!s.kernelUsesP) return { values: Float64Array.from(c.dataSync()), first: c.dataSync()[0] };
  return { reversed: tf.reverse(c), first: tf.reshape(tf.slice(c, [0], [1]), []) };
}

/** Weight of the newest point (XPPAUT's betnn). */
export function newestWeight(mu: number, h: number): number {
  if (mu === 0) return 0.5 * h;
  const m1 = 1 - mu;
  return (0.5 * h ** m1) / m1;
}

/** Weight of a middle point at lag l ≥ 1 (XPPAUT's alpbetjn). */
export function middleWeight(mu: number, h: number, lag: number): number {
  if (mu === 0) return h;
  const m1 = 1 - mu;
  return (0.5 * (((lag + 1) * h) ** m1 - Math.abs((lag - 1) * h) ** m1)) / m1;
}

/** Weight of the oldest point of the window, at lag m (XPPAUT's alpha1n). */
export function oldestWeight(mu: number, h: number, m: number): number {
  if (mu === 0) return 0.5 * h;
  const m1 = 1 - mu;
  return (0.5 * ((m * h) ** m1 - Math.abs((m - 1) * h) ** m1)) / m1;
}
