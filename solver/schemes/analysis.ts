// Static analysis of schemes (docs/design.md#static-analysis-of-schemes, no run needed): consistency order,
// zero-stability from the roots of ρ, zero weights on parameter copies.
// Used by the front end (diagnostics), the language service (hover,
// completion details) and the engine.
import type { Diagnostic, Model, OptionSetting, Range, SchemeDecl } from '../model';
import { findOption } from '../model';
import {
  fmt,
  fmtComplex,
  multistepOrder,
  rkOrder,
  validateMultistep,
  validateTableau,
  zeroStability,
  type ButcherTableau,
  type LinearMultistep,
  type Stability,
} from './coefficients';
import {
  isMultistep,
  isOneStep,
  MULTISTEP,
  schemeOf,
  TABLEAUX,
  type MultistepScheme,
  type RKScheme,
  type Scheme,
} from './schemes';
import { isImplicitScheme, isMapScheme, SCHEMES, XPPAUT_SCHEME_ALIASES } from './registry';
import { spelledXppautMethod, xppautMethodScheme } from './xppautMethods';

const xppautScheme = (name: string) => XPPAUT_SCHEME_ALIASES.get(name)?.scheme;
import { OSCILLATION_CORRECTIONS } from '../registry/corrections';
import { parameterCopies } from './copies';
import { STRONGLY_STABLE_SCHEMES, weaklyStableRemedy } from '../presentation/findingText';

export type { Stability } from './coefficients';

export interface SchemeDescription {
  name: string;
  /** `map`: the map iteration (XPPAUT discrete), which discretises no flow. */
  kind: 'rk' | 'lmm' | 'map';
  /** Consistency order from the coefficients (0 when inconsistent). */
  order: number;
  /** Zero-stability: strong (only root 1 on the unit circle), weak (another root on it), unstable (a root outside). */
  stability: Stability;
  /** One line for completion details and hovers, e.g. "explicit RK, order 4, strongly stable". */
  summary: string;
  /** Longer markdown for hovers: what AD gradients of per-step parameters do under this scheme. */
  documentation: string;
}

const STABILITY_TEXT: Record<Stability, string> = {
  strong: 'strongly stable',
  weak: 'weakly stable',
  unstable: 'not zero-stable',
};

/** The registry's description of a built-in scheme. */
const builtinNote = (name: string): string | undefined =>
  isOneStep(name) || isMultistep(name) ? SCHEMES[name].description : undefined;

function rkDescription(name: string, t: ButcherTableau, declared: boolean): SchemeDescription {
  const problems = validateTableau(t);
  const { order, failed } = rkOrder(t);
  const s = t.b.length;
  const zeroB = t.b.map((b, i) => (b === 0 ? i + 1 : 0)).filter((i) => i > 0);
  const repeated = t.c.some((c, i) => t.c.indexOf(c) !== i);
  const summary = `explicit Runge–Kutta, ${s} stage${s === 1 ? '' : 's'}, order ${order}, strongly stable`;
  const doc: string[] = [];
  const note = declared ? undefined : builtinNote(name);
  if (note) doc.push(note);
  if (declared)
    doc.push(
      `User-defined explicit Runge–Kutta tableau: c = [${t.c.map(fmt).join(', ')}], b = [${t.b.map(fmt).join(', ')}].`,
    );
  doc.push(
    order === 0
      ? `**Inconsistent**: ${problems.join('; ') || failed}. The discrete solution does not converge to the ODE.`
      : `Consistency order ${order}${failed ? ` (${failed}, which fails)` : ' (conditions checked up to 4)'}. One-step, so zero-stable.`,
  );
  if (problems.length > 0 && order > 0) doc.push(`Note: ${problems.join('; ')}.`);
  doc.push(
    "AD gradients of **shared** parameters converge at the scheme's order. **Per-step** parameters tied to the step (`tie=step`, default): G_n / h converges to g(t_n + h Σ b_i c_i).",
  );
  if (zeroB.length > 0) {
    doc.push(
      `With \`tie=stage\`, stage ${zeroB.join(', ')} has weight b = 0: its parameter copies get almost no gradient (O(h²)) and the per-stage gradients are off by 100% at every step size. Use \`tie=step\` or \`gradfix=stagesum\`.`,
    );
  } else if (s > 1) {
    doc.push(
      'With `tie=stage`, each stage sequence converges once divided by h·b_i' +
        (s === 2 ? '; `gradfix=stagesum` gives second order.' : '.'),
    );
  }
  if (repeated)
    doc.push(
      'Two stages share a time c_i: with `tie=stage` their copies describe the same instant and only their b-weighted sum is fixed by the flow.',
    );
  return { name, kind: 'rk', order, stability: 'strong', summary, documentation: doc.join('\n\n') };
}

