/**
 * SAM / ASAM / mSAM for TensorFlow.js, the pure optimizer: `sam(base, config)` wraps any
 * tf.Optimizer. It imports nothing from tfjs-layers; the model.fit integration (mSAM under fit,
 * the `model` option) lives in adapters/fit, whose `sam()` is the package entry
 * 'tfjs-sam-quantease/sam'.
 *
 * @example
 * // Custom loop: SAM on a loss closure, mSAM on a batch it can split.
 * const opt = sam(tf.train.adam(1e-3), {rho: 0.05, microBatches: 4});
 * opt.minimizeOnBatch((x, y) => tf.losses.meanSquaredError(y, net(x)), xs, ys);
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { SAMConfig } from './config.ts';
import { SAMOptimizer } from './sam_optimizer.ts';

/** Wraps `base` in a SAMOptimizer (options and defaults: see SAMConfig). */
export function sam(base: tf.Optimizer, config?: SAMConfig): SAMOptimizer {
  return new SAMOptimizer(base, config);
}

export { SAMOptimizer, type BatchLossFn, type SliceStepOptions } from './sam_optimizer.ts';
export { SAM_DEFAULTS, SAM_OPTION_KEYS, resolveSamConfig, type SAMConfig, type ResolvedSAMConfig, type BatchNormStatistics } from './config.ts';
export { samPerturbation, asamPerturbation, asamScale, perturbation } from './perturbation.ts';
export { samGradients, plainGradients } from './sam_step.ts';
export { TfjsInternalsError } from './engine_contact.ts';
