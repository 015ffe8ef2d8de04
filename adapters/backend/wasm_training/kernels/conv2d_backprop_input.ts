/**
 * Conv2DBackpropInput on XNNPACK (stock wasm has one, but as a scalar loop: about 0.6
 * GFLOP/s against 4-10 for the forward convolution on the same shapes).
 *
 * For y = conv2d(x, W), W of shape [fH, fW, C, K], stride s, dilation d, NHWC:
 *
 *   dx[b, u, v, c] = sum_{p, q, k} U[b, u + top - p*d_h, v + left - q*d_w, k] * W[p, q, c, k]
 *
 * with U the zero-upsampled dy (see transposed_conv_input.ts): a stride-1 convolution of U by
 *
 *   W' = W reversed along fH, fW and transposed to [fH, fW, K, C]   (`Reverse`, `Transpose`)
 *
 * run by the stock wasm `Conv2D`. NCHW (which the wasm forward `Conv2D` rejects anyway) goes
 * to the stock kernel unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convInfoFromAttrs, release, runWasmKernel, transpose, type KernelArgs } from './kernel_utils.ts';
import { transposedConvInput } from './transposed_conv_input.ts';

function conv2DBackpropInput(args: KernelArgs, stock: tf.KernelFunc | null): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  if (attrs.dataFormat === 'NCHW') {
    if (stock == null) throw new Error("wasm Conv2DBackpropInput supports only dataFormat 'NHWC'. Received: dataFormat=NCHW.");
    return stock(args) as tf.TensorInfo;
  }
  const info = convInfoFromAttrs(attrs.inputShape as number[], filter.shape, attrs, false);
  const { input, pad, temps } = transposedConvInput(backend, dy, info);
  let flipped: tf.TensorInfo | null = null;
  let swapped: tf.TensorInfo | null = null;
  try {
    flipped = runWasmKernel('Reverse', { x: filter }, { dims: [0, 1] }, backend);
    swapped = transpose(backend, flipped, [0, 1, 3, 2]); // [fH, fW, K, C]
    return runWasmKernel(
      'Conv2D',
      { x: input, filter: swapped },
      { strides: [1, 1], dilations: [info.dilationHeight, info.dilationWidth], pad, dataFormat: 'NHWC' },
      backend,
    ); // [B, H, W, C]
  } finally {
    release(backend, ...temps, flipped, swapped);
  }
}

/** The replacement config; `stock` (the registered wasm config, if any) keeps NCHW working. */
export function makeConv2DBackpropInputConfig(stock: tf.KernelConfig | null): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs) => conv2DBackpropInput(args, stock?.kernelFunc ?? null);
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: 'wasm',
    setupFunc: stock?.setupFunc, // the stock func needs its cwrap set up
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  };
}
