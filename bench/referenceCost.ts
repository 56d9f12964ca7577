// The continuous reference's cost against the model's own forward+backward, in one process, for
// seeded copies (all equal), smooth copies (a drift in t, as training leaves them) and independent
// random copies (every copy its own draw: the zig-zag case). Per row of the size grid: the engine's
// AD pass (one forward+backward), the reference alone, the full check, their ratios (medians over
// interleaved runs), and the reference's certified error; for MLP fields also the reference on the tensor
// passes its plain-JS passes replace (engine/fusedMlp/reference.ts), interleaved with it.
//   esbuild bench/referenceCost.ts --bundle --platform=node --format=cjs --outfile=out/bench/referenceCost.js
//   node --expose-gc out/bench/referenceCost.js [--runs 5] [--size d,width,N] [--copies seeded,smooth,independent]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { analyse } from '../solver/language/index';
import { runCheck } from '../solver/check';
import { initBackend } from '../solver/engine/backend';
import { compileModel } from '../solver/engine/compile';
import { discreteGradients } from '../solver/engine/discrete';
import { initialParameters } from '../solver/engine/parameters';
import { continuousReference } from '../solver/engine/reference';
import { schemeOf } from '../solver/schemes/schemes';
import { generated } from './generatedModel';
import { copiesOf, referenceInput, type CopiesKind } from './referenceCopies';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface ReferenceCostRow {
  d: number;
  width: number;
  N: number;
  copies: CopiesKind;
  fwdBwdMs: number;
  referenceMs: number;
  /** The reference with an MLP field's plain-JS passes off (engine/fusedMlp/reference.ts): the tensor passes, interleaved. */
  tensorPassesMs: number;
  checkMs: number;
  referenceRatio: number;
  checkRatio: number;
  referenceError: number;
  gridSteps: number;
}

export async function referenceCost(d: number, width: number, N: number, kind: CopiesKind, runs: number) {
  const { tf } = await initBackend('cpu');
  const model = analyse(generated(width, N, 'leapfrog', d)).model!;
  const { compiled: cm } = compileModel(tf, model);
  const scheme = schemeOf(model);
  const values = copiesOf(model, initialParameters(tf, model), kind);
  const inp = referenceInput(model, values);
  const fwdBwd = () => discreteGradients(tf, cm, scheme, model, values);
  const reference = () => continuousReference(tf, cm, inp);
  const tensorPasses = () => continuousReference(tf, { ...cm, mlp: undefined }, inp);
  const check = () => runCheck(model, { backend: 'cpu', parameterValues: values });
  (globalThis as { gc?: () => void }).gc?.();
  fwdBwd();
  reference();
  await check();
  const f: number[] = [],
    r: number[] = [],
    tp: number[] = [],
    c: number[] = [];
  let last = reference();
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    fwdBwd();
    f.push(performance.now() - t);
    t = performance.now();
    last = reference();
    r.push(performance.now() - t);
    t = performance.now();
    tensorPasses();
    tp.push(performance.now() - t);
    t = performance.now();
    await check();
    c.push(performance.now() - t);
  }
  const row: ReferenceCostRow = {
    d,
    width,
    N,
    copies: kind,
    fwdBwdMs: median(f),
    referenceMs: median(r),
    tensorPassesMs: median(tp),
    checkMs: median(c),
    referenceRatio: median(r.map((x, i) => x / f[i])),
    checkRatio: median(c.map((x, i) => x / f[i])),
    referenceError: last.referenceError,
    gridSteps: last.gridTimes.length - 1,
  };
  return row;
}

async function main() {
  const { values: o } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, size: { type: 'string' }, copies: { type: 'string' } },
  });
  const runs = Number(o.runs);
  const sizes: [number, number, number][] = o.size
    ? [o.size.split(',').map(Number) as [number, number, number]]
    : [
        [2, 16, 64],
        [2, 128, 1024],
        [64, 256, 256],
        [2, 128, 4096],
      ];
  const kinds = (o.copies ?? 'seeded,smooth,independent').split(',') as CopiesKind[];
  console.log(
    `load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    'd\twidth\tN\tcopies\tfwd+bwd ms\treference ms\ttensor passes ms\tcheck ms\tref/fb\tcheck/fb\tref error\tgrid steps',
  );
  for (const [d, width, N] of sizes)
    for (const kind of kinds) {
      const x = await referenceCost(d, width, N, kind, runs);
      console.log(
        [
          d,
          width,
          N,
          kind,
          x.fwdBwdMs.toFixed(1),
          x.referenceMs.toFixed(1),
          x.tensorPassesMs.toFixed(1),
          x.checkMs.toFixed(1),
          x.referenceRatio.toFixed(2),
          x.checkRatio.toFixed(2),
          x.referenceError.toExponential(1),
          x.gridSteps,
        ].join('\t'),
      );
    }
  console.log(
    `load average at end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
