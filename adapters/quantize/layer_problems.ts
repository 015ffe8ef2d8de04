/**
 * The one place where tfjs-layers kernels are converted to the quantizers' layout W [out, in]
 * (rows = output units) and back.
 *
 *   Dense   kernel [in, out]              -> W = kernel^T                          [out, in]
 *   Conv2D  kernel [kh, kw, cin, cout]     -> W = reshape(kernel, [kh*kw*cin, cout])^T  [cout, kh*kw*cin]
 *   Conv1D  kernel [k, cin, cout]          -> W = reshape(kernel, [k*cin, cout])^T      [cout, k*cin]
 *
 * All three are one rule: flatten every axis but the last (row-major, so column index
 * c = ((i * kw + j) * cin + ch) for Conv2D), then transpose. The calibration inputs X [n, in] are
 * flattened in the same order (adapters/quantize/capture.ts), so X W^T is the layer's output.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { problemShape } from '../io/layout.ts';

export { problemShape, problemDataToKernelData } from '../io/layout.ts';

/** Layer classes whose kernel is quantized. */
export type QuantizableKind = 'Dense' | 'Conv2D' | 'Conv1D';

export const QUANTIZABLE_CLASSES: readonly QuantizableKind[] = ['Dense', 'Conv2D', 'Conv1D'];

/** Why a layer class is left in float32 (shown in the report). */
export function skipReason(layer: tfl.layers.Layer): string {
  const cls = layer.getClassName();
  if (layer.weights.length === 0) return 'no weights';
  switch (cls) {
    case 'DepthwiseConv2D':
      return 'depthwise kernel: each channel has its own tiny problem (kh*kw inputs); left float32';
    case 'SeparableConv2D':
      return 'separable convolution is not supported yet; left float32';
    case 'Embedding':
      return 'lookup table: no input covariance to minimize against; left float32';
    case 'BatchNormalization':
    case 'LayerNormalization':
      return 'normalization parameters are per-channel vectors; left float32';
    default:
      if (cls === 'Sequential' || cls === 'Model' || cls === 'Functional') return 'nested model is not traversed; left float32';
      return `layer class ${cls} is not quantized; left float32`;
  }
}

export function isQuantizable(layer: tfl.layers.Layer): boolean {
  return (QUANTIZABLE_CLASSES as readonly string[]).includes(layer.getClassName()) && layer.weights.length > 0;
}

/** tfjs kernel [..., out] -> W [out, in]. Caller owns the result. */
export function kernelToProblem(kernel: tf.Tensor): tf.Tensor2D {
  const [out, inDim] = problemShape(kernel.shape);
  return tf.tidy(() => {
    const flat = tf.reshape(kernel, [inDim, out]); // [kh*kw*cin (or in), out]
    return tf.transpose(flat) as tf.Tensor2D; // [out, in]
  });
}

/** W [out, in] -> tfjs kernel of `kernelShape` [..., out]. Caller owns the result. */
export function problemToKernel(weight: tf.Tensor2D, kernelShape: readonly number[]): tf.Tensor {
  const [out, inDim] = problemShape(kernelShape);
  if (weight.shape[0] !== out || weight.shape[1] !== inDim) {
    throw new Error(`W has shape [${weight.shape}] but kernel [${kernelShape}] needs [${out}, ${inDim}].`);
  }
  return tf.tidy(() => {
    const flat = tf.transpose(weight); // [in, out]
    return tf.reshape(flat, kernelShape as number[]); // [..., out]
  });
}
