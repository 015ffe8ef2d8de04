/**
 * quantizeOnTrainEnd: a tfjs-layers callback that quantizes the model in place when training ends,
 * so a model.fit recipe adds post-training quantization with one line:
 *
 *   const q = quantizeOnTrainEnd({ calibration: xTrain.slice(0, 512), method: 'quantease', bits: 4 });
 *   await model.fit(x, y, { epochs: 5, callbacks: [q] });
 *   console.log(formatReport(q.report!));
 *
 * The calibration set is validated when training ends (the model's inputs are known only then).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { OptionError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import type { Calibration } from './calibration.ts';
import { MODEL_OPTION_KEYS, resolveModelOptions, type QuantizeModelOptions } from './options.ts';
import type { QuantizedPayload } from '../io/format.ts';
import type { QuantizedModel } from '../io/encode.ts';
import type { QuantizationReport } from './report.ts';
import { quantizeModel } from './quantize_model.ts';

export interface QuantizeOnTrainEndOptions extends Omit<QuantizeModelOptions, 'inPlace'> {
  /** Calibration inputs (required): a tensor, one tensor per model input, or a dataset. Not disposed. */
  calibration: Calibration;
  /**
   * Where the packed model goes once quantized: a function given {model, payload, report} (runs
   * anywhere, e.g. `(q) => model.save(packedModel(dir, q))`), or a folder path (Node: the callback
   * from the package's Node entry, adapters/quantize/node_entry.ts). Default: none.
   */
  saveTo?: string | PackedSaver;
}

/** Saves a quantized model somewhere; resolves when done. */
export type PackedSaver = (quantized: QuantizedModel) => Promise<unknown>;
/** Saves a quantized model into a folder (Node): injected by the Node entry. */
export type FolderSaver = (quantized: QuantizedModel, dir: string) => Promise<unknown>;

/** The callback; after training, `report` holds the quantization report (and `savedTo` the directory). */
export class QuantizeOnTrainEnd extends tfl.Callback {
  report?: QuantizationReport;
  /** The codes of the quantized kernels (what saveQuantized / the encoder packs). */
  payload?: QuantizedPayload;
  savedTo?: string;
  private readonly options: QuantizeOnTrainEndOptions;
  private readonly saveToFolder: FolderSaver | undefined;

  /** `saveToFolder` handles a folder `saveTo` (the Node entry passes saveQuantized). */
  constructor(options: QuantizeOnTrainEndOptions, saveToFolder?: FolderSaver) {
    super();
    rejectUnknownKeys(options, [...MODEL_OPTION_KEYS.filter((k) => k !== 'inPlace'), 'calibration', 'saveTo'], 'quantizeOnTrainEnd');
    if (options?.calibration === undefined) {
      throw new OptionError('`calibration` is required: the inputs used to quantize the model when training ends.');
    }
    const to = options.saveTo;
    if (to !== undefined && typeof to !== 'function' && (typeof to !== 'string' || to === '')) {
      throw new OptionError(`\`saveTo\` must be a folder path or a function (quantized) => Promise. Received: saveTo=${describeValue(to)}.`);
    }
    if (typeof to === 'string' && saveToFolder === undefined) {
      throw new OptionError(
        `\`saveTo\` as a folder (${JSON.stringify(to)}) needs Node's file system, which this browser-safe entry does not import: ` +
          "in Node import quantizeOnTrainEnd from 'tfjs-sam-quantease/quantize' (its Node entry); anywhere, pass a function, e.g. saveTo: (q) => q.model.save(packedModel(url, q)).",
      );
    }
    this.saveToFolder = saveToFolder;
    const { calibration, saveTo, ...rest } = options;
    void calibration;
    void saveTo;
    resolveModelOptions(rest); // every option checked now, not after hours of training
    this.options = options;
  }

  override async onTrainEnd(): Promise<void> {
    const { calibration, saveTo, ...rest } = this.options;
    const { report, payload } = await quantizeModel(this.model, calibration, { ...rest, inPlace: true });
    this.report = report;
    this.payload = payload;
    if (typeof saveTo === 'function') {
      await saveTo({ model: this.model, payload, report });
    } else if (saveTo !== undefined) {
      await this.saveToFolder!({ model: this.model, payload, report }, saveTo);
      this.savedTo = saveTo;
    }
  }
}

/** Returns a callback that quantizes the model in place at the end of model.fit / fitDataset. */
export function quantizeOnTrainEnd(options: QuantizeOnTrainEndOptions): QuantizeOnTrainEnd {
  return new QuantizeOnTrainEnd(options);
}
