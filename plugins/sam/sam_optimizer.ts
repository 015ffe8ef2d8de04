/**
 * SAMOptimizer: SAM / ASAM / mSAM as a tf.Optimizer that wraps any base optimizer (the thin shell;
 * the math is in perturbation.ts and sam_step.ts).
 *
 *     step t (base.iterations = t):
 *       if rho > 0 and t % interval == 0:  g = g_sam  (per micro-batch s: g_s = g_sam on slice s,
 *                                                       g = sum_s n_s g_s / sum_s n_s)
 *       else:                              g = grad f(w)
 *       if clipNorm:                       g = g * min(1, clipNorm / ||g||)
 *       base.applyGradients(g)             (the base owns learning rate, iterations and slots)
 *
 * An mSAM step is one scoped call, accumulateSlices (minimizeOnBatch and the fit integration use
 * it): it cannot be left half-open, and a failure inside it updates nothing and leaks nothing.
 * Nothing of SAM survives a step: no perturbation, no state. getWeights / setWeights delegate to
 * the base, so checkpoints hold the base's slots; getConfig holds every SAM option and the base's
 * class name and config.
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, describeValue } from '../core/errors.ts';
import { batchSizeOf, clipByGlobalNorm, splitBatch, splitSizes } from '../core/tensor_utils.ts';
import { GradientAccumulator, disposeMap } from './accumulator.ts';
import { checkBaseOptimizer, resolveSamConfig, type ResolvedSAMConfig, type SAMConfig } from './config.ts';
import { unoptimizedVariables } from './engine_contact.ts';
import { plainGradients, samGradients, type GradientResult } from './sam_step.ts';

/** A variable's name and value, as tf.Optimizer's getWeights / applyGradients take them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** A loss over one (micro-)batch for `minimizeOnBatch`. */
export type BatchLossFn<X extends tf.Tensor | tf.Tensor[], Y extends tf.Tensor | tf.Tensor[]> = (xs: X, ys: Y) => tf.Scalar;

/** Options of `accumulateSlices`. */
export interface SliceStepOptions {
  /**
   * Variables the loss closure may write as a side effect (a model's non-trainable weights:
   * BatchNorm moving statistics). With batchNormStatistics 'first' those the unperturbed pass
   * wrote get its values back after the perturbed pass. Default: every registered variable that
   * is not optimized (the custom-loop fallback, see `minimize`).
   */
  restore?: readonly tf.Variable[];
}

/** The state of one running `accumulateSlices` call. */
interface SliceStep {
  readonly accumulator: GradientAccumulator;
  readonly isSam: boolean;
  readonly restore: readonly tf.Variable[] | undefined;
  /** Tensors the loss closures kept on their first pass: disposed if the step fails. */
  readonly kept: tf.Tensor[];
  weight: number;
}

export class SAMOptimizer extends tf.Optimizer {
  /** @nocollapse */
  static get className(): string {
    return 'SAMOptimizer';
  }

