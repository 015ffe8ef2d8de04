/**
 * Reads a layer problem {weight W [out, in], sigma S [in, in]} into typed arrays once, checking
 * shapes and finiteness. Every method works on these arrays plus `sigma` as a tensor (for the
 * matrix products that tfjs accelerates).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, describeValue } from '../core/errors.ts';
import type { LayerProblem } from './types.ts';

export interface DenseProblem {
  rows: number;    // out
  cols: number;    // in
  /** W, [rows, cols] row-major. */
  w: Float32Array;
  /** S, [cols, cols] row-major. */
  s: Float32Array;
  /** S as given (not owned: never disposed here). */
  sigma: tf.Tensor2D;
}

function checkTensor2D(name: string, t: unknown): tf.Tensor2D {
  if (!(t instanceof tf.Tensor)) {
    throw new InputError(`\`${name}\` must be a tf.Tensor2D. Received: ${name}=${describeValue(t)}.`);
  }
  if (t.isDisposed) throw new InputError(`\`${name}\` has been disposed.`);
  if (t.rank !== 2) {
    throw new InputError(`\`${name}\` must be a rank-2 tensor. Received: shape [${t.shape.join(', ')}].`);
  }
  if (t.dtype !== 'float32') {
    throw new InputError(`\`${name}\` must have dtype float32. Received: dtype ${t.dtype}.`);
  }
  return t as tf.Tensor2D;
}

function checkFinite(name: string, data: Float32Array, cols: number): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new InputError(
        `\`${name}\` contains ${Number.isNaN(data[i]) ? 'NaN' : 'Inf'} at [${Math.floor(i / cols)}, ${i % cols}]: ` +
          'quantization needs finite values.',
      );
    }
  }
}

/** Validates and reads the problem. Throws InputError naming `weight` or `sigma`. */
export function readProblem(problem: LayerProblem): DenseProblem {
  if (problem === null || typeof problem !== 'object') {
    throw new InputError(`The layer problem must be an object {weight, sigma}. Received: ${describeValue(problem)}.`);
  }
  for (const key of Object.keys(problem)) {
    if (key !== 'weight' && key !== 'sigma') {
      throw new InputError(`Unknown key \`${key}\` in the layer problem. Allowed: weight, sigma.`);
    }
  }
  const weight = checkTensor2D('weight', problem.weight);
  const sigma = checkTensor2D('sigma', problem.sigma);
  const [rows, cols] = weight.shape;
  if (rows === 0 || cols === 0) throw new InputError(`\`weight\` is empty: shape [${rows}, ${cols}].`);
  if (sigma.shape[0] !== cols || sigma.shape[1] !== cols) {
    throw new InputError(
      `\`sigma\` must be [in, in] = [${cols}, ${cols}] for weight [out, in] = [${rows}, ${cols}]. ` +
        `Received: sigma shape [${sigma.shape.join(', ')}]. (A tfjs Dense kernel is [in, out]: transpose it.)`,
    );
  }
  const w = weight.dataSync() as Float32Array;
  const s = sigma.dataSync() as Float32Array;
  checkFinite('weight', w, cols);
  checkFinite('sigma', s, cols);
  // dataSync may return the backend's own buffer on some backends: copy what we mutate.
  return { rows, cols, w: Float32Array.from(w), s: Float32Array.from(s), sigma };
}
