// Experiment behind the filter121 end-layer choice (docs/engine.md):
//   npx esbuild bench/filterEnds.ts --bundle --platform=node --outfile=/tmp/ends.js --external:@tensorflow/tfjs-node && node /tmp/ends.js
import { runCheck } from '../solver/check';
import { initialParameters } from '../solver/engine/parameters';
import { initBackend } from '../solver/engine/backend';
import { relError } from '../solver/engine/detect';
import { filter121, type EndTreatment } from '../solver/engine/corrections';
import { spiral } from '../test/unit/engineFixtures';
(async () => {
  const { tf } = await initBackend('cpu');
  const kinds: EndTreatment[] = ['linear', 'quadratic', 'zero-pad', 'pair-average', 'copy'];
  for (const N of [32, 64, 128])
    for (const seed of [1, 2, 3])
      for (const varying of [false, true]) {
        const m = spiral({ steps: N, seed });
        const vals = initialParameters(tf, m);
        if (varying) {
          // Copies follow a smooth function of t: θ_n = θ (1 + 0.5 sin(3 t_n)) + 0.1 cos(2 t_n)
          m.params.forEach((_p, i) => {
            const P = vals[i].length / N;
            for (let n = 0; n < N; n++) {
              const t = n / N;
              for (let k = 0; k < P; k++)
                vals[i][n * P + k] = vals[i][n * P + k] * (1 + 0.5 * Math.sin(3 * t)) + 0.1 * Math.cos(2 * t + k);
            }
          });
        }
        const r = await runCheck(m, { backend: 'cpu', parameterValues: vals });
        const line: string[] = [];
        for (const kind of kinds) {
          let e0 = 0,
            eN = 0,
            n0 = 0,
            nN = 0,
            all = 0;
          for (const p of r.parameters) {
            const P = p.raw[0].length;
            const d = Float32Array.from(p.raw.flat());
            const g = Float32Array.from(p.reference.flat());
            const c = filter121(d, N, P, kind);
            for (let k = 0; k < P; k++) {
              e0 += (c[k] - g[k]) ** 2;
              n0 += g[k] ** 2;
              eN += (c[(N - 1) * P + k] - g[(N - 1) * P + k]) ** 2;
              nN += g[(N - 1) * P + k] ** 2;
            }
            all = Math.max(all, relError(c, g));
          }
          line.push(
            `${kind}: e0=${Math.sqrt(e0 / n0).toExponential(1)} eN=${Math.sqrt(eN / nN).toExponential(1)} all=${all.toExponential(1)}`,
          );
        }
        console.log(
          `N=${N} seed=${seed} ${varying ? 'varying' : 'tied  '} raw=${r.parameters[0].metrics.relError.toFixed(2)} | ` +
            line.join(' | '),
        );
      }
})();
