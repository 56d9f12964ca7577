// The open documents as the server knows them: text, content hash, the analysis of
// that text (diagnostics, model, syntax tree, reused by every feature) and the latest
// gradient check result. Keyed by URI; a document keeps its identity across edits, so
// whoever holds it can tell with isCurrent whether a result is still for its content.
// The files a model names are read ahead (ModelFiles) and take part in that content:
// the hash covers the text and the identity of every file its analysis read.
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyseDocument, type AnalysedDocument } from '../solver/language/index';
import type { AnalysisContext, Diagnostic } from '../solver/model';
import type { ReportSummary } from '../solver/report';
import type { RowTable } from '../solver/rows';
import type { CheckState } from '../protocol/customMessages';
import type { DocumentPaths } from '../protocol/workerMessages';
import { contentKey, ModelFiles, type FileRequest } from './modelFiles';

export interface OpenDocument {
  uri: string;
  version: number;
  text: string;
  /** The content key: the text's hash, and the identity of the files its analysis read. */
  hash: string;
  /** The files the analysis of `text` read (data, tables). */
  files: FileRequest[];
  /** Some of `files` were not read yet: this analysis is provisional (not published). */
  filesPending: boolean;
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
  /** The files the open models name, read ahead. */
  readonly files = new ModelFiles();

  constructor(
    private readonly log: (message: string) => void,
    /** The size limit of a file a model names, bytes (a setting). */
    private readonly maxFileBytes: () => number = () => Number.POSITIVE_INFINITY,
  ) {}

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
  setContent(uri: string, version: number, text: string): OpenDocument {
    const analysed = this.analyse(uri, text);
    let st = this.documents.get(uri);
    if (!st) {
      st = { uri, version, text, ...analysed, restricted: this.restricted };
      this.documents.set(uri, st);
    } else {
      Object.assign(st, { version, text, ...analysed, restricted: this.restricted });
    }
    return st;
  }

  /** Where a check of the document finds its files: its paths and the files its analysis read. */
  checkContext(st: OpenDocument): DocumentPaths | undefined {
    const paths = this.documentPaths(st.uri);
    return paths && { ...paths, files: this.files.snapshot(st.files.map((f) => f.resolved)) };
  }

  /**
   * Reads the document's files that are new or changed on disk (off the main thread), and
   * analyses it again when any was: true then (the caller publishes and schedules a check).
   */
  async refreshFiles(st: OpenDocument): Promise<boolean> {
    if (st.files.length === 0) return false;
    const text = st.text;
    const changed = await this.files.refresh(st.files, this.maxFileBytes());
    if (this.documents.get(st.uri) !== st || st.text !== text || !(changed || st.filesPending)) return false;
    Object.assign(st, this.analyse(st.uri, text));
    return true;
  }

  /** The analysis of `text` with the files read so far, its content key and the files it read. */
  private analyse(uri: string, text: string): Pick<OpenDocument, 'analysis' | 'hash' | 'files' | 'filesPending'> {
    const paths = this.documentPaths(uri);
    const files: FileRequest[] = [];
    // Restricted Mode: data files are not read (the data line gets a diagnostic that says why).
    if (this.restricted) {
      const documentPath = uri.startsWith('file:') ? fileURLToPath(uri) : undefined;
      return {
        analysis: this.safeAnalyse(text, { documentPath, readFile: refuseInRestrictedMode }),
        files,
        filesPending: false,
        hash: contentKey(text, undefined),
      };
    }
    const context: AnalysisContext | undefined = paths && {
      ...paths,
      files: this.files.view(),
      onFileRead: (f) => void files.push(f),
    };
    const analysis = this.safeAnalyse(text, context);
    const read = this.files.snapshot(files.map((f) => f.resolved));
    return {
      analysis,
      files,
      filesPending: files.some((f) => !(f.resolved in read)),
      hash: contentKey(text, paths && read),
    };
  }

  private safeAnalyse(text: string, paths: AnalysisContext | undefined): AnalysedDocument {
    try {
      // The editor's analysis serves diagnostics and the language service; the check worker analyses the text
      // again for its solves, with separable sums separated (language/separableSums.ts), which editing need not wait for.
      return analyseDocument(text, { ...paths, separateSums: false });
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
