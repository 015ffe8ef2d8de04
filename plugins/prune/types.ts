/**
 * Layer-wise pruning shares the quantizers' layer problem (plugins/quantease/types.ts):
 *
 *   min over What   f(What) = tr((W - What) S (W - What)^T)   subject to   What on a sparsity pattern
 *
 * W [out, in] (rows are output units), S = X^T X [in, in]. Each row of W is a best-subset
 * regression with design X and response X w_r; the rows share S, like tasks sharing a design
 * (Loewinger, Behdin et al. 2022).
 */
import type * as tf from '@tensorflow/tfjs-core';

/** Which weights may be nonzero. */
export type SparsityPattern =
  /** Every row keeps round((1 - fraction) * in) of its weights. */
  | { kind: 'unstructured'; fraction: number }
  /** N:M: in every run of m consecutive inputs of a row, n are kept (2:4 is the common one). */
  | { kind: 'nm'; n: number; m: number }
  /** Structured: round(fraction * in) input columns are pruned in every row (the layer gets narrower). */
  | { kind: 'columns'; fraction: number };

export type PruneMethod = 'magnitude' | 'wanda' | 'sparsegpt' | 'l0';

/** Certified lower bound on the optimal objective of the pruning problem. */
export type LowerBoundMethod = 'none' | 'diagonal' | 'relaxation' | 'auto';

export interface PruneLayerOptions {
  /** Default 'l0'. */
  method?: PruneMethod;
  /** Default {kind: 'unstructured', fraction: 0.5}. */
  pattern?: SparsityPattern;
  /** SparseGPT (and l0's start): fraction of mean(diag S) added to the diagonal of H. Default 0.01. */
  dampening?: number;
  /** SparseGPT: columns per mask-selection block. Default 128. */
  blockSize?: number;
  /**
   * l0: where the search starts; 'all' runs from SparseGPT, Wanda and magnitude and keeps the best
   * per row; 'auto' is 'all' when swaps are scored exactly (small supports) and 'sparsegpt'
   * otherwise. Default 'auto'.
   */
  init?: 'sparsegpt' | 'wanda' | 'magnitude' | 'all' | 'auto';
  /** l0: most rounds of (coordinate-descent refit, swap pass). Default 10. */
  rounds?: number;
  /** l0: most swaps per row (per layer for 'columns') in one swap search. Default 100. */
  swapBudget?: number;
  /**
   * l0: how swaps are scored: 'exact' (support refit exactly; finds the optimum of small problems,
   * costs k^3 / 3 + k^2 in per swap), 'fast' (other weights fixed, then coordinate-descent refit),
   * 'auto' (exact while k^2 in <= exactSwapFlops). Default 'auto'.
   */
  swapSearch?: 'exact' | 'fast' | 'auto';
  /** l0: the per-swap cost limit of 'auto'. Default 2e5 (k = 32 at in = 64; larger layers take the fast search). */
  exactSwapFlops?: number;
  /** l0: stop when a round lowers the objective by less than this fraction. Default 1e-6. */
  tolerance?: number;
  /**
   * Lower bound to report: 'diagonal' (instant, weak), 'relaxation' (Frank-Wolfe on the
   * perspective relaxation: much tighter, costs one in x in Cholesky per row and iteration),
   * 'auto' (relaxation when rows * in^3 * iterations stays under `boundFlops`, else diagonal),
   * 'none'. Default 'auto'.
   */
  lowerBound?: LowerBoundMethod;
  /** Frank-Wolfe iterations of the relaxation bound. Default 30. */
  boundIterations?: number;
  /** Flop budget of 'auto'. Default 2e9. */
  boundFlops?: number;
}

export interface PruneStats {
  method: PruneMethod;
  pattern: SparsityPattern;
  /** Fraction of weights that are exactly zero in the result. */
  sparsity: number;
  /** tr(W S W^T). */
  baseline: number;
  /** f(What). */
  objective: number;
  /** objective / baseline (0 when baseline = 0). */
  relativeError: number;
  /** A certified lower bound on min f over the pattern (0 when none was asked for). */
  lowerBound: number;
  /** Which bound `lowerBound` is. */
  lowerBoundMethod: Exclude<LowerBoundMethod, 'auto'>;
  /** (objective - lowerBound) / objective: how far from optimal the result can be at most. */
  gap: number;
  /** l0: swaps made by local search. */
  swaps?: number;
  /** l0: rounds run. */
  rounds?: number;
  /** Input columns kept (structured pattern): the layer's new width. */
  keptColumns?: number;
  milliseconds: number;
}

export interface PrunedLayer {
  /** What [out, in], zeros off the mask. Caller owns and disposes it. */
  weight: tf.Tensor2D;
  /** 1 where a weight is kept, [out, in] row-major. */
  mask: Uint8Array;
  stats: PruneStats;
}
