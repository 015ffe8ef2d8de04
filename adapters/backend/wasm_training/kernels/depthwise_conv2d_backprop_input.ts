/**
 * DepthwiseConv2dNativeBackpropInput for wasm (missing in tfjs-backend-wasm 4.22).
 *
 * For y = depthwiseConv2d(x, W), W of shape [fH, fW, C, M], stride s, dilation d, NHWC:
 *
 *   dx[b, u, v, c] = sum_{p, q, m} U[b, u + top - p*d_h, v + left - q*d_w, c*M + m] * W[p, q, c, m]
 *
 * with U the zero-upsampled dy (see transposed_conv_input.ts). With the filter flipped in
 * space this is a stride-1 depthwise convolution of U, then a sum over the multiplier:
 *
 *   W' = W reversed along fH, fW (`Reverse`), viewed [fH, fW, C*M, 1]
 *   Z  = depthwiseConv2d(U, W', stride 1, dilation d)      [B, H, W, C*M]
 *   dx = sum over m of Z viewed as [B, H, W, C, M]          (`Sum`, skipped when M = 1)
 */
import * as tf from '@tensorflow/tfjs-core';
import { convInfoFromAttrs, release, runWasmKernel, sumAxis, view, type KernelArgs } from './kernel_utils.ts';
import { transposedConvInput } from './transposed_conv_input.ts';

function depthwiseConv2dNativeBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  const info = convInfoFromAttrs(attrs.inputShape as number[], filter.shape, attrs, true);
  const { batchSize, inHeight, inWidth, inChannels, outChannels, filterHeight, filterWidth } = info;
  const multiplier = outChannels / inChannels;
  const { input, pad, temps } = transposedConvInput(backend, dy, info);
  let flipped: tf.TensorInfo | null = null;
  let out: tf.TensorInfo | null = null;
  try {
    flipped = runWasmKernel('Reverse', { x: filter }, { dims: [0, 1] }, backend);
    out = runWasmKernel(
      'DepthwiseConv2dNative',
      { x: input, filter: view(flipped, [filterHeight, filterWidth, outChannels, 1]) },
      { strides: [1, 1], dilations: [info.dilationHeight, info.dilationWidth], pad },
      backend,
    ); // [B, H, W, C*M]
    if (multiplier === 1) {
      const result = out;
      out = null; // handed to the engine
      return result;
    }
    return sumAxis(backend, view(out, [batchSize, inHeight, inWidth, inChannels, multiplier]), 4);
  } finally {
    release(backend, ...temps, flipped, out);
  }
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
