/**
 * Slice that copies only the bytes it keeps, inside the wasm heap.
 *
 * The stock wasm 4.22 `Slice` first reads the WHOLE input into JS (`readSync`, a copy of the
 * full tensor out of the heap), then slices: 128 rows of a [9216, 9216] float32 tensor cost
 * ~390 ms and 340 MB. tfjs slices every batch (model.fit, mSAM's micro-batches), so that copy
 * is paid on every step.
 *
 * Here the input is read through a view of the heap (`typedArrayFromHeap`, no copy). With
 * axis k the last axis not taken whole, the slice is a set of runs of
 *
 *   run = size[k] * prod_{j > k} shape[j]   elements, starting at sum_j (begin[j] + i_j) * stride[j]
 *
 * one per index (i_0, ..., i_{k-1}) of the leading sliced axes: a single run when the slice is
 * contiguous (rows of a batch). Strings (not on the heap) and unknown dtypes go to the stock kernel.
 *
 * `SplitV` (`tf.split`, mSAM's micro-batches) gets the same treatment: the stock wasm SplitV
 * calls the stock slice function directly (not through the registry), so one whole-input read
 * per part; here every part is one `slice` of the above.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs } from './kernel_utils.ts';

/** Below this run length a scalar loop beats `subarray` + `set` (two allocations per run). */
const SHORT_RUN = 16;

type HeapArray = Float32Array | Int32Array | Uint8Array;

function slice(args: KernelArgs, stock: tf.KernelFunc | null): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    if (stock == null) throw new Error(`wasm Slice: no stock kernel for dtype ${x.dtype}.`);
    return stock(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as tf.Tensor,
    attrs.begin as number | number[],
    attrs.size as number | number[] | undefined,
  );
  const out = backend.makeOutput(size, x.dtype);
  if (tf.util.sizeFromShape(size) === 0) return out;
  // Views after makeOutput: an allocation may grow the heap and detach older views.
  const outVals = backend.typedArrayFromHeap(out);
  const xVals = backend.typedArrayFromHeap(x);
  copySlice(xVals, x.shape, begin, size, outVals);
  return out;
}

/** Copies the slice `begin`/`size` of `xVals` (shape `shape`, row-major) into `outVals`. */
function copySlice(xVals: HeapArray, shape: number[], begin: number[], size: number[], outVals: HeapArray): void {
  const rank = shape.length;
  if (rank === 0) {
    outVals[0] = xVals[0];
    return;
  }
  const strides = [...tf.util.computeStrides(shape), 1]; // strides[rank - 1] = 1
  // k: the last axis not taken whole; axes after it are whole, so each run is contiguous.
  let k = rank - 1;
  while (k > 0 && begin[k] === 0 && size[k] === shape[k]) k--;
  const run = size[k] * strides[k];
  let base = 0;
  for (let j = 0; j <= k; j++) base += begin[j] * strides[j];
  // Odometer over the leading axes 0..k-1 (none when k = 0: a single run).
  const index = new Array<number>(k).fill(0);
  const runs = numRuns(size, k);
  let offset = base;
  for (let r = 0, o = 0; r < runs; r++, o += run) {
    if (run < SHORT_RUN) {
      for (let e = 0; e < run; e++) outVals[o + e] = xVals[offset + e];
    } else {
      outVals.set(xVals.subarray(offset, offset + run), o);
    }
    for (let j = k - 1; j >= 0; j--) {
      index[j]++;
      offset += strides[j];
      if (index[j] < size[j]) break;
      offset -= index[j] * strides[j];
      index[j] = 0;
    }
  }
}

/** Number of runs: the product of `size` over the axes before `k`. */
function numRuns(size: number[], k: number): number {
  let n = 1;
  for (let j = 0; j < k; j++) n *= size[j];
  return n;
}

/** `tf.split` along `axis` into parts of `numOrSizeSplits`: one heap slice per part. */
function splitV(args: KernelArgs, stock: tf.KernelFunc | null): tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    if (stock == null) throw new Error(`wasm SplitV: no stock kernel for dtype ${x.dtype}.`);
    return stock(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo[];
  }
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number | number[], axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const part = slice({ inputs: { x }, backend, attrs: { begin: [...begin], size } }, null);
    begin[axis] += s;
    return part;
  });
}

/** The replacement config; `stock` (the registered wasm config) serves strings. */
export function makeSliceConfig(stock: tf.KernelConfig | null): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs) => slice(args, stock?.kernelFunc ?? null);
  return {
    kernelName: tf.Slice,
    backendName: 'wasm',
    setupFunc: stock?.setupFunc,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  };
}

/** The `SplitV` replacement; `stock` serves strings. */
export function makeSplitVConfig(stock: tf.KernelConfig | null): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs) => splitV(args, stock?.kernelFunc ?? null);
  return {
    kernelName: tf.SplitV,
    backendName: 'wasm',
    setupFunc: stock?.setupFunc,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  };
}
