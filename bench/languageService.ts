// Language-service latency on the generated 2,000-line model (issue 3 target:
// completion and hover ≤ 10 ms). "warm": a request on a document version the
// service has already indexed (the server caches one parse per version);
// "after edit": the server's path — didChange has already run analyseDocument
// on the new version (timed on its own as analyseMs), and the request reuses
// its syntax tree (symbol index + answer); "cold": the service used standalone
// on a new version (its own parse + symbol index + answer).
import { analyseDocument } from '../solver/language/index';
import { completion, hover, ServiceDocument } from '../solver/service/index';
import { largeModelText } from './largeModel';

export interface LanguageServiceTimings {
  lines: number;
  /** Medians in milliseconds. */
  completionWarmMs: number;
  hoverWarmMs: number;
  completionColdMs: number;
  hoverColdMs: number;
  /** First request on a new version, excluding the analyse that didChange already did. */
  completionAfterEditMs: number;
  hoverAfterEditMs: number;
  /** analyseDocument (parse + check) of the edited text: what didChange costs. */
  analyseMs: number;
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

  const reused = analyseDocument(text).syntax;
  if (!reused) throw new Error('analyseDocument returned no syntax tree');
  check(new ServiceDocument(text, 0, reused));

  // Each path in its own loop, so one path's garbage is not collected during another's timing.
  const warmDoc = new ServiceDocument(text, 1);
  check(warmDoc);
  const completionWarm: number[] = [],
    hoverWarm: number[] = [];
  for (let i = 0; i < runs; i++) {
    completionWarm.push(timeMs(() => completion(warmDoc, completeAt)));
    hoverWarm.push(timeMs(() => hover(warmDoc, hoverAt)));
  }
  // The server: an edit makes a new version, didChange analyses it (timed on its own), then a request
  // arrives and reuses that syntax tree. One edit before the completion, another before the hover.
  const completionAfterEdit: number[] = [],
    hoverAfterEdit: number[] = [],
    analyseTimes: number[] = [];
  let version = 2;
  const edit = (): { doc: () => ServiceDocument } => {
    const edited = `${text}\n# edit ${version}`;
    const v = version++;
    let analysed: ReturnType<typeof analyseDocument> | undefined;
    analyseTimes.push(
      timeMs(() => {
        analysed = analyseDocument(edited);
      }),
    );
    const syntax = analysed?.syntax;
    if (!syntax) throw new Error('analyseDocument returned no syntax tree');
    return { doc: () => new ServiceDocument(edited, v, syntax) };
  };
  for (let i = 0; i < runs; i++) {
    const c = edit();
    completionAfterEdit.push(timeMs(() => completion(c.doc(), completeAt)));
    const h = edit();
    hoverAfterEdit.push(timeMs(() => hover(h.doc(), hoverAt)));
  }
  // The service used standalone on a new version: its own parse, nothing cached.
  const completionCold: number[] = [],
    hoverCold: number[] = [];
  for (let i = 0; i < runs; i++) {
    const edited = `${text}\n# edit ${version}`;
    const v = version++;
    completionCold.push(timeMs(() => completion(new ServiceDocument(edited, v), completeAt)));
    hoverCold.push(timeMs(() => hover(new ServiceDocument(edited, v), hoverAt)));
  }
  return {
    lines: lines.length,
    completionWarmMs: median(completionWarm),
    hoverWarmMs: median(hoverWarm),
    completionColdMs: median(completionCold),
    hoverColdMs: median(hoverCold),
    completionAfterEditMs: median(completionAfterEdit),
    hoverAfterEditMs: median(hoverAfterEdit),
    analyseMs: median(analyseTimes),
    runs,
  };
}
