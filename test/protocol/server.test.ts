// Protocol test: the real language server (`node dist/server.js --stdio`) driven by a
// real LSP client connection (vscode-jsonrpc over the child's stdio), as Neovim or
// any other LSP client would: diagnostics, the quick fix, hover, custom messages,
// the content-hash cache, and recovery from a syntax error.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPORT_VERSION, type ReportSummary } from '../../solver/report';
import {
  GetReportRequest,
  ReportNotification,
  RunCheckRequest,
  type ReportParams,
} from '../../protocol/customMessages';
import { GRADFIX_FIXABLE_CODES, QUICK_FIX_TITLE } from '../../solver/service/codeActions';
import { applyEdits, type TextEdit as SimpleTextEdit } from '../support/textEdits';
import { LspClient } from '../support/lspClient';

const root = join(__dirname, '..', '..', '..');
const serverJs = join(root, 'dist', 'server.js');
const CHECK_TIMEOUT = 120_000;

interface Diag {
  range: SimpleTextEdit['range'];
  severity?: number;
  code?: string | number;
  source?: string;
  message: string;
}

/** The shared LSP client, plus the ODE Lens check notifications. */
class Client extends LspClient {
  readonly reports: ReportParams[] = [];

  constructor(child: ChildProcess) {
    super(child, CHECK_TIMEOUT);
    this.conn.onNotification(ReportNotification.type, (p) => this.notify(() => this.reports.push(p)));
  }

  override lastDiagnostics(uri: string, version?: number): Diag[] | undefined {
    return super.lastDiagnostics(uri, version) as Diag[] | undefined;
  }

  reportFor(uri: string, version: number): ReportSummary | undefined {
    return this.reports.find((r) => r.uri === uri && r.version === version)?.report;
  }
}

/** A warning (or error) the gradfix quick fix answers; a corrected scheme keeps an information note. */
const fixable = (d: Diag) => GRADFIX_FIXABLE_CODES.includes(String(d.code)) && (d.severity ?? 1) <= 2;

