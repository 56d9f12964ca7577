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
// `auto` = tensorflow when installed; otherwise cpu or wasm, picked by a quick
// measurement (a small MLP forward+backward at batch 1, sized like the model)
// per model size class and remembered for the process (autoChoices()). At
// batch 1 per-kernel overhead dominates, and cpu usually wins (notes/tfjs.md);
// the measurement decides, not the name. Every handle carries a `reason`
// saying why this backend runs (e.g. why tensorflow fell back).
import * as tfcore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// A named import: a bare import is dropped by esbuild (the package's main file is not in its sideEffects list).
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';

export type TF = typeof tfcore;
export type Tensor = tfcore.Tensor;
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendHandle {
  tf: TF;
  /** The backend that actually runs: tensorflow, wasm or cpu. */
  backend: 'tensorflow' | 'wasm' | 'cpu';
  /** Why this backend (the measurement for auto, the fallback reason when the request could not be honoured). */
  reason?: string;
}

/** What `auto` measures against: the model's size (per-step parameter values decide the width of the probe). */
export interface SizeHint { elements: number; steps: number; stateSize?: number }

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

/** Size class of a model: per-step parameter values in powers of 4 (≤ 256, ≤ 1k, ≤ 4k, …). */
export function sizeClass(hint: SizeHint): number {
  const perStep = Math.max(1, hint.elements / Math.max(1, hint.steps));
  return Math.max(4, Math.ceil(Math.log(perStep) / Math.log(4)));
}

const autoChoice = new Map<number, { backend: 'cpu' | 'wasm'; reason: string }>();

/** The choices `auto` has made so far, by size class (for reports and tests). */
export function autoChoices(): ReadonlyMap<number, { backend: 'cpu' | 'wasm'; reason: string }> {
  return autoChoice;
}

/** Median ms of a probe MLP forward+backward (width from the size class, 8 leapfrog-like steps) on the active backend. */
function probe(tf: TF, cls: number): number {
  const width = Math.min(512, Math.max(8, Math.round(Math.sqrt(4 ** cls / 2))));
  const W1 = tf.randomNormal([width, 2], 0, 0.3, 'float32', 1), W2 = tf.randomNormal([2, width], 0, 0.3, 'float32', 2);
  const x0 = tf.tensor2d([[1], [0]]);
  const run = () => tf.tidy(() => {
    const g = tf.grads((a: Tensor, b: Tensor) => {
      let x = x0;
      for (let n = 0; n < 8; n++) x = tf.add(x, tf.mul(tf.matMul(b, tf.tanh(tf.matMul(a, x))), 0.1));
      return tf.sum(tf.square(x));
    })([W1, W2]);
    for (const t of g) t.dataSync();
  });
  try {
    run();
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) { const t = performance.now(); run(); ms.push(performance.now() - t); }
    return ms.sort((a, b) => a - b)[2];
  } finally {
    tf.dispose([W1, W2, x0]);
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
      return (current = { tf: native, backend: 'tensorflow', reason: pref === 'auto' ? 'auto: native TensorFlow (@tensorflow/tfjs-node) loads' : 'requested' });
    }
  }
  const fallback = pref === 'tensorflow' ? `tensorflow requested but @tensorflow/tfjs-node cannot be loaded (${nativeError || 'not installed'}); ` : '';
  const use = async (name: 'wasm' | 'cpu', reason: string): Promise<BackendHandle | undefined> => {
    if (current?.tf === tfcore && current.backend === name && tfcore.getBackend() === name) return (current = { ...current, reason });
    return (await useCore(name)) ? (current = { tf: tfcore, backend: name, reason }) : undefined;
  };
  if (pref === 'wasm') {
    const h = await use('wasm', 'requested');
    if (h) return h;
    const c = await use('cpu', 'wasm requested but the WebAssembly backend could not be initialised (.wasm files not found); using cpu');
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
    } else {
      const cls = sizeClass(size);
      let choice = autoChoice.get(cls);
      if (!choice) {
        const times: Partial<Record<'cpu' | 'wasm', number>> = {};
        for (const name of ['cpu', 'wasm'] as const) if (await useCore(name)) times[name] = probe(tfcore, cls);
        const best = times.wasm !== undefined && (times.cpu === undefined || times.wasm < times.cpu) ? 'wasm' : 'cpu';
        const fmt = (x?: number) => (x === undefined ? 'unavailable' : `${x.toFixed(2)} ms`);
        choice = { backend: best, reason: `auto: measured for size class 4^${cls} values per step: cpu ${fmt(times.cpu)}, wasm ${fmt(times.wasm)}; tfjs-node not available (${nativeError || 'not installed'})` };
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
