/**
 * The one signature shared by every quantizer (RTN, GPTQ, QuantEase, outlier-aware QuantEase).
 *
 * A layer problem: weights W [out, in] (rows are output units; tfjs Dense kernels are [in, out]
 * and are transposed in exactly one place, adapters/quantize) and the calibration second-moment
 * matrix S = X^T X [in, in] accumulated over n calibration rows X [n, in].
 * Objective: f(What) = tr((W - What) S (W - What)^T) = ||X W^T - X What^T||_F^2.
 *
 * Options are a discriminated union on `method`: each method lists only its own settings, with
 * its defaults in the doc comments (editor hovers show them). `method` may be left out: it then
 * means the default method, 'quantease'.
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

/** The clipping search of the grid (grid_search.ts). */
export interface ClipOptions {
  /** Candidate ratios from 1 down to minRatio. Default 40. */
  steps?: number;
  /** Smallest ratio tried, in (0, 1]. Default 0.3. */
  minRatio?: number;
}

/** What `onProgress` receives: `done` of `total` steps of `stage` ('gptq', 'quantease', ...). */
export interface QuantizeProgress {
  done: number;
  total: number;
  stage: string;
}

/** Settings every method shares: the grid and progress. */
export interface CommonQuantizeOptions {
  /** Bits per weight, 2..8. Default 4. */
  bits?: number;
  /** Input columns per grid group. Default 0: one group per row (also when >= in). */
  groupSize?: number;
  /** Symmetric grid (zero = 2^(bits-1)). Default false (asymmetric min/max). */
  symmetric?: boolean;
  /**
   * Fit the grid to the layer objective: per row (group), shrink the min/max range by the ratio
   * among `steps` candidates in [minRatio, 1] that minimizes the diag(S)-weighted rounding error.
   * false = min/max. Default false for 'rtn' and 'gptq'; {steps: 40, minRatio: 0.3} for 'quantease'.
   */
  clip?: ClipOptions | false;
  /** Called as the work advances. Default: none. */
  onProgress?: (p: QuantizeProgress) => void;
}

/** Round to nearest: every weight to its grid point; ignores S. */
export interface RtnOptions extends CommonQuantizeOptions {
  method: 'rtn';
}

/** GPTQ's own settings (also used by QuantEase's `init: 'gptq'` start). */
export interface GptqSettings {
  /** Fraction of mean(diag H) added to the diagonal of H = S. Default 0.01. */
  dampening?: number;
  /** Lazy-update block (GPTQ) and column block of the QuantEase sweep. Default 128. */
  blockSize?: number;
  /** Visit columns by decreasing diag(S). Default false for 'gptq', true for QuantEase's GPTQ start (the sweeps keep the natural order). */
  actOrder?: boolean;
}

/** GPTQ (Frantar et al. 2023). */
export interface GptqOptions extends CommonQuantizeOptions, GptqSettings {
  method: 'gptq';
}

/**
 * QuantEase coordinate descent (Behdin et al. 2023), optionally outlier-aware; the default method.
 * Its defaults are the most accurate setting measured at most about 2x the cost of 30 plain
 * sweeps (README, "Default"): grid by the clipping search `clip: {steps: 40, minRatio: 0.3}`,
 * start from act-order GPTQ, 30 sweeps (stop early below `tolerance` 1e-4), then 2 rounds of
 * scale refit + 3 rounded sweeps. `{init: 'weights', actOrder: false, clip: false, refit: 0,
 * tolerance: 0}` is the plain QuantEase of the first release.
 */
export interface QuantEaseOptions extends CommonQuantizeOptions, GptqSettings {
  /** Default 'quantease' (also when left out). */
  method?: 'quantease';
  /** Coordinate-descent sweeps over all columns. Default 30. */
  sweeps?: number;
  /** Authors' schedule: sweep k (0-based) with k % this == 0 and k < unroundedUntil is left unrounded; 0 = every sweep rounded. Default 3. */
  unroundedSweepEvery?: number;
  /** See unroundedSweepEvery. Default 25. */
  unroundedUntil?: number;
  /**
   * Start: What = W ('weights') or GPTQ's solution ('gptq'; the target stays W). Default 'gptq'
   * ('weights' with outliers). From 'gptq' the result is never worse than that start (if the
   * sweeps end above it, the start is returned).
   */
  init?: 'weights' | 'gptq';
  /** Keep a sparse full-precision part H (outlier-aware QuantEase). Default false. */
  outliers?: OutlierOptions | false;
  /**
   * Stop the sweeps once a rounded sweep (after the unrounded schedule) lowers f by less than this
   * fraction; `sweeps` is then the cap. 0 = run all sweeps. Default 1e-4.
   */
  tolerance?: number;
  /**
   * Rounds of: refit every row's (group's) scales to the codes by weighted least squares (a G x G
   * system per row, using S), then `refitSweeps` rounded sweeps. f never rises. Ignored with
   * outliers. Default 2.
   */
  refit?: number;
  /** Rounded sweeps after each refit. Default 3. */
  refitSweeps?: number;
}

export type QuantizeLayerOptions = RtnOptions | GptqOptions | QuantEaseOptions;

/**
 * Every key of every method, all optional: the flat form that quantizeModel and the CLI hand to
 * every layer. Keys of another method than the chosen one are checked and have no effect.
 */
export type AnyQuantizeOptions = Omit<GptqOptions, 'method'> & Omit<QuantEaseOptions, 'method'> & { method?: QuantMethod };

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

/**
 * The sparse full-precision part. The weight is, as the packed format dequantizes it,
 *
 *   W[i] = (codes[i] - zero) * scale                 off the outliers
 *   W[i] = (codes[i] - zero) * scale + values[m]     at i = indices[m]
 *
 * The quantizers put the code of 0 (`zero`) at every outlier, so that term is exactly 0 and
 * `values[m]` is the whole weight there: What + H of the algorithm (outliers.ts).
 */
export interface Outliers {
  /** Flat indices r * in + c into [out, in], ascending. */
  indices: Int32Array;
  /** Added to dequant(codes) at those indices (the full weight What + H, since dequant there is 0). */
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
