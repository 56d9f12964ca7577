// The arithmetic of scheme coefficients, with no engine or editor
// dependency: Runge–Kutta order conditions, linear multistep error constants,
// and zero-stability from the roots of ρ(ζ) = Σ alpha_j ζ^j.
import { formatNumber } from '../presentation/format';

export interface ButcherTableau {
  /** Strictly lower-triangular stage matrix (rows may be shorter than s). */
  a: number[][];
  b: number[];
  c: number[];
}

/** Σ_{j=0..k} alpha_j x_{n+j} = h Σ_{j=0..k} beta_j f_{n+j}; index 0 is the oldest value, k the newest. */
export interface LinearMultistep {
  alpha: number[];
  beta: number[];
}

export type Stability = 'strong' | 'weak' | 'unstable';

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const aij = (t: ButcherTableau, i: number, j: number) => (j < i ? (t.a[i]?.[j] ?? 0) : 0);

/** Checks a tableau is well formed, explicit and consistent; returns problems in plain words (empty when fine). */
export function validateTableau(t: ButcherTableau): string[] {
  const out: string[] = [];
  const s = t.b.length;
  if (s === 0) return ['the tableau has no stages'];
  if (t.c.length !== s || t.a.length !== s) out.push('a, b and c must have one entry per stage');
  const finite = [...t.b, ...t.c, ...t.a.flat()].every(Number.isFinite);
  if (!finite) return [...out, 'every coefficient must be a finite number'];
  for (let i = 0; i < t.a.length; i++) {
    if (t.a[i].slice(i).some((v) => v !== 0))
      out.push(`row ${i + 1} of a is not strictly lower triangular (implicit schemes are not supported)`);
    const rowSum = sum(t.a[i].slice(0, i));
    if (i < t.c.length && Math.abs(rowSum - t.c[i]) > 1e-12 * Math.max(1, Math.abs(rowSum)))
      out.push(
        `c[${i + 1}] = ${fmt(t.c[i])} differs from the row sum of a (${fmt(rowSum)}), so stage ${i + 1} evaluates f at a time that does not match its state`,
      );
  }
  const bs = sum(t.b);
  if (Math.abs(bs - 1) > 1e-12) out.push(`the weights b sum to ${fmt(bs)}, not 1 (the scheme is inconsistent)`);
  return out;
}

