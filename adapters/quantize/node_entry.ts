/**
 * The quantize entry under Node (package export condition "node"): everything of ./index.ts, with
 * quantizeOnTrainEnd accepting a folder path as `saveTo` (saved with saveQuantized). Imports
 * node:fs: never for a browser.
 */
import { saveQuantized } from '../io/save_quantized.ts';
import { QuantizeOnTrainEnd, type QuantizeOnTrainEndOptions } from './callback.ts';

export * from './index.ts';

/** quantizeOnTrainEnd with `saveTo` as a folder path or a function. */
export function quantizeOnTrainEnd(options: QuantizeOnTrainEndOptions): QuantizeOnTrainEnd {
  return new QuantizeOnTrainEnd(options, (q, dir) => saveQuantized(q, dir));
}
