// Runs inside VS Code's extension host (started by test/electron/runTest.ts) on a copy of
// examples/: the same story as test/e2e/vscode.test.ts, told through the vscode API.
//   spiral.ode → warnings (oscillating-gradient, weakly-stable-scheme) → quick fix
//   "Correct AD gradients with filter121" → save → only `, gradfix=filter121` added →
//   warnings gone → Show Gradient Plots opens its webview → spiral-rk4.ode has no warning →
//   training (the story of test/e2e/training.test.ts): Train with Raw and Corrected Gradients runs with the plots
//   open, Cancel Training stops it with what the raw-AD run learned, Write Learned Parameters writes it next to
//   the model (the `odelens train --out` JSON), and the check at those parameters names the file in its findings.
// Steps run in order and share state; the first failure stops the rest (they depend on it).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { RunCheckResult, TrainSummary } from '../../protocol/customMessages';

const EXTENSION_ID = 'odelens.ode-lens';
const FIX_PREFIX = 'Correct AD gradients with';
const FIX_TITLE = 'Correct AD gradients with filter121';
const DIAG_TIMEOUT = 60_000;

function log(msg: string): void {
  console.log(`# [electron suite] ${msg}`);
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function codeOf(d: vscode.Diagnostic): string {
  const c = d.code;
  return typeof c === 'object' && c !== null ? String(c.value) : String(c ?? '');
}

function warnings(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Warning);
}

function show(ds: readonly vscode.Diagnostic[]): string {
  return ds.map((d) => `  line ${d.range.start.line + 1} [${codeOf(d)}] ${d.message}`).join('\n') || '  (none)';
}

/** The file on disk as text; it must round-trip to the same bytes, so text equality is byte equality. */
async function readBytes(uri: vscode.Uri): Promise<string> {
  const bytes = Buffer.from(await vscode.workspace.fs.readFile(uri));
  const text = bytes.toString('utf8');
  assert.ok(Buffer.from(text, 'utf8').equals(bytes), `${uri.fsPath} is not valid UTF-8`);
  return text;
}

function isCodeAction(x: vscode.CodeAction | vscode.Command): x is vscode.CodeAction {
  return typeof (x as vscode.Command).command !== 'string';
}

/** The extension's own "check this document now" (it takes a URI string): resolves when the check finishes. */
async function checkNow(uri: vscode.Uri): Promise<RunCheckResult> {
  // A check started by an edit or open may supersede ours: ask again (a few times at most).
  let last: RunCheckResult | undefined;
  for (let i = 0; i < 3; i++) {
    last = await vscode.commands.executeCommand<RunCheckResult | undefined>('odeLens.runCheck', uri.toString());
    if (last?.state === 'done') return last;
  }
  assert.fail(
    `odeLens.runCheck did not finish a check of ${uri.fsPath}: ${JSON.stringify(last && { state: last.state, message: last.message })}`,
  );
}

interface Step {
  name: string;
  fn: () => Promise<void>;
}

