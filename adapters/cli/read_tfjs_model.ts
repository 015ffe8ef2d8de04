/**
 * Loads a standard tfjs-layers model.json (as written by model.save('file://...') or the tfjs
 * converter) and its weight shards from disk, without tfjs-node: the files are read with
 * node:fs and handed to tf.io.fromMemory.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { buildModel } from '../io/artifacts.ts';
import { InputError } from '../../plugins/core/errors.ts';

export async function readTfjsModel(modelJson: string): Promise<tfl.LayersModel> {
  let json: { modelTopology?: object; weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>; format?: string };
  try {
    json = JSON.parse(await readFile(modelJson, 'utf8'));
  } catch (err) {
    throw new InputError(`Cannot read the model ${modelJson}: ${(err as Error).message}`);
  }
  if (!json?.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new InputError(`${modelJson} is not a tfjs-layers model.json (it needs "modelTopology" and "weightsManifest").`);
  }
  const dir = path.dirname(modelJson);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      try {
        const b = await readFile(path.join(dir, p));
        buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      } catch (err) {
        throw new InputError(`Cannot read weight shard ${p} of ${modelJson}: ${(err as Error).message}`);
      }
    }
  }
  try {
    return await buildModel(json.modelTopology, specs, tf.io.concatenateArrayBuffers(buffers));
  } catch (err) {
    throw new InputError(`Cannot build the model from ${modelJson}: ${(err as Error).message}`);
  }
}