function multistepDescription(
  name: string,
  m: LinearMultistep,
  declared: boolean,
  predictor?: LinearMultistep,
): SchemeDescription {
  const problems = validateMultistep(m).filter((p) => !(predictor && p.startsWith('the method is implicit')));
  const ord = multistepOrder(m);
  const zs = zeroStability(m.alpha);
  const k = m.alpha.length - 1;
  const order = problems.length > 0 ? 0 : ord.order;
  const kindText = predictor ? 'predictor–corrector multistep' : `explicit ${k}-step`;
  const summary = `${kindText}, order ${order}, ${STABILITY_TEXT[zs.stability]}`;
  const doc: string[] = [];
  const note = declared ? undefined : builtinNote(name);
  if (note) doc.push(note);
  if (declared)
    doc.push(
      `User-defined linear multistep method Σ alpha_j x_{n+j} = h Σ beta_j f_{n+j} (j = 0 oldest … ${k} newest): alpha = [${m.alpha.map(fmt).join(', ')}], beta = [${m.beta.map(fmt).join(', ')}]. The first ${k - 1} step${k - 1 === 1 ? '' : 's'} come${k - 1 === 1 ? 's' : ''} from \`start=\`.`,
    );
  if (problems.length > 0) doc.push(`**Cannot run**: ${problems.join('; ')}.`);
  else if (ord.order === 0)
    doc.push(
      `**Inconsistent**: ρ(1) = ${fmt(ord.rho1)}, ρ'(1) = ${fmt(ord.rhoPrime1)}, σ(1) = ${fmt(ord.sigma1)} (consistency needs ρ(1) = 0 and ρ'(1) = σ(1)).`,
    );
  else
    doc.push(
      `Consistency order ${ord.order} (error constant ${fmt(ord.errorConstant)}). The start steps limit the observed order to (start order + 1): the default \`start=euler\` gives at most 2; use \`start=heun\` or \`start=rk4\` for more.`,
    );
  const roots = zs.roots.map(fmtComplex).join(', ');
  if (zs.stability === 'unstable') {
    doc.push(
      `**Not zero-stable**: ${zs.reason} (roots of ρ: ${roots}). Errors grow without bound as h → 0; the method cannot be used.`,
    );
  } else if (zs.stability === 'weak') {
    doc.push(
      `**Weakly stable**: ρ has the root${zs.parasitic.length > 1 ? 's' : ''} ${zs.parasitic.map(fmtComplex).join(', ')} on the unit circle besides 1 (roots: ${roots}). ` +
        'The discrete adjoint (AD run backwards through the steps) starts from a terminal condition that excites this parasitic mode, so **AD gradients of per-step parameters oscillate from layer to layer and the oscillation does not shrink as h → 0**; sensitivities to intermediate states oscillate too. ' +
        `Shared parameters are fine. Remedies: \`gradfix=filter121\` (or \`adjoint121\`), \`grad=adjoint\`, or a strongly stable scheme (${STRONGLY_STABLE_SCHEMES.join(', ')}).`,
    );
  } else {
    doc.push(
      `Strongly stable (roots of ρ: ${roots}). AD gradients of per-step parameters converge once each copy is divided by h·w, with w its quadrature weight; only the first and last copies have weights other than 1.`,
    );
  }
  return { name, kind: 'lmm', order, stability: zs.stability, summary, documentation: doc.join('\n\n') };
}

