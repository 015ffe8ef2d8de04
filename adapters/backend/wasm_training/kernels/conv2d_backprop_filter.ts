/**
 * Conv2DBackpropFilter for wasm (missing in tfjs-backend-wasm 4.22, tfjs issue 8474).
 *
 * For y = conv2d(x, W) with stride s, dilation d and padding (top, left), NHWC:
 *
 *   dW[p, q, c, k] = sum_{b, i, j} xpad[b, i*s_h + p*d_h, j*s_w + q*d_w, c] * dy[b, i, j, k]
 *
 * which is itself a convolution once batch and channels swap places:
 *
 *   X' = x transposed to [C, H, W, B]        (batch c, channels b)
 *   F' = dy transposed to [oH, oW, B, K]     (an oH x oW filter, B in, K out)
 *   dW' = conv2d(X', F', stride d, dilation s, same top/left padding)  -> [C, fH, fW, K]
 *   dW  = dW' transposed to [fH, fW, C, K]
 *
 * so the heavy part runs in the stock wasm (XNNPACK) `Conv2D`. The bottom/right padding is
 * chosen so that the output is exactly fH x fW; rows the forward pass never read are
 * cropped instead when that padding would be negative.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  assertChannelsLast,
  convInfoFromAttrs,
  cropNhwc,
  release,
  runWasmKernel,
  transpose,
  type KernelArgs,
} from './kernel_utils.ts';

function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  assertChannelsLast('Conv2DBackpropFilter', attrs.dataFormat);
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convInfoFromAttrs(x.shape, filterShape, attrs, false);
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  // Padded extent the forward pass actually read, per spatial axis.
  const needH = (filterHeight - 1) * dilationHeight + (outHeight - 1) * strideHeight + 1;
  const needW = (filterWidth - 1) * dilationWidth + (outWidth - 1) * strideWidth + 1;
  const keptH = Math.min(inHeight, needH - padInfo.top);
  const keptW = Math.min(inWidth, needW - padInfo.left);
  const padBottom = needH - padInfo.top - keptH;
  const padRight = needW - padInfo.left - keptW;

  const xc = cropNhwc(backend, x, 0, 0, keptH, keptW);
  let xT: tf.TensorInfo | null = null;
  let dyT: tf.TensorInfo | null = null;
  let out: tf.TensorInfo | null = null;
  try {
    xT = transpose(backend, xc ?? x, [3, 1, 2, 0]); // [C, H, W, B]
    dyT = transpose(backend, dy, [1, 2, 0, 3]); // [oH, oW, B, K]
    out = runWasmKernel(
      'Conv2D',
      { x: xT, filter: dyT },
      {
        strides: [dilationHeight, dilationWidth],
        dilations: [strideHeight, strideWidth],
        pad: [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]],
        dataFormat: 'NHWC',
      },
      backend,
    ); // [C, fH, fW, K]
    return transpose(backend, out, [1, 2, 0, 3]); // [fH, fW, C, K]
  } finally {
    release(backend, xc, xT, dyT, out);
  }
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
