// Go to definition, find references, document highlight and rename, all from
// the symbol index. Names are case-insensitive: `W1` and `w1` are one symbol.
import {
  DocumentHighlightKind,
  type DocumentHighlight,
  type Location,
  type TextEdit,
  type WorkspaceEdit,
} from 'vscode-languageserver-types';
import type { Position, Range } from '../model';
import type { ServiceDocument } from './document';
import { keyOf, type Declaration, type Reference } from './symbols';
import { builtinFunction, RESERVED_NAMES } from './vocabulary';

function symbolAt(doc: ServiceDocument, p: Position): Reference | undefined {
  const r = doc.symbols.at(p.line, p.character);
  return r && r.role === 'symbol' && r.decl ? r : undefined;
}

/** Every declaration of the symbol (a duplicate declaration is one more). */
function declarationsOf(doc: ServiceDocument, d: Declaration): Declaration[] {
  if (d.kind === 'argument') return [d];
  return doc.symbols.byKey.get(d.key) ?? [d];
}

export function definition(doc: ServiceDocument, uri: string, p: Position): Location[] {
  const r = symbolAt(doc, p);
  if (!r) return [];
  return declarationsOf(doc, r.decl!).map((d) => ({ uri, range: d.nameRange }));
}

export function references(doc: ServiceDocument, uri: string, p: Position, includeDeclaration: boolean): Location[] {
  const r = symbolAt(doc, p);
  if (!r) return [];
  return doc.symbols
    .refsOf(r.decl!)
    .filter((x) => includeDeclaration || !x.isDeclaration)
    .map((x) => ({ uri, range: x.range }));
}

export function documentHighlight(doc: ServiceDocument, p: Position): DocumentHighlight[] {
  const r = symbolAt(doc, p);
  if (!r) return [];
  return doc.symbols
    .refsOf(r.decl!)
    .map((x) => ({ range: x.range, kind: x.isDeclaration ? DocumentHighlightKind.Write : DocumentHighlightKind.Read }));
}

export type RenameCheck = { range: Range; placeholder: string } | { error: string };

export function prepareRename(doc: ServiceDocument, p: Position): RenameCheck {
  const any = doc.symbols.at(p.line, p.character);
  if (!any) return { error: 'Nothing to rename here: place the cursor on a name declared in this file.' };
  if (any.role !== 'symbol' || !any.decl) {
    const what =
      any.role === 'builtin'
        ? 'a built-in'
        : any.role === 'keyword'
          ? 'a keyword'
          : any.role.startsWith('option')
            ? 'an option'
            : 'not declared in this file';
    return { error: `'${any.text}' cannot be renamed: it is ${what}.` };
  }
  return { range: any.range, placeholder: any.text };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `newName` cannot be used as a name, if it cannot (XPPAUT's one-letter abbreviations can be names). */
function reservedReason(newName: string): string | undefined {
  const k = keyOf(newName);
  if (builtinFunction(k)) return `'${newName}' is a built-in function`;
  if (RESERVED_NAMES.has(k)) return `'${newName}' is a keyword`;
  if (k === 't') return `'${newName}' is the time`;
  return undefined;
}

export type RenameResult = { edit: WorkspaceEdit } | { error: string };

export function rename(doc: ServiceDocument, uri: string, p: Position, newName: string): RenameResult {
  const check = prepareRename(doc, p);
  if ('error' in check) return check;
  const decl = symbolAt(doc, p)!.decl!;
  if (!NAME.test(newName))
    return { error: `'${newName}' is not a valid name: use letters, digits and _, starting with a letter or _.` };
  const reserved = reservedReason(newName);
  if (reserved) return { error: `Cannot rename '${decl.name}' to '${newName}': ${reserved}.` };
  const k = keyOf(newName);
  if (k !== decl.key) {
    // Names are case-insensitive, so a clash ignores case too.
    const clash =
      decl.kind === 'argument'
        ? (doc.symbols.declarations.find(
            (d) => d.kind === 'argument' && d.container === decl.container && d.key === k,
          ) ?? doc.symbols.byKey.get(k)?.[0])
        : (doc.symbols.byKey.get(k)?.[0] ?? argumentsCapturing(doc, decl, k));
    if (clash) {
      const what =
        clash.kind === 'argument'
          ? `an argument of function '${clash.container}'`
          : `the ${clash.kind} '${clash.name}'`;
      return {
        error: `Cannot rename '${decl.name}' to '${newName}': it would clash with ${what} (line ${clash.nameRange.start.line + 1}). Names are case-insensitive.`,
      };
    }
  }
  const edits: TextEdit[] = doc.symbols.refsOf(decl).map((r) => ({ range: r.range, newText: newName }));
  return { edit: { changes: { [uri]: edits } } };
}

/** A user-function argument named `k` in a body that uses `decl` would capture it. */
function argumentsCapturing(doc: ServiceDocument, decl: Declaration, k: string): Declaration | undefined {
  const users = new Set(doc.symbols.refsOf(decl).map((r) => r.range.start.line));
  return doc.symbols.declarations.find(
    (d) => d.kind === 'argument' && d.key === k && users.has(d.nameRange.start.line),
  );
}
