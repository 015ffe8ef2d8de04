/**
 * Configurations of the MNIST train-then-compress pipeline (recipes/eval_mnist_pipeline.ts): the full
 * evaluation, the demo's smaller budget and the suite's tiny --quick run. Each constant has one line of
 * guidance; the full run is sized to finish in about 45 minutes on a shared 2-core machine (wasm).
 */

export type OptimizerName = 'Adam' | 'SAM' | `mSAM(${number})`;
export type QuantLabel = 'RTN' | 'GPTQ' | 'QuantEase' | 'QuantEase + 1% outliers';

export interface QuantVariant {
  label: QuantLabel;
  method: 'rtn' | 'gptq' | 'quantease';
  outliers?: {fraction: number};
}

export const QUANT_VARIANTS: QuantVariant[] = [
  {label: 'RTN', method: 'rtn'},
  {label: 'GPTQ', method: 'gptq'},
  {label: 'QuantEase', method: 'quantease'},
  {label: 'QuantEase + 1% outliers', method: 'quantease', outliers: {fraction: 0.01}},
];

export interface MnistPipelineConfig {
  /** Training images of the fixed split (the rest of the 10,010 are the test set). */
  trainSize: number;
  /** Seed of the fixed train/test split (independent of the run seeds). */
  splitSeed: number;
  /** Use only the first n training / test images of the split (quick runs); undefined = all. */
  trainLimit?: number;
  testLimit?: number;
  /** Fractions of training labels replaced by a different, uniformly drawn class (symmetric noise). */
  noiseLevels: number[];
  /** Seeds per (optimizer, noise); at least 3 for a spread. */
  seeds: number;
  epochs: number;
  batchSize: number;
  /** Adam learning rate (every optimizer wraps the same Adam). */
  learningRate: number;
  /** mSAM micro-batch counts (SAM is 1). */
  microBatches: number[];
  /** Filters of the two strided 3x3 convolutions, units of the hidden Dense layer, BatchNorm momentum
   * (0.9, not Keras' 0.99: a few hundred steps must be enough for the moving statistics used at test time). */
  model: {filters1: number; filters2: number; hidden: number; bnMomentum: number};
  /** rho candidates; each is trained with SAM on (train minus validation), scored on validation. */
  rhoGrid: number[];
  /** Training images held out for the rho sweep (labels with the same noise as training). */
  sweepValidation: number;
  /** Noise levels at which rho is swept; at the others, the sweep of the nearest level is used. */
  sweepNoiseLevels: number[];
  /** Bits and quantizers applied to every trained model; calibration: the first n training images. */
  bits: number[];
  variants: QuantVariant[];
  calibration: number;
  /** QuantEase sweeps (library default when undefined). */
  sweeps?: number;
  /** m-sharpness: ball radius, micro-batch size m, number of micro-batches, PGA steps (fixed for every model). */
  sharpness: {rho: number; microBatchSize: number; microBatches: number; steps: number};
  /** Top Hessian eigenvalue: training images, power-iteration cap and relative tolerance. */
  hessian: {examples: number; maxIterations: number; tolerance: number};
}

/** The full evaluation of issue 13 (about 45 minutes on 2 shared cores). */
export const FULL_CONFIG: MnistPipelineConfig = {
  trainSize: 8000,
  splitSeed: 13,
  noiseLevels: [0, 0.4],
  seeds: 3,
  epochs: 2,
  batchSize: 128,
  learningRate: 3e-3,
  microBatches: [2, 4, 8],
  model: {filters1: 8, filters2: 16, hidden: 32, bnMomentum: 0.9},
  rhoGrid: [0.02, 0.05, 0.15],
  sweepValidation: 1000,
  sweepNoiseLevels: [0],
  bits: [4, 3, 2],
  variants: QUANT_VARIANTS,
  calibration: 256,
  sharpness: {rho: 0.05, microBatchSize: 16, microBatches: 8, steps: 4},
  hessian: {examples: 256, maxIterations: 10, tolerance: 1e-2},
};

/** `npm run demo`: one seed, fewer epochs, two mSAM variants (under 10 minutes on an idle 2-core machine). */
export const DEMO_CONFIG: MnistPipelineConfig = {
  ...FULL_CONFIG,
  seeds: 1,
  microBatches: [4],
  // rho chosen by the full run's sweep (recipes/results/mnist_pipeline/report.md); no sweep in the demo.
  rhoGrid: [0.02],
  sweepNoiseLevels: [],
};

/** The suite's --quick run: tiny data, one seed, one epoch, a few diagnostics steps (tens of seconds). */
export const QUICK_CONFIG: MnistPipelineConfig = {
  ...FULL_CONFIG,
  trainLimit: 512,
  testLimit: 256,
  seeds: 1,
  epochs: 1,
  microBatches: [2],
  rhoGrid: [0.02, 0.1],
  sweepValidation: 128,
  sweepNoiseLevels: [0],
  bits: [4, 2],
  variants: [QUANT_VARIANTS[0], QUANT_VARIANTS[2]],
  calibration: 64,
  sweeps: 5,
  sharpness: {rho: 0.05, microBatchSize: 16, microBatches: 2, steps: 2},
  hessian: {examples: 64, maxIterations: 3, tolerance: 1e-2},
};

export function optimizerNames(cfg: MnistPipelineConfig): OptimizerName[] {
  return ['Adam', 'SAM', ...cfg.microBatches.map((m) => `mSAM(${m})` as OptimizerName)];
}
