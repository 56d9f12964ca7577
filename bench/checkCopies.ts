// One full check (runCheck) of the bench's generated network with seeded, smooth or independent per-step
// copies (bench/referenceCopies.ts), in this process: its phases, the process's CPU time and RSS. Run in a
// fresh process per check for the peak (`/usr/bin/time -v`), e.g. the N = 8192, width 128 row with trained-like copies:
//   esbuild bench/checkCopies.ts --bundle --platform=node --format=cjs --outfile=out/bench/checkCopies.js
//   node --max-semi-space-size=64 out/bench/checkCopies.js [--size d,width,N] [--copies independent] [--runs 1]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { analyse } from '../solver/language/index';
import { initBackend } from '../solver/engine/backend';
import { initialParameters } from '../solver/engine/parameters';
import { runCheck } from '../solver/check';
import { generated } from './generatedModel';
import { copiesOf, type CopiesKind } from './referenceCopies';

async function main() {
  const { values: o } = parseArgs({
    options: {
      size: { type: 'string', default: '2,128,8192' },
      copies: { type: 'string', default: 'independent' },
      runs: { type: 'string', default: '1' },
    },
  });
  const [d, width, N] = o.size.split(',').map(Number);
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(`load average at start ${load()}`);
  const { tf } = await initBackend('cpu');
  const model = analyse(generated(width, N, 'leapfrog', d)).model!;
  const values = copiesOf(model, initialParameters(tf, model), o.copies as CopiesKind);
  for (let i = 0; i < Number(o.runs); i++) {
    const c0 = process.cpuUsage();
    const r = await runCheck(model, { backend: 'cpu', parameterValues: values });
    const c = process.cpuUsage(c0);
    const t = r.timings;
    console.log(
      `d ${d}, width ${width}, N ${N}, ${o.copies} copies: check ${t.totalMs.toFixed(0)} ms wall, ${((c.user + c.system) / 1000).toFixed(0)} ms CPU; AD ${t.adMs.toFixed(0)}, reference ${t.referenceMs.toFixed(0)}, finite differences ${t.finiteDifferenceMs.toFixed(0)} ms; RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`,
    );
  }
  console.log(`load average at end ${load()}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
