// Completion: statement keywords at the start of a line, option keys after `@`
// and their values after `key=` (every scheme with its order and stability),
// and in expressions the built-in functions and the names in scope.
import {
  CompletionItemKind,
  InsertTextFormat,
  MarkupKind,
  type CompletionItem,
  type CompletionList,
} from 'vscode-languageserver-types';
import type { Model, Position, Range } from '../model';
import type { ServiceDocument } from './document';
import { schemeDescription, schemeDetail } from './schemeInfo';
import type { Declaration, DeclKind } from './symbols';
import { builtinFunctions, KEYWORD_DOCS, OPTION_DOCS, optionKeys, signatureLabel, VALUE_DOCS } from './vocabulary';
import { normalizeKey } from '../language/options';

export interface CompletionInput {
  model?: Model;
}

const KIND: Record<DeclKind, CompletionItemKind> = {
  state: CompletionItemKind.Variable,
  param: CompletionItemKind.Field,
  number: CompletionItemKind.Constant,
  fixed: CompletionItemKind.Constant,
  function: CompletionItemKind.Function,
  aux: CompletionItemKind.Property,
  data: CompletionItemKind.Struct,
  scheme: CompletionItemKind.Class,
  algebraic: CompletionItemKind.Variable,
  opaque: CompletionItemKind.Variable,
  argument: CompletionItemKind.Variable,
};

function shapeText(shape: number[] | undefined): string {
  return shape && shape.length ? `[${shape.join(', ')}]` : '';
}

function declDetail(d: Declaration): string {
  const perStep = d.kind === 'param' && (d.item as { perStep?: boolean } | undefined)?.perStep;
  return `${d.kind}${shapeText(d.shape) ? ' ' + shapeText(d.shape) : ''}${perStep ? ' per-step' : ''}`;
}

/** Text of the logical line from its start up to the cursor (continuations joined). */
function prefixOf(doc: ServiceDocument, p: Position): { text: string; lineStart: number } {
  const start = doc.logicalLineStart(p.line);
  const parts: string[] = [];
  for (let l = start; l < p.line; l++) parts.push(doc.lineText(l).replace(/\\[ \t]*$/, ' '));
  parts.push(doc.lineText(p.line).slice(0, p.character));
  return { text: parts.join(''), lineStart: start };
}

/** True when the cursor is in a comment or a string of the prefix. */
function inCommentOrString(prefix: string): boolean {
  let inString = false;
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix[i];
    if (c === '"') inString = !inString;
    else if (c === '#' && !inString && !INSIDE_INTEGRAL.test(prefix.slice(0, i))) return true;
  }
  return inString;
}

/** An open `int{…` or `int[mu]{…` before a `#`: there it separates the kernel from the integrand (XPPAUT). */
const INSIDE_INTEGRAL = /\bint(\[[^\]]*\])?\{[^{}]*$/i;

/** Makes an item that replaces the word before the cursor. */
type ItemMaker = (
  label: string,
  kind: CompletionItemKind,
  detail?: string,
  doc?: string,
  extra?: Partial<CompletionItem>,
) => CompletionItem;

/** Where completion was asked: the logical line up to the cursor and the word being typed. */
interface CompletionContext {
  doc: ServiceDocument;
  /** The cursor, inside the text. */
  p: Position;
  prefix: string;
  /** The word before the cursor, which the items replace. */
  range: Range;
  item: ItemMaker;
  model?: Model;
}

function itemMaker(range: Range): ItemMaker {
  return (label, kind, detail, doc, extra = {}) => ({
    label,
    kind,
    detail,
    documentation: doc ? { kind: MarkupKind.Markdown, value: doc } : undefined,
    textEdit: { range, newText: label },
    ...extra,
  });
}

export function completion(doc: ServiceDocument, position: Position, input: CompletionInput = {}): CompletionList {
  const p = doc.clamp(position); // the items' edit ranges must lie in the text
  const { text: prefix } = prefixOf(doc, p);
  if (inCommentOrString(prefix)) return { isIncomplete: false, items: [] };
  const word = /[A-Za-z_][A-Za-z0-9_]*$/.exec(prefix)?.[0] ?? '';
  const range: Range = { start: { line: p.line, character: p.character - word.length }, end: p };
  const context: CompletionContext = { doc, p, prefix, range, item: itemMaker(range), model: input.model };
  return { isIncomplete: false, items: itemsFor(context) };
}

const PARAM_NAME_THEN_WORD =
  /^\s*(param|params|par|pars|p|parameter|parameters)\s+[A-Za-z_]\w*\s*(\[[^\]]*\])?\s+[A-Za-z_]*$/i;

