// The continuous reference alone (continuousReference, in this process): CPU ms of each call and the garbage
// collector's pauses during it, for the bench's generated network with the PyTorch bench's copies
// (pytorch/comparison.ts parameterValues: seeded or independent). The first calls include compiling; compare the
// last ones, alternating two builds:
//   esbuild bench/referenceTime.ts --bundle --platform=node --format=cjs --outfile=out/bench/referenceTime.js
//   node --max-semi-space-size=64 out/bench/referenceTime.js [--size 64,256,256] [--copies independent] [--runs 6]
import { loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { analyse } from '../solver/language/index';
import { initBackend } from '../solver/engine/backend';
import { initialParameters } from '../solver/engine/parameters';
import { compileModel } from '../solver/engine/compile';
import { continuousReference, type ReferenceResult } from '../solver/engine/reference';
import { generated } from './generatedModel';
import { referenceInput } from './referenceCopies';
import { parameterValues } from './pytorch/comparison';

async function main() {
  const { values: o } = parseArgs({
    options: {
      size: { type: 'string', default: '64,256,256' },
      copies: { type: 'string', default: 'independent' },
      runs: { type: 'string', default: '6' },
    },
  });
  const [d, width, N] = o.size.split(',').map(Number);
  const { tf } = await initBackend('cpu');
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(`load average at start ${load()}`);
  const model = analyse(generated(width, N, 'leapfrog', d)).model!;
  const { compiled } = compileModel(tf, model);
  const inp = referenceInput(model, parameterValues(model, initialParameters(tf, model), o.copies as 'independent'));
  let gc = 0;
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) gc += e.duration;
  }).observe({ entryTypes: ['gc'] });
  const cpu: number[] = [],
    pauses: number[] = [];
  let r: ReferenceResult | undefined;
  for (let i = 0; i < Number(o.runs); i++) {
    const c0 = process.cpuUsage(),
      g0 = gc;
    r = continuousReference(tf, compiled, inp);
    const c = process.cpuUsage(c0);
    // The pauses are reported after the call returns.
    await new Promise((done) => setTimeout(done, 0));
    cpu.push((c.user + c.system) / 1000);
    pauses.push(gc - g0);
  }
  const ms = (v: number[]) => v.map((x) => x.toFixed(0)).join(' ');
  console.log(
    `d ${d}, width ${width}, N ${N}, ${o.copies} copies: reference CPU ms ${ms(cpu)}; GC pauses ms ${ms(pauses)}; ` +
      `${(r?.gridTimes.length ?? 1) - 1} steps, reported error ${r?.referenceError.toExponential(3)}`,
  );
  console.log(`load average at end ${load()}`);
  compiled.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
