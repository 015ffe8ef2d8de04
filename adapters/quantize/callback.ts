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
import type { QuantizationReport } from './report.ts';
import { quantizeModel } from './quantize_model.ts';

export interface QuantizeOnTrainEndOptions extends Omit<QuantizeModelOptions, 'inPlace'> {
  /** Calibration inputs (required): a tensor, one tensor per model input, or a dataset. Not disposed. */
  calibration: Calibration;
  /** Directory to save the packed model to once quantized (Node only). Default: none. */
  saveTo?: string;
}

/** The callback; after training, `report` holds the quantization report (and `savedTo` the directory). */
export class QuantizeOnTrainEnd extends tfl.Callback {
  report?: QuantizationReport;
  /** The codes of the quantized kernels (what saveQuantized / the encoder packs). */
  payload?: QuantizedPayload;
  savedTo?: string;
  private readonly options: QuantizeOnTrainEndOptions;

  constructor(options: QuantizeOnTrainEndOptions) {
    super();
    rejectUnknownKeys(options, [...MODEL_OPTION_KEYS.filter((k) => k !== 'inPlace'), 'calibration', 'saveTo'], 'quantizeOnTrainEnd');
    if (options?.calibration === undefined) {
      throw new OptionError('`calibration` is required: the inputs used to quantize the model when training ends.');
    }
    if (options.saveTo !== undefined && (typeof options.saveTo !== 'string' || options.saveTo === '')) {
      throw new OptionError(`\`saveTo\` must be a directory path. Received: saveTo=${describeValue(options.saveTo)}.`);
    }
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
    if (saveTo !== undefined) {
      // Imported only when asked: saving needs Node's file system.
      const { saveQuantized } = await import('../io/save_quantized.ts');
      await saveQuantized({ model: this.model, payload, report }, saveTo);
      this.savedTo = saveTo;
    }
  }
}

/** Returns a callback that quantizes the model in place at the end of model.fit / fitDataset. */
export function quantizeOnTrainEnd(options: QuantizeOnTrainEndOptions): QuantizeOnTrainEnd {
  return new QuantizeOnTrainEnd(options);
}
