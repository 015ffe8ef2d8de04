/**
 * SAM / ASAM / mSAM for TensorFlow.js. `sam(base, config)` wraps any tf.Optimizer.
 *
 * @example
 * // SAM under model.fit: the whole change is the optimizer.
 * model.compile({optimizer: sam(tf.train.adam(1e-3), {rho: 0.05}), loss: 'categoricalCrossentropy'});
 * // mSAM under model.fit: pass the model so the batch can be split.
 * model.compile({optimizer: sam(tf.train.adam(1e-3), {microBatches: 4, model}), loss: 'meanSquaredError'});
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { SAMConfig } from './config.ts';
import { SAMOptimizer } from './sam_optimizer.ts';

/** Wraps `base` in a SAMOptimizer (options and defaults: see SAMConfig). */
export function sam(base: tf.Optimizer, config?: SAMConfig): SAMOptimizer {
  return new SAMOptimizer(base, config);
}

export { SAMOptimizer, type BatchLossFn } from './sam_optimizer.ts';
export { SAM_DEFAULTS, resolveSamConfig, type SAMConfig, type ResolvedSAMConfig, type BatchNormStatistics } from './config.ts';
export { samPerturbation, asamPerturbation, asamScale, perturbation } from './perturbation.ts';
export { samGradients, plainGradients } from './sam_step.ts';
