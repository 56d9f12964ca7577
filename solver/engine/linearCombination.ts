// A linear combination Σ c_j v_j of equal-shape tensors as one differentiable kernel, for the
// steppers, whose solves are bound by per-kernel overhead: a stage input x + hΣa_ij k_j or a step
// x + hΣb_i k_i costs one op instead of a multiply per coefficient and an add per term (TF.js also
// copies each binary op's inputs for its gradient). The float32 numbers are TF.js's: each
// product c·v rounded with c as a float32 scalar, then summed in order (add, addN and sub round
// after every term; −1 gives sub's and neg's exact results), and the gradient of term j is c_j·dy
// rounded, as mul's.
import type { TF, Tensor } from './tf';

/** Terms [v_j, c_j] of Σ c_j v_j, summed in this order. */
export type Term = [Tensor, number];

export function linearCombination(tf: TF): (terms: Term[]) => Tensor {
  const f32 = Math.fround;
  return (terms) => {
    const shape = terms[0][0].shape;
    const coefs = terms.map(([, c]) => f32(c));
    return tf.customGrad((...inputs) => {
      const vs = coefs.map((_c, j) => (inputs[j] as Tensor).dataSync());
      const out = new Float32Array(vs[0].length);
      for (let e = 0; e < out.length; e++) {
        let acc = f32(coefs[0] * vs[0][e]);
        for (let j = 1; j < vs.length; j++) acc = f32(acc + f32(coefs[j] * vs[j][e]));
        out[e] = acc;
      }
      return {
        value: tf.tensor(out, shape),
        gradFunc: (dy: Tensor) => {
          const d = dy.dataSync();
          return coefs.map((c) =>
            tf.tensor(
              Float32Array.from(d, (x) => x * c),
              shape,
            ),
          );
        },
      };
    })(...terms.map(([v]) => v)) as Tensor;
  };
}
