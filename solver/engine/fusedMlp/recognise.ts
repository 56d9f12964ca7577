// Recognises a per-step MLP field: one vector state x whose right-hand side is
// W_L @ act(… act(W_1 @ x + b_1) …) + b_L — any depth, biases optional, each hidden layer's
// activation one of ACTIVATIONS or none (parentheses) — with every W and b a parameter.
import type { Expr, Model } from '../../model';
import { ACTIVATIONS } from './activations';

export interface MlpLayer {
  /** Parameter indices (model.params) of the weight [out, in] and the bias [out], if any. */
  weight: number;
  bias?: number;
  out: number;
  /** The activation applied to this layer's output before the next layer (none for the last layer). */
  activation?: string;
}

export interface MlpField {
  /** Layers from the state inwards out: layers[0] reads x. */
  layers: MlpLayer[];
  /** The state's size d. */
  size: number;
}

/** The MLP field of a one-state model, or undefined when its right-hand side has another form. */
export function recogniseMlp(model: Model): MlpField | undefined {
  if (model.states.length !== 1 || model.equations.length !== 1 || model.events?.length) return undefined;
  const state = model.states[0];
  const eq = model.equations[0];
  if (state.shape.length !== 1 || eq.state !== state.name) return undefined;
  const params = new Map(model.params.map((p, i) => [p.name, i]));
  const layers: MlpLayer[] = [];
  /** The layers of `e`, innermost first; its output size, or undefined when e is not of the form. */
  const walk = (e: Expr): number | undefined => {
    if (e.kind === 'name' && e.name === state.name) return state.shape[0];
    let bias: number | undefined;
    let product = e;
    if (e.kind === 'binary' && e.op === '+') {
      const [p, b] = isProduct(e.left) ? [e.left, e.right] : [e.right, e.left];
      bias = b.kind === 'name' ? params.get(b.name) : undefined;
      if (bias === undefined) return undefined;
      product = p;
    }
    if (product.kind !== 'binary' || product.op !== '@' || product.left.kind !== 'name') return undefined;
    const weight = params.get(product.left.name);
    if (weight === undefined) return undefined;
    let input = product.right,
      activation: string | undefined;
    if (input.kind === 'call' && input.args.length === 1 && input.callee in ACTIVATIONS) {
      activation = input.callee;
      input = input.args[0];
    }
    const inSize = walk(input);
    // The first layer reads x itself; an activation of x is not a layer's output.
    if (inSize === undefined || (layers.length === 0 && activation)) return undefined;
    if (layers.length > 0) layers[layers.length - 1].activation = activation;
    else if (activation) return undefined;
    const w = model.params[weight].shape;
    if (w.length !== 2 || w[1] !== inSize) return undefined;
    if (bias !== undefined) {
      const b = model.params[bias].shape;
      if (b.length !== 1 || b[0] !== w[0]) return undefined;
    }
    layers.push({ weight, bias, out: w[0] });
    return w[0];
  };
  const out = walk(eq.rhs);
  if (out !== state.shape[0] || layers.length === 0) return undefined;
  // A parameter read twice (a weight tied across layers) would need its gradients summed: left to the plain path.
  const used = layers.flatMap((l) => (l.bias === undefined ? [l.weight] : [l.weight, l.bias]));
  if (new Set(used).size !== used.length) return undefined;
  return { layers, size: state.shape[0] };
}

const isProduct = (e: Expr) => e.kind === 'binary' && e.op === '@';
