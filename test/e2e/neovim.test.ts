// A second LSP client: Neovim (Debian's 0.7.2) drives dist/server.js over stdio, headless.
// It must see the same diagnostics as VS Code on examples/spiral.ode (codes
// oscillating-gradient and weakly-stable-scheme, on the `meth=leapfrog` value and the `param`
// lines), be offered the "Correct AD gradients with filter121" code action whose edit adds
// `, gradfix=filter121` to the `@` line, lose the warnings after applying it, and see no
// warning on examples/spiral-rk4.ode. Skips (or fails with ODELENS_REQUIRE_E2E=1) without nvim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisiteOrSkip } from '../support/browser';
import { makeScratch, onPath, repoRoot } from '../support/e2e';

const ROOT = repoRoot();
const FIX_TITLE = 'Correct AD gradients with filter121';

// Runs inside Neovim. Env: ODELENS_SERVER (path to server.js), ODELENS_OUT (JSON result),
// ODELENS_MODE ('fix': diagnostics + code action + apply; 'clean': expect nothing),
// ODELENS_SETTLE_MS (how long to keep listening in 'clean' mode).
const INIT_LUA = String.raw`
local out_path = os.getenv('ODELENS_OUT')
local mode = os.getenv('ODELENS_MODE') or 'fix'
local settle = tonumber(os.getenv('ODELENS_SETTLE_MS') or '5000')
local t0 = vim.loop.hrtime()
local function ms() return math.floor((vim.loop.hrtime() - t0) / 1e6) end
local R = { mode = mode, publishes = {}, statuses = {}, log = {} }
-- The first finished check (odeLens/checkStatus state done/failed), if the server sends those.
local function check_finished()
  for _, st in ipairs(R.statuses) do if st.state == 'done' or st.state == 'failed' then return st end end
end
local function log(s) table.insert(R.log, string.format('%6d ms %s', ms(), s)) end

local function finish()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.fn.json_encode(R))
  f:close()
  vim.cmd('qall!')
end

local function diags(bufnr)
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(list, { lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      severity = d.severity, code = d.code, source = d.source, message = d.message })
  end
  return list
end

local function main()
  local ok, err = pcall(function()
    local bufnr = vim.api.nvim_get_current_buf()
    vim.bo[bufnr].filetype = 'ode'
    local path = vim.api.nvim_buf_get_name(bufnr)
    local client_id = vim.lsp.start_client({
      name = 'ode-lens',
      cmd = { 'node', os.getenv('ODELENS_SERVER'), '--stdio' },
      root_dir = vim.fn.fnamemodify(path, ':h'),
      handlers = {
        ['textDocument/publishDiagnostics'] = function(e, result, ctx, config)
          table.insert(R.publishes, { t = ms(), n = #result.diagnostics, version = result.version })
          log('publishDiagnostics n=' .. #result.diagnostics)
          return vim.lsp.diagnostic.on_publish_diagnostics(e, result, ctx, config)
        end,
        ['odeLens/checkStatus'] = function(_, result)
          table.insert(R.statuses, { t = ms(), state = result.state, findings = result.findings, backend = result.backend, check_ms = result.ms, message = result.message })
          log('checkStatus ' .. tostring(result.state) .. ' findings=' .. tostring(result.findings))
        end,
        ['odeLens/report'] = function() R.reports = (R.reports or 0) + 1 end,
      },
      on_exit = function(code, signal)
        R.server_exit = { code = code, signal = signal }
        log('server exited code=' .. tostring(code) .. ' signal=' .. tostring(signal))
      end,
    })
    assert(client_id, 'start_client failed')
    vim.lsp.buf_attach_client(bufnr, client_id)
    R.client_started = ms()

    if mode == 'clean' then
      -- Wait for the check to finish (odeLens/checkStatus done) and a publish, then listen a bit longer.
      vim.wait(60000, function() return R.server_exit or (check_finished() ~= nil and #R.publishes > 0) end, 50)
      R.first_publish = #R.publishes > 0 and R.publishes[1].t or nil
      R.finished = check_finished()
      vim.wait(R.finished and 1000 or settle, function() return false end, 100)
      R.diagnostics = diags(bufnr)
      return
    end

    -- Wait for every expected code (a server may publish in stages), at most 60 s.
    local want = vim.split(os.getenv('ODELENS_EXPECT_CODES') or '', ',', { trimempty = true })
    local function have_all()
      local ds = vim.diagnostic.get(bufnr)
      if #ds == 0 then return false end
      for _, c in ipairs(want) do
        local found = false
        for _, d in ipairs(ds) do if tostring(d.code) == c then found = true end end
        if not found then return false end
      end
      return true
    end
    local got = vim.wait(60000, function() return R.server_exit or have_all() end, 50)
    if R.server_exit then error('the language server exited: ' .. vim.inspect(R.server_exit)) end
    R.check_ms = ms()
    log('diagnostics arrived=' .. tostring(got))
    vim.wait(500, function() return false end, 50) -- let any late publish land
    R.diagnostics = diags(bufnr)

    -- Code actions on the meth=leapfrog value (line 12 = index 11).
    local line = vim.api.nvim_buf_get_lines(bufnr, 11, 12, false)[1] or ''
    local s = line:find('leapfrog', 1, true)
    assert(s, 'no leapfrog on line 12: ' .. line)
    local range = { start = { line = 11, character = s - 1 }, ['end'] = { line = 11, character = s - 1 + #'leapfrog' } }
    local ctx_diags = {}
    for _, d in ipairs(vim.diagnostic.get(bufnr)) do
      if d.lnum <= 11 and (d.end_lnum or d.lnum) >= 11 then
        table.insert(ctx_diags, d.user_data and d.user_data.lsp or {
          range = { start = { line = d.lnum, character = d.col }, ['end'] = { line = d.end_lnum, character = d.end_col } },
          message = d.message, code = d.code, severity = d.severity, source = d.source })
      end
    end
    local params = { textDocument = vim.lsp.util.make_text_document_params(bufnr), range = range,
      context = { diagnostics = ctx_diags, only = { 'quickfix' } } }
    local responses = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', params, 20000) or {}
    R.actions = {}
    local chosen
    for _, resp in pairs(responses) do
      if resp.error then R.code_action_error = resp.error end
      for _, a in ipairs(resp.result or {}) do
        table.insert(R.actions, { title = a.title, kind = a.kind, has_edit = a.edit ~= nil, command = a.command and (a.command.command or a.command) })
        -- The title goes on with the measured figures: "… — error 2e-5 instead of 1.24".
        if a.title:sub(1, #'${FIX_TITLE}') == '${FIX_TITLE}' and a.isPreferred and not chosen then chosen = a end
      end
    end
    if not chosen then return end

    local client = vim.lsp.get_client_by_id(client_id)
    if not chosen.edit and chosen.data and client.server_capabilities.codeActionProvider
        and type(client.server_capabilities.codeActionProvider) == 'table'
        and client.server_capabilities.codeActionProvider.resolveProvider then
      local r = client.request_sync('codeAction/resolve', chosen, 10000, bufnr)
      if r and r.result then chosen = r.result end
    end
    R.fix_edit = chosen.edit
    if chosen.edit then
      vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding or 'utf-16')
      R.fixed_text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') .. '\n'
      vim.cmd('silent write')
      local t_fix = ms()
      local n_status = #R.statuses
      -- Warnings and errors must clear; an information note (the scheme is corrected) may stay.
      local function warnings() return #vim.diagnostic.get(bufnr, { severity = { min = vim.diagnostic.severity.WARN } }) end
      R.cleared = vim.wait(60000, function() return warnings() == 0 end, 50)
      R.clear_ms = ms() - t_fix
      -- The re-check of the fixed text must finish with no finding (when the server reports checks).
      vim.wait(60000, function()
        for i = n_status + 1, #R.statuses do
          if R.statuses[i].state == 'done' or R.statuses[i].state == 'failed' then R.recheck = R.statuses[i]; return true end
        end
        return false
      end, 50)
      vim.wait(300, function() return false end, 50)
      R.cleared = R.cleared and warnings() == 0
      R.diagnostics_after_fix = diags(bufnr)
    end
  end)
  if not ok then R.error = tostring(err) end
  finish()
end

vim.api.nvim_create_autocmd('VimEnter', { once = true, callback = function() vim.schedule(main) end })
`;

