// The registries of names (solver/registry/, solver/schemes/registry.ts) against what is derived from them or
// checked against them: package.json's backend enum, the built-in schemes' declared facts against the analysis of
// their coefficients, the tableau checks that run at load, and the derived lists of names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_NAMES, BACKENDS } from '../../solver/registry/backends';
import {
  CORRECTIONS,
  GRADFIX_NAMES,
  OSCILLATION_CORRECTIONS,
  RECOMMENDED_CORRECTION,
  TRAINING_CORRECTIONS,
} from '../../solver/registry/corrections';
import { GRAD_ENGINE_NAMES } from '../../solver/registry/gradEngines';
import {
  entryProblems,
  isMultistep,
  isOneStep,
  ONE_STEP_SCHEME_NAMES,
  SCHEME_NAMES,
  SCHEMES,
  STRONGLY_STABLE_REMEDIES,
  validated,
  XPPAUT_SCHEME_ALIASES,
  isMapScheme,
  type OneStepEntry,
  type OneStepName,
  type SchemeEntry,
} from '../../solver/schemes/registry';
import { multistepOrder, rkOrder, zeroStability } from '../../solver/schemes/coefficients';
import { schemeByName } from '../../solver/schemes/schemes';
import { XPPAUT_METHODS, xppautMethodScheme } from '../../solver/schemes/xppautMethods';
import { CHECK_ONLY_CORRECTIONS, TRAIN_GRADIENTS } from '../../solver/train/gradients';
import { BACKEND_SETTINGS, DEFAULT_SETTINGS, normaliseSettings } from '../../protocol/settings';
import { repoRoot } from '../support/repo';

interface SettingSchema {
  enum: string[];
  enumDescriptions: string[];
  default: string;
}

test('package.json: the odeLens.backend enum and its descriptions are the backend registry', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8'));
  const setting: SettingSchema = pkg.contributes.configuration.properties['odeLens.backend'];
  assert.deepEqual([...setting.enum].sort(), [...BACKEND_NAMES].sort(), 'the same names');
  setting.enum.forEach((name, i) => {
    assert.equal(
      setting.enumDescriptions[i],
      BACKENDS[name as keyof typeof BACKENDS].description,
      `description of ${name}`,
    );
  });
  assert.equal(setting.default, DEFAULT_SETTINGS.backend);
  assert.deepEqual(BACKEND_SETTINGS, BACKEND_NAMES);
  assert.equal(normaliseSettings({ backend: 'wasm' }).backend, 'wasm');
  assert.equal(normaliseSettings({ backend: 'gpu' }).backend, 'auto');
});

test('scheme registry: every entry passes its load-time checks and runs', () => {
  for (const name of SCHEME_NAMES) {
    assert.deepEqual(entryProblems(SCHEMES[name]), [], name);
    assert.equal(schemeByName(name).name, name);
  }
  assert.ok(SCHEME_NAMES.length >= 9);
});

test('scheme registry: declared order and stability are what the coefficients give', () => {
  for (const name of SCHEME_NAMES) {
    const e: SchemeEntry = SCHEMES[name];
    if (e.kind === 'rk') {
      assert.equal(rkOrder(e.tableau).order, e.order, `${name}: order`);
      assert.equal(e.stability, 'strong', `${name}: one-step schemes are zero-stable`);
    } else {
      assert.equal(multistepOrder(e.method).order, e.order, `${name}: order`);
      assert.equal(zeroStability(e.method.alpha).stability, e.stability, `${name}: stability`);
    }
  }
});

