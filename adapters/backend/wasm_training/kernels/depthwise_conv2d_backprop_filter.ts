/**
 * DepthwiseConv2dNativeBackpropFilter for wasm (missing in tfjs-backend-wasm 4.22).
 *
 * For y = depthwiseConv2d(x, W), W of shape [fH, fW, C, M] (channel multiplier M), output
 * channel c*M + m, stride s, dilation d and padding (top, left), NHWC:
 *
 *   dW[p, q, c, m] = sum_{b, i, j} xpad[b, i*s_h + p*d_h, j*s_w + q*d_w, c] * dy[b, i, j, c*M + m]
 *
 * Folding the batch into the channels makes this one depthwise convolution whose filter is dy
 * and whose stride and dilation trade places:
 *
 *   X' = x transposed to [1, H, W, C*B]                            (channel (c, b))
 *   F' = dy viewed [B, oH, oW, C, M], transposed to [oH, oW, C*B, M]
 *   Y' = depthwiseConv2d(X', F', stride d, dilation s)             -> [1, fH, fW, C*B*M]
 *   dW = sum over b of Y' viewed [fH, fW, C, B, M]                 (`Sum`)
 *
 * The bottom/right padding is chosen so that the output is exactly fH x fW; rows the forward
 * pass never read are cropped when that padding would be negative.
 *
 * Measured alternatives (same machine, 32x28x28x32, 3x3): per-tap one-hot depthwise
 * convolutions + Multiply + a ones-vector matMul were 3-4x slower (XNNPACK repacks the
 * matMul's right operand on every call), and strided slices run in JavaScript in wasm 4.22.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convInfoFromAttrs, cropNhwc, release, runWasmKernel, sumAxis, transpose, view, type KernelArgs } from './kernel_utils.ts';

function depthwiseConv2dNativeBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convInfoFromAttrs(x.shape, filterShape, attrs, true);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  const multiplier = filterShape[3];
  // Padded extent the forward pass actually read, per spatial axis.
  const needH = (filterHeight - 1) * dilationHeight + (outHeight - 1) * strideHeight + 1;
  const needW = (filterWidth - 1) * dilationWidth + (outWidth - 1) * strideWidth + 1;
  const keptH = Math.min(inHeight, needH - padInfo.top);
  const keptW = Math.min(inWidth, needW - padInfo.left);
  const padBottom = needH - padInfo.top - keptH;
  const padRight = needW - padInfo.left - keptW;
  const cb = inChannels * batchSize;

  const xc = cropNhwc(backend, x, 0, 0, keptH, keptW);
  let xT: tf.TensorInfo | null = null;
  let dyT: tf.TensorInfo | null = null;
  let out: tf.TensorInfo | null = null;
  try {
    xT = transpose(backend, xc ?? x, [1, 2, 3, 0]); // [H, W, C, B]
    dyT = transpose(backend, view(dy, [batchSize, outHeight, outWidth, inChannels, multiplier]), [1, 2, 3, 0, 4]); // [oH, oW, C, B, M]
    out = runWasmKernel(
      'DepthwiseConv2dNative',
      { x: view(xT, [1, keptH, keptW, cb]), filter: view(dyT, [outHeight, outWidth, cb, multiplier]) },
      {
        strides: [dilationHeight, dilationWidth],
        dilations: [strideHeight, strideWidth],
        pad: [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]],
      },
      backend,
    ); // [1, fH, fW, C*B*M]
    if (batchSize === 1) {
      const result = view(out, filterShape);
      out = null; // handed to the engine
      return result;
    }
    return sumAxis(backend, view(out, [filterHeight, filterWidth, inChannels, batchSize, multiplier]), 3);
  } finally {
    release(backend, xc, xT, dyT, out);
  }
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
