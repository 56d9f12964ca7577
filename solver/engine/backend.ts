// Backend selection for the engine. Engine code never imports a fixed tf
// namespace: it receives the one returned here.
//
//   tensorflow  @tensorflow/tfjs-node (optional dependency, kept external by the
//               bundler); when it loads, ITS namespace is used for everything.
//   wasm        @tensorflow/tfjs-backend-wasm on tfjs-core; the .wasm files are
//               looked up next to the running bundle (scripts/build.mjs copies
//               them into dist/), else in node_modules.
//   cpu         @tensorflow/tfjs-backend-cpu on tfjs-core.
//
// `auto` = tensorflow when installed; otherwise cpu or wasm: cpu by rule for models
// with at most 256 parameter values per step (per-kernel overhead decides there, and
// cpu's is the smaller: docs/performance.md#backend-choice), else by a quick measurement
// (a small MLP forward+backward at batch 1, sized like the model) made once per machine
// and model size class and remembered in the user's cache directory (backendChoice.ts),
// so a check pays nothing for it and identical runs take the same backend. Every handle
// carries a `reason` saying why this backend runs (rule, remembered or measured decision,
// or why tensorflow fell back).
import * as tfcore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// A named import: a bare import is dropped by esbuild (the package's main file is not in its sideEffects list).
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// Above the compute modules: the auto probe runs them. They name the tf types from ./tf, never from here.
import type { TF, Tensor } from './tf';
import { copiesPerParameter, copyStacks, unstackCopies } from './discrete';
import { compileScalarProgram } from './scalarRhs';
import { matrixProduct } from './matrixProduct';
import type { Model } from '../model';
import type { BackendName } from '../registry/backends';
import { decisionFile, decisionKey, rememberDecision, rememberedDecision, type BackendDecision } from './backendChoice';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';

/** The backend a user asks for (solver/registry/backends.ts). */
export type BackendPreference = BackendName;

export interface BackendHandle {
  tf: TF;
  /** The backend that actually runs: tensorflow, wasm or cpu. */
  backend: Exclude<BackendName, 'auto'>;
  /** Why this backend (the measurement for auto, the fallback reason when the request could not be honoured). */
  reason?: string;
}

/**
 * What `auto` measures against: the model's size (per-step parameter values decide the width of the probe),
 * and whether its right-hand side is fused (engine/scalarRhs.ts): then no measurement, cpu.
 */
export interface SizeHint {
  elements: number;
  steps: number;
  fused?: boolean;
}

/** The size hint of a model: its parameter values (every copy) and steps; fused when its right-hand side is. */
export function sizeHint(model: Model): SizeHint {
  const elements = model.params.reduce(
    (a, p) => a + p.shape.reduce((x, y) => x * y, 1) * (p.perStep ? copiesPerParameter(model) : 1),
    0,
  );
  return { elements, steps: model.options.steps, fused: !!compileScalarProgram(model) };
}

/** Versions of the bundled packages (also keeps the cpu backend's registration in the bundle). */
export const BUNDLED_VERSIONS = { core: tfcore.version_core, cpu: version_cpu };

let nativeTf: TF | null | undefined; // undefined: not tried yet; null: not available
let nativeError = '';
let wasmPathsSet = false;
let current: BackendHandle | undefined;

function loadNative(): TF | null {
  if (nativeTf !== undefined) return nativeTf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    nativeTf = require('@tensorflow/tfjs-node') as TF;
  } catch (e) {
    nativeTf = null;
    nativeError = ((e as Error)?.message ?? String(e)).split('\n')[0];
  }
  return nativeTf;
}

