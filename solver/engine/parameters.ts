// The seeded starting values of a model's parameters, shared by the check, the
// simulation, training and the bench.
import type { Model } from '../model';
import type { TF } from './tf';
import { evalConstant, sizeOf } from './compile';
import { copiesPerParameter } from './discrete';
import { Rng } from './random';

/** Initial parameter values in internal order: per-step copies×P (all copies equal at init), shared P. */
export function initialParameters(tf: TF, model: Model): Float32Array[] {
  const rng = new Rng(model.options.seed);
  const N = copiesPerParameter(model);
  return model.params.map((p) => {
    const P = sizeOf(p.shape);
    const one =
      p.init.kind === 'normal' ? rng.normals(P, p.init.mean, p.init.std) : evalConstant(tf, p.init.value, p.shape);
    if (!p.perStep) return one;
    const all = new Float32Array(N * P);
    for (let n = 0; n < N; n++) all.set(one, n * P);
    return all;
  });
}