async function runSteps(steps: Step[]): Promise<void> {
  log(`1..${steps.length}`);
  for (const [i, s] of steps.entries()) {
    const t0 = Date.now();
    try {
      await s.fn();
      console.log(`ok ${i + 1} - ${s.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      console.log(`not ok ${i + 1} - ${s.name} (${Date.now() - t0} ms)`);
      console.log(e instanceof Error ? (e.stack ?? e.message) : String(e));
      for (const [j, rest] of steps.slice(i + 1).entries())
        console.log(`not ok ${i + 2 + j} - ${rest.name} # SKIP an earlier step failed`);
      throw new Error(`electron suite: step ${i + 1} failed: ${s.name}`);
    }
  }
  log(`all ${steps.length} steps passed`);
}

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'VS Code was started without a workspace folder (expected the copy of examples/)');
  const spiral = vscode.Uri.joinPath(folder.uri, 'spiral.ode');
  const rk4 = vscode.Uri.joinPath(folder.uri, 'spiral-rk4.ode');
  let original = '';
  let originalRk4 = '';
  let scheme: vscode.Diagnostic | undefined;
  let fix: vscode.CodeAction | undefined;

  await runSteps([
    {
      name: 'the extension is present and activates',
      fn: async () => {
        const ext = vscode.extensions.getExtension(EXTENSION_ID);
        assert.ok(ext, `extension ${EXTENSION_ID} not loaded from the development path`);
        await ext.activate();
        assert.ok(ext.isActive);
      },
    },
    {
      name: 'spiral.ode gets oscillating-gradient and weakly-stable-scheme warnings',
      fn: async () => {
        original = await readBytes(spiral);
        originalRk4 = await readBytes(rk4);
        const doc = await vscode.workspace.openTextDocument(spiral);
        assert.equal(doc.languageId, 'ode');
        await vscode.window.showTextDocument(doc);
        // The static scheme warning comes at once; the measured ones when the background check is done.
        const ws = await waitFor(
          'both warning codes on spiral.ode',
          () => {
            const w = warnings(spiral);
            const codes = new Set(w.map(codeOf));
            return codes.has('oscillating-gradient') && codes.has('weakly-stable-scheme') ? w : undefined;
          },
          DIAG_TIMEOUT,
        ).catch((e: Error) =>
          assert.fail(`${e.message}; diagnostics now:\n${show(vscode.languages.getDiagnostics(spiral))}`),
        );
        log(`warnings on spiral.ode:\n${show(ws)}`);
        scheme = ws.find((d) => codeOf(d) === 'weakly-stable-scheme');
        assert.match(
          original.split(/\r?\n/)[scheme!.range.start.line] ?? '',
          /meth=leapfrog/,
          'weakly-stable-scheme is not on the meth=leapfrog line',
        );
      },
    },
    {
      name: `the quick fix "${FIX_TITLE}" is offered`,
      fn: async () => {
        const actions = await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
          'vscode.executeCodeActionProvider',
          spiral,
          scheme!.range,
        );
        const titles = (actions ?? []).map((a) => a.title);
        fix = (actions ?? []).filter(isCodeAction).find((a) => a.title.startsWith(FIX_PREFIX));
        assert.ok(
          fix,
          `no "${FIX_PREFIX} …" code action on the meth=leapfrog warning; offered: ${JSON.stringify(titles)}`,
        );
        assert.equal(fix.title, FIX_TITLE);
        assert.ok(fix.edit, 'the quick fix carries no edit');
      },
    },
    {
      name: 'applying and saving the fix adds `, gradfix=filter121` and nothing else',
      fn: async () => {
        assert.equal(await vscode.workspace.applyEdit(fix!.edit!), true, 'workspace.applyEdit refused the edit');
        const doc = await vscode.workspace.openTextDocument(spiral);
        assert.equal(await doc.save(), true, 'saving spiral.ode failed');
        const fixed = await readBytes(spiral);
        assert.ok(fixed.includes('gradfix=filter121'), `the saved file lacks gradfix=filter121:\n${fixed}`);
        assert.equal(fixed.replace(/, ?gradfix=filter121/, ''), original, 'the fix changed more than the added option');
        const at = fixed.split(/\r?\n/).find((l) => l.startsWith('@') && l.includes('gradfix='));
        assert.match(at ?? '', /meth=leapfrog.*gradfix=filter121/, `the @ line after the fix: ${at}`);
      },
    },
    {
      name: 'the warnings on spiral.ode go away',
      fn: async () => {
        await waitFor('no warning on spiral.ode', () => warnings(spiral).length === 0, DIAG_TIMEOUT).catch((e: Error) =>
          assert.fail(`${e.message}; warnings now:\n${show(warnings(spiral))}`),
        );
        // Gone for good: a finished check of the fixed file reports no warning either.
        const result = await checkNow(spiral);
        const left = (result.report?.findings ?? []).filter((f) => f.severity === 'warning' || f.severity === 'error');
        assert.deepEqual(
          left.map((f) => f.code),
          [],
          'the re-check of the fixed file still finds problems',
        );
        assert.deepEqual(warnings(spiral).map(codeOf), [], 'warnings came back after the re-check');
      },
    },
    {
      name: 'ODE Lens: Show Gradient Plots opens the plots webview',
      fn: async () => {
        await vscode.commands.executeCommand('odeLens.showGradientPlots', spiral.toString());
        const isPlots = (t: vscode.Tab) =>
          t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('odeLens.gradientPlots');
        await waitFor(
          'the Gradient Plots webview tab',
          () => vscode.window.tabGroups.all.some((g) => g.tabs.some(isPlots)),
          10_000,
        );
      },
    },
    {
      name: 'spiral-rk4.ode has no warning once its check is done',
      fn: async () => {
        const doc = await vscode.workspace.openTextDocument(rk4);
        await vscode.window.showTextDocument(doc);
        // The extension's runCheck resolves when the check is finished (what the status bar shows).
        const result = await checkNow(rk4);
        assert.ok(result.report, 'no report for spiral-rk4.ode');
        const found = result.report.findings.filter((f) => f.severity === 'warning' || f.severity === 'error');
        assert.deepEqual(
          found.map((f) => f.code),
          [],
          'the check of spiral-rk4.ode found problems',
        );
        assert.deepEqual(warnings(rk4).map(codeOf), [], `spiral-rk4.ode has warnings:\n${show(warnings(rk4))}`);
        assert.equal(await readBytes(rk4), originalRk4, 'spiral-rk4.ode changed on disk');
      },
    },
    {
      name: 'training starts, is cancelled, writes the raw-AD parameters and checks the model at them',
      fn: async () => {
        // The leapfrog model again (without its fix): raw AD then filter121, far more iterations than it gets.
        await vscode.workspace.fs.writeFile(spiral, Buffer.from(original));
        const doc = await vscode.workspace.openTextDocument(spiral);
        await vscode.window.showTextDocument(doc);
        await checkNow(spiral);
        await vscode.workspace.getConfiguration('odeLens').update('train.iterations', 10_000, true);
        const trained = vscode.commands.executeCommand<TrainSummary | undefined>('odeLens.train', spiral.toString());
        await new Promise((r) => setTimeout(r, 3_000));
        assert.equal(await vscode.commands.executeCommand('odeLens.cancelTraining', spiral.toString()), true);
        const summary = await trained;
        log(`training: ${JSON.stringify(summary?.lines)}`);
        assert.equal(summary?.cancelled, true);
        const run = summary?.runs?.[0];
        assert.ok(
          run && run.gradient === 'ad' && run.stopped === 'cancelled' && run.iterations > 0,
          JSON.stringify(run),
        );
        const written = await vscode.commands.executeCommand<vscode.Uri | undefined>(
          'odeLens.writeTrainedParameters',
          spiral.toString(),
          'ad',
        );
        assert.equal(written?.path.split('/').pop(), 'spiral.ad.params.json');
        const saved = JSON.parse(await readBytes(written!));
        assert.equal(saved.gradient, 'ad');
        assert.equal(saved.iterations, run.iterations);
        await vscode.commands.executeCommand('odeLens.checkAtParameters', spiral.toString(), written!.toString());
        const found = await waitFor(
          'findings that name the parameters file',
          () => {
            const w = warnings(spiral).filter((d) =>
              d.message.includes('[checked at the parameters in spiral.ad.params.json]'),
            );
            return w.length > 0 ? w : undefined;
          },
          DIAG_TIMEOUT,
        );
        log(`at the learned parameters:\n${show(found)}`);
      },
    },
  ]);
}
