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
 * Nothing of SAM survives a step: no perturbation, no state. getWeights / setWeights delegate to
 * the base, so checkpoints hold the base's slots; getConfig holds every SAM option and the base's
 * class name and config.
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, describeValue } from '../core/errors.ts';
import { batchSizeOf, clipByGlobalNorm, splitBatch, splitSizes } from '../core/tensor_utils.ts';
import { installSamTrainFunction } from '../../adapters/fit/sam_train_function.ts';
import { GradientAccumulator, disposeMap } from './accumulator.ts';
import { checkBaseOptimizer, resolveSamConfig, type ModelLike, type ResolvedSAMConfig, type SAMConfig } from './config.ts';
import { plainGradients, samGradients, type GradientResult } from './sam_step.ts';

/** A variable's name and value, as tf.Optimizer's getWeights / applyGradients take them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** A loss over one (micro-)batch for `minimizeOnBatch`. */
export type BatchLossFn<X extends tf.Tensor | tf.Tensor[], Y extends tf.Tensor | tf.Tensor[]> = (xs: X, ys: Y) => tf.Scalar;

export class SAMOptimizer extends tf.Optimizer {
  /** @nocollapse */
  static className = 'SAMOptimizer';

  /** The wrapped optimizer: it applies every update and holds all state. */
  readonly base: tf.Optimizer;
  /** Every SAM option, resolved (see config.ts for the defaults). */
  readonly config: Readonly<ResolvedSAMConfig>;

  private accumulator: GradientAccumulator | null = null;
  private accumulationWeight = 1;
  private accumulationIsSam = false;

  /**
   * @param base any tf.Optimizer (tf.train.sgd, momentum, adam, adamax, adagrad, adadelta, rmsprop).
   * @param config SAM options (rho 0.05, adaptive false, eta 0.01, epsilon 1e-12, microBatches 1,
   *   interval 1, clipNorm none, batchNormStatistics 'first', model none). Validated here.
   */
  constructor(base: tf.Optimizer, config?: SAMConfig) {
    super();
    this.base = checkBaseOptimizer(base);
    this.config = Object.freeze(resolveSamConfig(config));
    if (config?.model) installSamTrainFunction(config.model, this);
  }

  /**
   * Installs the (m)SAM train function on a tfjs-layers model (what the `model` option does), e.g.
   * after tf.loadLayersModel. Instance-level only: no prototype or global is touched.
   */
  attachModel(model: ModelLike): void {
    resolveSamConfig({ model });
    installSamTrainFunction(model, this);
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
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    const accumulating = this.accumulator !== null;
    if (!accumulating && this.config.microBatches > 1) {
      // The closure hides the batch, so micro-batches cannot be formed here: refuse rather than
      // silently doing plain SAM.
      throw new Error(
        `SAMOptimizer.minimize cannot split the batch (microBatches=${this.config.microBatches}): the loss closure hides it. ` +
          'Under model.fit / fitDataset / trainOnBatch pass the model: sam(base, {microBatches, model}) ' +
          '(after tf.loadLayersModel: optimizer.attachModel(model)); in a custom loop call minimizeOnBatch(lossFn, xs, ys).',
      );
    }
    const result = this.gradientsFor(f, varList, accumulating ? this.accumulationIsSam : this.isSamStep());
    if (accumulating) {
      this.accumulator!.add(result.grads, this.accumulationWeight, varList);
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
   * perturbation, averages them weighted by slice size and makes one base update.
   * With one micro-batch it is `minimize(() => lossFn(xs, ys), returnCost, varList)`.
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
  ): tf.Scalar | null {
    const xList = (Array.isArray(xs) ? xs : [xs]) as tf.Tensor[];
    const yList = (Array.isArray(ys) ? ys : [ys]) as tf.Tensor[];
    const sizes = splitSizes(batchSizeOf([...xList, ...yList]), this.config.microBatches);
    if (sizes.length === 1) return this.minimize(() => lossFn(xs, ys), returnCost, varList);

    const slices = splitBatch([...xList, ...yList], sizes);
    const costs: tf.Scalar[] = [];
    this.beginAccumulation();
    try {
      slices.forEach((slice, s) => {
        const sx = (Array.isArray(xs) ? slice.slice(0, xList.length) : slice[0]) as X;
        const sy = (Array.isArray(ys) ? slice.slice(xList.length) : slice[xList.length]) as Y;
        this.setAccumulationWeight(sizes[s]);
        costs.push(this.minimize(() => lossFn(sx, sy), true, varList)!);
      });
      this.endAccumulation();
    } catch (e) {
      this.abortAccumulation();
      tf.dispose(costs);
      throw e;
    } finally {
      slices.forEach((slice) => tf.dispose(slice));
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const cost = tf.tidy(() => tf.div(tf.addN(costs.map((c, s) => tf.mul(c, sizes[s]))), total) as tf.Scalar);
    tf.dispose(costs);
    if (returnCost) return cost;
    cost.dispose();
    return null;
  }

  /**
   * Starts one base step made of several minimize() calls (micro-batches): each call computes its
   * SAM gradient and adds it, weighted, to an accumulator; endAccumulation() applies the weighted
   * mean. Used by minimizeOnBatch and by the model.fit adapter (adapters/fit).
   */
  beginAccumulation(): void {
    if (this.accumulator) throw new Error('SAMOptimizer.beginAccumulation: an accumulation is already running.');
    this.accumulator = new GradientAccumulator();
    this.accumulationIsSam = this.isSamStep();
    this.accumulationWeight = 1;
  }

  /** Weight (micro-batch size) of the next minimize() call's gradient. */
  setAccumulationWeight(weight: number): void {
    this.accumulationWeight = weight;
  }

  /** Applies the size-weighted mean of the accumulated gradients with one base update. */
  endAccumulation(): void {
    const acc = this.accumulator;
    if (!acc) throw new Error('SAMOptimizer.endAccumulation: no accumulation is running.');
    this.accumulator = null;
    const varList = acc.varList;
    const grads = acc.take();
    try {
      if (Object.keys(grads).length > 0) this.applyToBase(grads, varList);
    } finally {
      disposeMap(grads);
    }
  }

  /** Drops the accumulated gradients without updating anything. */
  abortAccumulation(): void {
    this.accumulator?.clear();
    this.accumulator = null;
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
    this.abortAccumulation();
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

  private gradientsFor(f: () => tf.Scalar, varList: tf.Variable[] | undefined, sam: boolean): GradientResult {
    return sam ? samGradients(f, varList, this.config) : plainGradients(f, varList);
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
