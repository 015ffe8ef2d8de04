/**
 * The wasm `Slice` and `SplitV` replacements against the cpu backend (both registered in this process):
 * contiguous and strided slices, ranks 1-5, float32 / int32 / bool, zero-size slices, strings
 * (Slice delegates them to stock; tf.split rejects them), with leak checks on tensors, bytes and wasm data ids.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients (core's ESM entry does not)
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { mulberry32 } from './random.ts';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
} from '../index.ts';

test.before(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
});

function wasmDataIds(): number {
  return (tf.findBackend('wasm') as unknown as { numDataIds(): number }).numDataIds();
}

/** A seeded PRNG (mulberry32) so every case is reproducible. */
const prng = mulberry32;

type NumDtype = 'float32' | 'int32' | 'bool';

function values(n: number, dtype: NumDtype, rand: () => number): number[] {
  return Array.from({ length: n }, (_, i) =>
    dtype === 'bool' ? (rand() < 0.5 ? 1 : 0) : dtype === 'int32' ? i - 7 : rand() * 2 - 1,
  );
}

/** Slices on wasm and on cpu from the same values; returns both flat results. */
async function both(
  shape: number[],
  dtype: NumDtype,
  begin: number[] | number,
  size: number[] | number,
  seed: number,
): Promise<{ wasm: tf.Tensor; cpu: tf.Tensor }> {
  const vals = values(tf.util.sizeFromShape(shape), dtype, prng(seed));
  await tf.setBackend('cpu');
  const cpu = tf.tidy(() => tf.slice(tf.tensor(vals, shape, dtype), begin, size));
  await tf.setBackend('wasm');
  const wasm = tf.tidy(() => tf.slice(tf.tensor(vals, shape, dtype), begin, size));
  return { wasm, cpu };
}

const CASES: Array<{ name: string; shape: number[]; begin: number[] | number; size: number[] | number }> = [
  { name: 'rank 1 middle', shape: [23], begin: [5], size: [11] },
  { name: 'rank 1 size -1', shape: [23], begin: [5], size: [-1] },
  { name: 'rank 2 rows (contiguous)', shape: [40, 17], begin: [8, 0], size: [16, 17] },
  { name: 'rank 2 one row, part of it', shape: [40, 17], begin: [3, 2], size: [1, 9] },
  { name: 'rank 2 columns (strided)', shape: [40, 17], begin: [4, 3], size: [20, 5] },
  { name: 'rank 2 one column (short runs)', shape: [40, 17], begin: [0, 16], size: [40, 1] },
  { name: 'rank 2 long strided runs', shape: [6, 70], begin: [1, 2], size: [4, 60] },
  { name: 'rank 3 batch (contiguous)', shape: [9, 5, 4], begin: [2, 0, 0], size: [5, 5, 4] },
  { name: 'rank 3 inner crop', shape: [9, 5, 4], begin: [1, 1, 1], size: [7, 3, 2] },
  { name: 'rank 3 whole trailing, sliced middle', shape: [9, 5, 4], begin: [1, 2, 0], size: [3, 2, 4] },
  { name: 'rank 4 NHWC crop', shape: [3, 8, 7, 5], begin: [0, 1, 2, 0], size: [3, 6, 4, 5] },
  { name: 'rank 4 everything sliced', shape: [3, 8, 7, 5], begin: [1, 2, 3, 1], size: [2, 5, 3, 3] },
  { name: 'rank 4 whole', shape: [3, 8, 7, 5], begin: [0, 0, 0, 0], size: [-1, -1, -1, -1] },
  { name: 'rank 5 strided', shape: [2, 3, 4, 3, 5], begin: [1, 0, 1, 1, 2], size: [1, 3, 2, 2, 3] },
  { name: 'number begin', shape: [10, 4], begin: 3, size: 4 },
  { name: 'zero rows', shape: [10, 4], begin: [3, 0], size: [0, 4] },
  { name: 'zero columns', shape: [10, 4], begin: [3, 2], size: [5, 0] },
  { name: 'empty input', shape: [0, 4], begin: [0, 0], size: [0, 4] },
];

for (const dtype of ['float32', 'int32', 'bool'] as const) {
  for (const [i, c] of CASES.entries()) {
    test.serial(`Slice ${dtype}: ${c.name} matches cpu`, async (t) => {
      const { wasm, cpu } = await both(c.shape, dtype, c.begin, c.size, 100 + i);
      t.deepEqual(wasm.shape, cpu.shape);
      t.is(wasm.dtype, dtype);
      t.deepEqual(Array.from(await wasm.data()), Array.from(await cpu.data()));
      wasm.dispose();
      cpu.dispose();
    });
  }
}

