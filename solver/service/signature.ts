// Signature help for built-in and user functions: the innermost open call
// before the cursor, and which argument the cursor is in.
import { MarkupKind, type SignatureHelp, type SignatureInformation } from 'vscode-languageserver-types';
import type { Position } from '../model';
import { tokenize } from '../language/lexer';
import type { ServiceDocument } from './document';
import { keyOf } from './symbols';
import { builtinFunction, signatureLabel } from './vocabulary';

function info(name: string, params: string[], doc: string): SignatureInformation {
  return {
    label: signatureLabel({ name, params }),
    documentation: doc ? { kind: MarkupKind.Markdown, value: doc } : undefined,
    parameters: params.map((p) => ({ label: p })),
  };
}

export function signatureHelp(doc: ServiceDocument, p: Position): SignatureHelp | undefined {
  const start = doc.logicalLineStart(p.line);
  const parts: string[] = [];
  for (let l = start; l < p.line; l++) parts.push(doc.lineText(l).replace(/\\[ \t]*$/, ' '));
  parts.push(doc.lineText(p.line).slice(0, p.character));
  const prefix = parts.join('');
  if (/^\s*@/.test(prefix)) return undefined;
  // Innermost open bracket: calls record their callee, vectors record none.
  const stack: { callee?: string; commas: number }[] = [];
  let prev: { kind: string; text: string } | undefined;
  for (const t of tokenize(prefix)) {
    if (t.kind === 'punct') {
      if (t.text === '(') stack.push({ callee: prev?.kind === 'ident' ? prev.text : undefined, commas: 0 });
      else if (t.text === '[') stack.push({ commas: 0 });
      else if ((t.text === ')' || t.text === ']') && stack.length) stack.pop();
      else if (t.text === ',' && stack.length) stack[stack.length - 1].commas++;
    }
    if (t.kind !== 'newline' && t.kind !== 'eof') prev = t;
  }
  for (let i = stack.length - 1; i >= 0; i--) {
    const frame = stack[i];
    if (!frame.callee) continue;
    const sig = signatureOf(doc, frame.callee);
    if (!sig) {
      if (i === stack.length - 1) return undefined;
      continue;
    }
    return {
      signatures: [sig],
      activeSignature: 0,
      activeParameter: Math.min(frame.commas, Math.max(0, (sig.parameters?.length ?? 1) - 1)),
    };
  }
  return undefined;
}

function signatureOf(doc: ServiceDocument, callee: string): SignatureInformation | undefined {
  const k = keyOf(callee);
  const user = doc.symbols.byKey.get(k)?.find((d) => d.kind === 'function');
  if (user && user.stmt?.kind === 'function') {
    const s = user.stmt;
    return info(s.name, s.params, `\`${doc.textOf(s.range).slice(0, 300)}\``);
  }
  const state = doc.symbols.byKey.get(k)?.find((d) => d.kind === 'state');
  if (state)
    return info(
      state.name,
      ['T'],
      `\`${state.name}(T)\`: the state at the final time; \`${state.name}(obs)\`: at the times of data set \`obs\` (in a loss).`,
    );
  if (k === 'normal')
    return info('normal', ['mean', 'std'], 'Random initialisation, deterministic for a given `@ seed=…`.');
  if (k === 'if') return info('if', ['condition'], '`if(c)then(a)else(b)`: `a` where `c` is nonzero, else `b`.');
  const f = builtinFunction(k);
  return f ? info(f.name, f.params, f.doc) : undefined;
}
