/**
 * The layer problem every method works on, read once: {weight W [out, in], sigma S [in, in]} is
 * checked (shapes, dtype, finiteness) and copied into typed arrays, with what derives from it.
 * Methods take this object, never the raw tensors and never S twice; `sigma` stays as a tensor
 * for the matrix products that tfjs accelerates.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, describeValue } from '../core/errors.ts';
import type { LayerProblem } from './types.ts';

export interface DenseProblem {
  rows: number;    // out
  cols: number;    // in
  /** W, [rows, cols] row-major (a private copy). */
  w: Float32Array;
  /** S, [cols, cols] row-major (a private copy). */
  s: Float32Array;
  /** diag(S), [cols]. */
  diag: Float64Array;
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

/** Checks everything that needs no read-back (keys, tensors, shapes). Throws InputError naming `weight` or `sigma`. */
export function checkProblem(problem: LayerProblem): { weight: tf.Tensor2D; sigma: tf.Tensor2D } {
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
  return { weight, sigma };
}

/** The problem from W and S already read back (copied: backends may hand out their own buffers). */
export function denseProblem(sigma: tf.Tensor2D, rows: number, cols: number, wData: ArrayLike<number>, sData: ArrayLike<number>): DenseProblem {
  const w = Float32Array.from(wData);
  const s = Float32Array.from(sData);
  checkFinite('weight', w, cols);
  checkFinite('sigma', s, cols);
  const diag = new Float64Array(cols);
  for (let j = 0; j < cols; j++) diag[j] = s[j * cols + j];
  return { rows, cols, w, s, diag, sigma };
}

/** Validates and reads the problem with one asynchronous read-back of each tensor. */
export async function readProblem(problem: LayerProblem): Promise<DenseProblem> {
  const { weight, sigma } = checkProblem(problem);
  const [wData, sData] = await Promise.all([weight.data(), sigma.data()]);
  return denseProblem(sigma, weight.shape[0], weight.shape[1], wData as Float32Array, sData as Float32Array);
}

/** Validates and reads the problem synchronously (dataSync). */
export function readProblemSync(problem: LayerProblem): DenseProblem {
  const { weight, sigma } = checkProblem(problem);
  return denseProblem(sigma, weight.shape[0], weight.shape[1], weight.dataSync() as Float32Array, sigma.dataSync() as Float32Array);
}
