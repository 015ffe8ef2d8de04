/**
 * Registers the wasm kernels that make training on `@tensorflow/tfjs-backend-wasm` 4.22 work
 * and run fast, through the public kernel registry only (`tf.getKernel`,
 * `tf.unregisterKernel`, `tf.registerKernel`):
 *
 * - `BatchMatMul`, `_FusedMatMul`: the stock kernels, with transposed operands materialized
 *   first so every product takes the XNNPACK path (see kernels/batch_mat_mul.ts).
 * - `Conv2DBackpropInput`: the stock kernel is a scalar loop; replaced by an XNNPACK `Conv2D`
 *   of the zero-upsampled gradient (see kernels/conv2d_backprop_input.ts).
 * - `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`,
 *   `DepthwiseConv2dNativeBackpropInput`: missing in stock wasm; built from its convolutions.
 * - `UnsortedSegmentSum`: missing in stock wasm; Embedding's gradient needs it.
 * - `Slice`, `SplitV`: the stock kernels copy the whole input out of the heap first (SplitV once
 *   per part); replaced by ones that copy only the kept runs inside the heap (kernels/slice.ts).
 *
 * Nothing happens at import. Call after importing '@tensorflow/tfjs-backend-wasm' (which
 * registers the stock kernels); whether wasm is the current backend does not matter.
 *
 * @example
 * import '@tensorflow/tfjs-backend-wasm';
 * registerWasmTrainingKernels();
 * await tf.setBackend('wasm');
 */
import * as tf from '@tensorflow/tfjs-core';
import { withMaterializedTransposes } from './kernels/batch_mat_mul.ts';
import { conv2DBackpropFilterConfig } from './kernels/conv2d_backprop_filter.ts';
import { makeConv2DBackpropInputConfig } from './kernels/conv2d_backprop_input.ts';
import { depthwiseConv2dNativeBackpropFilterConfig } from './kernels/depthwise_conv2d_backprop_filter.ts';
import { depthwiseConv2dNativeBackpropInputConfig } from './kernels/depthwise_conv2d_backprop_input.ts';
import { makeSliceConfig, makeSplitVConfig } from './kernels/slice.ts';
import { unsortedSegmentSumConfig } from './kernels/unsorted_segment_sum.ts';

/** Marks our configs (a registry-wide symbol, so two copies of this module agree). */
const OURS = Symbol.for('tfjs-sam-quantease.wasmTrainingKernel');

interface OurConfig extends tf.KernelConfig {
  [OURS]: { stock: tf.KernelConfig | null };
}

function isOurs(config: tf.KernelConfig | undefined): config is OurConfig {
  return config != null && OURS in config;
}

/** Stock kernels wrapped (replaced, stock kept for unregister). */
const WRAPPED_MATMULS = ['BatchMatMul', '_FusedMatMul'] as const;
/** Stock kernels replaced (stock kept for unregister), each config built from the stock one. */
const REPLACED: Array<{ kernelName: string; make: (stock: tf.KernelConfig | null) => tf.KernelConfig }> = [
  { kernelName: 'Conv2DBackpropInput', make: makeConv2DBackpropInputConfig },
  { kernelName: 'Slice', make: makeSliceConfig },
  { kernelName: 'SplitV', make: makeSplitVConfig },
];
/** Kernels stock wasm lacks (added; left alone if a later tfjs ships its own). */
const ADDED = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/** The names of the kernels `registerWasmTrainingKernels` manages. */
export const WASM_TRAINING_KERNELS: readonly string[] = [
  ...WRAPPED_MATMULS,
  ...REPLACED.map((c) => c.kernelName),
  ...ADDED.map((c) => c.kernelName),
];

function install(config: tf.KernelConfig, stock: tf.KernelConfig | null): void {
  const ours: OurConfig = { ...config, [OURS]: { stock } };
  if (stock != null) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(ours);
}

/**
 * Installs the training kernels on the `wasm` backend. Idempotent.
 *
 * @returns the names of the kernels of ours now in place (the same list on every call).
 * @throws Error when '@tensorflow/tfjs-backend-wasm' has not been imported.
 */
export function registerWasmTrainingKernels(): string[] {
  if (tf.getKernel('BatchMatMul', 'wasm') == null) {
    throw new Error(
      "registerWasmTrainingKernels() found no wasm kernels: import '@tensorflow/tfjs-backend-wasm' before calling it.",
    );
  }
  const active: string[] = [];
  for (const name of WRAPPED_MATMULS) {
    const current = tf.getKernel(name, 'wasm');
    if (current == null) continue;
    if (!isOurs(current)) {
      install(
        {
          kernelName: name,
          backendName: 'wasm',
          setupFunc: current.setupFunc, // the stock func needs its cwrap set up
          disposeFunc: current.disposeFunc,
          kernelFunc: withMaterializedTransposes(current.kernelFunc),
        },
        current,
      );
    }
    active.push(name);
  }
  for (const { kernelName, make } of REPLACED) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (!isOurs(current)) install(make(current ?? null), current ?? null);
    active.push(kernelName);
  }
  for (const config of ADDED) {
    const current = tf.getKernel(config.kernelName, 'wasm');
    if (current != null && !isOurs(current)) continue; // a native kernel: prefer it
    if (current == null) install(config, null);
    active.push(config.kernelName);
  }
  return active;
}

/**
 * Restores the stock wasm kernels (used for 'wasm-stock' and for before/after benchmarks).
 *
 * @returns the names of the kernels removed or restored.
 */
export function unregisterWasmTrainingKernels(): string[] {
  const removed: string[] = [];
  for (const name of WASM_TRAINING_KERNELS) {
    const current = tf.getKernel(name, 'wasm');
    if (!isOurs(current)) continue;
    tf.unregisterKernel(name, 'wasm');
    const stock = current[OURS].stock;
    if (stock != null) tf.registerKernel(stock);
    removed.push(name);
  }
  return removed;
}
