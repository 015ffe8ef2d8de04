/**
 * Saves a LayersModel as the standard tfjs `model.json` + `weights.bin` pair, the files that
 * `model.save('file://dir')` writes under tfjs-node (which cannot install here) and that
 * `tf.loadLayersModel(url)` reads in a browser. Node only.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/** Writes `dir/model.json` and `dir/weights.bin`; returns the file sizes in bytes. */
export async function saveFloat32(model: tfl.LayersModel, dir: string): Promise<Record<string, number>> {
  await mkdir(dir, { recursive: true });
  const sizes: Record<string, number> = {};
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weights = new Uint8Array(tf.io.concatenateArrayBuffers(
      Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData ?? new ArrayBuffer(0)],
    ));
    const json = JSON.stringify({
      modelTopology: artifacts.modelTopology,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    });
    await writeFile(path.join(dir, 'model.json'), json);
    await writeFile(path.join(dir, 'weights.bin'), weights);
    sizes['model.json'] = Buffer.byteLength(json);
    sizes['weights.bin'] = weights.byteLength;
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  return sizes;
}
