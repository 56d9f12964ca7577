// The fused MLP path: when it applies, and the right-hand side it gives the compiled model.
import type { Model } from '../../model';
import type { TF, Tensor } from '../tf';
import { recogniseMlp } from './recognise';
import { fieldOp } from './field';

export { recogniseMlp, type MlpField } from './recognise';

/** Which right-hand side a compiled model evaluates in its discrete solves (shown in the report). */
export type RhsPath = 'fused MLP' | 'fused scalar program' | 'per operation';

/**
 * The rule: a one-state model whose field is an MLP (recogniseMlp) on the cpu or wasm backend (the
 * op reads and writes the tensors' data synchronously; tfjs-node's native kernels keep tf ops).
 * Returns f as one op per evaluation, falling back to `plain` for shapes the op does not take.
 */
export function fusedMlpRhs(
  tf: TF,
  model: Model,
  plain: (s: Tensor[], p: Tensor[], t: number) => Tensor[],
): ((s: Tensor[], p: Tensor[], t: number) => Tensor[]) | undefined {
  const backend = tf.getBackend();
  if (backend !== 'cpu' && backend !== 'wasm') return undefined;
  const field = recogniseMlp(model);
  if (!field) return undefined;
  const op = fieldOp(tf, field);
  return (s, p, t) => {
    const y = op(s[0], p);
    return y ? [y] : plain(s, p, t);
  };
}