describe('language server over --stdio', { timeout: 300_000 }, () => {
  let child: ChildProcess;
  let client: Client;
  const spiralPath = join(root, 'examples', 'spiral.ode');
  const uri = pathToFileURL(spiralPath).toString();
  const original = readFileSync(spiralPath, 'utf8');
  let fixed = '';

  before(async () => {
    assert.ok(existsSync(serverJs), `${serverJs} is missing: run node scripts/build.mjs first`);
    child = spawn(process.execPath, [serverJs, '--stdio'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    client = new Client(child);
    const init = await client.conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(root).toString(),
      capabilities: {
        textDocument: {
          publishDiagnostics: { versionSupport: true, codeDescriptionSupport: true, dataSupport: true },
          codeAction: {
            codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } },
            isPreferredSupport: true,
          },
          hover: { contentFormat: ['markdown', 'plaintext'] },
          synchronization: { didSave: false },
        },
        workspace: {},
      },
      // No workspace/configuration support here: settings come as initializationOptions.
      initializationOptions: {
        settings: { check: { enabled: true, debounceMs: 50, timeBudgetMs: 100_000 }, backend: 'cpu' },
      },
    });
    const caps = (init as { capabilities: Record<string, unknown> }).capabilities;
    assert.ok(caps.hoverProvider, 'hoverProvider');
    assert.ok(caps.codeActionProvider, 'codeActionProvider');
    await client.conn.sendNotification('initialized', {});
  });

  after(async () => {
    if (!child) return;
    try {
      await Promise.race([client.conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 5000).unref())]);
      await client.conn.sendNotification('exit');
    } catch {
      /* already gone */
    }
    const exited = await new Promise<boolean>((resolve) => {
      if (child.exitCode !== null) return resolve(true);
      const t = setTimeout(() => resolve(false), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!exited) child.kill('SIGKILL');
    client.conn.dispose();
  });

  it('publishes oscillation warnings for spiral.ode (leapfrog, per-step)', {
    timeout: CHECK_TIMEOUT + 10_000,
  }, async () => {
    await client.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'ode', version: 1, text: original },
    });
    // The fast path publishes analysis diagnostics at once, without waiting for the check.
    const fast = await client.until('fast-path diagnostics', () => client.lastDiagnostics(uri, 1), 10_000);
    assert.ok(!fast.some((d) => d.severity === 1), `no errors expected: ${JSON.stringify(fast)}`);
    await client.until('running status', () =>
      client.statuses.find((s) => s.uri === uri && (s.state === 'running' || s.state === 'done')),
    );
    const report = await client.until('report for version 1', () => client.reportFor(uri, 1));
    const diags = client.lastDiagnostics(uri, 1)!;
    const warnings = diags.filter(fixable);
    assert.ok(
      warnings.length > 0,
      `expected oscillating-gradient / weakly-stable-scheme warnings, got ${JSON.stringify(diags)}`,
    );
    for (const w of warnings) {
      assert.equal(w.severity, 2, 'warning severity');
      assert.equal(w.source, 'ODE Lens');
    }
    assert.equal(report.scheme, 'leapfrog');
    const done = client.statuses.filter((s) => s.uri === uri && s.state === 'done').pop()!;
    assert.ok(done, 'a done status');
    // The status bar's count: the errors and warnings published for the checked text.
    assert.equal(done.findings, diags.filter((d) => d.severity === 1 || d.severity === 2).length);
    assert.equal(typeof done.backend, 'string');
    assert.equal(typeof done.ms, 'number');
  });

  it('answers odeLens/getReport with the report', async () => {
    const report = await client.conn.sendRequest(GetReportRequest.type, { uri });
    assert.ok(report, 'report');
    assert.equal(report!.version, REPORT_VERSION);
    assert.ok(
      report!.parameters.some((p) => p.perStep),
      'per-step parameters',
    );
    const none = await client.conn.sendRequest(GetReportRequest.type, { uri: 'file:///not/open.ode' });
    assert.equal(none, null);
  });

  it('hover on meth shows raw and corrected errors', async () => {
    const line = original.split('\n').findIndex((l) => l.startsWith('@'));
    const character = original.split('\n')[line].indexOf('meth') + 1;
    const hover = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri },
      position: { line, character },
    })) as {
      contents: { kind: string; value: string };
    } | null;
    assert.ok(hover, 'hover');
    assert.equal(hover!.contents.kind, 'markdown');
    assert.match(hover!.contents.value, /raw error/);
    assert.match(hover!.contents.value, /filter121 error/);
    assert.match(hover!.contents.value, /leapfrog/);
  });

  it('each diagnostic links its explanation, and a gradient finding the scheme option that causes it', () => {
    const diags = client.lastDiagnostics(uri, 1)!;
    const page = readFileSync(join(root, 'docs', 'diagnostics.md'), 'utf8');
    for (const d of diags) {
      const href = (d as { codeDescription?: { href: string } }).codeDescription?.href ?? '';
      const [file, anchor] = href.split('#');
      assert.ok(file.startsWith('file://') && existsSync(fileURLToPath(file)), `${d.code}: ${href}`);
      assert.equal(anchor, d.code);
      assert.ok(page.includes(`### ${d.code}\n`), `${d.code} has its section`);
    }
    const osc = diags.find((d) => d.code === 'oscillating-gradient') as
      | { relatedInformation?: { location: { uri: string; range: { start: { line: number } } }; message: string }[] }
      | undefined;
    assert.ok(osc?.relatedInformation?.length, 'related information');
    const rel = osc!.relatedInformation![0];
    assert.equal(rel.location.uri, uri);
    assert.match(original.split('\n')[rel.location.range.start.line], /meth=leapfrog/);
    assert.match(rel.message, /meth=leapfrog/);
  });

  it('the CodeLens row on the @ line: the commands with the URI, and the verdict', async () => {
    const lenses = (await client.conn.sendRequest('textDocument/codeLens', { textDocument: { uri } })) as {
      range: { start: { line: number } };
      command: { title: string; command: string; arguments?: unknown[] };
    }[];
    const at = original.split('\n').findIndex((l) => l.startsWith('@'));
    assert.ok(lenses.every((l) => l.range.start.line === at));
    assert.deepEqual(
      lenses.slice(0, 4).map((l) => [l.command.command, l.command.arguments]),
      ['odeLens.runCheck', 'odeLens.showGradientPlots', 'odeLens.refine', 'odeLens.train'].map((c) => [c, [uri]]),
    );
    assert.match(lenses[4].command.title, /^Last check: .*oscillat.* · \w+, \d+ ms$/);
  });

  it('on the @ line the remedies of every finding are offered; fix-all sets the recommended one', async () => {
    const at = original.split('\n').findIndex((l) => l.startsWith('@'));
    const range = { start: { line: at, character: 0 }, end: { line: at, character: 0 } };
    const actions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range,
      // A client may send back diagnostics without a range (Neovim 0.7 does): ignored, not a crash.
      context: { diagnostics: [{ message: 'stored by the client', code: 'oscillating-gradient' }] },
    })) as { title: string; kind: string; diagnostics?: { code: string }[] }[];
    const answered = new Set(actions.flatMap((a) => (a.diagnostics ?? []).map((d) => d.code)));
    assert.ok(answered.has('oscillating-gradient') && answered.has('weakly-stable-scheme'), [...answered].join());
    assert.ok(!actions.some((a) => a.kind.startsWith('source')), 'fix-all only when asked for');
    const all = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range,
      context: { diagnostics: [], only: ['source.fixAll'] },
    })) as { kind: string; edit: { changes: Record<string, SimpleTextEdit[]> } }[];
    assert.equal(all.length, 1);
    assert.equal(all[0].kind, 'source.fixAll.odelens');
    assert.equal(
      applyEdits(original, all[0].edit.changes[uri]),
      original.replace('meth=leapfrog, seed=1', 'meth=leapfrog, seed=1, gradfix=filter121'),
    );
  });

  it('quick fix "Correct AD gradients with filter121" edits only the @ line', async () => {
    const diags = client.lastDiagnostics(uri, 1)!.filter(fixable);
    const target = diags.find((d) => d.code === 'weakly-stable-scheme') ?? diags[0];
    const actions = (await client.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range: target.range,
      context: { diagnostics: [target], only: ['quickfix'] },
    })) as {
      title: string;
      kind: string;
      isPreferred?: boolean;
      edit: { changes: Record<string, SimpleTextEdit[]> };
    }[];
    // Every remedy of a weakly stable scheme, the recommended one preferred and titled with its measured figures.
    const titles = actions.map((a) => a.title).join('\n');
    for (const setting of ['gradfix=average', 'gradfix=adjoint121', 'meth=heun', 'meth=rk4', 'grad=adjoint'])
      assert.ok(
        actions.some((a) =>
          a.edit.changes[uri].some((e) => setting.endsWith(e.newText.replace(/^, /, '').split('=').pop()!)),
        ),
        `${setting} missing:\n${titles}`,
      );
    const preferred = actions.filter((a) => a.isPreferred);
    assert.equal(preferred.length, 1, titles);
    const action = preferred[0];
    assert.ok(action.title.startsWith(QUICK_FIX_TITLE), action.title);
    assert.match(action.title, /— error \S+ instead of \S+$/);
    assert.equal(action.kind, 'quickfix');
    assert.equal(action.isPreferred, true);
    const edits = action.edit.changes[uri];
    assert.equal(edits.length, 1);
    fixed = applyEdits(original, edits);
    const before = original.split('\n');
    const afterLines = fixed.split('\n');
    assert.equal(afterLines.length, before.length, 'same number of lines');
    const changed = before.map((l, i) => (l === afterLines[i] ? -1 : i)).filter((i) => i >= 0);
    assert.equal(changed.length, 1, `exactly one line changed: ${changed}`);
    assert.ok(before[changed[0]].startsWith('@'), 'the changed line is the @ line');
    assert.match(afterLines[changed[0]], /gradfix=filter121/);
    assert.ok(
      afterLines[changed[0]].startsWith(before[changed[0]]),
      'the setting is appended, the rest of the line unchanged',
    );
  });

  it('after the fix, the check finds no oscillation', { timeout: CHECK_TIMEOUT + 10_000 }, async () => {
    assert.ok(fixed, 'quick fix test ran');
    await client.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ text: fixed }],
    });
    const report = await client.until('report for version 2', () => client.reportFor(uri, 2));
    assert.equal(report.gradfix, 'filter121');
    const diags = client.lastDiagnostics(uri, 2)!;
    assert.deepEqual(diags.filter(fixable), [], `warnings remain: ${JSON.stringify(diags)}`);
  });

  it('hover on gradfix shows raw and corrected error for the corrected model', async () => {
    const lines = fixed.split('\n');
    const line = lines.findIndex((l) => l.includes('gradfix='));
    const character = lines[line].indexOf('gradfix') + 2;
    const hover = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri },
      position: { line, character },
    })) as {
      contents: { value: string };
    } | null;
    assert.ok(hover);
    const md = hover!.contents.value;
    assert.match(md, /raw error/);
    assert.match(md, /\| filter121 error \|/);
    assert.match(md, /\| `W1`[^|]*\| [0-9.e+−-]+ \| [0-9.e+−-]+ \|/, md);
    assert.doesNotMatch(md, /earlier version/);
  });

  it('hover on a parameter shows its shape, per-step copies and metrics', async () => {
    const lines = fixed.split('\n');
    const line = lines.findIndex((l) => l.startsWith('param W1'));
    const hover = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri },
      position: { line, character: 7 },
    })) as {
      contents: { value: string };
    } | null;
    assert.ok(hover);
    assert.match(hover!.contents.value, /\[16, 2\]/);
    assert.match(hover!.contents.value, /per-step: \d+ copies/);
    assert.match(hover!.contents.value, /gradcheck/);
  });

  it('serves the original content again from the cache, with its warnings', async () => {
    const t0 = Date.now();
    await client.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 3 },
      contentChanges: [{ text: original }],
    });
    await client.until('report for version 3', () => client.reportFor(uri, 3), 10_000);
    const status = client.statuses.filter((s) => s.uri === uri && s.version === 3 && s.state === 'done').pop();
    assert.equal(status?.cached, true, 'cached');
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(client.lastDiagnostics(uri, 3)!.some(fixable));
  });

  it('cancels a superseded check: only the latest content gets a report', {
    timeout: CHECK_TIMEOUT + 10_000,
  }, async () => {
    const a = original.replace('seed=1', 'seed=2');
    const b = original.replace('seed=1', 'seed=3');
    await client.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 4 },
      contentChanges: [{ text: a }],
    });
    await client.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 5 },
      contentChanges: [{ text: b }],
    });
    await client.until('report for version 5', () => client.reportFor(uri, 5));
    assert.equal(client.reportFor(uri, 4), undefined, 'no report for superseded content');
  });

  it('odeLens/runCheck runs a check now and returns the report', { timeout: CHECK_TIMEOUT + 10_000 }, async () => {
    const result = await client.conn.sendRequest(RunCheckRequest.type, { uri });
    assert.equal(result.state, 'done', JSON.stringify(result).slice(0, 300));
    assert.ok(result.report);
  });

  // Speed is measured by `npm run bench`; here the proof is ordering: a check on the main
  // loop would hold every hover until the report was out.
  it('answers hovers while a check runs (the check is off the main loop)', {
    timeout: CHECK_TIMEOUT + 10_000,
  }, async () => {
    const heavy = original.replace('steps=64', 'steps=768');
    await client.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 6 },
      contentChanges: [{ text: heavy }],
    });
    await client.until('running status for version 6', () =>
      client.statuses.find((s) => s.uri === uri && s.version === 6 && s.state === 'running'),
    );
    const lines = heavy.split('\n');
    const line = lines.findIndex((l) => l.startsWith('param W1'));
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const hover = await client.conn.sendRequest('textDocument/hover', {
        textDocument: { uri },
        position: { line, character: 7 },
      });
      times.push(performance.now() - t0);
      assert.ok(hover);
      assert.ok(!client.reportFor(uri, 6), `hover ${i + 1} was answered only after the check finished`);
    }
    console.log(`# hover latencies while checking: ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
    await client.until('report for version 6', () => client.reportFor(uri, 6));
  });

  it('a check over its time budget becomes a check-timeout diagnostic (settings via didChangeConfiguration)', {
    timeout: 60_000,
  }, async () => {
    const slowUri = pathToFileURL(join(root, 'examples', 'slow.ode')).toString();
    await client.conn.sendNotification('workspace/didChangeConfiguration', {
      settings: { odeLens: { check: { debounceMs: 50, timeBudgetMs: 100 }, backend: 'cpu' } },
    });
    // 8192 steps: a check of a second or more, far over the 100 ms budget on any machine (at 1024 steps one CI
    // rehearsal finished within it).
    const slow = original.replace('steps=64', 'steps=8192').replace('seed=1', 'seed=7');
    await client.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: slowUri, languageId: 'ode', version: 1, text: slow },
    });
    const failed = await client.until(
      'failed status',
      () => client.statuses.find((s) => s.uri === slowUri && s.state === 'failed'),
      30_000,
    );
    assert.match(failed.message ?? '', /time budget/);
    const diags = client.lastDiagnostics(slowUri, 1)!;
    const d = diags.find((x) => x.code === 'check-timeout');
    assert.ok(d, JSON.stringify(diags));
    assert.equal(d!.severity, 2);
    assert.match(d!.message, /odeLens\.check\.timeBudgetMs/);
    await client.conn.sendNotification('textDocument/didClose', { textDocument: { uri: slowUri } });
    await client.conn.sendNotification('workspace/didChangeConfiguration', {
      settings: { odeLens: { check: { debounceMs: 50, timeBudgetMs: 100_000 }, backend: 'cpu' } },
    });
  });

  it('odeLens.check.finiteDifferences off checks the open model again without them; on again, its report with them returns', {
    timeout: 2 * CHECK_TIMEOUT,
  }, async () => {
    const settings = (finiteDifferences: boolean) =>
      client.conn.sendNotification('workspace/didChangeConfiguration', {
        settings: { odeLens: { check: { debounceMs: 50, timeBudgetMs: 100_000, finiteDifferences }, backend: 'cpu' } },
      });
    const gradchecked = (r: ReportSummary) =>
      r.parameters.length > 0 && r.parameters.every((p) => Number.isFinite(p.metrics.gradcheckRelError));
    const unchecked = (r: ReportSummary) =>
      r.parameters.length > 0 && r.parameters.every((p) => p.metrics.gradcheckRelError == null);
    const since = (n: number, ok: (r: ReportSummary) => boolean) => () =>
      client.reports.slice(n).find((r) => r.uri === uri && ok(r.report));
    const before = client.reports.length;
    await settings(false);
    const off = await client.until('a report without finite differences', since(before, unchecked));
    assert.equal(off.report.timings.finiteDifferenceMs, 0);
    const again = client.reports.length;
    await settings(true);
    const on = await client.until('the report with finite differences', since(again, gradchecked));
    assert.ok(on.report.timings.finiteDifferenceMs > 0);
  });

  it('a syntax error gets an error diagnostic and the server keeps serving', { timeout: 30_000 }, async () => {
    const bad = pathToFileURL(join(root, 'examples', 'broken-syntax.ode')).toString();
    await client.conn.sendNotification('textDocument/didOpen', {
      textDocument: {
        uri: bad,
        languageId: 'ode',
        version: 1,
        text: "state x\ninit x = 1\nx' = (1 + \nloss = x(T)^2\ndone\n",
      },
    });
    const diags = await client.until('diagnostics for the broken file', () => client.lastDiagnostics(bad, 1), 10_000);
    const err = diags.find((d) => d.severity === 1);
    assert.ok(err, `an error diagnostic: ${JSON.stringify(diags)}`);
    assert.equal(err!.range.start.line, 2);
    // No check for a model with errors, and no crash: other requests still work,
    // and the editor features answer from the syntax tree (the state x of the broken equation).
    const hover = (await client.conn.sendRequest('textDocument/hover', {
      textDocument: { uri: bad },
      position: { line: 2, character: 0 },
    })) as { contents: { value: string } } | null;
    assert.match(hover?.contents.value ?? '', /state `x`/);
    const report = await client.conn.sendRequest(GetReportRequest.type, { uri });
    assert.ok(report, 'the spiral report is still served');
    await client.conn.sendNotification('textDocument/didClose', { textDocument: { uri: bad } });
    await client.until(
      'diagnostics cleared on close',
      () => client.lastDiagnostics(bad)?.length === 0 || undefined,
      10_000,
    );
    assert.equal(child.exitCode, null, 'server still running');
  });
});
