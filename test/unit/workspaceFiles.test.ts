// Reading the files a model names (solver/language/workspaceFiles.ts): regular files
// inside the workspace only, a size limit known before reading, no read for an
// untitled document, the BOM dropped, a parse kept while the file is unchanged; the
// synchronous read (CLI, worker) and the asynchronous one (server) agree; and the CLI
// takes the workspace folder (--workspace DIR).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { analyse } from '../../solver/language/index';
import { DEFAULT_SETTINGS, normaliseSettings } from '../../protocol/settings';
import { CSV_OBSERVATIONS } from '../../solver/language/data';
import {
  DEFAULT_MAX_FILE_MB,
  loadWorkspaceFile,
  parseAhead,
  locateWorkspaceFile,
  readWorkspaceFile,
  type FileFormat,
} from '../../solver/language/workspaceFiles';

const dir = mkdtempSync(join(tmpdir(), 'odelens-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const documentPath = join(dir, 'model.ode');

/** The text as it is, counting parses. */
function countingFormat(): FileFormat<string> & { parses: number } {
  const f = {
    name: `text-${Math.random()}`,
    parses: 0,
    parse(text: string) {
      f.parses++;
      return text;
    },
  };
  return f;
}

const DATA_MODEL = (path: string) =>
  `data obs = "${path}"\nstate x[1]\ninit x = [1]\npar a = 0.5\nx' = -a*x\nloss = sum((x(obs) - obs)^2)\n@ total=1, steps=16, meth=rk4\ndone\n`;

describe('reading a file a model names', () => {
  it('refuses a FIFO at once (it would block a reader until a writer comes)', async () => {
    execFileSync('mkfifo', [join(dir, 'obs.csv')]);
    const t0 = Date.now();
    const r = readWorkspaceFile('obs.csv', { documentPath }, countingFormat());
    assert.deepEqual(r.ok ? 'read' : [r.refusal, r.message], [
      'not-regular',
      '"obs.csv" is a named pipe (FIFO); only regular files are read',
    ]);
    const located = locateWorkspaceFile('obs.csv', { documentPath });
    assert.ok(!('refusal' in located));
    const a = await loadWorkspaceFile('obs.csv', located.resolved, located.root, 1e6);
    assert.ok('refusal' in a && a.refusal === 'not-regular', JSON.stringify(a));
    assert.ok(Date.now() - t0 < 2000);
    // Through the language: one diagnostic on the path, and analysis goes on.
    const analysis = analyse(DATA_MODEL('obs.csv'), { documentPath });
    const e = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(
      e.map((d) => [d.code, d.range.start.line]),
      [['data-file', 0]],
    );
  });

  it('refuses a file over the size limit from its stat, before reading it', async () => {
    writeFileSync(join(dir, 'big.csv'), 'x'.repeat(3000));
    const r = readWorkspaceFile('big.csv', { documentPath, maxFileBytes: 2000 }, countingFormat());
    assert.ok(!r.ok && r.refusal === 'too-large', JSON.stringify(r));
    assert.match(r.message, /"big\.csv" is 3000 bytes, more than the 2000 bytes limit/);
    const located = locateWorkspaceFile('big.csv', { documentPath });
    assert.ok(!('refusal' in located));
    const a = await loadWorkspaceFile('big.csv', located.resolved, located.root, 2000);
    assert.ok('refusal' in a && a.refusal === 'too-large');
    assert.ok(readWorkspaceFile('big.csv', { documentPath, maxFileBytes: 4000 }, countingFormat()).ok);
  });

  it('reads nothing for an untitled document, and nothing outside the workspace (links included)', () => {
    const untitled = readWorkspaceFile('big.csv', {}, countingFormat());
    assert.ok(!untitled.ok && untitled.refusal === 'untitled');
    const up = readWorkspaceFile('../elsewhere.csv', { documentPath }, countingFormat());
    assert.ok(!up.ok && up.refusal === 'outside-workspace');
    const outside = mkdtempSync(join(tmpdir(), 'odelens-outside-'));
    writeFileSync(join(outside, 'secret.csv'), 't,x\n0,1\n');
    symlinkSync(join(outside, 'secret.csv'), join(dir, 'link.csv'));
    const linked = readWorkspaceFile('link.csv', { documentPath }, countingFormat());
    rmSync(outside, { recursive: true, force: true });
    assert.ok(!linked.ok && linked.refusal === 'outside-workspace', JSON.stringify(linked));
  });

  it('drops a UTF-8 BOM; parses once while the file is unchanged, again after a change', () => {
    const p = join(dir, 'bom.tab');
    writeFileSync(p, '\uFEFF3\n0\n1\n');
    utimesSync(p, 1000, 1000);
    const format = countingFormat();
    const first = readWorkspaceFile('bom.tab', { documentPath }, format);
    assert.deepEqual(first.ok && first.value, '3\n0\n1\n');
    readWorkspaceFile('bom.tab', { documentPath }, format);
    assert.equal(format.parses, 1, 'an unchanged file is not parsed again');
    writeFileSync(p, '4\n0\n1\n');
    utimesSync(p, 2000, 2000);
    const second = readWorkspaceFile('bom.tab', { documentPath }, format);
    assert.deepEqual(second.ok && second.value, '4\n0\n1\n');
    assert.equal(format.parses, 2);
  });

  it('reads only the files given when the server read them ahead (and says which it lacks)', () => {
    const seen: string[] = [];
    const resolved = resolve(dir, 'ahead.csv');
    const context = {
      documentPath,
      files: { [resolved]: { text: 'given', signature: '1' } },
      onFileRead: (f: { resolved: string }) => void seen.push(f.resolved),
    };
    const r = readWorkspaceFile('ahead.csv', context, countingFormat());
    assert.deepEqual(r.ok && r.value, 'given');
    const missing = readWorkspaceFile('other.csv', context, countingFormat());
    assert.ok(!missing.ok && missing.refusal === 'pending');
    assert.deepEqual(seen, [resolved, resolve(dir, 'other.csv')]);
  });
});

/** The repository root, from the bundled test in out/test/unit/. */
const repo = join(__dirname, '..', '..', '..');
const cli = join(repo, 'dist', 'cli.js');

describe('parsing a data file ahead, in slices', () => {
  const csv = `t,x,é🙂\n${Array.from({ length: 30000 }, (_, i) => `${i * 1e-4},${Math.sin(i)},${i}`).join('\n')}\n`;

  it('gives the rows of the synchronous parse, and the same message for a malformed file', async () => {
    const rows = CSV_OBSERVATIONS.parse(csv, 'a.csv');
    assert.ok(!('malformed' in rows) && rows.times.length === 30000 && rows.columns[1] === 'é🙂');
    assert.deepEqual(await CSV_OBSERVATIONS.parseAsync!(csv, 'a.csv'), rows);
    const bad = 't,x\n1,2\n3\n';
    const sync = CSV_OBSERVATIONS.parse(bad, 'b.csv');
    assert.ok('malformed' in sync);
    assert.deepEqual(await CSV_OBSERVATIONS.parseAsync!(bad, 'b.csv'), sync);
    const notANumber = `t,x\n0.1,1\n0.2,oops\n${'0.3,2\n'.repeat(20000)}`;
    assert.deepEqual(await CSV_OBSERVATIONS.parseAsync!(notANumber, 'n.csv'), {
      malformed: "row 3, column 'x': 'oops' is not a finite number",
    });
    assert.deepEqual(
      CSV_OBSERVATIONS.parse(notANumber, 'n.csv'),
      await CSV_OBSERVATIONS.parseAsync!(notANumber, 'n.csv'),
    );
    assert.deepEqual(await CSV_OBSERVATIONS.parseAsync!('# only a comment\n', 'c.csv'), {
      malformed: '"c.csv" is empty',
    });
  });

  it('lets the event loop run while it parses, and leaves the file parsed for the analysis', async () => {
    const resolved = resolve(dir, 'ahead-parsed.csv');
    const file = { text: csv, signature: 'sig-1' };
    // The analysis names the format once (as the server's first analysis does).
    readWorkspaceFile('ahead-parsed.csv', { documentPath, files: {} }, CSV_OBSERVATIONS);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await parseAhead(CSV_OBSERVATIONS.name, 'ahead-parsed.csv', resolved, file);
    clearInterval(timer);
    assert.ok(ticks > 0, 'timers ran during the parse');
    const counting = { ...CSV_OBSERVATIONS, parse: () => assert.fail('parsed again on the main thread') };
    const r = readWorkspaceFile('ahead-parsed.csv', { documentPath, files: { [resolved]: file } }, counting);
    assert.ok(r.ok && r.value.times.length === 30000);
  });
});

it('the size limit has one default: the setting in package.json, the server and the CLI agree', () => {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const setting = pkg.contributes.configuration.properties['odeLens.data.maxFileSizeMB'];
  assert.equal(setting.default, DEFAULT_MAX_FILE_MB);
  assert.equal(DEFAULT_SETTINGS.data.maxFileSizeMB, DEFAULT_MAX_FILE_MB);
  assert.match(setting.description, /Largest file a model names/);
  assert.equal(normaliseSettings({ data: { maxFileSizeMB: 'big' } }).data.maxFileSizeMB, DEFAULT_MAX_FILE_MB);
});

describe('odelens CLI and data files', () => {
  it('--workspace DIR lets a model read ../data/obs.csv; without it the file is outside', {
    skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
  }, () => {
    const ws = mkdtempSync(join(tmpdir(), 'odelens-ws-'));
    try {
      mkdirSync(join(ws, 'models'));
      mkdirSync(join(ws, 'data'));
      writeFileSync(join(ws, 'data', 'obs.csv'), 't,x\n0.5,0.78\n1,0.61\n');
      // With a BOM, as some editors save: the CLI reads line 1 as written.
      writeFileSync(join(ws, 'models', 'm.ode'), `\uFEFF${DATA_MODEL('../data/obs.csv')}`);
      const run = (...args: string[]) =>
        spawnSync(process.execPath, [cli, 'check', join(ws, 'models', 'm.ode'), '--backend', 'cpu', ...args], {
          encoding: 'utf8',
        });
      const without = run();
      assert.equal(without.status, 2, without.stderr);
      assert.match(without.stderr, /m\.ode:1:\d+: error: Data 'obs': "\.\.\/data\/obs\.csv" is outside the workspace/);
      const withWs = run('--workspace', ws);
      assert.equal(withWs.status, 0, withWs.stderr + withWs.stdout);
      assert.match(withWs.stdout, /no findings/);
      const missing = run('--workspace');
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /--workspace needs a folder/);
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });
});
