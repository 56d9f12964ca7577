// The continuous reference gradient (DESIGN 1.1):
//   g(t) = p(t)ᵀ ∂θ f(x(t), θ(t), t),  p' = −(∂x f)ᵀ p,  p(T) = ∇ℓ(x(T)),
// with θ(t) the piecewise-linear interpolant of the per-step copies through
// their layer times (linear extrapolation beyond the first/last layer time,
// constant for shared parameters).
//
// Grid: uniform step H = h/2 (H = h when N ≥ 32, N even and every layer
// time lies on the h-grid, as for leapfrog and Euler), so every layer time is
// a grid node and θ(t) is linear between nodes.
// Forward: classic RK4 with step H, storing x at the nodes; x at interval
// midpoints by cubic Hermite interpolation from x and f at both ends (fourth
// order, no extra f evaluations; f at the nodes is RK4's first stage).
// Backward: classic RK4 on the adjoint with step H (stages at the node, the
// midpoint, the next node), vector–Jacobian products of f by AD of f only (no
// AD through any solver). g is evaluated at every node.
// Error estimate: the backward solve repeated with step 2H (midpoints are
// then nodes); referenceError = ‖g_2H − g_H‖ / ‖g_H‖ on the common nodes.
import type { TF, Tensor } from './backend';
import type { CompiledModel } from './compile';

export interface ReferenceInput {
  N: number;
  h: number;
  t0: number;
  /** Per parameter: per-step flag, JS values (N×P for per-step, P for shared), internal shape. */
  params: { perStep: boolean; values: Float32Array; shape: number[]; size: number }[];
  /** Layer times of the per-step copies. */
  layerTimes: number[];
}

export interface ReferenceResult {
  /** Per parameter: g at each layer time (N×P) for per-step, ∫g dt (P) for shared. */
  g: Float32Array[];
  referenceError: number;
  /** p(T) etc. are not returned; the loss of the accurate solve is. */
  lossAccurate: number;
  /** Time and g on the h/2 grid, per parameter (for plots / diagnostics). */
  gridTimes: number[];
  /** True when a non-finite value appeared. */
  nonFinite: boolean;
}

/** Piecewise-linear interpolation weights of copies (through times τ) at time t. */
function interpWeights(tau: number[], t: number): [number, number, number] {
  const N = tau.length;
  if (N === 1) return [0, 0, 0];
  let i = 0;
  if (t <= tau[0]) i = 0;
  else if (t >= tau[N - 1]) i = N - 2;
  else {
    let lo = 0, hi = N - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (tau[mid] <= t) lo = mid; else hi = mid;
    }
    i = lo;
  }
  const w = (t - tau[i]) / (tau[i + 1] - tau[i]);
  return [i, i + 1, w];
}

