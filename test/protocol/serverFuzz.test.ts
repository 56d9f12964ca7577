// Protocol fuzz test: the real language server (`node dist/server.js --stdio`) over a real
// LSP connection, with the settings a user gets (backend auto) but a short debounce. One
// document goes through a fixed-seed sequence of full-content edits — generated valid models
// and mutations of them (inserted or deleted characters and tokens, truncation, garbage, empty
// text, huge or invalid numbers, shuffled or repeated lines) — sometimes several in quick
// succession (checks are superseded and cancelled), sometimes waiting until the check of that
// version settles; hovers, code actions and completions at random positions are interleaved.
// Every request must answer within HANG_MS, every published diagnostic must lie inside the
// text of its version, a valid model's check must never fail or crash (a timeout is fine),
// and at the end the server must still be alive and answer, with nothing uncaught on stderr.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { LspClient, type Published } from '../support/lspClient';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';

const root = join(__dirname, '..', '..', '..');
const serverJs = join(root, 'dist', 'server.js');
// Seed 12's sequence includes half an emoji before a line break and a check stopped by its time budget
// (steps=100000); ODELENS_FUZZ_SEED=n explores other sequences.
const SEED = Number(process.env.ODELENS_FUZZ_SEED ?? 12);
const STEPS = 52;
/** A request that takes longer than this means the main loop is blocked. */
const HANG_MS = 5_000;
/** A check stops at its budget (20 s) plus the runner's grace; a worker restart and warm-up come on top. */
const SETTLE_MS = 60_000;
const SETTINGS = { check: { enabled: true, debounceMs: 30, timeBudgetMs: 20_000 }, backend: 'auto' };

interface Pos {
  line: number;
  character: number;
}
interface Rng {
  start: Pos;
  end: Pos;
}
interface Item {
  label: string;
  textEdit?: { range?: Rng; insert?: Rng; replace?: Rng };
  additionalTextEdits?: { range: Rng }[];
}
interface Diag {
  range: Rng;
  severity?: number;
  code?: string | number;
  source?: string;
  message: string;
}

/** The shared LSP client, plus check statuses and the server's log. */
class Client extends LspClient {
  readonly logs: string[] = [];

  constructor(child: ChildProcess) {
    super(child, SETTLE_MS);
    this.conn.onNotification('window/logMessage', (p: { message: string }) =>
      this.notify(() => this.logs.push(p.message)),
    );
  }

  override lastDiagnostics(uri: string, version?: number): Diag[] | undefined {
    return super.lastDiagnostics(uri, version) as Diag[] | undefined;
  }
}

// ---------------------------------------------------------------- what is sent (fixed seed)

const TOKENS = [
  '[',
  ']',
  '(',
  ')',
  '@',
  '=',
  ',',
  '~',
  '^',
  '**',
  "'",
  '"',
  '#',
  '\\',
  '\\\n',
  '\n',
  '\r\n',
  '\r',
  '\t',
  ' ',
  '-',
  '+',
  '/',
  '*',
  'per-step',
  'shared',
  'state',
  'param',
  'init',
  'loss',
  'done',
  'd',
  'scheme',
  'rk',
  'lmm',
  'x(T)',
  'x(0)',
  'if(',
  'then(',
  'else(',
  'normal(',
  'steps=',
  'meth=',
  'gradfix=',
  '1e309',
  '1e-400',
  '-0',
  '.',
  '1.',
  '9'.repeat(40),
  // Non-ASCII: a NUL, an accent, an emoji (two UTF-16 units), zero-width and BOM characters, and half an emoji (a lone surrogate) alone and before a line break.
  '\u0000',
  '\u00e9',
  '\u{1F600}',
  '\u200b',
  '\ufeff',
  '\ud83d',
  '\ude00',
  '\ud83d\n',
  '\ud83d\r\n',
];
const NUMBERS = [
  'steps=1e9',
  'steps=1000000',
  'steps=100000',
  'steps=20000',
  'steps=2000',
  'steps=0',
  'steps=-3',
  'steps=2.5',
  'steps=1e3',
  'total=1e308',
  'total=1e-300',
  'total=0',
  'dt=1e-12',
  'dt=1e300',
  'seed=99999999999999999999',
  't0=-1e308',
  'steps=64, dt=0.5',
];

type Mutation =
  | { kind: 'none' }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'garbage'; text: string }
  | { kind: 'empty' }
  | { kind: 'number'; setting: string }
  | { kind: 'lines'; op: 'swap' | 'duplicate' | 'drop'; a: number; b: number }
  | { kind: 'repeat'; times: number };

