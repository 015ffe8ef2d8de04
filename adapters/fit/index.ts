/**
 * The package entry 'tfjs-sam-quantease/sam': the SAM optimizer (plugins/sam) and its model.fit
 * integration, composed by `sam(base, {..., model})`.
 *
 * @example
 * // SAM under model.fit / fitDataset: the optimizer is the whole change.
 * model.compile({optimizer: sam(tf.train.adam(1e-3), {rho: 0.05}), loss: 'categoricalCrossentropy'});
 * // mSAM under model.fit / fitDataset / trainOnBatch: pass the model, still one line.
 * model.compile({optimizer: sam(tf.train.adam(1e-3), {rho: 0.05, microBatches: 4, model}), loss: 'meanSquaredError'});
 */
import type * as tf from '@tensorflow/tfjs-core';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { SAM_OPTION_KEYS, type SAMConfig } from '../../plugins/sam/config.ts';
import { SAMOptimizer } from '../../plugins/sam/sam_optimizer.ts';
import { installSamFit } from './install_sam_fit.ts';

/** Options of `sam(base, config)`: every SAM option, plus the model to train under fit. */
export interface SAMFitConfig extends SAMConfig {
  /**
   * A tfjs-layers LayersModel or Sequential. When given, `installSamFit(model)` runs: mSAM works
   * under fit / fitDataset / trainOnBatch, trainOnBatch reports the right list with metrics, and
   * the model's non-trainable weights are the variables restored after each perturbed pass.
   * Not part of the optimizer: never serialized.
   */
  model?: object | null;
}

const FIT_OPTION_KEYS: readonly string[] = [...SAM_OPTION_KEYS, 'model'];

/** Wraps `base` in a SAMOptimizer; with `model`, installs the fit integration (see SAMFitConfig). */
export function sam(base: tf.Optimizer, config?: SAMFitConfig): SAMOptimizer {
  rejectUnknownKeys(config, FIT_OPTION_KEYS, 'sam()');
  const { model, ...options } = config ?? {};
  const optimizer = new SAMOptimizer(base, options);
  if (model !== undefined && model !== null) installSamFit(model);
  return optimizer;
}

export { installSamFit, isSamFitInstalled } from './install_sam_fit.ts';
export {
  SAMOptimizer, SAM_DEFAULTS, resolveSamConfig, samPerturbation, asamPerturbation, asamScale, perturbation,
  samGradients, plainGradients, TfjsInternalsError,
  type BatchLossFn, type SliceStepOptions, type SAMConfig, type ResolvedSAMConfig, type BatchNormStatistics,
} from '../../plugins/sam/index.ts';
