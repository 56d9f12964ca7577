// Semantic tokens: states, parameters, functions, keywords, numbers,
// operators, options, from the same classification the symbol index makes.
import type { SemanticTokens, SemanticTokensLegend } from 'vscode-languageserver-types';
import type { ServiceDocument } from './document';
import type { DeclKind, Reference } from './symbols';

const TYPES = [
  'keyword',
  'number',
  'operator',
  'variable',
  'parameter',
  'function',
  'property',
  'enumMember',
  'string',
  'type',
] as const;
const MODIFIERS = ['declaration', 'readonly', 'defaultLibrary'] as const;
type TokenType = (typeof TYPES)[number];

export const SEMANTIC_TOKENS_LEGEND: SemanticTokensLegend = { tokenTypes: [...TYPES], tokenModifiers: [...MODIFIERS] };

const T = (t: TokenType) => TYPES.indexOf(t);
const M_DECLARATION = 1,
  M_READONLY = 2,
  M_DEFAULT_LIBRARY = 4;

const DECL_TYPE: Record<DeclKind, [TokenType, number]> = {
  state: ['variable', 0],
  param: ['parameter', 0],
  number: ['variable', M_READONLY],
  fixed: ['variable', M_READONLY],
  function: ['function', 0],
  aux: ['variable', 0],
  data: ['variable', M_READONLY],
  scheme: ['type', 0],
  algebraic: ['variable', 0],
  opaque: ['variable', 0],
  argument: ['parameter', 0],
};

const NOT_OPERATORS = new Set(['(', ')', '[', ']', ',', ';']);

function classify(r: Reference): [number, number] | undefined {
  switch (r.role) {
    case 'symbol': {
      if (!r.decl) return undefined;
      const [t, m] = DECL_TYPE[r.decl.kind];
      return [T(t), m | (r.isDeclaration ? M_DECLARATION : 0)];
    }
    case 'keyword':
      return [T('keyword'), 0];
    case 'builtin':
      return r.key === 't' || r.key === 'pi'
        ? [T('variable'), M_READONLY | M_DEFAULT_LIBRARY]
        : [T('function'), M_DEFAULT_LIBRARY];
    case 'optionKey':
      return [T('property'), 0];
    case 'optionValue':
      return [T('enumMember'), 0];
    case 'unresolved':
      return undefined;
  }
}

export function semanticTokens(doc: ServiceDocument): SemanticTokens {
  const refAt = new Map<string, Reference>();
  for (const r of doc.symbols.refs) refAt.set(`${r.range.start.line}:${r.range.start.character}`, r);
  const data: number[] = [];
  let prevLine = 0,
    prevChar = 0;
  const emit = (line: number, char: number, length: number, type: number, mods: number) => {
    data.push(line - prevLine, line === prevLine ? char - prevChar : char, length, type, mods);
    prevLine = line;
    prevChar = char;
  };
  for (const toks of doc.tokenLines) {
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i];
      const len = t.end - t.col;
      switch (t.kind) {
        case 'number':
          emit(t.line, t.col, len, T('number'), 0);
          break;
        case 'string':
          emit(t.line, t.col, len, T('string'), 0);
          break;
        case 'punct':
          if (i === 0 && t.text === '@') emit(t.line, t.col, len, T('keyword'), 0);
          else if (!NOT_OPERATORS.has(t.text)) emit(t.line, t.col, len, T('operator'), 0);
          break;
        case 'ident': {
          const r = refAt.get(`${t.line}:${t.col}`) ?? refAt.get(`${t.line}:${t.col + 1}`);
          if (!r) break;
          const c = classify(r);
          if (c)
            emit(
              r.range.start.line,
              r.range.start.character,
              r.range.end.character - r.range.start.character,
              c[0],
              c[1],
            );
          break;
        }
      }
    }
  }
  return { data };
}
