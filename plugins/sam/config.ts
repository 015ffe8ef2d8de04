/**
 * SAM options: the defaults, and validation done once, at construction. Every message names the
 * option, the value received and what is allowed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, describeValue } from '../core/errors.ts';
import { checkBoolean, checkFiniteNumber, checkInteger, checkOneOf, rejectUnknownKeys } from '../core/validate.ts';

/** What to do with variables the loss closure writes (BatchNorm moving statistics) on the perturbed pass. */
export type BatchNormStatistics = 'first' | 'both';

/** Options of `sam(base, config)`. */
export interface SAMConfig {
  /** Radius of the neighbourhood: eps = rho * g / (||g|| + epsilon). Default 0.05 (ASAM papers use ~0.5-2). */
  rho?: number;
  /** ASAM (Kwon et al. 2021): scale the perturbation by T = |w| + eta on kernels. Default false. */
  adaptive?: boolean;
  /** ASAM's offset in T = |w| + eta. Default 0.01. */
  eta?: number;
  /** Added to the gradient norm in the denominator. Default 1e-12. */
  epsilon?: number;
  /** mSAM: number of micro-batches, each with its own perturbation. Default 1 (plain SAM). */
  microBatches?: number;
  /** Do SAM every `interval` base steps, plain base steps in between. Default 1 (SAM every step). */
  interval?: number;
  /** Clip the final gradient to this global L2 norm before the base update. Default: no clipping. */
  clipNorm?: number | null;
  /**
   * 'first' (default): variables the loss closure writes, e.g. BatchNorm moving statistics, keep
   * only the update of the unperturbed pass. 'both': keep the updates of both passes.
   */
  batchNormStatistics?: BatchNormStatistics;
}

/** Every option resolved to its value. */
export interface ResolvedSAMConfig {
  rho: number;
  adaptive: boolean;
  eta: number;
  epsilon: number;
  microBatches: number;
  interval: number;
  clipNorm: number | null;
  batchNormStatistics: BatchNormStatistics;
}

export const SAM_DEFAULTS: Readonly<ResolvedSAMConfig> = Object.freeze({
  rho: 0.05,
  adaptive: false,
  eta: 0.01,
  epsilon: 1e-12,
  microBatches: 1,
  interval: 1,
  clipNorm: null,
  batchNormStatistics: 'first',
});

export const SAM_OPTION_KEYS = [
  'rho', 'adaptive', 'eta', 'epsilon', 'microBatches', 'interval', 'clipNorm', 'batchNormStatistics',
] as const;

/** Validates `config` and fills in the defaults. Throws an OptionError on the first bad option. */
export function resolveSamConfig(config: SAMConfig | undefined): ResolvedSAMConfig {
  rejectUnknownKeys(config, SAM_OPTION_KEYS, 'sam()');
  const c = config ?? {};
  const pick = <K extends keyof ResolvedSAMConfig>(k: K): unknown => (c[k] === undefined ? SAM_DEFAULTS[k] : c[k]);
  const clipNorm = pick('clipNorm');
  return {
    rho: checkFiniteNumber('rho', pick('rho'), 0),
    adaptive: checkBoolean('adaptive', pick('adaptive')),
    eta: checkFiniteNumber('eta', pick('eta'), 0),
    epsilon: checkFiniteNumber('epsilon', pick('epsilon'), 0),
    microBatches: checkInteger('microBatches', pick('microBatches'), 1),
    interval: checkInteger('interval', pick('interval'), 1),
    clipNorm: clipNorm === null ? null : checkFiniteNumber('clipNorm', clipNorm, 0, Infinity, true),
    batchNormStatistics: checkOneOf('batchNormStatistics', pick('batchNormStatistics'), ['first', 'both'] as const),
  };
}

/** Throws unless `base` is a tf.Optimizer that is not itself a SAM wrapper. */
export function checkBaseOptimizer(base: unknown): tf.Optimizer {
  // tf.Optimizer's instanceof is duck-typed (minimize, computeGradients, applyGradients).
  if (base === null || typeof base !== 'object' || !(base instanceof tf.Optimizer)) {
    throw new OptionError(
      `\`base\` must be a tf.Optimizer, e.g. tf.train.adam(1e-3). Received: base=${describeValue(base)}.`,
    );
  }
  if ((base.constructor as { className?: string }).className === 'SAMOptimizer') {
    throw new OptionError('`base` must not be a SAMOptimizer: SAM wraps a plain optimizer. Received: base=a SAMOptimizer.');
  }
  return base;
}
