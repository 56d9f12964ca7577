// Asks the client to watch the files the open models name (workspace/didChangeWatchedFiles,
// registered dynamically for exactly those files), so a data file written, replaced or
// deleted after the model was opened is read again and the model re-checked. A client
// without dynamic registration sends no events; the async stat of every analysis
// (ModelFiles.refresh) still sees a change at the model's next edit.
import { dirname, basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DidChangeWatchedFilesNotification,
  type Connection,
  type Disposable,
  type FileSystemWatcher,
  type InitializeParams,
} from 'vscode-languageserver/node';

export class FileWatcher {
  private dynamic = false;
  private relativePatterns = false;
  private watched = '';
  private registration: Promise<Disposable | undefined> = Promise.resolve(undefined);

  constructor(
    private readonly connection: Connection,
    private readonly log: (message: string) => void,
  ) {}

  initialize(params: InitializeParams): void {
    const caps = params.capabilities.workspace?.didChangeWatchedFiles;
    this.dynamic = !!caps?.dynamicRegistration;
    this.relativePatterns = !!caps?.relativePatternSupport;
  }

  /** Watches exactly `paths` (absolute), replacing the previous registration when the set changed. */
  watch(paths: Iterable<string>): void {
    if (!this.dynamic) return;
    const sorted = [...new Set(paths)].sort();
    const key = sorted.join('\n');
    if (key === this.watched) return;
    this.watched = key;
    const watchers = sorted.map((p) => this.watcher(p));
    const previous = this.registration;
    this.registration = previous.then(async (old) => {
      old?.dispose();
      if (watchers.length === 0) return undefined;
      try {
        return await this.connection.client.register(DidChangeWatchedFilesNotification.type, { watchers });
      } catch (e) {
        this.log(`ODE Lens: cannot watch data files: ${String(e)}`);
        return undefined;
      }
    });
  }

  private watcher(path: string): FileSystemWatcher {
    // Glob metacharacters in a file name match themselves inside brackets.
    const name = basename(path).replace(/[[\]{}*?]/g, '[$&]');
    if (this.relativePatterns) return { globPattern: { baseUri: pathToFileURL(dirname(path)).href, pattern: name } };
    return { globPattern: `${dirname(path).replace(/\\/g, '/')}/${name}` };
  }
}
