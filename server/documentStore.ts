// The open documents as the server knows them: text, content hash, the analysis of
// that text (diagnostics, model, syntax tree, reused by every feature) and the latest
// gradient check result. Keyed by URI; a document keeps its identity across edits, so
// whoever holds it can tell with isCurrent whether a result is still for its content.
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyseDocument, type AnalysedDocument } from '../solver/language/index';
import type { AnalysisContext, Diagnostic } from '../solver/model';
import type { ReportSummary } from '../solver/report';
import type { RowTable } from '../solver/rows';
import type { CheckState } from '../protocol/customMessages';
import type { DocumentPaths } from '../protocol/workerMessages';

export interface OpenDocument {
  uri: string;
  version: number;
  text: string;
  hash: string;
  /** Diagnostics, model and the syntax tree (reused by the language features) of `text`. */
  analysis: AnalysedDocument;
  /** The latest report for this document (maybe for an earlier content): its summary, and its rows for the plots. */
  last?: { hash: string; version: number; report: ReportSummary; tables: RowTable[] };
  /** A failed check for some content (shown only for that exact content). */
  failure?: { hash: string; diagnostic: Diagnostic };
  /** Last status sent to the client. */
  state?: CheckState;
  checksDisabled?: boolean;
  /** The content whose check the user cancelled: the last report's findings stay shown, marked as of an earlier version. */
  cancelledHash?: string;
  /** Restricted Mode (an untrusted workspace): no checks run and no data files are read. */
  restricted?: boolean;
}

function refuseInRestrictedMode(): string {
  throw new Error('Restricted Mode: data files are read only in a trusted workspace');
}

export class DocumentStore {
  private readonly documents = new Map<string, OpenDocument>();
  private workspaceRoots: string[] = [];
  /** Restricted Mode (the client's workspace is not trusted): analysis reads no files, and no check runs. */
  restricted = false;

  constructor(private readonly log: (message: string) => void) {}

  /** The workspace folders (URIs): a model's `data` files must lie inside one. */
  setWorkspaceFolders(uris: string[]): void {
    this.workspaceRoots = uris.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
  }

  /** The model file's path and its workspace folder, for `data` files; none for unsaved (untitled:) documents. */
  documentPaths(uri: string): DocumentPaths | undefined {
    if (!uri.startsWith('file:') || this.restricted) return undefined;
    const documentPath = fileURLToPath(uri);
    const workspaceRoot = this.workspaceRoots.find((root) =>
      documentPath.startsWith(root.endsWith(sep) ? root : root + sep),
    );
    return { documentPath, workspaceRoot };
  }

  get(uri: string): OpenDocument | undefined {
    return this.documents.get(uri);
  }

  values(): IterableIterator<OpenDocument> {
    return this.documents.values();
  }

  delete(uri: string): void {
    this.documents.delete(uri);
  }

  /** True while `doc` is the open document of its URI and its content is still `hash`. */
  isCurrent(doc: OpenDocument, hash: string): boolean {
    return this.documents.get(doc.uri) === doc && doc.hash === hash;
  }

  /** Records and analyses new content; an open document keeps its identity and its check results. */
  setContent(uri: string, version: number, text: string, hash: string): OpenDocument {
    // Restricted Mode: data files are not read (the data line gets a diagnostic that says why).
    const context: AnalysisContext | undefined = this.restricted
      ? { readFile: refuseInRestrictedMode }
      : this.documentPaths(uri);
    const analysis = this.safeAnalyse(text, context);
    let st = this.documents.get(uri);
    if (!st) {
      st = { uri, version, text, hash, analysis, restricted: this.restricted };
      this.documents.set(uri, st);
    } else {
      Object.assign(st, { version, text, hash, analysis, restricted: this.restricted });
    }
    return st;
  }

  private safeAnalyse(text: string, paths: AnalysisContext | undefined): AnalysedDocument {
    try {
      return analyseDocument(text, paths);
    } catch (e) {
      this.log(`ODE Lens: analyse failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      return {
        diagnostics: [
          {
            code: 'internal-error',
            severity: 'error',
            message: `ODE Lens could not analyse this file (internal error: ${e instanceof Error ? e.message : String(e)})`,
            range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
          },
        ],
      };
    }
  }
}
