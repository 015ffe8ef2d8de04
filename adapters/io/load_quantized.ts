/**
 * loadQuantized: a packed model (format.ts) -> an ordinary tfjs-layers LayersModel with
 * dequantized float32 weights; the short form of the packedModel() handler's load(). Browser-safe.
 * Unlike tf.loadLayersModel(packedModel(...)), weight constraints are not re-applied, so every
 * kernel stays exactly on its grid.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { buildModel } from './artifacts.ts';
import { LOAD_KEYS, checkPackedOptions, checkSource, loadPackedArtifacts, type PackedLoadOptions } from './packed_handler.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';

export type LoadQuantizedOptions = PackedLoadOptions;

/**
 * Loads a packed model from a folder, a model.json path, or a URL (a signed URL's query is kept on
 * both requests). Everything is validated before the model is built: an unknown version, unknown
 * or missing keys, sizes that do not match, overlapping sections, an edited model.json, outlier
 * indices out of range, non-finite weights, a truncated or corrupted weights file -> InputError.
 * The model is built without running initializers; a failed build leaves nothing allocated.
 * @example const model = await loadQuantized('out/model.json');
 */
export async function loadQuantized(pathOrUrl: string, options: LoadQuantizedOptions = {}): Promise<tfl.LayersModel> {
  checkSource(pathOrUrl, 'loadQuantized');
  rejectUnknownKeys(options, LOAD_KEYS, 'loadQuantized');
  checkPackedOptions(options, 'loadQuantized');
  const a = await loadPackedArtifacts(pathOrUrl, options);
  let model: tfl.LayersModel;
  try {
    model = await buildModel(a.modelTopology as object, a.weightSpecs!, a.weightData as ArrayBuffer);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`Malformed packed model: ${err.message}`);
    throw new InputError(`Malformed packed model: the topology and weights do not build a model (${(err as Error).message}).`);
  }
  options.onProgress?.(1, 'done');
  return model;
}