interface NvimResult {
  mode: string;
  error?: string;
  log: string[];
  publishes: { t: number; n: number }[];
  diagnostics: {
    lnum: number;
    col: number;
    end_lnum: number;
    end_col: number;
    severity: number;
    code?: string | number;
    source?: string;
    message: string;
  }[];
  check_ms?: number;
  statuses: { t: number; state: string; findings?: number; backend?: string; check_ms?: number; message?: string }[];
  finished?: { state: string; findings?: number };
  server_exit?: { code: number; signal: number };
  recheck?: { state: string; findings?: number };
  lsp_log?: string;
  actions?: { title: string; kind?: string; has_edit: boolean }[];
  code_action_error?: unknown;
  fixed_text?: string;
  cleared?: boolean;
  clear_ms?: number;
  diagnostics_after_fix?: unknown[];
}

function runNvim(
  dir: string,
  file: string,
  mode: 'fix' | 'clean',
  env: NodeJS.ProcessEnv,
  settleMs = 5000,
): Promise<NvimResult> {
  const out = join(dir, `nvim-${mode}.json`);
  const init = join(dir, 'init.lua');
  writeFileSync(init, INIT_LUA);
  return new Promise((resolve, reject) => {
    const child = spawn('nvim', ['--headless', '--clean', '-u', init, file], {
      cwd: dir,
      env: {
        ...env,
        ODELENS_OUT: out,
        ODELENS_MODE: mode,
        ODELENS_SERVER: SERVER_JS,
        ODELENS_SETTLE_MS: String(settleMs),
        ODELENS_EXPECT_CODES: 'oscillating-gradient,weakly-stable-scheme',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!existsSync(out)) return reject(new Error(`nvim exited ${code} without writing ${out}:\n${output}`));
      const r = JSON.parse(readFileSync(out, 'utf8')) as NvimResult;
      const lspLog = join(env.XDG_CACHE_HOME ?? dir, 'nvim', 'lsp.log'); // server stderr lands here
      if (existsSync(lspLog)) r.lsp_log = readFileSync(lspLog, 'utf8').slice(-4000);
      if (Array.isArray(r.diagnostics) === false) r.diagnostics = [];
      resolve(r);
    });
  });
}

