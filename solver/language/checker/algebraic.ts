// A differential-algebraic system's algebraic part (XPPAUT `0 = g` with `solv z=guess`): every `0 =` equation a
// scalar formula of the states, parameters, t and the algebraic variables; as many equations as variables, and every
// variable read by some equation (else Newton's method has nothing to solve it from).
import type { AlgebraicPart, AlgebraicVariable, Expr } from '../../model';
import { visitExpressions } from '../../model';
import type { AlgebraicStmt, Program, SolveStmt } from '../ast';
import type { CheckContext } from './context';
import type { ExpressionChecker } from './expressions';
import { describeShape } from './shapes';

type Statement = Program['statements'][number];

export function checkAlgebraic(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  st: Statement[],
): AlgebraicPart | undefined {
  const lines = st.filter((s): s is AlgebraicStmt => s.kind === 'algebraic');
  const solves = st.filter((s): s is SolveStmt => s.kind === 'solve');
  if (lines.length === 0 && solves.length === 0) return undefined;
  const variables: AlgebraicVariable[] = [];
  for (const s of solves) {
    const sym = ctx.symbols.get(s.name.toLowerCase());
    if (sym?.kind !== 'algebraic' || sym.stmt !== s) continue; // a duplicate, already reported
    const guess = s.guess ? exprs.constNumber(s.guess, `The guess of '${s.name}'`) : 0;
    variables.push({ name: sym.name, guess: guess ?? 0, range: s.range, nameRange: s.nameRange });
  }
  const equations: AlgebraicPart['equations'] = [];
  for (const l of lines) {
    const rhs = exprs.expr(l.rhs, { ctx: 'rhs', dynamic: { value: false } });
    if (rhs.shape && rhs.shape.length > 0)
      ctx.error(
        'shape-mismatch',
        `An algebraic equation 0 = … is one scalar equation; this one is ${describeShape(rhs.shape)}`,
        l.rhs.range,
      );
    equations.push({ rhs, range: l.range });
  }
  if (equations.length !== variables.length) {
    const message = `${count(equations.length, 'algebraic equation')} (\`0 = …\`) for ${count(variables.length, 'algebraic variable')} (\`solv name=guess\`): a differential-algebraic system solves as many equations as it has unknowns, so ${equations.length > variables.length ? 'declare each unknown of the `0 =` lines with `solv name=guess`' : 'write one `0 = …` equation per algebraic variable'}`;
    for (const r of equations.length > 0 ? equations.map((e) => e.range) : variables.map((v) => v.range))
      ctx.error('dae-equations', message, r);
    return undefined;
  }
  const read = new Set<string>();
  visitExpressions(
    equations.map((e) => e.rhs),
    (e: Expr) => {
      if (e.kind === 'name') read.add(e.name.toLowerCase());
    },
  );
  for (const v of variables)
    if (!read.has(v.name.toLowerCase()))
      ctx.error(
        'dae-equations',
        `The algebraic variable '${v.name}' appears in no \`0 = …\` equation: Newton's method has no equation to solve it from`,
        v.nameRange,
      );
  return { variables, equations };
}

const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
