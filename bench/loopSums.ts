// Bundle with esbuild (platform node) and run: node loopSums.js [--separated] FILE.ode…
// One evaluation of a model's fused program (engine/scalarRhs.ts) and one full reverse pass, with the sums of
// its indexed sums and network functions as loop instructions and written out term by term (the same model
// with the sums' term counts removed, which is what the program was before loops). CPU time of the process
// (process.cpuUsage, so that other jobs on the machine count less than in wall time), the best of three
// alternating rounds of 0.7 s each. Prints per file: instructions written out and with loops, forward µs
// (written out, loops, ratio), reverse µs (written out, loops, ratio).
// --separated: the sums as written (loops, language/separableSums.ts off) against the model as checked (its
// separable sums separated), in the same columns.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { analyse } from '../solver/language';
import { compileScalarProgram } from '../solver/engine/scalarRhs';
import { interpreterOf, WANT_BOTH } from '../solver/engine/programInterpreter';
import type { Model } from '../solver/model';
import { writtenOut } from '../test/support/writtenOut';

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Best forward and reverse CPU ms per call over rounds of `ms` each. */
function measure(m: Model, best: { fw: number; rv: number; size: number }, ms: number) {
  const p = compileScalarProgram(m);
  if (!p) throw new Error('the model has no fused program');
  const it = interpreterOf(p);
  const s = Float64Array.from({ length: p.states }, (_x, i) => Math.fround(Math.sin(i))),
    q = new Float64Array(p.params).fill(0.3),
    cot = Float64Array.from({ length: p.states }, (_x, i) => Math.cos(i));
  const v = new Float64Array(p.code.length),
    adj = new Float64Array(p.code.length),
    vs = new Float64Array(p.states),
    vp = new Float64Array(p.params);
  let t0 = cpuMs(),
    n = 0;
  while (cpuMs() - t0 < ms) {
    it.forward(s, 0, q, 0, v);
    n++;
  }
  best.fw = Math.min(best.fw, (cpuMs() - t0) / n);
  t0 = cpuMs();
  n = 0;
  while (cpuMs() - t0 < ms) {
    it.reverse(v, cot, vs, vp, adj, WANT_BOTH);
    n++;
  }
  best.rv = Math.min(best.rv, (cpuMs() - t0) / n);
  best.size = p.code.length;
}

const separated = process.argv.includes('--separated');
const [before, after] = separated ? ['as written', 'separated'] : ['written out', 'loops'];
console.log(
  `file\tinstructions ${before}\t${after}\tforward µs ${before}\t${after}\tratio\treverse µs ${before}\t${after}\tratio`,
);
for (const file of process.argv.slice(2).filter((x) => x !== '--separated')) {
  const text = readFileSync(file, 'utf8');
  const a = analyse(text, { documentPath: resolve(file) });
  const asWritten = separated ? analyse(text, { documentPath: resolve(file), separateSums: false }).model : a.model;
  if (!a.model || !asWritten) {
    console.log(`${file}\tno model`);
    continue;
  }
  const flat = { fw: Infinity, rv: Infinity, size: 0 },
    loops = { fw: Infinity, rv: Infinity, size: 0 };
  const plain = separated ? asWritten : writtenOut(a.model);
  for (let round = 0; round < 3; round++) {
    measure(plain, flat, 700);
    measure(a.model, loops, 700);
  }
  const us = (x: number) => (x * 1000).toFixed(0);
  console.log(
    [
      file,
      flat.size,
      loops.size,
      us(flat.fw),
      us(loops.fw),
      (flat.fw / loops.fw).toFixed(2),
      us(flat.rv),
      us(loops.rv),
      (flat.rv / loops.rv).toFixed(2),
    ].join('\t'),
  );
}
