/** Layer-wise pruning: magnitude, Wanda, SparseGPT and l0 (coordinate descent + local search), with certified lower bounds. */
export * from './types.ts';
export { pruneLayer, resolvePruneOptions, pruneObjective, PRUNE_LAYER_OPTION_KEYS, type ResolvedPruneOptions } from './prune_layer.ts';
export { keptPerRow, selectMask, maskFollows } from './pattern.ts';
export { diagonalBound, relaxationBound } from './lower_bound.ts';
export { quantizeOnSupport, resolveSupportOptions, type SupportQuantizeOptions, type SparseQuantizedLayer } from './quantize_sparse.ts';