/** Which completion the prefix asks for. */
function itemsFor(c: CompletionContext): CompletionItem[] {
  if (/^\s*@/.test(c.prefix)) return optionItems(c);
  if (/^\s*[A-Za-z_]*$/.test(c.prefix)) return [...keywordItems(c), ...equationItems(c)];
  // After a parameter's name: per-step / shared / the initialiser.
  if (PARAM_NAME_THEN_WORD.test(c.prefix)) return paramModifierItems(c);
  if (/~\s*[A-Za-z_]*$/.test(c.prefix)) return initialiserItems(c);
  return expressionItems(c);
}

/** `@` lines: keys, then values after `key=`. */
function optionItems(c: CompletionContext): CompletionItem[] {
  const value = /([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([A-Za-z0-9_.+-]*)$/.exec(c.prefix);
  if (value) {
    const key = normalizeKey(value[1]);
    const partial = value[2];
    const vrange: Range = { start: { line: c.p.line, character: c.p.character - partial.length }, end: c.p };
    return optionValues(c.doc, key, c.model).map((it) => ({
      ...it,
      textEdit: { range: vrange, newText: it.label },
    }));
  }
  return optionKeys().map((k) => {
    const d = OPTION_DOCS[k];
    return c.item(k, CompletionItemKind.Property, d?.detail, d?.doc, {
      insertText: `${k}=`,
      textEdit: { range: c.range, newText: `${k}=` },
      command: d?.values ? { title: 'Suggest values', command: 'editor.action.triggerSuggest' } : undefined,
    });
  });
}

/** Statement keywords, at the start of a line. */
function keywordItems(c: CompletionContext): CompletionItem[] {
  return Object.entries(KEYWORD_DOCS).map(([k, d]) =>
    c.item(
      k,
      CompletionItemKind.Keyword,
      d.detail,
      d.doc,
      d.snippet ? { insertTextFormat: InsertTextFormat.Snippet, textEdit: { range: c.range, newText: d.snippet } } : {},
    ),
  );
}

/** Equations of the declared states, at the start of a line. */
function equationItems(c: CompletionContext): CompletionItem[] {
  return c.doc.symbols.declarations
    .filter((d) => d.kind === 'state' && !d.implicit)
    .map((d) =>
      c.item(`${d.name}'`, CompletionItemKind.Snippet, `equation of ${declDetail(d)}`, undefined, {
        textEdit: { range: c.range, newText: `${d.name}' = ` },
        sortText: `1${d.name}`,
      }),
    );
}

function paramModifierItems(c: CompletionContext): CompletionItem[] {
  return [
    c.item(
      'per-step',
      CompletionItemKind.Keyword,
      'one copy per step',
      'One copy of the parameter per step (ResNet-like). Gradients of per-step copies can oscillate under weakly stable schemes.',
    ),
    c.item('shared', CompletionItemKind.Keyword, 'one copy for the whole solve (default)'),
  ];
}

/** After `~`: the random initialiser. */
function initialiserItems(c: CompletionContext): CompletionItem[] {
  return [
    c.item(
      'normal',
      CompletionItemKind.Function,
      'normal(mean, std)',
      'Random initialisation, deterministic for a given `@ seed=…`.',
      { insertTextFormat: InsertTextFormat.Snippet, textEdit: { range: c.range, newText: 'normal(${1:0}, ${2:0.1})' } },
    ),
  ];
}

/** Expressions: names in scope, then built-in functions. */
function expressionItems(c: CompletionContext): CompletionItem[] {
  const seen = new Set<string>();
  const items = [...argumentItems(c, seen), ...declarationItems(c, seen)];
  if (!seen.has('t')) items.push(c.item('t', CompletionItemKind.Variable, 'time', 'The time.', { sortText: '2t' }));
  items.push(...builtinItems(c, seen));
  items.push(
    c.item('if', CompletionItemKind.Keyword, 'if(c)then(a)else(b)', 'XPPAUT conditional, elementwise.', {
      sortText: '4if',
      insertTextFormat: InsertTextFormat.Snippet,
      textEdit: { range: c.range, newText: 'if(${1:c})then(${2:a})else(${3:b})' },
    }),
  );
  return items;
}

/**
 * The user function whose definition the cursor's logical line is. Only the first word of the
 * logical line matters, so do not lex the whole line (a continued equation can span hundreds of lines).
 */
function enclosingFunction(doc: ServiceDocument, p: Position): Declaration | undefined {
  const startLine = doc.logicalLineStart(p.line);
  const firstWord = /^[ \t]*[A-Za-z_]/.exec(doc.lineText(startLine));
  if (!firstWord) return undefined;
  return doc.symbols.declarations.find(
    (d) =>
      d.kind === 'function' &&
      d.nameRange.start.line === startLine &&
      d.nameRange.start.character === firstWord[0].length - 1,
  );
}

/** Inside a user function's definition, its arguments are in scope (added to `seen`). */
function argumentItems(c: CompletionContext, seen: Set<string>): CompletionItem[] {
  const fn = enclosingFunction(c.doc, c.p);
  if (!fn) return [];
  const items: CompletionItem[] = [];
  for (const a of c.doc.symbols.declarations) {
    if (a.kind !== 'argument' || a.container !== fn.key || seen.has(a.key)) continue;
    seen.add(a.key);
    items.push(
      c.item(a.name, CompletionItemKind.Variable, `argument of ${fn.name}`, undefined, { sortText: `0${a.name}` }),
    );
  }
  return items;
}

/** The declared names usable in an expression (added to `seen`). */
function declarationItems(c: CompletionContext, seen: Set<string>): CompletionItem[] {
  const items: CompletionItem[] = [];
  for (const d of c.doc.symbols.declarations) {
    if (d.kind === 'argument' || d.kind === 'aux' || d.kind === 'scheme' || seen.has(d.key)) continue;
    seen.add(d.key);
    if (d.kind === 'function') items.push(userFunctionItem(c, d));
    else items.push(c.item(d.name, KIND[d.kind], declDetail(d), undefined, { sortText: `1${d.name}` }));
  }
  return items;
}

function userFunctionItem(c: CompletionContext, d: Declaration): CompletionItem {
  const s = d.stmt?.kind === 'function' ? d.stmt : undefined;
  const sig = s ? signatureLabel({ name: s.name, params: s.params }) : `${d.name}()`;
  return c.item(
    d.name,
    CompletionItemKind.Function,
    `function ${sig}`,
    s ? `\`${c.doc.textOf(s.range).slice(0, 200)}\`` : undefined,
    { sortText: `1${d.name}` },
  );
}

/** The built-in functions no declaration shadows, as snippets with their parameters. */
function builtinItems(c: CompletionContext, seen: Set<string>): CompletionItem[] {
  return builtinFunctions()
    .filter((f) => !seen.has(f.name))
    .map((f) =>
      c.item(f.name, CompletionItemKind.Function, signatureLabel(f), f.doc, {
        sortText: `3${f.name}`,
        insertTextFormat: InsertTextFormat.Snippet,
        textEdit: { range: c.range, newText: `${f.name}(${f.params.map((x, i) => `\${${i + 1}:${x}}`).join(', ')})` },
      }),
    );
}

/** The values an option accepts: schemes (built-in and declared) with their order and stability, or an enumeration. */
function optionValues(doc: ServiceDocument, key: string, model?: Model): CompletionItem[] {
  const d = OPTION_DOCS[key];
  if (!d?.values) return [];
  const out: CompletionItem[] = [];
  if (key === 'meth' || key === 'start') {
    for (const name of d.values) {
      const s = schemeDescription(name, model);
      out.push({
        label: name,
        kind: CompletionItemKind.EnumMember,
        detail: schemeDetail(name, model),
        documentation: s ? { kind: MarkupKind.Markdown, value: `${s.summary}\n\n${s.documentation}` } : undefined,
      });
    }
    if (key === 'meth') {
      for (const decl of doc.symbols.declarations) {
        if (decl.kind !== 'scheme') continue;
        out.push({
          label: decl.name,
          kind: CompletionItemKind.Class,
          detail: `declared · ${schemeDetail(decl.name, model, 'order and stability unknown', decl.stmt?.kind === 'scheme' ? decl.stmt : undefined)}`,
          documentation: { kind: MarkupKind.Markdown, value: `\`${doc.textOf(decl.range).slice(0, 300)}\`` },
        });
      }
    }
    return out;
  }
  for (const v of d.values)
    out.push({
      label: v,
      kind: CompletionItemKind.EnumMember,
      detail: `${key}=${v}`,
      documentation: VALUE_DOCS[v] ? { kind: MarkupKind.Markdown, value: VALUE_DOCS[v] } : undefined,
    });
  return out;
}
