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
    else if (c === '#' && !inString) return true;
  }
  return inString;
}

export function completion(doc: ServiceDocument, position: Position, input: CompletionInput = {}): CompletionList {
  const p = doc.clamp(position); // the items' edit ranges must lie in the text
  const { text: prefix } = prefixOf(doc, p);
  const empty: CompletionList = { isIncomplete: false, items: [] };
  if (inCommentOrString(prefix)) return empty;
  const word = /[A-Za-z_][A-Za-z0-9_]*$/.exec(prefix)?.[0] ?? '';
  const range: Range = { start: { line: p.line, character: p.character - word.length }, end: p };
  const item = (
    label: string,
    kind: CompletionItemKind,
    detail?: string,
    doc?: string,
    extra: Partial<CompletionItem> = {},
  ): CompletionItem => ({
    label,
    kind,
    detail,
    documentation: doc ? { kind: MarkupKind.Markdown, value: doc } : undefined,
    textEdit: { range, newText: label },
    ...extra,
  });

  // `@` lines: keys, then values after `key=`.
  const at = /^\s*@/.exec(prefix);
  if (at) {
    const value = /([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([A-Za-z0-9_.+-]*)$/.exec(prefix);
    if (value) {
      const key = value[1].toLowerCase() === 'method' ? 'meth' : value[1].toLowerCase();
      const partial = value[2];
      const vrange: Range = { start: { line: p.line, character: p.character - partial.length }, end: p };
      return {
        isIncomplete: false,
        items: optionValues(doc, key, input.model).map((it) => ({
          ...it,
          textEdit: { range: vrange, newText: it.label },
        })),
      };
    }
    const items = optionKeys().map((k) => {
      const d = OPTION_DOCS[k];
      return item(k, CompletionItemKind.Property, d?.detail, d?.doc, {
        insertText: `${k}=`,
        textEdit: { range, newText: `${k}=` },
        command: d?.values ? { title: 'Suggest values', command: 'editor.action.triggerSuggest' } : undefined,
      });
    });
    return { isIncomplete: false, items };
  }

  const items: CompletionItem[] = [];
  const atLineStart = /^\s*[A-Za-z_]*$/.test(prefix);
  if (atLineStart) {
    for (const [k, d] of Object.entries(KEYWORD_DOCS)) {
      items.push(
        item(
          k,
          CompletionItemKind.Keyword,
          d.detail,
          d.doc,
          d.snippet ? { insertTextFormat: InsertTextFormat.Snippet, textEdit: { range, newText: d.snippet } } : {},
        ),
      );
    }
    // Equations of the declared states.
    for (const d of doc.symbols.declarations) {
      if (d.kind === 'state' && !d.implicit)
        items.push(
          item(`${d.name}'`, CompletionItemKind.Snippet, `equation of ${declDetail(d)}`, undefined, {
            textEdit: { range, newText: `${d.name}' = ` },
            sortText: `1${d.name}`,
          }),
        );
    }
    return { isIncomplete: false, items };
  }

  // After a parameter's name: per-step / shared / the initialiser.
  if (/^\s*(param|params|par|pars|p|parameter|parameters)\s+[A-Za-z_]\w*\s*(\[[^\]]*\])?\s+[A-Za-z_]*$/i.test(prefix)) {
    items.push(
      item(
        'per-step',
        CompletionItemKind.Keyword,
        'one copy per step',
        'One copy of the parameter per step (ResNet-like). Gradients of per-step copies can oscillate under weakly stable schemes.',
      ),
    );
    items.push(item('shared', CompletionItemKind.Keyword, 'one copy for the whole solve (default)'));
    return { isIncomplete: false, items };
  }
  if (/~\s*[A-Za-z_]*$/.test(prefix)) {
    items.push(
      item(
        'normal',
        CompletionItemKind.Function,
        'normal(mean, std)',
        'Random initialisation, deterministic for a given `@ seed=…`.',
        { insertTextFormat: InsertTextFormat.Snippet, textEdit: { range, newText: 'normal(${1:0}, ${2:0.1})' } },
      ),
    );
    return { isIncomplete: false, items };
  }

  // Expressions: names in scope, then built-in functions.
  const seen = new Set<string>();
  // Inside a user function's definition, its arguments are in scope. Only the first word of the
  // logical line matters, so do not lex the whole line (a continued equation can span hundreds of lines).
  const startLine = doc.logicalLineStart(p.line);
  const firstWord = /^[ \t]*[A-Za-z_]/.exec(doc.lineText(startLine));
  const fnHere =
    firstWord &&
    doc.symbols.declarations.find(
      (d) =>
        d.kind === 'function' &&
        d.nameRange.start.line === startLine &&
        d.nameRange.start.character === firstWord[0].length - 1,
    );
  if (fnHere) {
    for (const a of doc.symbols.declarations) {
      if (a.kind === 'argument' && a.container === fnHere.key && !seen.has(a.key)) {
        seen.add(a.key);
        items.push(
          item(a.name, CompletionItemKind.Variable, `argument of ${fnHere.name}`, undefined, {
            sortText: `0${a.name}`,
          }),
        );
      }
    }
  }
  for (const d of doc.symbols.declarations) {
    if (d.kind === 'argument' || d.kind === 'aux' || d.kind === 'scheme' || seen.has(d.key)) continue;
    seen.add(d.key);
    if (d.kind === 'function') {
      const s = d.stmt?.kind === 'function' ? d.stmt : undefined;
      const sig = s ? signatureLabel({ name: s.name, params: s.params }) : `${d.name}()`;
      items.push(
        item(
          d.name,
          CompletionItemKind.Function,
          `function ${sig}`,
          s ? `\`${doc.textOf(s.range).slice(0, 200)}\`` : undefined,
          { sortText: `1${d.name}` },
        ),
      );
    } else {
      items.push(item(d.name, KIND[d.kind], declDetail(d), undefined, { sortText: `1${d.name}` }));
    }
  }
  if (!seen.has('t')) items.push(item('t', CompletionItemKind.Variable, 'time', 'The time.', { sortText: '2t' }));
  for (const f of builtinFunctions()) {
    if (seen.has(f.name)) continue;
    items.push(
      item(f.name, CompletionItemKind.Function, signatureLabel(f), f.doc, {
        sortText: `3${f.name}`,
        insertTextFormat: InsertTextFormat.Snippet,
        textEdit: { range, newText: `${f.name}(${f.params.map((x, i) => `\${${i + 1}:${x}}`).join(', ')})` },
      }),
    );
  }
  items.push(
    item('if', CompletionItemKind.Keyword, 'if(c)then(a)else(b)', 'XPPAUT conditional, elementwise.', {
      sortText: '4if',
      insertTextFormat: InsertTextFormat.Snippet,
      textEdit: { range, newText: 'if(${1:c})then(${2:a})else(${3:b})' },
    }),
  );
  return { isIncomplete: false, items };
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
