// A checked model's expressions in Python over PyTorch tensors, spelled by the one operation table
// (solver/ops/table.ts: each operation's `torch`). Logical shapes map one to one: the language's
// NumPy broadcasting, `@` and 0-based constant indices are PyTorch's own.
import type { Expr, Model, Range } from '../model';
import { engineFunction, NEGATE, OPERATORS, POWER_FORMS, type Operation } from '../ops/table';

/** A construct the exporter cannot write in PyTorch, with where it is. */
export class ExportError extends Error {
  constructor(
    message: string,
    readonly range: Range,
  ) {
    super(message);
    this.name = 'ExportError';
  }
}

/** A float64 value as a Python literal (round-trips exactly; float32 values stay float32 values). */
export function pythonNumber(v: number): string {
  if (Number.isNaN(v)) return "float('nan')";
  if (!Number.isFinite(v)) return v > 0 ? "float('inf')" : "float('-inf')";
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** Where an expression is: the names it may read. */
export interface ExpressionScope {
  model: Model;
  /** `s[i]` in a right-hand side, `xT[i]` in a loss. */
  states: 'rhs' | 'loss' | 'none';
}

function spelled(op: Operation | undefined, what: string, range: Range, args: string[]): string {
  if (!op?.torch) throw new ExportError(`${what} has no PyTorch spelling yet (solver/ops/table.ts)`, range);
  return op.torch(...args);
}

/** The Python expression of e. */
/** What a call that is no engine function reads: a table, a noise realisation, a Markov path, or an unknown function. */
function calleeWord(model: Model, callee: string): string {
  const t = model.tables?.find((d) => d.name === callee);
  switch (t?.origin) {
    case 'table':
      return `the table ${callee}`;
    case 'wiener':
      return `the Wiener variable ${callee} (one seeded realisation of noise)`;
    case 'ran':
    case 'normal':
      return `${t.origin}(…) (one seeded realisation of noise)`;
    case 'markov':
      return `the Markov variable ${callee} (one realisation of its chain, drawn by a check)`;
    default:
      return `the function ${callee}`;
  }
}

export function pythonExpression(e: Expr, scope: ExpressionScope): string {
  const go = (x: Expr) => pythonExpression(x, scope);
  const { model } = scope;
  switch (e.kind) {
    case 'number':
      return `_k(${pythonNumber(e.value)})`;
    case 'name': {
      const si = model.states.findIndex((s) => s.name === e.name);
      if (si >= 0 && scope.states === 'rhs') return `s[${si}]`;
      const pi = model.params.findIndex((p) => p.name === e.name);
      if (pi >= 0 && scope.states === 'rhs') return `p[${pi}]`;
      if (e.name === 't' && scope.states === 'rhs') return 't';
      if (e.name === 'pi') return '_k(math.pi)';
      if (scope.states === 'loss' && model.data.some((d) => d.name === e.name))
        return `_data(${JSON.stringify(e.name)})`;
      throw new ExportError(`the name ${e.name} cannot be used here`, e.range);
    }
    case 'stateAtEnd': {
      const si = model.states.findIndex((s) => s.name === e.state);
      if (si < 0 || scope.states !== 'loss')
        throw new ExportError(`${e.state}(T) is only available in the loss`, e.range);
      return `xT[${si}]`;
    }
    case 'stateAtData': {
      const si = model.states.findIndex((s) => s.name === e.state);
      if (si < 0 || scope.states !== 'loss')
        throw new ExportError(`${e.state}(${e.data}) is only available in the loss`, e.range);
      return `observed(${JSON.stringify(e.data)}, ${si})`;
    }
    case 'index':
      return `${go(e.target)}[${e.indices.join(', ')}]`;
    case 'if':
      return `torch.where(torch.abs(${go(e.cond)}) > 0, ${go(e.then)}, ${go(e.else)})`;
    case 'unary':
      return e.op === '+' ? go(e.operand) : spelled(NEGATE, 'unary minus', e.range, [go(e.operand)]);
    case 'vector':
      return `torch.stack([${e.elements.map(go).join(', ')}])`;
    case 'call': {
      const op = engineFunction(e.callee, e.args.length);
      if (!op) throw new ExportError(`${calleeWord(model, e.callee)} cannot be exported`, e.calleeRange);
      return spelled(op, `the function ${e.callee}`, e.calleeRange, e.args.map(go));
    }
    case 'binary': {
      const l = go(e.left);
      if (e.op === '^' && e.right.kind === 'number') {
        const form = POWER_FORMS.get(e.right.value);
        if (form === 'identity') return l;
        if (form) return spelled(form, `x^${e.right.value}`, e.range, [l]);
      }
      const r = go(e.right);
      if (e.op === '@') return `torch.matmul(${l}, ${r})`;
      const op = Object.hasOwn(OPERATORS, e.op) ? OPERATORS[e.op] : undefined;
      return spelled(op, `the operator ${e.op}`, e.opRange, [l, r]);
    }
  }
}
