// What a user waits for in the editor with default settings (debounce, backend), over a real LSP client on
// stdio against the built server: the first check's diagnostics after opening examples/spiral.ode (a fresh
// server: worker start, backend, compile), then save → check diagnostics after edits that change the model
// (each a new seed, so no cached report answers). Times run from the didOpen / didSave notification to
// the publishDiagnostics of the check (the one before its `done` status).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { DEFAULT_SETTINGS } from '../protocol/settings';
import { initializeServer, startServer } from './lspLatency';

export interface EditorTimings {
  file: string;
  debounceMs: number;
  /** didOpen → the diagnostics of the first finished check, ms (target ≤ 1000). */
  firstCheckMs: number;
  /** didChange + didSave → the diagnostics of that content's check, ms, one per save (target ≤ 500). */
  saveToDiagnosticsMs: number[];
  saveMedianMs: number;
  saveMaxMs: number;
}

export async function benchEditorTimings(serverJs: string, file: string, saves = 5): Promise<EditorTimings> {
  const { conn, stop } = startServer(serverJs);
  const uri = pathToFileURL(file).toString();
  // The server publishes a check's diagnostics, then sends its `done` status: a wait ends at the `done`, and its
  // time is that of the diagnostics just before it.
  let waiting: { resolve: (t: number) => void; reject: (e: Error) => void } | undefined;
  let diagnosticsAt = 0;
  conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string }) => {
    if (p.uri === uri) diagnosticsAt = performance.now();
  });
  conn.onNotification('odeLens/checkStatus', (p: { uri: string; state: string; message?: string }) => {
    if (!waiting || p.uri !== uri) return;
    if (p.state === 'done') waiting.resolve(diagnosticsAt);
    if (p.state === 'failed') waiting.reject(new Error(`the check failed: ${p.message ?? ''}`));
  });
  /** ms from just before `send` writes its notifications to the diagnostics of the check they cause. */
  const checked = (send: () => Promise<void>) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no check diagnostics within 60 s')), 60_000);
      const start = performance.now();
      const settle = (f: () => void) => {
        clearTimeout(timer);
        waiting = undefined;
        f();
      };
      waiting = {
        resolve: (t) => settle(() => resolve(t - start)),
        reject: (e) => settle(() => reject(e)),
      };
      send().catch(waiting.reject);
    });
  try {
    // Default settings: no initializationOptions, and no workspace/configuration capability.
    await initializeServer(conn);
    const text = readFileSync(file, 'utf8');
    const firstCheckMs = await checked(() =>
      conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'ode', version: 1, text } }),
    );
    const saveToDiagnosticsMs: number[] = [];
    for (let k = 0; k < saves; k++) {
      const edited = text.replace(/seed=\d+/, `seed=${k + 2}`);
      if (edited === text) throw new Error(`${file} has no seed= option to edit`);
      const ms = await checked(async () => {
        await conn.sendNotification('textDocument/didChange', {
          textDocument: { uri, version: k + 2 },
          contentChanges: [{ text: edited }],
        });
        await conn.sendNotification('textDocument/didSave', { textDocument: { uri } });
      });
      saveToDiagnosticsMs.push(ms);
      await new Promise((r) => setTimeout(r, 200));
    }
    const sorted = [...saveToDiagnosticsMs].sort((a, b) => a - b);
    return {
      file,
      debounceMs: DEFAULT_SETTINGS.check.debounceMs,
      firstCheckMs,
      saveToDiagnosticsMs,
      saveMedianMs: sorted[sorted.length >> 1],
      saveMaxMs: sorted[sorted.length - 1],
    };
  } finally {
    await stop();
  }
}

export function editorTimingsLine(t: EditorTimings): string {
  return `${t.file.replace(/^.*\/examples\//, 'examples/')}, default settings (debounce ${t.debounceMs} ms): first check after opening ${t.firstCheckMs.toFixed(0)} ms (target ≤ 1000); save → check diagnostics median ${t.saveMedianMs.toFixed(0)} / max ${t.saveMaxMs.toFixed(0)} ms over ${t.saveToDiagnosticsMs.length} saves (target ≤ 500)`;
}