  /**
   * tf.Optimizer answers `instanceof` by duck typing (any object with minimize, computeGradients
   * and applyGradients), and subclasses inherit that: restore the ordinary prototype check so that
   * `x instanceof SAMOptimizer` means a SAM optimizer.
   */
  static [Symbol.hasInstance](instance: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, instance);
  }

  /** The wrapped optimizer: it applies every update and holds all state. */
  readonly base: tf.Optimizer;
  /** Every SAM option, resolved (see config.ts for the defaults). */
  readonly config: Readonly<ResolvedSAMConfig>;

  private step: SliceStep | null = null;

  /**
   * @param base any tf.Optimizer (tf.train.sgd, momentum, adam, adamax, adagrad, adadelta, rmsprop).
   * @param config SAM options (rho 0.05, adaptive false, eta 0.01, epsilon 1e-12, microBatches 1,
   *   interval 1, clipNorm none, batchNormStatistics 'first'). Validated here.
   */
  constructor(base: tf.Optimizer, config?: SAMConfig) {
    super();
    this.base = checkBaseOptimizer(base);
    this.config = Object.freeze(resolveSamConfig(config));
  }

  /** The base optimizer's iteration count (SAM keeps no counter of its own). */
  override get iterations(): number {
    return this.base.iterations;
  }

  /** Whether the next base step is a SAM step (rho > 0 and base.iterations % interval == 0). */
  isSamStep(): boolean {
    return this.config.rho > 0 && this.base.iterations % this.config.interval === 0;
  }

  /**
   * SAM step on the loss closure f: gradient at w, perturb, gradient at w + eps, restore w, and
   * the base optimizer applies the SAM gradient. Returns f's value at w when returnCost is true.
   * Inside `accumulateSlices` it computes one slice's gradient instead of updating.
   *
   * Variables restored after the perturbed pass (batchNormStatistics 'first'): inside
   * `accumulateSlices`, its `restore` list (the fit integration passes the model's non-trainable
   * weights); otherwise, in a custom loop, every registered variable outside varList (or not
   * trainable when varList is absent) whose buffer the unperturbed pass replaced.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    const step = this.step;
    if (step === null && this.config.microBatches > 1) {
      // The closure hides the batch, so micro-batches cannot be formed here: refuse rather than
      // silently doing plain SAM.
      throw new Error(
        `SAMOptimizer.minimize cannot split the batch (microBatches=${this.config.microBatches}): the loss closure hides it. ` +
          "Under model.fit / fitDataset / trainOnBatch use sam(base, {microBatches, model}) from 'tfjs-sam-quantease/sam' " +
          '(after tf.loadLayersModel in a new process: installSamFit(model) once); in a custom loop call minimizeOnBatch(lossFn, xs, ys).',
      );
    }
    const result = this.gradientsFor(f, varList, step ? step.isSam : this.isSamStep(), step);
    if (step !== null) {
      step.accumulator.add(result.grads, step.weight, varList);
    } else {
      try {
        this.applyToBase(result.grads, varList);
      } finally {
        disposeMap(result.grads);
      }
    }
    if (returnCost) return result.value;
    result.value.dispose();
    return null;
  }

  /**
   * mSAM on one batch: splits xs / ys (a tensor or an array of tensors) along axis 0 into
   * min(batch, microBatches) slices, takes one SAM gradient per slice with that slice's own
   * perturbation, averages them weighted by slice size and makes one base update. A batch of one
   * row is one slice: plain SAM on it. With one slice it equals
   * `minimize(() => lossFn(xs, ys), returnCost, varList)` bit for bit.
   * Returns the size-weighted mean loss at w when returnCost is true.
   *
   * @example
   * const opt = sam(tf.train.adam(1e-3), {microBatches: 4});
   * opt.minimizeOnBatch((x, y) => tf.losses.meanSquaredError(y, net(x)), xs, ys);
   */
  minimizeOnBatch<X extends tf.Tensor | tf.Tensor[], Y extends tf.Tensor | tf.Tensor[]>(
    lossFn: BatchLossFn<X, Y>,
    xs: X,
    ys: Y,
    returnCost = false,
    varList?: tf.Variable[],
    options: SliceStepOptions = {},
  ): tf.Scalar | null {
    const xList = (Array.isArray(xs) ? xs : [xs]) as tf.Tensor[];
    const yList = (Array.isArray(ys) ? ys : [ys]) as tf.Tensor[];
    const sizes = splitSizes(batchSizeOf([...xList, ...yList]), this.config.microBatches);
    const slices = sizes.length === 1 ? null : splitBatch([...xList, ...yList], sizes);
    let costs: tf.Scalar[];
    try {
      costs = this.accumulateSlices(sizes, (s) => {
        if (slices === null) return this.minimize(() => lossFn(xs, ys), true, varList)!;
        const sx = (Array.isArray(xs) ? slices[s].slice(0, xList.length) : slices[s][0]) as X;
        const sy = (Array.isArray(ys) ? slices[s].slice(xList.length) : slices[s][xList.length]) as Y;
        return this.minimize(() => lossFn(sx, sy), true, varList)!;
      }, options);
    } finally {
      slices?.forEach((slice) => tf.dispose(slice));
    }
    if (!returnCost) {
      tf.dispose(costs);
      return null;
    }
    if (costs.length === 1) return costs[0];
    const total = sizes.reduce((a, b) => a + b, 0);
    const cost = tf.tidy(() => tf.div(tf.addN(costs.map((c, s) => tf.mul(c, sizes[s]))), total) as tf.Scalar);
    tf.dispose(costs);
    return cost;
  }

  /**
   * One base step made of one minimize() call per slice (mSAM's micro-batches), as one scoped call:
   * runs `runSlice(s)` for each slice s in order; the minimize() call it makes computes that slice's
   * SAM gradient (its own perturbation) and adds it weighted by `sliceSizes[s]`; after the last
   * slice the size-weighted mean makes one base update. Returns what each runSlice returned.
   * Whatever happens, the optimizer leaves the scope: on an error nothing is updated, the gradients
   * and the values runSlice returned so far are disposed, and the weights hold w.
   * Used by minimizeOnBatch and by the model.fit integration (adapters/fit).
   *
   * @param sliceSizes rows per slice (positive integers), e.g. splitSizes(batch, microBatches).
   * @param runSlice must call this optimizer's minimize() exactly once.
   */
  accumulateSlices<T extends tf.TensorContainer>(
    sliceSizes: readonly number[],
    runSlice: (index: number) => T,
    options: SliceStepOptions = {},
  ): T[] {
    if (!Array.isArray(sliceSizes) || sliceSizes.length === 0 || !sliceSizes.every((n) => Number.isInteger(n) && n > 0)) {
      throw new OptionError(`\`sliceSizes\` must be a non-empty array of positive integers. Received: sliceSizes=${describeValue(sliceSizes)}.`);
    }
    if (this.step !== null) throw new Error('SAMOptimizer.accumulateSlices cannot be nested: a step is already running.');
    const step: SliceStep = { accumulator: new GradientAccumulator(), isSam: this.isSamStep(), restore: options.restore, kept: [], weight: 1 };
    const results: T[] = [];
    let done = false;
    this.step = step;
    try {
      sliceSizes.forEach((size, s) => {
        step.weight = size;
        const calls = step.accumulator.size;
        results.push(runSlice(s));
        if (step.accumulator.size !== calls + 1) {
          throw new Error(`SAMOptimizer.accumulateSlices: runSlice(${s}) must call minimize() exactly once; it called it ${step.accumulator.size - calls} times.`);
        }
      });
      this.step = null;
      const varList = step.accumulator.varList;
      const grads = step.accumulator.take();
      try {
        if (Object.keys(grads).length > 0) this.applyToBase(grads, varList);
      } finally {
        disposeMap(grads);
      }
      done = true;
      return results;
    } finally {
      this.step = null;
      step.accumulator.clear();
      // On failure, what the slices returned and what their closures kept (metrics) is garbage.
      if (!done) tf.dispose([...(results as tf.TensorContainer[]), ...step.kept]);
    }
  }

  /** SAM needs the loss closure: direct calls are refused. */
  override applyGradients(_variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    throw new Error(
      'SAMOptimizer.applyGradients cannot be called directly: SAM needs the loss closure to take the ' +
        'gradient at the perturbed weights. Call minimize(f, returnCost, varList) or ' +
        'minimizeOnBatch(lossFn, xs, ys), or apply plain gradients with the base optimizer (optimizer.base.applyGradients).',
    );
  }

  override async getWeights(): Promise<NamedTensor[]> {
    return this.base.getWeights();
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    return this.base.setWeights(weightValues);
  }

  override dispose(): void {
    this.base.dispose();
  }

  /** Every SAM option plus `base: {className, config}`. The model is never serialized. */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...this.config,
      base: { className: this.base.getClassName(), config: this.base.getConfig() },
    };
  }

  /** Rebuilds the base optimizer through tf.serialization's registry, then SAM around it. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers' deserializer adds `customObjects` to the config it hands over.
    const { base, customObjects: _ignored, ...options } = config as Record<string, unknown>;
    return new cls(deserializeOptimizer(base), options);
  }

  private gradientsFor(f: () => tf.Scalar, varList: tf.Variable[] | undefined, sam: boolean, step: SliceStep | null): GradientResult {
    if (!sam) return plainGradients(f, varList, step?.kept);
    const toRestore = this.config.batchNormStatistics === 'both' ? [] : step?.restore ?? unoptimizedVariables(varList);
    return samGradients(f, varList, this.config, toRestore, step?.kept);
  }

  /** Clips (clipNorm) and hands the gradients to the base in the shape tf.Optimizer.minimize does. */
  private applyToBase(grads: tf.NamedTensorMap, varList?: tf.Variable[]): void {
    let final = grads;
    let clipped: tf.Tensor[] = [];
    if (this.config.clipNorm !== null) {
      const names = Object.keys(grads).filter((n) => grads[n] != null);
      clipped = clipByGlobalNorm(names.map((n) => grads[n]), this.config.clipNorm);
      final = { ...grads };
      names.forEach((n, i) => (final[n] = clipped[i]));
    }
    try {
      if (varList != null) {
        // Same argument as tf.Optimizer.minimize: slot variables are matched by position.
        this.base.applyGradients(varList.map((v) => ({ name: v.name, tensor: final[v.name] })));
      } else {
        this.base.applyGradients(final);
      }
    } finally {
      tf.dispose(clipped);
    }
  }
}

/** Builds a registered tf.Optimizer from {className, config}. */
function deserializeOptimizer(spec: unknown): tf.Optimizer {
  const s = spec as { className?: unknown; config?: unknown } | null;
  if (s === null || typeof s !== 'object' || typeof s.className !== 'string' || typeof s.config !== 'object') {
    throw new OptionError(`\`base\` in a SAMOptimizer config must be {className, config}. Received: base=${describeValue(spec)}.`);
  }
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[s.className];
  if (!entry) {
    throw new OptionError(
      `\`base.className\` must name a registered tf.Optimizer class. Received: base.className=${describeValue(s.className)}. ` +
        'Register custom optimizers with tf.serialization.registerClass before loading.',
    );
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, s.config as tf.serialization.ConfigDict) as unknown as tf.Optimizer;
}

tf.serialization.registerClass(SAMOptimizer);
