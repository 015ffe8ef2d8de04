/**
 * m-sharpness (Foret et al. 2021, "Sharpness-Aware Minimization for Efficiently Improving
 * Generalization", sec. 4.1; Behdin et al. 2023, "mSAM: Micro-Batch-Averaged Sharpness-Aware
 * Minimization"): split the data into K micro-batches S_1..S_K of m examples each, then
 *
 *   m-sharpness(w) = (1/K) sum_k  max_{||e||_2 <= rho}  [ L_{S_k}(w + e) - L_{S_k}(w) ]
 *
 * with one ball over all variables together. Each inner max is estimated by projected gradient
 * ascent (PGA) with normalized steps:
 *
 *   e_0 = 0,   e_{t+1} = P_rho( e_t + alpha * rho * g_t / ||g_t|| ),   g_t = grad L_{S_k}(w + e_t),
 *   P_rho(e) = e * min(1, rho / ||e||),   t = 0 .. steps-1,
 *
 * and the estimate is the largest increase seen over e_0..e_steps (so it never decreases with more
 * steps and is >= 0, the value at e = 0). With alpha = 0.5 (default) two steps reach the sphere; the
 * first direction is SAM's. When g_t = 0 (e.g. exactly at a minimum) a seeded random unit direction
 * is used instead. PGA gives a lower bound of the true max; for a convex quadratic it converges to it.
 * Cost per micro-batch: steps gradients + 1 loss evaluation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../core/errors.ts';
import { resolveMSharpnessOptions, type MSharpnessOptions } from './options.ts';
import {
  assignShifted, axpy, lossValue, norm, randomUnit, scale, snapshot, valueAndGradients, type WeightVector,
} from './weight_vectors.ts';

export interface MSharpnessResult {
  /** Mean over micro-batches of the largest loss increase found in the ball. */
  value: number;
  /** The estimate of each micro-batch. */
  perMicroBatch: number[];
  /** Loss of each micro-batch at the unperturbed weights. */
  baseLoss: number[];
  /** Options used (after defaults). */
  rho: number;
  steps: number;
}

/** The largest increase of `loss` found by PGA in the rho-ball around the current `vars` (restored after). */
export function maxLossIncrease(
  loss: () => tf.Scalar, vars: readonly tf.Variable[], rho: number, steps: number, stepSize: number, seed: number,
): { increase: number; base: number } {
  const w0 = snapshot(vars);
  let e: WeightVector = vars.map((v) => tf.zerosLike(v));
  let base = NaN;
  let best = 0;
  try {
    for (let t = 0; t < steps; t++) {
      if (t > 0) assignShifted(vars, w0, e);
      const { value, grads } = valueAndGradients(loss, vars);
      if (t === 0) base = value;
      else best = Math.max(best, value - base);
      const gNorm = norm(grads);
      let dir: WeightVector;
      if (gNorm > 0 && Number.isFinite(gNorm)) {
        dir = scale(grads, 1 / gNorm);
      } else {
        dir = randomUnit(vars, seed + t);
      }
      tf.dispose(grads);
      const moved = axpy(e, dir, stepSize * rho);
      tf.dispose([...dir, ...e]);
      const n = norm(moved);
      e = n > rho ? scale(moved, rho / n) : moved;
      if (e !== moved) tf.dispose(moved);
    }
    assignShifted(vars, w0, e);
    best = Math.max(best, lossValue(loss) - base);
  } finally {
    assignShifted(vars, w0);
    tf.dispose([...w0, ...e]);
  }
  return { increase: best, base };
}

/**
 * m-sharpness over micro-batches: `microBatchLosses[k]()` returns the mean loss of micro-batch k
 * at the current values of `vars` (a closure reading the variables). The variables are restored
 * exactly (to their values before the call) even when a loss throws.
 *
 * @example
 *   const r = mSharpness(batches.map((b) => () => lossOn(b)), model.trainableWeights.map((w) => w.val),
 *       {rho: 0.05, steps: 10});
 *   r.value; // mean max loss increase
 */
export function mSharpness(
  microBatchLosses: ReadonlyArray<() => tf.Scalar>, vars: readonly tf.Variable[], options: MSharpnessOptions = {},
): MSharpnessResult {
  const o = resolveMSharpnessOptions(options);
  if (!Array.isArray(microBatchLosses) || microBatchLosses.length === 0 ||
      microBatchLosses.some((f) => typeof f !== 'function')) {
    throw new InputError(`\`microBatchLosses\` must be a non-empty array of functions returning a scalar loss. ` +
        `Received: ${Array.isArray(microBatchLosses) ? `an array of ${microBatchLosses.length}` : typeof microBatchLosses}.`);
  }
  if (!Array.isArray(vars) || vars.length === 0) {
    throw new InputError('`vars` must be a non-empty array of tf.Variable (the weights to perturb). Received: none.');
  }
  const perMicroBatch: number[] = [];
  const baseLoss: number[] = [];
  microBatchLosses.forEach((loss, k) => {
    const r = maxLossIncrease(loss, vars, o.rho, o.steps, o.stepSize, o.seed + 7919 * k);
    perMicroBatch.push(r.increase);
    baseLoss.push(r.base);
    o.onProgress?.({ done: k + 1, total: microBatchLosses.length, stage: 'm-sharpness' });
  });
  const value = perMicroBatch.reduce((a, b) => a + b, 0) / perMicroBatch.length;
  return { value, perMicroBatch, baseLoss, rho: o.rho, steps: o.steps };
}
