/**
 * Worker thread entry (Node worker_threads) of the row-parallel quantizer (parallel_quantizer.ts).
 *
 * Starts its own tfjs backend of the kind the main thread uses (wasm with this project's kernels,
 * or cpu), then answers tasks: quantize rows W[r0:r1] against S, where S arrives as a
 * SharedArrayBuffer (one copy in memory for all threads; read only) and W's rows as a copy.
 * Runs as TypeScript under tsx in the repository and as the compiled .js in the package.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend/select_backend.ts';
import { quantizeLayer } from '../../plugins/quantease/quantize_layer.ts';
import type { QuantizeLayerOptions } from '../../plugins/quantease/types.ts';

export interface WorkerTask {
  id: number;
  /** S [cols, cols], float32, shared. */
  sigma: SharedArrayBuffer;
  cols: number;
  /** W's rows [rows, cols], float32. */
  weight: Float32Array;
  rows: number;
  options: QuantizeLayerOptions;
}

const port = parentPort!;
const ready = selectBackend({ prefer: (workerData as { backend: string }).backend, quiet: true });

port.on('message', async (task: WorkerTask) => {
  try {
    await ready;
    const sigma = tf.tensor2d(new Float32Array(task.sigma), [task.cols, task.cols]);
    const weight = tf.tensor2d(task.weight, [task.rows, task.cols]);
    try {
      const q = await quantizeLayer({ weight, sigma }, task.options);
      const values = (await q.weight.data()) as Float32Array;
      q.weight.dispose();
      const reply = { id: task.id, ok: true, codes: q.codes, values, grid: q.grid, stats: q.stats };
      port.postMessage(reply, [q.codes.buffer, values.buffer] as ArrayBuffer[]);
    } finally {
      tf.dispose([sigma, weight]);
    }
  } catch (err) {
    const e = err as Error;
    port.postMessage({ id: task.id, ok: false, error: { name: e?.name ?? 'Error', message: e?.message ?? String(err) } });
  }
});
