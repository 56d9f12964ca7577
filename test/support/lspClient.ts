// A real LSP client for protocol tests: starts `node dist/server.js --stdio`
// and talks JSON-RPC over its stdio (vscode-jsonrpc), as Neovim or any other
// client would.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { CheckStatusNotification, type CheckStatusParams } from '../../protocol/customMessages';

/** The repository root, from the bundled test in out/test/<dir>/. */
export const repoRoot = join(__dirname, '..', '..', '..');
const serverJs = join(repoRoot, 'dist', 'server.js');

export interface Published {
  uri: string;
  version?: number;
  diagnostics: { range: unknown; severity?: number; code?: string | number; message: string }[];
}

export class LspClient {
  readonly conn: MessageConnection;
  readonly published: Published[] = [];
  /** The ODE Lens check statuses (odeLens/checkStatus), in arrival order. */
  readonly statuses: CheckStatusParams[] = [];
  readonly stderr: string[] = [];
  /** The capabilities the server registered dynamically (client/registerCapability), in arrival order. */
  readonly registrations: { id: string; method: string; registerOptions?: unknown }[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly child: ChildProcess,
    private readonly defaultTimeoutMs = 30_000,
  ) {
    this.conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    child.stderr!.on('data', (d) => this.stderr.push(String(d)));
    this.conn.onNotification('textDocument/publishDiagnostics', (p: Published) =>
      this.notify(() => this.published.push(p)),
    );
    this.conn.onNotification(CheckStatusNotification.type, (p) => this.notify(() => this.statuses.push(p)));
    this.conn.onNotification(() => this.notify(() => {}));
    this.conn.onRequest('window/workDoneProgress/create', () => null);
    this.conn.onRequest('client/registerCapability', (p: { registrations: LspClient['registrations'] }) => {
      this.notify(() => this.registrations.push(...p.registrations));
      return null;
    });
    this.conn.onRequest('workspace/semanticTokens/refresh', () => null);
    this.conn.listen();
  }

  protected notify(f: () => void): void {
    f();
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves when `pred` holds (checked on every incoming notification). */
  async until<T>(what: string, pred: () => T | undefined | false, timeoutMs = this.defaultTimeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr.join('').slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  lastDiagnostics(uri: string, version?: number): Published['diagnostics'] | undefined {
    for (let i = this.published.length - 1; i >= 0; i--) {
      const p = this.published[i];
      if (p.uri === uri && (version === undefined || p.version === version)) return p.diagnostics;
    }
    return undefined;
  }

  request<R>(method: string, params: unknown): Promise<R> {
    return this.conn.sendRequest(method, params) as Promise<R>;
  }

  /** Opens a document and waits for its first diagnostics (the server has analysed it). */
  async open(uri: string, text: string, version = 1): Promise<void> {
    await this.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'ode', version, text },
    });
    await this.until(`diagnostics for ${uri}`, () => this.lastDiagnostics(uri, version), 15_000);
  }

  async change(uri: string, text: string, version: number): Promise<void> {
    await this.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ text }],
    });
    await this.until(`diagnostics for ${uri} v${version}`, () => this.lastDiagnostics(uri, version), 15_000);
  }

  /** Sends shutdown/exit and waits for the process to end (kills it after 5 s). */
  async stop(): Promise<void> {
    try {
      await Promise.race([this.conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 5000).unref())]);
      await this.conn.sendNotification('exit');
    } catch {
      /* already gone */
    }
    const exited = await new Promise<boolean>((resolve) => {
      if (this.child.exitCode !== null) return resolve(true);
      const t = setTimeout(() => resolve(false), 5000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!exited) this.child.kill('SIGKILL');
    this.conn.dispose();
  }
}

/**
 * Starts the built server over --stdio and initialises it. `settings` go in
 * initializationOptions (the client does not offer workspace/configuration).
 */
export async function startServer(
  settings: unknown = { check: { enabled: false } },
  /** The workspace folder (default: the repository) and the client's workspace capabilities. */
  workspace: { root?: string; capabilities?: Record<string, unknown> } = {},
): Promise<{ client: LspClient; capabilities: Record<string, unknown> }> {
  assert.ok(existsSync(serverJs), `${serverJs} is missing: run node scripts/build.mjs first`);
  const child = spawn(process.execPath, [serverJs, '--stdio'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  const client = new LspClient(child);
  const init = await client.request<{ capabilities: Record<string, unknown> }>('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(workspace.root ?? repoRoot).toString(),
    capabilities: {
      textDocument: {
        publishDiagnostics: { versionSupport: true },
        hover: { contentFormat: ['markdown', 'plaintext'] },
        completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown'] } },
        signatureHelp: { signatureInformation: { parameterInformation: { labelOffsetSupport: false } } },
        rename: { prepareSupport: true },
        documentSymbol: { hierarchicalDocumentSymbolSupport: true },
        semanticTokens: { requests: { full: true }, tokenTypes: [], tokenModifiers: [], formats: ['relative'] },
        foldingRange: { lineFoldingOnly: true },
        synchronization: { didSave: false },
      },
      workspace: workspace.capabilities ?? {},
    },
    initializationOptions: { settings },
  });
  await client.conn.sendNotification('initialized', {});
  return { client, capabilities: init.capabilities };
}
