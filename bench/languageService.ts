// Language-service latency on the generated 2,000-line model (issue 3 target:
// completion and hover ≤ 10 ms). "warm": a request on a document version the
// service has already indexed (the server caches one parse per version);
// "cold": the first request after an edit (parse + symbol index + answer).
import { completion, hover, ServiceDocument } from '../solver/service/index';
import { largeModelText } from './largeModel';

export interface LanguageServiceTimings {
  lines: number;
  /** Medians in milliseconds. */
  completionWarmMs: number;
  hoverWarmMs: number;
  completionColdMs: number;
  hoverColdMs: number;
  runs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timeMs(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

export function benchLanguageService(runs = 21): LanguageServiceTimings {
  const text = largeModelText();
  const lines = text.split('\n');
  // In the middle of the long continued equation: an expression position, and a parameter to hover.
  const line = lines.findIndex((l) => l.includes('tanh(W300 '));
  const completeAt = { line, character: lines[line].indexOf('tanh(W300') + 5 };
  const hoverAt = { line, character: lines[line].indexOf('W300') + 1 };
  const check = (doc: ServiceDocument) => {
    if (completion(doc, completeAt).items.length < 1000) throw new Error('completion lost the names in scope');
    if (!hover(doc, hoverAt)?.markdown.includes('W300')) throw new Error('hover lost the parameter');
  };
  check(new ServiceDocument(text));

  const warmDoc = new ServiceDocument(text, 1);
  check(warmDoc);
  const completionWarm: number[] = [], hoverWarm: number[] = [], completionCold: number[] = [], hoverCold: number[] = [];
  for (let i = 0; i < runs; i++) {
    completionWarm.push(timeMs(() => completion(warmDoc, completeAt)));
    hoverWarm.push(timeMs(() => hover(warmDoc, hoverAt)));
    // A new version of the text: nothing cached.
    const edited = `${text}\n# edit ${i}`;
    completionCold.push(timeMs(() => completion(new ServiceDocument(edited, i + 2), completeAt)));
    hoverCold.push(timeMs(() => hover(new ServiceDocument(edited, i + 2), hoverAt)));
  }
  return {
    lines: lines.length,
    completionWarmMs: median(completionWarm),
    hoverWarmMs: median(hoverWarm),
    completionColdMs: median(completionCold),
    hoverColdMs: median(hoverCold),
    runs,
  };
}
