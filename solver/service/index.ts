// The ODE Lens language service: plain functions over a document's text and
// positions, returning plain data (LSP types, no connection). The language
// server wires them to requests; tests and the benchmark call them directly.
export { ServiceDocument, DocumentCache } from './document';
export { buildSymbolIndex, keyOf, type Declaration, type DeclKind, type Reference, type SymbolIndex } from './symbols';
export { completion, type CompletionInput } from './completion';
export { hover, type HoverInput, type HoverResult } from './hover';
export { signatureHelp } from './signature';
export {
  definition,
  references,
  documentHighlight,
  prepareRename,
  rename,
  type RenameCheck,
  type RenameResult,
} from './navigation';
export { documentSymbols, foldingRanges } from './outline';
export { semanticTokens, SEMANTIC_TOKENS_LEGEND } from './semanticTokens';
export { formatDocument, formatRange } from './formatting';
export { reportHoverMarkdown, parameterMetricsMarkdown, type GradientContext } from './gradientHover';
export {
  codeActions,
  fixAllAction,
  optionEdits,
  FIX_ALL_KIND,
  FIXABLE_CODES,
  gradfixEdit,
  quickFixTitle,
  GRADFIX_FIXABLE_CODES,
  QUICK_FIX_TITLE,
  type CodeActionData,
  type CodeActionDocument,
  type FixableDiagnostic,
} from './codeActions';
