/**
 * SAM and mSAM under tfjs-layers' model.fit / fitDataset / trainOnBatch, without patching any
 * prototype or global.
 *
 * All three build their step with `this.makeTrainFunction()` (fitDataset: `model.makeTrainFunction()`)
 * and call it with `data = [...inputs, ...targets, ...sampleWeights]`, every tensor batched on axis 0.
 * That function calls `optimizer.minimize(closure, true, vars)` once and returns
 * `[loss, ...metricsValues]`, where `metricsValues` gets one kept scalar per metric per closure call.
 *
 * `installSamTrainFunction(model, optimizer)` sets an own `makeTrainFunction` on this model instance
 * (and, for tf.Sequential, on its inner LayersModel `.model`, which compile() rebuilds: an own
 * accessor on the instance re-installs on every new inner model). The train function it returns:
 *   - runs the original step unchanged when the model's optimizer is not `optimizer`;
 *   - else splits `data` into min(batch, microBatches) slices, runs the original step per slice with
 *     the optimizer accumulating (each minimize() computes that slice's SAM gradient and adds it
 *     weighted by slice size), applies one base update, and returns size-weighted means of loss and
 *     metrics, exactly `metricsNames.length` tensors (the perturbed pass's extra entries, disposed by
 *     the optimizer, are dropped so trainOnBatch reports the right values).
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchSizeOf, splitBatch, splitSizes } from '../../plugins/core/tensor_utils.ts';

/** What the adapter needs from SAMOptimizer (typed here to keep the dependency one way). */
export interface AccumulatingOptimizer {
  readonly config: { readonly microBatches: number };
  beginAccumulation(): void;
  setAccumulationWeight(weight: number): void;
  endAccumulation(): void;
  abortAccumulation(): void;
}

type TrainFunction = (data: tf.Tensor[]) => tf.Scalar[];

interface TrainableModel {
  optimizer?: unknown;
  metricsNames?: string[];
  makeTrainFunction?: unknown;
  model?: unknown;
}

/** Models we installed on, and the optimizer each one serves now. */
const installed = new WeakMap<object, { optimizer: AccumulatingOptimizer }>();

/**
 * Installs the SAM / mSAM train function on `model` (a LayersModel or Sequential) for `optimizer`.
 * Idempotent; installing again with another optimizer switches to it.
 */
export function installSamTrainFunction(model: object, optimizer: AccumulatingOptimizer): void {
  installOn(model as TrainableModel, optimizer);
  const m = model as TrainableModel;
  // tf.Sequential hands fit / fitDataset / trainOnBatch to an inner LayersModel at `.model`.
  if (isSequential(m)) {
    const own = Object.getOwnPropertyDescriptor(m, 'model');
    if (own?.get === undefined) {
      let inner = m.model;
      Object.defineProperty(m, 'model', {
        configurable: true,
        enumerable: true,
        get: () => inner,
        set: (value: unknown) => {
          inner = value;
          if (value && typeof value === 'object') installOn(value as TrainableModel, installed.get(m)!.optimizer);
        },
      });
    }
    if (m.model && typeof m.model === 'object') installOn(m.model as TrainableModel, optimizer);
  }
}

/** tf.Sequential, by its registered class name (survives minification) or its inner `.model`. */
function isSequential(m: TrainableModel): boolean {
  const named = m as { getClassName?: () => string };
  return (typeof named.getClassName === 'function' && named.getClassName() === 'Sequential') || 'model' in m;
}

function installOn(model: TrainableModel, optimizer: AccumulatingOptimizer): void {
  const state = installed.get(model);
  if (state) {
    state.optimizer = optimizer;
    return;
  }
  if (typeof model.makeTrainFunction !== 'function') return;
  installed.set(model, { optimizer });
  const original = model.makeTrainFunction as (this: TrainableModel) => TrainFunction;
  model.makeTrainFunction = function makeSamTrainFunction(this: TrainableModel): TrainFunction {
    const train = original.call(this);
    return (data: tf.Tensor[]) => {
      const opt = installed.get(model)!.optimizer;
      if (this.optimizer !== opt) return train(data);
      return samTrainStep(train, data, opt, (this.metricsNames ?? ['loss']).length);
    };
  };
}

/** One (m)SAM step of the original train function over micro-batches of `data`. */
function samTrainStep(train: TrainFunction, data: Array<tf.Tensor | null>, optimizer: AccumulatingOptimizer, numOutputs: number): tf.Scalar[] {
  // fit() passes null for absent sample weights: split the tensors, keep the nulls in place.
  const present = data.filter((d): d is tf.Tensor => d != null);
  const sizes = splitSizes(batchSizeOf(present), optimizer.config.microBatches);
  if (sizes.length === 1) return train(data as tf.Tensor[]).slice(0, numOutputs);

  const presentSlices = splitBatch(present, sizes);
  const slices = presentSlices.map((parts) => {
    let k = 0;
    return data.map((d) => (d == null ? d : parts[k++])) as tf.Tensor[];
  });
  const outputs: tf.Scalar[][] = [];
  optimizer.beginAccumulation();
  try {
    slices.forEach((slice, s) => {
      optimizer.setAccumulationWeight(sizes[s]);
      outputs.push(train(slice).slice(0, numOutputs));
    });
    optimizer.endAccumulation();
  } catch (e) {
    optimizer.abortAccumulation();
    outputs.forEach((o) => tf.dispose(o));
    throw e;
  } finally {
    presentSlices.forEach((parts) => tf.dispose(parts));
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  const means = tf.tidy(() =>
    Array.from({ length: numOutputs }, (_, j) =>
      tf.div(tf.addN(outputs.map((o, s) => tf.mul(o[j], sizes[s]))), total) as tf.Scalar,
    ),
  );
  outputs.forEach((o) => tf.dispose(o));
  return means;
}