const hasNvim = !!onPath('nvim');
const SERVER_JS = process.env.ODELENS_SERVER_JS || join(ROOT, 'dist', 'server.js'); // override: another build
const hasServer = existsSync(SERVER_JS);

test('Neovim as LSP client: spiral.ode diagnostics, code action, fix clears them', { timeout: 180_000 }, async (t) => {
  if (!prerequisiteOrSkip(t, hasNvim, 'nvim not found (apt-get install -y neovim)')) return;
  if (!prerequisiteOrSkip(t, hasServer, 'dist/server.js missing (npm run build)')) return;
  const { root: dir, env } = makeScratch('e2e-neovim');
  cpSync(join(ROOT, 'examples'), join(dir, 'workspace'), { recursive: true });
  const file = join(dir, 'workspace', 'spiral.ode');
  const original = readFileSync(file, 'utf8');

  const r = await runNvim(dir, file, 'fix', env);
  writeFileSync(join(dir, 'result-fix.json'), JSON.stringify(r, null, 2));
  const show = JSON.stringify(r, null, 2);
  assert.equal(r.error, undefined, `error inside nvim: ${show}`);
  assert.ok(r.diagnostics.length > 0, `no diagnostics: ${show}`);
  console.log(
    `# neovim: ${r.diagnostics.length} diagnostics after ${r.check_ms} ms: ${r.diagnostics.map((d) => `${d.lnum + 1}:${d.col + 1} ${d.code}`).join(', ')}`,
  );

  const codes = new Set(r.diagnostics.map((d) => String(d.code)));
  for (const c of ['oscillating-gradient', 'weakly-stable-scheme'])
    assert.ok(codes.has(c), `missing code ${c}: ${show}`);
  for (const d of r.diagnostics) assert.equal(d.severity, 2, `not a warning: ${JSON.stringify(d)}`); // 2 = WARN
  // On the meth=leapfrog value (line 12)…
  const atLine = original.split('\n')[11];
  const leap = atLine.indexOf('leapfrog');
  assert.ok(
    r.diagnostics.some(
      (d) => d.lnum === 11 && d.col <= leap && (d.end_lnum > 11 || d.end_col >= leap + 'leapfrog'.length),
    ),
    `no diagnostic covering meth=leapfrog on line 12: ${show}`,
  );
  // …and on the param lines (7–9).
  assert.ok(
    r.diagnostics.some((d) => d.lnum >= 6 && d.lnum <= 8),
    `no diagnostic on the param lines: ${show}`,
  );

  assert.equal(r.code_action_error, undefined, `codeAction error: ${show}`);
  assert.ok(
    r.actions?.some((a) => a.title.startsWith(FIX_TITLE)),
    `no "${FIX_TITLE}" action: ${JSON.stringify(r.actions)}`,
  );
  assert.ok(r.fixed_text, `the fix has no edit: ${show}`);
  assert.equal(
    r.fixed_text!.replace(/, ?gradfix=filter121/, ''),
    original,
    `the fix changed more than the @ line:\n${r.fixed_text}`,
  );
  assert.match(r.fixed_text!.split('\n')[11], /meth=leapfrog.*gradfix=filter121|gradfix=filter121.*meth=leapfrog/);
  assert.equal(readFileSync(file, 'utf8'), r.fixed_text, 'the written file differs from the buffer');
  assert.equal(r.cleared, true, `the warnings did not clear after the fix: ${show}`);
  if (r.statuses.length) {
    assert.equal(r.recheck?.state, 'done', `no finished re-check after the fix: ${show}`);
    assert.equal(r.recheck?.findings ?? 0, 0, `findings after the fix: ${show}`);
  }
  console.log(`# neovim: fix applied, warnings cleared after ${r.clear_ms} ms`);
});

