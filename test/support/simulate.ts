// For tests: the trajectory of a model's discrete solve: what the network computes
// forward, with the model's own scheme and steps (or `steps` overridden). The
// stepping is solveDiscrete's; this only sets up parameters and reads states.
import type { Model } from '../../solver/model';
import { initBackend, type BackendPreference } from '../../solver/engine/backend';
import type { Tensor } from '../../solver/engine/tf';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { initialParameters } from '../../solver/engine/parameters';
import { copiesPerParameter } from '../../solver/engine/discrete';
import { schemeOf } from '../../solver/schemes/schemes';

export interface SimulateOptions {
  backend?: BackendPreference;
  /** Number of steps instead of the model's (dt becomes total/steps). */
  steps?: number;
  /** As CheckOptions.parameterValues: one array per model.params entry, copies×P for per-step parameters (copiesPerParameter). */
  parameterValues?: Float32Array[];
}

export interface Trajectory {
  /** t0 + n·dt for n = 0..N. */
  times: number[];
  /** Per state: one row per time, the state's elements in row-major order (a scalar state gives rows of length 1). */
  states: Record<string, number[][]>;
}

/** Solves the model's discrete network and returns every step. Throws CompileError on a model the engine cannot compile. */
export async function simulate(model: Model, options: SimulateOptions = {}): Promise<Trajectory> {
  const { tf } = await initBackend(options.backend ?? 'auto');
  const steps = options.steps ?? model.options.steps;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`steps must be a whole number ≥ 1, not ${steps}`);
  const m: Model =
    steps === model.options.steps
      ? model
      : { ...model, options: { ...model.options, steps, dt: model.options.total / steps } };
  const { t0, dt: h } = m.options;
  const scheme = schemeOf(m);
  const count = copiesPerParameter(m);
  const values = options.parameterValues ?? initialParameters(tf, m);
  const { compiled: cm } = compileModel(tf, m);
  const copies: Tensor[][] = [];
  try {
    m.params.forEach((p, i) => {
      const P = sizeOf(p.shape),
        k = p.perStep ? count : 1;
      if (values[i]?.length !== k * P)
        throw new RangeError(`parameterValues[${i}] (${p.name}) has ${values[i]?.length} values, expected ${k * P}`);
      copies.push(
        Array.from({ length: k }, (_, n) => tf.tensor(values[i].subarray(n * P, (n + 1) * P), internalShape(p.shape))),
      );
    });
    // Copy numbering is the scheme's (schemes/copies.ts); shared parameters give their one tensor.
    const at = (copy: number) => copies.map((c, i) => (m.params[i].perStep ? c[copy] : c[0]));
    // One read of the whole trajectory: every state of every step, flattened and concatenated.
    const flat = tf.tidy(() => {
      const traj = solveDiscrete(tf, cm, scheme, steps, h, t0, at);
      return tf.concat(traj.flatMap((xs) => xs.map((x) => tf.reshape(x, [-1]))));
    });
    const data = flat.dataSync();
    flat.dispose();
    const sizes = m.states.map((s) => sizeOf(s.shape));
    const stride = sizes.reduce((a, b) => a + b, 0);
    const states: Record<string, number[][]> = {};
    m.states.forEach((s) => {
      states[s.name] = [];
    });
    for (let n = 0; n <= steps; n++) {
      let off = n * stride;
      m.states.forEach((s, k) => {
        // Internal layout is row-major over the logical shape ([n,1] for a vector), so a flat read is in order.
        states[s.name].push(Array.from(data.subarray(off, off + sizes[k])));
        off += sizes[k];
      });
    }
    return { times: Array.from({ length: steps + 1 }, (_, n) => t0 + n * h), states };
  } finally {
    for (const c of copies) tf.dispose(c);
    cm.dispose();
  }
}
