// A model that declares no parameter has nothing to differentiate, yet its user still asks whether AD through
// its solve represents the flow: the natural inputs are then the initial values (docs/design.md#initial-values).
// The check presents each state's initial value to the engine as one shared parameter, named `x(0)` (XPPAUT's
// own syntax for it), that no expression reads: the solves start from it (CompiledModel.initialValues), so AD
// through the unrolled solve gives d loss / d x(0), finite differences perturb it, and the continuous
// reference adds p(t0), where its adjoint sweep ends. Per-step copies do not apply (an initial value acts once).
import type { Diagnostic, Model, ParamDecl, Range } from '../model';

/** The parameter name of state `name`'s initial value. */
export const initialValueName = (state: string): string => `${state}(0)`;

/**
 * The model with its states' initial values as its parameters, when it declares none and some state has a free
 * initial value (not a Volterra integral equation's state, which its formula sets); else undefined.
 */
export function withInitialValues(model: Model): Model | undefined {
  if (model.params.length > 0) return undefined;
  const byFormula = new Set(model.equations.filter((e) => e.volterra).map((e) => e.state));
  const params: ParamDecl[] = model.states
    .filter((s) => !byFormula.has(s.name))
    .map((s) => {
      const range = s.init?.range ?? s.history?.range ?? s.nameRange;
      return {
        name: initialValueName(s.name),
        shape: s.shape,
        perStep: false,
        // The values come from the compiled initial states (check/gradients.ts); this stands for them.
        init: { kind: 'value', value: s.init ?? { kind: 'number', value: 0, range }, range },
        range,
        nameRange: range,
        initialValueOf: s.name,
      };
    });
  return params.length > 0 ? { ...model, params } : undefined;
}

/** The note that the check differentiates the initial values: on the first initial value written, else the first state. */
export function initialValuesNote(model: Model): Diagnostic | undefined {
  const checked = model.params.filter((p) => p.initialValueOf !== undefined);
  if (checked.length === 0) return undefined;
  const written = model.states.find((s) => s.init)?.init?.range;
  const range: Range = written ?? checked[0].range;
  const names = checked.map((p) => p.name);
  const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
  return {
    code: 'initial-values-checked',
    severity: 'information',
    message: `The model declares no parameter: the check differentiates the loss with respect to the initial values ${shown} instead.`,
    range,
  };
}
