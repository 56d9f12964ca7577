// The Volterra whole-solve kernel (engine/volterraKernel.ts) against the per-operation solve it replaces,
// in one process, interleaved, on model files given as FILE or FILE:TOTAL (TOTAL replaces the file's own
// total, to keep the per-operation side within minutes): per file, the AD pass (discreteGradients) and
// one forward loss on each path, twice, the faster of the two kept, wall and process-CPU milliseconds.
//   npx esbuild bench/volterraKernel.ts --bundle --platform=node --target=node20 --format=cjs \
//     --outfile=out/bench/volterraKernel.js && node out/bench/volterraKernel.js FILE[:TOTAL]...
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { loadavg } from 'node:os';
import { analyse } from '../solver/language/index';
import { initBackend } from '../solver/engine/backend';
import { compileModel } from '../solver/engine/compile';
import { copyTensors, discreteGradients, discreteLoss } from '../solver/engine/discrete';
import { initialParameters } from '../solver/engine/parameters';
import { schemeOf } from '../solver/schemes/schemes';
import type { Model } from '../solver/model';

/** Wall and CPU ms of f. */
function timed(f: () => void): [number, number] {
  const wall = performance.now(),
    cpu = process.cpuUsage();
  f();
  const used = process.cpuUsage(cpu);
  return [performance.now() - wall, (used.user + used.system) / 1000];
}

async function main() {
  const { tf } = await initBackend('cpu');
  console.log(`load average ${loadavg()[0].toFixed(1)}`);
  for (const arg of process.argv.slice(2)) {
    const [file, total] = arg.split(':');
    let text = readFileSync(file, 'utf8');
    if (total)
      text = text.replace(/^done\b/m, `@ total=${total}\ndone`) + (/^done\b/m.test(text) ? '' : `\n@ total=${total}\n`);
    const model = analyse(text).model as Model;
    const best = {
      kernel: [Infinity, Infinity, Infinity, Infinity],
      perOperation: [Infinity, Infinity, Infinity, Infinity],
    };
    for (let rep = 0; rep < 2; rep++)
      for (const kernel of [true, false]) {
        const { compiled } = compileModel(tf, model, { wholeSolve: kernel });
        const values = initialParameters(tf, model);
        const ad = timed(() => {
          if (model.params.length > 0) discreteGradients(tf, compiled, schemeOf(model), model, values);
        });
        const forward = timed(() =>
          tf.tidy(() => {
            discreteLoss(tf, compiled, schemeOf(model), model, copyTensors(tf, model, values)).dataSync();
          }),
        );
        compiled.dispose();
        const row = best[kernel ? 'kernel' : 'perOperation'];
        [...ad, ...forward].forEach((v, i) => {
          row[i] = Math.min(row[i], v);
        });
      }
    const k = best.kernel,
      p = best.perOperation;
    const cell = (i: number) =>
      `${k[i].toFixed(0)} (${k[i + 1].toFixed(0)}) vs ${p[i].toFixed(0)} (${p[i + 1].toFixed(0)}) ms, ${(p[i] / k[i]).toFixed(0)}×`;
    console.log(`${basename(file)} N=${model.options.steps}: AD ${cell(0)}; forward ${cell(2)}`);
  }
  console.log(`load average ${loadavg()[0].toFixed(1)}`);
}

void main();