const at = fc.nat({ max: 100_000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 7, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at,
      text: fc.oneof(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
        fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 4 }).map((t) => t.join('')),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 40 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      text: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.array(fc.constantFrom(...TOKENS, 'x', 'W1', '1', '0.5'), { maxLength: 120 }).map((t) => t.join(' ')),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('number' as const), setting: fc.constantFrom(...NUMBERS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('lines' as const),
      op: fc.constantFrom('swap' as const, 'duplicate' as const, 'drop' as const),
      a: at,
      b: at,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), times: fc.integer({ min: 2, max: 60 }) }) },
);

interface Request {
  kind: 'hover' | 'codeAction' | 'completion';
  line: number;
  character: number;
}
const request: fc.Arbitrary<Request> = fc.record({
  kind: fc.constantFrom('hover' as const, 'codeAction' as const, 'completion' as const),
  line: at,
  character: at,
});

interface Step {
  model: string;
  mutation: Mutation;
  wait: 'settle' | 'none' | 'pause';
  pauseMs: number;
  requests: Request[];
}
const step: fc.Arbitrary<Step> = fc.record({
  model: fc.oneof(
    { weight: 3, arbitrary: modelText },
    { weight: 1, arbitrary: expressionModel },
    { weight: 1, arbitrary: smallTensorModel },
  ),
  mutation,
  wait: fc.constantFrom('settle' as const, 'settle' as const, 'none' as const, 'pause' as const),
  pauseMs: fc.integer({ min: 0, max: 150 }),
  requests: fc.array(request, { maxLength: 3 }),
});

function mutate(text: string, m: Mutation): string {
  const pos = (n: number) => n % (text.length + 1);
  switch (m.kind) {
    case 'none':
      return text;
    case 'insert':
      return text.slice(0, pos(m.at)) + m.text + text.slice(pos(m.at));
    case 'delete':
      return text.slice(0, pos(m.at)) + text.slice(pos(m.at) + m.len);
    case 'truncate':
      return text.slice(0, pos(m.at));
    case 'garbage':
      return m.text;
    case 'empty':
      return '';
    case 'number': {
      const key = m.setting.split('=')[0];
      const re = new RegExp(`\\b${key}=[^,\\s]*`);
      return re.test(text) ? text.replace(re, m.setting) : text.replace(/^@ /m, `@ ${m.setting}, `);
    }
    case 'lines': {
      const lines = text.split('\n');
      const a = m.a % lines.length;
      const b = m.b % lines.length;
      if (m.op === 'swap') [lines[a], lines[b]] = [lines[b], lines[a]];
      else if (m.op === 'duplicate') lines.splice(b, 0, lines[a]);
      else lines.splice(a, 1);
      return lines.join('\n');
    }
    case 'repeat':
      return Array.from({ length: m.times }, () => text).join('\n');
  }
}

/** Lines as LSP counts them (\r\n, \r and \n end a line). */
const linesOf = (text: string) => text.split(/\r\n|\r|\n/);

/** A range inside `text`: both ends on an existing line, at most at its end, start before end. */
function checkRange(text: string, range: Rng, what: string): void {
  const lines = linesOf(text);
  const where = `${what}\n--- text (${lines.length} lines) ---\n${text}`;
  for (const p of [range.start, range.end]) {
    assert.ok(Number.isInteger(p.line) && p.line >= 0 && p.line < lines.length, `line out of range: ${where}`);
    assert.ok(
      Number.isInteger(p.character) && p.character >= 0 && p.character <= lines[p.line].length,
      `character out of range (line length ${lines[p.line].length}): ${where}`,
    );
  }
  const { start, end } = range;
  assert.ok(
    start.line < end.line || (start.line === end.line && start.character <= end.character),
    `range ends before it starts: ${where}`,
  );
}

function positionIn(text: string, r: Request): Pos {
  const lines = linesOf(text);
  const line = r.line % (lines.length + 1); // sometimes one past the end
  const character = r.character % ((lines[line]?.length ?? 0) + 3); // sometimes past the end of the line
  return { line, character };
}

/** Resolves with the request's answer, or rejects when the server does not answer within HANG_MS. */
async function answered<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} got no answer within ${HANG_MS} ms: the server's main loop is blocked`)),
      HANG_MS,
    );
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- the test