/** Folder holding tfjs-backend-wasm's .wasm files: next to the bundle, else node_modules. */
export function wasmDirectory(): string | undefined {
  const candidates: string[] = [];
  if (typeof __dirname === 'string') {
    candidates.push(__dirname);
    // out/test/unit → repo root; dist → repo root
    for (let d = __dirname, i = 0; i < 5; i++, d = dirname(d)) {
      candidates.push(join(d, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'));
    }
  }
  candidates.push(join(process.cwd(), 'node_modules/@tensorflow/tfjs-backend-wasm/dist'));
  return candidates.find((d) => existsSync(join(d, 'tfjs-backend-wasm.wasm')));
}

async function useCore(name: 'wasm' | 'cpu'): Promise<boolean> {
  // Production mode: no "install tfjs-node" banner on stdout/stderr, no debug checks.
  tfcore.enableProdMode();
  if (name === 'wasm' && !wasmPathsSet) {
    const dir = wasmDirectory();
    if (!dir) return false;
    setWasmPaths(dir.endsWith('/') ? dir : dir + '/');
    wasmPathsSet = true;
  }
  try {
    // Reading the bundled versions keeps the cpu registration in the bundle.
    if (!BUNDLED_VERSIONS.cpu || !tfcore.findBackendFactory(name)) return false;
    if (current?.tf === tfcore && current.backend === name && tfcore.getBackend() === name) return true;
    return await tfcore.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Size classes whose models have at most this many parameter values per step (4^4) take cpu by rule, without a
 * measurement: their checks are dominated by per-kernel overhead, which is smaller on cpu (full checks of the
 * spiral network, d = 2 width 16: cpu 81 ms, wasm 97 ms; d = 64 width 16: 110 against 250 ms).
 */
const CPU_RULE_VALUES_PER_STEP = 4 ** 4;
const CPU_RULE_CLASS = 4; // log4 of the above: sizeClass's values part

/** Size class of a model: per-step parameter values and steps, each in powers of 4 (one number: values·16 + steps). */
export function sizeClass(hint: SizeHint): number {
  const perStep = Math.max(1, hint.elements / Math.max(1, hint.steps));
  const values = Math.max(4, Math.ceil(Math.log(perStep) / Math.log(4)));
  const steps = Math.min(15, Math.max(1, Math.ceil(Math.log(Math.max(1, hint.steps)) / Math.log(4))));
  return values * 16 + steps;
}

/**
 * auto picks wasm only when its probe takes less than this fraction of cpu's. Full checks of the bench's
 * networks (d 2–64, width 16–256, 64–1024 steps) run 3–45 % faster on cpu than on wasm with the engine's
 * cpu matrix product, while cold probes (cpu's JS loops warm up later than wasm's code) read wasm/cpu
 * anywhere from 0.55 to 1.1: a margin of 0.7 sends d = 2 width 256 to wasm, at 220 ms a check against
 * cpu's 165 ms (docs/performance.md#backend-choice). wasm still wins where its probe is more than 2.5
 * times as fast.
 */
const WASM_MARGIN = 0.4;

const autoChoice = new Map<number, { backend: 'cpu' | 'wasm'; reason: string }>();

/** The choices `auto` has made so far, by size class (for reports and tests). */
export function autoChoices(): ReadonlyMap<number, { backend: 'cpu' | 'wasm'; reason: string }> {
  return autoChoice;
}

/**
 * Median ms of a probe forward+backward on the active backend, shaped like the engine's AD pass
 * (engine/discrete.ts): an MLP over leapfrog-like steps with one parameter copy per step, stacked in
 * sources of copiesPerSource copies unstacked inside the tape, with the size class's values per step
 * and steps (up to 128 steps and 64 K values in all). The stacks matter on wasm, whose unstack costs
 * copies × stacked size: a probe without it (8 steps, no split) chooses wasm for checks that run 2–14×
 * slower there.
 */
function probe(tf: TF, cls: number): number {
  const steps = Math.min(128, 4 ** (cls % 16));
  const width = Math.max(8, Math.round(Math.min(4 ** Math.floor(cls / 16), 2 ** 16 / steps) / 4));
  // One source per stack of copies, as discrete.ts makes them.
  const stacks = (shape: number[], std: number, seed: number) =>
    copyStacks(steps, tf.getBackend()).map(({ copies }, s) =>
      tf.randomNormal([copies, ...shape], 0, std, 'float32', seed + s),
    );
  const W1 = stacks([width, 2], 0.3, 1),
    W2 = stacks([2, width], 0.3 / Math.sqrt(width), 1001);
  const x0 = tf.tensor2d([[1], [0]]);
  const matMul = matrixProduct(tf); // the engine's product (compile.ts)
  const run = () =>
    tf.tidy(() => {
      const g = tf.grads((...sources: Tensor[]) => {
        const as = sources.slice(0, W1.length).flatMap((t) => unstackCopies(tf, t)),
          bs = sources.slice(W1.length).flatMap((t) => unstackCopies(tf, t));
        let x = x0;
        for (let n = 0; n < steps; n++) x = tf.add(x, tf.mul(matMul(bs[n], tf.tanh(matMul(as[n], x))), 1 / steps));
        return tf.sum(tf.square(x));
      })([...W1, ...W2]);
      for (const t of g) t.dataSync();
    });
  try {
    run();
    const ms: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      run();
      ms.push(performance.now() - t);
    }
    return ms.sort((a, b) => a - b)[1];
  } finally {
    tf.dispose([...W1, ...W2, x0]);
  }
}

/**
 * Initialises and returns the tf namespace and the backend name. `auto`
 * without a size hint keeps the current backend (cpu the first time).
 */
export async function initBackend(pref: BackendPreference = 'auto', size?: SizeHint): Promise<BackendHandle> {
  if (pref === 'auto' || pref === 'tensorflow') {
    const native = loadNative();
    if (native) {
      if (current?.backend !== 'tensorflow') await native.setBackend('tensorflow');
      return (current = {
        tf: native,
        backend: 'tensorflow',
        reason: pref === 'auto' ? 'auto: native TensorFlow (@tensorflow/tfjs-node) loads' : 'requested',
      });
    }
  }
  const fallback =
    pref === 'tensorflow'
      ? `tensorflow requested but @tensorflow/tfjs-node cannot be loaded (${nativeError || 'not installed'}); `
      : '';
  const use = async (name: 'wasm' | 'cpu', reason: string): Promise<BackendHandle | undefined> => {
    if (current?.tf === tfcore && current.backend === name && tfcore.getBackend() === name)
      return (current = { ...current, reason });
    return (await useCore(name)) ? (current = { tf: tfcore, backend: name, reason }) : undefined;
  };
  if (pref === 'wasm') {
    const h = await use('wasm', 'requested');
    if (h) return h;
    const c = await use(
      'cpu',
      'wasm requested but the WebAssembly backend could not be initialised (.wasm files not found); using cpu',
    );
    if (c) return c;
  }
  if (pref === 'cpu' || pref === 'tensorflow') {
    const c = await use('cpu', pref === 'cpu' ? 'requested' : fallback + 'using cpu');
    if (c) return c;
  }
  if (pref === 'auto') {
    if (!size) {
      // No size to measure against: keep what runs (cpu the first time).
      if (current && current.tf === tfcore && tfcore.getBackend() === current.backend) return current;
      const c = await use('cpu', 'auto: default before any measurement');
      if (c) return c;
    } else if (size.fused) {
      // A fused right-hand side runs in JS and reads its inputs back each evaluation: the probe's MLP says
      // nothing about it, and cpu hands data over without a copy (cpu and wasm checks were within 10 %).
      const c = await use(
        'cpu',
        'auto: cpu for a small model whose right-hand side runs fused in JS (no measurement needed)',
      );
      if (c) return c;
    } else if (Math.floor(sizeClass(size) / 16) <= CPU_RULE_CLASS) {
      const c = await use(
        'cpu',
        `auto: cpu by rule for models with at most ${CPU_RULE_VALUES_PER_STEP} parameter values per step (per-kernel overhead decides; no measurement)`,
      );
      if (c) return c;
    } else {
      const cls = sizeClass(size);
      const key = decisionKey(tfcore.version_core);
      let choice = autoChoice.get(cls);
      const remembered = choice ? undefined : rememberedDecision(key, cls);
      if (remembered) {
        choice = { backend: remembered.backend, reason: decisionReason(cls, remembered, 'remembered') };
        autoChoice.set(cls, choice);
      }
      if (!choice) {
        const times: Partial<Record<'cpu' | 'wasm', number>> = {};
        // Two interleaved rounds, the faster of each: the first probe of a process warms tfjs's JIT for both.
        for (let round = 0; round < 2; round++) {
          for (const name of ['cpu', 'wasm'] as const)
            if (await useCore(name)) times[name] = Math.min(times[name] ?? Infinity, probe(tfcore, cls));
        }
        // wasm only on a clear win: the probe is small beside a check, and in the bench's full checks cpu was
        // never slower than wasm on these machines.
        const best =
          times.wasm !== undefined && (times.cpu === undefined || times.wasm < WASM_MARGIN * times.cpu)
            ? 'wasm'
            : 'cpu';
        const decision: BackendDecision = {
          backend: best,
          ...(times.cpu !== undefined ? { cpuMs: Number(times.cpu.toFixed(3)) } : {}),
          ...(times.wasm !== undefined ? { wasmMs: Number(times.wasm.toFixed(3)) } : {}),
          date: new Date().toISOString(),
        };
        rememberDecision(key, cls, decision);
        choice = { backend: best, reason: decisionReason(cls, decision, 'measured') };
        autoChoice.set(cls, choice);
        current = undefined; // the probe switched backends
      }
      const h = await use(choice.backend, choice.reason);
      if (h) return h;
    }
  }
  if (await useCore('cpu')) return (current = { tf: tfcore, backend: 'cpu', reason: 'fallback' });
  throw new Error('No TensorFlow.js backend could be initialised');
}

/** Why auto runs a measured backend: the size class, the probe's times, and whether this run measured or remembered them. */
function decisionReason(cls: number, d: BackendDecision, how: 'measured' | 'remembered'): string {
  const fmt = (x?: number) => (x === undefined ? 'unavailable' : `${x.toFixed(2)} ms`);
  const when =
    how === 'measured' ? 'measured now' : `measured on ${d.date.slice(0, 10)}, remembered in ${decisionFile()}`;
  return `auto: ${d.backend} for size class 4^${Math.floor(cls / 16)} values per step, 4^${cls % 16} steps (${when}: cpu ${fmt(d.cpuMs)}, wasm ${fmt(d.wasmMs)}); tfjs-node not available (${nativeError || 'not installed'})`;
}
