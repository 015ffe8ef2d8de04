/**
 * The layouts shared by the hook and the packed format: a tfjs kernel is the layer problem's
 * W [rows, cols] transposed, with the kernel's axes split into input axes (leading) and output
 * axes (trailing):
 *
 *   'out_in'     kernel [..., out]           -> W [out, prod(...)]              (Dense, Conv1D/2D, pointwise)
 *   'depthwise'  kernel [kh, kw, cin, mult]  -> W [cin*mult, kh*kw]             (DepthwiseConv2D, SeparableConv2D's depthwise part)
 *   'table'      kernel [vocab, dim]         -> W = kernel [vocab, dim]          (Embedding: one row, one grid, per token)
 *
 * W = reshape(kernel, [cols, rows])^T in the first two (for 'table', W is the kernel itself): for 'depthwise', row c*mult + m is output channel
 * c*mult + m (channel c's m-th filter) and column i*kw + j its tap (i, j); the rows of one input
 * channel c form that channel's own problem (adapters/quantize/depthwise_problem.ts).
 */

export type KernelLayout = 'out_in' | 'depthwise' | 'table';
export const KERNEL_LAYOUTS: readonly KernelLayout[] = ['out_in', 'depthwise', 'table'];

/** Trailing kernel axes that index the rows of W. */
function outputAxes(layout: KernelLayout): number {
  return layout === 'depthwise' ? 2 : 1;
}

/** Kernel shape -> [rows, cols] of W in `layout` (default 'out_in': [out, in]). */
export function problemShape(kernelShape: readonly number[], layout: KernelLayout = 'out_in'): [number, number] {
  const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);
  if (layout === 'table') return [kernelShape[0], prod(kernelShape.slice(1))];
  const split = kernelShape.length - outputAxes(layout);
  return [prod(kernelShape.slice(split)), prod(kernelShape.slice(0, split))];
}

/**
 * Typed-array form of the kernel layout, for the loader (no tensors needed):
 * data [rows, cols] row-major -> kernel data [cols, rows] row-major, which is the kernel ('table': a copy).
 */
export function problemDataToKernelData(data: Float32Array, kernelShape: readonly number[], layout: KernelLayout = 'out_in'): Float32Array {
  if (layout === 'table') return Float32Array.from(data); // W is the kernel
  const [out, inDim] = problemShape(kernelShape, layout);
  const result = new Float32Array(out * inDim);
  for (let r = 0; r < out; r++) {
    const row = r * inDim;
    for (let c = 0; c < inDim; c++) result[c * out + r] = data[row + c]; // [in, out]
  }
  return result;
}
