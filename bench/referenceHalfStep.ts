// The continuous reference with per-step copies that differ, reported against measured error: the check's
// reference (half the step, RK4's error in t from its own pairs of steps: engine/timeQuadrature.ts), the
// usual grid alone, and the rule it replaced (the usual grid's solve, then half the step, a third of their
// difference), each against the same θ(t) solved k× finer (default 8). One line per case d,width,N,copies[,k]
// (copies: seeded, smooth, independent as bench/referenceCopies.ts draws them, or pytorch as the bench against
// PyTorch draws them):
//   esbuild bench/referenceHalfStep.ts --bundle --platform=node --format=cjs --outfile=out/bench/referenceHalfStep.js
//   node out/bench/referenceHalfStep.js 2,32,256,independent 64,256,256,pytorch 2,128,8192,independent,4
import { loadavg } from 'node:os';
import { analyse } from '../solver/language/index';
import { initBackend } from '../solver/engine/backend';
import { initialParameters } from '../solver/engine/parameters';
import { compileModel } from '../solver/engine/compile';
import { continuousReference, referenceOn, referenceOnHalfStep, type ReferenceInput } from '../solver/engine/reference';
import { relError } from '../solver/engine/detect';
import { generated } from './generatedModel';
import { copiesOf, referenceInput, type CopiesKind } from './referenceCopies';
import { parameterValues } from './pytorch/comparison';

const e = (x: number | undefined) => (x === undefined ? '–' : x.toExponential(2));

async function main() {
  const { tf } = await initBackend('cpu');
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  for (const c of process.argv.slice(2)) {
    const [d, width, N, kind, k] = c.split(',');
    const model = analyse(generated(Number(width), Number(N), 'leapfrog', Number(d))).model!;
    const { compiled } = compileModel(tf, model);
    try {
      const seeded = initialParameters(tf, model);
      const values =
        kind === 'pytorch'
          ? parameterValues(model, seeded, 'independent')
          : copiesOf(model, seeded, kind as CopiesKind);
      const inp = referenceInput(model, values);
      const finer: ReferenceInput = { ...inp, N: Number(k ?? 8) * inp.N, h: inp.h / Number(k ?? 8) };
      let t = performance.now();
      const half = referenceOnHalfStep(tf, compiled, inp);
      const halfMs = performance.now() - t;
      t = performance.now();
      const usual = referenceOn(tf, compiled, inp, 1);
      // The rule before: the usual grid's solve, then half the step, at least a third of their difference.
      const twice = referenceOn(tf, compiled, { ...inp, N: 2 * inp.N, h: inp.h / 2 }, 1);
      const twoSolvesMs = performance.now() - t;
      const apartOf = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((g, i) => relError(g, b[i])));
      const rule = Math.max(twice.referenceError, apartOf(usual.g, twice.g) / 3);
      const fine = continuousReference(tf, compiled, finer);
      const measured = (g: Float32Array[]) => apartOf(g, fine.g);
      console.log(
        `${c}: half the step measured ${e(measured(half.g))}, reported ${e(half.referenceError)} (in t ${e(half.timeError)}; ${halfMs.toFixed(0)} ms); ` +
          `the two-solve rule ${e(rule)} (~${twoSolvesMs.toFixed(0)} ms); usual grid measured ${e(measured(usual.g))}, reported ${e(usual.referenceError)}; ` +
          `the finer solve's own ${e(fine.referenceError)}`,
      );
    } finally {
      compiled.dispose();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
