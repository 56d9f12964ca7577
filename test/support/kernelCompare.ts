// The whole-solve kernel's tests (test/unit/scalarKernel.test.ts, test/unit/delayKernel.test.ts): a solve's
// loss, trajectory and AD gradients on a given compile, to compare the kernel with the per-operation path.
import type { TF } from '../../solver/engine/tf';
import { internalShape, sizeOf, type CompiledModel } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { schemeOf } from '../../solver/schemes/schemes';
import { copiesPerParameter } from '../../solver/engine/discrete';
import type { Model } from '../../solver/model';

/** Loss and AD gradients (one array per copy tensor) of the solve, with a term on every step's first state. */
export function lossAndGradients(tf: TF, cm: CompiledModel, m: Model, values: Float32Array[]) {
  const scheme = schemeOf(m),
    N = m.options.steps,
    count = copiesPerParameter(m);
  let out: { loss: number; trajectory: number[]; G: Float64Array[] } | undefined;
  tf.tidy(() => {
    const copies = m.params.map((p, i) => {
      const P = sizeOf(p.shape);
      return Array.from({ length: p.perStep ? count : 1 }, (_, n) =>
        tf.tensor(values[i].subarray(n * P, (n + 1) * P), internalShape(p.shape)),
      );
    });
    const at = (c: number) => copies.map((cs, i) => (m.params[i].perStep ? cs[c] : cs[0]));
    const flat = copies.flat();
    let trajectory: number[] = [];
    const { value, grads } = tf.engine().gradients(
      () => {
        const traj = solveDiscrete(tf, cm, scheme, N, m.options.dt, m.options.t0, at);
        trajectory = traj.flatMap((xs) => xs.flatMap((x) => Array.from(x.dataSync())));
        const everyStep = tf.sum(tf.stack(traj.map((xs) => tf.sum(xs[0]))));
        return tf.add(cm.loss(traj[N]), tf.mul(0.1, everyStep));
      },
      flat,
      undefined,
      true,
    );
    out = {
      loss: value.dataSync()[0],
      trajectory,
      G: grads.map((g, k) => (g ? Float64Array.from(g.dataSync()) : new Float64Array(flat[k].size))),
    };
  });
  return out!;
}
