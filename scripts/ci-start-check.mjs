#!/usr/bin/env node
// CI check of the README's first command, as a new user runs it: `npm start` (through npm)
// in a clean clone of this repository's HEAD, with a fresh $HOME (so an empty npm cache) and an
// empty tools directory (ODELENS_TOOLS), so it installs Node 24 and code-server itself.
//   1. wait for the editor to answer on its port (/healthz) and print the time to ready;
//   2. open examples/spiral.ode in it with Playwright + Debian's Chromium and wait for the
//      warning squiggle on the `meth=leapfrog` line;
//   3. stop it (SIGTERM to its whole process group) and check that no process is left;
//   4. `npm start` again: ready without re-packaging the .vsix; stop it again.
// Fails (exit 1, with the tail of npm start's log) when npm start exits early, the editor does
// not answer, the warning does not appear, or a process outlives the stop.
// Usage: node scripts/ci-start-check.mjs   (ODELENS_KEEP=1 keeps the scratch folder)
import { execFileSync, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const READY_TIMEOUT_MS = 30 * 60_000; // npm install + code-server's native build on 2 cores
const WARNING_TIMEOUT_MS = 120_000;
const CHROMIUM = JSON.parse(readFileSync(join(ROOT, 'scripts', 'chromium.json'), 'utf8'));
const CHROMIUM_ARGS = CHROMIUM.args;

const T0 = Date.now();
const say = (msg) => console.log(`[ci-start ${Math.round((Date.now() - T0) / 1000)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const base = mkdtempSync(join(tmpdir(), 'odelens-start-'));
const clone = join(base, 'clone');
const home = join(base, 'home');
const tools = join(base, 'tools');
for (const d of [home, tools]) mkdirSync(d);

/** The environment of a user's shell: none of the npm_* a surrounding `npm run` exports, no XDG_* of CI. */
function userEnv(port) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NPM_|XDG_)/.test(k) || k === 'INIT_CWD' || k === 'NODE') continue;
    env[k] = v;
  }
  env.PATH = (env.PATH ?? '')
    .split(':')
    .filter((p) => !p.endsWith('/node_modules/.bin') && !p.endsWith('/node-gyp-bin'))
    .join(':');
  // Desktop VS Code on PATH would be used instead of code-server: this check needs the server.
  return {
    ...env,
    HOME: home,
    ODELENS_TOOLS: tools,
    PORT: String(port),
    HOST: '127.0.0.1',
    ODELENS_USE_CODE_SERVER: '1',
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** `npm start` in its own process group; output to logFile and, prefixed, to the CI log. */
function npmStart(env, logFile) {
  const log = createWriteStream(logFile);
  const child = spawn('npm', ['start'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, text: '', exit: undefined, logFile };
  for (const s of [child.stdout, child.stderr]) {
    let partial = '';
    s.on('data', (b) => {
      const t = b.toString();
      run.text += t;
      log.write(t);
      const lines = (partial + t).split('\n');
      partial = lines.pop();
      for (const l of lines) console.log(`  | ${l}`);
    });
  }
  run.exited = new Promise((r) =>
    child.on('exit', (code, signal) => {
      run.exit = { code, signal };
      log.end();
      r(run.exit);
    }),
  );
  return run;
}

function tail(run, n = 60) {
  return readFileSync(run.logFile, 'utf8').split('\n').slice(-n).join('\n');
}

async function waitReady(run, port, label) {
  const t = Date.now();
  const url = `http://127.0.0.1:${port}/`;
  for (;;) {
    if (run.exit)
      throw new Error(
        `${label} exited early (${JSON.stringify(run.exit)}) before the editor answered; its log ends:\n${tail(run)}`,
      );
    const ok = await fetch(`${url}healthz`).then(
      (r) => r.ok,
      () => false,
    );
    // Ready = answering, and npm start has said the URL (its last line).
    if (ok && run.text.includes('ODE Lens in VS Code')) return Date.now() - t;
    if (Date.now() - t > READY_TIMEOUT_MS)
      throw new Error(
        `${label}: no answer on ${url}healthz within ${READY_TIMEOUT_MS / 60_000} min; its log ends:\n${tail(run)}`,
      );
    await sleep(500);
  }
}

/** Processes (other than this one) whose command line or working folder is inside the scratch folder. */
function leftovers() {
  const found = [];
  for (const pid of readdirSync('/proc').filter((f) => /^\d+$/.test(f))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        /* not ours to read */
      }
      if (cmd.includes(base) || cwd.startsWith(base)) found.push({ pid: Number(pid), cmd: cmd.slice(0, 160) });
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** SIGTERM the whole process group of npm start (SIGKILL after 15 s); fail if anything is left. */
async function stop(run, label) {
  const pgid = run.child.pid;
  const signal = (s) => {
    try {
      process.kill(-pgid, s);
    } catch {
      /* group gone */
    }
  };
  signal('SIGTERM');
  if (!(await Promise.race([run.exited.then(() => true), sleep(15_000).then(() => false)]))) {
    say(`${label}: still running 15 s after SIGTERM; SIGKILL`);
    signal('SIGKILL');
    await run.exited;
  }
  let left = leftovers();
  for (let i = 0; i < 20 && left.length; i++) {
    await sleep(500);
    left = leftovers();
  }
  if (left.length) {
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    throw new Error(
      `${label}: processes left after stopping npm start's process group:\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`,
    );
  }
  say(`${label}: stopped; no process left`);
}

/** Open examples/spiral.ode in the served VS Code; resolve when a warning squiggle sits on the leapfrog line. */
async function seeLeapfrogWarning(url) {
  const require = createRequire(join(ROOT, 'package.json'));
  const { chromium } = require('playwright-core');
  const executablePath =
    process.env.ODELENS_CHROMIUM || CHROMIUM.candidates.find((p) => existsSync(p)) || CHROMIUM.candidates[0];
  if (!existsSync(executablePath))
    throw new Error(`Chromium not found at ${executablePath} (apt-get install -y chromium)`);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    env: { ...process.env, HOME: home },
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(60_000);
  try {
    const t = Date.now();
    await page.goto(url);
    await page.waitForSelector('.monaco-workbench');
    await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: 30_000 }).catch(() => {});
    await page.keyboard.press('Control+P');
    await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
    await page.keyboard.type('spiral.ode');
    // Enter before the list fills does nothing: wait for the row.
    await page.waitForSelector('.quick-input-list .monaco-list-row[aria-label*="spiral.ode"]', { timeout: 30_000 });
    await page.keyboard.press('Enter');
    await page.waitForSelector('.monaco-editor .view-lines', { state: 'visible' });
    // A squiggle is drawn in an overlay at the height of its line: match it with the text line.
    const onLeapfrog = () =>
      page.evaluate(() => {
        const line = Array.from(document.querySelectorAll('.monaco-editor .view-line')).find((l) =>
          l.textContent.includes('meth=leapfrog'),
        );
        if (!line) return false;
        const r = line.getBoundingClientRect();
        return Array.from(document.querySelectorAll('.monaco-editor .squiggly-warning')).some((s) => {
          const q = s.getBoundingClientRect();
          return q.top >= r.top - 1 && q.bottom <= r.bottom + 1 && q.width > 0;
        });
      });
    const deadline = Date.now() + WARNING_TIMEOUT_MS;
    while (!(await onLeapfrog())) {
      if (Date.now() > deadline) {
        const shot = join(base, 'no-warning.png');
        await page.screenshot({ path: shot }).catch(() => {});
        const n = await page.locator('.monaco-editor .squiggly-warning').count();
        throw new Error(
          `no warning squiggle on the meth=leapfrog line of spiral.ode within ${WARNING_TIMEOUT_MS / 1000} s (${n} warning squiggles in all; screenshot ${shot})`,
        );
      }
      await sleep(250);
    }
    say(
      `spiral.ode: warning on the meth=leapfrog line, ${((Date.now() - t) / 1000).toFixed(1)} s after opening the editor page`,
    );
  } finally {
    await browser.close().catch(() => {});
  }
}

