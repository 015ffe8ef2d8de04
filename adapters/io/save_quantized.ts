/**
 * saveQuantized (Node): writes a quantized model in the packed format (adapters/io/format.ts) to a
 * directory: model.json and weights.bin. Atomic per file: each is written to a temporary file in
 * the same directory and renamed over the target (weights.bin first, then model.json, and the
 * checksum in model.json detects a reader that raced between the two renames).
 */
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { encodePacked, WEIGHTS_FILE, type QuantizedModel } from './encode.ts';

export interface SavedPaths {
  modelJson: string;
  weights: string;
  /** Bytes of weights.bin. */
  weightsBytes: number;
}

/**
 * Saves what quantizeModel returned ({model, payload, report}) into directory `dir` (created if
 * missing).
 * @example await saveQuantized(await quantizeModel(model, calib, {bits: 4}), 'out/q4');
 */
export async function saveQuantized(quantized: QuantizedModel, dir: string): Promise<SavedPaths> {
  const { json, bin } = await encodePacked(quantized);
  await mkdir(dir, { recursive: true });
  const modelJson = path.join(dir, 'model.json');
  const weights = path.join(dir, WEIGHTS_FILE);
  const tag = `.tmp-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const tmpWeights = weights + tag;
  const tmpJson = modelJson + tag;
  try {
    await writeFile(tmpWeights, bin);
    await writeFile(tmpJson, JSON.stringify(json));
    await rename(tmpWeights, weights);
    await rename(tmpJson, modelJson);
  } catch (err) {
    await Promise.all([unlink(tmpWeights).catch(() => {}), unlink(tmpJson).catch(() => {})]);
    throw err;
  }
  return { modelJson, weights, weightsBytes: bin.byteLength };
}