/** One Runge–Kutta order condition: Φ(b, a, c) must equal `value` for order `order`. */
interface OrderCondition {
  order: number;
  text: string;
  value: number;
  phi: (t: ButcherTableau, c: number[]) => number;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const RK_CONDITIONS: OrderCondition[] = [
  { order: 1, text: 'Σ b_i = 1', value: 1, phi: (t) => sum(t.b) },
  { order: 2, text: 'Σ b_i c_i = 1/2', value: 1 / 2, phi: (t, c) => sum(t.b.map((b, i) => b * c[i])) },
  { order: 3, text: 'Σ b_i c_i² = 1/3', value: 1 / 3, phi: (t, c) => sum(t.b.map((b, i) => b * c[i] ** 2)) },
  {
    order: 3,
    text: 'Σ b_i a_ij c_j = 1/6',
    value: 1 / 6,
    phi: (t, c) => sum(t.b.map((b, i) => b * sum(range(i).map((j) => aij(t, i, j) * c[j])))),
  },
  { order: 4, text: 'Σ b_i c_i³ = 1/4', value: 1 / 4, phi: (t, c) => sum(t.b.map((b, i) => b * c[i] ** 3)) },
  {
    order: 4,
    text: 'Σ b_i c_i a_ij c_j = 1/8',
    value: 1 / 8,
    phi: (t, c) => sum(t.b.map((b, i) => b * c[i] * sum(range(i).map((j) => aij(t, i, j) * c[j])))),
  },
  {
    order: 4,
    text: 'Σ b_i a_ij c_j² = 1/12',
    value: 1 / 12,
    phi: (t, c) => sum(t.b.map((b, i) => b * sum(range(i).map((j) => aij(t, i, j) * c[j] ** 2)))),
  },
  {
    order: 4,
    text: 'Σ b_i a_ij a_jk c_k = 1/24',
    value: 1 / 24,
    phi: (t, c) =>
      sum(
        t.b.map((b, i) => b * sum(range(i).map((j) => aij(t, i, j) * sum(range(j).map((k) => aij(t, j, k) * c[k]))))),
      ),
  },
];

export interface RKOrder {
  /** Consistency order, checked up to 4 (4 means "at least 4"); 0 when Σ b_i ≠ 1. */
  order: number;
  /** The first order condition that fails, in words (undefined when all up to order 4 hold). */
  failed?: string;
}

/**
 * Order of an explicit tableau from the order conditions up to 4 (the
 * autonomous conditions, with c_i taken as the row sums of a). When the given
 * c differs from the row sums, time-dependent right-hand sides see the wrong
 * stage times and the order is capped at 1.
 */
export function rkOrder(t: ButcherTableau): RKOrder {
  const s = t.b.length;
  const rows = range(s).map((i) => sum(range(i).map((j) => aij(t, i, j))));
  let order = 0;
  let failed: string | undefined;
  for (let p = 1; p <= 4 && !failed; p++) {
    for (const cond of RK_CONDITIONS.filter((x) => x.order === p)) {
      if (Math.abs(cond.phi(t, rows) - cond.value) > 1e-10) {
        failed = `order ${p} needs ${cond.text}`;
        break;
      }
    }
    if (!failed) order = p;
  }
  const cMatches = rows.every((r, i) => Math.abs(r - (t.c[i] ?? NaN)) <= 1e-12 * Math.max(1, Math.abs(r)));
  if (!cMatches && order > 1) return { order: 1, failed: 'c must equal the row sums of a for order 2 or more' };
  return failed ? { order, failed } : { order };
}

/** Problems with a multistep method's coefficients in plain words (empty when usable by the engine). */
export function validateMultistep(m: LinearMultistep): string[] {
  const out: string[] = [];
  const k = m.alpha.length - 1;
  if (k < 1) return ['alpha needs at least 2 coefficients (oldest first)'];
  if (m.beta.length !== m.alpha.length) out.push(`beta must have ${m.alpha.length} coefficients, like alpha`);
  if (![...m.alpha, ...m.beta].every(Number.isFinite)) out.push('every coefficient must be a finite number');
  if (m.alpha[k] === 0) out.push('the newest alpha coefficient must not be 0');
  if ((m.beta[k] ?? 0) !== 0)
    out.push(
      `the method is implicit (newest beta = ${fmt(m.beta[k])}); only explicit multistep methods can be declared`,
    );
  return out;
}

export interface MultistepOrder {
  /** Consistency order p (C_0 = … = C_p = 0); 0 when inconsistent. */
  order: number;
  /** Error constant C_{p+1} / σ(1) (the leading term of the local error); NaN when inconsistent. */
  errorConstant: number;
  /** ρ(1) = Σ alpha_j (must be 0). */
  rho1: number;
  /** ρ'(1) = Σ j alpha_j: each step of the method advances ρ'(1)·h of time. */
  rhoPrime1: number;
  /** σ(1) = Σ beta_j (must equal ρ'(1)). */
  sigma1: number;
}

/**
 * Order from the error constants C_q = Σ_j (j^q/q! alpha_j − j^(q−1)/(q−1)! beta_j):
 * the method has order p when C_0 = … = C_p = 0.
 */
export function multistepOrder(m: LinearMultistep): MultistepOrder {
  const { alpha, beta } = m;
  const k = alpha.length - 1;
  const scale = Math.max(1, ...alpha.map(Math.abs), ...beta.map(Math.abs));
  let fact = 1;
  const C: number[] = [sum(alpha)];
  for (let q = 1; q <= 2 * k + 2; q++) {
    const prevFact = fact;
    fact *= q;
    let c = 0;
    for (let j = 0; j <= k; j++) c += (j ** q / fact) * alpha[j] - (j ** (q - 1) / prevFact) * (beta[j] ?? 0);
    C.push(c);
  }
  const tol = (q: number) => 1e-10 * scale * Math.max(1, k) ** q;
  let order = -1;
  while (order + 1 < C.length && Math.abs(C[order + 1]) <= tol(order + 1)) order++;
  const sigma1 = sum(beta);
  const rhoPrime1 = sum(alpha.map((a, j) => j * a));
  if (order < 1) return { order: 0, errorConstant: NaN, rho1: C[0], rhoPrime1, sigma1 };
  return { order, errorConstant: order + 1 < C.length ? C[order + 1] / sigma1 : 0, rho1: C[0], rhoPrime1, sigma1 };
}

// ---- roots of ρ -------------------------------------------------------------

export interface Complex {
  re: number;
  im: number;
}

const cmul = (a: Complex, b: Complex): Complex => ({ re: a.re * b.re - a.im * b.im, im: a.re * b.im + a.im * b.re });
const cdiv = (a: Complex, b: Complex): Complex => {
  const d = b.re * b.re + b.im * b.im;
  return { re: (a.re * b.re + a.im * b.im) / d, im: (a.im * b.re - a.re * b.im) / d };
};
const cabs = (a: Complex) => Math.hypot(a.re, a.im);

/** p(z) for coefficients lowest power first. */
function horner(coeffs: number[], z: Complex): Complex {
  let acc: Complex = { re: 0, im: 0 };
  for (let j = coeffs.length - 1; j >= 0; j--) {
    const m = cmul(acc, z);
    acc = { re: m.re + coeffs[j], im: m.im };
  }
  return acc;
}

/**
 * All complex roots of Σ coeffs_j z^j (lowest power first) by the
 * Durand–Kerner iteration with a Newton polish; exact zero roots (trailing
 * zero coefficients) are split off first. Multiple roots come out to about
 * √ε, which is enough to cluster them.
 */
export function polynomialRoots(coeffs: number[]): Complex[] {
  const c = [...coeffs];
  while (c.length > 0 && c[c.length - 1] === 0) c.pop();
  const zeros: Complex[] = [];
  while (c.length > 1 && c[0] === 0) {
    c.shift();
    zeros.push({ re: 0, im: 0 });
  }
  const n = c.length - 1;
  if (n < 1) return zeros;
  const monic = c.map((v) => v / c[n]);
  const seed: Complex = { re: 0.4, im: 0.9 };
  const z: Complex[] = [];
  let p: Complex = { re: 1, im: 0 };
  for (let i = 0; i < n; i++) {
    z.push(p);
    p = cmul(p, seed);
  }
  for (let iter = 0; iter < 1000; iter++) {
    let moved = 0;
    for (let i = 0; i < n; i++) {
      let den: Complex = { re: 1, im: 0 };
      for (let j = 0; j < n; j++) if (j !== i) den = cmul(den, { re: z[i].re - z[j].re, im: z[i].im - z[j].im });
      const step = cdiv(horner(monic, z[i]), den);
      if (!Number.isFinite(step.re) || !Number.isFinite(step.im)) continue;
      z[i] = { re: z[i].re - step.re, im: z[i].im - step.im };
      moved = Math.max(moved, cabs(step));
    }
    if (moved < 1e-15) break;
  }
  // Newton polish (helps simple roots; harmless for multiple ones).
  const deriv = monic.slice(1).map((v, j) => v * (j + 1));
  for (let i = 0; i < n; i++) {
    for (let it = 0; it < 3; it++) {
      const d = horner(deriv, z[i]);
      if (cabs(d) < 1e-12) break;
      const step = cdiv(horner(monic, z[i]), d);
      if (!Number.isFinite(step.re) || cabs(step) > 1e-6) break;
      z[i] = { re: z[i].re - step.re, im: z[i].im - step.im };
    }
  }
  return [...zeros, ...z];
}

export interface ZeroStability {
  stability: Stability;
  /** Roots of ρ, largest modulus first. */
  roots: Complex[];
  /** Roots on the unit circle other than the principal root 1 (what makes a method weakly stable). */
  parasitic: Complex[];
  /** Why the method is unstable, in words. */
  reason?: string;
}

/**
 * Dahlquist's root condition on ρ(ζ) = Σ alpha_j ζ^j: every root in the
 * closed unit disc, those on the circle simple. Strong: the only root on the
 * circle is 1; weak: another simple root on it (e.g. −1 for leapfrog and
 * Milne–Simpson, whose adjoints then oscillate); unstable otherwise.
 */
export function zeroStability(alpha: number[]): ZeroStability {
  const roots = polynomialRoots(alpha).sort((a, b) => cabs(b) - cabs(a));
  const outside = roots.filter((r) => cabs(r) > 1 + 1e-7);
  if (outside.length > 0)
    return {
      stability: 'unstable',
      roots,
      parasitic: [],
      reason: `ρ has the root ${fmtComplex(outside[0])} outside the unit circle`,
    };
  const onCircle = roots.filter((r) => cabs(r) >= 1 - 1e-7);
  for (let i = 0; i < onCircle.length; i++) {
    for (let j = i + 1; j < onCircle.length; j++) {
      if (cabs({ re: onCircle[i].re - onCircle[j].re, im: onCircle[i].im - onCircle[j].im }) < 1e-4) {
        return {
          stability: 'unstable',
          roots,
          parasitic: [],
          reason: `ρ has a repeated root ${fmtComplex(onCircle[i])} on the unit circle`,
        };
      }
    }
  }
  const parasitic = onCircle.filter((r) => cabs({ re: r.re - 1, im: r.im }) > 1e-4);
  return { stability: parasitic.length > 0 ? 'weak' : 'strong', roots, parasitic };
}

/** A coefficient rounded to 1e-6 (so 1/6 reads 0.166667 and round-off reads 0), in the shared number format. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const r = Math.round(x * 1e6) / 1e6;
  return Object.is(r, -0) ? '0' : formatNumber(r, 7);
}

export function fmtComplex(z: Complex): string {
  const re = Math.abs(z.re) < 1e-9 ? 0 : z.re,
    im = Math.abs(z.im) < 1e-9 ? 0 : z.im;
  if (im === 0) return fmt(re).replace(/^-/, '−');
  const sign = im < 0 ? '−' : '+';
  return `${fmt(re)} ${sign} ${fmt(Math.abs(im))}i`;
}
