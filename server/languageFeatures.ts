// LSP handlers for the editor features of the language service
// (solver/service): thin glue from requests to plain functions. The service
// works on the parser's syntax tree, so every feature answers on files with
// errors too.
import {
  LSPErrorCodes,
  MarkupKind,
  ResponseError,
  type Connection,
  type ServerCapabilities,
} from 'vscode-languageserver/node';
import type { Model } from '../solver/model';
import type { ParseResult } from '../solver/language/index';
import type { ReportSummary } from '../solver/report';
import {
  completion,
  definition,
  DocumentCache,
  documentHighlight,
  documentSymbols,
  foldingRanges,
  formatDocument,
  formatRange,
  hover,
  prepareRename,
  references,
  rename,
  SEMANTIC_TOKENS_LEGEND,
  semanticTokens,
  signatureHelp,
  type ServiceDocument,
} from '../solver/service/index';

/** What the server knows about an open document beyond its text. */
export interface FeatureSource {
  text: string;
  version: number;
  model?: Model;
  /** The syntax tree of `text` from the analysis the server already ran for this version (parsed once per version). */
  syntax?: ParseResult;
  report?: ReportSummary;
  reportIsCurrent: boolean;
  pendingState?: string;
}

export const LANGUAGE_FEATURE_CAPABILITIES: ServerCapabilities = {
  hoverProvider: true,
  completionProvider: { triggerCharacters: ['@', '=', '~'], resolveProvider: false },
  signatureHelpProvider: { triggerCharacters: ['(', ','], retriggerCharacters: [','] },
  definitionProvider: true,
  referencesProvider: true,
  documentHighlightProvider: true,
  renameProvider: { prepareProvider: true },
  documentSymbolProvider: { label: 'ODE model' },
  semanticTokensProvider: { legend: SEMANTIC_TOKENS_LEGEND, full: true, range: false },
  foldingRangeProvider: true,
  documentFormattingProvider: true,
  documentRangeFormattingProvider: true,
};

export function registerLanguageFeatures(
  connection: Connection,
  source: (uri: string) => FeatureSource | undefined,
  log: (m: string) => void,
): { forget(uri: string): void } {
  const cache = new DocumentCache();
  const docOf = (uri: string): { doc: ServiceDocument; src: FeatureSource } | undefined => {
    const src = source(uri);
    if (!src) return undefined;
    return { doc: cache.get(uri, src.text, src.version, src.syntax), src };
  };
  // A bug in one feature answers "nothing here" and is logged; it never takes the server down.
  const guard = <T>(what: string, fallback: T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ResponseError) throw e;
      log(`ODE Lens: ${what} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      return fallback;
    }
  };

  connection.onHover((p) =>
    guard('hover', null, () => {
      const d = docOf(p.textDocument.uri);
      if (!d) return null;
      const h = hover(d.doc, p.position, {
        model: d.src.model,
        report: d.src.report,
        reportIsCurrent: d.src.reportIsCurrent,
        pendingState: d.src.pendingState,
      });
      return h ? { contents: { kind: MarkupKind.Markdown, value: h.markdown }, range: h.range } : null;
    }),
  );
  connection.onCompletion((p) =>
    guard('completion', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? completion(d.doc, p.position, { model: d.src.model }) : null;
    }),
  );
  connection.onSignatureHelp((p) =>
    guard('signature help', null, () => {
      const d = docOf(p.textDocument.uri);
      return (d && signatureHelp(d.doc, p.position)) ?? null;
    }),
  );
  connection.onDefinition((p) =>
    guard('definition', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? definition(d.doc, p.textDocument.uri, p.position) : null;
    }),
  );
  connection.onReferences((p) =>
    guard('references', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? references(d.doc, p.textDocument.uri, p.position, p.context.includeDeclaration) : null;
    }),
  );
  connection.onDocumentHighlight((p) =>
    guard('highlight', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? documentHighlight(d.doc, p.position) : null;
    }),
  );
  connection.onPrepareRename((p) =>
    guard('prepare rename', null, () => {
      const d = docOf(p.textDocument.uri);
      if (!d) return null;
      const r = prepareRename(d.doc, p.position);
      if ('error' in r) throw new ResponseError(LSPErrorCodes.RequestFailed, r.error);
      return r;
    }),
  );
  connection.onRenameRequest((p) =>
    guard('rename', null, () => {
      const d = docOf(p.textDocument.uri);
      if (!d) return null;
      const r = rename(d.doc, p.textDocument.uri, p.position, p.newName);
      if ('error' in r) throw new ResponseError(LSPErrorCodes.RequestFailed, r.error);
      return r.edit;
    }),
  );
  connection.onDocumentSymbol((p) =>
    guard('document symbols', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? documentSymbols(d.doc) : null;
    }),
  );
  connection.languages.semanticTokens.on((p) =>
    guard('semantic tokens', { data: [] }, () => {
      const d = docOf(p.textDocument.uri);
      return d ? semanticTokens(d.doc) : { data: [] };
    }),
  );
  connection.onFoldingRanges((p) =>
    guard('folding', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? foldingRanges(d.doc) : null;
    }),
  );
  connection.onDocumentFormatting((p) =>
    guard('formatting', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? formatDocument(d.doc) : null;
    }),
  );
  connection.onDocumentRangeFormatting((p) =>
    guard('range formatting', null, () => {
      const d = docOf(p.textDocument.uri);
      return d ? formatRange(d.doc, p.range) : null;
    }),
  );
  return { forget: (uri) => cache.delete(uri) };
}
