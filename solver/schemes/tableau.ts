// The coefficients of a scheme and the checks that make them runnable: well formed, explicit, and consistent
// (Runge–Kutta: c are the row sums of a and the weights b sum to 1; multistep: ρ(1) = 0 and ρ'(1) = σ(1)).
// It imports nothing, so the scheme registry (registry.ts) validates its own entries at load with these checks,
// below the model types that name the registry's schemes. The number format of the messages is a parameter:
// coefficients.ts passes the shared one, the registry plain String.

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

type Format = (x: number) => string;

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

/**
 * A tableau's problems in plain words (empty when fine): shapes, explicitness, c = row sums of a, Σ b = 1. With
 * `diagonallyImplicit` (a built-in implicit scheme, backeul) the diagonal of a may be nonzero and counts in the row sums.
 */
export function tableauProblems(t: ButcherTableau, fmt: Format, diagonallyImplicit = false): string[] {
  const upper = diagonallyImplicit ? 1 : 0;
  const out: string[] = [];
  const s = t.b.length;
  if (s === 0) return ['the tableau has no stages'];
  if (t.c.length !== s || t.a.length !== s) out.push('a, b and c must have one entry per stage');
  const finite = [...t.b, ...t.c, ...t.a.flat()].every(Number.isFinite);
  if (!finite) return [...out, 'every coefficient must be a finite number'];
  for (let i = 0; i < t.a.length; i++) {
    if (t.a[i].slice(i + upper).some((v) => v !== 0))
      out.push(`row ${i + 1} of a is not strictly lower triangular (implicit schemes are not supported)`);
    const rowSum = sum(t.a[i].slice(0, i + upper));
    if (i < t.c.length && Math.abs(rowSum - t.c[i]) > 1e-12 * Math.max(1, Math.abs(rowSum)))
      out.push(
        `c[${i + 1}] = ${fmt(t.c[i])} differs from the row sum of a (${fmt(rowSum)}), so stage ${i + 1} evaluates f at a time that does not match its state`,
      );
  }
  const bs = sum(t.b);
  if (Math.abs(bs - 1) > 1e-12) out.push(`the weights b sum to ${fmt(bs)}, not 1 (the scheme is inconsistent)`);
  return out;
}

/** A multistep method's problems in plain words (empty when the engine can run it explicitly). */
export function multistepProblems(m: LinearMultistep, fmt: Format): string[] {
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

/** Consistency of a multistep method (order ≥ 1): ρ(1) = Σ alpha_j = 0 and ρ'(1) = Σ j alpha_j = σ(1) = Σ beta_j. */
export function multistepConsistencyProblems(m: LinearMultistep, fmt: Format): string[] {
  const rho1 = sum(m.alpha);
  const rhoPrime1 = sum(m.alpha.map((a, j) => j * a));
  const sigma1 = sum(m.beta);
  const out: string[] = [];
  if (Math.abs(rho1) > 1e-12) out.push(`ρ(1) = Σ alpha_j = ${fmt(rho1)}, not 0`);
  if (Math.abs(rhoPrime1 - sigma1) > 1e-12) out.push(`ρ'(1) = ${fmt(rhoPrime1)} differs from σ(1) = ${fmt(sigma1)}`);
  return out;
}
