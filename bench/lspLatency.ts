// Editor latency while gradient checks finish, measured as an editor sees it: a real LSP client over
// stdio (the built server, dist/server.js), one completion or hover request after another from the
// moment a check starts running until a second after its report arrived, for generated leapfrog
// networks of the spiral's size and of width 128 with N = 1024, 4096 and 8192 steps. Also the bytes the server sent for that
// check: the largest single message and the total. A request that waits behind the main thread
// (serialising a report, say) shows in the maximum.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { generated } from './generatedModel';

export interface LspLatencyRow {
  width: number;
  steps: number;
  /** From the `running` status to the report's arrival at the client, ms. */
  checkMs: number;
  requests: number;
  /** Every request from the `running` status to a second after the report: the check thread shares the processor. */
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** The requests in flight from a second before the report reached the client to a second after: what waits behind a finished check. */
  finishRequests: number;
  finishP95Ms: number;
  finishMaxMs: number;
  /** The same requests with no check running (the two seconds after the window): the machine's own floor. */
  idleP95Ms: number;
  idleMaxMs: number;
  /** The largest notification the server sent during the check, bytes (the report notification, before). */
  largestMessageBytes: number;
  largestMessage: string;
  /** Every notification byte the server sent from the `running` status to a second after the report (responses not counted). */
  totalBytes: number;
}

/** Counts the bytes of each LSP message on a stream without keeping the bodies (reports were hundreds of MB). */
export class MessageSizes {
  readonly messages: { bytes: number; method: string; at: number }[] = [];
  private header = '';
  private remaining = 0;
  private bodyHead = '';
  private bodyBytes = 0;

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.bodyHead.length < 200) this.bodyHead += chunk.subarray(i, i + Math.min(take, 200)).toString('utf8');
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) {
          const method = /"method":"([^"]+)"/.exec(this.bodyHead)?.[1] ?? 'response';
          this.messages.push({ bytes: this.bodyBytes, method, at: performance.now() });
          this.bodyHead = '';
        }
        continue;
      }
      const end = chunk.indexOf('\r\n\r\n', i);
      if (end < 0) {
        this.header += chunk.subarray(i).toString('latin1');
        return;
      }
      this.header += chunk.subarray(i, end).toString('latin1');
      i = end + 4;
      const length = Number(/Content-Length:\s*(\d+)/i.exec(this.header)?.[1] ?? 0);
      this.header = '';
      this.remaining = this.bodyBytes = length;
      if (length === 0) this.messages.push({ bytes: 0, method: 'empty', at: performance.now() });
    }
  }

  /** Bytes of the largest message of `method` (0 when none came). */
  largest(method: string): number {
    return this.messages.reduce((m, x) => (x.method === method ? Math.max(m, x.bytes) : m), 0);
  }
}

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : Number.NaN;
};

