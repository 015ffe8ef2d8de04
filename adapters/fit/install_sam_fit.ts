/**
 * The (m)SAM integration with tfjs-layers' model.fit / fitDataset / trainOnBatch.
 *
 * All three build their step with `makeTrainFunction()` (a protected LayersModel method; tf.Sequential
 * inherits it and hands training to an inner LayersModel). `installSamFit(model)` wraps that method
 * once, on the prototype that defines it (LayersModel.prototype of the model's tfjs-layers copy), so
 * every model of that copy is covered: models built later, the inner model tf.Sequential rebuilds
 * on compile(), and models from tf.loadLayersModel. It is an explicit call (`sam(base, {model})`
 * makes it), never done at import, and idempotent.
 *
 * The wrapped train function looks at `this.optimizer` on every step: a SAMOptimizer gets
 * `samTrainStep` (micro-batches, the model's non-trainable weights restored after each perturbed
 * pass, exactly `metricsNames.length` outputs); any other optimizer gets the original step, unchanged.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { OptionError, describeValue } from '../../plugins/core/errors.ts';
import { TfjsInternalsError } from '../../plugins/sam/engine_contact.ts';
import { SAMOptimizer } from '../../plugins/sam/sam_optimizer.ts';
import { samTrainStep, type TrainFunction } from './sam_train_step.ts';

/** The members of a tfjs-layers LayersModel the integration reads (typed here: no tfjs-layers import). */
interface TrainableModel {
  optimizer?: unknown;
  metricsNames?: string[];
  nonTrainableWeights?: Array<{ read(): tf.Variable }>;
  makeTrainFunction(): TrainFunction;
}

type MakeTrainFunction = (this: TrainableModel) => TrainFunction;

/** Marks our wrapper and keeps the original (shared across copies of this module). */
const ORIGINAL = Symbol.for('tfjs-sam-quantease.makeTrainFunction.original');

/**
 * Installs the (m)SAM train step for every model of `model`'s tfjs-layers copy. Idempotent.
 * Throws an OptionError when `model` is not a model, and a TfjsInternalsError naming tfjs-core's version when `makeTrainFunction` is missing.
 *
 * @example
 * const model = await tf.loadLayersModel(url);   // compiled with sam(base, {microBatches: 4})
 * installSamFit(model);                          // once per process, unless sam(base, {model}) ran
 * await model.fit(xs, ys, {batchSize: 32});
 */
export function installSamFit(model: object): void {
  if (model === null || typeof model !== 'object' || typeof (model as { fit?: unknown }).fit !== 'function') {
    throw new OptionError(`\`model\` must be a tfjs-layers LayersModel or Sequential. Received: model=${describeValue(model)}.`);
  }
  const owner = definingPrototype(model);
  if (owner === null) {
    throw new TfjsInternalsError('LayersModel.makeTrainFunction (model.fit builds its train step with it) on the given model');
  }
  const current = (owner as { makeTrainFunction: MakeTrainFunction & { [ORIGINAL]?: MakeTrainFunction } }).makeTrainFunction;
  if (current[ORIGINAL] !== undefined) return;
  const wrapped = function makeTrainFunction(this: TrainableModel): TrainFunction {
    const train = current.call(this);
    return (data: tf.Tensor[]) => {
      const optimizer = this.optimizer;
      if (!(optimizer instanceof SAMOptimizer)) return train(data);
      return samTrainStep(train, data, optimizer, {
        numOutputs: (this.metricsNames ?? ['loss']).length,
        restore: (this.nonTrainableWeights ?? []).map((w) => w.read()),
      });
    };
  } as MakeTrainFunction & { [ORIGINAL]?: MakeTrainFunction };
  wrapped[ORIGINAL] = current;
  Object.defineProperty(owner, 'makeTrainFunction', { value: wrapped, writable: true, configurable: true, enumerable: false });
}

/** Whether `installSamFit` has wrapped the train function `model` uses. */
export function isSamFitInstalled(model: object): boolean {
  const owner = definingPrototype(model);
  return owner !== null && (owner as { makeTrainFunction: { [ORIGINAL]?: unknown } }).makeTrainFunction[ORIGINAL] !== undefined;
}

/** The object on `model`'s prototype chain that owns a `makeTrainFunction` method, or null. */
function definingPrototype(model: object): object | null {
  if (model === null || typeof model !== 'object') return null;
  for (let o: object | null = model; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, 'makeTrainFunction');
    if (d) return typeof d.value === 'function' ? o : null;
  }
  return null;
}
