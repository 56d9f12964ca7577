// Scheme facts for completion and hover, from the scheme analysis
// (describeScheme). When the analysis knows nothing about a name, the service
// still offers it, with a plain detail.
import type { Model, SchemeDecl } from '../model';
import type { SchemeStmt } from '../language/ast';
import { constTensor } from '../language/checker';
import type { ServiceDocument } from './document';
import { describeScheme, type SchemeDescription, type Stability } from '../schemes/analysis';

function stabilityText(s: Stability): string {
  return s === 'strong' ? 'strongly stable' : s === 'weak' ? 'weakly stable' : 'unstable';
}

/**
 * A declared scheme's coefficients read from the syntax tree (constant
 * coefficients only), so that its order and stability show even when the file
 * does not check.
 */
function schemeDeclFromSyntax(s: SchemeStmt): SchemeDecl | undefined {
  const get = (key: string) => {
    const c = s.coeffs.find((x) => x.key.toLowerCase() === key);
    return c ? constTensor(c.value) : undefined;
  };
  const vec = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
  const mat = (v: unknown): v is number[][] => Array.isArray(v) && v.every(vec);
  try {
    if (s.family === 'rk') {
      const a = get('a'),
        b = get('b'),
        c = get('c');
      if (mat(a) && vec(b) && vec(c))
        return { kind: 'rk', name: s.name, a, b, c, range: s.range, nameRange: s.nameRange };
    } else {
      const alpha = get('alpha'),
        beta = get('beta');
      if (vec(alpha) && vec(beta))
        return { kind: 'lmm', name: s.name, alpha, beta, range: s.range, nameRange: s.nameRange };
    }
  } catch {
    /* not constant */
  }
  return undefined;
}

/** The `scheme` statement that declares `name` in this document, if any. */
export function schemeSyntax(doc: ServiceDocument, name: string): SchemeStmt | undefined {
  const d = doc.symbols.byKey.get(name.toLowerCase())?.find((x) => x.kind === 'scheme');
  return d?.stmt?.kind === 'scheme' ? d.stmt : undefined;
}

export function schemeDescription(name: string, model?: Model, syntax?: SchemeStmt): SchemeDescription | undefined {
  const k = name.toLowerCase();
  const decl: SchemeDecl | undefined =
    model?.schemes?.find((s) => s.name.toLowerCase() === k) ?? (syntax ? schemeDeclFromSyntax(syntax) : undefined);
  try {
    return describeScheme(decl ? decl.name : k, decl);
  } catch {
    return undefined;
  }
}

/** One line: "explicit RK · order 4 · strongly stable", or a fallback. */
export function schemeDetail(name: string, model?: Model, fallback = 'built-in scheme', syntax?: SchemeStmt): string {
  const d = schemeDescription(name, model, syntax);
  if (!d) return fallback;
  if (d.kind === 'map') return 'map iteration · no continuous reference';
  return `${d.kind === 'rk' ? 'Runge–Kutta' : 'multistep'} · order ${d.order} · ${stabilityText(d.stability)}`;
}

export function schemeMarkdown(name: string, model?: Model, fallback?: string, syntax?: SchemeStmt): string {
  const d = schemeDescription(name, model, syntax);
  if (!d) return `**scheme \`${name}\`**${fallback ? `\n\n${fallback}` : ''}`;
  return [
    `**scheme \`${d.name}\`** · ${schemeDetail(name, model, undefined, syntax)}`,
    '',
    d.summary,
    '',
    d.documentation,
    ...(fallback ? ['', fallback] : []),
  ].join('\n');
}
