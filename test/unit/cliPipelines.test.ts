// The CLI for pipelines: several files and globs with a summary line each and a total (exit status the
// worst), --format json validated against docs/report.schema.json (ajv) on real reports, --format sarif
// validated against the SARIF 2.1.0 schema (the one @microsoft/jest-sarif ships, read from node_modules),
// --params at trained values, --version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { DIAGNOSTIC_CODE_NAMES, DIAGNOSTIC_CODES } from '../../solver/registry/diagnosticCodes';
import { REPORT_VERSION } from '../../solver/report';
import { repoRoot } from '../support/repo';

const ROOT = repoRoot();
const CLI = join(ROOT, 'dist/cli.js');
const skip = !existsSync(CLI) && 'dist/cli.js not built (node scripts/build.mjs)';
const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });

function reportValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const schema = JSON.parse(readFileSync(join(ROOT, 'docs/report.schema.json'), 'utf8'));
  assert.equal(
    schema.$defs.report.properties.version.const,
    REPORT_VERSION,
    'the schema describes this report version',
  );
  return ajv.compile(schema);
}

function sarifValidator() {
  const file = join(ROOT, 'node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');
  // unicodeRegExp off: the schema's language pattern is not valid with the u flag.
  const ajv = new AjvDraft04({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(file, 'utf8')));
}

/** Validates without narrowing the value's type (ajv's validators are type guards). */
type Validator = ((data: unknown) => boolean) & { errors?: unknown[] | null };
const validates = (v: Validator, data: unknown): boolean => v(data);

/** A scratch folder with bad.ode, a model with an undeclared name (exit status 2). */
function withBadModel(): { dir: string; bad: string } {
  const dir = scratch();
  const bad = join(dir, 'bad.ode');
  writeFileSync(bad, "state x[2]\nx' = W @ x\ndone\n");
  return { dir, bad };
}

const scratch = () => mkdtempSync(join(tmpdir(), 'odelens-cli-'));

test('odelens --version prints the package version', { skip }, () => {
  const v = run('--version');
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), `odelens ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}`);
});

