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
// `auto` = tensorflow when installed, else cpu. Every check here runs at batch 1,
// where per-kernel overhead dominates; measured (docs/notes and bench/bench.ts):
// cpu beats wasm at batch 1 for every model size we target, so auto never picks
// wasm. Ask for `wasm` explicitly to use it.
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
}

/** Versions of the bundled packages (also keeps the cpu backend's registration in the bundle). */
export const BUNDLED_VERSIONS = { core: tfcore.version_core, cpu: version_cpu };

let nativeTf: TF | null | undefined; // undefined: not tried yet; null: not available
let wasmPathsSet = false;
let current: BackendHandle | undefined;

function loadNative(): TF | null {
  if (nativeTf !== undefined) return nativeTf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    nativeTf = require('@tensorflow/tfjs-node') as TF;
  } catch {
    nativeTf = null;
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

/** Initialises (once per preference) and returns the tf namespace and the backend name. */
export async function initBackend(pref: BackendPreference = 'auto'): Promise<BackendHandle> {
  if (current && (pref === current.backend || (pref === 'auto' && current.backend !== 'wasm'))) {
    // Make sure the core engine is still on the backend we think it is.
    if (current.backend === 'tensorflow' || current.tf.getBackend() === current.backend) return current;
  }
  if (pref === 'auto' || pref === 'tensorflow') {
    const native = loadNative();
    if (native) {
      await native.setBackend('tensorflow');
      return (current = { tf: native, backend: 'tensorflow' });
    }
  }
  if (pref === 'wasm' && (await useCore('wasm'))) return (current = { tf: tfcore, backend: 'wasm' });
  if (await useCore('cpu')) return (current = { tf: tfcore, backend: 'cpu' });
  throw new Error('No TensorFlow.js backend could be initialised');
}