/** The map iteration (XPPAUT `discrete`): no flow, so no order or stability of a discretisation. */
function mapDescription(name: string): SchemeDescription {
  return {
    name,
    kind: 'map',
    order: 1,
    stability: 'strong',
    summary: 'map iteration x(t+1) = F(x(t)), t advancing by 1; no continuous reference',
    documentation: [
      builtinNote(name),
      'Per-step parameters get one copy per iteration, at t_n. AD differentiates exactly the iterations, and finite differences check it; there is no flow whose gradient the iterations approximate.',
    ].join('\n\n'),
  };
}

/** Backward Euler: implicit, A-stable and L-stable, one-step (so strongly stable). */
function implicitDescription(name: string): SchemeDescription {
  return {
    name,
    kind: 'rk',
    order: SCHEMES[name as 'backeul'].order,
    stability: 'strong',
    summary: 'implicit Runge–Kutta, 1 stage, order 1, A-stable and L-stable, strongly stable',
    documentation: [
      builtinNote(name),
      "Consistency order 1. One-step, so zero-stable with no parasitic root: AD gradients of per-step parameters have no period-2 artefact. Its amplification factor 1/(1 − hλ) lies inside the unit disc for every Re λ < 0 (A-stable) and goes to 0 for stiff modes (L-stable), so a stiff model's gradients do not blow up at large dt. **Per-step** parameters: G_n / h converges to g(t_{n+1}).",
    ].join('\n\n'),
  };
}

/** Describes a built-in scheme by name (XPPAUT names included), or a declared one. Undefined for unknown names. */
export function describeScheme(name: string, decl?: SchemeDecl): SchemeDescription | undefined {
  if (decl) {
    return decl.kind === 'rk'
      ? rkDescription(decl.name, { a: decl.a, b: decl.b, c: decl.c }, true)
      : multistepDescription(decl.name, { alpha: decl.alpha, beta: decl.beta }, true);
  }
  const raw = name.toLowerCase();
  const spelled = spelledXppautMethod(raw);
  const key =
    isOneStep(raw) || isMultistep(raw)
      ? raw
      : (xppautScheme(raw) ?? (spelled && xppautMethodScheme(spelled)?.scheme) ?? raw);
  let d: SchemeDescription | undefined;
  if (isMapScheme(key)) d = mapDescription(key);
  else if (isImplicitScheme(key)) d = implicitDescription(key);
  else if (isOneStep(key)) d = rkDescription(key, TABLEAUX[key], false);
  else if (isMultistep(key)) d = multistepDescription(key, MULTISTEP[key].method, false, MULTISTEP[key].predictor);
  if (d && key !== raw) d = { ...d, summary: `XPPAUT \`${raw}\` → ${key}: ${d.summary}` };
  return d;
}

// ---- diagnostics ------------------------------------------------------------

function diag(code: Diagnostic['code'], severity: Diagnostic['severity'], message: string, range: Range): Diagnostic {
  return { code, severity, message, range };
}

const list = (names: string[]) =>
  names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
const ordinal = (i: number) => `${i}${i === 1 ? 'st' : i === 2 ? 'nd' : i === 3 ? 'rd' : 'th'}`;

