/**
 * saveQuantized (Node): writes a quantized model in the packed format (adapters/io/format.ts) to a
 * directory: model.json and its weights file. Atomic for the whole model (write_model_dir.ts):
 * the previous model in that folder stays loadable until the new one is complete, even under
 * kill -9; a folder holding anything else than a saved model is refused unless `overwrite: true`.
 */
import { OptionError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { encodePacked, type QuantizedModel } from './encode.ts';
import { writeModelDirAtomic, type WrittenModelDir } from './write_model_dir.ts';

export interface SavedPaths extends WrittenModelDir {
  modelJson: string;
  /** The weights file: "weights.bin" (or "weights.<hash>.bin" on a file system without hard links, when the folder held a model already). */
  weights: string;
  /** Bytes of the weights file. */
  weightsBytes: number;
}

export interface SaveQuantizedOptions {
  /** Save even when the folder holds files that are not part of a saved model (they are kept). Default false. */
  overwrite?: boolean;
}

/**
 * Saves what quantizeModel returned ({model, payload, report}) into directory `dir` (created if
 * missing).
 * @example await saveQuantized(await quantizeModel(model, calib, {bits: 4}), 'out/q4');
 */
export async function saveQuantized(quantized: QuantizedModel, dir: string, options: SaveQuantizedOptions = {}): Promise<SavedPaths> {
  if (typeof dir !== 'string' || dir === '') throw new OptionError(`\`dir\` must be a non-empty string (a folder). Received: dir=${describeValue(dir)}.`);
  rejectUnknownKeys(options, ['overwrite'], 'saveQuantized');
  const { json, bin } = await encodePacked(quantized);
  return writeModelDirAtomic(dir, { weights: bin, modelJson: (weightsFile) => JSON.stringify({ ...json, weightsFile }) }, options);
}
