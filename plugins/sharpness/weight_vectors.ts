/**
 * Vectors in weight space: one tensor per variable, treated as a single flat vector (inner products
 * and norms run over every tensor of the list). Used to perturb variables and restore them exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../core/random.ts';

export type WeightVector = tf.Tensor[];

/** Copies of the current values of `vars` (the caller disposes them). */
export function snapshot(vars: readonly tf.Variable[]): WeightVector {
  return vars.map((v) => tf.clone(v));
}

/** Sets every variable to base + scale * direction (direction omitted: exactly base). */
export function assignShifted(vars: readonly tf.Variable[], base: WeightVector, direction?: WeightVector, scale = 1): void {
  tf.tidy(() => {
    vars.forEach((v, i) => v.assign(direction === undefined ? base[i] : tf.add(base[i], tf.mul(direction[i], scale))));
  });
}

/** <a, b> over the whole list, as a JS number. */
export function dot(a: WeightVector, b: WeightVector): number {
  const s = tf.tidy(() => tf.addN(a.map((t, i) => tf.sum(tf.mul(t, b[i])))));
  const v = s.dataSync()[0];
  s.dispose();
  return v;
}

/** ||a||_2 over the whole list, as a JS number. */
export function norm(a: WeightVector): number {
  return Math.sqrt(Math.max(0, dot(a, a)));
}

/** a * s as new tensors. */
export function scale(a: WeightVector, s: number): WeightVector {
  return tf.tidy(() => a.map((t) => tf.mul(t, s)));
}

/** a + s * b as new tensors. */
export function axpy(a: WeightVector, b: WeightVector, s: number): WeightVector {
  return tf.tidy(() => a.map((t, i) => tf.add(t, tf.mul(b[i], s))));
}

/** A seeded random direction of unit norm with the shapes of `vars` (standard normal, normalized). */
export function randomUnit(vars: readonly tf.Variable[], seed: number): WeightVector {
  const u = mulberry32(seed);
  const normal = () => {
    let a = 0;
    while (a === 0) a = u();
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * u());
  };
  const raw = vars.map((v) => tf.tensor(Float32Array.from({ length: v.size }, normal), v.shape, 'float32'));
  const n = norm(raw);
  const out = scale(raw, 1 / n);
  tf.dispose(raw);
  return out;
}

/** Loss value and gradient of `loss` with respect to `vars`, in the order of `vars`. */
export function valueAndGradients(loss: () => tf.Scalar, vars: readonly tf.Variable[]): { value: number; grads: WeightVector } {
  const { value, grads } = tf.variableGrads(loss, vars as tf.Variable[]);
  const v = value.dataSync()[0];
  value.dispose();
  // A variable the loss does not touch has no gradient in the map: its gradient is zero.
  return { value: v, grads: vars.map((x) => grads[x.name] ?? tf.zerosLike(x)) };
}

/** The loss value at the current variables, without gradients. */
export function lossValue(loss: () => tf.Scalar): number {
  const s = tf.tidy(loss);
  const v = s.dataSync()[0];
  s.dispose();
  return v;
}