describe('language server fuzz: random edits, cancelled checks and requests over --stdio', { timeout: 240_000 }, () => {
  let child: ChildProcess;
  let client: Client;
  const uri = pathToFileURL(join(root, 'examples', 'fuzz.ode')).toString();

  before(async () => {
    assert.ok(existsSync(serverJs), `${serverJs} is missing: run node scripts/build.mjs first`);
    child = spawn(process.execPath, [serverJs, '--stdio'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    client = new Client(child);
    await client.request('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(root).toString(),
      capabilities: {
        textDocument: {
          publishDiagnostics: { versionSupport: true },
          codeAction: {
            codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } },
            isPreferredSupport: true,
          },
          hover: { contentFormat: ['markdown', 'plaintext'] },
          completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown'] } },
          synchronization: { didSave: false },
        },
        workspace: {},
      },
      initializationOptions: { settings: SETTINGS },
    });
    await client.conn.sendNotification('initialized', {});
  });

  after(async () => {
    if (client) await client.stop();
  });

  it(`survives ${STEPS} fixed-seed edits with interleaved requests`, { timeout: 200_000 }, async () => {
    const steps = fc.sample(fc.array(step, { minLength: STEPS, maxLength: STEPS }), { seed: SEED, numRuns: 1 })[0];
    /** Text of every version sent. */
    const texts = new Map<number, string>();
    /** Versions whose text is a generated model the front end accepts (with a loss): their check must not fail. */
    const valid = new Set<number>();
    let version = 1;
    let text = '';
    const counts = { settled: 0, superseded: 0, requests: 0, checkable: 0 };
    const t0 = Date.now();

    const send = async (next: string) => {
      // The server publishes nothing for a change to the same content; keep each version distinct.
      if (next === text) next += `\n# version ${version + 1}`;
      version++;
      text = next;
      texts.set(version, text);
      await client.conn.sendNotification('textDocument/didChange', {
        textDocument: { uri, version },
        contentChanges: [{ text }],
      });
    };

    /** Waits for the fast-path diagnostics of `v`, and when its text can be checked, for a final status of its check. */
    const settle = async (v: number) => {
      await client.until(`diagnostics for v${v}`, () => client.lastDiagnostics(uri, v), SETTLE_MS);
      const model = analyse(texts.get(v)!).model;
      if (!model?.loss) return; // errors or no loss: no check, the fast-path diagnostics are all
      const final = await client.until(
        `final check status for v${v}`,
        () =>
          client.statuses.find(
            (s) => s.uri === uri && s.version === v && ['done', 'failed', 'cancelled'].includes(s.state),
          ),
        SETTLE_MS,
      );
      // Nothing superseded this version: its check ran to the end.
      assert.notEqual(
        final.state,
        'cancelled',
        `the check of v${v} was cancelled though nothing superseded it: ${JSON.stringify(final)}\n--- text ---\n${texts.get(v)}`,
      );
    };

    /** Hover, completion or code action at a random position; the answer's ranges must lie in the text the request was made on. */
    const ask = async (r: Request) => {
      const asked = text; // the server handles messages in order: the answer is about this text
      const position = positionIn(asked, r);
      const textDocument = { uri };
      counts.requests++;
      const what = `${r.kind} at ${position.line}:${position.character} of v${version}`;
      // Positions past the end are sent too (they must not hang or fail); the server may echo them back, so ranges are checked only for positions inside.
      const lines = linesOf(asked);
      const inside = position.line < lines.length && position.character <= lines[position.line].length;
      const inText = (range: Rng | undefined, from: string) => {
        if (range && inside) checkRange(asked, range, `${what}: ${from} ${JSON.stringify(range)}`);
      };
      if (r.kind === 'hover') {
        const h = await answered(
          what,
          client.request<{ range?: Rng } | null>('textDocument/hover', { textDocument, position }),
        );
        inText(h?.range, 'hover range');
      } else if (r.kind === 'completion') {
        const c = await answered(
          what,
          client.request<{ items: Item[] } | Item[] | null>('textDocument/completion', { textDocument, position }),
        );
        for (const item of (Array.isArray(c) ? c : c?.items) ?? []) {
          for (const rg of [
            item.textEdit?.range,
            item.textEdit?.insert,
            item.textEdit?.replace,
            ...(item.additionalTextEdits ?? []).map((e) => e.range),
          ])
            inText(rg, `completion '${item.label}'`);
        }
      } else {
        // With the diagnostics published for this line (the quick fix path), or none (clients that send none).
        const diagnostics = (client.lastDiagnostics(uri) ?? []).filter(
          (d) => d.range.start.line <= position.line && position.line <= d.range.end.line,
        );
        const range = { start: position, end: position };
        const actions = await answered(
          what,
          client.request<{ edit?: { changes?: Record<string, { range: Rng }[]> } }[] | null>(
            'textDocument/codeAction',
            { textDocument, range, context: { diagnostics, only: ['quickfix'] } },
          ),
        );
        for (const a of actions ?? []) for (const e of a.edit?.changes?.[uri] ?? []) inText(e.range, 'quick fix edit');
      }
    };

    const first = steps[0].model;
    texts.set(1, first);
    text = first;
    if (analyse(first).model?.loss) valid.add(1);
    await client.open(uri, first, 1);

    for (const s of steps) {
      await send(mutate(s.model, s.mutation));
      const model = analyse(text).model;
      if (model?.loss) counts.checkable++;
      if (s.mutation.kind === 'none' && model?.loss) valid.add(version);
      // Requests while the check of this version is queued or running.
      await Promise.all(s.requests.map(ask));
      if (s.wait === 'settle') {
        await settle(version);
        counts.settled++;
      } else {
        counts.superseded++;
        if (s.wait === 'pause') await new Promise((r) => setTimeout(r, s.pauseMs));
      }
    }
    await settle(version);

    // ---- every published diagnostic lies inside the text of its version
    const mine = client.published.filter((p: Published) => p.uri === uri);
    assert.ok(mine.length >= STEPS / 2, `diagnostics were published for ${mine.length} versions only`);
    for (const p of mine) {
      assert.equal(typeof p.version, 'number', 'diagnostics carry their version');
      const t = texts.get(p.version!);
      assert.ok(t !== undefined, `diagnostics for a version never sent: ${p.version}`);
      const where = (d: Diag) => `v${p.version} ${JSON.stringify(d)}\n--- text ---\n${t}`;
      for (const d of p.diagnostics as Diag[]) {
        checkRange(t, d.range, `diagnostic of v${p.version}: ${JSON.stringify(d)}`);
        assert.ok(typeof d.message === 'string' && d.message.trim().length > 0, `empty message: ${where(d)}`);
        assert.ok(d.severity !== undefined && d.severity >= 1 && d.severity <= 4, `severity: ${where(d)}`);
        assert.notEqual(d.code, 'internal-error', `the front end threw: ${where(d)}`);
        if (valid.has(p.version!))
          assert.ok(
            d.code !== 'check-failed' && d.code !== 'check-crashed',
            `the check of a valid model failed: ${where(d)}`,
          );
      }
    }

    // ---- statuses: well formed; a valid model's check never fails except on its time budget
    for (const st of client.statuses.filter((x) => x.uri === uri)) {
      assert.ok(['queued', 'running', 'done', 'failed', 'cancelled'].includes(st.state), JSON.stringify(st));
      assert.ok(texts.has(st.version!), `status for a version never sent: ${JSON.stringify(st)}`);
      if (st.state === 'failed' && valid.has(st.version!))
        assert.match(
          st.message ?? '',
          /time budget/,
          `the check of a valid model failed: ${JSON.stringify(st)}\n--- text ---\n${texts.get(st.version!)}`,
        );
    }

    // ---- the server is alive, answers, and nothing went wrong inside it
    assert.equal(child.exitCode, null, `the server exited; stderr: ${client.stderr.join('')}`);
    const hover = await answered(
      'the final hover',
      client.request('textDocument/hover', { textDocument: { uri }, position: { line: 0, character: 1 } }),
    );
    assert.ok(hover === null || typeof hover === 'object');
    const stderr = client.stderr.join('');
    for (const uncaught of [/uncaught|unhandled/i, /\b[A-Z]\w*Error\b/, /^\s+at \S/m])
      assert.doesNotMatch(stderr, uncaught, `stderr: ${stderr.slice(-4000)}`);
    const internal = client.logs.filter((m) =>
      /ODE Lens: [\w ]+ failed:|check worker crashed|check worker exited/.test(m),
    );
    assert.deepEqual(internal, [], 'internal errors in the server log');

    const failed = client.statuses.filter((x) => x.uri === uri && x.state === 'failed').length;
    console.log(
      `# ${STEPS} edits (${counts.checkable} checkable, ${valid.size} valid), ${counts.settled} settled, ${counts.superseded} superseded, ` +
        `${counts.requests} requests, ${failed} failed checks, ${Math.round((Date.now() - t0) / 1000)} s`,
    );
  });
});