/** The built server over stdio with an LSP client on it, counting the bytes of every message it sends. */
export function startServer(serverJs: string): {
  conn: MessageConnection;
  sizes: MessageSizes;
  stop: () => Promise<void>;
} {
  const child = spawn(process.execPath, ['--max-semi-space-size=32', serverJs, '--stdio'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const sizes = new MessageSizes();
  child.stdout!.on('data', (c: Buffer) => sizes.push(c));
  child.stderr!.resume();
  const conn: MessageConnection = createMessageConnection(
    new StreamMessageReader(child.stdout!),
    new StreamMessageWriter(child.stdin!),
  );
  const stop = async () => {
    await Promise.race([conn.sendRequest('shutdown').catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
    child.kill();
    conn.dispose();
  };
  return { conn, sizes, stop };
}

/**
 * Listens (other notifications ignored, the server's requests answered with null) and initializes the server,
 * with `settings` as its initialization options or, when undefined, as an editor with default settings does.
 */
export async function initializeServer(conn: MessageConnection, settings?: Record<string, unknown>): Promise<void> {
  conn.onNotification(() => {});
  conn.onRequest(() => null);
  conn.listen();
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: {},
    ...(settings ? { initializationOptions: { settings } } : {}),
  });
  await conn.sendNotification('initialized', {});
}

async function measureOne(serverJs: string, steps: number, width: number): Promise<LspLatencyRow> {
  const { conn, sizes, stop } = startServer(serverJs);
  let running: number | undefined;
  let reported: number | undefined;
  let failed: string | undefined;
  conn.onNotification('odeLens/checkStatus', (p: { state: string; message?: string }) => {
    if (p.state === 'running' && running === undefined) running = performance.now();
    if (p.state === 'failed') failed = p.message ?? 'failed';
  });
  conn.onNotification('odeLens/report', () => {
    reported ??= performance.now();
  });
  try {
    await initializeServer(conn, { check: { enabled: true, debounceMs: 0, timeBudgetMs: 600_000 }, backend: 'cpu' });
    const text = generated(width, steps);
    const lines = text.split('\n');
    const eq = lines.findIndex((l) => l.startsWith("x' ="));
    const uri = pathToFileURL(`/tmp/odelens-bench-${steps}.ode`).toString();
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'ode', version: 1, text } });
    const completion = { textDocument: { uri }, position: { line: eq, character: lines[eq].indexOf('tanh(') + 5 } };
    const hover = { textDocument: { uri }, position: { line: eq, character: lines[eq].indexOf('W1') + 1 } };
    const waits: { at: number; ms: number }[] = [],
      idle: number[] = [];
    const deadline = performance.now() + 600_000;
    let k = 0;
    // Requests one after another (as a user typing and pointing would), from the check's start to a second after
    // its report, then two seconds more with nothing running: the floor this machine's load sets.
    while (performance.now() < deadline && !failed) {
      const now = performance.now();
      if (reported !== undefined && now > reported + 3000) break;
      const t = performance.now();
      const isHover = k++ % 2 === 1;
      await conn.sendRequest(isHover ? 'textDocument/hover' : 'textDocument/completion', isHover ? hover : completion);
      if (reported !== undefined && t > reported + 1000) idle.push(performance.now() - t);
      else if (running !== undefined) waits.push({ at: t, ms: performance.now() - t });
      await new Promise((r) => setTimeout(r, 10));
    }
    if (failed) throw new Error(`the check failed: ${failed}`);
    if (running === undefined || reported === undefined) throw new Error('no check ran');
    const start = running,
      end = reported;
    const all = waits.map((w) => w.ms);
    const finish = waits.filter((w) => w.at + w.ms >= end - 1000 && w.at <= end + 1000).map((w) => w.ms);
    const window = sizes.messages.filter(
      (m) => m.at >= start && m.at <= (reported ?? 0) + 1000 && m.method !== 'response',
    );
    const largest = window.reduce((a, m) => (m.bytes > a.bytes ? m : a), { bytes: 0, method: '-', at: 0 });
    return {
      width,
      steps,
      checkMs: reported - running,
      requests: all.length,
      p50Ms: percentile(all, 0.5),
      p95Ms: percentile(all, 0.95),
      maxMs: Math.max(...all),
      finishRequests: finish.length,
      finishP95Ms: percentile(finish, 0.95),
      finishMaxMs: Math.max(...finish),
      idleP95Ms: percentile(idle, 0.95),
      idleMaxMs: Math.max(...idle),
      largestMessageBytes: largest.bytes,
      largestMessage: largest.method,
      totalBytes: window.reduce((a, m) => a + m.bytes, 0),
    };
  } finally {
    await stop();
  }
}

/** The sizes [width, N] measured: the spiral's, and width 128 from N = 1024 to 8192 (reports of 39–322 MB once). */
export const LSP_SIZES: [number, number][] = [
  [16, 64],
  [128, 1024],
  [128, 4096],
  [128, 8192],
];

/** One row per size; `serverJs` is the built server (another build's, to compare). */
export async function benchLspLatency(serverJs: string, sizes = LSP_SIZES): Promise<LspLatencyRow[]> {
  const rows: LspLatencyRow[] = [];
  for (const [width, steps] of sizes) {
    const row = await measureOne(serverJs, steps, width);
    rows.push(row);
    console.log(
      `LSP over stdio, width ${width}, N = ${steps}: completion/hover while the check finishes p50 ${row.p50Ms.toFixed(1)} / p95 ${row.p95Ms.toFixed(1)} / max ${row.maxMs.toFixed(1)} ms over ${row.requests} requests; around the finish p95 ${row.finishP95Ms.toFixed(1)} / max ${row.finishMaxMs.toFixed(1)} ms over ${row.finishRequests} (target ≤ 50); idle p95 ${row.idleP95Ms.toFixed(1)} / max ${row.idleMaxMs.toFixed(1)} ms; check ${(row.checkMs / 1000).toFixed(1)} s; largest message ${(row.largestMessageBytes / 1024).toFixed(1)} kB (${row.largestMessage}), ${(row.totalBytes / 1024).toFixed(1)} kB sent in all`,
    );
  }
  return rows;
}

/** Rows of runs before the finish's p95 was recorded lack it. */
const fixed = (x: number | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(1) : '–');

/** Markdown table of the rows. */
export function lspLatencyTable(rows: readonly LspLatencyRow[]): string {
  return [
    '| width | N | check s | requests | p50 ms | p95 ms | max ms | ±1 s of the finish: p95 / max ms (requests) | idle p95 / max ms | largest message kB | notifications kB |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.width} | ${r.steps} | ${(r.checkMs / 1000).toFixed(1)} | ${r.requests} | ${r.p50Ms.toFixed(1)} | ${r.p95Ms.toFixed(1)} | ${r.maxMs.toFixed(1)} | ${fixed(r.finishP95Ms)} / ${r.finishMaxMs.toFixed(1)} (${r.finishRequests}) | ${r.idleP95Ms.toFixed(1)} / ${r.idleMaxMs.toFixed(1)} | ${(r.largestMessageBytes / 1024).toFixed(1)} (${r.largestMessage}) | ${(r.totalBytes / 1024).toFixed(1)} |`,
    ),
  ].join('\n');
}
