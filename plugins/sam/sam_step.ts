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
 * - the variables in `restore` that the unperturbed pass wrote (BatchNorm moving mean and variance)
 *   get back the values that pass left. The caller decides the list (see SAMOptimizer).
 */
import * as tf from '@tensorflow/tfjs-core';
import { engineInternals, registeredVariable, runDisposingKept, variableGrads } from './engine_contact.ts';
import { perturbation, type PerturbationOptions } from './perturbation.ts';

/** Loss value and gradients by variable name (null for non-trainable variables of varList, as tf.variableGrads). */
export interface GradientResult {
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
}

/**
 * Plain gradient at w: tf.variableGrads, except that nothing leaks when f throws. With
 * `collectKept`, the tensors f keeps are also pushed there (so a failed step can dispose them).
 */
export function plainGradients(f: () => tf.Scalar, varList?: tf.Variable[], collectKept?: tf.Tensor[]): GradientResult {
  return variableGrads(collectKept ? () => runDisposingKept(f, collectKept) : f, varList);
}

/**
 * The SAM gradient g_sam of f at the current weights, and f's value at w (not at w + eps).
 * With rho = 0 this is exactly tf.variableGrads(f, varList): no second pass.
 * `restore`: variables f may write as a side effect whose unperturbed-pass values must survive
 * (empty: keep whatever the perturbed pass writes). Only those whose buffer the first pass
 * replaced are copied (a zero-copy snapshot) and restored. `collectKept`: see plainGradients
 * (first pass only; what the perturbed pass keeps is always disposed).
 * The caller owns `value` and `grads`. The variables hold w again when this returns (or throws).
 */
export function samGradients(
  f: () => tf.Scalar,
  varList: tf.Variable[] | undefined,
  options: PerturbationOptions,
  restore: readonly tf.Variable[] = [],
  collectKept?: tf.Tensor[],
): GradientResult {
  const engine = engineInternals();
  const before = restore.map((v) => v.dataId);
  const first = plainGradients(f, varList, collectKept);
  if (options.rho === 0) return first;

  const names = Object.keys(first.grads).filter((n) => first.grads[n] != null);
  const byName = varList ? new Map(varList.map((v) => [v.name, v])) : null;
  const vars = names.map((n) => byName?.get(n) ?? registeredVariable(n, engine));
  const grads = names.map((n) => first.grads[n]);
  // Variables the unperturbed pass wrote (moving statistics): those the perturbed pass would write too.
  const written = restore.filter((v, i) => !v.isDisposed && v.dataId !== before[i]);

  const eps = perturbation(grads, vars, options);
  const savedW = vars.map(snapshot);
  const savedSide = written.map(snapshot);
  tf.tidy(() => vars.forEach((v, i) => v.assign(tf.add(v, eps[i]))));
  tf.dispose(eps);
  let second: GradientResult;
  try {
    second = variableGrads(() => runDisposingKept(f, undefined, engine), varList, engine);
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

/**
 * A saved copy of a variable's current value. tfjs tensors are immutable and `assign` swaps the
 * variable's buffer instead of writing into it, so a reshape to the same shape (zero-copy in every
 * backend: it shares the buffer and counts a reference) is a faithful copy at no cost. Restoring
 * with `assign(saved)` gives the variable its original buffer back.
 */
function snapshot(v: tf.Variable): tf.Tensor {
  return tf.reshape(v, v.shape);
}
