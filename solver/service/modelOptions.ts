// The model's options (steps, meth, tie, …) read from the syntax tree, so
// hovers can say how many copies a per-step parameter has even when the file
// has errors elsewhere.
import type { Model, ModelOptions, OptionLine } from '../model';
import { DEFAULT_OPTIONS, resolveOptions } from '../language/options';
import { isXppautStyle } from '../language/xppautStyle';
import type { ServiceDocument } from './document';

const cache = new WeakMap<ServiceDocument, ModelOptions>();

function optionLines(doc: ServiceDocument): OptionLine[] {
  const out: OptionLine[] = [];
  for (const s of doc.statements) if (s.kind === 'options') out.push(s.line);
  return out;
}

export function effectiveOptions(doc: ServiceDocument, model?: Model): ModelOptions {
  if (model) return model.options;
  let o = cache.get(doc);
  if (!o) {
    try {
      o = resolveOptions(optionLines(doc), [], new Map(), isXppautStyle(doc.statements));
    } catch {
      o = { ...DEFAULT_OPTIONS };
    }
    cache.set(doc, o);
  }
  return o;
}
