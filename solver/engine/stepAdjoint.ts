// The per-step adjoint that adjoint121 (docs/design.md#corrections) filters: ν_n = ∂L/∂f_n,
// the sensitivity of the loss to the vector-field output of step n, so that
// G_n = ∂θf_nᵀ ν_n. It is taken by AD in the same pass as the parameter
// gradients: the right-hand side of copy n gets a zero tensor e_n added to
// its output, and ∂L/∂e_n = ν_n (summed over every evaluation that uses copy
// n, which is what G_n sums too). Scheme-agnostic: leapfrog gives
// ν_n = 2h μ_n with μ_n = λ_{n+1} (h μ_0 for the Euler start).
import type { Tensor, TF } from './tf';
import type { CompiledModel } from './compile';
import { unstackCopies } from './discrete';

export interface StepAdjointProbe {
  /** The model with e_n added to f's output for copy n (pass this to the solve). */
  cm: CompiledModel;
  /**
   * e_n stacked per state, [copies, ...state shape]: differentiate the loss with
   * respect to these too (one tensor per state, not one per copy: TF.js's tape
   * filter costs tape length × number of sources).
   */
  probes: Tensor[];
  /** Splits the stacked probes into per-copy e_n; call inside the gradient scope, before the solve. */
  begin(): void;
  /** ∂θf_nᵀ·cotangent at the state, parameters and time of copy n's first evaluation; one array per parameter index in `which`. */
  vjp(n: number, cotangent: Float32Array, which: number[]): Float32Array[];
  dispose(): void;
}

/**
 * `copyOf(p)` names the copy a parameter list belongs to (by tensor identity),
 * or undefined for evaluations that use no per-step copy.
 */
export function stepAdjointProbe(
  tf: TF,
  cm: CompiledModel,
  copies: number,
  copyOf: (p: Tensor[]) => number | undefined,
): StepAdjointProbe {
  const probes = cm.x0.map((x) => tf.keep(tf.zeros([copies, ...x.shape])));
  let perCopy: Tensor[][] = [];
  const seen: { x: Tensor[]; p: Tensor[]; t: number }[] = [];
  const wrapped: CompiledModel = {
    ...cm,
    rhs(s, p, t) {
      const f = cm.rhs(s, p, t);
      const n = copyOf(p);
      if (n === undefined) return f;
      // Record where copy n is first evaluated (kept out of the gradient scope's cleanup).
      if (!seen[n]) seen[n] = { x: s.map((xk) => tf.keep(tf.clone(xk))), p: p.map((pk) => tf.keep(tf.clone(pk))), t };
      return f.map((fk, k) => tf.add(fk, perCopy[k][n]));
    },
    loss: (final, o) => cm.loss(final, o), // data losses read x(obs) through o, as in the main solve
    dispose: () => cm.dispose(),
  };
  return {
    cm: wrapped,
    probes,
    begin() {
      perCopy = probes.map((e) => unstackCopies(tf, e));
    },
    vjp(n, cotangent, which) {
      const at = seen[n];
      if (!at) return which.map(() => new Float32Array(0));
      const out: Float32Array[] = [];
      tf.tidy(() => {
        let off = 0;
        const cots = at.x.map((x) => {
          const size = x.size;
          const c = tf.tensor(cotangent.subarray(off, off + size), x.shape);
          off += size;
          return c;
        });
        const wrt = which.map((j) => at.p[j]);
        const { value, grads } = tf
          .engine()
          .gradients(
            () => tf.addN(cm.rhs(at.x, at.p, at.t).map((fk, k) => tf.sum(tf.mul(fk, cots[k])))),
            wrt,
            undefined,
            true,
          );
        value.dispose();
        grads.forEach((g, i) => out.push(g ? Float32Array.from(g.dataSync()) : new Float32Array(wrt[i].size)));
      });
      return out;
    },
    dispose() {
      tf.dispose(probes);
      for (const s of seen) if (s) tf.dispose([...s.x, ...s.p]);
    },
  };
}
