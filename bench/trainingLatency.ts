// Editor latency while a training runs ("Train with raw and corrected gradients"), measured as an editor sees
// it: a real LSP client over stdio (the built server), one completion or hover request after another from the
// training's first streamed iteration until its answer, on a generated leapfrog network. Also what the training
// sent: one odeLens/trainProgress per finished iteration (their count and largest size: the figures of one
// iteration, never the history). `npm run bench:training [-- --server PATH --width W --steps N --iterations K]`.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initializeServer, percentile, startServer } from './lspLatency';
import { generated } from './generatedModel';

export interface TrainingLatencyRow {
  width: number;
  steps: number;
  /** Iterations per run (raw AD, then the correction). */
  iterations: number;
  /** From the first streamed iteration to the train request's answer, ms. */
  trainMs: number;
  requests: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** odeLens/trainProgress messages received, and the largest one's JSON size in bytes. */
  progressMessages: number;
  largestProgressBytes: number;
}

export async function benchTrainingLatency(
  serverJs: string,
  { width = 128, steps = 1024, iterations = 10 } = {},
): Promise<TrainingLatencyRow> {
  const { conn, sizes, stop } = startServer(serverJs);
  let first: number | undefined;
  let progressMessages = 0;
  conn.onNotification('odeLens/trainProgress', () => {
    first ??= performance.now();
    progressMessages++;
  });
  try {
    // No background check: what is measured is the training's share of the machine.
    await initializeServer(conn, { check: { enabled: false }, backend: 'cpu' });
    const text = generated(width, steps);
    const lines = text.split('\n');
    const eq = lines.findIndex((l) => l.startsWith("x' ="));
    const uri = pathToFileURL(`/tmp/odelens-bench-train-${steps}.ode`).toString();
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'ode', version: 1, text } });
    const completion = { textDocument: { uri }, position: { line: eq, character: lines[eq].indexOf('tanh(') + 5 } };
    const hover = { textDocument: { uri }, position: { line: eq, character: lines[eq].indexOf('W1') + 1 } };
    let answered: number | undefined;
    let error: string | undefined;
    const training = conn.sendRequest<{ error?: string }>('odeLens/train', { uri, iterations }).then((s) => {
      answered = performance.now();
      error = s.error;
    });
    const waits: number[] = [];
    for (let k = 0; answered === undefined; k++) {
      const t = performance.now();
      const isHover = k % 2 === 1;
      await conn.sendRequest(isHover ? 'textDocument/hover' : 'textDocument/completion', isHover ? hover : completion);
      if (first !== undefined && answered === undefined) waits.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    await training;
    if (error) throw new Error(`the training failed: ${error}`);
    if (first === undefined || answered === undefined) throw new Error('no training ran');
    return {
      width,
      steps,
      iterations,
      trainMs: answered - first,
      requests: waits.length,
      p50Ms: percentile(waits, 0.5),
      p95Ms: percentile(waits, 0.95),
      maxMs: Math.max(...waits),
      progressMessages,
      largestProgressBytes: sizes.largest('odeLens/trainProgress'),
    };
  } finally {
    await stop();
  }
}

export function trainingLatencyLine(r: TrainingLatencyRow): string {
  return `LSP over stdio while training width ${r.width}, N = ${r.steps} (${r.iterations} iterations of raw AD, then of the correction, ${(r.trainMs / 1000).toFixed(1)} s): completion/hover p50 ${r.p50Ms.toFixed(1)} / p95 ${r.p95Ms.toFixed(1)} / max ${r.maxMs.toFixed(1)} ms over ${r.requests} requests (target p95 ≤ 50); ${r.progressMessages} progress messages, the largest ${r.largestProgressBytes} bytes`;
}

// Run on its own (out/bench/trainingLatency.js), not when bundled into dist/bench.js, whose module is also main.
if (require.main === module && /trainingLatency\.js$/.test(process.argv[1] ?? '')) {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (k: string) => (arg(k) === undefined ? undefined : Number(arg(k)));
  benchTrainingLatency(arg('--server') ?? join(__dirname, '..', '..', 'dist', 'server.js'), {
    width: num('--width'),
    steps: num('--steps'),
    iterations: num('--iterations'),
  }).then(
    (row) => console.log(trainingLatencyLine(row)),
    (e) => {
      console.error(`training latency benchmark failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    },
  );
}
