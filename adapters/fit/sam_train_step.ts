/**
 * One (m)SAM step of a tfjs-layers train function over micro-batches of its data.
 *
 * tfjs-layers' train function takes `data = [...inputs, ...targets, ...sampleWeights]` (every
 * tensor batched on axis 0, null for absent sample weights), calls `optimizer.minimize(closure,
 * true, vars)` once and returns `[loss, ...metrics]`, where the closure keeps one scalar per metric
 * per call (so SAM's second pass appends disposed extras, dropped here). The step:
 *
 *     sizes = split n rows into min(n, microBatches) slices      (n = 1: one slice, plain SAM)
 *     for each slice s: train(slice s)   -> the optimizer adds n_s * g_sam(slice s)
 *     one base update with sum_s n_s g_s / n;  reported: sum_s n_s out_s / n for loss and each metric
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchSizeOf, splitBatch, splitSizes } from '../../plugins/core/tensor_utils.ts';
import { TfjsInternalsError } from '../../plugins/sam/engine_contact.ts';
import type { SAMOptimizer } from '../../plugins/sam/sam_optimizer.ts';

/** tfjs-layers' train function: data in, `[loss, ...metrics]` out. */
export type TrainFunction = (data: tf.Tensor[]) => tf.Scalar[];

/** What the step needs to know about the model. */
export interface TrainStepContext {
  /** Outputs the model reports: `metricsNames.length` (loss first). */
  numOutputs: number;
  /** Variables to restore after each perturbed pass: the model's non-trainable weights. */
  restore: readonly tf.Variable[];
}

/**
 * Runs `train` once per micro-batch of `data` inside one `optimizer.accumulateSlices` call and
 * returns the size-weighted means of loss and metrics (exactly `numOutputs` scalars; the caller
 * owns them). On any error nothing is updated and nothing leaks: the slices are disposed here, and
 * accumulateSlices disposes the outputs, the gradients and the metric scalars the closures kept.
 */
export function samTrainStep(train: TrainFunction, data: Array<tf.Tensor | null>, optimizer: SAMOptimizer, context: TrainStepContext): tf.Scalar[] {
  const present = data.filter((d): d is tf.Tensor => d != null);
  const sizes = splitSizes(batchSizeOf(present), optimizer.config.microBatches);
  // One slice: the data as given (no copy). Several: fit() passes null for absent sample weights;
  // split the tensors and keep the nulls in place.
  const presentSlices = sizes.length === 1 ? null : splitBatch(present, sizes);
  const sliceData = (s: number): tf.Tensor[] => {
    if (presentSlices === null) return data as tf.Tensor[];
    let k = 0;
    return data.map((d) => (d == null ? d : presentSlices[s][k++])) as tf.Tensor[];
  };
  let outputs: tf.Scalar[][];
  try {
    outputs = optimizer.accumulateSlices(
      sizes,
      (s) => firstOutputs(train(sliceData(s)), context.numOutputs),
      { restore: context.restore },
    );
  } finally {
    presentSlices?.forEach((parts) => tf.dispose(parts));
  }
  if (outputs.length === 1) return outputs[0];
  const total = sizes.reduce((a, b) => a + b, 0);
  const means = tf.tidy(() =>
    Array.from({ length: context.numOutputs }, (_, j) =>
      tf.div(tf.addN(outputs.map((o, s) => tf.mul(o[j], sizes[s]))), total) as tf.Scalar,
    ),
  );
  outputs.forEach((o) => tf.dispose(o));
  return means;
}

/** The first `numOutputs` outputs; the rest (the perturbed pass's metrics) are already disposed. */
function firstOutputs(out: unknown, numOutputs: number): tf.Scalar[] {
  if (!Array.isArray(out) || out.length < numOutputs || !out.slice(0, numOutputs).every((t) => t instanceof tf.Tensor)) {
    tf.dispose(Array.isArray(out) ? out.filter((t): t is tf.Tensor => t instanceof tf.Tensor && !t.isDisposed) : []);
    throw new TfjsInternalsError(`LayersModel.makeTrainFunction()(data) returning [loss, ...metrics] (${numOutputs} tensors); it returned ${Array.isArray(out) ? `${out.length} values` : typeof out}`);
  }
  return out.slice(0, numOutputs) as tf.Scalar[];
}
