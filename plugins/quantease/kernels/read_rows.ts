/**
 * Reads a range of a float32 tensor's data into a caller's buffer.
 *
 * QuantEase needs P[:, B]^T (a contiguous range of P^T) at every block start. `dataSync()`
 * downloads the whole tensor into a freshly allocated array each time: on wasm, 8 blocks per
 * sweep at in = 1024 made it the largest cost of a sweep (page faults on new 4 MB buffers).
 * On the wasm backend this copies just the range out of the backend's heap into `dst`, without
 * allocating; on any other backend it falls back to `dataSync()` (exact same values either way).
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's BackendWasm that the fast path reads (public fields). */
interface WasmBackendLike {
  wasm?: { HEAPF32?: Float32Array };
  dataIdMap?: { get(dataId: object): { memoryOffset?: number | null } | undefined };
}

/** The backend heap's view of the tensor's data, or null where there is none. */
function wasmHeapView(t: tf.Tensor): Float32Array | null {
  if (t.dtype !== 'float32' || tf.getBackend() !== 'wasm') return null;
  const backend = tf.engine().backend as unknown as WasmBackendLike;
  const heap = backend.wasm?.HEAPF32;
  const info = backend.dataIdMap?.get(t.dataId);
  if (!heap || !info || typeof info.memoryOffset !== 'number' || info.memoryOffset % 4 !== 0) return null;
  const base = info.memoryOffset / 4;
  return heap.subarray(base, base + t.size);
}

/** Elements [start, end) of the float32 tensor `t` (flat, row-major) copied into dst[0 : end - start]. */
export function readRange(t: tf.Tensor, start: number, end: number, dst: Float32Array): Float32Array {
  const view = wasmHeapView(t) ?? (t.dataSync() as Float32Array);
  dst.set(view.subarray(start, end));
  return dst;
}
