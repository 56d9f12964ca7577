// Per-step copies for the reference benches and tests: seeded (all equal, as at initialisation), smooth
// (a slow drift in t, as training leaves them) or independent (every copy its own draw: the zig-zag case).
import { internalShape, sizeOf } from '../solver/engine/compile';
import { copiesPerParameter } from '../solver/engine/discrete';
import { copyLayout } from '../solver/engine/layerAnalysis';
import type { ReferenceInput } from '../solver/engine/reference';
import { schemeOf } from '../solver/schemes/schemes';
import { Rng } from '../solver/engine/random';
import type { Model } from '../solver/model';

export type CopiesKind = 'seeded' | 'smooth' | 'independent';

/** Per-step copies of the given kind, from the seeded values (shared parameters as seeded). */
export function copiesOf(model: Model, seeded: Float32Array[], kind: CopiesKind): Float32Array[] {
  if (kind === 'seeded') return seeded;
  const rng = new Rng(12345);
  const N = copiesPerParameter(model);
  return model.params.map((p, i) => {
    if (!p.perStep) return seeded[i];
    const P = sizeOf(p.shape);
    const std = p.init.kind === 'normal' ? p.init.std : 0.1;
    const out = new Float32Array(seeded[i]);
    for (let n = 0; n < N; n++)
      for (let k = 0; k < P; k++) {
        const o = n * P + k;
        if (kind === 'independent')
          out[o] = (p.init.kind === 'normal' ? p.init.mean : seeded[i][k]) + std * rng.normal();
        // smooth: a slow drift of a fifth of the spread, one phase per value
        else out[o] += 0.2 * std * Math.sin((2 * Math.PI * n) / N + k);
      }
    return out;
  });
}

/** The continuous reference's input for the model's grid and the given parameter values. */
export function referenceInput(model: Model, values: Float32Array[]): ReferenceInput {
  const { steps: N, dt: h, t0 } = model.options;
  return {
    N,
    h,
    t0,
    layerTimes: copyLayout(schemeOf(model), N, h, t0).times,
    params: model.params.map((p, i) => ({
      perStep: p.perStep,
      values: values[i],
      shape: internalShape(p.shape),
      size: sizeOf(p.shape),
    })),
  };
}
