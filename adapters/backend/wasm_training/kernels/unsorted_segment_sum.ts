/**
 * UnsortedSegmentSum for wasm (missing in tfjs-backend-wasm 4.22; gather's gradient, hence
 * Embedding's, needs it).
 *
 *   out[s, ...] = sum_{i : ids[i] = s} x[i, ...]      for s in [0, numSegments)
 *
 * Ids outside [0, numSegments) are dropped, as in TensorFlow. One pass over the rows of x in
 * JavaScript, reading from and writing to the wasm heap directly: O(x.size), no matrix
 * product, so a native kernel would gain little.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs } from './kernel_utils.ts';

function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as tf.TensorInfo;
  const segmentIds = inputs.segmentIds as tf.TensorInfo;
  const numSegments = attrs.numSegments as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`wasm UnsortedSegmentSum supports float32 and int32. Received: dtype=${x.dtype}.`);
  }
  const numIds = tf.util.sizeFromShape(segmentIds.shape);
  const rowShape = x.shape.slice(segmentIds.shape.length);
  const rowSize = tf.util.sizeFromShape(rowShape);
  const ids = backend.readSync(segmentIds.dataId) as Int32Array | Float32Array;
  const out = backend.makeOutput([numSegments, ...rowShape], x.dtype);
  // Read x after makeOutput: a heap resize there would detach an earlier view.
  const xs = backend.typedArrayFromHeap(x);
  const acc = backend.typedArrayFromHeap(out);
  acc.fill(0);
  for (let i = 0; i < numIds; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * rowSize;
    const dst = s * rowSize;
    for (let k = 0; k < rowSize; k++) acc[dst + k] += xs[src + k];
  }
  return out;
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
