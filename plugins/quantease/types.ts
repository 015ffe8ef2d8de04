/**
 * The one signature shared by every quantizer (RTN, GPTQ, QuantEase, outlier-aware QuantEase).
 *
 * A layer problem: weights W [out, in] (rows are output units; tfjs Dense kernels are [in, out]
 * and are transposed in exactly one place, adapters/quantize) and the calibration second-moment
 * matrix S = X^T X [in, in] accumulated over n calibration rows X [n, in].
 * Objective: f(What) = tr((W - What) S (W - What)^T) = ||X W^T - X What^T||_F^2.
 */
import type * as tf from '@tensorflow/tfjs-core';

export type QuantMethod = 'rtn' | 'gptq' | 'quantease';

export interface LayerProblem {
  /** W, [out, in]. */
  weight: tf.Tensor2D;
  /** S = X^T X, [in, in], symmetric positive semi-definite. */
  sigma: tf.Tensor2D;
}

export interface OutlierOptions {
  /** Fraction of weights (unstructured) or of input columns (structured) kept in full precision. Default 0.01. */
  fraction?: number;
  /** Keep whole input columns instead of single entries. Default false. */
  structured?: boolean;
}

export interface QuantizeLayerOptions {
  method?: QuantMethod;            // default 'quantease'
  bits?: number;                   // 2..8, default 4
  groupSize?: number;              // input columns per grid group; default: whole row (0 or undefined)
  symmetric?: boolean;             // default false
  outliers?: OutlierOptions | false; // default false (none); only with method 'quantease'
  // GPTQ
  dampening?: number;              // fraction of mean(diag H) added to the diagonal, default 0.01
  blockSize?: number;              // lazy-update block, default 128 (also QuantEase's column block)
  actOrder?: boolean;              // GPTQ: visit columns by decreasing diag(H), default false
  // QuantEase
  sweeps?: number;                 // default 30
  unroundedSweepEvery?: number;    // authors' schedule: sweeps k with k % this == 0 and k < unroundedUntil skip rounding; 0 = off; default 3
  unroundedUntil?: number;         // default 25
  init?: 'weights' | 'gptq';       // QuantEase start: What = W, or GPTQ's solution (target stays W); default 'weights'
  onProgress?: (p: { done: number; total: number; stage: string }) => void;
}

/** Per-row (or per-row-and-group) affine grid: q = clamp(round(w / scale) + zero, 0, 2^bits - 1); w ≈ (q - zero) * scale. */
export interface Grid {
  bits: number;
  /** Columns per group; equals `in` when there is one group per row. */
  groupSize: number;
  /** [out, groups] */
  scale: Float32Array;
  /** [out, groups], integers stored as floats */
  zero: Float32Array;
  rows: number;
  groups: number;
}

export interface Outliers {
  /** Flat indices r * in + c into [out, in], ascending. */
  indices: Int32Array;
  /** Full-precision values of H at those indices: the final weight is dequant(codes) + H. */
  values: Float32Array;
}

export interface QuantizeStats {
  method: QuantMethod;
  bits: number;
  /** tr(W S W^T) */
  baseline: number;
  /** f at the start (What = initial point) and at the end */
  objectiveBefore: number;
  objectiveAfter: number;
  /** tr(D S D^T) / tr(W S W^T), D = W - result */
  relativeError: number;
  iterations: number;
  milliseconds: number;
  /** Objective after each rounded sweep (QuantEase), for the monotonicity property. */
  history?: number[];
  /** Set when something fell back (e.g. GPTQ's Cholesky failed and RTN was used). */
  fallback?: string;
  dampeningUsed?: number;
}

export interface QuantizedLayer {
  /** Dequantized result What (+ outliers), [out, in]. Caller owns and disposes it. */
  weight: tf.Tensor2D;
  /** Integer codes q, [out, in], row-major, in 0..2^bits-1 (0-valued grid code at outlier positions allowed). */
  codes: Uint8Array;
  grid: Grid;
  outliers?: Outliers;
  stats: QuantizeStats;
}
