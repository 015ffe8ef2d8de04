/**
 * Memory check before a layer is captured and quantized.
 *
 * A layer with `in` inputs needs its second moment S [in, in] (4 in^2 bytes, float32) several
 * times on the backend: while streaming, the running sum, the batch's X^T X and their sum live
 * together (3 copies); while quantizing, S and its column blocks (2 copies). So the peak is about
 *
 *   SIGMA_COPIES * 4 * in^2 bytes  (+ what the backend already holds)
 *
 * The wasm backend addresses at most WASM_HEAP_MAX_BYTES, and tfjs-backend-wasm 4.22 does not
 * check its malloc: past the limit it writes at address 0 and the process dies or computes
 * garbage, without an error. So on wasm a layer that cannot fit is refused up front, with its
 * name, its width and what to do. Grouping (`groupSize`) does not help: S is [in, in] whatever
 * the grid.
 */
import { InputError } from '../../plugins/core/errors.ts';

/** Largest wasm heap of tfjs-backend-wasm 4.22 (its getHeapMax: 4 GiB minus one 64 KiB page). */
export const WASM_HEAP_MAX_BYTES = 4294901760;

/** Copies of S [in, in] alive at the peak (capture: running sum + batch Gram + their sum). */
export const SIGMA_COPIES = 3;

/** Bytes of backend memory quantizing a layer with `width` inputs needs at its peak. */
export function layerPeakBytes(width: number): number {
  return SIGMA_COPIES * 4 * width * width;
}

const gb = (bytes: number) => (bytes / 2 ** 30).toFixed(2) + ' GiB';

/**
 * Throws InputError when `layer` (with `width` inputs) cannot be quantized within `limitBytes` of
 * backend memory, `usedBytes` of which are taken. `limitBytes` Infinity (backends without a fixed
 * heap) never throws.
 */
export function checkLayerMemory(layer: string, width: number, usedBytes: number, limitBytes: number, backend: string): void {
  const need = layerPeakBytes(width);
  if (usedBytes + need <= limitBytes) return;
  throw new InputError(
    `Layer ${layer} has ${width} inputs: its second-moment matrix S [${width}, ${width}] takes ${gb(4 * width * width)} ` +
      `and quantizing it needs about ${gb(need)} of ${backend} memory (${SIGMA_COPIES} copies of S), but only ` +
      `${gb(Math.max(0, limitBytes - usedBytes))} of the ${gb(limitBytes)} the ${backend} backend can address are free. ` +
      `Exclude the layer (exclude: ['${layer}']) or quantize it on the cpu backend; groupSize does not reduce this ` +
      `(S is [in, in] whatever the grid).`,
  );
}

/** The backend's memory limit in bytes: WASM_HEAP_MAX_BYTES on wasm, Infinity elsewhere. */
export function backendMemoryLimit(backend: string): number {
  return backend === 'wasm' ? WASM_HEAP_MAX_BYTES : Infinity;
}