test('odelens check with several files and globs: a summary line per file, a total, the worst exit status', {
  skip,
}, () => {
  const { dir, bad } = withBadModel();
  const r = run('check', 'examples/*.ode', bad, join(dir, 'none-*.ode'), '--backend', 'cpu');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stdout, /^examples\/spiral-rk4\.ode: \d+ errors?, \d+ warnings?.*; exit 0$/m);
  assert.match(r.stdout, /^examples\/spiral\.ode: 0 errors, \d+ warnings, oscillating; exit 1$/m);
  assert.match(
    r.stdout,
    new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not checked \\(1 error, 0 warnings\\); exit 2$`, 'm'),
  );
  assert.match(
    r.stdout,
    /^3 files: 1 clean, 1 with findings, 1 not checked, 1 pattern matching nothing; exit status 2$/m,
  );
  assert.match(r.stderr, /no file matches .*none-\*\.ode/);
  // Clean and findings only: exit 1.
  assert.equal(run('check', 'examples/spiral-rk4.ode', 'examples/spiral.ode', '--backend', 'cpu').status, 1);
  assert.match(
    run('check', 'examples/spiral.ode', '--format', 'xml').stderr,
    /--format must be one of text, json, sarif/,
  );
});

test('odelens check --format json: real reports (every example, a refused file) validate against docs/report.schema.json', {
  skip,
}, () => {
  const validate = reportValidator();
  const { bad } = withBadModel();
  const all = run('check', 'examples/**/*.ode', bad, '--format', 'json', '--backend', 'cpu');
  assert.equal(all.status, 2, all.stderr);
  const reports = JSON.parse(all.stdout);
  assert.ok(Array.isArray(reports) && reports.length >= 15, `${reports.length} results`);
  assert.ok(validates(validate, reports), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  assert.equal(reports.at(-1).file, bad);
  assert.match(reports.at(-1).error, /errors in the model language|has errors/);
  // One plain FILE: one object (with --refine's study) that validates too.
  const one = JSON.parse(run('check', 'examples/spiral.ode', '--json', '--refine', '--backend', 'cpu').stdout);
  assert.ok(!Array.isArray(one) && one.parameters[0].refinement);
  assert.ok(validates(validate, one), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  // The whole report (--rows all) validates too, and a summary that kept half its rows does not.
  const full = JSON.parse(run('check', 'examples/spiral.ode', '--json', '--rows', 'all', '--backend', 'cpu').stdout);
  assert.ok(full.parameters[0].raw.length > 0);
  assert.ok(validates(validate, full), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  const { reference: _dropped, ...halfRows } = full.parameters[0];
  assert.equal(validates(validate, { ...full, parameters: [halfRows] }), false);
  // A report without finite differences says so, and validates.
  const off = JSON.parse(run('check', 'examples/spiral.ode', '--json', '--no-gradcheck', '--backend', 'cpu').stdout);
  assert.equal(off.finiteDifferencesOff, true);
  assert.ok(validates(validate, off), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  // Models whose reference is not the plain adjoint validate too: events (located firings) and a delay (the
  // limit of refined grids).
  const dir = scratch();
  writeFileSync(join(dir, 'reset.ode'), "x'=a-x\npar a=2\nglobal 1 x-1 {x=0}\nloss = x(T)^2\n@ total=2, dt=0.05\n");
  writeFileSync(
    join(dir, 'lag.ode'),
    "x'=-a*delay(x,0.5)\npar a=1\ninit x=1\nloss = x(T)^2\n@ total=1, dt=0.05, delay=1\n",
  );
  const special = JSON.parse(run('check', join(dir, '*.ode'), '--format', 'json', '--backend', 'cpu').stdout);
  assert.equal(special.length, 2);
  assert.ok(validates(validate, special), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  const [lag, reset] = special;
  assert.equal(lag.refinedReference?.scheme, 'rk4', JSON.stringify(lag).slice(0, 400));
  // x' = a − x crosses 1 and resets to 0: a firing the reference locates inside its step.
  assert.ok(reset.eventReference?.firings > 0, JSON.stringify(reset).slice(0, 400));
  // The schema can fail: a report with an unknown field or a wrong version does not validate.
  assert.equal(validates(validate, { ...one, extra: 1 }), false);
  assert.equal(validates(validate, { ...one, version: 1 }), false);
});

test('odelens check --format sarif: a SARIF 2.1.0 log that validates, with a rule for every code and regions', {
  skip,
}, () => {
  const validate = sarifValidator();
  const { dir, bad } = withBadModel();
  const r = run('check', 'examples/**/*.ode', bad, join(dir, 'missing.ode'), '--format', 'sarif', '--backend', 'cpu');
  assert.equal(r.status, 2, r.stderr);
  const log = JSON.parse(r.stdout);
  assert.ok(validates(validate, log), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  assert.equal(log.version, '2.1.0');
  const run0 = log.runs[0];
  const rules = run0.tool.driver.rules as {
    id: string;
    shortDescription: { text: string };
    fullDescription: { text: string };
    helpUri: string;
    defaultConfiguration: { level: string };
  }[];
  assert.deepEqual(
    rules.map((x) => x.id),
    [...DIAGNOSTIC_CODE_NAMES],
  );
  for (const rule of rules) {
    assert.ok(
      rule.shortDescription.text &&
        rule.fullDescription.text.startsWith(DIAGNOSTIC_CODES[rule.id as keyof typeof DIAGNOSTIC_CODES].summary),
    );
    assert.match(rule.helpUri, new RegExp(`docs/diagnostics\\.md#${rule.id}$`));
    assert.ok(['error', 'warning', 'note'].includes(rule.defaultConfiguration.level));
  }
  const results = run0.results as {
    ruleId: string;
    ruleIndex: number;
    level: string;
    locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
    properties?: { metrics?: { alpha: number } };
  }[];
  assert.ok(results.length > 0);
  for (const res of results) {
    assert.equal(rules[res.ruleIndex].id, res.ruleId, 'every finding names its rule');
    assert.ok(res.locations[0].physicalLocation.region.startLine >= 1);
  }
  // The measured figures ride along as properties; the leapfrog warning sits on `leapfrog` in spiral.ode (line 12).
  const osc = results.find(
    (x) =>
      x.ruleId === 'oscillating-gradient' &&
      x.locations[0].physicalLocation.artifactLocation.uri === 'examples/spiral.ode',
  );
  assert.ok(osc?.properties?.metrics && osc.properties.metrics.alpha > 0.5);
  const ws = results.find((x) => x.ruleId === 'weakly-stable-scheme');
  assert.equal(ws?.locations[0].physicalLocation.region.startLine, 12);
  assert.ok(results.some((x) => x.locations[0].physicalLocation.artifactLocation.uri === bad && x.level === 'error'));
  assert.equal(run0.invocations[0].executionSuccessful, false);
  assert.ok(
    run0.invocations[0].toolExecutionNotifications.some((n: { message: { text: string } }) =>
      /cannot read/.test(n.message.text),
    ),
  );
  // The validator can fail: a result without a message does not validate.
  const broken = structuredClone(log);
  delete broken.runs[0].results[0].message;
  assert.equal(validates(validate, broken), false);
});

test('odelens check --params: the model at trained values, and the report says which parameters it checked', {
  skip,
}, () => {
  const dir = scratch();
  const params = join(dir, 'params.json');
  const t = run(
    'train',
    'examples/spiral-rk4.ode',
    '--optimizer',
    'sgd',
    '--lr',
    '0.2',
    '--iterations',
    '20',
    '--out',
    params,
    '--backend',
    'cpu',
  );
  assert.equal(t.status, 0, t.stderr);
  const trained = JSON.parse(
    run('check', 'examples/spiral-rk4.ode', '--json', '--params', params, '--backend', 'cpu').stdout,
  );
  const seeded = JSON.parse(run('check', 'examples/spiral-rk4.ode', '--json', '--backend', 'cpu').stdout);
  assert.deepEqual(trained.checkedParameters, { kind: 'given', source: params, names: ['W1', 'b1', 'W2'] });
  assert.deepEqual(seeded.checkedParameters, { kind: 'seeded', source: 'seed=1', names: ['W1', 'b1', 'W2'] });
  const saved = JSON.parse(readFileSync(params, 'utf8'));
  assert.ok(
    Math.abs(trained.loss - saved.final.loss) <= 1e-6 * Math.max(1, saved.final.loss),
    `${trained.loss} vs ${saved.final.loss}`,
  );
  assert.ok(trained.loss < seeded.loss);
  assert.match(
    run('check', 'examples/spiral-rk4.ode', '--params', params, '--backend', 'cpu').stdout,
    /^parameters from .*params\.json: W1, b1, W2$/m,
  );
  // Values that do not fit the model are refused by name (leapfrog's copies are as many, but a shape is not).
  const wrong = join(dir, 'wrong.json');
  saved.parameters[0].shape = [2, 16];
  writeFileSync(wrong, JSON.stringify(saved));
  const w = run('check', 'examples/spiral-rk4.ode', '--params', wrong);
  assert.equal(w.status, 2);
  assert.match(w.stderr, /W1 has shape \[2,16\], the model declares \[16,2\]/);
});