const SPLITS: Array<{ name: string; shape: number[]; split: number | number[]; axis: number }> = [
  { name: 'batch rows [3, 5, 2]', shape: [10, 6], split: [3, 5, 2], axis: 0 },
  { name: 'batch rows, 5 equal parts', shape: [10, 3, 2], split: 5, axis: 0 },
  { name: 'columns with -1', shape: [4, 9], split: [2, -1, 3], axis: 1 },
  { name: 'inner axis of rank 4, negative axis', shape: [2, 3, 6, 2], split: 3, axis: -2 },
  { name: 'a zero-size part', shape: [6, 4], split: [2, 0, 4], axis: 0 },
];

for (const dtype of ['float32', 'int32', 'bool'] as const) {
  for (const [i, c] of SPLITS.entries()) {
    test.serial(`SplitV ${dtype}: ${c.name} matches cpu`, async (t) => {
      const vals = values(tf.util.sizeFromShape(c.shape), dtype, prng(300 + i));
      const before = tf.memory().numTensors;
      await tf.setBackend('cpu');
      const cpu = tf.tidy(() => tf.split(tf.tensor(vals, c.shape, dtype), c.split, c.axis));
      const cpuData = await Promise.all(cpu.map(async (p) => ({ shape: p.shape, data: Array.from(await p.data()) })));
      await tf.setBackend('wasm');
      const ids = wasmDataIds();
      const wasm = tf.tidy(() => tf.split(tf.tensor(vals, c.shape, dtype), c.split, c.axis));
      const wasmData = await Promise.all(wasm.map(async (p) => ({ shape: p.shape, data: Array.from(await p.data()) })));
      t.deepEqual(wasmData, cpuData);
      t.true(wasm.every((p) => p.dtype === dtype));
      tf.dispose(wasm);
      t.is(wasmDataIds(), ids);
      tf.dispose(cpu);
      t.is(tf.memory().numTensors, before);
    });
  }
}

test.serial('Slice of strings goes to the stock kernel', async (t) => {
  await tf.setBackend('wasm');
  const x = tf.tensor(['a', 'bb', 'ccc', 'd', 'e', 'f'], [3, 2], 'string');
  const rows = tf.slice(x, [1, 0], [2, 2]);
  const col = tf.slice(x, [0, 1], [3, 1]);
  t.deepEqual(await rows.data(), ['ccc', 'd', 'e', 'f']);
  t.deepEqual(await col.data(), ['bb', 'd', 'f']);
  tf.dispose([x, rows, col]);
});

test.serial('Slice and its gradient leak no tensors, bytes or wasm data ids', async (t) => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([12, 6, 5], 0, 1, 'float32', 7);
  const before = tf.memory();
  const ids = wasmDataIds();
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.slice(v, [2, 1, 0], [5, 4, 5])))(x);
      tf.slice(x, [3, 0, 0], [4, 6, 5]);
      tf.slice(x, [0, 2, 1], [12, 1, 3]);
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.split(v, [5, 7], 0)[1], 2)))(x);
      return g;
    }).dispose();
    tf.slice(x, [5, 0, 0], [0, 6, 5]).dispose();
  }
  t.is(tf.memory().numTensors, before.numTensors);
  t.is(tf.memory().numBytes, before.numBytes);
  t.is(wasmDataIds(), ids);
  x.dispose();
});

test.serial('Slice after the heap grows reads fresh views', async (t) => {
  await tf.setBackend('wasm');
  // A slice whose output allocation may grow the heap: views taken before makeOutput would detach.
  const x = tf.randomNormal([256, 1024], 0, 1, 'float32', 3);
  const y = tf.slice(x, [64, 0], [192, 1024]);
  const xs = await x.data();
  const ys = await y.data();
  t.deepEqual(Array.from(ys.subarray(0, 50)), Array.from(xs.subarray(64 * 1024, 64 * 1024 + 50)));
  t.deepEqual(Array.from(ys.subarray(ys.length - 50)), Array.from(xs.subarray(xs.length - 50)));
  tf.dispose([x, y]);
});

test.serial('unregister restores the stock Slice and register reinstalls ours', async (t) => {
  const ours = tf.getKernel('Slice', 'wasm');
  const removed = unregisterWasmTrainingKernels();
  t.true(removed.includes('Slice') && removed.includes('SplitV'));
  const stock = tf.getKernel('Slice', 'wasm');
  t.not(stock, undefined);
  t.not(stock?.kernelFunc, ours?.kernelFunc);
  await tf.setBackend('wasm');
  const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
  const y = tf.slice(x, [1, 0], [2, 2]);
  t.deepEqual(Array.from(await y.data()), [3, 4, 5, 6]);
  tf.dispose([x, y]);
  t.true(registerWasmTrainingKernels().includes('Slice'));
  t.true(registerWasmTrainingKernels().includes('SplitV')); // idempotent
  t.is(tf.getKernel('Slice', 'wasm')?.kernelFunc === stock?.kernelFunc, false);
});
