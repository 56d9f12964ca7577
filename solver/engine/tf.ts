// The TensorFlow.js types the engine computes with. Type-only, so every compute
// module can name them without depending on backend selection (engine/backend.ts),
// which sits above the compute modules: its `auto` probe runs them.
import type * as tfcore from '@tensorflow/tfjs-core';

/** The tf namespace a check runs on (tfjs-core with cpu or wasm, or tfjs-node's), from initBackend. */
export type TF = typeof tfcore;
export type Tensor = tfcore.Tensor;