export function continuousReference(tf: TF, cm: CompiledModel, inp: ReferenceInput, signalCheck?: () => void): ReferenceResult {
  const { N, h, t0 } = inp;
  // θ grid: step h/8 (every node, midpoint and RK4 stage time of the reference grids)
  const dt8 = h / 8;
  const owned: Tensor[] = [];
  const track = <T extends Tensor>(t: T): T => { tf.keep(t); owned.push(t); return t; };

  // θ on the h/8 grid, created lazily. Constant parameters share one tensor.
  const constant: (Tensor | null)[] = inp.params.map((p) => {
    if (!p.perStep) return track(tf.tensor(p.values, p.shape));
    const P = p.size;
    const first = p.values.subarray(0, P);
    for (let n = 1; n < N; n++) {
      const row = p.values.subarray(n * P, (n + 1) * P);
      for (let k = 0; k < P; k++) if (row[k] !== first[k]) return null;
    }
    return track(tf.tensor(first, p.shape));
  });
  const cache: (Tensor | undefined)[][] = inp.params.map(() => []);
  const thetaAt = (j: number): Tensor[] =>
    inp.params.map((p, i) => {
      const c = constant[i];
      if (c) return c;
      const hit = cache[i][j];
      if (hit) return hit;
      const [a, b, w] = interpWeights(inp.layerTimes, t0 + j * dt8);
      const P = p.size;
      const out = new Float32Array(P);
      for (let k = 0; k < P; k++) out[k] = (1 - w) * p.values[a * P + k] + w * p.values[b * P + k];
      const t = track(tf.tensor(out, p.shape));
      cache[i][j] = t;
      return t;
    });

  const vjp = (xs: Tensor[], th: Tensor[], t: number, ps: Tensor[], withTheta: boolean): { vx: Tensor[]; vth: Tensor[] } => {
    const wrt = withTheta ? [...xs, ...th] : xs;
    const single = xs.length === 1;
    const { value, grads } = tf.engine().gradients(
      () => {
        const f = cm.rhs(xs, th, t);
        if (single) return f[0];
        return tf.addN(f.map((fk, k) => tf.sum(tf.mul(fk, ps[k]))));
      },
      wrt,
      single ? ps[0] : undefined,
      true,
    );
    value.dispose();
    const g = grads.map((gr, i) => gr ?? tf.zerosLike(wrt[i]));
    return { vx: g.slice(0, xs.length), vth: g.slice(xs.length) };
  };

  try {
    // Grid choice (see header).
    const onHGrid = !inp.params.some((p) => p.perStep) || inp.layerTimes.every((tn) => Math.abs((tn - t0) / h - Math.round((tn - t0) / h)) < 1e-6);
    const K = N >= 32 && N % 2 === 0 && onHGrid ? N : 2 * N;
    const H = (N * h) / K;
    const thetaIdx = (halfSteps: number) => halfSteps * (K === N ? 4 : 2); // θ grid is h/8 = H/8 or H/4 units
    const sH = track(tf.scalar(H)), sHalf = track(tf.scalar(H / 2)), sSixth = track(tf.scalar(H / 6)), sEighth = track(tf.scalar(H / 8));
    const sTwo = track(tf.scalar(2)), sMid = track(tf.scalar(0.5));
    // Forward: X[k] at t0 + kH, F[k] = f(X[k]); XM[k] at the midpoint of [k, k+1].
    const X: Tensor[][] = [cm.x0];
    const F: Tensor[][] = [];
    for (let k = 0; k < K; k++) {
      const x = X[k];
      const tk = t0 + k * H;
      const res = tf.tidy(() => {
        const th0 = thetaAt(thetaIdx(2 * k)), th1 = thetaAt(thetaIdx(2 * k + 1)), th2 = thetaAt(thetaIdx(2 * k + 2));
        const k1 = cm.rhs(x, th0, tk);
        const k2 = cm.rhs(x.map((xi, i) => tf.add(xi, tf.mul(k1[i], sHalf))), th1, tk + H / 2);
        const k3 = cm.rhs(x.map((xi, i) => tf.add(xi, tf.mul(k2[i], sHalf))), th1, tk + H / 2);
        const k4 = cm.rhs(x.map((xi, i) => tf.add(xi, tf.mul(k3[i], sH))), th2, tk + H);
        const next = x.map((xi, i) => tf.add(xi, tf.mul(tf.addN([k1[i], tf.mul(tf.add(k2[i], k3[i]), sTwo), k4[i]]), sSixth)));
        return { next, k1 };
      });
      for (const t of [...res.next, ...res.k1]) owned.push(t);
      X.push(res.next);
      F.push(res.k1);
    }
    const fEnd = tf.tidy(() => cm.rhs(X[K], thetaAt(thetaIdx(2 * K)), t0 + K * H));
    for (const t of fEnd) owned.push(t);
    F.push(fEnd);
    const XM: Tensor[][] = [];
    for (let k = 0; k < K; k++) {
      const m = tf.tidy(() => X[k].map((xa, i) => tf.add(tf.mul(tf.add(xa, X[k + 1][i]), sMid), tf.mul(tf.sub(F[k][i], F[k + 1][i]), sEighth))));
      for (const t of m) owned.push(t);
      XM.push(m);
    }
    signalCheck?.();
    const xT = X[K];
    let lossAccurate = NaN;
    const pT = tf.tidy(() => {
      const { value, grads } = tf.engine().gradients(() => cm.loss(xT), xT, undefined, true);
      lossAccurate = value.dataSync()[0];
      return grads.map((g, i) => g ?? tf.zerosLike(xT[i]));
    });
    for (const t of pT) owned.push(t);

    /**
     * Backward RK4 on the adjoint with step u·H (u = 1 or 2) from T to t0.
     * Returns g at the nodes t0 + j·uH, stacked per parameter [K/u + 1, ...].
     */
    const backward = (u: 1 | 2): Tensor[] => {
      const steps = K / u;
      const Hs = u * H;
      const gs: Tensor[][] = inp.params.map(() => []); // from T downwards
      let p = pT;
      const halfH = tf.scalar(Hs / 2), fullH = tf.scalar(Hs), sixth = tf.scalar(Hs / 6);
      const scalars = [halfH, fullH, sixth];
      const xMid = (m: number): Tensor[] => (u === 1 ? XM[m - 1] : X[2 * m - 1]); // midpoint of step ending at node m (in step units)
      for (let m = steps; m > 0; m--) {
        const kA = m * u, kB = (m - 1) * u; // X indices
        const pPrev = p;
        const out = tf.tidy(() => {
          const tA = t0 + kA * H, tM = tA - Hs / 2, tB = tA - Hs;
          const thA = thetaAt(thetaIdx(2 * kA)), thM = thetaAt(thetaIdx(kA + kB)), thB = thetaAt(thetaIdx(2 * kB));
          const xm = xMid(m);
          const s1 = vjp(X[kA], thA, tA, pPrev, true);
          const p2 = pPrev.map((pk, k) => tf.add(pk, tf.mul(s1.vx[k], halfH)));
          const s2 = vjp(xm, thM, tM, p2, false);
          const p3 = pPrev.map((pk, k) => tf.add(pk, tf.mul(s2.vx[k], halfH)));
          const s3 = vjp(xm, thM, tM, p3, false);
          const p4 = pPrev.map((pk, k) => tf.add(pk, tf.mul(s3.vx[k], fullH)));
          const s4 = vjp(X[kB], thB, tB, p4, false);
          const pNew = pPrev.map((pk, k) =>
            tf.add(pk, tf.mul(tf.addN([s1.vx[k], tf.mul(tf.add(s2.vx[k], s3.vx[k]), sTwo), s4.vx[k]]), sixth)));
          return { pNew, g: s1.vth };
        });
        for (let i = 0; i < gs.length; i++) gs[i].push(out.g[i]);
        if (pPrev !== pT) tf.dispose(pPrev);
        p = out.pNew;
      }
      const last = tf.tidy(() => vjp(X[0], thetaAt(0), t0, p, true).vth);
      for (let i = 0; i < gs.length; i++) gs[i].push(last[i]);
      if (p !== pT) tf.dispose(p);
      tf.dispose(scalars);
      // Stack in increasing time: index j ↔ t0 + j·uH.
      return gs.map((list) => {
        const s = tf.tidy(() => tf.stack(list.slice().reverse()));
        tf.dispose(list);
        return s;
      });
    };

    const fine = backward(1); // K+1 nodes
    for (const t of fine) owned.push(t);
    signalCheck?.();
    const coarse = backward(2); // K/2+1 nodes
    for (const t of coarse) owned.push(t);

    const fineData = fine.map((t) => t.dataSync() as Float32Array);
    const coarseData = coarse.map((t) => t.dataSync() as Float32Array);
    let nonFinite = !Number.isFinite(lossAccurate);

    // Reference error on the h grid.
    let num = 0, den = 0;
    inp.params.forEach((p, i) => {
      const P = p.size;
      for (let j = 0; j <= K / 2; j++) {
        for (let k = 0; k < P; k++) {
          const f = fineData[i][2 * j * P + k], c = coarseData[i][j * P + k];
          num += (f - c) ** 2;
          den += f * f;
        }
      }
    });
    const referenceError = den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0;
    if (!Number.isFinite(referenceError)) nonFinite = true;

    const gridTimes = Array.from({ length: K + 1 }, (_, j) => t0 + j * H);
    const g = inp.params.map((p, i) => {
      const P = p.size;
      const d = fineData[i];
      if (!p.perStep) {
        // Composite Simpson on the nodes (K even).
        const out = new Float32Array(P);
        for (let k = 0; k < P; k++) {
          let s = d[k] + d[K * P + k];
          for (let j = 1; j < K; j++) s += (j % 2 ? 4 : 2) * d[j * P + k];
          out[k] = (s * H) / 3;
        }
        return out;
      }
      const out = new Float32Array(N * P);
      inp.layerTimes.forEach((tn, n) => {
        const x = (tn - t0) / H;
        const j0 = Math.max(0, Math.min(K - 1, Math.floor(x + 1e-9)));
        const w = Math.min(1, Math.max(0, x - j0));
        for (let k = 0; k < P; k++) out[n * P + k] = (1 - w) * d[j0 * P + k] + w * d[(j0 + 1) * P + k];
      });
      return out;
    });
    return { g, referenceError, lossAccurate, gridTimes, nonFinite };
  } finally {
    tf.dispose(owned);
  }
}
