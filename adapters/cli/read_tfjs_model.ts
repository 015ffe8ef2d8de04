/**
 * Loads a standard tfjs-layers model.json (as written by model.save('file://...'), fileSystem()
 * or the tfjs converter) and its weight shards from disk, without tfjs-node: the files are read
 * by the fileSystem() handler (bounded reads, regular files only, shard paths kept inside the
 * model's folder) and the model is built with exactly those weights.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { buildModel } from '../io/artifacts.ts';
import { fileSystem } from '../io/file_system_handler.ts';
import { InputError } from '../../plugins/core/errors.ts';

export async function readTfjsModel(modelJson: string): Promise<tfl.LayersModel> {
  const artifacts = await fileSystem(modelJson).load!();
  try {
    return await buildModel(artifacts.modelTopology as object, artifacts.weightSpecs ?? [], artifacts.weightData as ArrayBuffer);
  } catch (err) {
    throw new InputError(`Cannot build the model from ${modelJson}: ${(err as Error).message}`);
  }
}
