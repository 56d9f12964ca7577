// Plain-array optimisers for training (deterministic: no TF.js state).
// Parameters and gradients are lists of Float32Arrays (one per model parameter).

export type OptimizerName = 'adam' | 'sgd';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'sgd'];

export interface Optimizer {
  /** Updates `params` in place from `grads`. */
  step(params: Float32Array[], grads: Float32Array[]): void;
}

function sgd(lr: number): Optimizer {
  return {
    step(params, grads) {
      params.forEach((p, i) => {
        const g = grads[i];
        for (let k = 0; k < p.length; k++) p[k] -= lr * g[k];
      });
    },
  };
}

/** Adam (Kingma & Ba) with bias correction; moments in float64. */
function adam(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): Optimizer {
  let m: Float64Array[] | undefined, v: Float64Array[] | undefined;
  let t = 0;
  return {
    step(params, grads) {
      m ??= params.map((p) => new Float64Array(p.length));
      v ??= params.map((p) => new Float64Array(p.length));
      t++;
      const c1 = 1 - beta1 ** t,
        c2 = 1 - beta2 ** t;
      params.forEach((p, i) => {
        const g = grads[i],
          mi = (m as Float64Array[])[i],
          vi = (v as Float64Array[])[i];
        for (let k = 0; k < p.length; k++) {
          mi[k] = beta1 * mi[k] + (1 - beta1) * g[k];
          vi[k] = beta2 * vi[k] + (1 - beta2) * g[k] * g[k];
          p[k] -= (lr * (mi[k] / c1)) / (Math.sqrt(vi[k] / c2) + eps);
        }
      });
    },
  };
}

export function makeOptimizer(name: OptimizerName, lr: number): Optimizer {
  return name === 'adam' ? adam(lr) : sgd(lr);
}
