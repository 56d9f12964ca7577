// The fused MLP paths: when they apply, and what they give the compiled model.
import type { Model } from '../../model';
import type { TF, Tensor } from '../tf';
import type { ParamsFor } from '../copySources';
import { recogniseMlp, type MlpField } from './recognise';
import { fieldOp } from './field';
import { solveAsProgram, type Solvable } from './solveProgram';
import { schemeOf } from '../../schemes/schemes';

function implicitScheme(model: Model): boolean {
  try {
    const scheme = schemeOf(model);
    return scheme.kind === 'rk' && !!scheme.implicit;
  } catch {
    return false; // an unknown scheme: the check refuses it
  }
}

export { recogniseMlp, type MlpField } from './recognise';

export type { RhsPath } from '../../report';

type Rhs = Solvable['rhs'];

export interface FusedMlp {
  rhs: Rhs;
  /** The field `rhs` evaluates (the reference's plain-JS passes read it: engine/fusedMlp/reference.ts). */
  field: MlpField;
  /** The discrete solve as one op; undefined when only the per-stage op is wanted. */
  solve?: <M extends Solvable>(
    cm: M,
    params: ParamsFor,
    run: (view: M, params: ParamsFor) => Tensor[][],
  ) => Tensor[][] | undefined;
}

/**
 * The rule: a one-state model whose field is an MLP (recogniseMlp) on the cpu or wasm backend (the
 * ops read and write the tensors' data synchronously; tfjs-node's native kernels keep tf ops). f is
 * one op per evaluation (`plain` for shapes it does not take: a batched evaluation); with
 * `wholeSolve`, a discrete solve is one op.
 */
export function fusedMlp(tf: TF, model: Model, plain: Rhs, wholeSolve: boolean): FusedMlp | undefined {
  const backend = tf.getBackend();
  if (backend !== 'cpu' && backend !== 'wasm') return undefined;
  const field = recogniseMlp(model);
  if (!field) return undefined;
  // The implicit step solves its equation with the model's own reverse mode, step by step.
  const whole = wholeSolve && !implicitScheme(model);
  const op = fieldOp(tf, field);
  return {
    field,
    rhs: (s, p, t) => {
      const y = op(s[0], p);
      return y ? [y] : plain(s, p, t);
    },
    solve: whole ? (cm, params, run) => solveAsProgram(tf, field, cm, params, run) : undefined,
  };
}
