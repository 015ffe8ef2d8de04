/**
 * Sharpness diagnostics for a tfjs-layers model on a batch (tensors x, y): m-sharpness over
 * micro-batches of m examples and the top Hessian eigenvalue of the mean training loss, both with
 * respect to the model's trainable weights (BatchNormalization's gamma and beta included).
 *
 * The loss is evaluated in inference mode (`training: false`): BatchNormalization uses its moving
 * statistics and never updates them, and dropout is off, so the diagnostics change nothing in the
 * model. The math lives in plugins/sharpness; this file only builds loss closures.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { checkBoolean, checkInteger, optionFail, rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { mSharpness, type MSharpnessResult } from '../../plugins/sharpness/m_sharpness.ts';
import { topHessianEigenvalue, type HessianEigenResult } from '../../plugins/sharpness/hessian_eigenvalue.ts';
import {
  M_SHARPNESS_KEYS, HESSIAN_KEYS, resolveHessianEigenOptions, resolveMSharpnessOptions,
  type HessianEigenOptions, type MSharpnessOptions,
} from '../../plugins/sharpness/options.ts';
import { sharpnessProgressBar } from './progress.ts';

/** Per-example loss (yTrue, yPred) -> [batch] (as the tfjs-layers losses), averaged here. */
export type ExampleLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

interface ModelLossOptions {
  /** Loss function; default: the loss the model was compiled with. */
  loss?: ExampleLoss;
  /** Draw a progress bar on stderr when it is a terminal. Default true. */
  progress?: boolean;
}

export interface ModelMSharpnessOptions extends Omit<MSharpnessOptions, 'onProgress'>, ModelLossOptions {
  /** Examples per micro-batch (m). Default 32. */
  microBatchSize?: number;
  /** Micro-batches used at most (the first ones of the batch). Default: all full micro-batches. */
  maxMicroBatches?: number;
}

export interface ModelHessianOptions extends Omit<HessianEigenOptions, 'onProgress'>, ModelLossOptions {}

function compiledLoss(model: tfl.LayersModel): ExampleLoss | undefined {
  // tf.Sequential keeps the compiled LayersModel at `.model`.
  const m = model as unknown as { lossFunctions?: ExampleLoss[]; model?: { lossFunctions?: ExampleLoss[] } };
  const fns = m.lossFunctions ?? m.model?.lossFunctions;
  return fns !== undefined && fns.length === 1 ? fns[0] : undefined;
}

function resolveCommon(o: ModelLossOptions, model: tfl.LayersModel): { loss: ExampleLoss; progress: boolean } {
  if (o.loss !== undefined && typeof o.loss !== 'function') optionFail('loss', o.loss, 'a function (yTrue, yPred) => per-example loss');
  const loss = o.loss ?? compiledLoss(model);
  if (loss === undefined) {
    throw new InputError('The model has no single compiled loss. Pass `loss` (yTrue, yPred) => per-example loss, or compile the model first.');
  }
  return { loss, progress: o.progress === undefined ? true : checkBoolean('progress', o.progress) };
}

function checkData(x: unknown, y: unknown): number {
  if (!(x instanceof tf.Tensor) || !(y instanceof tf.Tensor)) {
    throw new InputError('`x` and `y` must be tensors (inputs and targets of one batch).');
  }
  if (x.shape[0] !== y.shape[0] || !(x.shape[0]! > 0)) {
    throw new InputError(`\`x\` and \`y\` must have the same non-zero batch size. Received: ${x.shape[0]} and ${y.shape[0]}.`);
  }
  return x.shape[0]!;
}

function variablesOf(model: tfl.LayersModel): tf.Variable[] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (vars.length === 0) throw new InputError('The model has no trainable weights.');
  return vars;
}

function meanLoss(model: tfl.LayersModel, loss: ExampleLoss, x: tf.Tensor, y: tf.Tensor): () => tf.Scalar {
  return () => tf.mean(loss(y, model.apply(x, { training: false }) as tf.Tensor)) as tf.Scalar;
}

/**
 * m-sharpness of `model` on the batch (x, y): the batch is cut into micro-batches of
 * `microBatchSize` consecutive examples (a trailing partial one is dropped), and the mean over them of
 * the largest loss increase in the rho-ball is returned (plugins/sharpness/m_sharpness.ts).
 *
 * @example
 *   const r = modelMSharpness(model, xs, ys, {rho: 0.05, microBatchSize: 16, steps: 10});
 */
export function modelMSharpness(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor,
  options: ModelMSharpnessOptions = {}): MSharpnessResult & { microBatchSize: number } {
  rejectUnknownKeys(options, [...M_SHARPNESS_KEYS.filter((k) => k !== 'onProgress'), 'loss', 'progress',
    'microBatchSize', 'maxMicroBatches'], 'modelMSharpness');
  const { loss, progress, microBatchSize = 32, maxMicroBatches, ...core } = options;
  const m = checkInteger('microBatchSize', microBatchSize, 1);
  if (maxMicroBatches !== undefined) checkInteger('maxMicroBatches', maxMicroBatches, 1);
  resolveMSharpnessOptions(core);
  const c = resolveCommon({ loss, progress }, model);
  const n = checkData(x, y);
  if (n < m) throw new InputError(`The batch has ${n} examples, fewer than microBatchSize=${m}.`);
  const k = Math.min(Math.floor(n / m), maxMicroBatches ?? Infinity);
  const slices = Array.from({ length: k }, (_, i) => [tf.slice(x, i * m, m), tf.slice(y, i * m, m)] as const);
  try {
    const losses = slices.map(([xs, ys]) => meanLoss(model, c.loss, xs, ys));
    const onProgress = c.progress ? sharpnessProgressBar() : undefined;
    return { ...mSharpness(losses, variablesOf(model), { ...core, ...(onProgress ? { onProgress } : {}) }), microBatchSize: m };
  } finally {
    tf.dispose(slices.flat());
  }
}

/**
 * Top Hessian eigenvalue of the mean loss of `model` on the batch (x, y) (power iteration on
 * Hessian-vector products; plugins/sharpness/hessian_eigenvalue.ts). Conv2D weights have no second
 * derivative in tfjs, so the default `hvp: 'auto'` uses finite differences for CNNs (result.hvp says which).
 *
 * @example
 *   const {eigenvalue, converged} = modelHessianEigenvalue(model, xs, ys, {maxIterations: 20, tolerance: 1e-2});
 */
export function modelHessianEigenvalue(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor,
  options: ModelHessianOptions = {}): HessianEigenResult {
  rejectUnknownKeys(options, [...HESSIAN_KEYS.filter((k) => k !== 'onProgress'), 'loss', 'progress'], 'modelHessianEigenvalue');
  const { loss, progress, ...core } = options;
  resolveHessianEigenOptions(core);
  const c = resolveCommon({ loss, progress }, model);
  checkData(x, y);
  const onProgress = c.progress ? sharpnessProgressBar() : undefined;
  return topHessianEigenvalue(meanLoss(model, c.loss, x, y), variablesOf(model), { ...core, ...(onProgress ? { onProgress } : {}) });
}

