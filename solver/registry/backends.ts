// The TensorFlow.js backends a user can choose (the `odeLens.backend` setting, `odelens --backend`): the one list
// of their names. The engine's BackendPreference, the settings (protocol/settings.ts), the CLI's flag and the
// `odeLens.backend` enum of package.json (checked by test/unit/registries.test.ts) derive from it. How each is
// loaded, and what `auto` picks, is solver/engine/backend.ts.

/** The backends, in the order the CLI lists them; `description` is the setting's enumDescription in package.json. */
export const BACKENDS = {
  auto: {
    description:
      'Native TensorFlow when @tensorflow/tfjs-node loads; else plain JavaScript (cpu) or WebAssembly, decided once per machine and model size (cpu for small models) and remembered.',
  },
  cpu: { description: 'TensorFlow.js plain JavaScript backend.' },
  wasm: { description: 'TensorFlow.js WebAssembly backend.' },
  tensorflow: { description: 'Native TensorFlow (@tensorflow/tfjs-node); falls back when it is not installed.' },
} satisfies Record<string, { description: string }>;

export type BackendName = keyof typeof BACKENDS;
export const BACKEND_NAMES = Object.keys(BACKENDS) as readonly BackendName[];

export function isBackendName(name: unknown): name is BackendName {
  return typeof name === 'string' && Object.hasOwn(BACKENDS, name);
}
