// The standard VS Code test runner (@vscode/test-electron) for the extension: starts a real
// desktop VS Code with the extension under development on a copy of examples/ and runs
// test/electron/suite.ts inside its extension host. `npm run test:electron`.
//
// It needs VS Code: VSCODE_EXECUTABLE (path to a VS Code executable), a copy cached in
// .scratch/vscode-test, or the network to download one. Without any, it prints why and
// exits 0 ("skipped"), or 1 when ODELENS_REQUIRE_ELECTRON=1. Machines without network
// (this project's CI) rely on the code-server suite, test/e2e/vscode.test.ts, instead.
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Bundled to out/electron/runTest.js: the repository root is two folders up.
const ROOT = resolve(__dirname, '..', '..');
const SUITE = join(__dirname, 'suite.js');
const CACHE = join(ROOT, '.scratch', 'vscode-test');
const UPDATE_SERVER = 'https://update.code.visualstudio.com/api/releases/stable';
const REQUIRED = process.env.ODELENS_REQUIRE_ELECTRON === '1';

function say(msg: string): void {
  console.log(`# test:electron: ${msg}`);
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message;
  return detail ? `${e.message} (${detail})` : e.message;
}

/** VS Code cannot be obtained: skip, or fail when the caller requires this suite. */
function skip(reason: string): number {
  say(reason);
  if (REQUIRED) {
    say('ODELENS_REQUIRE_ELECTRON=1: failing instead of skipping');
    return 1;
  }
  say('skipped (set VSCODE_EXECUTABLE to a VS Code executable, or run where VS Code can be downloaded)');
  return 0;
}

/** A complete earlier download in the cache (test-electron then runs offline). */
function hasCachedVSCode(): boolean {
  if (!existsSync(CACHE)) return false;
  return readdirSync(CACHE).some((d) => d.startsWith('vscode-') && existsSync(join(CACHE, d, 'is-complete')));
}

/** Why the update server is unreachable, or undefined when it answers. Any HTTP answer counts. */
async function probeUpdateServer(): Promise<string | undefined> {
  try {
    await fetch(UPDATE_SERVER, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
    return undefined;
  } catch (e) {
    return describe(e);
  }
}

async function resolveVSCode(): Promise<{ exe?: string; code?: number }> {
  const given = process.env.VSCODE_EXECUTABLE;
  if (given) {
    if (existsSync(given)) return { exe: given };
    say(`VSCODE_EXECUTABLE=${given} does not exist`);
    return { code: 1 };
  }
  // Node's fetch ignores proxy variables; with a proxy set, let test-electron's own download decide.
  const proxied = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'].some((v) => process.env[v]);
  if (!hasCachedVSCode() && !proxied) {
    const unreachable = await probeUpdateServer();
    if (unreachable) return { code: skip(`cannot download VS Code: ${UPDATE_SERVER} is unreachable: ${unreachable}`) };
  }
  try {
    return { exe: await downloadAndUnzipVSCode({ cachePath: CACHE, extensionDevelopmentPath: ROOT, timeout: 15_000 }) };
  } catch (e) {
    return { code: skip(`cannot download VS Code: ${describe(e)}`) };
  }
}

async function main(): Promise<number> {
  for (const f of ['dist/extension.js', 'dist/server.js']) {
    if (!existsSync(join(ROOT, f))) {
      say(`${f} is missing (npm run build)`);
      return 1;
    }
  }
  const { exe, code } = await resolveVSCode();
  if (!exe) return code ?? 1;
  say(`VS Code: ${exe}`);
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
    say('no DISPLAY: VS Code needs one on Linux (run under `xvfb-run -a npm run test:electron`)');

  // Everything the run writes stays in one temporary folder: workspace copy, profile, extensions.
  const scratch = mkdtempSync(join(tmpdir(), 'odelens-electron-'));
  const workspace = join(scratch, 'workspace');
  const userData = join(scratch, 'user-data');
  cpSync(join(ROOT, 'examples'), workspace, { recursive: true });
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'security.workspace.trust.enabled': false,
      'update.mode': 'none',
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'telemetry.telemetryLevel': 'off',
      'files.autoSave': 'off',
    }),
  );
  try {
    await runTests({
      vscodeExecutablePath: exe,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: SUITE,
      launchArgs: [
        workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        `--user-data-dir=${userData}`,
        `--extensions-dir=${join(scratch, 'extensions')}`,
      ],
    });
    say('passed');
    return 0;
  } catch (e) {
    say(`failed: ${describe(e)}`);
    return 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    say(`crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
