/**
 * packedModel() for Node: the browser handler (packed_handler.ts) plus save(), so
 *
 *   await model.save(packedModel('out/q4', { payload, report }));   // payload, report: quantizeModel's
 *
 * writes the packed model.json and weights file into a folder (or a file:// URL), atomically for
 * the whole model (write_model_dir.ts). The payload must belong to the model being saved (a few
 * rows of each kernel are compared; encode.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../plugins/core/errors.ts';
import { encodeArtifacts } from './encode.ts';
import { checkPackedOptions, checkSource, loadPackedArtifacts, type PackedModelOptions } from './packed_handler.ts';
import { writeModelDirAtomic } from './write_model_dir.ts';

/** Where a save goes: a folder path, or a file:// URL of a folder. */
function folderOf(pathOrUrl: string): string {
  if (/^file:/i.test(pathOrUrl)) return fileURLToPath(pathOrUrl);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pathOrUrl)) throw new InputError(`packedModel can save only to a folder or a file:// URL. Received: ${pathOrUrl}.`);
  return pathOrUrl.replace(/[\\/]model\.json$/i, '');
}

/**
 * An IOHandler that loads and saves packed models: tf.loadLayersModel(packedModel(urlOrPath)) and
 * model.save(packedModel(dir, {payload, report})).
 * @example await model.save(packedModel('out/q4', await quantizeModel(model, calib, {bits: 4})));
 */
export function packedModel(pathOrUrl: string, options: PackedModelOptions = {}): tf.io.IOHandler {
  checkSource(pathOrUrl, 'packedModel');
  checkPackedOptions(options, 'packedModel');
  const rest = options;
  return {
    load: () => loadPackedArtifacts(pathOrUrl, rest),
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      if (rest.payload === undefined) {
        throw new InputError('packedModel(dir, {payload}) needs quantizeModel\'s payload to save: model.save(packedModel(dir, {payload, report})).');
      }
      const { bin, jsonText } = encodeArtifacts(artifacts, rest.payload, rest.report);
      await writeModelDirAtomic(folderOf(pathOrUrl), { weights: bin, modelJson: jsonText }, { overwrite: rest.overwrite ?? false });
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: bin.byteLength,
        },
      };
    },
  };
}
