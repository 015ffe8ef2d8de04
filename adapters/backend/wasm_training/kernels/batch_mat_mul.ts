/**
 * BatchMatMul and _FusedMatMul with materialized transposes.
 *
 * Stock wasm multiplies C = op(A) op(B) with XNNPACK only when both transpose flags are false;
 * with either flag set it takes a scalar loop (0.4-1.5 GFLOP/s against about 20 without).
 * Every backward matMul has a flag set (dA = dC B^T, dB = A^T dC), so training on wasm spent
 * most of its time there. Here the transposed operand is written out first with the wasm
 * `Transpose` kernel (O(n^2) copy) and the O(n^3) product runs on the fast path:
 *
 *   matMul(A, B, tA, tB) = matMul(tA ? A^T : A, tB ? B^T : B, false, false)
 */
import * as tf from '@tensorflow/tfjs-core';
import { release, transposeLastTwo, type KernelArgs } from './kernel_utils.ts';

/**
 * Wraps a stock matMul kernel func (BatchMatMul or _FusedMatMul: both take `a`, `b` and
 * `transposeA`/`transposeB`; other inputs and attributes pass through unchanged).
 */
export function withMaterializedTransposes(stock: tf.KernelFunc): tf.KernelFunc {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo => {
    const { inputs, backend, attrs } = args;
    const transposeA = attrs.transposeA === true;
    const transposeB = attrs.transposeB === true;
    if (!transposeA && !transposeB) return stock(args) as tf.TensorInfo;
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    // The stock kernel rejects other dtypes itself; let it say so.
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args) as tf.TensorInfo;
    const aT = transposeA ? transposeLastTwo(backend, a) : null;
    const bT = transposeB ? transposeLastTwo(backend, b) : null;
    try {
      return stock({
        inputs: { ...inputs, a: aT ?? a, b: bT ?? b },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      }) as tf.TensorInfo;
    } finally {
      release(backend, aT, bT);
    }
  };
  return kernelFunc as unknown as tf.KernelFunc;
}