test('scheme registry: a tableau with the wrong stage times or weights is refused at load', () => {
  const good: OneStepEntry = {
    kind: 'rk',
    tableau: { a: [[], [0.5]], b: [0, 1], c: [0, 0.5] },
    order: 2,
    stability: 'strong',
    description: '',
  };
  assert.deepEqual(entryProblems(good), []);
  const wrongC: OneStepEntry = { ...good, tableau: { a: [[], [0.5]], b: [0, 1], c: [0, 0.3] } };
  assert.match(entryProblems(wrongC).join(), /c\[2\] = 0\.3 differs from the row sum of a \(0\.5\)/);
  const wrongB: OneStepEntry = { ...good, tableau: { a: [[], [0.5]], b: [0.5, 0.4], c: [0, 0.5] } };
  assert.match(entryProblems(wrongB).join(), /the weights b sum to 0\.9, not 1/);
  const implicit: OneStepEntry = { ...good, tableau: { a: [[0.5], [0.5]], b: [0, 1], c: [0.5, 0.5] } };
  assert.match(entryProblems(implicit).join(), /row 1 of a is not strictly lower triangular/);
  assert.throws(
    () => validated({ bad: wrongC }),
    /The built-in scheme 'bad' in solver\/schemes\/registry\.ts is wrong: c\[2\]/,
  );
  assert.doesNotThrow(() => validated({ good }));
});

test('scheme registry: an inconsistent or implicit multistep method is refused; an implicit corrector needs its predictor', () => {
  const ab2 = SCHEMES.ab2;
  assert.match(
    entryProblems({ ...ab2, method: { alpha: [0, -1, 1], beta: [0, 2, 0] } }).join(),
    /ρ'\(1\) = 1 differs from σ\(1\) = 2/,
  );
  assert.match(
    entryProblems({ ...ab2, method: { alpha: [0, -2, 1], beta: [-1 / 2, 3 / 2, 0] } }).join(),
    /ρ\(1\) = Σ alpha_j = -1, not 0/,
  );
  const { predictor: _, ...milneWithoutPredictor } = SCHEMES.milne;
  assert.match(entryProblems(milneWithoutPredictor).join(), /the method is implicit/);
  assert.deepEqual(entryProblems(SCHEMES.milne), []);
});

test('scheme registry: the derived lists (one-step names, XPPAUT names, remedies)', () => {
  const oneStep: readonly OneStepName[] = ONE_STEP_SCHEME_NAMES;
  assert.deepEqual(
    oneStep,
    SCHEME_NAMES.filter((n) => SCHEMES[n].kind === 'rk' && n !== 'discrete' && n !== 'backeul'),
  );
  // The map iteration cannot start a multistep method.
  assert.ok(isMapScheme('discrete') && !SCHEME_NAMES.some((n) => n !== 'discrete' && isMapScheme(n)));
  assert.ok(oneStep.every(isOneStep) && !oneStep.some(isMultistep));
  assert.deepEqual(
    SCHEME_NAMES.filter(isMultistep),
    SCHEME_NAMES.filter((n) => SCHEMES[n].kind === 'lmm'),
  );
  for (const [alias, { scheme }] of XPPAUT_SCHEME_ALIASES) {
    assert.ok(SCHEME_NAMES.includes(scheme), `${alias} → ${scheme}`);
    assert.ok(!SCHEME_NAMES.includes(alias as never), `${alias} is not also a built-in name`);
  }
  // Every documented XPPAUT method runs as a built-in scheme.
  assert.deepEqual(
    XPPAUT_METHODS.filter((m) => !xppautMethodScheme(m)),
    [],
  );
  for (const name of STRONGLY_STABLE_REMEDIES) assert.equal(SCHEMES[name].stability, 'strong', name);
});

test('corrections and gradient engines: training gradients and remedies derive from them', () => {
  assert.deepEqual(TRAIN_GRADIENTS, [...GRAD_ENGINE_NAMES, ...TRAINING_CORRECTIONS]);
  assert.deepEqual([...TRAINING_CORRECTIONS, ...CHECK_ONLY_CORRECTIONS, 'none'].sort(), [...GRADFIX_NAMES].sort());
  assert.ok(!OSCILLATION_CORRECTIONS.includes('none'));
  assert.equal(
    GRADFIX_NAMES.filter((n) => 'recommended' in CORRECTIONS[n]).length,
    1,
    'exactly one recommended correction',
  );
  assert.ok(
    OSCILLATION_CORRECTIONS.includes(RECOMMENDED_CORRECTION) && TRAINING_CORRECTIONS[0] === RECOMMENDED_CORRECTION,
  );
  for (const n of GRADFIX_NAMES) assert.ok(CORRECTIONS[n].doc.length > 0, n);
});
