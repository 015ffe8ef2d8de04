/**
 * The SAM and ASAM perturbations (pure functions over tensors).
 *
 * SAM (Foret et al. 2021, "Sharpness-Aware Minimization for Efficiently Improving Generalization",
 * eq. 2), with g = grad L(w) over all variables and ONE global L2 norm:
 *
 *     eps = rho * g / (||g|| + epsilon)
 *
 * ASAM (Kwon et al. 2021, "ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant Learning
 * of Deep Neural Networks", eq. 8 / Algorithm 1), with the element-wise normalization operator T_w:
 *
 *     eps = rho * T_w^2 g / (||T_w g|| + epsilon)
 *
 * What is implemented for T_w: the paper's element-wise operator T_w = diag(|w|) plus eta, i.e.
 * T = |w| + eta element-wise on kernels (variables of rank >= 2: Dense / Conv kernels, embeddings),
 * and T = 1 (identity) on variables of rank <= 1 (biases, BatchNorm gamma / beta). The authors' code
 * (SamsungLabs/ASAM) scales every parameter whose name contains "weight", which in PyTorch also
 * covers BatchNorm's gamma; we go by rank, which does not depend on naming, and say so here.
 *
 * A zero gradient gives a zero perturbation, never NaN: the scale is rho / (||.|| + epsilon) when the
 * norm is positive and 0 otherwise (so epsilon = 0 is safe too).
 */
import * as tf from '@tensorflow/tfjs-core';
import { globalNorm } from '../core/tensor_utils.ts';

/** Options of the perturbation. */
export interface PerturbationOptions {
  rho: number;
  epsilon: number;
  /** ASAM when true. */
  adaptive: boolean;
  /** ASAM's offset in T = |w| + eta. */
  eta: number;
}

/** rho / (norm + epsilon) when norm > 0, else 0 (a zero gradient must not perturb, nor give NaN). */
function safeScale(norm: tf.Scalar, rho: number, epsilon: number): tf.Scalar {
  return tf.where(tf.greater(norm, 0), tf.div(rho, tf.add(norm, epsilon)), tf.zerosLike(norm)) as tf.Scalar;
}

/**
 * The SAM perturbation eps_i = rho * g_i / (||g|| + epsilon), ||g|| the global norm over the list.
 * Returns new tensors, one per gradient; the inputs are not disposed.
 *
 * @example
 * const [eps] = samPerturbation([tf.tensor1d([3, 4])], 0.05, 1e-12); // [0.03, 0.04]
 */
export function samPerturbation(grads: readonly tf.Tensor[], rho: number, epsilon: number): tf.Tensor[] {
  return tf.tidy(() => {
    const scale = safeScale(globalNorm(grads), rho, epsilon);
    return grads.map((g) => tf.mul(g, scale));
  });
}

/** ASAM's operator T_w: |w| + eta on kernels (rank >= 2), null (identity) on biases (rank <= 1). */
export function asamScale(weight: tf.Tensor, eta: number): tf.Tensor | null {
  return weight.rank >= 2 ? tf.add(tf.abs(weight), eta) : null;
}

/**
 * The ASAM perturbation eps_i = rho * T_i^2 g_i / (||T g|| + epsilon), T as in `asamScale`.
 * `weights[i]` is the variable whose gradient is `grads[i]`. Returns new tensors.
 */
export function asamPerturbation(
  grads: readonly tf.Tensor[],
  weights: readonly tf.Tensor[],
  rho: number,
  epsilon: number,
  eta: number,
): tf.Tensor[] {
  return tf.tidy(() => {
    const scales = weights.map((w) => asamScale(w, eta));
    const tg = grads.map((g, i) => (scales[i] === null ? g : tf.mul(g, scales[i]!)));
    const scale = safeScale(globalNorm(tg), rho, epsilon);
    return tg.map((t, i) => tf.mul(scales[i] === null ? t : tf.mul(t, scales[i]!), scale));
  });
}

/** SAM or ASAM perturbation according to `options.adaptive`. */
export function perturbation(
  grads: readonly tf.Tensor[],
  weights: readonly tf.Tensor[],
  options: PerturbationOptions,
): tf.Tensor[] {
  return options.adaptive
    ? asamPerturbation(grads, weights, options.rho, options.epsilon, options.eta)
    : samPerturbation(grads, options.rho, options.epsilon);
}