/** Static diagnostics for a checked model: weakly stable / unstable schemes, zero weights, per-step parameters at risk. */
export function schemeDiagnostics(model: Model): Diagnostic[] {
  const out: Diagnostic[] = [];
  const meth = model.options.meth.toLowerCase();
  const perStep = model.params.filter((p) => p.perStep);
  const fallback: Range = perStep[0]?.range ??
    model.optionLines[0]?.range ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

  // Declared schemes: consistency and zero-stability, wherever they are used.
  let usable = true;
  for (const decl of model.schemes) {
    const used = decl.name.toLowerCase() === meth;
    const ok = decl.kind === 'rk' ? checkDeclaredTableau(decl, used, out) : checkDeclaredMultistep(decl, used, out);
    if (used && !ok) usable = false;
  }
  if (!usable) return out;

  let scheme: Scheme;
  try {
    scheme = schemeOf(model);
  } catch {
    return out;
  }

  // The rest concerns per-step parameters: shared ones converge under every scheme here.
  if (perStep.length === 0) return out;
  const at: PerStepContext = {
    model,
    names: perStep.map((p) => p.name),
    methRange: findOption(model, 'meth')?.valueRange ?? fallback,
    tieSetting: findOption(model, 'tie'),
  };
  if (scheme.kind === 'lmm') out.push(...multistepPerStepDiagnostics(at, scheme));
  else if (scheme.tie === 'stage') out.push(...stageTiedDiagnostics(at, scheme));
  return out;
}

/** A declared Runge–Kutta scheme's tableau; false when it cannot be used (reported: an error when `used`). */
function checkDeclaredTableau(decl: Extract<SchemeDecl, { kind: 'rk' }>, used: boolean, out: Diagnostic[]): boolean {
  const t = { a: decl.a, b: decl.b, c: decl.c };
  const problems = validateTableau(t);
  const structural = problems.filter((p) => !p.startsWith('c['));
  if (structural.length > 0) {
    out.push(
      diag(
        'scheme-invalid',
        used ? 'error' : 'warning',
        `The scheme '${decl.name}' cannot be used: ${structural.join('; ')}.`,
        decl.range,
      ),
    );
    return false;
  }
  const cProblems = problems.filter((p) => p.startsWith('c['));
  if (cProblems.length > 0)
    out.push(
      diag(
        'scheme-stage-times',
        'warning',
        `In '${decl.name}', ${cProblems.join('; ')}; its order drops to ${rkOrder(t).order} for time-dependent right-hand sides.`,
        decl.range,
      ),
    );
  return true;
}

/** A declared multistep scheme: supported, consistent, zero-stable; false when it cannot be used (reported: an error when `used`). */
function checkDeclaredMultistep(decl: Extract<SchemeDecl, { kind: 'lmm' }>, used: boolean, out: Diagnostic[]): boolean {
  const severity = used ? 'error' : 'warning';
  const m = { alpha: decl.alpha, beta: decl.beta };
  const problems = validateMultistep(m);
  if (problems.length > 0) {
    out.push(
      diag(
        'scheme-unsupported',
        severity,
        `The scheme '${decl.name}' cannot be used: ${problems.join('; ')}.`,
        decl.range,
      ),
    );
    return false;
  }
  const ord = multistepOrder(m);
  const zs = zeroStability(m.alpha);
  if (ord.order === 0) {
    out.push(
      diag(
        'scheme-inconsistent',
        severity,
        `The scheme '${decl.name}' is inconsistent (ρ(1) = ${fmt(ord.rho1)}, ρ'(1) = ${fmt(ord.rhoPrime1)}, σ(1) = ${fmt(ord.sigma1)}; it needs ρ(1) = 0 and ρ'(1) = σ(1)), so its solution does not approach the ODE's as dt → 0.`,
        decl.range,
      ),
    );
    return false;
  }
  if (zs.stability === 'unstable') {
    out.push(
      diag(
        'scheme-unstable',
        severity,
        `The scheme '${decl.name}' is not zero-stable: ${zs.reason}, so errors grow without bound as dt → 0. Choose coefficients whose ρ has all roots in the unit disc (those on the circle simple).`,
        decl.range,
      ),
    );
    return false;
  }
  return true;
}

/** What the per-step diagnostics name and where they point. */
interface PerStepContext {
  readonly model: Model;
  /** The per-step parameters' names. */
  readonly names: string[];
  /** The `meth=` value, or a fallback range when the default scheme is used. */
  readonly methRange: Range;
  readonly tieSetting: OptionSetting | undefined;
}

