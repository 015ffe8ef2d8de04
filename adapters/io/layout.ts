/**
 * The layout shared by the hook and the packed format: a tfjs kernel [..., out] is the layer
 * problem's W [out, in] transposed, with in = the product of the leading axes.
 */

/** Kernel shape [..., out] -> [out, in] with in = product of the leading axes. */
export function problemShape(kernelShape: readonly number[]): [number, number] {
  const out = kernelShape[kernelShape.length - 1];
  const inDim = kernelShape.slice(0, -1).reduce((a, b) => a * b, 1);
  return [out, inDim];
}

/**
 * Typed-array form of the kernel layout, for the loader (no tensors needed):
 * data [out, in] row-major -> kernel data [in, out] row-major, which is the kernel [..., out].
 */
export function problemDataToKernelData(data: Float32Array, kernelShape: readonly number[]): Float32Array {
  const [out, inDim] = problemShape(kernelShape);
  const result = new Float32Array(out * inDim);
  for (let r = 0; r < out; r++) {
    const row = r * inDim;
    for (let c = 0; c < inDim; c++) result[c * out + r] = data[row + c]; // [in, out]
  }
  return result;
}