let current;
process.on('exit', () => {
  if (current && !current.exit)
    try {
      process.kill(-current.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
});
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(130));

async function main() {
  const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  execFileSync('git', ['clone', '--quiet', ROOT, clone]);
  execFileSync('git', ['-C', clone, 'checkout', '--quiet', '--detach', head]);
  say(`clean clone of ${head} in ${clone}; HOME=${home} (empty), ODELENS_TOOLS=${tools} (empty)`);

  const port = await freePort();
  const env = userEnv(port);
  say(`npm start #1 (fresh machine path) on port ${port}`);
  current = npmStart(env, join(base, 'npm-start-1.log'));
  const ready1 = await waitReady(current, port, 'npm start #1');
  say(`npm start #1: editor ready in ${(ready1 / 1000).toFixed(0)} s (fresh HOME, empty tools dir)`);
  const url = current.text.match(/ODE Lens in VS Code[^\n]*?(http:\/\/\S+)/)?.[1];
  if (!url) throw new Error(`npm start #1 printed no URL; its log ends:\n${tail(current)}`);
  if (!current.text.trimEnd().endsWith(url))
    throw new Error(`npm start #1 printed something after the URL:\n${tail(current, 10)}`);
  await seeLeapfrogWarning(url);
  await stop(current, 'npm start #1');

  say('npm start #2 (nothing changed)');
  current = npmStart(env, join(base, 'npm-start-2.log'));
  const ready2 = await waitReady(current, port, 'npm start #2');
  const repackaged = /npm run package/.test(current.text) || !/ode-lens\.vsix: up to date/.test(current.text);
  await stop(current, 'npm start #2');
  if (repackaged)
    throw new Error(`npm start #2 re-packaged the .vsix although nothing changed; its log:\n${tail(current)}`);
  say(`npm start #2: editor ready in ${(ready2 / 1000).toFixed(0)} s, without re-packaging`);
  say(`time to ready: first npm start ${(ready1 / 1000).toFixed(0)} s, second ${(ready2 / 1000).toFixed(0)} s`);
}

main().then(
  () => {
    if (process.env.ODELENS_KEEP === '1') say(`kept ${base}`);
    else rmSync(base, { recursive: true, force: true });
  },
  (e) => {
    console.error(`[ci-start] FAILED: ${e instanceof Error ? e.message : e}`);
    console.error(`[ci-start] scratch folder kept: ${base}`);
    process.exitCode = 1;
  },
);
