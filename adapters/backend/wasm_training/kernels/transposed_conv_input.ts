/**
 * The input side of a transposed convolution, shared by Conv2DBackpropInput and
 * DepthwiseConv2dNativeBackpropInput.
 *
 * For a forward convolution with stride s, dilation d, filter size f, padding top/left and
 * output size o, the gradient with respect to its input x (size n) is a stride-1 convolution
 * with dilation d of U, dy with s-1 zeros inserted after every row and column
 * (U[i*s] = dy[i], length o*s), by the filter flipped in space, padded by
 *
 *   before = (f-1)*d - top,      after = n - o*s + top
 *
 * so the output has exactly n rows. Negative paddings are applied as crops of U.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { cropNhwc, runWasmKernel, view, type WasmBackendLike } from './kernel_utils.ts';

export interface TransposedConvInput {
  /** U, cropped where a padding is negative: NHWC. */
  input: tf.TensorInfo;
  /** Non-negative explicit padding for the stride-1 convolution over `input`. */
  pad: [[number, number], [number, number], [number, number], [number, number]];
  /** Intermediates the caller releases after the convolution. */
  temps: tf.TensorInfo[];
}

/** Inserts `factor - 1` zeros after every element of axis 1 of a rank-4 view; a new intermediate. */
function zeroUpsampleAxis1(backend: WasmBackendLike, x: tf.TensorInfo, factor: number): tf.TensorInfo {
  const [n, len, rest0, rest1] = x.shape;
  const padded = runWasmKernel(
    'PadV2',
    { x: view(x, [n, len, 1, rest0 * rest1]) },
    { paddings: [[0, 0], [0, 0], [0, factor - 1], [0, 0]], constantValue: 0 },
    backend,
  ); // [n, len, factor, rest0*rest1]
  return view(padded, [n, len * factor, rest0, rest1]);
}

/** Builds U and the padding of the stride-1 convolution that computes dx from dy. */
export function transposedConvInput(
  backend: WasmBackendLike,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TransposedConvInput {
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  const temps: tf.TensorInfo[] = [];
  let u = dy;
  if (strideHeight > 1) {
    u = zeroUpsampleAxis1(backend, u, strideHeight); // [B, oH*s_h, oW, K]
    temps.push(u);
  }
  if (strideWidth > 1) {
    // Width is axis 2: view [B*H', oW, 1, K] so that it is axis 1.
    const [n, h, w, c] = u.shape;
    const widened = zeroUpsampleAxis1(backend, view(u, [n * h, w, 1, c]), strideWidth);
    u = view(widened, [n, h, w * strideWidth, c]); // [B, H', oW*s_w, K]
    temps.push(u);
  }
  const top = (filterHeight - 1) * dilationHeight - padInfo.top;
  const left = (filterWidth - 1) * dilationWidth - padInfo.left;
  const bottom = inHeight - outHeight * strideHeight + padInfo.top;
  const right = inWidth - outWidth * strideWidth + padInfo.left;
  const cropTop = Math.max(0, -top);
  const cropLeft = Math.max(0, -left);
  const cropped = cropNhwc(
    backend,
    u,
    cropTop,
    cropLeft,
    u.shape[1] - cropTop - Math.max(0, -bottom),
    u.shape[2] - cropLeft - Math.max(0, -right),
  );
  if (cropped != null) temps.push(cropped);
  return {
    input: cropped ?? u,
    pad: [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ],
    temps,
  };
}
