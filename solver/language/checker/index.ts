// The checker: a parsed program → a checked model and its diagnostics (check.ts,
// the pipeline of its phases), and the shape and constant helpers the language
// service and the engine share.
export { check } from './check';
export { broadcast, broadcastsTo } from '../../ops/shapes';
export { constTensor, evalConst } from './constants';
export { MAX_EXPANDED_NODES } from './expressions';
export { formatShape, MAX_ELEMENTS } from './shapes';
