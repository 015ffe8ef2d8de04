/**
 * One SAM gradient for a loss closure f (Foret et al. 2021, Algorithm 1):
 *
 *     g     = grad f(w)                      first pass, at w (its value is the reported cost)
 *     eps   = rho * g / (||g|| + epsilon)    (or ASAM's eps, see perturbation.ts)
 *     w    <- w + eps                        in place, after saving w
 *     g_sam = grad f(w + eps)                second, perturbed pass
 *     w    <- saved w                        restored from the copy, never by subtraction
 *
 * The perturbed pass leaves nothing behind but its gradient:
 * - tensors the closure `keep`s on that pass (tfjs-layers' train function keeps one scalar per
 *   metric on every call) are disposed, so the metrics reported are those at w and nothing leaks;
 * - with batchNormStatistics = 'first', variables the closure writes (BatchNorm moving mean and
 *   variance) get back the values the unperturbed pass left; 'both' keeps both updates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormStatistics } from './config.ts';
import { perturbation, type PerturbationOptions } from './perturbation.ts';

/** Options of one SAM gradient. */
export interface SamStepOptions extends PerturbationOptions {
  batchNormStatistics: BatchNormStatistics;
}

/** Loss value and gradients by variable name (null for non-trainable variables of varList, as tf.variableGrads). */
export interface GradientResult {
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
}

/** Plain gradient at w: tf.variableGrads, named here so the optimizer reads symmetrically. */
export function plainGradients(f: () => tf.Scalar, varList?: tf.Variable[]): GradientResult {
  return tf.variableGrads(f, varList) as GradientResult;
}

/**
 * The SAM gradient g_sam of f at the current weights, and f's value at w (not at w + eps).
 * With rho = 0 this is exactly tf.variableGrads(f, varList): no second pass.
 * The caller owns `value` and `grads`. The variables hold w again when this returns (or throws).
 */
export function samGradients(f: () => tf.Scalar, varList: tf.Variable[] | undefined, options: SamStepOptions): GradientResult {
  const watched = options.batchNormStatistics === 'first' ? recordSideVariables(varList) : null;
  const first = plainGradients(f, varList);
  if (options.rho === 0) return first;

  const names = Object.keys(first.grads).filter((n) => first.grads[n] != null);
  const registered = tf.engine().registeredVariables;
  const vars = names.map((n) => registered[n]);
  const grads = names.map((n) => first.grads[n]);
  // Variables the unperturbed pass wrote (moving statistics): those the perturbed pass would write too.
  const written = watched ? changedSince(watched) : [];

  const eps = perturbation(grads, vars, options);
  const savedW = vars.map(snapshot);
  const savedSide = written.map(snapshot);
  tf.tidy(() => vars.forEach((v, i) => v.assign(tf.add(v, eps[i]))));
  tf.dispose(eps);
  let second: GradientResult;
  try {
    second = plainGradients(discardKept(f), varList);
  } catch (e) {
    first.value.dispose();
    throw e;
  } finally {
    vars.forEach((v, i) => v.assign(savedW[i]));
    written.forEach((v, i) => v.assign(savedSide[i]));
    tf.dispose(savedW);
    tf.dispose(savedSide);
    tf.dispose(grads);
  }
  second.value.dispose();
  return { value: first.value, grads: second.grads };
}

/** The data of every variable that is not optimized (could be written by f as a side effect). */
function recordSideVariables(varList: tf.Variable[] | undefined): Map<tf.Variable, unknown> {
  const optimized = varList ? new Set(varList.map((v) => v.name)) : null;
  const out = new Map<tf.Variable, unknown>();
  for (const v of Object.values(tf.engine().registeredVariables)) {
    const isOptimized = optimized ? optimized.has(v.name) : v.trainable;
    if (!isOptimized) out.set(v, v.dataId);
  }
  return out;
}

/** Variables whose data was replaced (assign) since `recordSideVariables`. Costs no copy. */
function changedSince(recorded: Map<tf.Variable, unknown>): tf.Variable[] {
  const out: tf.Variable[] = [];
  for (const [v, dataId] of recorded) if (!v.isDisposed && v.dataId !== dataId) out.push(v);
  return out;
}

interface EngineWithScope {
  startScope(name?: string): void;
  endScope(result?: unknown): void;
  state?: { activeScope?: { track?: tf.Tensor[] } };
}

/**
 * Wraps f so that tensors it `keep`s are disposed when it returns (its returned loss excepted).
 * tf.keep has no public inverse, so we read the scope's tracked tensors: kept tensors stay in the
 * list of the scope they were created in (tfjs-core Engine.endScope skips them).
 */
function discardKept(f: () => tf.Scalar): () => tf.Scalar {
  return () => {
    const engine = tf.engine() as unknown as EngineWithScope;
    engine.startScope('samPerturbedPass');
    let result: tf.Scalar | undefined;
    try {
      result = f();
      return result;
    } finally {
      const track = engine.state?.activeScope?.track ?? [];
      for (const t of track) if (t.kept && t !== result && !t.isDisposed) t.dispose();
      engine.endScope(result);
    }
  };
}

/**
 * A saved copy of a variable's current value. tfjs tensors are immutable and `assign` swaps the
 * variable's buffer instead of writing into it, so a reshape to the same shape (zero-copy in every
 * backend: it shares the buffer and counts a reference) is a faithful copy at no cost. Restoring
 * with `assign(saved)` gives the variable its original buffer back.
 */
function snapshot(v: tf.Variable): tf.Tensor {
  return tf.reshape(v, v.shape);
}
