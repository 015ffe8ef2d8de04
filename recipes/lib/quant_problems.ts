/**
 * Seeded LLM-like layer problems {weight W [out, in], sigma S = X^T X [in, in]} for the quantizer
 * benchmarks (recipes/bench_quant.ts and its ablation), and a CPU clock.
 *
 *   A  makeLayerProblem: X = G M, M a random mixing matrix with rows scaled k^-SPECTRUM_ALPHA and a
 *      few outlier channels 10-100x larger; W Gaussian with log-normal scales (heavy tails).
 *   B  makeSpectralProblem (shared/FINDINGS.md's kind, built differently): features with an exact
 *      power-law spectrum lambda_k ~ k^-SPECTRUM_B rotated by Householder reflections, a common
 *      offset (activations with nonzero mean), outlier channels 5-50x; Student-t(4) W.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CovarianceAccumulator } from 'tfjs-sam-quantease/quantease';

// ---- constants (one-line guidance) ----
const SPECTRUM_ALPHA = 0.75;    // A: power-law decay of the feature mixing scales (higher = more correlated)
const OUTLIER_CHANNELS = 4;     // A: per 512 inputs; each 10-100x larger
const CALIBRATION_BATCH = 1024; // rows per CovarianceAccumulator.add
const SPECTRUM_B = 1.2;         // B: eigenvalue decay exponent (higher = lower effective rank)
const REFLECTIONS = 4;          // B: Householder reflections that rotate the spectrum

/** A seeded LLM-like layer problem {weight [out, in], sigma [in, in]}. Caller disposes. */
export function makeLayerProblem(inputs: number, outputs: number, rows: number, seed: number): { weight: tf.Tensor2D; sigma: tf.Tensor2D } {
  const mix = tf.tidy(() => {
    const scales = tf.reshape(tf.pow(tf.range(1, inputs + 1), -SPECTRUM_ALPHA), [inputs, 1]);
    const m = tf.mul(tf.randomNormal([inputs, inputs], 0, 1 / Math.sqrt(inputs), 'float32', seed), scales);
    // outlier channels: columns of X (after mixing) scaled by 10..100
    const colScale = new Float32Array(inputs).fill(1);
    const count = Math.max(2, Math.round((OUTLIER_CHANNELS * inputs) / 512));
    let state = seed * 7919 + 17;
    for (let i = 0; i < count; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const c = state % inputs;
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      colScale[c] = 10 + 90 * (state / 2 ** 32);
    }
    return tf.mul(m, tf.tensor2d(colScale, [1, inputs])) as tf.Tensor2D;
  });
  const acc = new CovarianceAccumulator(inputs);
  for (let done = 0, b = 0; done < rows; done += CALIBRATION_BATCH, b++) {
    const n = Math.min(CALIBRATION_BATCH, rows - done);
    const x = tf.tidy(() => tf.matMul(tf.randomNormal([n, inputs], 0, 1, 'float32', seed * 1000 + b + 1), mix)) as tf.Tensor2D;
    acc.add(x);
    x.dispose();
  }
  const sigma = acc.sigma();
  acc.dispose();
  mix.dispose();
  const weight = tf.tidy(() =>
    tf.mul(
      tf.randomNormal([outputs, inputs], 0, 1 / Math.sqrt(inputs), 'float32', seed + 101),
      tf.exp(tf.mul(0.6, tf.randomNormal([outputs, inputs], 0, 1, 'float32', seed + 202))),
    ),
  ) as tf.Tensor2D;
  return { weight, sigma };
}

/** CPU seconds of this process (user + system): robust to other processes sharing the cores. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Generator B (see the header). Caller disposes. */
export function makeSpectralProblem(inputs: number, outputs: number, rows: number, seed: number): { weight: tf.Tensor2D; sigma: tf.Tensor2D } {
  const u = lcg(seed * 131 + 7);
  const us = Array.from({ length: REFLECTIONS }, (_, k) => tf.tidy(() => {
    const v = tf.randomNormal([inputs, 1], 0, 1, 'float32', seed * 31 + k);
    return tf.div(v, tf.norm(v)) as tf.Tensor2D;
  }));
  const scales = tf.tidy(() => tf.reshape(tf.pow(tf.range(1, inputs + 1), -SPECTRUM_B / 2), [1, inputs]));
  const colScale = new Float32Array(inputs).fill(1);
  for (let i = 0; i < Math.max(2, Math.round(inputs / 128)); i++) colScale[Math.floor(u() * inputs)] = 5 + 45 * u();
  const offset = tf.tidy(() => tf.mul(tf.randomNormal([1, inputs], 0, 1, 'float32', seed + 5), 0.3));
  const acc = new CovarianceAccumulator(inputs);
  for (let done = 0, b = 0; done < rows; done += CALIBRATION_BATCH, b++) {
    const n = Math.min(CALIBRATION_BATCH, rows - done);
    const x = tf.tidy(() => {
      let z = tf.mul(tf.randomNormal([n, inputs], 0, 1, 'float32', seed * 1000 + b + 1), scales) as tf.Tensor2D;
      for (const v of us) z = tf.sub(z, tf.matMul(tf.mul(tf.matMul(z, v), 2), tf.transpose(v))) as tf.Tensor2D; // z (I - 2 v v^T)
      return tf.mul(tf.add(z, offset), tf.tensor2d(colScale, [1, inputs])) as tf.Tensor2D;
    });
    acc.add(x);
    x.dispose();
  }
  const sigma = acc.sigma();
  acc.dispose();
  tf.dispose([...us, scales, offset]);
  // Student-t with 4 degrees of freedom (heavy tails, milder than log-normal scales).
  const weight = tf.tidy(() => {
    const g = tf.randomNormal([outputs, inputs], 0, 1, 'float32', seed + 303);
    const chi = tf.sum(tf.square(tf.randomNormal([4, outputs, inputs], 0, 1, 'float32', seed + 404)), 0);
    return tf.div(tf.mul(g, tf.sqrt(tf.div(4, chi))), Math.sqrt(inputs)) as tf.Tensor2D;
  });
  return { weight, sigma };
}