test('Neovim as LSP client: spiral-rk4.ode has no warning', { timeout: 180_000 }, async (t) => {
  if (!prerequisiteOrSkip(t, hasNvim, 'nvim not found (apt-get install -y neovim)')) return;
  if (!prerequisiteOrSkip(t, hasServer, 'dist/server.js missing (npm run build)')) return;
  const { root: dir, env } = makeScratch('e2e-neovim-rk4');
  cpSync(join(ROOT, 'examples'), join(dir, 'workspace'), { recursive: true });
  const r = await runNvim(dir, join(dir, 'workspace', 'spiral-rk4.ode'), 'clean', env, 5000);
  writeFileSync(join(dir, 'result-clean.json'), JSON.stringify(r, null, 2));
  const show = JSON.stringify(r, null, 2);
  assert.equal(r.error, undefined, `error inside nvim: ${show}`);
  assert.ok(r.publishes.length > 0, `the server never published diagnostics for spiral-rk4.ode: ${show}`);
  assert.equal(r.finished?.state, 'done', `no finished check (odeLens/checkStatus done) for spiral-rk4.ode: ${show}`);
  assert.equal(r.finished?.findings ?? 0, 0, `findings on spiral-rk4.ode: ${show}`);
  console.log(
    `# neovim: spiral-rk4.ode check done in ${r.statuses.find((s) => s.state === 'done')?.check_ms} ms, no diagnostics`,
  );
  assert.deepEqual(r.diagnostics, [], `warnings on spiral-rk4.ode: ${show}`);
  assert.ok(
    r.publishes.every((p) => p.n === 0),
    `a publish with diagnostics: ${show}`,
  );
});
