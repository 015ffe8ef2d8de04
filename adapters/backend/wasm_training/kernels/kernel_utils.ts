/**
 * Helpers for wasm kernel funcs that compose other wasm kernel funcs.
 *
 * A kernel func receives `TensorInfo`s (dataId, shape, dtype) and must return a `TensorInfo`
 * the engine then owns. Every intermediate made inside (by `backend.makeOutput` or by another
 * kernel func) holds one reference on the backend and must be released with
 * `backend.disposeData(dataId)`, else it leaks wasm heap that `tf.memory()` never sees.
 * Reshapes are free: wasm kernels read the data by id and the shape from the `TensorInfo`,
 * so a `view` with another shape and no extra reference is enough for an input.
 */
import * as tf from '@tensorflow/tfjs-core';

type DataId = object;

/** The part of tfjs-backend-wasm's `BackendWasm` these kernels use (kept structural so the
 * package is not needed to type-check). */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
  readSync(dataId: DataId): tf.backend_util.BackendValues;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: WasmBackendLike;
  attrs: tf.NamedAttrMap;
}

/** Runs the kernel currently registered for `wasm` under `name`. */
export function runWasmKernel(
  name: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
  backend: WasmBackendLike,
): tf.TensorInfo {
  const config = tf.getKernel(name, 'wasm');
  if (config == null) throw new Error(`The wasm backend has no '${name}' kernel; import '@tensorflow/tfjs-backend-wasm' first.`);
  return config.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** Same data, another shape; holds no reference, so never dispose a view. */
export function view(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Releases intermediates made inside a kernel func (null entries are skipped). */
export function release(backend: WasmBackendLike, ...infos: Array<tf.TensorInfo | null | undefined>): void {
  for (const info of infos) if (info != null) backend.disposeData(info.dataId);
}

/** Transposes with the wasm `Transpose` kernel; a new intermediate the caller must release. */
export function transpose(backend: WasmBackendLike, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return runWasmKernel('Transpose', { x }, { perm }, backend);
}

/** Swaps the last two axes (a materialized `matrix^T` for every batch). */
export function transposeLastTwo(backend: WasmBackendLike, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return transpose(backend, x, perm);
}

/**
 * Crops an NHWC tensor to rows [top, top + height) and columns [left, left + width) with the
 * wasm `Slice` kernel, or returns null when the crop keeps everything.
 */
export function cropNhwc(
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  top: number,
  left: number,
  height: number,
  width: number,
): tf.TensorInfo | null {
  const [n, h, w, c] = x.shape;
  if (top === 0 && left === 0 && height === h && width === w) return null;
  return runWasmKernel('Slice', { x }, { begin: [0, top, left, 0], size: [n, height, width, c] }, backend);
}

/** Sums over one axis with the wasm `Sum` kernel; a new intermediate. */
export function sumAxis(backend: WasmBackendLike, x: tf.TensorInfo, axis: number): tf.TensorInfo {
  return runWasmKernel('Sum', { x }, { axis: [axis], keepDims: false }, backend);
}

/** Reads a tuple attribute that may be a single number (tfjs allows both). */
export function pair(value: unknown, fallback: number): [number, number] {
  if (value == null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  const v = value as number[];
  return [v[0], v[1]];
}

/** Rejects NCHW, which the wasm convolutions do not support either. */
export function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`wasm ${kernel} supports only dataFormat 'NHWC'. Received: dataFormat=${String(dataFormat)}.`);
  }
}

/** The conv geometry (NHWC) of a conv gradient kernel from its attrs; `depthwise` as in computeConv2DInfo. */
export function convInfoFromAttrs(
  inShape: readonly number[], filterShape: readonly number[], attrs: tf.NamedAttrMap, depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    pair(attrs.strides, 1),
    pair(attrs.dilations, 1),
    attrs.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
    'channelsLast',
  );
}