/** Per-step parameters under a multistep scheme: weak stability, an ignored tie=stage, copies of weight 0. */
function multistepPerStepDiagnostics(at: PerStepContext, scheme: MultistepScheme): Diagnostic[] {
  const { model, names, methRange, tieSetting } = at;
  const out: Diagnostic[] = [];
  const zs = zeroStability(scheme.method.alpha);
  if (zs.stability === 'weak') {
    const who = `per-step parameter${names.length === 1 ? '' : 's'} ${list(names)}`;
    const corrected = model.options.grad === 'adjoint' || OSCILLATION_CORRECTIONS.includes(model.options.gradfix);
    const root = zs.parasitic.map(fmtComplex).join(', ');
    const remedy = weaklyStableRemedy({ gradfix: model.options.gradfix, grad: model.options.grad });
    out.push(
      diag(
        'weakly-stable',
        corrected ? 'information' : 'warning',
        `${scheme.name} is weakly stable (its ρ has the root ${root} on the unit circle besides 1): AD gradients of the ${who} oscillate from layer to layer, and this does not shrink as dt → 0. ${remedy}`,
        methRange,
      ),
    );
  }
  if (model.options.tie === 'stage' && tieSetting) {
    out.push(
      diag(
        'tie-ignored',
        'information',
        `tie=stage has no effect with the multistep scheme ${scheme.name}: it evaluates f once per step, with one parameter copy per step.`,
        tieSetting.valueRange,
      ),
    );
  }
  const pc = parameterCopies(scheme, model.options.steps, model.options.dt, model.options.t0);
  const zero = pc.weights.map((w, n) => (w === 0 ? n : -1)).filter((n) => n >= 0);
  if (zero.length > 0) {
    const where = zero
      .slice(0, 3)
      .map((n) => `t = ${fmt(pc.times[n])}`)
      .join(', ');
    out.push(
      diag(
        'zero-copy-weight',
        'warning',
        `With ${scheme.name} started by ${scheme.start.name}, the copies of ${list(names)} at ${where} get no gradient at all (their total weight in the scheme is 0), so they never train. Use another start= (e.g. euler) or shared parameters.`,
        methRange,
      ),
    );
  }
  return out;
}

/** Per-stage parameter copies (tie=stage) under a Runge–Kutta scheme: stages of weight 0, stages at one instant. */
function stageTiedDiagnostics(at: PerStepContext, scheme: RKScheme): Diagnostic[] {
  const { names } = at;
  const out: Diagnostic[] = [];
  const tieRange = at.tieSetting?.valueRange ?? at.methRange;
  const { b, c } = scheme.tableau;
  const zeroStages = b.map((bi, i) => (bi === 0 ? i + 1 : 0)).filter((i) => i > 0);
  // gradfix=stagesum sums a 2-stage step's copies before forming gradients: the remedy this warning names.
  const summed = b.length === 2 && at.model.options.gradfix === 'stagesum';
  if (zeroStages.length > 0 && !summed) {
    out.push(
      diag(
        'zero-stage-weight',
        'warning',
        `${scheme.name} gives its ${zeroStages.map(ordinal).join(' and ')} stage the weight b = 0: with tie=stage, those copies of ${list(names)} get almost no gradient and the per-stage gradients are off by 100% at every dt. Use tie=step${b.length === 2 ? ' or gradfix=stagesum' : ''}.`,
        tieRange,
      ),
    );
  }
  const seen = new Map<number, number>();
  c.forEach((ci, i) => {
    const j = seen.get(ci);
    if (j !== undefined && b[i] !== 0 && b[j] !== 0) {
      out.push(
        diag(
          'repeated-stage-time',
          'warning',
          `Stages ${j + 1} and ${i + 1} of ${scheme.name} both sit at t_n + ${fmt(ci)}·dt: with tie=stage their copies of ${list(names)} describe the same instant, only their weighted sum is fixed by the flow, and training can pull them apart. Consider tie=step.`,
          tieRange,
        ),
      );
    } else if (j === undefined) seen.set(ci, i);
  });
  return out;
}
